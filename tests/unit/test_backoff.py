"""D2: the pause between passes without success, as pure policy (R-012): 5 s doubling to a
10 min cap by default, times a jitter factor from 0.8 to 1.2 drawn from the random source
given."""

from __future__ import annotations

import random

import pytest

from sztp_client.config import RetryConfig
from sztp_client.protocol import backoff


def _no_jitter(low: float, high: float) -> float:
    return (low + high) / 2


def test_d2_default_doubles_from_5_s_to_the_10_min_cap() -> None:
    """D2: 5, 10, 20 ... seconds, never above 600 (without jitter)."""
    pauses = [backoff.pause(RetryConfig(), n, _no_jitter) for n in range(10)]
    assert pauses == [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]


def test_d2_jitter_is_drawn_between_0_8_and_1_2_from_the_source_given() -> None:
    """D2: the factor is the source's draw from the jitter range, applied to the base delay."""
    asked: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return high

    retry = RetryConfig(initial=5, maximum=30)
    assert backoff.pause(retry, 2, uniform) == pytest.approx(20 * 1.2)
    assert asked == [(0.8, 1.2)]
    draws = random.Random(8572)
    for attempt in range(50):
        base = backoff.base_delay(retry, attempt)
        assert 0.8 * base <= backoff.pause(retry, attempt, draws.uniform) <= 1.2 * base


def test_d2_the_same_seed_gives_the_same_pauses() -> None:
    """D2: all randomness comes from the source given (a fleet differs only by its draws)."""
    one, two = random.Random(1), random.Random(1)
    retry = RetryConfig()
    assert [backoff.pause(retry, n, one.uniform) for n in range(8)] == [
        backoff.pause(retry, n, two.uniform) for n in range(8)
    ]


def test_d2_the_daemon_never_gives_up_and_never_overflows() -> None:
    """D2, R-012: after years of passes the pause is still the cap (no float overflow)."""
    retry = RetryConfig(initial=5, maximum=600)
    assert backoff.base_delay(retry, 10**6) == 600
    assert backoff.pause(retry, 10**6, _no_jitter) == 600


def test_d2_edges_of_the_retry_table() -> None:
    """An initial pause above the cap is used once; a zero initial pause stays zero; a zero cap
    gives zero after the first pass; a negative attempt is a bug."""
    assert [backoff.base_delay(RetryConfig(900, 600), n) for n in range(3)] == [900, 600, 600]
    assert backoff.base_delay(RetryConfig(0, 600), 50) == 0
    assert [backoff.base_delay(RetryConfig(5, 0), n) for n in range(3)] == [5, 0, 0]
    with pytest.raises(ValueError, match="negative"):
        backoff.base_delay(RetryConfig(), -1)
