"""The hook every platform shares: lazy connection, one client, sync and async execution of operations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar, TypeVar

import httpx
from airflow.sdk import BaseHook

from airflow_remote_tasks.core.auth import authorized
from airflow_remote_tasks.core.batching import StatusBatcher, shared_listing, status_batcher
from airflow_remote_tasks.core.declaration import PlatformDeclaration
from airflow_remote_tasks.core.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RemoteTaskError,
    TransportError,
    clip,
)
from airflow_remote_tasks.core.executors import aexecute, execute
from airflow_remote_tasks.core.models import ListedRun, RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.platform import Platform
from airflow_remote_tasks.core.retry import DEFAULT_POLICY, WAIT_READS, RetryPolicy
from airflow_remote_tasks.core.steps import ListRuns
from airflow_remote_tasks.core.transport import shared_async_client, sync_client
from airflow_remote_tasks.hooks.built_platforms import BUILT_PLATFORMS
from airflow_remote_tasks.hooks.connection import ConnectionView
from airflow_remote_tasks.hooks.connection_reads import RECENT_PLATFORMS, aget_connection, get_connection

T = TypeVar("T")


class RemoteTaskHook(BaseHook):
    """Base hook. Reads its connection on first use, never at DAG-parse time."""

    conn_name_attr = "conn_id"
    # A platform's hook names its declaration; Airflow's class attributes are derived from it.
    declaration: ClassVar[PlatformDeclaration]
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    platform_name: ClassVar[str] = ""
    default_conn_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declaration = cls.__dict__.get("declaration")
        if declaration is not None:
            cls.conn_type = declaration.conn_type
            cls.hook_name = declaration.hook_name
            cls.platform_name = declaration.name
            cls.default_conn_name = declaration.default_conn_name

    def __init__(self, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self._platform: Platform | None = None
        self._client: httpx.Client | None = None

    # -- subclasses --------------------------------------------------------------------------------

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> Platform:
        """The platform configured from ``conn``. :raises ConfigurationError: naming a field it cannot use."""
        raise NotImplementedError

    # -- platform ----------------------------------------------------------------------------------

    @property
    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = self._build(get_connection(self.conn_id))
        return self._platform

    async def aplatform(self) -> Platform:
        """The platform, from a connection read shared with the other triggers on this loop that read it
        within ``CONNECTION_TTL`` seconds."""
        if self._platform is None:

            async def read() -> Platform:
                return self._build(await aget_connection(self.conn_id))

            self._platform = await RECENT_PLATFORMS.get((type(self), self.conn_id), read)
        return self._platform

    def use_connection(self, conn: Any) -> None:
        """Build the platform from ``conn``, a connection read already (by the lookup that chose this hook).
        Raises as :meth:`_build`."""
        self._platform = self._build(conn)

    def _build(self, conn: Any) -> Platform:
        """:raises ConfigurationError: the connection is of another type, or the platform refuses its fields."""
        if conn.conn_type != self.conn_type:
            raise ConfigurationError(
                f"Connection {self.conn_id!r} has type {conn.conn_type!r}; {type(self).__name__} needs a "
                f"{self.conn_type!r} connection."
            )
        view = ConnectionView(conn, self.declaration)
        return BUILT_PLATFORMS.get(
            (type(self), view.fingerprint()), lambda: self.platform_from_connection(view)
        )

    # -- running operations ------------------------------------------------------------------------

    def run(self, operation: Operation[T], policy: RetryPolicy = DEFAULT_POLICY) -> T:
        """Run an operation in this process (the worker), on the hook's own pooled client.

        :raises RemoteTaskError: what the operation raises; a refusal of the credentials names the connection.
        """
        platform = self.platform
        if self._client is None:
            self._client = sync_client(platform.client_settings)
        with explained(self.conn_id, self.declaration.label):
            return execute(authorized(operation, platform.auth, platform.api_origin), self._client, policy)

    def run_alone(self, operation: Operation[T]) -> T:
        """Run an operation on a client of its own: for ``on_kill``, which runs in a signal handler that may
        have interrupted a request on the hook's client (whose pool lock it may hold). Raises as :meth:`run`."""
        platform = self.platform
        with sync_client(platform.client_settings) as client, explained(self.conn_id, self.declaration.label):
            return execute(authorized(operation, platform.auth, platform.api_origin), client)

    async def arun(self, operation: Operation[T], policy: RetryPolicy = DEFAULT_POLICY) -> T:
        """Run an operation on the event loop's shared client (the triggerer). Raises as :meth:`run`."""
        with explained(self.conn_id, self.declaration.label):
            return await arun_on(await self.aplatform(), operation, policy)

    def find_run(self, run_id: str, what: str = "run_id") -> RunRef:
        """A run started elsewhere, by the id a user gave (``what`` names the argument it came in).

        :raises ConfigurationError: naming ``what`` when it is not a run id of this platform; nothing is sent.
        """
        checked = self.declaration.check_run_id(run_id, what)
        return self.run(self.platform.find_run(checked))

    async def afind_run(self, run_id: str, what: str = "run_id") -> RunRef:
        """:meth:`find_run` on the event loop's shared client (the triggerer). Raises as :meth:`find_run`."""
        checked = self.declaration.check_run_id(run_id, what)
        return await self.arun((await self.aplatform()).find_run(checked))

    async def aread_status(self, ref: RunRef, gather_for: float) -> RunStatus:
        """A wait's read of a run's status: from the platform's stream of run updates where it has one and the
        stream can say; otherwise polled, batched with other waits' reads on this platform due within
        ``gather_for`` s. Raises what the poll raises."""
        platform = await self.aplatform()
        with explained(self.conn_id, self.declaration.label):
            updates = platform.run_updates()
            if updates is None:
                return await apoll_status(platform, ref, gather_for)
            return await updates.read(ref, partial(apoll_status, platform, ref, gather_for))

    async def apause(self, ref: RunRef, seconds: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """A wait's pause between reads of ``ref``: ``sleep(seconds)``, or on a platform that batches status
        reads up to the wait's next beat (:class:`~airflow_remote_tasks.core.batching.Pace`: never longer,
        maybe shorter, once);
        ended early where the platform's stream of run updates shows the run ended. Raises what ``sleep``
        raises."""
        platform = await self.aplatform()
        # Not while the platform asks for a longer pause (its rate limit): a beat may come sooner than asked.
        if platform.status_batch_limit >= 2 and platform.poll_delay() == 0:
            sleep = partial(_status_batcher(platform).pace.sleep, ref)
        updates = platform.run_updates()
        if updates is None:
            return await sleep(seconds)
        return await updates.pause(ref, seconds, sleep)

    async def alist_runs(self, step: ListRuns, fresh_for: float) -> list[ListedRun]:
        """A wait's listing of a selector's runs, shared with the other waits on it polling within ``fresh_for``."""
        platform = await self.aplatform()
        list_runs = partial(arun_on, platform, step.operation, WAIT_READS)
        with explained(self.conn_id, self.declaration.label):
            return await shared_listing(platform, step.key, list_runs, fresh_for)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """Make a real authenticated call; the message says what to fix when it fails. Never raises: Airflow's
        Test button shows the message of any failure."""
        try:
            return True, self.run(self.platform.check_connection())
        except NotFoundError as error:
            # The connection test reads what every account has: a 404 means another service answers there (or
            # an id the connection names does not exist).
            check = _CHECK_ENDPOINT.format(conn_id=self.conn_id, label=self.declaration.label)
            return False, (
                f"{str(error).rstrip('.')}. {error.endpoint or 'The endpoint'} answered 404: {check[:-1]}, and "
                "that the ids the connection names exist."
            )
        except RemoteTaskError as error:
            return False, str(error)
        except Exception as error:  # the Test button must show every failure, not crash
            return (
                False,
                f"The connection test failed: {type(error).__name__}: {clip(masked(str(error)), 1000)}",
            )
        finally:
            self.close()


def forget_connections() -> None:
    """Drop the platforms built from connections (tests that repoint a connection id). The triggerer's shared
    connection reads belong to their event loop, and a new loop reads afresh."""
    BUILT_PLATFORMS.clear()


async def arun_on(platform: Platform, operation: Operation[T], policy: RetryPolicy = DEFAULT_POLICY) -> T:
    client = shared_async_client(platform.client_settings)
    return await aexecute(authorized(operation, platform.auth, platform.api_origin), client, policy)


async def apoll_status(platform: Platform, ref: RunRef, gather_for: float) -> RunStatus:
    """The run's status read now, batched with other reads on ``platform`` due within ``gather_for`` s."""
    if platform.status_batch_limit < 2:
        return await arun_on(platform, platform.status(ref), WAIT_READS)
    return await _status_batcher(platform).read(ref, gather_for)


def _status_batcher(platform: Platform) -> StatusBatcher:
    return status_batcher(platform, partial(arun_on, platform, policy=WAIT_READS))


@contextmanager
def explained(conn_id: str, label: str) -> Iterator[None]:
    """Errors say what the platform's code cannot know: which connection holds refused credentials, and which
    call got a 404 that is not the platform's own (another service answers at the endpoint)."""
    try:
        yield
    except AuthenticationError as error:
        if f"connection {conn_id!r}" not in str(error):
            error.amend(f"(Airflow connection {conn_id!r}.)")
        raise
    except (ApiError, TransportError) as error:
        where = error.endpoint.partition(" ")[2]
        if isinstance(error, ApiError) and error.status == 404 and not isinstance(error, NotFoundError):
            error.amend(
                f"{error.endpoint} answered 404: {_CHECK_ENDPOINT.format(conn_id=conn_id, label=label)}"
            )
        elif isinstance(error, TransportError) and where and where not in str(error):
            error.amend(f"(The call was {error.endpoint}.)")
        raise


_CHECK_ENDPOINT = "check that the endpoint of connection {conn_id!r} is the {label} API's address."


def masked(text: str) -> str:
    """``text`` with the secrets this process registered with Airflow's masker replaced."""
    from airflow.sdk._shared.secrets_masker import redact

    return str(redact(text))
