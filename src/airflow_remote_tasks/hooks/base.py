"""The hook every platform shares: lazy connection, one client, sync and async execution of operations."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar, TypeVar

import httpx
from airflow.sdk import BaseHook

from airflow_remote_tasks.core.auth import authorized
from airflow_remote_tasks.core.batching import shared_listings, status_batcher
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
from airflow_remote_tasks.core.transport import shared_async_client, sync_client
from airflow_remote_tasks.core.waiting import ListRuns
from airflow_remote_tasks.hooks.connection import ConnectionView
from airflow_remote_tasks.platforms import BY_CONN_TYPE, PLATFORMS

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
            cls.default_conn_name = f"{declaration.name}_default"

    def __init__(self, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self._platform: Platform | None = None
        self._client: httpx.Client | None = None

    # -- subclasses --------------------------------------------------------------------------------

    @classmethod
    def platform_from_connection(cls, conn: ConnectionView) -> Platform:
        raise NotImplementedError

    # -- platform ----------------------------------------------------------------------------------

    @property
    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = self._build(_get_connection(self.conn_id))
        return self._platform

    async def aplatform(self) -> Platform:
        if self._platform is None:
            self._platform = await _recent_platform(self)
        return self._platform

    def _build(self, conn: Any) -> Platform:
        if conn.conn_type != self.conn_type:
            raise ConfigurationError(
                f"Connection {self.conn_id!r} has type {conn.conn_type!r}; {type(self).__name__} needs a "
                f"{self.conn_type!r} connection."
            )
        view = ConnectionView(conn, self.declaration)
        # Thousands of triggers on one connection share one platform object, not one each; a changed
        # connection has another key, so it gets a platform of its own.
        key = (type(self), view.fingerprint())
        platform = _PLATFORMS.get(key)
        if platform is None:
            platform = self.platform_from_connection(view)
            _PLATFORMS[key] = platform
            while len(_PLATFORMS) > MAX_SHARED_PLATFORMS:
                _PLATFORMS.pop(next(iter(_PLATFORMS)))
        return platform

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

    async def aread_status(self, ref: RunRef, gather_for: float) -> RunStatus:
        """A wait's read of a run's status, batched with other waits' reads on this platform due within
        ``gather_for`` s."""
        platform = await self.aplatform()
        with explained(self.conn_id, self.declaration.label):
            if platform.status_batch_limit < 2:
                return await arun_on(platform, platform.status(ref), WAIT_READS)
            return await status_batcher(platform, partial(arun_on, platform, policy=WAIT_READS)).read(
                ref, gather_for
            )

    async def alist_runs(self, step: ListRuns, fresh_for: float) -> list[ListedRun]:
        """A wait's listing of a selector's runs, shared with the other waits on it polling within ``fresh_for``."""
        platform = await self.aplatform()
        listings = shared_listings(platform, partial(arun_on, platform, policy=WAIT_READS))
        with explained(self.conn_id, self.declaration.label):
            return await listings.read(step.key, step.operation, fresh_for)

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


class UsesRemoteHook:
    """For operators and sensors: the hook for ``conn_id``, resolved from the connection's type on first use."""

    conn_id: str
    _hook: RemoteTaskHook | None = None

    @property
    def hook(self) -> RemoteTaskHook:
        if self._hook is None:
            self._hook = hook_for_connection(self.conn_id)
        return self._hook


def hook_class(declaration: PlatformDeclaration) -> type[RemoteTaskHook]:
    cls: type[RemoteTaskHook] = getattr(
        importlib.import_module(declaration.hook_module), declaration.hook_class_name
    )
    return cls


def hook_for_platform(platform: str, conn_id: str) -> RemoteTaskHook:
    declaration = PLATFORMS.get(platform)
    if declaration is None:
        raise ConfigurationError(f"Unknown platform {platform!r}; known: {', '.join(PLATFORMS)}.")
    return hook_class(declaration)(conn_id)


def hook_for_connection(conn_id: str) -> RemoteTaskHook:
    """The hook that fits a connection's type, with an error that names the fix when none does."""
    conn = _get_connection(conn_id)
    declaration = BY_CONN_TYPE.get(conn.conn_type or "")
    if declaration is None:
        raise ConfigurationError(
            f"Connection {conn_id!r} has type {conn.conn_type!r}, which this provider does not handle. "
            f"Use a connection of type {', '.join(repr(t) for t in BY_CONN_TYPE)}."
        )
    hook = hook_class(declaration)(conn_id)
    hook._platform = hook._build(conn)
    return hook


# A triggerer that starts ten thousand deferred tasks on one connection reads (and masks) that connection
# once, not ten thousand times; an edited connection reaches new triggers within this many seconds.
CONNECTION_TTL = 10.0
_recent: dict[tuple[type, str], tuple[float, Platform]] = {}
_fetching: dict[tuple[int, type, str], asyncio.Task[Platform]] = {}


async def _recent_platform(hook: RemoteTaskHook) -> Platform:
    key = (type(hook), hook.conn_id)
    recent = _recent.get(key)
    if recent is not None and recent[0] > time.monotonic():
        return recent[1]
    loop = asyncio.get_running_loop()
    flight = (id(loop), *key)
    fetch = _fetching.get(flight)
    if fetch is None:

        async def read() -> Platform:
            platform = hook._build(await _aget_connection(hook.conn_id))
            _recent[key] = (time.monotonic() + CONNECTION_TTL, platform)
            return platform

        fetch = loop.create_task(read())
        _fetching[flight] = fetch
        fetch.add_done_callback(lambda _: _fetching.pop(flight, None))
    return await asyncio.shield(fetch)  # one waiter cancelled does not cancel the others' read


def forget_connections() -> None:
    """Drop the connections read recently (tests that repoint a connection id)."""
    _recent.clear()


def _missing(conn_id: str) -> ConfigurationError:
    return ConfigurationError(
        f"Connection {conn_id!r} is not defined. Add it under Admin > Connections, or set the environment "
        f"variable AIRFLOW_CONN_{conn_id.upper()}."
    )


def _get_connection(conn_id: str) -> Any:
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise _missing(conn_id) from None


async def _aget_connection(conn_id: str) -> Any:
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        raise _missing(conn_id) from None


async def arun_on(platform: Platform, operation: Operation[T], policy: RetryPolicy = DEFAULT_POLICY) -> T:
    client = shared_async_client(platform.client_settings)
    return await aexecute(authorized(operation, platform.auth, platform.api_origin), client, policy)


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


MAX_SHARED_PLATFORMS = 64
_PLATFORMS: dict[tuple[type, str], Platform] = {}
