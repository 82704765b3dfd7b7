"""End-to-end: what deployed bootstrap servers expect on the wire (D29, R-084, R-085).

The real ``sztp-client`` process against strict lab servers on loopback: one media type in
``Accept`` and exactly the RESTCONF ``Content-Type`` on every request, JSON by default and XML
when ``network.encoding = "xml"``; and the failures an operator must tell apart, each with its
own error type and diagnosis in the status document: a media-type mismatch (406/415), a TLS
alert from the server, a server certificate that does not validate, and a connection dropped
right after the handshake.  Loopback only (D26).
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from sztp_client.errors import (
    ConnectionDroppedError,
    MediaTypeError,
    ServerCertificateError,
    TLSAlertError,
)
from sztp_client.identity.base import FileIdentity
from sztp_client.model.rpc import GetBootstrappingDataInput
from sztp_client.model.server_uri import parse_server_uri
from sztp_client.state.status import describe_error
from sztp_client.transport.restconf import RestconfClient
from sztp_client.trust.clock import Clock
from sztp_client.trust.hops import ServerTrust
from sztp_lab.pki import make_root_ca
from sztp_lab.scenario import Device, make_device
from sztp_lab.server import LabBootstrapServer, Response
from tests.e2e.conftest import SERIAL, Env

pytestmark = pytest.mark.integration

JSON = "application/yang-data+json"
XML = "application/yang-data+xml"
NET: dict[str, Any] = {"connect-timeout": 2, "read-timeout": 3}
RUN_TIMEOUT = 60


def _run(device: Device) -> Any:
    return device.run("run", "--once", timeout=RUN_TIMEOUT)


def _why(result: Any) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _rpc_records(server: LabBootstrapServer) -> list[dict[str, Any]]:
    return [
        r for r in server.log if r.get("event") in {"get-bootstrapping-data", "report-progress"}
    ]


def _journey(env: Env, encoding: str) -> tuple[LabBootstrapServer, Device]:
    """A device bootstrapped to bootstrap-complete with verbose reporting and an image."""
    image = env.image()
    files = env.files(image)
    conveyed = env.onboarding(image=image, uris=[files.url_for(image.name)])
    server = env.server(Response(signed=env.signed(conveyed), reporting_level="verbose"))
    device = env.device([server], extra={"network": {**NET, "encoding": encoding}})
    first = _run(device)
    assert first.returncode == 0, _why(first)
    second = _run(device)
    assert second.returncode == 0, _why(second)
    assert device.status()["bootstrapped"] is True
    return server, device


@pytest.mark.parametrize(("encoding", "media_type"), [("json", JSON), ("xml", XML)])
def test_every_request_carries_one_media_type(env: Env, encoding: str, media_type: str) -> None:
    """D29, R-084, R-085: against a strict server, each get-bootstrapping-data and
    report-progress has Accept and Content-Type exactly the configured media type, the body
    in that encoding, and the device reaches bootstrap-complete."""
    server, _ = _journey(env, encoding)
    records = _rpc_records(server)
    assert records and all(r["status"] in (200, 204) for r in records)
    assert {(r["accept"], r["content_type"]) for r in records} == {(media_type, media_type)}
    first_byte = "<" if encoding == "xml" else "{"
    assert all(r["body"].lstrip().startswith(first_byte) for r in records)
    assert server.reports()[-1] == "bootstrap-complete"
    complete = server.requests("report-progress")[-1]
    assert complete["ssh-host-keys"] and complete["trust-anchor-certs"] == 1
    assert len(server.reports()) > 10  # verbose: every step reported, in this encoding
    # host-meta keeps its own media type
    assert {r["accept"] for r in server.requests("host-meta")} == {"application/xrd+xml"}


def test_server_that_speaks_only_json_answers_406_and_the_next_server_is_tried(
    env: Env,
) -> None:
    """D29: a server that serves JSON only answers an XML client 406; the device records a
    MediaTypeError (not retryable against that server, with its diagnosis) and goes on to the
    next server of the pass, which serves XML."""
    signed = env.signed(env.onboarding())
    json_only = env.server(Response(signed=signed), media_types=(JSON,))
    both = env.server(Response(signed=signed))
    device = env.device([json_only, both], extra={"network": {**NET, "encoding": "xml"}})
    result = _run(device)
    assert result.returncode == 0, _why(result)
    [refused] = json_only.requests("get-bootstrapping-data")
    assert refused["status"] == 406 and refused["accept"] == XML
    attempts = device.status()["attempts"]
    assert attempts[0]["outcome"] == "error"
    error = attempts[0]["error"]
    assert error["type"] == "MediaTypeError"
    assert error["retryable"] is False
    assert error["diagnosis"] == MediaTypeError.diagnosis
    assert "406" in error["message"]
    assert both.reports()[-1] == "bootstrap-complete"


def test_two_media_types_in_accept_get_406_and_the_media_type_diagnosis(env: Env) -> None:
    """D29: the old client's Accept (two types with a q-value) gets 406 from a strict server;
    the client's error is a MediaTypeError whose diagnosis names the mismatch."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    lab = env.lab
    identity_dir = env.root / "identity"
    identity_dir.mkdir()
    cert = identity_dir / "idevid.pem"
    key = identity_dir / "idevid.key"
    cert.write_bytes(lab.idevid.pem_chain())
    key.write_bytes(lab.idevid.key_pem())
    client = RestconfClient(
        parse_server_uri(server.url),
        "127.0.0.1",
        trust=ServerTrust(True, (lab.server_root.cert,)),
        clock=Clock(trusted=False),
        identity=FileIdentity(cert, key),
    )
    pool_urlopen = client._pool.urlopen

    def two_types(*args: Any, **kwargs: Any) -> Any:
        kwargs["headers"] = {**kwargs["headers"], "Accept": f"{JSON}, {XML};q=0.9"}
        return pool_urlopen(*args, **kwargs)

    client._pool.urlopen = two_types  # type: ignore[method-assign]
    with client, pytest.raises(MediaTypeError) as caught:
        client.get_bootstrapping_data(GetBootstrappingDataInput(os_name="LabOS"))
    assert caught.value.status == 406
    [record] = server.requests("get-bootstrapping-data")
    assert record["status"] == 406 and record["accept"] == f"{JSON}, {XML};q=0.9"
    described = describe_error(caught.value)
    assert described["type"] == "MediaTypeError"
    assert described["retryable"] is False
    assert described["diagnosis"] == MediaTypeError.diagnosis


def _stranger_ca_server(env: Env, **config: Any) -> LabBootstrapServer:
    """A server whose client_ca holds another manufacturer's root, not the device's CA."""
    stranger = make_root_ca("Other Manufacturer Root")
    return env.server(
        Response(signed=env.signed(env.onboarding())), client_ca=[stranger.cert], **config
    )


def test_strict_server_drops_a_device_of_an_unknown_ca(env: Env) -> None:
    """D29: a strict server completes the handshake with an IDevID of a CA it does not know,
    then closes the connection with no alert and no answer; the device says the server may
    have refused its certificate (ConnectionDroppedError) and goes on to the next server."""
    dropping = _stranger_ca_server(env)
    good = env.server(Response(signed=env.signed(env.onboarding())))
    device = env.device([dropping, good], extra={"network": NET})
    result = _run(device)
    assert result.returncode == 0, _why(result)
    assert dropping.requests("get-bootstrapping-data") == []
    [dropped] = dropping.requests("client-certificate-dropped")
    assert dropped["client_serial"] == SERIAL  # the last RDN of the IDevID's subject
    error = device.status()["attempts"][0]["error"]
    assert error["type"] == "ConnectionDroppedError"
    assert error["diagnosis"] == ConnectionDroppedError.diagnosis
    assert "right after the TLS handshake" in error["message"]
    assert good.reports()[-1] == "bootstrap-complete"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_lenient_server_sends_an_alert_for_a_device_of_an_unknown_ca(
    env: Env, version: ssl.TLSVersion
) -> None:
    """D29: a (lenient) server that refuses the IDevID in the handshake sends an alert (with
    TLS 1.3 after the client's side of the handshake is done); the device says the server
    refused its certificate (TLSAlertError) and no data is found (exit 69)."""
    server = _stranger_ca_server(env, strict=False, tls_maximum_version=version)
    device = env.device([server], extra={"network": NET})
    result = _run(device)
    assert result.returncode == 69, _why(result)
    assert server.requests("tls-handshake-failed")
    status = device.status()
    error = status["attempts"][0]["error"]
    assert error["type"] == "TLSAlertError", error
    assert error["diagnosis"] == TLSAlertError.diagnosis
    assert "alert" in error["message"]
    assert status["last-error"]["type"] == "TLSAlertError"


def test_server_certificate_that_does_not_validate(env: Env) -> None:
    """D29: a server certificate that does not validate to the trust anchors is its own
    diagnosis (ServerCertificateError), distinct from the device-certificate cases."""
    server = env.server(Response(signed=env.signed(env.onboarding())))
    other_root = make_root_ca("Unrelated Server Root")
    device = make_device(
        env.root / "device",
        env.lab.pki,
        SERIAL,
        idevid=env.lab.idevid,
        servers=[server.url],
        server_trust_anchors=[other_root.cert],
        extra={"network": NET},
    )
    result = _run(device)
    assert result.returncode == 69, _why(result)
    error = device.status()["attempts"][0]["error"]
    assert error["type"] == "ServerCertificateError"
    assert error["diagnosis"] == ServerCertificateError.diagnosis
    assert server.requests("get-bootstrapping-data") == []
