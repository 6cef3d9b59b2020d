"""A throwaway PostgreSQL server on a free loopback port: for the tests and the benchmarks.

Debian's ``postgresql`` package (scripts/setup installs it): ``initdb`` in a
fresh folder, then ``postgres`` itself (not ``pg_ctl``, so that the process we
stop is the one we started, by PID). PostgreSQL refuses to run as root; started
as root (CI, a container), the server runs as the package's ``postgres`` user
(or ``nobody``) in a folder it owns. Trust authentication on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from common.errors import ActiveCallsError
from simulators.broker import LOOPBACK, free_port

__all__ = ["PgServer", "PgServerError", "find_pg_bin", "start_pg"]


class PgServerError(ActiveCallsError, RuntimeError):
    """PostgreSQL is missing or did not start."""


def find_pg_bin() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PgServerError("PostgreSQL is not installed: run scripts/setup (or: apt-get install -y postgresql)")
    return Path(found[-1]).parent


def _run_as() -> str | None:
    """The user to run the server as (None: ourselves, when not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PgServerError("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@dataclass
class PgServer:
    """A postgres process owned by its starter; ``url`` reaches its ``postgres`` database."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.database_url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL; the folder goes. Idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_pg(*, durable: bool = False, timeout: float = 30.0) -> PgServer:
    """initdb and start a server. ``durable``: fsync on (benchmarks compare it with
    SQLite's synchronous=FULL); off by default (tests: faster, nothing to survive)."""
    bin_dir = find_pg_bin()
    user = _run_as()
    # Our own folder under /tmp (not pytest's, which only root may enter), owned by the server's user.
    folder = Path(tempfile.mkdtemp(prefix="activecalls-pg-"))
    data = folder / "data"
    try:
        if user is not None:
            record = pwd.getpwnam(user)
            os.chown(folder, record.pw_uid, record.pw_gid)
        log = folder / "postgres.log"
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            capture_output=True, user=user, cwd=folder, check=False,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise PgServerError(f"initdb failed: {initdb.stderr.decode(errors='replace').strip()}")
        port = free_port()
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": str(folder),
            "fsync": "on" if durable else "off",
            "synchronous_commit": "on" if durable else "off",
            "full_page_writes": "on" if durable else "off",
            "shared_buffers": "128MB",
            "max_connections": "100",
            "logging_collector": "off",
        }
        args = [str(bin_dir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(log, "ab") as out:
            os.chmod(log, 0o666)
            process = subprocess.Popen(args, stdout=out, stderr=out, user=user, cwd=folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    server = PgServer(port, folder, process)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.url, connect_timeout=2):
                return server
        except psycopg.OperationalError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:]
                server.stop()
                raise PgServerError(f"postgres did not start ({exc}):\n{text}") from None
            time.sleep(0.05)
