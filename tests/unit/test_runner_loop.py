"""The enclosing loop (R-011, R-012, D2): passes repeat with exponential backoff and jitter."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sztp_client.config import parse_config
from sztp_client.protocol import backoff
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.runner import Runner
from sztp_client.state.status import StatusRecorder
from sztp_lab.pki import make_lab_pki

#: a device that can install and apply (the start-up checks refuse one that cannot)
ACTIONS = (
    '[image]\ninstaller = "ab-directory"\nab-root = "slots"\n'
    '[configuration]\napplier = "file"\nfile = "device-config.json"\n'
    # the configured servers only: a unit test asks no DHCP or DNS server and mounts nothing
    '[discovery]\norder = ["configured"]\n'
)


class _Stop(Exception):
    pass


def _voucher_anchor(tmp_path: Path) -> str:
    """D27: `run` needs a voucher-signer anchor; a lab voucher root serves."""
    (tmp_path / "voucher-ca.pem").write_bytes(make_lab_pki().voucher_root.cert_pem())
    return '[trust]\nvoucher-signer-trust-anchors = ["voucher-ca.pem"]\n'


def test_backoff_doubles_to_the_cap_with_jitter(tmp_path: Path) -> None:
    config = parse_config(
        _voucher_anchor(tmp_path) + '[device]\nserial-number = "SN-1"\n'
        '[paths]\nstate-dir = "state"\nrun-dir = "run"\ncache-dir = "cache"\n'
        "[retry]\ninitial = 5\nmaximum = 30\n" + ACTIONS,
        tmp_path,
    )
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 6:
            raise _Stop

    runner = Runner(config, StatusRecorder(tmp_path / "run" / "status.json"), sleep=sleep)
    with pytest.raises(_Stop):
        runner.run_forever()
    bases = [5, 10, 20, 30, 30, 30]
    assert len(delays) == 6
    for delay, base in zip(delays, bases, strict=True):
        assert 0.8 * base <= delay <= 1.2 * base
    assert runner.run_once() is RunOutcome.NOTHING


def test_d2_the_runner_sleeps_the_pause_the_policy_computes(tmp_path: Path) -> None:
    """D2: the runner draws the jitter from the source it was given and sleeps exactly the
    pause :mod:`sztp_client.protocol.backoff` computes for each pass in turn."""
    config = parse_config(
        _voucher_anchor(tmp_path) + '[device]\nserial-number = "SN-1"\n'
        '[paths]\nstate-dir = "state"\nrun-dir = "run"\ncache-dir = "cache"\n' + ACTIONS,
        tmp_path,
    )
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 4:
            raise _Stop

    recorder = StatusRecorder(tmp_path / "run" / "status.json")
    runner = Runner(config, recorder, sleep=sleep, uniform=random.Random(12).uniform)
    with pytest.raises(_Stop):
        runner.run_forever()
    same = random.Random(12)
    assert delays == [backoff.pause(config.retry, n, same.uniform) for n in range(4)]


def test_disabled_device_does_nothing(tmp_path: Path) -> None:
    """R-001, R-011: with the flag off a pass ends at once."""
    config = parse_config(
        "enabled = false\n"
        + _voucher_anchor(tmp_path)
        + '[device]\nserial-number = "SN-1"\n[paths]\nrun-dir = "run"\n'
        + ACTIONS,
        tmp_path,
    )
    runner = Runner(config, StatusRecorder(None))
    assert runner.run_forever() is RunOutcome.DISABLED
