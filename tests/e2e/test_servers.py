"""End-to-end: the real ``sztp-client`` against lab bootstrap servers over HTTPS on loopback.

Server errors and timeouts (D8, R-091), size bounds (D19), RESTCONF root discovery (R-083, D9),
XML replies (R-084), the clock modes for server certificates (D10, R-115), what goes to
trusted and untrusted servers (R-003, R-018, R-066, R-086, R-092, D18), redirects and their
trust (R-021, R-022, R-026, R-057..R-062, D16), artifacts made by the openssl command line,
and every address of a host name (R-058).  Loopback only (D26).
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from cryptography import x509

from sztp_lab.artifacts import (
    SignedSet,
    onboarding_xml,
    redirect_json,
    trust_anchor_bag,
    voucher_json,
)
from sztp_lab.pki import Issued, make_end_entity, utcnow
from sztp_lab.scenario import Device, make_device, script
from sztp_lab.server import LabBootstrapServer, Response, ServerConfig, restconf_errors
from tests.conftest import require
from tests.e2e.conftest import SERIAL, Env
from tests.helpers.openssl_cli import openssl_degenerate, openssl_sign

pytestmark = pytest.mark.integration

OID_CONVEYED_JSON = "1.2.840.113549.1.9.16.1.43"
OID_VOUCHER = "1.2.840.113549.1.9.16.1.40"
XML = "application/yang-data+xml"
OUTPUT = "ietf-sztp-bootstrap-server:output"
# Short timeouts: every test that waits on the network waits seconds, not minutes (D8).
NET: dict[str, dict[str, Any]] = {"network": {"connect-timeout": 2, "read-timeout": 3}}
RUN_TIMEOUT = 60


# ---------------------------------------------------------------------------------------------
# helpers


def _extra(**tables: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The short network timeouts plus further configuration tables."""
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in NET.items()}
    for name, values in tables.items():
        merged.setdefault(name, {}).update(values)
    return merged


def _device(
    env: Env,
    name: str,
    servers: Sequence[LabBootstrapServer | str],
    *,
    trusted: bool = True,
    **options: Any,
) -> Device:
    """A second device of the same serial number under its own root (``env.device`` has one)."""
    return make_device(
        env.root / name,
        env.lab.pki,
        SERIAL,
        idevid=env.lab.idevid,
        servers=[s if isinstance(s, str) else s.url for s in servers],
        server_trust_anchors=[env.lab.server_root.cert] if trusted else [],
        **options,
    )


def _run(device: Device) -> subprocess.CompletedProcess[str]:
    return device.run("run", "--once", timeout=RUN_TIMEOUT)


def _why(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _server_identity(
    env: Env,
    *,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A TLS server certificate under the lab's bootstrap-server CA."""
    return make_end_entity(
        env.lab.server_ca,
        "bootstrap server under test",
        key_usage={"digital_signature", "key_encipherment"},
        extended_key_usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        not_before=not_before,
        not_after=not_after,
    )


def _closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing listens on (bound, then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def _bootstrap_server(env: Env, default: Response, *, host: str) -> LabBootstrapServer:
    """A lab bootstrap server bound to ``host`` (``env.server`` binds 127.0.0.1 only)."""
    server = LabBootstrapServer(
        ServerConfig(
            identity=env.lab.server_identity,
            client_ca=[env.lab.pki.manufacturer_root.cert],
            default=default,
        ),
        host=host,
    )
    server.start()
    env.servers.append(server)
    return server


def _gbd(server: LabBootstrapServer) -> list[dict[str, Any]]:
    return server.requests("get-bootstrapping-data")


def _output(conveyed: bytes) -> bytes:
    """A get-bootstrapping-data reply carrying ``conveyed`` alone, as JSON."""
    encoded = base64.b64encode(conveyed).decode("ascii")
    return json.dumps({OUTPUT: {"conveyed-information": encoded}}).encode()


def _attempts(device: Device) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = device.status()["attempts"]
    return attempts


def _assert_untouched(env: Env, device: Device, before: dict[str, str]) -> None:
    """Nothing the onboarding steps may change has changed; no script ran."""
    assert device.changed_files() == before
    assert not device.config_file.exists()
    assert env.scripts_ran() == []
    assert device.reboots == 0


def _wait_for(server: LabBootstrapServer, event: str, seconds: float = 3.0) -> list[dict[str, Any]]:
    """The records of ``event``, waiting a little for the server thread to log them."""
    deadline = time.monotonic() + seconds
    while True:
        records = server.requests(event)
        if records or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def _openssl_set(env: Env, conveyed: bytes, *, serial_number: str = SERIAL) -> SignedSet:
    """Signed conveyed information, owner certificate and voucher made by ``openssl``."""
    pki = env.lab.pki
    owner = pki.owner_certificate
    signer = pki.voucher_signer
    voucher = voucher_json(
        serial_number=serial_number, pinned_domain_cert=pki.owner_root.cert, created_on=pki.now
    )
    return SignedSet(
        conveyed_information=openssl_sign(
            conveyed, OID_CONVEYED_JSON, owner.cert, owner.key, list(owner.chain)
        ),
        owner_certificate=openssl_degenerate(list(owner.path)),
        ownership_voucher=openssl_sign(
            voucher, OID_VOUCHER, signer.cert, signer.key, list(signer.chain)
        ),
    )


# ---------------------------------------------------------------------------------------------
# server errors (D8, R-091)


def test_server_error_document_then_next_server(env: Env) -> None:
    """R-004, D8, R-091, R-057: a 500 with a RESTCONF error document means no data from that server:
    its error-message is recorded and the next well-known server is used."""
    failing = env.server(
        Response(status=500, error_document=restconf_errors("operation-failed", "boom"))
    )
    good = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([failing, good], extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert "boom" in result.stdout  # the timeline shows the server's error-message

    assert [(r["status"], r["answer"]) for r in _gbd(failing)] == [(500, "error")]
    assert failing.requests("report-progress") == []
    assert good.reports() == ["bootstrap-initiated", "bootstrap-complete"]

    attempts = _attempts(device)
    assert [(a["server"], a["outcome"]) for a in attempts] == [
        (failing.url, "error"),
        (good.url, "bootstrap-complete"),
    ]
    error = attempts[0]["error"]
    assert error["type"] == "ServerError"
    assert "500" in error["message"]
    assert "operation-failed" in error["message"]
    assert "boom" in error["message"]
    assert "error" not in attempts[1]
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]


def test_basic_auth_required_without_password_then_next_server(env: Env) -> None:
    """D8, R-091, R-003: a server that wants HTTP Basic answers 401 to a device that has no
    password; the device sends no Authorization and moves on to the next server."""
    locked = env.server(Response(signed=env.signed(env.onboarding())), basic_auth={SERIAL: "pw"})
    good = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([locked, good], extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)

    [refused] = _gbd(locked)
    assert refused["status"] == 401
    assert refused["authorization"] is None
    assert refused["client_serial"] == SERIAL  # the certificate still identifies the device
    assert locked.requests("report-progress") == []
    assert good.reports() == ["bootstrap-initiated", "bootstrap-complete"]

    attempts = _attempts(device)
    assert [a["outcome"] for a in attempts] == ["error", "bootstrap-complete"]
    assert attempts[0]["error"]["type"] == "ServerError"
    assert "401" in attempts[0]["error"]["message"]
    assert "access-denied" in attempts[0]["error"]["message"]


def test_read_timeout_then_next_server(env: Env) -> None:
    """D8: every request has a read timeout; a server that does not answer in time yields no
    data and the next server is used."""
    slow = env.server(Response(signed=env.signed(env.onboarding()), delay=5))
    good = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device(
        [slow, good], extra=_extra(network={"connect-timeout": 2, "read-timeout": 1})
    )
    started = time.monotonic()
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert time.monotonic() - started < 4.5  # did not wait for the slow answer
    attempts = _attempts(device)
    assert [a["outcome"] for a in attempts] == ["error", "bootstrap-complete"]
    assert attempts[0]["error"]["type"] == "ConnectError"
    assert "timed out" in attempts[0]["error"]["message"]
    assert slow.requests("report-progress") == []
    assert good.reports() == ["bootstrap-initiated", "bootstrap-complete"]


# ---------------------------------------------------------------------------------------------
# size bounds (D19)


def test_conveyed_information_over_its_bound_is_refused_then_next_server(env: Env) -> None:
    """D19, R-068: conveyed information larger than limits.conveyed-information is refused as
    too large (reported as parsing-error to the trusted server); the next server is used."""
    big = env.unsigned(env.onboarding(configuration={"hostname": "big", "pad": "x" * 8000}))
    assert len(big) > 4096
    oversized = env.server(Response(body_override=_output(big)))
    good = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([oversized, good], extra=_extra(limits={"conveyed-information": 4096}))
    result = _run(device)
    assert result.returncode == 0, _why(result)

    assert [r["answer"] for r in _gbd(oversized)] == ["override"]
    assert oversized.reports() == ["bootstrap-initiated", "parsing-error"]
    [parsing_error] = [
        r for r in oversized.requests("report-progress") if r["progress-type"] == "parsing-error"
    ]
    assert "4096" in parsing_error["message"]
    assert good.reports() == ["bootstrap-initiated", "bootstrap-complete"]

    attempts = _attempts(device)
    assert [a["outcome"] for a in attempts] == ["failed", "bootstrap-complete"]
    assert attempts[0]["error"]["type"] == "SizeLimitError"
    assert "over the limit of 4096 bytes" in attempts[0]["error"]["message"]
    # what was applied is the good server's configuration, not the oversized one
    assert json.loads(device.config_file.read_text()) == {"hostname": "device"}


def test_reply_over_its_bound_is_refused_then_next_server(env: Env) -> None:
    """D19: a get-bootstrapping-data reply larger than any reply the artifact bounds allow is
    refused while it is read (no data, no report), and the next server is used."""
    limits = {"conveyed-information": 4096, "owner-certificate": 4096, "ownership-voucher": 4096}
    huge = _output(env.unsigned(b'{"pad": "' + b"x" * 400_000 + b'"}'))
    oversized = env.server(Response(body_override=huge))
    good = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([oversized, good], extra=_extra(limits=limits))
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert oversized.requests("report-progress") == []
    attempts = _attempts(device)
    assert [a["outcome"] for a in attempts] == ["error", "bootstrap-complete"]
    assert attempts[0]["error"]["type"] == "SizeLimitError"
    assert "get-bootstrapping-data reply" in attempts[0]["error"]["message"]


def test_conveyed_information_within_its_bound_is_accepted(env: Env) -> None:
    """D19: an artifact within its configured bound is accepted; the bound of the whole reply
    must leave room for it in base64 (RFC 8572 §7.2 carries each artifact as YANG binary)."""
    limit = 1024 * 1024
    pad = "x" * 700_000
    conveyed = env.onboarding(configuration={"hostname": "device", "pad": pad})
    signed = env.signed(conveyed)
    assert 900_000 < len(signed.conveyed_information) < limit
    server = env.server(Response(signed=signed))
    device = env.device(
        [server],
        extra=_extra(
            limits={
                "conveyed-information": limit,
                "owner-certificate": 4096,
                "ownership-voucher": 4096,
            }
        ),
    )
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    assert json.loads(device.config_file.read_text())["pad"] == pad


# ---------------------------------------------------------------------------------------------
# RESTCONF root discovery (R-083, D9) and XML


def test_host_meta_names_the_restconf_root(env: Env) -> None:
    """R-083, R-084, R-094, D9: the root advertised by host-meta prefixes both RPCs."""
    server = env.server(
        Response(signed=env.signed(env.onboarding())),
        host_meta="/top/restconf",
        restconf_root="/top/restconf",
    )
    device = env.device([server], extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    log = server.log
    assert (log[0]["event"], log[0]["method"], log[0]["path"]) == (
        "host-meta",
        "GET",
        "/.well-known/host-meta",
    )
    assert log[0]["status"] == 200
    assert "application/xrd+xml" in (log[0]["accept"] or "")
    rpcs = [r for r in log if r["event"] != "host-meta"]
    assert rpcs  # the device went on to the RPCs
    assert {r["event"] for r in log} <= {"host-meta", "get-bootstrapping-data", "report-progress"}
    assert all(r["method"] == "POST" for r in rpcs)
    assert all(r["path"].startswith("/top/restconf/operations/") for r in rpcs)
    assert rpcs[0]["path"] == (
        "/top/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"
    )
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_host_meta_missing_falls_back_to_restconf(env: Env) -> None:
    """R-083, D9: host-meta answers 404 → the device uses /restconf."""
    server = env.server(Response(signed=env.signed(env.onboarding())), host_meta=None)
    device = env.device([server], extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    log = server.log
    assert (log[0]["event"], log[0]["status"]) == ("host-meta", 404)
    rpcs = [r for r in log if r["event"] != "host-meta"]
    assert next(r["event"] for r in rpcs) == "get-bootstrapping-data"
    assert all(r["path"].startswith("/restconf/operations/") for r in rpcs)
    assert not [r for r in log if r["event"] == "other"]
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_xml_reply_with_signed_xml_conveyed_information(env: Env) -> None:
    """R-084, R-085, D15: the server answers application/yang-data+xml, the conveyed
    information is signed XML (id-ct-sztpConveyedInfoXML); the device bootstraps from it."""
    conveyed = onboarding_xml(
        configuration_handling="merge",
        configuration=json.dumps({"hostname": "xml-device"}).encode(),
        pre_script=script("exit 0", env.log),
        post_script=script("exit 0", env.log),
    )
    server = env.server(Response(signed=env.signed(conveyed, encoding="xml")))
    device = env.device([server], extra=_extra(network={"encoding": "xml"}))
    result = _run(device)
    assert result.returncode == 0, _why(result)
    [request] = _gbd(server)
    assert request["accept"] == XML and request["content_type"] == XML  # D29
    assert request["answer"] == "signed"
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    assert json.loads(device.config_file.read_text()) == {"hostname": "xml-device"}
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]


# ---------------------------------------------------------------------------------------------
# clock modes and server certificates (D10, R-115, R-017, RFC 6125)


def test_expired_server_certificate_refused_under_trusted_clock(env: Env) -> None:
    """D10, R-115: under a trusted clock a server certificate that expired yesterday fails
    the TLS handshake: no data (exit 69), nothing changed, last-error TLSError."""
    now = utcnow()
    expired = _server_identity(
        env,
        ip_addresses=["127.0.0.1"],
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    server = env.server(Response(signed=env.signed(env.onboarding())), identity=expired)
    device = env.device([server], clock="trusted", extra=_extra())
    before = device.changed_files()
    result = _run(device)
    assert result.returncode == 69, _why(result)
    assert _gbd(server) == []
    assert server.requests("report-progress") == []
    assert _wait_for(server, "tls-handshake-failed")
    status = device.status()
    assert status["state"] == "no-data"
    assert status["last-error"]["type"] == "ServerCertificateError"
    assert [(a["trust"], a["outcome"]) for a in status["attempts"]] == [("trusted", "error")]
    assert status["attempts"][0]["error"]["type"] == "ServerCertificateError"
    assert "expired" in status["last-error"]["message"]
    _assert_untouched(env, device, before)


def test_expired_server_certificate_accepted_under_untrusted_clock(env: Env) -> None:
    """D10, R-115: under an untrusted clock no validity period is enforced, the server's TLS
    certificate included: the same expired certificate is accepted."""
    now = utcnow()
    expired = _server_identity(
        env,
        ip_addresses=["127.0.0.1"],
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    server = env.server(Response(signed=env.signed(env.onboarding())), identity=expired)
    device = env.device([server], clock="untrusted", extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    assert [a["trust"] for a in _attempts(device)] == ["trusted"]


@pytest.mark.parametrize("clock", ["trusted", "untrusted"])
def test_server_certificate_for_another_name_refused(env: Env, clock: str) -> None:
    """R-005, R-017, R-059 (RFC 6125), D10: a certificate naming only other.example does not
    authenticate 127.0.0.1, whatever the clock mode."""
    wrong = _server_identity(env, dns_names=["other.example"])
    server = env.server(Response(signed=env.signed(env.onboarding())), identity=wrong)
    device = env.device([server], clock=clock, extra=_extra())
    before = device.changed_files()
    result = _run(device)
    assert result.returncode == 69, _why(result)
    assert _gbd(server) == []
    status = device.status()
    assert status["last-error"]["type"] == "ServerCertificateError"
    assert "mismatch" in status["last-error"]["message"]
    assert [a["outcome"] for a in status["attempts"]] == ["error"]
    _assert_untouched(env, device, before)


# ---------------------------------------------------------------------------------------------
# what trusted and untrusted servers receive (D18)


def test_provisional_server_gets_no_credentials_and_no_reports(env: Env) -> None:
    """R-086, R-092, R-066, D18: without bootstrap-server trust anchors the server is contacted
    provisionally: only signed-data-preferred and a nonce, no Authorization although the device
    has a password, no progress reports; signed data is still applied."""
    password = env.root / "password"
    password.write_text("pw\n")
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device(
        [server], trusted=False, extra=_extra(identity={"password-file": str(password)})
    )
    result = _run(device)
    assert result.returncode == 0, _why(result)
    [request] = _gbd(server)
    assert request["authorization"] is None and request["username"] is None
    assert request["input"]["signed-data-preferred"] is True
    assert request["input"]["hw-model"] is None
    assert request["input"]["os-name"] is None
    assert request["input"]["os-version"] is None
    assert 16 <= len(base64.b64decode(request["input"]["nonce"])) <= 32
    assert request["client_serial"] == SERIAL  # the certificate is still presented
    assert server.requests("report-progress") == []
    assert all(r["authorization"] is None for r in server.log)
    assert {r["event"] for r in server.log} <= {"host-meta", "get-bootstrapping-data"}
    assert [a["trust"] for a in _attempts(device)] == ["provisional"]
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]


def test_trusted_server_gets_basic_credentials(env: Env) -> None:
    """R-003, R-018: the same device with trust anchors sends HTTP Basic to the trusted server
    that requires it; the username is the serial number, as in its certificate."""
    password = env.root / "password"
    password.write_text("pw\n")
    server = env.server(Response(signed=env.signed(env.onboarding())), basic_auth={SERIAL: "pw"})
    device = _device(
        env, "trusted-device", [server], extra=_extra(identity={"password-file": str(password)})
    )
    result = _run(device)
    assert result.returncode == 0, _why(result)
    [request] = _gbd(server)
    assert request["status"] == 200
    assert request["authorization"] == "basic"
    assert request["username"] == SERIAL == request["client_serial"]
    assert request["input"]["signed-data-preferred"] is False
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    assert all(r["authorization"] == "basic" for r in server.requests("report-progress"))
    assert [a["trust"] for a in _attempts(device)] == ["trusted"]


# ---------------------------------------------------------------------------------------------
# redirects (R-021, R-022, R-026, R-057..R-062, D16)


def test_signed_redirect_from_untrusted_server_makes_next_server_trusted(env: Env) -> None:
    """R-021, R-059, R-062: a signed redirect is trusted even from a provisional server; its
    trust anchor authenticates the next server, which is then trusted (reports, full input)."""
    onboarding = env.server(Response(signed=env.signed(env.onboarding())))
    redirect = env.server(Response(signed=env.signed(env.redirect_to(onboarding))))
    device = env.device([redirect], trusted=False, extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)

    [first] = _gbd(redirect)
    assert first["input"]["signed-data-preferred"] is True and first["answer"] == "signed"
    assert redirect.requests("report-progress") == []
    [second] = _gbd(onboarding)
    assert second["input"]["signed-data-preferred"] is False
    assert second["input"]["os-name"] == "factory"
    assert onboarding.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    attempts = _attempts(device)
    assert [(a["server"], a["trust"], a["hop"]) for a in attempts] == [
        (redirect.url, "provisional", 0),
        (onboarding.url, "trusted", 1),
    ]


def test_signed_redirect_anchor_that_does_not_match_refuses_next_server(env: Env) -> None:
    """R-059: the next server must authenticate to the redirect's trust anchor; a server whose
    certificate does not chain to it is refused (TLS) and nothing is applied."""
    onboarding = env.server(Response(signed=env.signed(env.onboarding())))
    wrong_anchor = trust_anchor_bag(env.lab.pki.owner_intermediate)
    redirect = env.server(
        Response(signed=env.signed(redirect_json([("127.0.0.1", onboarding.port, wrong_anchor)])))
    )
    device = env.device([redirect], trusted=False, extra=_extra())
    before = device.changed_files()
    result = _run(device)
    assert result.returncode == 69, _why(result)
    assert _gbd(onboarding) == []
    attempts = _attempts(device)
    assert [(a["trust"], a["hop"]) for a in attempts] == [("provisional", 0), ("trusted", 1)]
    assert attempts[1]["error"]["type"] == "ServerCertificateError"
    assert device.status()["last-error"]["type"] == "ServerCertificateError"
    _assert_untouched(env, device, before)


def test_unsigned_redirect_from_untrusted_server_discards_its_anchor(env: Env) -> None:
    """R-026, R-061, R-086: an unsigned redirect from a provisional server is untrusted: its
    trust anchor is discarded and the next server is contacted provisionally."""
    onboarding = env.server(Response(signed=env.signed(env.onboarding())))
    redirect = env.server(Response(unsigned=env.unsigned(env.redirect_to(onboarding))))
    device = env.device([redirect], trusted=False, extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    [second] = _gbd(onboarding)
    assert second["input"]["signed-data-preferred"] is True
    assert second["input"]["os-name"] is None
    assert second["authorization"] is None
    assert onboarding.requests("report-progress") == []
    assert [(a["trust"], a["hop"]) for a in _attempts(device)] == [
        ("provisional", 0),
        ("provisional", 1),
    ]


def test_unsigned_redirect_anchor_cannot_vouch_for_unsigned_onboarding(env: Env) -> None:
    """R-026, R-023, R-061: behind an untrusted unsigned redirect (anchor discarded) a server
    that has only unsigned onboarding information is not believed: nothing is applied."""
    onboarding = env.server(Response(unsigned=env.unsigned(env.onboarding())))
    redirect = env.server(Response(unsigned=env.unsigned(env.redirect_to(onboarding))))
    device = env.device([redirect], trusted=False, extra=_extra())
    before = device.changed_files()
    result = _run(device)
    assert result.returncode == 65, _why(result)
    [second] = _gbd(onboarding)
    assert second["input"]["signed-data-preferred"] is True
    assert second["answer"] == "unsigned"
    assert onboarding.requests("report-progress") == []
    attempts = _attempts(device)
    assert [a["trust"] for a in attempts] == ["provisional", "provisional"]
    assert attempts[1]["outcome"] == "failed"
    assert attempts[1]["error"]["type"] == "SourceTrustError"
    _assert_untouched(env, device, before)


def test_redirect_loop_stops_at_max_redirects(env: Env) -> None:
    """R-022, D16: a server redirecting to itself is followed discovery.max-redirects times
    (here 2), then the device stops: max+1 get-bootstrapping-data requests, exit non-zero."""
    loop = env.server(None)
    loop.config.default = Response(unsigned=env.unsigned(env.redirect_to(loop)))
    device = env.device([loop], extra=_extra(discovery={"max-redirects": 2}))
    before = device.changed_files()
    started = time.monotonic()
    result = _run(device)
    assert time.monotonic() - started < 30
    assert result.returncode not in (0, 69), _why(result)
    assert result.returncode == 65, _why(result)
    assert len(_gbd(loop)) == 3
    status = device.status()
    assert status["state"] == "failed"
    assert [a["hop"] for a in status["attempts"]] == [0, 1, 2]
    assert "redirect limit" in status["last-error"]["message"]
    assert loop.requests("report-progress") == []  # redirects are not reported
    _assert_untouched(env, device, before)


def test_max_redirects_above_ten_is_a_configuration_error(env: Env) -> None:
    """R-022, D16: the limit is never above 10 (exit 78, no traffic)."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([server], extra=_extra(discovery={"max-redirects": 11}))
    result = _run(device)
    assert result.returncode == 78, _why(result)
    assert "max-redirects" in result.stderr
    assert server.log == []


def test_redirect_dead_address_then_live_server(env: Env) -> None:
    """R-057: the servers a redirect lists are tried in order: a closed port first (connection
    refused), then the live server, which is used.  The list is keyed by address, so the dead
    entry is another loopback address (127.0.0.2)."""
    live = env.server(Response(signed=env.signed(env.onboarding())))
    dead = _closed_port("127.0.0.2")
    bag = trust_anchor_bag(env.lab.server_ca)
    redirect = env.server(
        Response(
            unsigned=env.unsigned(
                redirect_json([("127.0.0.2", dead, bag), ("127.0.0.1", live.port, bag)])
            )
        )
    )
    device = env.device([redirect], extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    attempts = _attempts(device)
    assert [(a["server"], a["hop"], a["outcome"]) for a in attempts] == [
        (redirect.url, 0, "bootstrap-complete"),
        (f"https://127.0.0.2:{dead}", 1, "error"),
        (live.url, 1, "bootstrap-complete"),
    ]
    assert attempts[1]["error"]["type"] == "ConnectError"
    assert live.reports() == ["bootstrap-initiated", "bootstrap-complete"]
    assert redirect.reports() == []


def test_well_known_dead_address_then_live_server(env: Env) -> None:
    """R-004, R-057, D8: the well-known servers too are tried in order past one that is down."""
    live = env.server(Response(signed=env.signed(env.onboarding())))
    dead = f"https://127.0.0.1:{_closed_port()}"
    device = env.device([dead, live], extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    attempts = _attempts(device)
    assert [(a["server"], a["outcome"]) for a in attempts] == [
        (dead, "error"),
        (live.url, "bootstrap-complete"),
    ]
    assert attempts[0]["error"]["type"] == "ConnectError"


# ---------------------------------------------------------------------------------------------
# artifacts made by openssl (an independent CMS producer)


def test_openssl_signed_onboarding_voucher_and_owner_certificate(env: Env) -> None:
    """R-021, R-028, R-029, R-032, R-035, R-038: signed conveyed information, owner-certificate
    bag and voucher all made by the openssl command line, served by the lab: the device
    bootstraps, from a provisional server and from a trusted one."""
    conveyed = env.onboarding(configuration={"hostname": "openssl"})
    server = env.server(Response(signed=_openssl_set(env, conveyed)))
    device = env.device([server], trusted=False, extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert [r["answer"] for r in _gbd(server)] == ["signed"]
    assert json.loads(device.config_file.read_text()) == {"hostname": "openssl"}
    assert env.scripts_ran() == ["pre-configuration", "post-configuration"]

    trusted_server = env.server(Response(signed=_openssl_set(env, env.onboarding())))
    second = _device(env, "trusted-device", [trusted_server], extra=_extra())
    result = _run(second)
    assert result.returncode == 0, _why(result)
    assert trusted_server.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_openssl_signed_redirect_is_followed(env: Env) -> None:
    """R-021, R-059: a redirect signed by openssl, from a provisional server, is trusted and
    its trust anchor authenticates the next server."""
    onboarding = env.server(Response(signed=env.signed(env.onboarding())))
    redirect = env.server(Response(signed=_openssl_set(env, env.redirect_to(onboarding))))
    device = env.device([redirect], trusted=False, extra=_extra())
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert [(a["trust"], a["hop"]) for a in _attempts(device)] == [
        ("provisional", 0),
        ("trusted", 1),
    ]
    assert onboarding.reports() == ["bootstrap-initiated", "bootstrap-complete"]


def test_openssl_voucher_for_another_serial_is_refused(env: Env) -> None:
    """R-032, R-039, R-040, R-068: an openssl-signed voucher for another device: parsing-error
    is reported to the trusted server and nothing is applied."""
    conveyed = env.onboarding()
    server = env.server(
        Response(signed=_openssl_set(env, conveyed, serial_number="SZTP-OTHER-0002"))
    )
    device = env.device([server], extra=_extra())
    before = device.changed_files()
    result = _run(device)
    assert result.returncode == 65, _why(result)
    assert server.reports() == ["bootstrap-initiated", "parsing-error"]
    [report] = [
        r for r in server.requests("report-progress") if r["progress-type"] != "bootstrap-initiated"
    ]
    assert "serial" in (report["message"] or "").lower()
    status = device.status()
    assert status["state"] == "failed"
    assert status["attempts"][0]["outcome"] == "failed"
    assert status["last-error"]["type"] == "TrustError"
    _assert_untouched(env, device, before)


# ---------------------------------------------------------------------------------------------
# every address of a host name


#: a host name the lab server's certificate names, resolved by the client from a private hosts
#: file to one IPv6 and three IPv4 loopback addresses
NAME = "localhost"
NAME_ADDRESSES = ("::1", "127.0.0.1", "127.0.0.2", "127.0.0.4")
#: runs the rest of the command line in a private mount namespace with the hosts file ($0)
#: bound over /etc/hosts; the host's own /etc/hosts is never touched
_HOSTS_WRAPPER = ("unshare", "--mount", "--propagation", "private", "sh", "-c")
_BIND_HOSTS = 'mount --bind "$0" /etc/hosts && exec "$@"'


def _private_hosts(env: Env) -> tuple[str, ...]:
    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "root and unshare(1), to give the client a private /etc/hosts",
    )
    hosts = env.root / "hosts"
    hosts.write_text("".join(f"{address} {NAME}\n" for address in NAME_ADDRESSES))
    return (*_HOSTS_WRAPPER, _BIND_HOSTS, str(hosts))


def _resolved_order(wrapper: Sequence[str]) -> list[str]:
    """The order getaddrinfo gives the client's process (RFC 6724 sorting applies)."""
    probe = (
        "import socket\n"
        f"for info in socket.getaddrinfo({NAME!r}, 443, type=socket.SOCK_STREAM):\n"
        "    print(info[4][0])\n"
    )
    result = subprocess.run(
        [*wrapper, sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    order: list[str] = []
    for address in result.stdout.split():
        if address not in order:
            order.append(address)
    return order


def _refusing(address: str, port: int) -> socket.socket:
    """A socket bound to ``address``:``port`` that never listens: connections are refused, and
    no other process can take the port meanwhile."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((address, port))
    return sock


def _server_with_refusing_peers(
    env: Env, default: Response, order: Sequence[str], live_at: int
) -> tuple[LabBootstrapServer, list[socket.socket]]:
    """A lab server on ``order[live_at]`` and refusing sockets on every other address, all on the
    same port. The server's port is free on its own address only; another test running in
    parallel may hold it on one of the others, so a clash picks a new port."""
    for _ in range(20):
        server = _bootstrap_server(env, default, host=order[live_at])
        refusing: list[socket.socket] = []
        try:
            for i, address in enumerate(order):
                if i != live_at:
                    refusing.append(_refusing(address, server.port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            for sock in refusing:
                sock.close()
            server.stop()
            env.servers.remove(server)
            continue
        return server, refusing
    raise AssertionError("no port free on every address of the host name after 20 tries")


@pytest.mark.parametrize("live", ["last", "first", "middle"])
def test_every_address_of_a_host_name_until_one_answers(env: Env, live: str) -> None:
    """R-058: a redirect to a host name with four addresses (IPv6 and IPv4): they are tried in
    the resolver's order, each refused one is recorded as a connection error, the first that
    answers is used and the ones after it are never contacted."""
    wrapper = _private_hosts(env)
    order = _resolved_order(wrapper)
    assert sorted(order) == sorted(NAME_ADDRESSES), order
    live_at = {"first": 0, "middle": 2, "last": len(order) - 1}[live]
    server, refusing = _server_with_refusing_peers(
        env, Response(signed=env.signed(env.onboarding())), order, live_at
    )
    try:
        redirect = env.server(Response(unsigned=env.unsigned(env.redirect_to(server, host=NAME))))
        device = env.device([redirect], extra=_extra())
        result = device.run("run", "--once", timeout=RUN_TIMEOUT, wrapper=wrapper)
    finally:
        for sock in refusing:
            sock.close()
    assert result.returncode == 0, _why(result)

    hop = [a for a in _attempts(device) if a["hop"] == 1]
    assert [a["address"] for a in hop] == order[: live_at + 1]
    assert all(a["server"] == f"https://{NAME}:{server.port}" for a in hop)
    assert all(a["trust"] == "trusted" for a in hop)
    assert [a["outcome"] for a in hop] == ["error"] * live_at + ["bootstrap-complete"]
    assert all(a["error"]["type"] == "ConnectError" for a in hop[:-1])
    assert len(_gbd(server)) == 1
    assert server.reports() == ["bootstrap-initiated", "bootstrap-complete"]
