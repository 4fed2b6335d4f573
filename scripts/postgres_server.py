"""A throw-away PostgreSQL server for Airflow's metadata database: Debian's ``postgresql`` binaries, a fresh data
directory, loopback TCP on a free port and a socket directory of its own. Stopped by its PID, and its files
removed. ``make postgresql`` installs the binaries when they are missing.

Used by the real-Airflow tests (``tests/conftest.py``) and by ``make airflow DB=postgresql``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_cluster import free_port

DATABASE = "airflow"
USER = "airflow"


def postgres_binaries() -> Path:
    """The directory holding ``initdb`` and ``postgres``: ``$PG_BIN``, Debian's newest
    ``/usr/lib/postgresql/<version>/bin``, or wherever ``PATH`` finds ``initdb``.

    :raises RuntimeError: none is found; the message names ``make postgresql``.
    """
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    candidates += reversed(debian)
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    raise RuntimeError(
        "PostgreSQL's server programs (initdb, postgres) were not found: run `make postgresql` to install "
        "Debian's postgresql package, or set PG_BIN to the directory that holds them."
    )


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PostgresServer:
    """One PostgreSQL server with an ``airflow`` database that trusts local connections; nothing listens
    beyond 127.0.0.1. Settings favour speed over durability (no fsync): its data is thrown away."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="remote-tasks-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        # PostgreSQL refuses to run as root: as root, run it as Debian's postgres user (or nobody, without one).
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres" if _has_user("postgres") else "nobody"
            account = pwd.getpwnam(self.user)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        """SQLAlchemy's URL for Airflow's ``[database] sql_alchemy_conn``."""
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str | Path) -> None:
        done = subprocess.run(
            [str(part) for part in command], check=False, capture_output=True, user=self.user, cwd=self.root
        )
        if done.returncode:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {output}")

    def start(self) -> PostgresServer:
        """Create the cluster and the ``airflow`` database, and start the server; on any failure what was
        started is stopped again. Raises ``RuntimeError`` naming what failed."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> PostgresServer:
        binaries = postgres_binaries()
        self._run(binaries / "initdb", "-D", self.data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            # Airflow's components each keep a pool (5 + 10 overflow), and two triggerers add theirs.
            "max_connections": "300",
            # Thrown away at the end: durability buys nothing here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.process = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(self.data), *options],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=self.user,
            cwd=self.root,
            start_new_session=True,  # a Ctrl-C to the tests does not reach it before the clean-up
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.execute("postgres", f"CREATE DATABASE {DATABASE}")
                return self
            except Exception as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start ({error}); its log ends:\n{log}") from error
                time.sleep(0.2)

    def connect(self, database: str = DATABASE) -> Any:
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, dbname=database)

    def execute(self, database: str, statement: str) -> None:
        connection = self.connect(database)
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table of the ``airflow`` database, by table name."""
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                names = [row[0] for row in cursor.fetchall()]
                found = {}
                for name in names:
                    cursor.execute(f'SELECT * FROM "{name}"')
                    found[name] = cursor.fetchall()
                return found
        finally:
            connection.close()

    def stop(self) -> None:
        """Fast shutdown (SIGINT) by PID, SIGKILL if that takes longer than 30 s; then the files go."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
