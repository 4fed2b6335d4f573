"""Avala through the operator and both sensors, in real dag.test() runs against the emulator."""

from __future__ import annotations

import zipfile

import pytest

from airflow_helpers import run_dag
from support import AVALA_KEY, text_of

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def annotation_tasks(avala) -> int:
    tasks = avala.emulator.state.tasks.values()
    return sum(1 for t in tasks if t["type"] == "annotation" and t["project"] == "proj-001")


def test_example_waits_for_the_labelling_exports_and_auto_labels(avala, tmp_path, capfd):
    result = run_dag("example_avala", conf={"exports": f"file://{tmp_path}"})
    assert result.state == "success", {k: str(v.state) for k, v in result.tis.items()}
    annotation = annotation_tasks(avala)
    assert result.xcom("labelled")["counts"] == {"succeeded": annotation}
    assert "annotations.json" in result.xcom("read_export")
    assert result.xcom("autolabel")["total_items"] == 250
    text = text_of(capfd)
    assert f"/{annotation} succeeded" in text  # counts, not a line per task


def test_export_streams_the_file_to_output_path(avala, tmp_path):
    target = tmp_path / "export.zip"
    result = run_dag("av_export", conf={"out": str(target)})
    assert result.state == "success"
    with zipfile.ZipFile(target) as zipped:
        assert zipped.namelist() == ["annotations.json"]
    assert result.xcom("collect")["bytes"] == target.stat().st_size


def test_a_failed_export_fails_the_task(avala, tmp_path, capfd):
    avala.emulator.fail_next_export = 1
    result = run_dag("av_export", conf={"out": str(tmp_path / "x.zip")})
    assert result.task_state("remote") == "failed"
    assert "ended failed (failed)" in text_of(capfd)


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_auto_label_reports_progress_and_counts(avala, mode, capfd):
    result = run_dag(f"av_autolabel_{mode}")
    assert result.state == "success"
    assert result.xcom("collect")["processed_items"] == 250
    assert "% done)" in text_of(capfd)


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_auto_label_past_its_timeout_is_cancelled(avala, mode, capfd):
    avala.emulator.state.job_seconds = 60
    result = run_dag(f"av_autolabel_timeout_{mode}")
    assert result.task_state("remote") == "failed"
    assert "it was aborted" in text_of(capfd)
    [job] = avala.emulator.state.jobs.values()
    assert job["cancelled"]


def test_lost_auto_label_answer_attaches_to_the_job(avala):
    avala.emulator.app.faults.update({"lose_answer": "POST /api/v1/projects/", "lose_answer_next": 1})
    result = run_dag("av_autolabel_worker")
    assert result.state == "success"
    assert avala.emulator.app.faults.lose_answer_next == 0
    assert len(avala.emulator.state.jobs) == 1  # found by the project's job listing, not posted again


def test_sensor_on_one_task(avala):
    avala.emulator.state.pace = 0.01
    result = run_dag("av_sensor", conf={"run": "task-001-0020"})
    assert result.task_state("sensor_deferred") == "success" and result.task_state("sensor_poke") == "success"


def test_set_wait_pages_through_every_task(avala):
    result = run_dag("av_set")
    assert result.state == "success"
    annotation = annotation_tasks(avala)
    assert result.xcom("set_poke")["total"] == annotation == 225  # three pages of 100


@pytest.mark.parametrize(
    ("dag_id", "task_id", "message"),
    [
        (
            "av_set_typo",
            "set_poke",
            "Avala task selectors take project, status, type; 'kind' is not one of them",
        ),
        ("av_export_bad", "remote", "exactly one of 'project' or 'dataset'"),
        ("av_unknown_project", "remote", "No Avala project 'proj-nope' is visible"),
    ],
)
def test_bad_input_is_named_before_anything_starts(avala, dag_id, task_id, message, capfd):
    result = run_dag(dag_id)
    assert result.task_state(task_id) == "failed" and result.try_number(task_id) == 1
    assert message in text_of(capfd)
    assert avala.emulator.state.exports == {}


def test_bad_key_is_refused(avala, capfd):
    avala.connect(password="avk_wrong")
    result = run_dag("av_export", conf={"out": "/tmp/never.zip"})
    assert result.task_state("remote") == "failed"
    text = text_of(capfd)
    assert "The API key was refused" in text and "avk_wrong" not in text and AVALA_KEY not in text


def test_unknown_status_words_wait_and_the_table_can_be_extended(avala):
    from airflow_remote_tasks.core.phases import phase_of_word
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    platform = AvalaHook("avala_default").platform
    status = platform.words.status_of("task", {"status": "in_review"})
    # handed over as it came, with the phase core gives a word no table maps, which is never finished
    assert status.raw_phase == "in_review" and status.phase is phase_of_word("in_review", {}, "test")
    assert not status.is_terminal
    avala.connect(status_map='{"in_review": "succeeded"}')
    from airflow_remote_tasks.hooks.base import forget_connections

    forget_connections()
    extended = AvalaHook("avala_default").platform
    assert extended.words.status_of("task", {"status": "in_review"}).phase.value == "succeeded"
    avala.connect(status_map='{"in_review": "finished"}')
    from airflow_remote_tasks.core.errors import ConfigurationError

    with pytest.raises(
        ConfigurationError, match="map 'in_review' to no phase: Unknown phase 'finished'; use one"
    ):
        AvalaHook("avala_default").platform  # noqa: B018


def test_a_nearly_used_up_rate_limit_slows_the_polls(avala):
    import httpx

    from airflow_remote_tasks.core.run_wait import wait_for_run
    from airflow_remote_tasks.core.steps import ReadStatus, Sleep
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    hook = AvalaHook("avala_default")
    platform = hook.platform
    ref = hook.run(platform.find_run("task-001-0200"))
    waiting = wait_for_run(platform, ref, poll_interval=1.0)
    step = next(waiting)
    assert isinstance(step, ReadStatus)
    assert isinstance(waiting.send(hook.run(step.operation)), Sleep)  # plenty left: the usual interval
    httpx.post(f"{avala.server.url}/_emulator/rate-limit", json={"remaining": 6})  # 5 after the next call
    step = next(waiting)
    pause = waiting.send(hook.run(step.operation))
    assert isinstance(pause, Sleep) and pause.seconds == pytest.approx(1.0 + 60 / 5)


# -- a set wait on a project that does not exist (tests/dags/avala_more_test_dags.py) -----------------------


def test_a_set_wait_on_a_project_that_does_not_exist_fails_at_the_first_poll(avala, capfd):
    import sys
    import time

    from airflow_helpers import DAGS, DagResult

    sys.path.insert(0, str(DAGS))
    from avala_more_test_dags import av_set_unknown_project

    started = time.monotonic()
    result = DagResult(av_set_unknown_project.test())
    assert time.monotonic() - started < 15
    text = text_of(capfd)
    for task_id in ("set_deferred", "set_poke"):
        assert result.task_state(task_id) == "failed" and result.try_number(task_id) == 1
    assert text.count("No Avala project 'proj-nope' (the selector's 'project') is visible") >= 2
    assert "/api/v1/tasks/" not in avala.emulator.app.calls


def test_a_sensor_given_a_path_for_run_id_fails_naming_run_id(avala, capfd):
    result = run_dag("av_sensor", conf={"run": "../users/me/projects/proj-001"})
    for task_id in ("sensor_deferred", "sensor_poke"):
        assert result.task_state(task_id) == "failed" and result.try_number(task_id) == 1
    assert "run_id='../users/me/projects/proj-001' is not a valid Avala run id" in text_of(capfd)
    assert not any(path.startswith("/api/v1/") for path in avala.emulator.app.calls)


def test_the_operator_publishes_the_app_link_of_its_export(avala, tmp_path):
    import httpx

    avala.connect(app_url=avala.server.url)
    result = run_dag("av_export", conf={"out": str(tmp_path / "export.zip")})
    assert result.state == "success"
    [uid] = avala.emulator.state.exports
    link = result.xcom("remote", key="run_url")
    assert link == f"{avala.server.url}/projects/proj-001/exports/{uid}"
    assert f"Avala export {uid}" in httpx.get(link).text
