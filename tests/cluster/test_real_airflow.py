"""A real Airflow against the Flyte emulator, deployed as teams run it beyond one machine: PostgreSQL for its
metadata, an API server, a DAG processor, two triggerers, and on CeleryExecutor two schedulers and two Celery
workers on a Redis broker (on LocalExecutor, one scheduler that runs the tasks).

Airflow starts once per test session (the ``airflow`` fixture in conftest); each test triggers DAG runs through
the REST API and reads their state from the API and the emulator. These carry the ``cluster`` marker. The
figures they print (takeover time, peak memory) are reported, not asserted.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from airflow_remote_tasks.emulators.flyte import FlyteEmulator

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


class Runs:
    """The emulator's runs started since a point in time, and the AbortRun requests they got."""

    def __init__(self, emulator: FlyteEmulator) -> None:
        self.emulator = emulator
        self.before = {run["name"] for run in emulator.state.summary()}

    def new(self) -> list[dict[str, object]]:
        return [run for run in self.emulator.state.summary() if run["name"] not in self.before]

    def finish(self, task: str) -> None:
        """End these runs of ``task`` that are still going, now: a test asks for runs longer than it needs and
        ends them once what it tests has happened, so no wait idles. Their outputs stay those of the duration
        asked for (the emulator computes them when a run is created)."""
        with self.emulator.state.lock:
            runs = [r for r in self.emulator.state.runs.values() if r.name not in self.before]
        now = time.time()
        for run in runs:
            if run.task.name == task and not run.is_terminal(now):
                run.run_seconds = max(0.0, now - run.created - run.queue_seconds)

    @property
    def abort_calls(self) -> int:
        """AbortRun requests for these runs, those that came after a run had finished too."""
        return sum(self.emulator.state.abort_requests[str(run["name"])] for run in self.new())


def owners(airflow, dag_id: str, run_id: str) -> Counter[int]:
    """How many of the run's deferred task instances each triggerer job runs the trigger of."""
    return Counter(
        ti["trigger"]["triggerer_id"]
        for ti in airflow.task_instances(dag_id, run_id, limit=1000, state="deferred")
        if (ti.get("trigger") or {}).get("triggerer_id")
    )


LEFT_ALONE = "Cancelled, but the task instance is still deferred"


def trigger_logs(airflow, dag_id: str, run_id: str, job_id: int, *texts: str) -> list[str]:
    """The logs the triggerer job ``job_id`` wrote for the run's triggers that contain all ``texts``."""
    folder = airflow.logs / f"dag_id={dag_id}" / f"run_id={run_id}"
    found = []
    for path in folder.rglob(f"*.log.trigger.{job_id}.log"):
        log = path.read_text(errors="replace")
        if all(text in log for text in texts):
            found.append(str(path))
    return found


def triggerer_memory(airflow, names: list[str]) -> str:
    return ", ".join(f"{name} {airflow.peak_memory_kib(name) / 1024:.0f} MiB" for name in names)


def run_watching(
    airflow, dag_id: str, task_id: str, conf: dict[str, object] | None = None
) -> tuple[str, set]:
    """Trigger ``dag_id`` and wait until its run finishes; the run's id and every state ``task_id`` was seen in."""
    run_id = airflow.trigger(dag_id, conf)
    seen = set()

    def finished() -> bool:
        seen.add(airflow.task_state(dag_id, run_id, task_id))
        return airflow.run_state(dag_id, run_id) in ("success", "failed")

    airflow.wait_until(finished, 300, f"{dag_id} to finish", every=0.3)
    return run_id, seen


def test_example_dag_defers_resumes_and_hands_outputs_downstream(airflow, flyte_emulator):
    emulator, url = flyte_emulator
    runs = Runs(emulator)
    run_id, seen = run_watching(airflow, "example_flyte", "hello", {"name": "Cluster"})
    assert airflow.run_state("example_flyte", run_id) == "success"
    assert "deferred" in seen  # waited in the triggerer, then resumed on a worker
    assert airflow.xcom("example_flyte", run_id, "report") == (
        "greeting='Hello, Cluster! Hello, Cluster! Hello, Cluster!' mean=2.5 count=3"
    )
    hello = next(r for r in runs.new() if r["task"] == "demo.say_hello")
    expected = f"{url}/v2/domain/development/project/flytesnacks/runs/{hello['name']}"
    assert airflow.xcom("example_flyte", run_id, "hello", "run_url") == expected
    links = airflow.api("GET", f"dags/example_flyte/dagRuns/{run_id}/taskInstances/hello/links")
    assert links["extra_links"] == {"Remote run": expected}
    page = httpx.get(expected)  # what a person sees after clicking the link: the emulator's run page
    assert page.status_code == 200 and hello["name"] in page.text and "ACTION_PHASE_SUCCEEDED" in page.text
    assert len(runs.new()) == 2

    # A person clears the succeeded task: it runs again, as a new remote run.
    airflow.api(
        "POST",
        "dags/example_flyte/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": ["hello"], "dry_run": False, "only_failed": False},
    )
    airflow.wait_until(
        lambda: (
            airflow.task_state("example_flyte", run_id, "hello") == "success"
            and len([r for r in runs.new() if r["task"] == "demo.say_hello"]) == 2
        ),
        300,
        "the cleared task to run again",
        every=1,
    )
    hellos = [r for r in runs.new() if r["task"] == "demo.say_hello"]
    assert all(r["phase"] == "ACTION_PHASE_SUCCEEDED" for r in hellos)


def all_deferred(
    airflow, dag_id: str, run_id: str, count: int, seconds: float, triggerers: int = 1
) -> Counter[int]:
    """Wait until all ``count`` task instances are deferred, their triggers run by at least ``triggerers``
    triggerers (which one takes the triggers that appear is up to them)."""

    def spread() -> Counter[int] | None:
        held = owners(airflow, dag_id, run_id)
        return held if sum(held.values()) == count and len(held) >= triggerers else None

    return airflow.wait_until(spread, seconds, f"{count} tasks deferred in the triggerers", every=2)


def take_over(airflow, dag_id: str, run_id: str, survivor: str) -> float:
    """Seconds from now until ``survivor`` runs every deferred trigger of the run."""
    started = time.monotonic()
    job = airflow.job_ids[survivor]
    airflow.wait_until(
        lambda: set(owners(airflow, dag_id, run_id)) == {job}, 180, f"{survivor} to take the triggers over"
    )
    return time.monotonic() - started


def kill_a_worker_while_tasks_submit(airflow, runs: Runs, count: int) -> str:
    """SIGKILL the Celery worker (and its task processes) that runs tasks once a tenth of the runs exist, and
    start it again; its name. Its tasks' heartbeats stop, so Airflow fails and retries them, and the messages it
    had taken come back to the queue after the broker's visibility timeout."""

    def busy_worker() -> str | None:
        if len(runs.new()) < count // 10:
            return None
        for name in ("celery-worker-1", "celery-worker-2"):
            pid = airflow.processes[name].pid
            if any(b"airflow worker -- " in cmdline(child) for child in airflow.children(pid)):
                return name
        return None

    victim = airflow.wait_until(busy_worker, 600, "a Celery worker running tasks", every=0.2)
    airflow.kill(victim, signal.SIGKILL)
    airflow.start_component(victim)
    return str(victim)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def test_mapped_deferred_tasks_survive_killed_workers_triggerer_and_scheduler(
    airflow, flyte_emulator, capsys
):
    """Many deferred tasks over both triggerers. On Celery, a worker dies (SIGKILL) while the tasks submit, and
    the emulator loses the answers of some CreateRun calls it carried out: the retries attach to the runs.
    Then a triggerer is killed (SIGKILL): the other takes its triggers over after
    ``[triggerer] triggerer_health_check_threshold`` (10 s here). Then a scheduler dies with SIGKILL while they
    wait in the triggerers (on Celery the other scheduler goes on; on LocalExecutor its workers die with it and
    it resumes them once restarted). Every task completes with its outputs, one remote run each, none aborted."""
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    count, seconds = 300, 3600  # the runs outlast the kills: they are ended once the kills are survived
    celery = airflow.executor == "celery"
    lost_answers = 5 if celery else 0
    emulator.app.faults.update({"lose_answer": "CreateRun", "lose_answer_next": lost_answers})
    started = time.monotonic()
    run_id = airflow.trigger("c_mapped", {"count": count, "seconds": seconds})
    killed_worker = kill_a_worker_while_tasks_submit(airflow, runs, count) if celery else ""
    held = all_deferred(airflow, "c_mapped", run_id, count, 600, triggerers=2)
    assert emulator.app.faults.lose_answer_next == 0  # every lost answer was given
    deferred_after = time.monotonic() - started
    victim = next(name for name, job in airflow.job_ids.items() if job == held.most_common()[0][0])
    survivor = next(name for name in airflow.job_ids if name != victim)
    memory = triggerer_memory(airflow, [victim, survivor])
    airflow.kill(victim, signal.SIGKILL)
    took = take_over(airflow, "c_mapped", run_id, survivor)
    airflow.start_component(victim)  # back to two triggerers, for the tests after this one
    airflow.kill("scheduler", signal.SIGKILL)
    time.sleep(5)
    airflow.start_component("scheduler")
    runs.finish("demo.sleep")
    assert airflow.wait_for_run("c_mapped", run_id, 840) == "success"
    wall = time.monotonic() - started
    assert airflow.xcom("c_mapped", run_id, "total") == sum(seconds + i % 5 for i in range(count))
    waits = [r for r in runs.new() if r["task"] == "demo.sleep"]
    # one remote run per task instance (a second one would be a new generation, under another name)
    assert len(waits) == count and all(r["phase"] == "ACTION_PHASE_SUCCEEDED" for r in waits)
    assert runs.abort_calls == 0
    retried = sum(ti["try_number"] > 1 for ti in airflow.task_instances("c_mapped", run_id, limit=1000))
    if celery:
        assert retried >= 1  # the killed worker's tasks, retried by Airflow, attached to their runs
    with capsys.disabled():
        print(
            f"\n{count} deferred tasks over two triggerers ({dict(held)} triggers by triggerer job) on "
            f"{airflow.executor} ({killed_worker or 'no worker'} killed while they submitted, {lost_answers} "
            f"CreateRun answers lost), all "
            f"deferred {deferred_after:.0f} s after the trigger; {victim} killed, {survivor} ran all its "
            f"triggers {took:.1f} s later (health check threshold 10 s); {wall:.0f} s from trigger to "
            f"success, the scheduler killed and restarted between; {retried} tasks retried by Airflow, "
            f"reattached. Peak memory before the kill "
            f"(VmHWM of the triggerer and its runner): {memory}; {survivor} after taking over: "
            f"{triggerer_memory(airflow, [survivor])}"
        )


def test_a_paused_triggerer_that_comes_back_aborts_nothing(airflow, flyte_emulator, capsys):
    """A triggerer stopped (SIGSTOP) for longer than the health check threshold loses its triggers to the
    other; resumed (SIGCONT), Airflow 3.3 cancels them there and calls on_kill (apache/airflow#73454). The
    task instances are still deferred, so the trigger leaves their runs alone: none is aborted."""
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    count = 24
    run_id = airflow.trigger("c_mapped", {"count": count, "seconds": 3600})  # ended once on_kill is seen
    held = all_deferred(airflow, "c_mapped", run_id, count, 300)
    paused = next(name for name, job in airflow.job_ids.items() if job == held.most_common()[0][0])
    survivor = next(name for name in airflow.job_ids if name != paused)
    airflow.pause(paused)
    try:
        took = take_over(airflow, "c_mapped", run_id, survivor)
    finally:
        airflow.resume(paused)
    # Back, it finds its triggers gone and cancels them, calling on_kill: each trigger's log there (named after
    # the triggerer's job) says so, and why its run was left alone.
    job, lost = airflow.job_ids[paused], held[airflow.job_ids[paused]]
    airflow.wait_until(
        lambda: (
            len(trigger_logs(airflow, "c_mapped", run_id, job, "invoking on_kill", "trigger completed"))
            == lost
        ),
        120,
        f"{paused} to cancel the {lost} triggers it lost",
        every=1,
    )
    assert runs.abort_calls == 0
    assert len(trigger_logs(airflow, "c_mapped", run_id, job, LEFT_ALONE)) == lost
    runs.finish("demo.sleep")
    assert airflow.wait_for_run("c_mapped", run_id, 600) == "success"
    waits = [r for r in runs.new() if r["task"] == "demo.sleep"]
    assert len(waits) == count and all(r["phase"] == "ACTION_PHASE_SUCCEEDED" for r in waits)
    assert runs.abort_calls == 0
    with capsys.disabled():
        print(
            f"\n{paused} paused with {held[airflow.job_ids[paused]]} triggers: {survivor} ran them {took:.1f} s later"
        )


def test_marking_failed_or_clearing_a_deferred_task_aborts_its_run(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_deferred", {"seconds": 120})
    # Airflow calls on_kill only for a trigger a triggerer is running: wait until they run all three.
    airflow.wait_until(
        lambda: sum(owners(airflow, "c_sleep_deferred", run_id).values()) == 3,
        180,
        "the triggerers to run the three triggers",
    )
    failed = airflow.xcom("c_sleep_deferred", run_id, "sleep_0", "run_id")
    cleared = airflow.xcom("c_sleep_deferred", run_id, "sleep_1", "run_id")
    airflow.api(
        "PATCH",
        f"dags/c_sleep_deferred/dagRuns/{run_id}/taskInstances/sleep_0",
        json={"new_state": "failed"},
    )
    airflow.api(
        "POST",
        "dags/c_sleep_deferred/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": ["sleep_1"], "dry_run": False, "only_failed": False},
    )

    def phases() -> dict[str, object]:
        return {str(r["name"]): r["phase"] for r in runs.new()}

    airflow.wait_until(
        lambda: phases().get(failed) == phases().get(cleared) == "ACTION_PHASE_ABORTED",
        90,
        "the triggers' on_kill to abort both runs",
    )
    untouched = airflow.xcom("c_sleep_deferred", run_id, "sleep_2", "run_id")
    assert phases()[untouched] == "ACTION_PHASE_RUNNING"  # only the runs of the tasks a person ended
    # The cleared task runs again: its run was aborted, so it starts a new one.
    airflow.wait_until(
        lambda: (
            airflow.task_state("c_sleep_deferred", run_id, "sleep_1") == "deferred" and len(runs.new()) == 4
        ),
        180,
        "the cleared task to start a new run",
    )
    # end the rest the same way, and wait for their runs to be aborted, so that nothing of this test is left
    # going (or still aborting) while later tests count their own
    airflow.api("PATCH", f"dags/c_sleep_deferred/dagRuns/{run_id}", json={"state": "failed"})
    airflow.wait_until(
        lambda: set(phases().values()) == {"ACTION_PHASE_ABORTED"}, 90, "every run of the test to be aborted"
    )


def test_killed_worker_is_retried_and_reattaches(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_worker", {"seconds": 15})

    def waiting_in_a_worker() -> list[int]:
        ti = airflow.task_instance("c_sleep_worker", run_id, "sleep")
        return ti.get("state") == "running" and len(runs.new()) == 1 and airflow.task_processes(ti["id"])

    [pid] = airflow.wait_until(waiting_in_a_worker, 180, "the task to wait in a worker")
    os.kill(pid, signal.SIGKILL)  # the process running the wait dies with no chance to clean up
    assert airflow.wait_for_run("c_sleep_worker", run_id, 300) == "success"
    ti = airflow.task_instance("c_sleep_worker", run_id, "sleep")
    assert ti["try_number"] >= 2  # Airflow retried it...
    [run] = runs.new()  # ...and the retry reattached to the same remote run
    assert run["phase"] == "ACTION_PHASE_SUCCEEDED"


def test_marking_a_worker_task_failed_aborts_its_run(airflow, flyte_emulator):
    emulator, _ = flyte_emulator
    runs = Runs(emulator)
    run_id = airflow.trigger("c_sleep_worker", {"seconds": 120})
    airflow.wait_until(
        lambda: airflow.task_state("c_sleep_worker", run_id, "sleep") == "running" and runs.new(),
        180,
        "the task to wait in a worker",
    )
    airflow.api(
        "PATCH", f"dags/c_sleep_worker/dagRuns/{run_id}/taskInstances/sleep", json={"new_state": "failed"}
    )
    # the worker stops the task with SIGTERM, and the operator's on_kill aborts the run
    airflow.wait_until(
        lambda: runs.new()[0]["phase"] == "ACTION_PHASE_ABORTED", 90, "the worker's on_kill to abort the run"
    )


def test_labelbox_export_deferred_through_the_triggerer(airflow, labelbox_emulator, tmp_path):
    emulator, _ = labelbox_emulator
    target = tmp_path / "export.ndjson"
    run_id, seen = run_watching(airflow, "c_labelbox_export", "export", {"out": f"file://{target}"})
    assert airflow.run_state("c_labelbox_export", run_id) == "success"
    assert "deferred" in seen
    summary = airflow.xcom("c_labelbox_export", run_id, "export")
    rows = len(emulator.state.rows_of("ckds000000000000000000001"))
    assert summary["rows"] == rows == target.read_text().count("\n")
    [task] = [t for t in emulator.state.summary() if t["id"] == summary["run_id"]]
    assert task["status"] == "COMPLETE"


def test_a_set_wait_deferred_through_the_triggerer(airflow, flyte_emulator):
    run_id, seen = run_watching(airflow, "c_run_set", "all_described")
    assert airflow.run_state("c_run_set", run_id) == "success"
    assert "deferred" in seen
    summary = airflow.xcom("c_run_set", run_id, "all_described")
    assert summary["counts"] == {"succeeded": 2} and summary["total"] == 2


def as_text(value: object) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")


def with_decoded_base64(text: bytes) -> str:
    """``text``, then the text of each base64 run in it that decodes to UTF-8 (a Celery message's body, in
    the broker, is base64 inside kombu's JSON envelope)."""
    decoded = []
    for run in BASE64_RUN.findall(text):
        try:
            decoded.append(base64.b64decode(run + b"=" * (-len(run) % 4), validate=True).decode())
        except (ValueError, UnicodeDecodeError):
            continue
    return "\n".join([text.decode(errors="replace"), *decoded])


def broker_texts(redis) -> dict[str, str]:
    """Every command the broker was sent during the session (each Celery message among them) and every key
    and value it holds now, their base64 bodies decoded; nothing without a broker."""
    if redis is None:
        return {}
    texts = {"the broker's commands": with_decoded_base64(redis.recorded_commands().encode())}
    for key, value in redis.contents().items():
        texts[f"broker key {key}"] = with_decoded_base64(key.encode() + b" " + value)
    # the messages are among what is searched: a workload's body names the task instance it runs
    assert "execute_workload" in texts["the broker's commands"]
    assert '"ti":' in texts["the broker's commands"]
    return texts


def test_no_secret_in_logs_metadata_database_or_broker(airflow, flyte_emulator, postgres, redis):
    """Runs last in this file: everything the tests above made Airflow write is searched for every form of
    the connection's key, the client secret inside it, the Basic credential built from that, and every
    token the emulator issued: task logs, the components' logs (scheduler.log...), every table of the
    metadata database (XCom, rendered fields, trigger rows, task state store, Celery's results) and, on Celery,
    every message and key of the broker."""
    from urllib.parse import quote_plus

    from airflow_remote_tasks.core.secrets import derived_forms
    from support import CLUSTER_CLIENT_SECRET, LABELBOX_KEY, cluster_api_key

    emulator, url = flyte_emulator
    key = cluster_api_key(url)
    basic = base64.b64encode(f"airflow-cluster:{quote_plus(CLUSTER_CLIENT_SECRET)}".encode()).decode()
    secrets = [key + "\n", key, CLUSTER_CLIENT_SECRET, basic, LABELBOX_KEY, *emulator.tokens]
    assert emulator.tokens, "the DAGs above ran with OAuth2 tokens"
    texts: dict[str, str] = {}
    for path in airflow.logs.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    assert any("scheduler" in name for name in texts) and any("dag_id=" in name for name in texts)
    for table, rows in postgres.tables().items():
        texts[f"table {table}"] = "\n".join(" ".join(map(as_text, row)) for row in rows)
    assert "remote_run" in texts["table task_state_store"]  # the tests' own rows are among those searched
    texts |= broker_texts(redis)
    for where, text in texts.items():
        for secret in secrets:
            for form in derived_forms(secret):
                assert form not in text, f"a form of a secret ({len(form)} chars) is in {where}"
