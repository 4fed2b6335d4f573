"""What the Airflow layer asks of a platform. Each platform answers with operations (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from airflow_remote_tasks.core.auth import Auth
from airflow_remote_tasks.core.models import ListedRun, Progress, RunOrigin, RunRef, RunStatus, TaskInterface
from airflow_remote_tasks.core.operation import Operation, Sink
from airflow_remote_tasks.core.transport import ClientSettings


class Platform(Protocol):
    """One configured platform: a connection's settings plus the platform's protocol."""

    @property
    def name(self) -> str: ...

    @property
    def api_origin(self) -> str:
        """The API's address (a URL or ``scheme://host[:port]``): its origin is the only one the connection's
        credentials are sent to."""
        ...

    @property
    def auth(self) -> Auth | None:
        """Credentials for the platform's requests, or None when it needs none."""
        ...

    @property
    def client_settings(self) -> ClientSettings: ...

    @property
    def status_batch_limit(self) -> int:
        """How many runs one ``statuses`` call may read; below 2 when the platform has no such call."""
        ...

    def poll_delay(self) -> float:
        """Seconds a wait should add before its next poll: more than 0 when the API said its rate limit is
        nearly used up (Avala's ``X-RateLimit-Remaining``)."""
        ...

    def check_connection(self) -> Operation[str]:
        """Make a real authenticated call; return a sentence saying what was reached."""
        ...

    def resolve_task(self, task: str | Mapping[str, Any], version: str) -> Operation[TaskInterface]:
        """The task's interface: look ``task`` up by name or id (``version`` may be "latest"), or, where the
        platform supports tasks as code, create or update it from a definition."""
        ...

    def prepare_inputs(self, interface: TaskInterface, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``inputs`` against the interface, fill defaults, encode for the wire. Raises InvalidInputsError."""
        ...

    def submit(
        self,
        interface: TaskInterface,
        wire_inputs: dict[str, Any],
        *,
        origin: RunOrigin,
        labels: Mapping[str, str],
        env: Mapping[str, str],
    ) -> Operation[RunRef]:
        """Start a run that is unique for ``origin.key``; attach to it if it exists already."""
        ...

    def find_run(self, run_id: str) -> Operation[RunRef]:
        """A reference to a run started elsewhere, by the platform's run id or name."""
        ...

    def status(self, ref: RunRef) -> Operation[RunStatus]: ...

    def check_selector(self, selector: Mapping[str, Any]) -> dict[str, Any]:
        """A selector of runs (the platform's own filters), checked: raises ConfigurationError naming an
        unknown field, or saying why this platform cannot list runs."""
        ...

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        """Every run the (checked) selector selects, all pages read, each with its state."""
        ...

    def statuses(self, refs: Sequence[RunRef]) -> Operation[dict[str, RunStatus]]:
        """Several runs' statuses by run id, in as few calls as the platform allows. A run left out of the
        answer is read again with ``status`` (so a missing run or a failure's details are reported per run)."""
        ...

    def outputs(self, ref: RunRef) -> Operation[Any]:
        """What a succeeded run returned, decoded: the value handed to XCom, or a :class:`StreamedOutput` for
        output that belongs in storage. For a paused run, what it waits for."""
        ...

    def download(self, ref: RunRef, stream: str, sink: Sink) -> Operation[None]:
        """Write one stream of a :class:`StreamedOutput` to ``sink``, in order, without holding it in memory.
        Raises ConfigurationError on platforms whose outputs are values."""
        ...

    def progress(self, ref: RunRef, seen: int) -> Operation[Progress]:
        """Progress events after the first ``seen`` ones, as log lines (called when ``RunStatus.steps`` grows)."""
        ...

    def resume(self, ref: RunRef, inputs: Mapping[str, Any]) -> Operation[None]:
        """Give a paused run the input it waits for. Raises ConfigurationError where runs cannot be resumed."""
        ...

    def abort(self, ref: RunRef, reason: str) -> Operation[bool]:
        """Stop the run: True once the platform was asked to, False where this kind of run cannot be stopped
        (it goes on). A run that is gone or already finished is not an error."""
        ...

    def logs(self, ref: RunRef, status: RunStatus, max_lines: int) -> Operation[list[str]]:
        """The last lines of the run's logs, or an empty list where the platform has none."""
        ...
