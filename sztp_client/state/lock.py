"""One ``sztp-client run`` at a time: an advisory lock on ``<run-dir>/client.lock``.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on the file, which then holds the pid of the run that
owns it.  The kernel drops the lock when that process ends, however it ends (SIGKILL
included), so a stale file never blocks a later run; the pid inside is only for the message
that refuses a second instance (exit 75, :class:`~sztp_client.errors.AlreadyRunningError`).
The file descriptor is close-on-exec, so commands the client starts never hold the lock.

:func:`holder` tells, without taking the lock, whether a run holds it (``status`` uses it to
tell a run in progress from one that was killed).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Final

from sztp_client.errors import AlreadyRunningError, PermissionDeniedError

LOCK_NAME: Final = "client.lock"
_MAX_PID_TEXT: Final = 32
#: a ``status`` looking at the lock holds it shared for an instant: try again a few times
_TRIES: Final = 20
_PAUSE: Final = 0.01


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, _MAX_PID_TEXT, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _lock_exclusive(fd: int) -> None:
    for _ in range(_TRIES - 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if _read_pid(fd):  # a run holds it (a status probe writes no pid)
                raise
            time.sleep(_PAUSE)
        else:
            return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class RunLock:
    """The run lock; :meth:`acquire` raises :class:`AlreadyRunningError` naming the holder."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"cannot open the run lock {self.path}: permission denied", "paths.run-dir"
            ) from exc
        try:
            _lock_exclusive(fd)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid is not None else "a process whose pid is not known"
            raise AlreadyRunningError(
                f"another sztp-client run is in progress ({who} holds {self.path}); "
                "this one ends without doing anything",
                pid,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the lock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(run_dir: Path) -> int | None:
    """The pid of the run holding the lock (0 when its pid is unknown), None when no run does
    (or the lock cannot be looked at)."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_NAME", "RunLock", "holder"]
