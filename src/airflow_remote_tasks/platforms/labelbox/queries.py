"""The GraphQL operations the provider sends: the official SDK's own texts where it has one for the job
(``tests/fixtures/labelbox/operations.json`` holds them as the SDK 7.17.0 sends them), in its dialect where
not. A test checks every operation sent against both."""

from __future__ import annotations

# As the SDK selects them, "status" twice included, so that the texts are the SDK's own.
TASK_FIELDS = "completionPercentage createdAt errors metadata name result status status type id updatedAt"

GET_USER = (
    "query GetUserPyApi{user{createdAt email isExternalUser isViewer lastLoginAt nickname name picture id "
    "updatedAt}}"
)
GET_ORGANIZATION = "query GetOrganizationPyApi{organization{createdAt name id updatedAt}}"
GET_PROJECT = (
    "query GetProjectPyApi($param_0: ID!){project(where: {id: $param_0}){autoAuditNumberOfLabels "
    "autoAuditPercentage createdAt dataRowCount description editorTaskType isBenchmarkEnabled isConsensusEnabled "
    "lastActivityTime allowedMediaType modelSetupComplete name setupComplete id updatedAt uploadType}}"
)
GET_DATASET = (
    "query GetDatasetPyApi($param_0: ID!){dataset(where: {id: $param_0}){createdAt description name rowCount id "
    "updatedAt}}"
)
# One task of the key's user, by id (the SDK's refresh query).
GET_CREATED_TASK = (
    "query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!){user(where: {id: $param_1}){createdTasks("
    f"where: {{id: $param_0}} skip: 0 first: 100){{{TASK_FIELDS}}}}}}}"
)
# The key's user's tasks, newest first (GUESS: the order), to find an export by its name after a lost answer.
LIST_CREATED_TASKS = (
    "query GetUserCreatedTasksPyApi($param_0: ID!){user(where: {id: $param_0}){createdTasks(skip: 0 first: 100)"
    f"{{{TASK_FIELDS}}}}}}}"
)
# A task another user started (the UI, another key): the organization's tasks, where: {id} (GUESS: the ORM's
# where clause on id; the SDK filters the organization's tasks by status).
GET_ORGANIZATION_TASK = (
    "query GetOrganizationTasksPyApi($param_0: ID!){organization{tasks(where: {id: $param_0} skip: 0 first: 1)"
    f"{{{TASK_FIELDS}}}}}}}"
)
GET_CANCELABLE_TASK_TYPES = (
    "query GetCancelableTaskTypesPyApi {\n                cancelableTaskTypes\n            }"
)
CANCEL_TASK = (
    "\n        mutation CancelTaskPyApi($id: ID!) {\n            cancelBulkOperationJob(id: $id) {\n"
    "                success\n            }\n        }\n        "
)
EXPORT_PROJECT = (
    "mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!){exportDataRowsInProject("
    "input: $input){taskId isStreamable}}"
)
EXPORT_CATALOG = (
    "mutation exportDataRowsInCatalogPyApi($input: ExportDataRowsInCatalogInput!){exportDataRowsInCatalog("
    "input: $input){taskId isStreamable}}"
)
EXPORT_HEADER = (
    "query GetExportMetadataHeaderPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!){task(where: "
    "$where){exportMetadataHeader(streamType: $streamType){totalSize totalLines}}}"
)
EXPORT_FILE = (
    "query GetExportFileFromOffsetPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, $offset: "
    "UInt64!){task(where: $where){exportFileFromOffset(streamType: $streamType, offset: $offset){offsets {start "
    "end} lines {start end} file}}}"
)
UPLOAD_FILE = (
    "mutation UploadFile($file: Upload!, $contentLength: Int!,\n                                            "
    "$sign: Boolean) {\n                            uploadFile(file: $file, contentLength: $contentLength,\n"
    "                                       sign: $sign) {url filename} } "
)
UPSERT_DATA_ROWS = (
    "mutation UpsertDataRowsPyApi($manifestUri: String!) { upsertDataRows(data: { manifestUri: $manifestUri }) { "
    "id createdAt updatedAt name status completionPercentage result errors type metadata } }"
)
UPSERT_SUCCESSES = (
    "query SuccessesfulDataRowImportsPyApi($taskId: ID!, $first: Int, $from: String) { successesfulDataRowImports("
    "data: { taskId: $taskId, first: $first, from: $from}) { nodes { id externalId globalKey rowData } after total "
    "} }"
)
UPSERT_FAILURES = (
    "query FailedDataRowImportsPyApi($taskId: ID!, $first: Int, $from: String) { failedDataRowImports(data: { "
    "taskId: $taskId, first: $first, from: $from}) { after total results { message spec { externalId globalKey "
    "rowData metadata { schemaId value name } attachments { type value name } } } } }"
)
# Which global keys name a row: the SDK's Client.get_data_row_ids_for_global_keys (7.17.0, read in the installed
# package; the recorded fixture lacks it), a job and then its result.
GLOBAL_KEYS_JOB = """query getDataRowsForGlobalKeysPyApi($globalKeys: [ID!]!) {
            dataRowsForGlobalKeys(where: {ids: $globalKeys}) { jobId}}
            """
GLOBAL_KEYS_RESULT = """query getDataRowsForGlobalKeysResultPyApi($jobId: ID!) {
            dataRowsForGlobalKeysResult(jobId: {id: $jobId}) { data {
                fetchedDataRows { id }
                notFoundGlobalKeys
                accessDeniedGlobalKeys
                } jobStatus}}
            """

# Label and prediction (model-assisted labeling) imports: polled by project and name, not Task objects.
IMPORT_FIELDS = (
    "errorFileUrl inputFileUrl name progress state statusFileUrl id project{autoAuditNumberOfLabels "
    "autoAuditPercentage createdAt dataRowCount description editorTaskType isBenchmarkEnabled isConsensusEnabled "
    "lastActivityTime allowedMediaType modelSetupComplete name setupComplete id updatedAt uploadType}"
)
GET_LABEL_IMPORT = (
    "query getLabelImportPyApi($projectId : ID!, $name: String!) { labelImport( where: {projectId: $projectId, "
    f"name: $name}}){{ {IMPORT_FIELDS} }}}}"
)
GET_PREDICTION_IMPORT = (
    "query getModelAssistedLabelingPredictionImportPyApi($projectId : ID!, $name: String!) { "
    "modelAssistedLabelingPredictionImport( where: {projectId: $projectId, name: $name}){ "
    f"{IMPORT_FIELDS} }}}}"
)
CREATE_LABEL_IMPORT = (
    "mutation createLabelImportByFilePyApi($projectId : ID!, $name: String!, $file: Upload!, $contentLength: Int!) "
    "{ createLabelImport(data: { projectId: $projectId name: $name filePayload: { file: $file, contentLength: "
    f"$contentLength}} }}) {{{IMPORT_FIELDS}}} }}"
)
CREATE_PREDICTION_IMPORT = (
    "mutation createMALPredictionImportByFilePyApi($projectId : ID!, $name: String!, $file: Upload!, "
    "$contentLength: Int!) { createModelAssistedLabelingPredictionImport(data: { projectId: $projectId name: "
    f"$name filePayload: {{ file: $file, contentLength: $contentLength}} }}) {{{IMPORT_FIELDS}}} }}"
)
