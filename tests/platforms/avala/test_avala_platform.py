"""The Avala platform against the emulator, below the operator: listings, run ids, rate limits, selectors."""

from __future__ import annotations

import httpx
import pytest

from airflow_remote_tasks.emulators.avala import DEMO_PROJECT


def platform_and_hook():
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    hook = AvalaHook("avala_default")
    return hook.platform, hook


def pending_now(avala) -> set[str]:
    state = avala.emulator.state
    return {
        uid
        for uid, task in state.tasks.items()
        if task["project"] == DEMO_PROJECT and state.task_view(task)["status"] == "pending"
    }


def test_listing_keeps_every_task_that_kept_its_status_while_others_drift(avala):
    avala.emulator.state.pace = 1e9  # nothing moves by itself
    before = pending_now(avala)
    avala.emulator.state.drift_per_page = 50  # half of each 100-task page leaves 'pending' once served
    platform, hook = platform_and_hook()
    listed = [r.run_id for r in hook.run(platform.list_runs({"project": DEMO_PROJECT, "status": "pending"}))]
    kept = pending_now(avala)
    assert 0 < len(kept) < len(before)
    assert len(listed) == len(set(listed)) and kept <= set(listed) and set(listed) == before


# -- X-RateLimit-Reset: seconds or a time ---------------------------------------------------------------


@pytest.mark.parametrize("reset", ["seconds", "epoch"])
def test_rate_limit_reset_is_read_as_seconds_or_as_an_epoch_time(avala, reset):
    """The unit is undocumented: "60" and "<now + 60>" both mean the window resets in a minute, so with 5
    calls left a wait adds 12 s between polls."""
    platform, hook = platform_and_hook()
    httpx.post(f"{avala.server.url}/_emulator/rate-limit", json={"remaining": 6, "reset": reset})
    hook.run(platform.find_run("task-001-0001"))  # answered with 5 left
    assert platform.poll_delay() == pytest.approx(60 / 5, abs=0.25)


@pytest.mark.parametrize("reset", ["seconds", "epoch"])
def test_the_rate_limit_window_passes_and_the_reset_says_when(avala, reset):
    """The emulator's window starts afresh once it has passed, and X-RateLimit-Reset says the real time left
    (or the window's end), so a wait slowed by a nearly used-up limit speeds up again."""
    import time

    from support import AVALA_KEY

    platform, hook = platform_and_hook()
    limit = {"remaining": 6, "reset": reset, "window": 2}
    assert httpx.post(f"{avala.server.url}/_emulator/rate-limit", json=limit).status_code == 200
    started = time.time()

    def answered() -> tuple[int, float]:
        headers = httpx.get(
            f"{avala.url}/tasks/task-001-0001/", headers={"X-Avala-Api-Key": AVALA_KEY}
        ).headers
        left = float(headers["x-ratelimit-reset"]) - (time.time() if reset == "epoch" else 0)
        return int(headers["x-ratelimit-remaining"]), left

    assert answered()[0] == 5
    time.sleep(1.1)
    remaining, left = answered()
    assert remaining == 4 and 0 < left <= 2 - (time.time() - started) + 1  # rounded up to a whole second
    hook.run(platform.find_run("task-001-0001"))  # 3 left: the polls are slowed
    assert platform.poll_delay() > 0
    time.sleep(max(started + 2.05 - time.time(), 0))
    hook.run(platform.find_run("task-001-0001"))  # a new window
    assert platform.poll_delay() == 0.0
    remaining, left = answered()
    assert remaining == 998 and 1 < left <= 3


def test_the_rate_limit_control_refuses_a_reset_style_it_does_not_know(avala):
    answer = httpx.post(f"{avala.server.url}/_emulator/rate-limit", json={"reset": "minutes"})
    assert answer.status_code == 400 and "reset must be one of seconds, epoch" in answer.text


def test_a_reset_time_already_past_adds_no_delay():
    from airflow_remote_tasks.platforms.avala.wire import rate_limit_delay

    limited = {
        "X-RateLimit-Limit": "1000",
        "X-RateLimit-Remaining": "5",
        "Date": "Tue, 01 Dec 2026 21:00:00 GMT",
    }
    assert rate_limit_delay(limited | {"X-RateLimit-Reset": "1796158740"}) == 0.0  # 20:59:00, a minute ago
    assert rate_limit_delay(limited | {"X-RateLimit-Reset": "1796158860"}) == pytest.approx(60 / 5)
    assert rate_limit_delay({"X-RateLimit-Limit": "1000"}) is None


# -- links into the app -----------------------------------------------------------------------------------


def submitted(platform, hook, task: str, inputs: dict[str, object]):
    from airflow_remote_tasks.core.models import RunOrigin

    interface = hook.run(platform.resolve_task(task, "latest"))
    wire = platform.prepare_inputs(interface, inputs)
    origin = RunOrigin(dag_id="d", run_id="r", task_id="t")
    return hook.run(platform.submit(interface, wire, origin=origin, labels={}, env={}))


def test_links_open_the_app_and_the_emulator_answers_them(avala):
    avala.connect(app_url=avala.server.url)  # the emulator serves the app's pages at its root
    platform, hook = platform_and_hook()
    task = hook.run(platform.find_run("task-001-0003"))
    export = submitted(platform, hook, "export", {"project": DEMO_PROJECT})
    by_dataset = submitted(platform, hook, "export", {"dataset": "ds-001"})
    job = submitted(platform, hook, "auto_label", {"project": DEMO_PROJECT, "model_type": "yolo"})
    app = avala.server.url
    assert task.url == f"{app}/projects/{DEMO_PROJECT}/tasks/task-001-0003"
    assert export.url == f"{app}/projects/{DEMO_PROJECT}/exports/{export.run_id}"
    assert by_dataset.url == f"{app}/datasets/ds-001/exports/{by_dataset.run_id}"
    assert job.url == f"{app}/projects/{DEMO_PROJECT}/auto-label-jobs/{job.run_id}"
    for ref, what in ((task, "task"), (export, "export"), (by_dataset, "export"), (job, "auto-label job")):
        page = httpx.get(ref.url)  # no key: a browser opens it
        assert page.status_code == 200 and f"Avala {what} {ref.run_id}" in page.text
    assert httpx.get(f"{app}/projects/{DEMO_PROJECT}/tasks/task-nope").status_code == 404


def test_an_app_link_naming_another_project_or_dataset_is_not_found(avala):
    """A link is only as good as its project (or dataset) segment: the emulator's app pages answer 404 when
    it is not the run's, so a link built with the wrong one fails a test."""
    avala.connect(app_url=avala.server.url)
    platform, hook = platform_and_hook()
    task = hook.run(platform.find_run("task-001-0003"))
    export = submitted(platform, hook, "export", {"project": DEMO_PROJECT})
    by_dataset = submitted(platform, hook, "export", {"dataset": "ds-001"})
    job = submitted(platform, hook, "auto_label", {"project": DEMO_PROJECT, "model_type": "yolo"})
    app = avala.server.url
    wrong = [
        f"{app}/projects/proj-002/tasks/{task.run_id}",  # a project that exists, not the task's
        f"{app}/projects/proj-nope/tasks/{task.run_id}",
        f"{app}/projects/proj-002/exports/{export.run_id}",
        f"{app}/datasets/{DEMO_PROJECT}/exports/{export.run_id}",  # the export's scope, named as a dataset
        f"{app}/datasets/ds-nope/exports/{by_dataset.run_id}",
        f"{app}/projects/ds-001/exports/{by_dataset.run_id}",
        f"{app}/projects/proj-002/auto-label-jobs/{job.run_id}",
    ]
    for url in wrong:
        page = httpx.get(url)
        assert page.status_code == 404 and "not found in" in page.text, url
    assert all(httpx.get(ref.url).status_code == 200 for ref in (task, export, by_dataset, job))


def test_links_default_to_the_avala_app_not_the_api_host(avala):
    platform, hook = platform_and_hook()
    assert hook.run(platform.find_run("task-001-0003")).url == (
        f"https://avala.ai/projects/{DEMO_PROJECT}/tasks/task-001-0003"
    )


# -- run ids ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id", ["../users/me/projects/proj-001", "task-001/../x", "https://x/tasks/1", ""]
)
def test_a_run_id_that_is_no_uid_is_refused_naming_run_id(avala, run_id):
    from airflow_remote_tasks.core.errors import ConfigurationError

    platform, hook = platform_and_hook()
    with pytest.raises(
        ConfigurationError, match=r"run_id=.* is not a valid Avala run id: expected an Avala uid"
    ):
        hook.run(platform.find_run(run_id))
    assert not any(path.startswith("/api/v1/") for path in avala.emulator.app.calls)


def test_uids_of_the_api_shapes_are_accepted(avala):
    from airflow_remote_tasks.platforms.avala import PLATFORM

    for uid in ("task-001", "exp-001", "alj_9", "0b6d3c1e-3f7a-4c2e-9a51-8c1f3e2d4b6a"):
        assert PLATFORM.check_run_id(f" {uid} ") == uid


@pytest.mark.parametrize(
    ("kind", "run_id", "call", "elsewhere"),
    [
        ("task", "../users/me/projects/proj-001", "status", "/api/v1/users/me/projects/proj-001/"),
        ("export", "../tasks/task-001-0001", "outputs", "/api/v1/tasks/task-001-0001/"),
        ("auto_label", "../tasks/task-001-0001", "abort", "/api/v1/tasks/task-001-0001/"),
    ],
)
def test_an_id_in_a_path_is_one_segment_and_never_reads_another_object(avala, kind, run_id, call, elsewhere):
    """A reference from elsewhere (trigger kwargs, the task state store) is not checked again: its id is
    percent-encoded into one path segment, so '..' and '/' cannot reach another resource."""
    from airflow_remote_tasks.core.errors import UnexpectedAnswerError
    from airflow_remote_tasks.core.models import RunRef

    platform, hook = platform_and_hook()
    ref = RunRef(platform="avala", run_id=run_id, scope={"kind": kind, "project": DEMO_PROJECT})
    operation = {"status": platform.status, "outputs": platform.outputs}.get(call)
    # No route serves the decoded path: the server's "no such path" ({"detail": "Not Found"}, not DRF's "Not
    # found." for a missing object) is not taken for "gone", and fails without retries.
    with pytest.raises(UnexpectedAnswerError, match="answered HTTP 404"):
        hook.run(platform.abort(ref, "test") if operation is None else operation(ref))
    assert elsewhere not in avala.emulator.app.calls
    assert any("%2F" in path or "/../" in path for path in avala.emulator.app.calls)


# -- set waits on a project that does not exist ---------------------------------------------------------------


def test_listing_a_project_that_does_not_exist_is_not_found_naming_the_selector(avala):
    from airflow_remote_tasks.core.errors import NotFoundError

    platform, hook = platform_and_hook()
    with pytest.raises(
        NotFoundError, match=r"No Avala project 'proj-nope' \(the selector's 'project'\) is visible"
    ):
        hook.run(platform.list_runs({"project": "proj-nope"}))
    assert "/api/v1/tasks/" not in avala.emulator.app.calls  # looked up before the first page
    for _ in range(2):  # a project seen once is not looked up again
        assert len(hook.run(platform.list_runs({"project": "proj-002"}))) == 3
    assert avala.emulator.app.calls["/api/v1/users/me/projects/proj-002/"] == 1


# -- status words nobody mapped -----------------------------------------------------------------------------


def test_a_word_nobody_mapped_is_handed_over_with_the_listing(avala):
    from airflow_remote_tasks.core.phases import phase_of_word

    avala.emulator.state.tasks["task-002-0001"]["status"] = "in_review"
    avala.emulator.state.tasks["task-002-0002"]["status"] = None  # a task with no status at all
    platform, hook = platform_and_hook()
    listed = {r.run_id: r.status for r in hook.run(platform.list_runs({"project": "proj-002"}))}
    unmapped = phase_of_word("in_review", {}, "test")  # whatever core makes of a word no table has
    assert listed["task-002-0001"].raw_phase == "in_review" and listed["task-002-0001"].phase is unmapped
    assert not listed["task-002-0001"].is_terminal
    assert listed["task-002-0000"].raw_phase in ("active", "completed")
    assert listed["task-002-0000"].phase.value in ("running", "succeeded")


# -- a project seen once, deleted later -------------------------------------------------------------------


def test_a_project_deleted_after_it_was_seen_is_not_found_at_the_next_empty_listing(avala):
    """Every wait on the connection in the process shares one platform object: a project one wait saw must
    not list empty for ever in another once it is gone."""
    from airflow_remote_tasks.core.errors import NotFoundError
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    platform, hook = platform_and_hook()
    assert len(hook.run(platform.list_runs({"project": "proj-002"}))) == 3
    other = AvalaHook("avala_default")  # another sensor or trigger on the same connection
    assert other.platform is platform
    state = avala.emulator.state
    del state.projects["proj-002"]
    for uid in [uid for uid, task in state.tasks.items() if task["project"] == "proj-002"]:
        del state.tasks[uid]
    with pytest.raises(NotFoundError, match=r"No Avala project 'proj-002' \(the selector's 'project'\)"):
        other.run(platform.list_runs({"project": "proj-002"}))
    assert avala.emulator.app.calls["/api/v1/users/me/projects/proj-002/"] == 2


def test_an_empty_listing_of_a_project_that_exists_is_empty(avala):
    """No task has the status asked for: the project is looked up again (it is there) and the set is empty."""
    avala.emulator.state.pace = 1e-6  # every task is done
    platform, hook = platform_and_hook()
    for _ in range(2):
        assert hook.run(platform.list_runs({"project": "proj-002", "status": "pending"})) == []
    assert (
        avala.emulator.app.calls["/api/v1/users/me/projects/proj-002/"] == 2
    )  # before the first, after the 2nd


# -- Status words -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["unknown", "finished", 3])
def test_status_words_map_only_to_phases_a_run_can_be_in_and_the_error_lists_them(avala, phase):
    """'unknown' is what a word no table maps already means: mapping a word to it is refused, as a typo is."""
    import json

    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    avala.connect(status_map=json.dumps({"archived": "succeeded", "in_review": phase}))
    with pytest.raises(ConfigurationError) as raised:
        AvalaHook("avala_default").platform  # noqa: B018
    message = str(raised.value)
    assert f"connection 'avala_default' map 'in_review' to no phase: Unknown phase {phase!r}" in message
    listed = message.split("use one of: ")[1].split(".", maxsplit=1)[0].split(", ")
    assert listed == ["queued", "running", "paused", "succeeded", "failed", "aborted", "timed_out"]


def test_status_words_that_are_no_json_object_are_refused(avala):
    from airflow_remote_tasks.core.errors import ConfigurationError
    from airflow_remote_tasks.platforms.avala.hook import AvalaHook

    avala.connect(status_map='["in_review", "running"]')
    with pytest.raises(
        ConfigurationError, match=r"must be a JSON object of Avala status word -> phase; e\.g\."
    ):
        AvalaHook("avala_default").platform  # noqa: B018
