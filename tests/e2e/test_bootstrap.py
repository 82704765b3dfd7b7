"""End-to-end bootstrapping over real HTTPS on loopback: the happy paths and the reboot.

R-011, R-015, R-017, R-018, R-019, R-057..R-072, R-079, R-083..R-090, D17, D24.
"""

from __future__ import annotations

import base64
import json

import pytest

from sztp_lab.server import Response
from tests.e2e.conftest import SERIAL, Env

pytestmark = pytest.mark.integration


def test_redirect_with_trust_anchor_then_signed_onboarding_with_image_and_reboot(env: Env) -> None:
    """R-059, R-063..R-065, R-069..R-072, D17, D24: the full journey across a reboot."""
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(
        image=image, uris=[files.url_for("missing.img"), files.url_for(image.name)]
    )
    onboarding = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    redirect = env.server(Response(unsigned=env.unsigned(env.redirect_to(onboarding))))
    device = env.device([redirect])

    first = device.run("run", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    assert device.reboots == 1
    assert (device.slots / "active").read_text().strip() == "b"
    assert not device.config_file.exists()  # nothing but the image before the reboot
    assert env.scripts_ran() == []
    assert onboarding.reports() == [
        "bootstrap-initiated",
        "boot-image-initiated",
        "boot-image-installed-rebooting",
    ]
    assert device.status()["state"] == "rebooting"
    # mirrors in order; the broken one first
    file_log = [(r["path"], r["status"]) for r in files.log if r.get("event") == "file"]
    assert file_log == [("/missing.img", 404), (f"/{image.name}", 200)]

    second = device.run("run", "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert device.reboots == 1  # D17: the image runs now, no second install
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]
    assert json.loads(device.config_file.read_text()) == {"hostname": "device"}
    assert onboarding.reports()[3:] == [
        "bootstrap-initiated",
        "boot-image-initiated",
        "boot-image-complete",
        "pre-script-initiated",
        "pre-script-complete",
        "config-initiated",
        "config-complete",
        "post-script-initiated",
        "post-script-complete",
        "bootstrap-complete",
    ]
    status = device.status()
    assert status["bootstrapped"] is True and status["state"] == "bootstrapped"
    assert [s["step"] for s in status["steps"]] == [
        "boot-image",
        "pre-script",
        "config",
        "post-script",
    ]
    assert status["images"][0]["sha256"] == image.sha256.hex()
    assert [a["trust"] for a in status["attempts"]] == ["trusted", "trusted"]


def test_minimal_reporting(env: Env) -> None:
    """R-064: minimal level: bootstrap-initiated and bootstrap-complete only."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server])
    result = device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_bootstrap_complete_carries_host_keys_and_trust_anchors(env: Env) -> None:
    """R-079: ssh-host-keys and trust-anchor-certs go with bootstrap-complete only."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server])
    assert device.run("run", "--once").returncode == 0
    reports = server.requests("report-progress")
    complete = next(r for r in reports if r["progress-type"] == "bootstrap-complete")
    assert complete["ssh-host-keys"][0]["algorithm"] == "ssh-ed25519"
    blob = base64.b64decode(complete["ssh-host-keys"][0]["key-data"])
    assert blob[4:15] == b"ssh-ed25519"
    assert complete["trust-anchor-certs"] == 1
    others = [r for r in reports if r["progress-type"] != "bootstrap-complete"]
    assert all(not r.get("ssh-host-keys") and not r.get("trust-anchor-certs") for r in others)


def test_unsigned_onboarding_from_trusted_server(env: Env) -> None:
    """R-017, R-025: a trusted server may deliver unsigned onboarding information."""
    server = env.server(Response(unsigned=env.unsigned(env.onboarding())))
    device = env.device([server])
    result = device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_trusted_request_carries_device_details_and_client_chain(env: Env) -> None:
    """R-018, R-019, R-084, R-085, R-087, R-118: the request to a trusted server."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server])
    assert device.run("run", "--once").returncode == 0
    request = server.requests("get-bootstrapping-data")[0]
    assert request["client_serial"] == SERIAL
    assert request["client_chain_len"] >= 2  # the IDevID and its intermediate
    assert request["content_type"].startswith("application/yang-data+json")
    assert "application/yang-data+json" in request["accept"]
    assert request["input"]["signed-data-preferred"] is False
    assert request["input"]["os-name"] == "factory"
    nonce = base64.b64decode(request["input"]["nonce"])
    assert 16 <= len(nonce) <= 32


def test_redirect_without_trust_anchor_is_provisional(env: Env) -> None:
    """R-060, R-086, R-092, D18: no anchor → blind TLS, signed-data-preferred, no reports."""
    onboarding = env.server(Response(signed=env.signed(env.onboarding())), basic_auth=None)
    redirect = env.server(
        Response(unsigned=env.unsigned(env.redirect_to(onboarding, anchor=False)))
    )
    device = env.device([redirect])
    result = device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert onboarding.reports() == []
    request = onboarding.requests("get-bootstrapping-data")[0]
    assert request["input"]["signed-data-preferred"] is True
    assert request["input"]["os-name"] is None and request["input"]["hw-model"] is None
    assert request["authorization"] is None
    assert request["input"]["nonce"]
    assert device.status()["attempts"][1]["trust"] == "provisional"
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]


def test_nonce_voucher_minted_for_the_request(env: Env) -> None:
    """R-034, R-118: the server mints a voucher for the nonce the device sent."""
    conveyed = env.onboarding()
    server = env.server(
        Response(make_signed=lambda nonce: env.signed(conveyed, nonce=nonce)), basic_auth=None
    )
    device = env.device([server], trusted=False)
    result = device.run("run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr


def test_already_bootstrapped_makes_no_traffic(env: Env) -> None:
    """R-015: after bootstrap-complete no further bootstrapping traffic."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server])
    assert device.run("run", "--once").returncode == 0
    before = len(server.log)
    again = device.run("run", "--once")
    assert again.returncode == 0
    assert "already" in again.stdout
    assert len(server.log) == before


def test_disabled_makes_no_traffic(env: Env) -> None:
    """R-001, R-011: enabled = false → no SZTP traffic at all."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server])
    text = device.config_path.read_text().replace("enabled = true", "enabled = false")
    device.config_path.write_text(text)
    result = device.run("run", "--once")
    assert result.returncode == 0
    assert server.log == []
    assert device.status()["state"] == "disabled"


def test_no_data_exit_69(env: Env) -> None:
    """R-012, D20: nothing found on one pass → 69; the status names the last error."""
    server = env.server(None)  # answers 404 to every device
    device = env.device([server])
    result = device.run("run", "--once")
    assert result.returncode == 69, result.stdout + result.stderr
    status = device.status()
    assert status["state"] == "no-data"
    assert status["last-error"]["type"] == "ServerError"
