"""Running a command with bounded output: :func:`run_process` starts it in its own process group
with a clean environment, keeps only the tail of its output (bounded), kills the whole group at
the timeout, and reports a :class:`ProcessOutcome`.  Used by scripts, installers, appliers and
the reboot.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import msgspec

from sztp_client.config import ScriptsConfig
from sztp_client.interrupt import deferred

#: the output bytes kept by default (scripts.output-limit)
DEFAULT_OUTPUT_LIMIT: Final = ScriptsConfig().output_limit
_READ_CHUNK: Final = 64 * 1024
_POLL_INTERVAL: Final = 0.05
_DRAIN_GRACE: Final = 2.0
_UTF8_CONTINUATION_MAX: Final = 3


class ProcessOutcome(msgspec.Struct, frozen=True):
    """How a command ended and the tail of what it wrote (stdout and stderr interleaved).

    ``returncode`` is the exit status, or minus the signal number when a signal ended it (as
    :mod:`subprocess` reports it); ``timed_out`` is true when the client killed it at the
    deadline.  ``output`` holds at most the last ``output_limit`` bytes; ``omitted`` counts
    the bytes before them that were dropped.
    """

    returncode: int
    timed_out: bool
    output: bytes
    omitted: int
    timeout: float
    output_limit: int = DEFAULT_OUTPUT_LIMIT

    @property
    def signal_number(self) -> int | None:
        """The signal that ended the process, if one did."""
        return -self.returncode if self.returncode < 0 else None

    def describe(self) -> str:
        """How the process ended, for messages: status, signal or timeout."""
        if self.timed_out:
            return f"timed out after {self.timeout:g} s and was killed"
        number = self.signal_number
        if number is not None:
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return f"was killed by signal {name} ({number})"
        return f"exited with status {self.returncode}"

    def text(self) -> str:
        """The output tail as text, at most ``output_limit`` characters.

        Decoded as UTF-8 with replacement characters; when the head was dropped, a note
        saying how many bytes were left out comes first.
        """
        body = self.output
        if not self.omitted:
            return body.decode("utf-8", "replace")
        dropped = self.omitted
        for _ in range(3):  # the note's length depends on the number it shows
            note = f"[{dropped} earlier bytes of output omitted]\n"
            room = self.output_limit - len(note)
            if room <= 0:
                return body.decode("utf-8", "replace")
            shown = body[len(body) - room :] if len(body) > room else body
            # do not start in the middle of a UTF-8 sequence
            skip = 0
            while skip < min(len(shown), _UTF8_CONTINUATION_MAX) and shown[skip] & 0xC0 == 0x80:
                skip += 1
            shown = shown[skip:]
            if self.omitted + len(body) - len(shown) == dropped:
                break
            dropped = self.omitted + len(body) - len(shown)
        return note + shown.decode("utf-8", "replace")


class _Tail:
    """The last ``limit`` bytes of a stream, and how many came before them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.buffer += chunk
        excess = len(self.buffer) - self.limit
        if excess > 0:
            del self.buffer[:excess]

    @property
    def omitted(self) -> int:
        return self.total - len(self.buffer)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _read_once(fd: int, tail: _Tail) -> bool:
    """Read one chunk if the pipe holds any; False at end of file."""
    try:
        chunk = os.read(fd, _READ_CHUNK)
    except BlockingIOError:
        return True
    if not chunk:
        return False
    tail.add(chunk)
    return True


def _drain(fd: int, tail: _Tail, *, until_eof: bool) -> None:
    """Read what the pipe holds (``until_eof``: until end of file), for a short grace at most.

    Bounded in time because a process the command left behind may still hold the pipe open
    and keep writing.
    """
    end = time.monotonic() + _DRAIN_GRACE
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := end - time.monotonic()) > 0:
            if not selector.select(left if until_eof else 0):
                if until_eof:
                    continue
                return
            if not _read_once(fd, tail):
                return


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
) -> ProcessOutcome:
    """Run ``argv`` and wait for it, keeping only the tail of its output.

    The command gets exactly ``env``, stdin from /dev/null, and its own session and process
    group.  At the deadline the whole group gets SIGKILL.  Once the command itself has exited,
    what is already in the pipe is read and the pipe is closed, even if a process it left
    behind still holds it open.  Raises :class:`OSError` when the command cannot be started.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if output_limit <= 0:
        raise ValueError("output_limit must be positive")
    tail = _Tail(output_limit)
    deadline = time.monotonic() + timeout
    # an interruption (SIGTERM) waits until the child is known, so that it is always killed
    started: list[subprocess.Popen[bytes]] = []
    try:
        with deferred():
            started.append(
                subprocess.Popen(  # noqa: S603  (argv comes from the device's configuration)
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=dict(env),
                    cwd=cwd,
                    start_new_session=True,
                    close_fds=True,
                )
            )
    except BaseException:
        for child in started:
            _kill_group(child)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        raise
    process = started[0]
    assert process.stdout is not None
    pipe = process.stdout
    fd = pipe.fileno()
    timed_out = False
    pidfd: int | None = None
    try:
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError, AttributeError):
            pidfd = os.pidfd_open(process.pid)
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ, "pipe")
            if pidfd is not None:
                selector.register(pidfd, selectors.EVENT_READ, "exit")
            pipe_open = True
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = process.poll() is None
                    break
                wait = remaining if pidfd is not None else min(remaining, _POLL_INTERVAL)
                events = selector.select(wait)
                for key, _ in events:
                    if key.data == "pipe" and not _read_once(fd, tail):
                        selector.unregister(fd)
                        pipe_open = False
                if process.poll() is not None:
                    break
                if not pipe_open and pidfd is None:
                    # nothing more to read; wait for the exit without a busy loop
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(max(deadline - time.monotonic(), 0))
        if timed_out:
            _kill_group(process)
            process.wait()
            # the group is gone (unless a member left it); take what it wrote before dying
            _drain(fd, tail, until_eof=True)
        else:
            _drain(fd, tail, until_eof=False)
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    finally:
        if pidfd is not None:
            os.close(pidfd)
        pipe.close()
    return ProcessOutcome(
        returncode=process.returncode,
        timed_out=timed_out,
        output=bytes(tail.buffer),
        omitted=tail.omitted,
        timeout=timeout,
        output_limit=output_limit,
    )
