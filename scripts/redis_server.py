"""A throw-away Redis server for Celery's broker: Debian's ``redis-server``, loopback TCP on a free port, no
persistence (no RDB snapshots, no append-only file), a directory of its own. Stopped by its PID, and its files
removed. ``make redis`` installs the server when it is missing.

Besides the broker, it can record every command it is sent (Redis's ``MONITOR``, in a ``redis-cli`` process
stopped by its PID too), so that a test can read each Celery message that went through it, and it can read
every key and value it holds (a small RESP client over a socket; no Redis library needed).

Used by the real-Airflow tests on CeleryExecutor (``tests/cluster/conftest.py``) and by
``make airflow EXECUTOR=celery``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from airflow_cluster import free_port

# A value of one of these types is read whole with its command (strings with GET, and so on).
READ_COMMANDS = {
    "string": ("GET",),
    "list": ("LRANGE", "0", "-1"),
    "hash": ("HGETALL",),
    "set": ("SMEMBERS",),
    "zset": ("ZRANGE", "0", "-1", "WITHSCORES"),
}

RespValue = bytes | int | list["RespValue"] | None


def redis_binary(name: str) -> str:
    """The path of Debian's ``redis-server`` or ``redis-cli``.

    :raises RuntimeError: it is not installed; the message names ``make redis``.
    """
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if not found:
        raise RuntimeError(
            f"{name} was not found: run `make redis` to install Debian's redis-server package."
        )
    return found


class RedisServer:
    """One Redis server on 127.0.0.1 that keeps everything in memory: its data is thrown away."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="remote-tasks-redis-"))
        self.log = self.root / "redis.log"
        self.commands_log = self.root / "commands.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.monitor: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Celery's broker URL (``[celery] broker_url``)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, record_commands: bool = False) -> RedisServer:
        """Start the server (and, with ``record_commands``, the recording of every command it gets); on any
        failure what was started is stopped again. Raises ``RuntimeError`` naming what failed."""
        try:
            return self._start(record_commands)
        except BaseException:
            self.stop()
            raise

    def _start(self, record_commands: bool) -> RedisServer:
        settings = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.root),
            "save": "",  # no RDB snapshots: nothing outlives the server
            "appendonly": "no",
            "logfile": str(self.log),
            "daemonize": "no",  # stays our child, stopped by its PID
        }
        options = [arg for key, value in settings.items() for arg in (f"--{key}", value)]
        self.process = subprocess.Popen(
            [redis_binary("redis-server"), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            start_new_session=True,  # a Ctrl-C to the tests does not reach it before the clean-up
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.command("PING") == b"PONG":
                    break
            except OSError as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                    raise RuntimeError(
                        f"redis-server did not start ({error}); its log ends:\n{log}"
                    ) from error
                time.sleep(0.1)
        if record_commands:
            self.monitor = subprocess.Popen(
                [redis_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port), "monitor"],
                stdout=self.commands_log.open("ab"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    # -- a RESP client: enough for a few commands -------------------------------------------------

    def command(self, *args: str | bytes) -> RespValue:
        """Send one command and return its answer (bytes, an int, a list, or None).

        :raises OSError: the server cannot be reached.
        :raises RuntimeError: the server answered with an error.
        """
        parts = [arg.encode() if isinstance(arg, str) else arg for arg in args]
        request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            return _read_answer(sock.makefile("rb"))

    def contents(self) -> dict[str, bytes]:
        """Every key of every database the broker uses (0, Celery's), with its whole value as bytes."""
        found = {}
        for raw in self.command("KEYS", "*") or []:
            assert isinstance(raw, bytes)
            kind = self.command("TYPE", raw)
            read = READ_COMMANDS.get(kind.decode() if isinstance(kind, bytes) else "")
            value = self.command(read[0], raw, *read[1:]) if read else b""
            found[raw.decode(errors="replace")] = _flatten(value)
        return found

    def recorded_commands(self) -> str:
        """Every command the server was sent since ``start(record_commands=True)``, as ``MONITOR`` prints
        them (bytes beyond ASCII escaped as ``\\xNN``)."""
        return self.commands_log.read_text(errors="replace") if self.commands_log.exists() else ""

    def stop(self) -> None:
        """Stop the recording and the server (SIGTERM by PID, SIGKILL after 10 s); then the files go."""
        for process in (self.monitor, self.process):
            if process is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.monitor = self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _read_answer(stream: object) -> RespValue:
    line = stream.readline()  # type: ignore[attr-defined]
    if not line:
        raise ConnectionError("redis-server closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return bytes(rest)
    if kind == b"-":
        raise RuntimeError(f"redis-server answered: {rest.decode(errors='replace')}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data: bytes = stream.read(size + 2)  # type: ignore[attr-defined]
        return data[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_read_answer(stream) for _ in range(size)]
    raise RuntimeError(f"redis-server sent an answer this client does not read: {line[:40]!r}")


def _flatten(value: RespValue) -> bytes:
    if isinstance(value, list):
        return b"\n".join(_flatten(item) for item in value)
    if isinstance(value, int):
        return str(value).encode()
    return value or b""
