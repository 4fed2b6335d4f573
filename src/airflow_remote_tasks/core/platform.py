"""What the Airflow layer asks of a platform. Each platform answers with operations (no I/O).

A platform subclasses :class:`Platform`, names its declaration, and writes what every platform does (submit a
run, read its status and outputs) plus the members of the capabilities it declares; the base class answers for
the capabilities it lacks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from airflow_remote_tasks.core.auth import Auth
from airflow_remote_tasks.core.declaration import Capability, PlatformDeclaration
from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.events import EndedRun, EventFilter
from airflow_remote_tasks.core.models import ListedRun, Progress, RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation, Sink, returns
from airflow_remote_tasks.core.transport import ClientSettings

# The members a platform overrides when it declares each capability (a test holds every platform to it).
CAPABILITY_MEMBERS: Mapping[Capability, tuple[str, ...]] = MappingProxyType(
    {
        Capability.ABORT: ("abort",),
        Capability.RESUME: ("resume",),
        Capability.LIST_RUNS: ("check_selector", "list_runs"),
        Capability.BATCHED_STATUS: ("statuses", "status_batch_limit"),
        Capability.STREAMED_OUTPUTS: ("download",),
        Capability.PROGRESS: ("progress",),
        Capability.LOGS: ("logs",),
        Capability.RATE_LIMIT: ("poll_delay",),
        Capability.ENV: (),  # submit takes env; one that cannot is refused by check_env, before any call
        Capability.EVENTS: ("check_event_filter", "ended_runs"),
        Capability.WATCH_RUNS: ("run_updates",),
    }
)

# What to do instead, for the capabilities whose absence is an error (the others have a harmless answer).
INSTEAD: Mapping[Capability, str] = MappingProxyType(
    {
        Capability.LIST_RUNS: "wait on one run with RemoteRunSensor instead",
        Capability.RESUME: "only platforms whose runs wait for input can be resumed",
        Capability.STREAMED_OUTPUTS: "its runs return values, not streams: they reach XCom as outputs",
        Capability.ENV: "pass the values as inputs instead",
        Capability.EVENTS: "schedule the DAG on an asset that a task updates instead",
        Capability.WATCH_RUNS: "its waits poll their runs' status instead",
    }
)


class RunUpdates(Protocol):
    """A platform's stream of run updates on the running event loop, shared by every wait on it."""

    async def read(self, ref: RunRef, poll: Callable[[], Awaitable[RunStatus]]) -> RunStatus:
        """The run's status as the stream last showed it, or, where the stream cannot say (it is down, or has
        not shown the run since it opened), ``poll()``: the wait's read without the stream.

        :raises Exception: what ``poll()`` raises.
        """
        ...

    async def pause(self, ref: RunRef, seconds: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """``sleep(seconds)`` between a wait's reads of ``ref``, ended early once the stream shows it ended."""
        ...


class Platform(ABC):
    """One configured platform: a connection's settings plus the platform's protocol."""

    declaration: ClassVar[PlatformDeclaration]
    # Set by each platform from its connection's settings.
    api_origin: str  # the API's address: its origin is the only one the connection's credentials are sent to
    auth: Auth | None  # credentials for the platform's requests, or None when it needs none
    client_settings: ClientSettings
    # How many runs one ``statuses`` call may read; 0 where the platform reads runs one by one.
    status_batch_limit: int = 0

    @property
    def name(self) -> str:
        return self.declaration.name

    @classmethod
    def cannot(cls, capability: Capability) -> ConfigurationError:
        """The one refusal of a capability this platform lacks: names the platform, the capability (and why,
        where the declaration says), and what to do instead. A class method: filters are checked at DAG-parse
        time, before any connection is read."""
        why = cls.declaration.why_not.get(capability)
        instead = INSTEAD.get(capability, "")
        text = f"{cls.declaration.label} cannot {capability.value}"
        return ConfigurationError(f"{text}{': ' + why if why else ''}{'; ' + instead if instead else ''}.")

    def check_env(self, env: Mapping[str, str]) -> None:
        """:raises ConfigurationError: ``env`` is not empty and this platform's runs take no environment
        variables (checked before anything is sent)."""
        if env and Capability.ENV not in self.declaration.capabilities:
            raise self.cannot(Capability.ENV)

    # -- what every platform does --------------------------------------------------------------------

    @abstractmethod
    def check_connection(self) -> Operation[str]:
        """Make a real authenticated call; return a sentence saying what was reached."""

    @abstractmethod
    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        """The task's interface: look ``task`` up by name or id (``version`` may be "latest"), or, where the
        platform supports tasks as code, create or update it from a definition."""

    @abstractmethod
    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> Any:
        """``inputs`` checked against the interface, defaults filled: the platform's job (its typed model or
        wire dict), handed to :meth:`submit` as it is. Raises InvalidInputsError."""

    @abstractmethod
    def submit(
        self,
        interface: TaskInterface,
        job: Any,
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        """Start a run of ``job`` (what :meth:`prepare_inputs` returned) that is unique for ``origin.key``;
        attach to it if it exists already."""

    @abstractmethod
    def find_run(self, run_id: str) -> Operation[RunRef]:
        """A reference to a run started elsewhere, by the platform's run id or name."""

    @abstractmethod
    def status(self, ref: RunRef) -> Operation[RunStatus]: ...

    @abstractmethod
    def outputs(self, ref: RunRef) -> Operation[Any]:
        """What a succeeded run returned, decoded: the value handed to XCom, or a :class:`StreamedOutput` for
        output that belongs in storage. For a paused run, what it waits for."""

    # -- capabilities: the answers of a platform that lacks them ------------------------------------------

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        """Stop the run: True once the platform was asked to, False where this kind of run cannot be stopped
        (it goes on). A run that is gone or already finished is not an error. (ABORT)"""
        return returns(False)

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        """Give a paused run the input it waits for. (RESUME)

        :raises ConfigurationError: where runs cannot be resumed.
        """
        raise self.cannot(Capability.RESUME)

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        """A selector of runs (the platform's own filters), checked. (LIST_RUNS)

        :raises ConfigurationError: naming an unknown field, or saying why this platform cannot list runs.
        """
        raise self.cannot(Capability.LIST_RUNS)

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        """Every run the (checked) selector selects, all pages read, each with its state. (LIST_RUNS)

        :raises ConfigurationError: where the platform cannot list runs.
        """
        raise self.cannot(Capability.LIST_RUNS)

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        """Several runs' statuses by run id, in as few calls as the platform allows. A run left out of the
        answer is read again with ``status`` (so a missing run or a failure's details are reported per run).
        (BATCHED_STATUS)"""
        return returns({})

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        """Write one stream of a :class:`StreamedOutput` to ``sink``, in order, without holding it in memory.
        (STREAMED_OUTPUTS)

        :raises ConfigurationError: on platforms whose outputs are values.
        """
        raise self.cannot(Capability.STREAMED_OUTPUTS)

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        """Progress events after the first ``seen`` ones, as log lines (called when ``RunStatus.steps``
        grows). (PROGRESS)"""
        return returns(Progress(lines=[], seen=seen))

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        """The last lines of the run's logs, or an empty list where the platform has none. (LOGS)"""
        return returns([])

    def poll_delay(self) -> float:
        """Seconds a wait should add before its next poll: more than 0 when the API said its rate limit is
        nearly used up (Avala's ``X-RateLimit-Remaining``). (RATE_LIMIT)"""
        return 0.0  # no rate-limit headers to go by: 429 answers are waited out by the executors

    def run_updates(self) -> RunUpdates | None:
        """The stream of run updates the triggerer's waits read their runs' status from, or None where the
        platform streams none (its waits poll). (WATCH_RUNS)"""
        return None

    @classmethod
    def check_event_filter(cls, event_filter: Mapping[str, Any]) -> EventFilter:
        """An asset watcher's filter (the platform's own fields, and ``phases``), checked without a connection
        (at DAG-parse time). (EVENTS)

        :raises ConfigurationError: naming a field or value that is wrong and the fix, or saying why this
            platform fires no events.
        """
        raise cls.cannot(Capability.EVENTS)

    def ended_runs(self, listing: Mapping[str, Any], since: datetime) -> Operation[list[EndedRun]]:
        """The runs of ``listing`` (an :class:`EventFilter`'s) that ended at or after ``since``, every page
        read. (EVENTS)

        :raises ConfigurationError: where the platform fires no events.
        """
        raise self.cannot(Capability.EVENTS)
