"""
A throw-away PostgreSQL server for tests, started from the machine's own PostgreSQL binaries: ``initdb`` into a
temporary directory, ``pg_ctl start`` listening on 127.0.0.1 (a free port) and on a unix socket in that directory,
one database per test, stopped and removed afterwards. ``make install`` installs the binaries (Debian's
``postgresql`` package) when they are missing. initdb refuses to run as root: as root, the server runs as the
``postgres`` user (made by that package), else as ``nobody``.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

USER = "tune"  # the database superuser (trust authentication, loopback and the socket only)


def find_binaries() -> Optional[Path]:
    """The folder of ``initdb`` and ``pg_ctl``: PATH first, then Debian's ``/usr/lib/postgresql/<version>/bin``."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda path: int(Path(path).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """
    :param bin_dir: The folder of ``initdb`` and ``pg_ctl``
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="sb3-spiking-pg-"))
        self.port = _free_port()
        self.runner: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if "postgres" in {entry.pw_name for entry in pwd.getpwall()} else "nobody"
            account = pwd.getpwnam(user)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.runner = ["runuser", "-u", user, "--"] if shutil.which("runuser") else ["su", user, "-s", "/bin/sh", "-c"]

    def _run(self, *command: str) -> None:
        args = [str(self.bin_dir / command[0]), *command[1:]]
        if self.runner[:1] == ["su"]:
            args = [" ".join(f"'{arg}'" for arg in args)]
        result = subprocess.run([*self.runner, *args], cwd=self.dir, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = (self.dir / "server.log").read_text() if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed:\n{result.stdout}{result.stderr}{log}")

    def start(self) -> None:
        data = str(self.dir / "data")
        self._run("initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c max_connections=200"
        self._run("pg_ctl", "-D", data, "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def create_database(self, name: str) -> str:
        """Create a database; return its SQLAlchemy URL (psycopg 3 driver)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            if (self.dir / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
