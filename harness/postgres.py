"""A throwaway PostgreSQL cluster on a free port in a temporary directory."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from harness.ports import free_port, wait_for_port


def postgres_bin() -> Path | None:
    """The directory of the newest installed server binaries, if any."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    """initdb + pg_ctl start as an unprivileged user (PostgreSQL refuses to run as root).

    Tests run without fsync (speed); benchmarks ask for `durable=True`, as in production.
    """

    def __init__(self, directory: Path, *, durable: bool = False) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        self.bin = binaries
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.durable = durable
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as_user, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> Postgres:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        fsync = "on" if self.durable else "off"
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync={fsync}"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "postgres.log"), "-w", "start",
        )  # fmt: skip
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
