"""The GraphQL schema the Labelbox emulator serves: the part of Labelbox's API that the provider and the
official SDK's operations use, written from the protocol brief. Queries are parsed and validated against it
by graphql-core, as a GraphQL server would, so a misspelt field or a wrongly typed variable is refused."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLScalarType, GraphQLSchema, build_schema, value_from_ast_untyped

SDL = """
scalar DateTime
scalar Json
scalar UInt64
scalar Upload

enum TaskStatus { IN_PROGRESS COMPLETE CANCELLING CANCELED FAILED UNKNOWN }
enum TaskStreamType { RESULT ERRORS }

input WhereUniqueIdInput { id: ID! }
input UserWhereInput { id: ID }
input TaskWhereInput { id: ID status: TaskStatus type: String name: String }
input ProjectWhereInput { id: ID deleted: Boolean }
input DatasetWhereInput { id: ID deleted: Boolean }

type User {
  id: ID!
  createdAt: DateTime
  updatedAt: DateTime
  email: String
  isExternalUser: Boolean
  isViewer: Boolean
  lastLoginAt: DateTime
  nickname: String
  name: String
  picture: String
  timezone: String
  createdTasks(where: TaskWhereInput, skip: Int, first: Int): [Task!]!
}

type Organization {
  id: ID!
  createdAt: DateTime
  updatedAt: DateTime
  name: String
  tasks(where: TaskWhereInput, skip: Int, first: Int): [Task!]!
}

type Project {
  id: ID!
  autoAuditNumberOfLabels: Int
  autoAuditPercentage: Float
  createdAt: DateTime
  dataRowCount: Int
  description: String
  editorTaskType: String
  isBenchmarkEnabled: Boolean
  isConsensusEnabled: Boolean
  lastActivityTime: DateTime
  allowedMediaType: String
  modelSetupComplete: DateTime
  name: String
  setupComplete: DateTime
  updatedAt: DateTime
  uploadType: String
}

type Dataset {
  id: ID!
  createdAt: DateTime
  updatedAt: DateTime
  description: String
  name: String
  rowCount: Int
}

type ExportMetadataHeader { totalSize: Int totalLines: Int }
type ByteRange { start: UInt64 end: UInt64 }
type ExportFileFromOffset { offsets: ByteRange lines: ByteRange file: String }

type Task {
  id: ID!
  name: String
  type: String
  status: TaskStatus
  completionPercentage: Float
  createdAt: DateTime
  updatedAt: DateTime
  errors: String
  result: String
  metadata: Json
  exportMetadataHeader(streamType: TaskStreamType!): ExportMetadataHeader
  exportFileFromOffset(streamType: TaskStreamType!, offset: UInt64!): ExportFileFromOffset
}

type ExportTask { taskId: ID isStreamable: Boolean }
type UploadedFile { url: String filename: String }
input UpsertDataRowsInput { manifestUri: String! }
input DataRowImportsInput { taskId: ID! first: Int from: String }
type DataRowImport { id: ID externalId: String globalKey: String rowData: String }
type SuccessfulImports { nodes: [DataRowImport!]! after: String total: Int }
type MetadataValue { schemaId: String value: String name: String }
type AttachmentValue { type: String value: String name: String }
type FailedSpec {
  externalId: String
  globalKey: String
  rowData: String
  metadata: [MetadataValue!]
  attachments: [AttachmentValue!]
}
type FailedImport { message: String spec: FailedSpec }
type FailedImports { after: String total: Int results: [FailedImport!]! }
type AnnotationImport {
  id: ID!
  name: String
  state: String
  progress: String
  errorFileUrl: String
  inputFileUrl: String
  statusFileUrl: String
  project: Project!
}
input FilePayload { file: Upload! contentLength: Int! }
input CreateImportInput { projectId: ID! name: String! filePayload: FilePayload fileUrl: String }
input ImportWhereInput { projectId: ID! name: String! }
type Success { success: Boolean }
input GlobalKeysWhereInput { ids: [ID!]! }
input JobIdInput { id: ID! }
type GlobalKeysJob { jobId: ID }
type FetchedDataRow { id: ID }
type GlobalKeysData {
  fetchedDataRows: [FetchedDataRow!]!
  notFoundGlobalKeys: [ID!]!
  accessDeniedGlobalKeys: [ID!]!
}
type GlobalKeysResult { data: GlobalKeysData jobStatus: String }

input ExportDataRowsInProjectInput {
  taskName: String
  isStreamableReady: Boolean
  filters: Json
  params: Json
  streamable: Boolean
}

input ExportDataRowsInCatalogInput {
  taskName: String
  isStreamableReady: Boolean
  filters: Json
  params: Json
  streamable: Boolean
}

type Query {
  user(where: UserWhereInput): User
  organization: Organization
  project(where: ProjectWhereInput!): Project
  dataset(where: DatasetWhereInput!): Dataset
  projects(where: ProjectWhereInput, skip: Int, first: Int): [Project!]!
  datasets(where: DatasetWhereInput, skip: Int, first: Int): [Dataset!]!
  task(where: WhereUniqueIdInput): Task
  cancelableTaskTypes: [String!]!
  successesfulDataRowImports(data: DataRowImportsInput!): SuccessfulImports
  failedDataRowImports(data: DataRowImportsInput!): FailedImports
  labelImport(where: ImportWhereInput!): AnnotationImport
  modelAssistedLabelingPredictionImport(where: ImportWhereInput!): AnnotationImport
  dataRowsForGlobalKeys(where: GlobalKeysWhereInput!): GlobalKeysJob
  dataRowsForGlobalKeysResult(jobId: JobIdInput!): GlobalKeysResult
}

type Mutation {
  exportDataRowsInProject(input: ExportDataRowsInProjectInput!): ExportTask
  exportDataRowsInCatalog(input: ExportDataRowsInCatalogInput!): ExportTask
  cancelBulkOperationJob(id: ID!): Success
  uploadFile(file: Upload!, contentLength: Int!, sign: Boolean): UploadedFile
  upsertDataRows(data: UpsertDataRowsInput!): Task
  createLabelImport(data: CreateImportInput!): AnnotationImport
  createModelAssistedLabelingPredictionImport(data: CreateImportInput!): AnnotationImport
}
"""


def served_schema() -> GraphQLSchema:
    """The schema, its custom scalars taking any literal (Labelbox's DateTime, Json, UInt64, Upload are
    opaque to a client)."""
    schema = build_schema(SDL)
    for name in ("DateTime", "Json", "UInt64", "Upload"):
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        scalar.parse_literal = _literal  # type: ignore[method-assign]
    return schema


def _literal(node: Any, variables: Any = None) -> Any:
    return value_from_ast_untyped(node, variables)
