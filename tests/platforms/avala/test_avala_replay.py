"""Avala's operations driven with canned answers through the real executors (core.replay): what each sends, what
it makes of each answer, and what it does when an answer is lost. No server, no Airflow: milliseconds each."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from pydantic import SecretStr

from airflow_remote_tasks.core.declaration import Capability
from airflow_remote_tasks.core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputsError,
    NotFoundError,
    TransportError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.models import RunOrigin, RunRef, StreamedOutput
from airflow_remote_tasks.core.phases import Phase
from airflow_remote_tasks.core.replay import Replay, reply
from airflow_remote_tasks.platforms.avala.auto_label import AutoLabel
from airflow_remote_tasks.platforms.avala.config import AvalaConfig
from airflow_remote_tasks.platforms.avala.exports import Export
from airflow_remote_tasks.platforms.avala.platform import AvalaPlatform

API = "https://api.avala.test/api/v1"
APP = "https://app.avala.test"
KEY = "avk_SECRET_replay"
ORIGIN = RunOrigin(dag_id="d", run_id="r", task_id="t")
PROJECT = {"uid": "proj-1", "name": "cars"}
DRF_NOT_FOUND = {"detail": "Not found."}


def avala(**overrides: str) -> AvalaPlatform:
    config = AvalaConfig(base_url=API, api_key=SecretStr(KEY), app_url=APP, status_overrides=overrides)
    return AvalaPlatform(config)


def submitted(platform: AvalaPlatform, replay: Replay, kind: str, inputs: dict[str, object]) -> RunRef:
    interface = replay.run(platform.resolve_task(kind, "latest"))
    job = platform.prepare_inputs(interface, inputs)
    return replay.run(platform.submit(interface, job, origin=ORIGIN, labels={}, env={}), platform=platform)


def sent(replay: Replay) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in replay.requests]


def ref(kind: str, uid: str, project: str = "proj-1") -> RunRef:
    return RunRef(platform="avala", run_id=uid, scope={"kind": kind, "project": project})


# -- jobs and their inputs --------------------------------------------------------------------------------


def test_the_jobs_inputs_are_parsed_once_into_the_jobs_model():
    platform = avala()
    replay = Replay([])
    export = platform.prepare_inputs(replay.run(platform.resolve_task("export", "")), {"dataset": "ds-1"})
    assert export == Export(dataset="ds-1")
    job = platform.prepare_inputs(
        replay.run(platform.resolve_task("auto_label", "")), {"project": "proj-1", "model_type": "yolo"}
    )
    assert job == AutoLabel(project="proj-1", model_type="yolo") and replay.requests == []


@pytest.mark.parametrize("inputs", [{}, {"project": "proj-1", "dataset": "ds-1"}])
def test_an_export_takes_exactly_one_of_project_or_dataset(inputs):
    platform = avala()
    interface = Replay([]).run(platform.resolve_task("export", ""))
    with pytest.raises(InvalidInputsError, match="exactly one of 'project' or 'dataset'"):
        platform.prepare_inputs(interface, inputs)


def test_a_job_this_provider_does_not_start_is_refused_naming_the_jobs():
    with pytest.raises(ConfigurationError, match="use one of: export, auto_label"):
        Replay([]).run(avala().resolve_task("annotate", ""))


# -- exports ----------------------------------------------------------------------------------------------


def test_an_export_of_a_project_looks_the_project_up_then_creates_once():
    platform = avala()
    replay = Replay([reply(json=PROJECT), reply(status=201, json={"uid": "exp-1", "status": "pending"})])
    run = submitted(platform, replay, "export", {"project": "proj-1"})
    assert sent(replay) == ["GET /api/v1/users/me/projects/proj-1/", "POST /api/v1/exports/"]
    assert replay.requests[0].headers["x-avala-api-key"] == KEY
    assert replay.bodies[1] == {"project": "proj-1"}
    assert run == RunRef(
        platform="avala",
        run_id="exp-1",
        scope={"kind": "export", "project": "proj-1"},
        url=f"{APP}/projects/proj-1/exports/exp-1",
    )


def test_an_export_of_a_dataset_looks_the_dataset_up_and_links_to_it():
    platform = avala()
    replay = Replay([reply(json={"uid": "ds-1"}), reply(status=201, json={"uid": "exp-2"})])
    run = submitted(platform, replay, "export", {"dataset": "ds-1"})
    assert sent(replay) == ["GET /api/v1/datasets/ds-1/", "POST /api/v1/exports/"]
    assert run.url == f"{APP}/datasets/ds-1/exports/exp-2" and run.scope == {"kind": "export", "project": ""}


def test_an_export_of_a_project_nobody_sees_is_not_found_and_nothing_is_created():
    replay = Replay([reply(status=404, json=DRF_NOT_FOUND)])
    with pytest.raises(
        NotFoundError, match="No Avala project 'proj-9' is visible to this connection's API key"
    ):
        submitted(avala(), replay, "export", {"project": "proj-9"})
    assert sent(replay) == ["GET /api/v1/users/me/projects/proj-9/"]


def test_an_export_create_whose_answer_was_lost_is_not_sent_again():
    replay = Replay([reply(json=PROJECT), reply(lost=True)])
    with pytest.raises(TransportError) as raised:
        submitted(avala(), replay, "export", {"project": "proj-1"})
    assert sent(replay) == ["GET /api/v1/users/me/projects/proj-1/", "POST /api/v1/exports/"]
    assert raised.value.answer_lost


def test_a_create_answered_without_a_uid_is_not_avalas_answer():
    replay = Replay([reply(json=PROJECT), reply(status=201, json={"status": "pending"})])
    with pytest.raises(UnexpectedAnswerError, match="an Avala object that was created"):
        submitted(avala(), replay, "export", {"project": "proj-1"})


def test_a_finished_export_is_a_stream_downloaded_without_the_key_from_storage_elsewhere():
    platform = avala()
    export = ref("export", "exp-1")
    done = {"uid": "exp-1", "status": "exported", "download_url": "https://storage.test/exp-1.zip?sig=s"}
    replay = Replay([reply(json=done), reply(json=done), reply(content=b"PK\x03\x04zip")])
    assert replay.run(platform.outputs(export)) == StreamedOutput(
        run_id="exp-1", format="binary", sizes={"result": None}
    )
    sink = io.BytesIO()
    replay.run(platform.download(export, "result", sink), platform=platform)
    assert sink.getvalue() == b"PK\x03\x04zip"
    assert sent(replay)[1:] == ["GET /api/v1/exports/exp-1/", "GET /exp-1.zip"]
    assert "x-avala-api-key" in replay.requests[1].headers
    assert "x-avala-api-key" not in replay.requests[2].headers


def test_an_export_without_a_download_url_cannot_be_downloaded():
    replay = Replay([reply(json={"uid": "exp-1", "status": "processing"})])
    with pytest.raises(TransportError, match="is 'processing' but has no download_url"):
        replay.run(avala().download(ref("export", "exp-1"), "result", io.BytesIO()))


# -- auto-label jobs --------------------------------------------------------------------------------------


def jobs_page(*jobs: dict[str, object]) -> dict[str, object]:
    return {"results": list(jobs), "next": None, "previous": None}


def test_an_auto_label_job_is_created_for_its_project_with_its_settings():
    platform = avala()
    replay = Replay([reply(json=PROJECT), reply(status=201, json={"uid": "alj-1", "status": "pending"})])
    inputs = {"project": "proj-1", "model_type": "yolo", "confidence_threshold": 0.5}
    run = submitted(platform, replay, "auto_label", inputs)
    assert sent(replay) == [
        "GET /api/v1/users/me/projects/proj-1/",
        "POST /api/v1/projects/proj-1/auto-label/",
    ]
    assert replay.bodies[1] == {"model_type": "yolo", "confidence_threshold": 0.5}
    assert run.url == f"{APP}/projects/proj-1/auto-label-jobs/alj-1"


def test_an_auto_label_create_whose_answer_was_lost_attaches_to_the_matching_unfinished_job():
    finished = {"uid": "alj-0", "status": "completed", "model_type": "yolo"}
    other = {"uid": "alj-2", "status": "running", "model_type": "sam"}
    started = {"uid": "alj-1", "status": "pending", "model_type": "yolo", "dry_run": True}
    replay = Replay([reply(json=PROJECT), reply(lost=True), reply(json=jobs_page(finished, other, started))])
    run = submitted(avala(), replay, "auto_label", {"project": "proj-1", "model_type": "yolo"})
    assert run.run_id == "alj-1"
    assert sent(replay)[1:] == ["POST /api/v1/projects/proj-1/auto-label/", "GET /api/v1/auto-label-jobs/"]
    assert replay.requests[2].url.params["project"] == "proj-1"


def test_an_auto_label_create_is_sent_again_only_when_the_lookup_finds_no_job_and_twice_at_most():
    answers = [reply(json=PROJECT), reply(lost=True), reply(json=jobs_page()), reply(lost=True)]
    replay = Replay(answers)
    with pytest.raises(TransportError) as raised:
        submitted(avala(), replay, "auto_label", {"project": "proj-1", "model_type": "yolo"})
    assert [r.method for r in replay.requests] == ["GET", "POST", "GET", "POST"]
    assert raised.value.answer_lost
    again = Replay([*answers[:3], reply(status=201, json={"uid": "alj-3"})])
    assert submitted(avala(), again, "auto_label", {"project": "proj-1"}).run_id == "alj-3"


def test_an_auto_label_job_is_summed_up_when_done_and_cancelled_on_abort():
    platform = avala()
    job = ref("auto_label", "alj-1")
    done = {
        "uid": "alj-1",
        "status": "completed",
        "total_items": 10,
        "successful_items": 9,
        "failed_items": 1,
    }
    replay = Replay([reply(json=done), reply(status=204), reply(status=404, json=DRF_NOT_FOUND)])
    summary = replay.run(platform.outputs(job))
    assert summary["run_id"] == "alj-1" and summary["total_items"] == 10 and summary["skipped_items"] is None
    assert replay.run(platform.abort(job, "killed")) is True
    assert replay.run(platform.abort(job, "killed")) is True  # gone already: cancelled before
    assert sent(replay)[1:] == ["DELETE /api/v1/auto-label-jobs/alj-1/"] * 2


@pytest.mark.parametrize("kind", ["export", "task"])
def test_exports_and_peoples_tasks_cannot_be_stopped(kind):
    replay = Replay([])
    assert replay.run(avala().abort(ref(kind, "x-1"), "killed")) is False
    assert replay.requests == []


# -- status -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "word", "phase"),
    [
        ("task", "pending", Phase.QUEUED),
        ("task", "in_progress", Phase.RUNNING),
        ("task", "completed", Phase.SUCCEEDED),
        ("export", "processing", Phase.RUNNING),
        ("export", "exported", Phase.SUCCEEDED),
        ("export", "failed", Phase.FAILED),
        ("auto_label", "running", Phase.RUNNING),
        ("auto_label", "cancelled", Phase.ABORTED),
        ("task", "in_review", Phase.UNKNOWN),  # a word no table has: not finished
        ("export", "", Phase.UNKNOWN),
    ],
)
def test_each_kinds_status_words_have_their_phase(kind, word, phase):
    path = {"task": "tasks", "export": "exports", "auto_label": "auto-label-jobs"}[kind]
    replay = Replay([reply(json={"uid": "x-1", "status": word or None})])
    status = replay.run(avala().status(ref(kind, "x-1")))
    assert sent(replay) == [f"GET /api/v1/{path}/x-1/"]
    assert status.phase is phase and status.raw_phase == (word or "unknown")


def test_a_failure_says_its_error_and_progress_its_percent():
    platform = avala()
    failed = {"uid": "exp-1", "status": "failed", "error_message": "disk full", "progress_pct": 40}
    status = Replay([reply(json=failed)]).run(platform.status(ref("export", "exp-1")))
    assert (status.message, status.percent) == ("disk full", 40.0)
    running = {"uid": "exp-1", "status": "processing", "error_message": "stale", "progress_pct": 55.5}
    status = Replay([reply(json=running)]).run(platform.status(ref("export", "exp-1")))
    assert (status.message, status.percent) == ("", 55.5)


def test_the_connections_status_words_extend_and_override_every_table():
    platform = avala(in_review="succeeded", active="paused")
    for word, phase in (("in_review", Phase.SUCCEEDED), ("active", Phase.PAUSED)):
        status = Replay([reply(json={"uid": "t-1", "status": word})]).run(platform.status(ref("task", "t-1")))
        assert status.phase is phase


def test_find_run_reads_the_task_and_links_it_in_its_project():
    replay = Replay([reply(json={"uid": "task-7", "project": "proj-2", "status": "pending"})])
    found = replay.run(avala().find_run(" task-7 "))
    assert sent(replay) == ["GET /api/v1/tasks/task-7/"]
    assert found.url == f"{APP}/projects/proj-2/tasks/task-7" and found.scope == {
        "kind": "task",
        "project": "proj-2",
    }


def test_a_peoples_task_gives_the_task_itself_as_its_output():
    done = {"uid": "task-7", "status": "completed", "project": "proj-1", "annotations": 3}
    replay = Replay([reply(json=done)])
    assert replay.run(avala().outputs(ref("task", "task-7"))) == done
    assert sent(replay) == ["GET /api/v1/tasks/task-7/"]


# -- set waits: the task listing --------------------------------------------------------------------------


def task(uid: str, status: str, kind: str = "annotation") -> dict[str, object]:
    return {"uid": uid, "status": status, "type": kind, "project": "proj-1"}


def test_a_listing_looks_its_project_up_once_and_reads_every_cursor_page():
    platform = avala()
    first = {
        "results": [task("t-1", "pending"), task("t-2", "pending", "review")],
        "next": f"{API}/tasks/?cursor=c2",
    }
    last = {"results": [task("t-3", "pending")], "next": None}
    replay = Replay([reply(json=PROJECT), reply(json=first), reply(json=last)])
    selector = platform.check_selector({"project": "proj-1", "status": "pending", "type": "annotation"})
    listed = replay.run(platform.list_runs(selector))
    assert [r.run_id for r in listed] == ["t-1", "t-3"]  # the type is matched here
    assert sent(replay) == [
        "GET /api/v1/users/me/projects/proj-1/",
        "GET /api/v1/tasks/",
        "GET /api/v1/tasks/",
    ]
    assert dict(replay.requests[1].url.params) == {"project": "proj-1", "status": "pending", "limit": "100"}
    assert str(replay.requests[2].url) == f"{API}/tasks/?cursor=c2"  # the next URL, as it came
    again = Replay([reply(json=last)])
    assert [r.run_id for r in again.run(platform.list_runs(selector))] == ["t-3"]
    assert sent(again) == ["GET /api/v1/tasks/"]  # a project seen is not looked up again


def test_an_empty_listing_looks_the_project_up_again_and_a_gone_project_is_not_found():
    platform = avala()
    selector = platform.check_selector({"project": "proj-1"})
    empty = {"results": [], "next": None}
    Replay([reply(json=PROJECT), reply(json={"results": [task("t-1", "active")], "next": None})]).run(
        platform.list_runs(selector)
    )
    replay = Replay([reply(json=empty), reply(status=404, json=DRF_NOT_FOUND)])
    with pytest.raises(NotFoundError, match=r"No Avala project 'proj-1' \(the selector's 'project'\)"):
        replay.run(platform.list_runs(selector))
    assert sent(replay) == ["GET /api/v1/tasks/", "GET /api/v1/users/me/projects/proj-1/"]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"project": "proj-1", "assignee": "me"},
            "Avala task selectors take project, status, type; 'assignee'",
        ),
        ({"status": "pending"}, "needs 'project'"),
    ],
)
def test_a_selector_is_checked_before_anything_is_sent(selector, message):
    with pytest.raises(ConfigurationError, match=message):
        avala().check_selector(selector)


# -- rate limit, errors, what Avala cannot do -------------------------------------------------------------


def test_a_nearly_used_up_rate_limit_slows_the_polls():
    platform = avala()
    limited = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "60"}
    replay = Replay([reply(json={"uid": "t-1", "status": "active"}, headers=limited)])
    replay.run(platform.status(ref("task", "t-1")))
    assert platform.poll_delay() == pytest.approx(60 / 5)
    plenty = {**limited, "X-RateLimit-Remaining": "900"}
    Replay([reply(json={"uid": "t-1", "status": "active"}, headers=plenty)]).run(
        platform.status(ref("task", "t-1"))
    )
    assert platform.poll_delay() == 0.0


def test_refused_keys_name_what_to_check_and_never_show_the_key():
    for status, words in ((401, "The API key was refused"), (403, "The API key may not do this")):
        replay = Replay([reply(status=status, json={"detail": "Invalid API key."})])
        with pytest.raises(AuthenticationError, match=words) as raised:
            replay.run(avala().status(ref("task", "t-1")), platform=avala())
        assert KEY not in str(raised.value)


def test_a_missing_run_is_not_found_but_a_route_nobody_serves_is_not_avalas_answer():
    with pytest.raises(
        NotFoundError, match=re.escape("GET /api/v1/tasks/t-1/ failed with HTTP 404: Not found.")
    ):
        Replay([reply(status=404, json=DRF_NOT_FOUND)]).run(avala().status(ref("task", "t-1")))
    with pytest.raises(UnexpectedAnswerError, match="answered HTTP 404"):
        Replay([reply(status=404, json={"detail": "Not Found"})]).run(avala().status(ref("task", "t-1")))


def test_429_and_5xx_are_asked_again_and_then_answered():
    busy = [
        reply(status=429, json={"detail": "Slow down."}, headers={"Retry-After": "0"}),
        reply(status=503, json={}),
    ]
    replay = Replay([*busy, reply(json={"uid": "t-1", "status": "completed"})])
    assert replay.run(avala().status(ref("task", "t-1"))).phase is Phase.SUCCEEDED
    assert len(replay.requests) == 3


def test_a_5xx_that_stays_fails_retryable_and_a_gateways_page_stays_transient():
    with pytest.raises(ApiError, match="after 5 tries") as raised:
        Replay(lambda request: reply(status=500, json={"detail": "boom"})).run(
            avala().status(ref("task", "t"))
        )
    assert raised.value.retryable
    page = reply(status=502, content=b"<html>bad gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(TransportError, match=re.escape("Avala's base URL is https://api.avala.ai/api/v1")):
        Replay(lambda request: page).run(avala().status(ref("task", "t")))


def test_a_refused_job_is_invalid_input_and_nothing_was_started():
    replay = Replay([reply(json=PROJECT), reply(status=400, json={"model_type": ["Unknown model."]})])
    with pytest.raises(InvalidInputsError, match=r"Unknown model\..*Nothing was started"):
        submitted(avala(), replay, "auto_label", {"project": "proj-1", "model_type": "nope"})
    assert [r.method for r in replay.requests] == ["GET", "POST"]


def test_runs_cannot_be_resumed_and_have_no_logs_or_progress():
    platform = avala()
    with pytest.raises(ConfigurationError) as raised:
        Replay([]).run(platform.resume(ref("task", "t-1"), {}))
    assert str(raised.value) == str(platform.cannot(Capability.RESUME))
    replay = Replay([])
    assert replay.run(platform.logs(ref("task", "t-1"), None, 10)) == []  # type: ignore[arg-type]
    assert replay.run(platform.progress(ref("task", "t-1"), 3)).seen == 3 and replay.requests == []


def test_the_async_executor_drives_the_same_attach_after_a_lost_answer():
    started = {"uid": "alj-1", "status": "running", "model_type": "yolo"}
    replay = Replay([reply(json=PROJECT), reply(lost=True), reply(json=jobs_page(started))])
    platform = avala()
    interface = replay.run(platform.resolve_task("auto_label", ""))
    job = platform.prepare_inputs(interface, {"project": "proj-1", "model_type": "yolo"})
    operation = platform.submit(interface, job, origin=ORIGIN, labels={}, env={})
    assert asyncio.run(replay.arun(operation, platform=platform)).run_id == "alj-1"
    assert [r.method for r in replay.requests] == ["GET", "POST", "GET"]
