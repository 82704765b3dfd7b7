"""The session walk through the in-memory bootstrap server (tests/simulator.py): no sockets.

Every address in order (R-058), redirects and trust adoption (R-059..R-061, R-026), the hop
limit (D16), the redirect-address bound (D28), what an untrusted server is sent (D18, byte for
byte), reporting levels (R-064, R-065), a failing server followed by a working one, and how a
pass that found data but failed differs from one that found nothing (D20).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from sztp_client.cli.run import exit_code_for
from sztp_client.config import load_config
from sztp_client.errors import InternalError, MediaTypeError, ServerError
from sztp_client.model.rpc import ReportingLevel
from sztp_client.progress import ProgressType as P
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.runner import Runner
from sztp_client.state.status import StatusRecorder
from sztp_lab.artifacts import make_signed_set, onboarding_json, redirect_json, trust_anchor_bag
from sztp_lab.pki import LabPKI, make_lab_pki
from sztp_lab.scenario import Device, make_device
from tests.simulator import Simulator, addresses_tried, signed, unsigned

SERIAL = "SZTP-SIM-0001"
CONFIG = onboarding_json(configuration=b'{"interfaces": {}}', configuration_handling="merge")
NONCE = bytes(range(32))


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return make_lab_pki()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    yield Simulator()


def _device(
    pki: LabPKI, root: Path, urls: list[str], *, trusted: bool = True, **extra: dict[str, Any]
) -> Device:
    return make_device(
        root,
        pki,
        SERIAL,
        servers=urls,
        server_trust_anchors=[pki.owner_root.cert] if trusted else [],
        extra=extra,
    )


def _nonces() -> Any:
    counter = count(1)
    return lambda: bytes([next(counter)]) * 32


def _run(device: Device, sim: Simulator, nonce: Any = None) -> tuple[RunOutcome, Runner]:
    config = load_config(device.config_path, required=True)
    runner = Runner(
        config,
        StatusRecorder(device.status_path),
        factory=sim.factory,
        resolver=sim.resolve,
        nonce=nonce or _nonces(),
    )
    return runner.run_once(), runner


def _status(device: Device) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(device.status_path.read_text())
    return result


def test_every_address_in_order_and_none_after_the_first_answer(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """R-058: addresses are tried in the resolver's order; the first that answers is used and
    the addresses after it are not contacted."""
    server = sim.add(
        "boot.example",
        addresses=("192.0.2.1", "2001:db8::1", "192.0.2.3", "192.0.2.4"),
        connect_errors={"192.0.2.1", "2001:db8::1"},
        output=unsigned(CONFIG),
    )
    device = _device(pki, tmp_path / "d", [server.url])
    outcome, _ = _run(device, sim)
    assert outcome is RunOutcome.COMPLETE
    assert sim.connects == ["192.0.2.1", "2001:db8::1", "192.0.2.3"]
    assert addresses_tried(sim.log) == ["192.0.2.3"]
    assert sim.closed == 3  # every connection closed
    attempts = _status(device)["attempts"]
    assert [a["address"] for a in attempts] == ["192.0.2.1", "2001:db8::1", "192.0.2.3"]
    assert [a["outcome"] for a in attempts] == ["error", "error", "bootstrap-complete"]


def test_a_failing_server_followed_by_a_working_one(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """R-004, R-058: an HTTP error from the first server moves on to the second."""
    first = sim.add("one.example", error=ServerError("HTTP 500", status=500))
    second = sim.add("two.example", output=unsigned(CONFIG))
    device = _device(pki, tmp_path / "d", [first.url, second.url])
    outcome, runner = _run(device, sim)
    assert outcome is RunOutcome.COMPLETE
    assert len(first.requests()) == 1 and len(second.requests()) == 1
    assert runner.last_error is None
    attempts = _status(device)["attempts"]
    assert [a["outcome"] for a in attempts] == ["error", "bootstrap-complete"]


def test_a_media_type_refusal_goes_on_to_the_next_server(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """D29: a 415 from one server is that server's failure, not the pass's."""
    first = sim.add("one.example", error=MediaTypeError("HTTP 415", status=415))
    second = sim.add("two.example", output=unsigned(CONFIG))
    outcome, _ = _run(_device(pki, tmp_path / "d", [first.url, second.url]), sim)
    assert outcome is RunOutcome.COMPLETE


def test_found_data_but_failed_versus_found_nothing(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """D20: a pass whose data was refused ends failed (65); one that reached no server ends
    with no bootstrapping data (69)."""
    refused = sim.add("untrusted.example", output=unsigned(CONFIG))
    device = _device(pki, tmp_path / "a", [refused.url], trusted=False)
    outcome, runner = _run(device, sim)
    assert outcome is RunOutcome.FAILED
    assert runner.last_error is not None
    assert exit_code_for(outcome, runner.last_error) == 65
    assert _status(device)["state"] == "failed"

    down = sim.add("down.example", connect_errors={"192.0.2.1"})
    device = _device(pki, tmp_path / "b", [down.url])
    outcome, runner = _run(device, sim)
    assert outcome is RunOutcome.NOTHING
    assert exit_code_for(outcome, runner.last_error) == 69
    assert _status(device)["state"] == "no-data"


def test_untrusted_server_gets_only_signed_data_preferred_and_a_nonce(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """D18, R-092: the request bodies byte for byte; no reports to an untrusted server."""
    nonce = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # 32 octets of 0x01
    untrusted = sim.add("u.example", output=unsigned(CONFIG))
    _run(_device(pki, tmp_path / "u", [untrusted.url], trusted=False), sim)
    [sent] = untrusted.requests()
    assert sent.body == (
        b'{"ietf-sztp-bootstrap-server:input":{"signed-data-preferred":[null],"nonce":"'
        + nonce.encode()
        + b'"}}'
    )
    assert untrusted.requests("report-progress") == []

    trusted = sim.add("t.example", output=unsigned(CONFIG))
    _run(_device(pki, tmp_path / "t", [trusted.url]), sim)
    [sent] = trusted.requests()
    assert sent.body == (
        b'{"ietf-sztp-bootstrap-server:input":{"os-name":"factory","os-version":"1.0",'
        b'"nonce":"' + nonce.encode() + b'"}}'
    )


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (ReportingLevel.MINIMAL, [P.BOOTSTRAP_INITIATED, P.BOOTSTRAP_COMPLETE]),
        (
            ReportingLevel.VERBOSE,
            [P.BOOTSTRAP_INITIATED, P.CONFIG_INITIATED, P.CONFIG_COMPLETE, P.BOOTSTRAP_COMPLETE],
        ),
    ],
)
def test_reporting_levels(
    pki: LabPKI, sim: Simulator, tmp_path: Path, level: ReportingLevel, expected: list[P]
) -> None:
    """R-064 minimal: bootstrap-initiated and one terminating report; R-065 verbose: also the
    steps' initiated/complete reports."""
    server = sim.add("boot.example", output=unsigned(CONFIG, level))
    outcome, _ = _run(_device(pki, tmp_path / "d", [server.url]), sim)
    assert outcome is RunOutcome.COMPLETE
    assert server.reports() == expected


def test_rejected_bootstrap_initiated_fails_the_server(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """R-067: bootstrap-initiated must be answered with 204."""
    server = sim.add(
        "boot.example", output=unsigned(CONFIG), report_errors={P.BOOTSTRAP_INITIATED: 500}
    )
    device = _device(pki, tmp_path / "d", [server.url])
    outcome, _ = _run(device, sim)
    assert outcome is RunOutcome.FAILED
    assert not (device.root / "etc" / "device-config.json").exists()


def test_trusted_redirect_anchor_adopted(pki: LabPKI, sim: Simulator, tmp_path: Path) -> None:
    """R-059, R-060: a redirect from a trusted server hands over its trust anchor: the next
    hop is trusted, authenticated to that anchor, and gets the full request and reports."""
    bag = trust_anchor_bag(pki.owner_intermediate)
    target = sim.add("next.example", output=unsigned(CONFIG))
    first = sim.add("first.example", output=unsigned(redirect_json([("next.example", 443, bag)])))
    outcome, _ = _run(_device(pki, tmp_path / "d", [first.url]), sim)
    assert outcome is RunOutcome.COMPLETE
    [sent] = target.requests()
    assert sent.trusted
    assert b"os-name" in sent.body
    assert target.reports() == [P.BOOTSTRAP_INITIATED, P.BOOTSTRAP_COMPLETE]


def test_untrusted_redirect_anchor_dropped(pki: LabPKI, sim: Simulator, tmp_path: Path) -> None:
    """R-061, R-026: an unsigned redirect from an untrusted server names an anchor; it is not
    adopted: the next hop is provisional and gets only the D18 request."""
    bag = trust_anchor_bag(pki.owner_intermediate)
    target = sim.add("next.example", output=unsigned(CONFIG))
    first = sim.add("first.example", output=unsigned(redirect_json([("next.example", 443, bag)])))
    device = _device(pki, tmp_path / "d", [first.url], trusted=False)
    outcome, _ = _run(device, sim)
    [sent] = target.requests()
    assert not sent.trusted
    assert b"signed-data-preferred" in sent.body and b"os-name" not in sent.body
    assert target.requests("report-progress") == []
    assert outcome is RunOutcome.FAILED  # unsigned onboarding from a provisional hop
    hops = [(a["server"], a["trust"], a["hop"]) for a in _status(device)["attempts"]]
    assert hops == [
        ("https://first.example:443", "provisional", 0),
        ("https://next.example:443", "provisional", 1),
    ]


def test_signed_redirect_from_an_untrusted_server_hands_over_its_anchor(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """R-059: signed, verified redirect information is trusted wherever it came from."""
    bag = trust_anchor_bag(pki.owner_intermediate)
    artifacts = make_signed_set(pki, SERIAL, redirect_json([("next.example", 443, bag)]))
    target = sim.add("next.example", output=unsigned(CONFIG))
    first = sim.add("first.example", output=signed(artifacts))
    outcome, _ = _run(_device(pki, tmp_path / "d", [first.url], trusted=False), sim)
    assert outcome is RunOutcome.COMPLETE
    [sent] = target.requests()
    assert sent.trusted


def test_hop_limit(pki: LabPKI, sim: Simulator, tmp_path: Path) -> None:
    """D16: with discovery.max-redirects = 1 the second redirect is not followed."""
    third = sim.add("three.example", output=unsigned(CONFIG))
    second = sim.add("two.example", output=unsigned(redirect_json([("three.example", 443, None)])))
    first = sim.add("one.example", output=unsigned(redirect_json([("two.example", 443, None)])))
    device = _device(pki, tmp_path / "d", [first.url], discovery={"max-redirects": 1})
    outcome, runner = _run(device, sim)
    assert outcome is RunOutcome.FAILED
    assert len(second.requests()) == 1 and third.requests() == []
    assert runner.last_error is not None
    assert "redirect limit of 1 hops" in runner.last_error.message


def test_redirect_address_bound(pki: LabPKI, sim: Simulator, tmp_path: Path) -> None:
    """D28: limits.redirect-addresses bounds the addresses tried across the hops of a pass."""
    targets = [(f"t{i}.example", 443, None) for i in range(6)]
    for name, _port, _anchor in targets:
        sim.add(name, connect_errors={"192.0.2.1"})
    first = sim.add("first.example", output=unsigned(redirect_json(targets)))
    device = _device(pki, tmp_path / "d", [first.url], limits={"redirect-addresses": 3})
    outcome, runner = _run(device, sim)
    assert outcome is RunOutcome.FAILED
    assert len(sim.connects) == 1 + 3
    assert runner.last_error is not None
    assert "limits.redirect-addresses" in runner.last_error.message


def test_a_redirect_whose_targets_give_nothing_counts_as_nothing(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """A redirect is not data of its own: targets that all fail to connect leave the pass with
    no bootstrapping data, as the redirect's result survives the redirecting server."""
    sim.add("gone.example", connect_errors={"192.0.2.1"})
    first = sim.add("first.example", output=unsigned(redirect_json([("gone.example", 443, None)])))
    outcome, _ = _run(_device(pki, tmp_path / "d", [first.url]), sim)
    assert outcome is RunOutcome.NOTHING


def test_an_unexpected_error_of_one_server_goes_on_to_the_next(
    pki: LabPKI, sim: Simulator, tmp_path: Path
) -> None:
    """R-024, D28: a project error that is neither transport nor data (here an internal one)
    while talking to the first server ends that server's attempt, not the pass."""
    first = sim.add("one.example", error=InternalError("boom"))
    second = sim.add("two.example", output=unsigned(CONFIG))
    device = _device(pki, tmp_path / "d", [first.url, second.url])
    outcome, _ = _run(device, sim)
    assert outcome is RunOutcome.COMPLETE
    attempts = _status(device)["attempts"]
    assert [a["outcome"] for a in attempts] == ["error", "bootstrap-complete"]
    assert attempts[0]["error"]["type"] == "InternalError"
    assert sim.closed == len(sim.connects)
