"""The pause between two passes that found no success (D2), as pure policy.

The pause after the ``attempt``-th such pass (counted from 0) is the base delay, ``initial``
seconds doubled on every pass up to ``maximum``, times a jitter factor drawn uniformly from
0.8 to 1.2 so that a fleet started together does not retry in step.  The random source is
given (``random.uniform``, or a seeded ``random.Random().uniform`` in tests); nothing here
sleeps, reads a clock or keeps a count: the runner counts the passes and sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

#: the jitter factor's range: the pause is the base delay times a draw from it
JITTER: Final = (0.8, 1.2)


class RetrySettings(Protocol):
    """The [retry] table (``sztp_client.config.RetryConfig``)."""

    @property
    def initial(self) -> float: ...

    @property
    def maximum(self) -> float: ...


def base_delay(retry: RetrySettings, attempt: int) -> float:
    """``initial`` doubled ``attempt`` times, capped at ``maximum`` after the first pass (an
    ``initial`` above the cap is used once, as given).  Exact for any ``attempt``: the doubling
    stops at the cap, so a daemon that has retried for years never overflows."""
    if attempt < 0:
        raise ValueError(f"attempt {attempt} is negative")
    delay = retry.initial
    for _ in range(attempt):
        if delay >= retry.maximum or delay <= 0.0:
            return min(delay, retry.maximum)
        delay = min(delay * 2, retry.maximum)
    return delay


def pause(retry: RetrySettings, attempt: int, uniform: Callable[[float, float], float]) -> float:
    """The seconds to wait after the ``attempt``-th pass without success (D2)."""
    return base_delay(retry, attempt) * uniform(*JITTER)


__all__ = ["JITTER", "RetrySettings", "base_delay", "pause"]
