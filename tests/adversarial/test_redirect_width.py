"""An untrusted server cannot stop bootstrapping, nor make it try addresses without end (D28).

Real lab servers on loopback and a scenario device: a redirect list wider than
limits.redirect-addresses is cut off with a recorded message; an unexpected failure while
verifying one server's data refuses that data and the pass goes on to the next server.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sztp_client.config import load_config
from sztp_client.errors import VerificationFailure
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.runner import Runner
from sztp_client.state.status import StatusRecorder
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import make_signed_set, redirect_json
from sztp_lab.lab import LabLayout, create_lab
from sztp_lab.scenario import Device, make_device
from sztp_lab.server import LabBootstrapServer, Response, ServerConfig

pytestmark = pytest.mark.integration

SERIAL = "SZTP-WIDTH-0001"
NET = {"network": {"connect-timeout": 2, "read-timeout": 3}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabLayout:
    return create_lab(tmp_path_factory.mktemp("lab") / "lab", serial_number=SERIAL)


@pytest.fixture
def servers() -> Iterator[list[LabBootstrapServer]]:
    started: list[LabBootstrapServer] = []
    yield started
    for server in started:
        server.stop()


def _server(lab: LabLayout, started: list[LabBootstrapServer], response: Response) -> Any:
    server = LabBootstrapServer(
        ServerConfig(
            identity=lab.server_identity,
            client_ca=[lab.pki.manufacturer_root.cert],
            default=response,
        )
    )
    server.start()
    started.append(server)
    return server


def _closed_ports(count: int) -> list[int]:
    """Loopback ports nothing listens on (bound, then closed): connections are refused, on
    every 127/8 address."""
    ports = []
    holders = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        holders.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in holders:
        sock.close()
    return ports


def _device(lab: LabLayout, root: Path, urls: list[str], **limits: int) -> Device:
    extra: dict[str, dict[str, Any]] = {k: dict(v) for k, v in NET.items()}
    if limits:
        extra["limits"] = {k.replace("_", "-"): v for k, v in limits.items()}
    return make_device(
        root,
        lab.pki,
        SERIAL,
        idevid=lab.idevid,
        servers=urls,
        server_trust_anchors=[lab.server_root.cert],
        extra=extra,
    )


def test_redirect_list_wider_than_the_address_bound(
    lab: LabLayout, servers: list[LabBootstrapServer], tmp_path: Path
) -> None:
    """D28: a redirect to 6 addresses with limits.redirect-addresses = 3: three are tried,
    then the pass stops trying and says why."""
    port = _closed_ports(1)[0]
    targets = [(f"127.0.0.{host}", port, None) for host in range(2, 8)]
    redirect = _server(
        lab, servers, Response(unsigned=lab_cms.content_info("json", redirect_json(targets)))
    )
    device = _device(lab, tmp_path / "device", [redirect.url], redirect_addresses=3)
    result = device.run("run", "--once", timeout=60)
    assert result.returncode == 65, (result.stdout, result.stderr)  # refused data (D20)
    assert "Traceback" not in result.stderr
    status = device.status()
    hops = [a["hop"] for a in status["attempts"]]
    assert hops == [0, 1, 1, 1], json.dumps(status["attempts"], indent=1)
    assert "limits.redirect-addresses" in status["last-error"]["message"]


def test_redirect_list_over_the_server_bound_is_refused(
    lab: LabLayout, servers: list[LabBootstrapServer], tmp_path: Path
) -> None:
    """D28: a redirect-information with more entries than limits.redirect-servers is refused
    as data: no address of it is tried."""
    port = _closed_ports(1)[0]
    targets = [(f"127.0.0.{host}", port, None) for host in range(2, 7)]
    redirect = _server(
        lab, servers, Response(unsigned=lab_cms.content_info("json", redirect_json(targets)))
    )
    device = _device(lab, tmp_path / "device", [redirect.url], redirect_servers=4)
    result = device.run("run", "--once", timeout=60)
    assert result.returncode in (65, 69), (result.stdout, result.stderr)
    status = device.status()
    assert [a["hop"] for a in status["attempts"]] == [0]
    assert "limits.redirect-servers" in status["last-error"]["message"]


def test_unexpected_failure_while_verifying_goes_on_to_the_next_server(
    lab: LabLayout,
    servers: list[LabBootstrapServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """D28: an exception that is not the project's own, raised while verifying the first
    server's data, refuses that data with a typed error (no traceback) and the pass goes on
    to the second server."""
    signed = make_signed_set(lab.pki, SERIAL, redirect_json([("127.0.0.1", 9, None)]))
    first = _server(lab, servers, Response(signed=signed))
    second = _server(lab, servers, Response(signed=signed))
    device = _device(lab, tmp_path / "device", [first.url, second.url])

    import sztp_client.executor as runner_module

    real = runner_module.verify_bootstrapping_data
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OverflowError("Python int too large to convert to C long")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_module, "verify_bootstrapping_data", flaky)
    config = load_config(device.config_path, required=True)
    runner = Runner(config, StatusRecorder(device.status_path))
    outcome = runner.run_once()
    assert outcome in (RunOutcome.FAILED, RunOutcome.NOTHING)
    assert len(first.requests("get-bootstrapping-data")) == 1
    assert len(second.requests("get-bootstrapping-data")) == 1
    assert len(calls) >= 2
    status = json.loads(device.status_path.read_text())
    first_attempt = status["attempts"][0]
    assert first_attempt["server"] == first.url
    assert first_attempt["error"]["type"] == VerificationFailure.__name__
    assert "internal failure while verifying" in first_attempt["error"]["message"]
