"""Labelbox through RemoteTaskOperator and RemoteRunSensor, in real dag.test() runs against the emulator."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from airflow_helpers import DAGS, run_dag
from support import FIXTURES, LABELBOX_KEY, text_of

sys.path.insert(0, str(DAGS))
from labelbox_test_dags import LABELS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def done_rows(labelbox) -> int:
    return labelbox.emulator.state.labelled_rows("ckproj0000000000000000001")


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_export_streams_to_output_path_and_xcom_gets_a_summary(labelbox, mode, tmp_path, capfd):
    target = tmp_path / "exports" / "labels.ndjson"
    result = run_dag(f"lb_export_{mode}", conf={"out": f"file://{target}"})
    assert result.state == "success"
    summary = result.xcom("collect")
    assert summary["path"] == f"file://{target}"
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == summary["rows"] == done_rows(labelbox)  # only rows whose labelling is done
    assert summary["bytes"] == target.stat().st_size
    assert all(r["projects"]["ckproj0000000000000000001"]["labels"] for r in rows)
    assert summary["errors"] is None  # an empty error stream leaves no file
    assert not (tmp_path / "exports" / "labels.errors.ndjson").exists()
    [task] = labelbox.tasks
    assert summary["run_id"] == task["id"] and task["status"] == "COMPLETE"
    assert "% done)" in text_of(capfd)  # progress reached the task log


def test_example_dag_reads_the_export_downstream(labelbox, tmp_path):
    result = run_dag("example_labelbox", conf={"exports": f"file://{tmp_path}"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    assert result.xcom("upsert_rows")["succeeded"] == 2
    assert result.xcom("import_predictions")["succeeded"] == 1  # on a row the upsert added
    report = result.xcom("count_labels")
    assert report.startswith(f"{done_rows(labelbox)} rows, {done_rows(labelbox)} labels, ")
    assert str(tmp_path) in report


def test_dataset_export(labelbox, tmp_path):
    target = tmp_path / "catalog.ndjson"
    result = run_dag("lb_export_dataset", conf={"out": str(target)})
    assert result.state == "success"
    rows = target.read_text().splitlines()
    assert len(rows) == len(labelbox.emulator.state.rows_of("ckds000000000000000000001"))
    assert "projects" not in json.loads(rows[0])


def test_small_export_without_output_path_is_returned_inline(labelbox):
    result = run_dag("lb_inline")
    assert result.state == "success"
    rows = result.xcom("collect")
    assert isinstance(rows, list) and len(rows) == done_rows(labelbox)
    assert rows[0]["data_row"]["id"].startswith("ckdr")


def test_big_export_without_output_path_names_output_path(labelbox, capfd):
    result = run_dag("lb_inline_too_big")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "over max_output_bytes=500, and has no output_path: set output_path" in text


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_timeout_cancels_the_export(labelbox, mode, capfd):
    labelbox.emulator.state.task_seconds = 60
    result = run_dag(f"lb_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "did not finish within the operator's timeout of 1.0s; it was aborted" in text_of(capfd)
    [task] = labelbox.tasks
    time.sleep(0.3)
    assert labelbox.tasks[0]["status"] == "CANCELED", task


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_retry_reattaches_to_the_same_export(labelbox, mode, tmp_path):
    # Try 1 starts the export; its status reads then fail inside HTTP 200 and, with no budget, the try fails.
    labelbox.emulator.state.task_seconds = 1.0
    target = tmp_path / "out.ndjson"

    def break_reads() -> None:
        deadline = time.monotonic() + 20
        while not labelbox.tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        labelbox.emulator.graphql_errors_next = 4
        labelbox.emulator.graphql_error = {"code": "INTERNAL_SERVER_ERROR", "status": 503}

    threading.Thread(target=break_reads, daemon=True).start()
    result = run_dag(f"lb_retry_{mode}", conf={"out": str(target)})
    assert result.state == "success"
    assert result.try_number("remote") == 2
    assert len(labelbox.tasks) == 1  # the retry found the export by its name: one export
    assert target.read_text().count("\n") == done_rows(labelbox)


def test_failed_export_fails_the_task(labelbox, capfd):
    labelbox.emulator.state.fail_next = 1
    result = run_dag("lb_inline")
    assert result.task_state("remote") == "failed"
    assert "ended failed (FAILED): errors: https://storage.example.com/errors/" in text_of(capfd)


@pytest.mark.parametrize(
    ("dag_id", "message"),
    [
        (
            "lb_bad_kind",
            "Labelbox job 'export_projects' is not one this provider starts; use one of: export_project",
        ),
        (
            "lb_bad_inputs",
            "- inputs.filters.workflow_state is not known here; leave it out or check its spelling",
        ),
        ("lb_unknown_project", "No Labelbox project 'ckprojNOPE000000000000000' is reachable"),
    ],
)
def test_bad_input_fails_clearly_and_starts_nothing(labelbox, dag_id, message, capfd):
    result = run_dag(dag_id)
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1
    assert message in text_of(capfd)
    assert labelbox.tasks == []


def test_unwritable_output_path_is_found_before_anything_starts(labelbox, tmp_path, capfd):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_dag("lb_unwritable", conf={"out": f"file://{blocker}/sub/labels.ndjson"})
    assert result.task_state("remote") == "failed"
    assert "cannot be written" in text_of(capfd)
    assert labelbox.tasks == []


def test_bad_key_is_refused_with_the_field_named(labelbox, capfd):
    labelbox.connect(password="wrong-key")
    result = run_dag("lb_inline")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "The API key was refused: check the connection's API key" in text
    assert LABELBOX_KEY not in text


def test_sensor_waits_on_any_task_id(labelbox):
    labelbox.emulator.state.task_seconds = 0.5
    task = labelbox.emulator.state.start_task("made in the app", "export-data-rows", {"RESULT": b""})
    result = run_dag("lb_sensor", conf={"run": task.id})
    assert result.task_state("sensor_deferred") == "success"
    assert result.task_state("sensor_poke") == "success"
    other = labelbox.emulator.state.start_task("by someone else", "send-to-annotate", {}, owner="ckuserother")
    result = run_dag("lb_sensor", conf={"run": other.id})  # found through the organization's tasks
    assert result.task_state("sensor_poke") == "success"


def test_every_operation_sent_is_the_sdks_or_valid_in_its_dialect(labelbox, tmp_path):
    """Each query text is one of the SDK's (fixtures/labelbox/operations.json), or it parses and validates
    against the emulator's schema, against which the SDK's own operations validate too; and its variables
    coerce to the types the operation declares."""
    from graphql import coerce_input_value, parse, type_from_ast, validate

    from airflow_remote_tasks.emulators.labelbox.app import SCHEMA
    from airflow_remote_tasks.platforms.labelbox import queries

    run_dag("lb_export_worker", conf={"out": str(tmp_path / "x.ndjson")})
    run_dag("lb_timeout_worker")
    run_dag("lb_export_dataset", conf={"out": str(tmp_path / "y.ndjson")})
    other = labelbox.emulator.state.start_task("by someone else", "send-to-annotate", {}, owner="ckuserother")
    run_dag("lb_sensor", conf={"run": other.id})
    run_dag("lb_upsert_inline")
    run_dag("lb_import_inline")
    sdk = json.loads((FIXTURES / "labelbox" / "operations.json").read_text())
    # each recorded operation: its query text, in a JSON body or in a multipart request's "operations" part
    sdk_queries = [
        op["request_body"]["query"] if op.get("request_body") else op["query"] for op in sdk.values()
    ]
    sdk_texts = {" ".join(query.split()) for query in sdk_queries}
    sent = labelbox.emulator.operations
    texts = {" ".join(o["query"].split()) for o in sent}
    for query in sdk_queries:  # the schema speaks the SDK's dialect: its operations that we send validate
        if " ".join(query.split()) in texts:
            assert not validate(SCHEMA, parse(query)), query
    assert len(texts) >= 16
    # the SDK's global-key lookup, which the recorded fixture lacks: as the installed SDK's source has it
    import inspect

    import labelbox as lb

    lookup = {" ".join(q.split()) for q in (queries.GLOBAL_KEYS_JOB, queries.GLOBAL_KEYS_RESULT)}
    sdk_source = " ".join(inspect.getsource(lb.Client.get_data_row_ids_for_global_keys).split())
    assert all(text in sdk_source for text in lookup) and lookup <= texts
    # the one text of our own: reading a task another user started (see queries.GET_ORGANIZATION_TASK)
    assert texts - sdk_texts - lookup == {" ".join(queries.GET_ORGANIZATION_TASK.split())}
    for operation in sent:
        document = parse(operation["query"])
        assert not validate(SCHEMA, document), operation["query"]
        for variable in document.definitions[0].variable_definitions or []:  # type: ignore[attr-defined]
            value = operation["variables"].get(variable.variable.name.value)
            coerce_input_value(value, type_from_ast(SCHEMA, variable.type))  # raises on a wrong shape


# -- data-row upserts ------------------------------------------------------------------------------------


def test_upsert_inline_rows_then_export_shows_them(labelbox, tmp_path):
    state = labelbox.emulator.state
    before = len(state.rows_of("ckds000000000000000000001"))
    result = run_dag("lb_upsert_inline")
    assert result.state == "success"
    outcome = result.xcom("collect")
    assert outcome["succeeded"] == 3 and outcome["failed"] == 0 and outcome["failures"] == []
    assert len(state.rows_of("ckds000000000000000000001")) == before + 2  # two new, one updated
    again = run_dag("lb_upsert_inline")  # the same rows again: updated, not duplicated
    assert again.xcom("collect")["succeeded"] == 3
    assert len(state.rows_of("ckds000000000000000000001")) == before + 2
    run_dag("lb_export_dataset", conf={"out": str(tmp_path / "after.ndjson")})
    exported = [json.loads(line)["data_row"] for line in (tmp_path / "after.ndjson").read_text().splitlines()]
    keys = {row["global_key"]: row for row in exported}
    assert {"new-1", "new-2"} <= set(keys) and keys["000001-0"]["external_id"] == "renamed-0.jpg"


def test_upsert_rows_from_a_file_in_chunks(labelbox, tmp_path, monkeypatch):
    from airflow_remote_tasks.platforms.labelbox import upserts

    monkeypatch.setattr(upserts, "UPSERT_CHUNK_BYTES", 1_000)  # several chunks from a small file
    rows = tmp_path / "rows.ndjson"
    rows.write_text(
        "\n".join(
            json.dumps({"global_key": f"file-{i}", "row_data": f"https://x/{i}.jpg"}) for i in range(40)
        )
        + "\n"
    )
    result = run_dag("lb_upsert_file", conf={"rows": f"file://{rows}"})
    assert result.state == "success"
    assert result.xcom("collect")["succeeded"] == 40
    uploads = [o for o in labelbox.emulator.operations if "UploadFile" in o["query"]]
    assert len(uploads) >= 5  # chunks, then the manifest


def test_refused_rows_fail_the_task_unless_told_otherwise(labelbox, capfd):
    result = run_dag("lb_upsert_refused_fail")
    assert result.task_state("remote") == "failed"
    assert "refused 1 (first: 'row_data is required to create a data row')" in text_of(capfd)
    result = run_dag("lb_upsert_refused_keep")
    assert result.state == "success"
    outcome = result.xcom("collect")
    assert outcome["succeeded"] == 1 and outcome["failed"] == 1
    assert outcome["failures"][0]["row"]["globalKey"] == "no-data-yet"


@pytest.mark.parametrize(
    ("dag_id", "conf", "message"),
    [
        ("lb_upsert_unkeyed", None, "rows[0] has neither 'global_key' nor 'id'"),
        (
            "lb_upsert_rows_int",
            None,
            "- inputs.rows must be a list of rows or the URI of an NDJSON file; got int",
        ),
        (
            "lb_upsert_file",
            {"rows": "file:///nonexistent/rows.ndjson"},
            "The rows file 'file:///nonexistent/",
        ),
    ],
)
def test_bad_rows_are_named_and_nothing_is_sent(labelbox, dag_id, conf, message, capfd):
    result = run_dag(dag_id, conf=conf)
    assert result.task_state("remote") == "failed"
    assert result.try_number("remote") == 1
    assert message in text_of(capfd)
    assert labelbox.tasks == []
    assert not [o for o in labelbox.emulator.operations if "UploadFile" in o["query"]]


def test_malformed_rows_file_line_is_named(labelbox, tmp_path, capfd):
    rows = tmp_path / "rows.ndjson"
    rows.write_text('{"global_key": "a", "row_data": "x"}\nnot json\n')
    result = run_dag("lb_upsert_file", conf={"rows": str(rows)})
    assert result.task_state("remote") == "failed"
    assert "Line 2 of" in text_of(capfd) and labelbox.tasks == []


# -- label and prediction imports ----------------------------------------------------------------------


def test_label_import_from_a_file_shows_in_the_next_export(labelbox, tmp_path):
    state = labelbox.emulator.state
    labels = tmp_path / "labels.ndjson"
    labels.write_text("".join(json.dumps(item) + "\n" for item in LABELS))
    result = run_dag("lb_import_labels", conf={"file": f"file://{labels}"})
    assert result.state == "success"
    outcome = result.xcom("collect")
    assert outcome["succeeded"] == 2 and outcome["failed"] == 0
    assert outcome["name"].startswith("airflow-")
    for row in ("ckdr000001000000000001", "ckdr000001000000000003"):  # unlabelled before the import
        assert state.labels[("ckproj0000000000000000001", row)]
    export = tmp_path / "export.ndjson"
    run_dag("lb_export_worker", conf={"out": str(export)})
    assert export.read_text().count("\n") == done_rows(labelbox)
    assert "ckdr000001000000000001" in export.read_text()


def test_prediction_import_sets_pre_labels_not_labels(labelbox, tmp_path):
    state = labelbox.emulator.state
    labelled = dict(state.labels)
    predictions = tmp_path / "predictions.ndjson"
    predictions.write_text("".join(json.dumps(item) + "\n" for item in LABELS))
    result = run_dag("lb_import_predictions", conf={"file": str(predictions)})
    assert result.state == "success" and result.xcom("collect")["succeeded"] == 2
    assert state.labels == labelled and len(state.predictions) == 2


def test_annotations_on_unknown_rows_fail_the_task_unless_told_otherwise(labelbox, capfd):
    result = run_dag("lb_import_missing_row_fail")
    assert result.task_state("remote") == "failed"
    assert "imported 1 annotations and refused 1" in text_of(capfd)
    result = run_dag("lb_import_missing_row_keep")
    assert result.state == "success"
    outcome = result.xcom("collect")
    assert outcome["failed"] == 1 and outcome["failures"][0]["errors"][0]["name"] == "DataRowNotFound"


def test_a_bad_annotation_is_named_and_nothing_is_sent(labelbox, capfd):
    result = run_dag("lb_import_bad")
    assert result.task_state("remote") == "failed"
    assert "labels[0] needs 'dataRow' with exactly one of 'id' or 'globalKey'" in text_of(capfd)
    assert labelbox.emulator.state.imports == {}


def test_a_retried_import_attaches_to_the_same_import(labelbox):
    labelbox.emulator.state.task_seconds = 1.0

    def break_reads() -> None:
        deadline = time.monotonic() + 20
        while not labelbox.emulator.state.imports and time.monotonic() < deadline:
            time.sleep(0.02)
        labelbox.emulator.graphql_errors_next = 4

    threading.Thread(target=break_reads, daemon=True).start()
    result = run_dag("lb_import_retry")
    assert result.state == "success"
    assert result.try_number("remote") == 2
    assert len(labelbox.emulator.state.imports) == 1
    creates = [o for o in labelbox.emulator.operations if "createLabelImport" in o["query"]]
    assert len(creates) == 1


def test_an_import_cannot_be_stopped_and_says_so(labelbox, capfd, monkeypatch):
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    labelbox.emulator.state.task_seconds = 60
    hook = LabelboxHook("labelbox_default")
    platform = hook.platform
    interface = hook.run(platform.resolve_task("import_labels", "latest"))
    from airflow_remote_tasks.core.models import RunOrigin

    ref = hook.run(
        platform.submit(
            interface,
            platform.prepare_inputs(interface, {"project_id": "ckproj0000000000000000001", "labels": LABELS}),
            origin=RunOrigin(dag_id="d", run_id="r", task_id="stop-me"),
            labels={},
            env={},
        )
    )
    assert hook.run(platform.status(ref)).phase.value == "running"
    assert hook.run(platform.abort(ref, "x")) is False


def test_unknown_dataset_is_named(labelbox, capfd):
    result = run_dag("lb_upsert_unknown_dataset")
    assert result.task_state("remote") == "failed"
    assert "No Labelbox dataset 'ckdsNOPE' is reachable" in text_of(capfd)
    assert not [o for o in labelbox.emulator.operations if "UploadFile" in o["query"]]


def test_an_import_past_its_timeout_fails_saying_it_goes_on(labelbox, capfd):
    labelbox.emulator.state.task_seconds = 60
    result = run_dag("lb_import_timeout")
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert (
        "did not finish within the operator's timeout of 1.0s; labelbox cannot stop this kind of run" in text
    )
    assert "it was aborted" not in text


def test_rate_limits_are_waited_out(labelbox):
    labelbox.emulator.app.faults.update({"rate_limit_next": 3, "retry_after": 0.2})
    result = run_dag("lb_inline")
    assert result.state == "success"
    assert labelbox.emulator.app.faults.rate_limit_next == 0
