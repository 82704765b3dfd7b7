"""SIGTERM and SIGINT end a run cleanly: the signal becomes an exception in the main thread.

:func:`interruptible` installs a handler that raises :class:`~sztp_client.errors.Interrupted`
the first time either signal arrives.  Python runs the handler in the main thread between two
bytecodes, and a blocking call (a socket read, ``select`` on a child process, ``sleep``) returns
early to let it run, so the exception surfaces wherever the run is and unwinds it: every
``finally`` and ``except BaseException`` on the way does its cleanup (a partial download is
removed after its writer thread has stopped, a child process group is killed, a temporary
state file is removed).  Later signals are ignored while that cleanup runs; systemd's stop
timeout remains the backstop.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from sztp_client.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted` (once)."""
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        raise Interrupted(signum, signal.Signals(signum).name)

    previous = {number: signal.signal(number, handler) for number in SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


__all__ = ["SIGNALS", "interruptible"]
