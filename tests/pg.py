"""A throwaway PostgreSQL server for the test run (shared/guides/toolchain.md §6).

`initdb` refuses to run as root, so as root every server command runs as the `postgres` user
through `runuser`; the socket lives in the temp dir and durability is off (fsync, full-page
writes) because the data dies with the test run.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (tests skip with this reason)."""


def find_pg_bin() -> str | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, if any."""
    bins = [b for b in glob.glob("/usr/lib/postgresql/*/bin")
            if os.path.exists(os.path.join(b, "initdb")) and os.path.exists(os.path.join(b, "pg_ctl"))]
    bins.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[-2].split(".")])
    if bins:
        return bins[-1]
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    pgbin: str
    tmp: str
    port: int
    as_postgres: list[str]

    @property
    def data_dir(self) -> str:
        return os.path.join(self.tmp, "data")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/app_test"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        try:
            self._run(f"{self.pgbin}/pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass  # already down; the directory is removed either way
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def start_server() -> PostgresServer:
    """initdb + pg_ctl start + createdb app_test on a random port; raises PostgresUnavailable."""
    pgbin = find_pg_bin()
    if pgbin is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (apt-get install postgresql, "
                                  "or set EDTECH_TEST_PG_URL to an existing database)")
    as_postgres: list[str] = []
    tmp = tempfile.mkdtemp(prefix="edtech-pgtest.")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise PostgresUnavailable("running as root without runuser: initdb cannot run as root")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(tmp, "postgres", "postgres")
    server = PostgresServer(pgbin, tmp, _free_port(), as_postgres)
    try:
        server._run(f"{pgbin}/initdb", "-D", server.data_dir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--no-sync")
        server._run(f"{pgbin}/pg_ctl", "-D", server.data_dir, "-l", os.path.join(tmp, "server.log"), "-w",
                    "-t", "30", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {server.port} -k {tmp} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off", "start")
        server._run(f"{pgbin}/createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "app_test")
    except subprocess.CalledProcessError as exc:
        log = ""
        log_path = os.path.join(tmp, "server.log")
        if os.path.exists(log_path):
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                log = fh.read()[-2000:]
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{log}") from exc
    return server
