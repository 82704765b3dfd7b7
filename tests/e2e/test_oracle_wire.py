"""The YANG oracle over what the real client sends, captured on the wire by the lab servers'
logs (R-082, R-084, R-086, R-087, D18, D29): every get-bootstrapping-data input (untrusted
and trusted) and every report-progress input (each type a run sends, bootstrap-complete with
ssh-host-keys and trust-anchor-certs, warnings and errors carrying a script's output), in JSON
and in XML, validated with yangson against the published modules (tests/yang/oracle.py).
Loopback only (D26).
"""

from __future__ import annotations

from typing import Any

import pytest

from sztp_lab.scenario import make_device
from sztp_lab.server import LabBootstrapServer, Response
from tests.e2e.conftest import SERIAL, Env
from tests.yang import oracle

pytestmark = pytest.mark.integration

NET: dict[str, Any] = {"connect-timeout": 2, "read-timeout": 3}
RUN_TIMEOUT = 60
# terminal colours and a bell in a script's output: no YANG string or XML text may hold them
NOISY = r"printf '\033[31mfan tray degraded\033[0m\007\n'"


def _rpc_bodies(servers: list[LabBootstrapServer]) -> list[dict[str, Any]]:
    return [
        record
        for server in servers
        for record in server.log
        if record.get("event") in {"get-bootstrapping-data", "report-progress"}
    ]


@pytest.mark.parametrize("encoding", ["json", "xml"])
def test_every_request_the_client_sends_satisfies_the_modules(env: Env, encoding: str) -> None:
    """Three devices' runs against strict servers: an untrusted hop with a signed redirect,
    an onboarding with a boot image and verbose reporting across a reboot, a pre-script
    warning with terminal escapes in its output, and a pre-script error.  Every request body
    on the wire is checked by the oracle."""
    network = {"network": {**NET, "encoding": encoding}}
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    onboarding = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    redirect = env.server(Response(signed=env.signed(env.redirect_to(onboarding))))
    journey = env.device([redirect], trusted=False, extra=network)
    for _ in range(2):  # the image, the reboot, then the rest
        result = journey.run("run", "--once", timeout=RUN_TIMEOUT)
        assert result.returncode == 0, result.stdout + result.stderr

    warning = env.server(
        Response(
            signed=env.signed(env.onboarding(pre=f"{NOISY}; exit 10")), reporting_level="verbose"
        )
    )
    failing = env.server(
        Response(
            signed=env.signed(env.onboarding(pre=f"{NOISY}; exit 3")), reporting_level="verbose"
        )
    )
    for name, server, expected in (("warned", warning, 0), ("failed", failing, 65)):
        device = make_device(
            env.root / name,
            env.lab.pki,
            SERIAL,
            idevid=env.lab.idevid,
            servers=[server.url],
            server_trust_anchors=[env.lab.server_root.cert],
            extra=network,
        )
        result = device.run("run", "--once", timeout=RUN_TIMEOUT)
        assert result.returncode == expected, result.stdout + result.stderr

    records = _rpc_bodies([redirect, onboarding, warning, failing])
    media_type = f"application/yang-data+{encoding}"
    assert {r["content_type"] for r in records} == {media_type}
    inputs: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for record in records:
        body = record["body"].encode("utf-8")
        if record["event"] == "get-bootstrapping-data":
            raw = oracle.check_get_bootstrapping_data_input(body, encoding)
            inputs.append(raw["ietf-sztp-bootstrap-server:input"])
        else:
            raw = oracle.check_report_progress_input(body, encoding)
            reports.append(raw["ietf-sztp-bootstrap-server:input"])

    # D18: the untrusted hop got signed-data-preferred and a nonce only; trusted ones more
    untrusted = [i for i in inputs if "signed-data-preferred" in i]
    assert untrusted and all(set(i) <= {"signed-data-preferred", "nonce"} for i in untrusted)
    trusted = [i for i in inputs if "signed-data-preferred" not in i]
    assert trusted and all("os-name" in i for i in trusted)

    kinds = {r["progress-type"] for r in reports}
    assert {
        "bootstrap-initiated",
        "boot-image-initiated",
        "boot-image-installed-rebooting",
        "boot-image-complete",
        "pre-script-initiated",
        "pre-script-warning",
        "pre-script-error",
        "pre-script-complete",
        "config-initiated",
        "config-complete",
        "post-script-initiated",
        "post-script-complete",
        "bootstrap-complete",
    } <= kinds
    completes = [r for r in reports if r["progress-type"] == "bootstrap-complete"]
    assert all(r["ssh-host-keys"]["ssh-host-key"] for r in completes)
    assert all(r["trust-anchor-certs"]["trust-anchor-cert"] for r in completes)
    warned = next(r for r in reports if r["progress-type"] == "pre-script-warning")
    assert "fan tray degraded" in warned["message"]
    assert "\x1b" not in warned["message"] and "\x07" not in warned["message"]


def test_the_oracle_refuses_a_mutated_captured_request(env: Env) -> None:
    """The oracle bites on captured requests too: the client's real bodies with one change."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server], extra={"network": NET})
    result = device.run("run", "--once", timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    [gbd] = server.requests("get-bootstrapping-data")
    complete = server.requests("report-progress")[-1]
    body = gbd["body"].encode()
    oracle.check_get_bootstrapping_data_input(body)
    mutated = body.replace(b'"nonce":"', b'"nonce":"!')
    assert mutated != body
    with pytest.raises(oracle.Invalid):
        oracle.check_get_bootstrapping_data_input(mutated)
    body = complete["body"].encode()
    oracle.check_report_progress_input(body)
    # ssh-host-keys and trust-anchor-certs only go with bootstrap-complete (the module's when)
    mutated = body.replace(b'"bootstrap-complete"', b'"bootstrap-initiated"')
    assert mutated != body
    with pytest.raises(oracle.Invalid):
        oracle.check_report_progress_input(mutated)
