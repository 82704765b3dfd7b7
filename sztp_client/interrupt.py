"""SIGTERM and SIGINT end a run cleanly: the signal becomes an exception in the main thread.

:func:`interruptible` installs a handler that raises :class:`~sztp_client.errors.Interrupted`
the first time either signal arrives.  Python runs the handler in the main thread between two
bytecodes, and a blocking call (a socket read, ``select`` on a child process, ``sleep``) returns
early to let it run, so the exception surfaces wherever the run is and unwinds it: every
``finally`` and ``except BaseException`` on the way does its cleanup (a partial download is
removed after its writer thread has stopped, a child process group is killed, a temporary
state file is removed).  Later signals are ignored while that cleanup runs; systemd's stop
timeout remains the backstop.

:func:`deferred` holds the exception back over a few statements that must not be cut in the
middle, such as starting a child process and taking note of it (an exception inside
``subprocess.Popen`` would leave a running child nobody kills); it is raised when the block
ends.  Outside :func:`interruptible` both are no-ops.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from sztp_client.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _State:
    active = False
    fired: int | None = None
    raised = False
    depth = 0


def _interrupted(signum: int) -> Interrupted:
    return Interrupted(signum, signal.Signals(signum).name)


def _handler(signum: int, frame: FrameType | None) -> None:
    if _State.fired is not None:
        return  # one interruption; its cleanup is running
    _State.fired = signum
    if _State.depth == 0:
        _State.raised = True
        raise _interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted` (once)."""
    previous = {number: signal.signal(number, _handler) for number in SIGNALS}
    _State.active, _State.fired, _State.raised, _State.depth = True, None, False, 0
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        _State.active = False


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold an interruption back until the block ends (then raise it)."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if _State.depth == 0 and _State.fired is not None and not _State.raised:
        _State.raised = True
        raise _interrupted(_State.fired)


__all__ = ["SIGNALS", "deferred", "interruptible"]
