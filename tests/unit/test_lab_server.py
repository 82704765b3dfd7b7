"""The lab's bootstrap server and file server, driven over loopback with http.client + ssl.

These test the test tooling (sztp_lab.server, sztp_lab.lab, sztp-lab), not the client: the
servers must speak RFC 8572 §7 / RFC 8040 as the client's tests assume, log what devices sent,
and always shut down without leaving threads behind.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from sztp_client.model.conveyed import OnboardingInformation
from sztp_client.model.rpc import (
    JSON_MEDIA_TYPE,
    XML_MEDIA_TYPE,
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportProgressInput,
    SSHHostKey,
    parse_get_bootstrapping_data_output,
)
from sztp_client.trust.sources import SourceKind
from sztp_lab import cms
from sztp_lab.artifacts import SignedSet, make_signed_set, redirect_json, trust_anchor_bag
from sztp_lab.cli import main as lab_main
from sztp_lab.lab import create_lab, load_lab
from sztp_lab.pki import (
    Issued,
    LabPKI,
    make_end_entity,
    make_intermediate_ca,
    make_lab_pki,
    make_root_ca,
)
from sztp_lab.server import (
    MAX_REQUEST_BODY,
    LabBootstrapServer,
    LabFileServer,
    Response,
    ServerConfig,
)
from tests.helpers.lab_serve import HANG, LabServe
from tests.support import ONBOARDING, SERIAL, verify

# every test here runs the lab servers on loopback (the unit guard allows it when marked)
pytestmark = [pytest.mark.integration, pytest.mark.network]

ROOT = "/restconf"
GBD = f"{ROOT}/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"
REPORT = f"{ROOT}/operations/ietf-sztp-bootstrap-server:report-progress"
OTHER_SERIAL = "SN-LAB-0002"
NONCE = bytes(range(1, 33))
REDIRECT = redirect_json([("127.0.0.1", 8443, None)])

S = TypeVar("S", LabBootstrapServer, LabFileServer)


# ---------------------------------------------------------------------------------------------
# Fixtures and a small HTTPS client


@dataclass(frozen=True)
class Lab:
    pki: LabPKI
    server_root: Issued
    identity: Issued
    device: Issued
    files: Path

    def pem_files(self, name: str, pem: bytes, key: bytes) -> tuple[Path, Path]:
        cert_file, key_file = self.files / f"{name}.pem", self.files / f"{name}.key"
        cert_file.write_bytes(pem)
        key_file.write_bytes(key)
        return cert_file, key_file


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    pki = make_lab_pki()
    server_root = make_root_ca("Lab Bootstrap Server Root")
    server_ca = make_intermediate_ca(server_root, "Lab Bootstrap Server CA")
    identity = make_end_entity(
        server_ca,
        "localhost",
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1", "::1"],
        key_usage={"digital_signature", "key_encipherment"},
    )
    return Lab(pki, server_root, identity, pki.idevid(SERIAL), tmp_path_factory.mktemp("tls"))


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_tag(self) -> str:
        assert self.headers["content-type"] == JSON_MEDIA_TYPE
        error = self.json()["ietf-restconf:errors"]["error"]
        assert len(error) == 1
        assert error[0]["error-type"] == "application"
        return str(error[0]["error-tag"])


def client_context(
    lab: Lab, cert: tuple[Path, Path] | None = None, **versions: ssl.TLSVersion
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=lab.server_root.cert_pem().decode())
    for name, value in versions.items():
        setattr(context, name, value)
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def device_cert(lab: Lab, *, with_chain: bool = True) -> tuple[Path, Path]:
    return lab.pem_files(
        f"device-{with_chain}",
        lab.device.pem_chain(include_cert=True) if with_chain else lab.device.cert_pem(),
        lab.device.key_pem(),
    )


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    context: ssl.SSLContext | None = None,
    connection: http.client.HTTPConnection | None = None,
    timeout: float = 10,
) -> Reply:
    conn = connection
    if conn is None:
        if context is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        if connection is None:
            conn.close()


def gbd_body(
    *, signed_data_preferred: bool = False, nonce: bytes | None = None, **leaves: str
) -> bytes:
    return GetBootstrappingDataInput(
        signed_data_preferred=signed_data_preferred,
        nonce=nonce,
        hw_model=leaves.get("hw_model"),
        os_name=leaves.get("os_name"),
        os_version=leaves.get("os_version"),
    ).to_json()


def eventually(
    read: Callable[[], list[dict[str, Any]]], count: int, timeout: float = 5
) -> list[dict[str, Any]]:
    """``read()`` once it has ``count`` records (a server thread may record after answering)."""
    deadline = time.monotonic() + timeout
    records = read()
    while len(records) < count and time.monotonic() < deadline:
        time.sleep(0.01)
        records = read()
    return records


JSON_HEADERS = {"Content-Type": JSON_MEDIA_TYPE, "Accept": JSON_MEDIA_TYPE}


@pytest.fixture
def started() -> Iterator[Callable[[S], S]]:
    """Start a server for the test; every server started is stopped at teardown."""
    servers: list[LabBootstrapServer | LabFileServer] = []

    def start(server: S) -> S:
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def unsigned() -> bytes:
    return cms.content_info("json", ONBOARDING)


@pytest.fixture(scope="module")
def signed_set(lab: Lab) -> SignedSet:
    return make_signed_set(lab.pki, SERIAL, ONBOARDING)


def anonymous(lab: Lab, **kwargs: Any) -> ServerConfig:
    """A server that asks for no client certificate."""
    return ServerConfig(identity=lab.identity, **kwargs)


# ---------------------------------------------------------------------------------------------
# host-meta and the RESTCONF root


def test_host_meta_advertises_the_restconf_root(lab: Lab, started: Any) -> None:
    server = started(LabBootstrapServer(anonymous(lab)))
    reply = call(server.port, "GET", "/.well-known/host-meta", context=client_context(lab))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/xrd+xml"
    assert reply.body.decode() == (
        "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
        "  <Link rel='restconf' href='/restconf'/>\n"
        "</XRD>\n"
    )
    assert server.requests("host-meta")[0]["status"] == 200


def test_custom_root_is_advertised_and_served(lab: Lab, started: Any, unsigned: bytes) -> None:
    """R-083: the root host-meta names is the one the RPCs live under."""
    config = anonymous(lab, host_meta="/top/restconf", default=Response(unsigned=unsigned))
    server = started(LabBootstrapServer(config))
    context = client_context(lab)
    meta = call(server.port, "GET", "/.well-known/host-meta", context=context)
    assert b"href='/top/restconf'" in meta.body
    assert server.restconf_root == "/top/restconf"
    top = "/top/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"
    assert server.get_bootstrapping_data_url == f"{server.url}{top}"
    assert call(server.port, "POST", top, gbd_body(), JSON_HEADERS, context=context).status == 200
    assert call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=context).status == 404


def test_host_meta_and_served_root_may_differ(lab: Lab, started: Any, unsigned: bytes) -> None:
    config = anonymous(
        lab, host_meta="/advertised", restconf_root="/served", default=Response(unsigned=unsigned)
    )
    server = started(LabBootstrapServer(config))
    context = client_context(lab)
    meta = call(server.port, "GET", "/.well-known/host-meta", context=context)
    assert b"href='/advertised'" in meta.body
    served = GBD.replace(ROOT, "/served")
    assert (
        call(server.port, "POST", served, gbd_body(), JSON_HEADERS, context=context).status == 200
    )


def test_host_meta_absent_is_404(lab: Lab, started: Any, unsigned: bytes) -> None:
    config = anonymous(lab, host_meta=None, default=Response(unsigned=unsigned))
    server = started(LabBootstrapServer(config))
    context = client_context(lab)
    reply = call(server.port, "GET", "/.well-known/host-meta", context=context)
    assert reply.status == 404
    assert reply.error_tag() == "invalid-value"
    # the RPCs stay at /restconf
    assert call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=context).status == 200


# ---------------------------------------------------------------------------------------------
# get-bootstrapping-data


def test_gbd_json_answer(lab: Lab, started: Any, unsigned: bytes) -> None:
    config = anonymous(lab, default=Response(unsigned=unsigned, reporting_level="verbose"))
    server = started(LabBootstrapServer(config))
    reply = call(
        server.port,
        "POST",
        GBD,
        gbd_body(hw_model="model-x", os_name="LabOS", os_version="1.0", nonce=NONCE),
        JSON_HEADERS,
        context=client_context(lab),
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == JSON_MEDIA_TYPE
    output = parse_get_bootstrapping_data_output(reply.body, reply.headers["content-type"])
    assert output == GetBootstrappingDataOutput(unsigned, reporting_level="verbose")
    (record,) = server.requests("get-bootstrapping-data")
    assert record["input"] == {
        "signed-data-preferred": False,
        "hw-model": "model-x",
        "os-name": "LabOS",
        "os-version": "1.0",
        "nonce": base64.b64encode(NONCE).decode(),
    }
    assert record["answer"] == "unsigned"
    assert record["content_type"] == JSON_MEDIA_TYPE
    assert record["accept"] == JSON_MEDIA_TYPE


def test_reporting_level_omitted_when_none(lab: Lab, started: Any, unsigned: bytes) -> None:
    server = started(LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned))))
    reply = call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab))
    assert "reporting-level" not in reply.json()["ietf-sztp-bootstrap-server:output"]


def test_gbd_xml_answer(lab: Lab, started: Any, signed_set: SignedSet) -> None:
    response = Response(signed=signed_set, reporting_level="minimal", media_type=XML_MEDIA_TYPE)
    server = started(LabBootstrapServer(anonymous(lab, default=response)))
    reply = call(
        server.port,
        "POST",
        GBD,
        gbd_body(signed_data_preferred=True),
        JSON_HEADERS,
        context=client_context(lab),
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == XML_MEDIA_TYPE
    assert reply.body.startswith(
        b'<output xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
    )
    output = parse_get_bootstrapping_data_output(reply.body, XML_MEDIA_TYPE)
    assert output.conveyed_information == signed_set.conveyed_information
    assert output.owner_certificate == signed_set.owner_certificate
    assert output.ownership_voucher == signed_set.ownership_voucher
    assert output.reporting_level == "minimal"


def test_gbd_xml_request(lab: Lab, started: Any, unsigned: bytes) -> None:
    """RPC input in XML (R-084) is read like JSON; foreign-namespace elements are ignored."""
    server = started(LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned))))
    body = (
        '<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
        "<signed-data-preferred/><os-name>LabOS</os-name>"
        f"<nonce>{base64.b64encode(NONCE).decode()}</nonce>"
        '<csr-support xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-csr"/>'
        "</input>"
    ).encode()
    reply = call(
        server.port,
        "POST",
        GBD,
        body,
        {"Content-Type": XML_MEDIA_TYPE},
        context=client_context(lab),
    )
    assert reply.status == 200
    record = server.requests("get-bootstrapping-data")[0]
    assert record["input"]["signed-data-preferred"] is True
    assert record["input"]["os-name"] == "LabOS"
    assert record["input"]["nonce"] == base64.b64encode(NONCE).decode()


@pytest.mark.parametrize(
    ("has_unsigned", "has_signed", "preferred", "expected"),
    [
        (True, True, True, "signed"),
        (True, True, False, "unsigned"),
        (True, False, True, "unsigned"),
        (False, True, False, "signed"),
        (False, True, True, "signed"),
        (False, False, True, None),
        (False, False, False, None),
    ],
)
def test_signed_data_preferred_selection(
    lab: Lab,
    started: Any,
    *,
    unsigned: bytes,
    signed_set: SignedSet,
    has_unsigned: bool,
    has_signed: bool,
    preferred: bool,
    expected: str | None,
) -> None:
    response = Response(
        unsigned=unsigned if has_unsigned else None, signed=signed_set if has_signed else None
    )
    server = started(LabBootstrapServer(anonymous(lab, default=response)))
    reply = call(
        server.port,
        "POST",
        GBD,
        gbd_body(signed_data_preferred=preferred),
        JSON_HEADERS,
        context=client_context(lab),
    )
    record = server.requests("get-bootstrapping-data")[0]
    if expected is None:
        assert reply.status == 404
        assert reply.error_tag() == "invalid-value"
        assert record["answer"] == "none"
        return
    assert reply.status == 200
    output = parse_get_bootstrapping_data_output(reply.body)
    if expected == "signed":
        assert output.conveyed_information == signed_set.conveyed_information
        assert output.ownership_voucher == signed_set.ownership_voucher
    else:
        assert output.conveyed_information == unsigned
        assert output.owner_certificate is None
    assert record["answer"] == expected


def test_make_signed_gets_the_nonce(lab: Lab, started: Any, signed_set: SignedSet) -> None:
    calls: list[bytes | None] = []

    def make_signed(nonce: bytes | None) -> SignedSet:
        calls.append(nonce)
        return make_signed_set(lab.pki, SERIAL, ONBOARDING, nonce=nonce)

    other = make_signed_set(lab.pki, OTHER_SERIAL, ONBOARDING)
    response = Response(signed=other, make_signed=make_signed)
    server = started(LabBootstrapServer(anonymous(lab, default=response)))
    context = client_context(lab)
    reply = call(
        server.port,
        "POST",
        GBD,
        gbd_body(signed_data_preferred=True, nonce=NONCE),
        JSON_HEADERS,
        context=context,
    )
    assert calls == [NONCE]
    output = parse_get_bootstrapping_data_output(reply.body)
    assert output.ownership_voucher is not None and output.owner_certificate is not None
    signed = SignedSet(
        output.conveyed_information, output.owner_certificate, output.ownership_voucher
    )
    # the nonce voucher verifies for that nonce (the answer came from make_signed, not signed)
    verify(lab.pki, signed, nonce=NONCE, source=SourceKind.UNTRUSTED_SERVER)

    call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=context)
    assert calls == [NONCE, None]


def test_make_signed_failure_is_500(lab: Lab, started: Any) -> None:
    def broken(nonce: bytes | None) -> SignedSet:
        raise RuntimeError("no voucher today")

    server = started(LabBootstrapServer(anonymous(lab, default=Response(make_signed=broken))))
    reply = call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab))
    assert reply.status == 500
    assert reply.error_tag() == "operation-failed"
    assert "no voucher today" in reply.json()["ietf-restconf:errors"]["error"][0]["error-message"]


def test_error_status_and_document(lab: Lab, started: Any) -> None:
    document = (
        b'{"ietf-restconf:errors":{"error":[{"error-type":"application",'
        b'"error-tag":"operation-failed","error-message":"lab says no"}]}}'
    )
    config = anonymous(
        lab,
        responses={
            "bad": Response(status=503),
            "doc": Response(status=403, error_document=document),
        },
        basic_auth=None,
    )
    server = started(LabBootstrapServer(config))
    context = client_context(lab)

    def as_user(user: str) -> Reply:
        auth = base64.b64encode(f"{user}:x".encode()).decode()
        headers = {**JSON_HEADERS, "Authorization": f"Basic {auth}"}
        return call(server.port, "POST", GBD, gbd_body(), headers, context=context)

    bad = as_user("bad")
    assert bad.status == 503
    assert bad.error_tag() == "operation-failed"
    doc = as_user("doc")
    assert doc.status == 403
    assert doc.body == document
    assert doc.headers["content-type"] == JSON_MEDIA_TYPE
    assert [r["answer"] for r in server.requests("get-bootstrapping-data")] == ["error", "error"]


def test_body_override_is_sent_raw(lab: Lab, started: Any) -> None:
    response = Response(body_override=b"{not json", media_type="text/plain", status=200)
    server = started(LabBootstrapServer(anonymous(lab, default=response)))
    reply = call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab))
    assert (reply.status, reply.body, reply.headers["content-type"]) == (
        200,
        b"{not json",
        "text/plain",
    )
    assert server.requests("get-bootstrapping-data")[0]["answer"] == "override"


def test_delay_holds_the_answer(lab: Lab, started: Any, unsigned: bytes) -> None:
    server = started(
        LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned, delay=5)))
    )
    with pytest.raises(TimeoutError):
        call(
            server.port,
            "POST",
            GBD,
            gbd_body(),
            JSON_HEADERS,
            context=client_context(lab),
            timeout=0.3,
        )
    begun = time.monotonic()
    server.stop()  # does not wait for the delay to run out
    assert time.monotonic() - begun < 3


# ---------------------------------------------------------------------------------------------
# Client authentication and device selection


def test_basic_auth_required(lab: Lab, started: Any, unsigned: bytes) -> None:
    config = anonymous(
        lab,
        basic_auth={"device-7": "s3cret"},
        responses={"device-7": Response(unsigned=unsigned)},
    )
    server = started(LabBootstrapServer(config))
    context = client_context(lab)

    def with_auth(value: str | None) -> Reply:
        headers = dict(JSON_HEADERS)
        if value is not None:
            headers["Authorization"] = value
        return call(server.port, "POST", GBD, gbd_body(), headers, context=context)

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    for denied in (
        with_auth(None),
        with_auth(basic("device-7", "wrong")),
        with_auth(basic("nobody", "s3cret")),
        with_auth("Basic !!!"),
        with_auth("Bearer abc"),
    ):
        assert denied.status == 401
        assert denied.error_tag() == "access-denied"
        assert denied.headers["www-authenticate"].startswith("Basic ")
    ok = with_auth(basic("device-7", "s3cret"))
    assert ok.status == 200
    report = call(
        server.port,
        "POST",
        REPORT,
        ReportProgressInput("bootstrap-initiated").to_json(),
        JSON_HEADERS,
        context=context,
    )
    assert report.status == 401  # report-progress is protected as well
    records = server.requests("get-bootstrapping-data")
    assert [r["authorization"] for r in records] == [
        None,
        "basic",
        "basic",
        "basic",
        "bearer",
        "basic",
    ]
    assert records[-1]["client_serial"] == "device-7"
    assert records[-1]["username"] == "device-7"
    # host-meta needs no credentials
    assert call(server.port, "GET", "/.well-known/host-meta", context=context).status == 200


@pytest.mark.parametrize("strict", [True, False])
def test_client_certificate_required(lab: Lab, started: Any, unsigned: bytes, strict: bool) -> None:
    """Strict mode (D29) completes the handshake with a certificate of another PKI and drops
    the connection; lenient mode refuses it in the handshake."""
    config = ServerConfig(
        identity=lab.identity,
        client_ca=[lab.pki.manufacturer_root.cert],
        default=Response(unsigned=unsigned),
        strict=strict,
    )
    server = started(LabBootstrapServer(config))
    with pytest.raises(OSError):
        call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab))
    # a certificate from another PKI is refused too
    stranger = make_end_entity(make_root_ca("Stranger Root"), "stranger", serial_number="X-1")
    stranger_files = lab.pem_files("stranger", stranger.cert_pem(), stranger.key_pem())
    with pytest.raises(OSError):
        call(
            server.port,
            "POST",
            GBD,
            gbd_body(),
            JSON_HEADERS,
            context=client_context(lab, stranger_files),
        )
    if strict:
        failures = eventually(lambda: server.requests("tls-handshake-failed"), 1)
        dropped = eventually(lambda: server.requests("client-certificate-dropped"), 1)
        assert len(failures) == 1 and len(dropped) == 1
        assert dropped[0]["client_serial"] == "X-1" and dropped[0]["error"]
    else:
        failures = eventually(lambda: server.requests("tls-handshake-failed"), 2)
        assert len(failures) == 2
    assert all(f["client"] == "127.0.0.1" and f["error"] for f in failures)
    assert server.requests("get-bootstrapping-data") == []

    reply = call(
        server.port,
        "POST",
        GBD,
        gbd_body(),
        JSON_HEADERS,
        context=client_context(lab, device_cert(lab)),
    )
    assert reply.status == 200
    assert server.requests("get-bootstrapping-data")[0]["client_serial"] == SERIAL


def test_client_certificate_optional(lab: Lab, started: Any, unsigned: bytes) -> None:
    config = ServerConfig(
        identity=lab.identity,
        client_ca=[lab.pki.manufacturer_root.cert],
        require_client_certificate=False,
        default=Response(unsigned=unsigned),
    )
    server = started(LabBootstrapServer(config))
    anonymous_reply = call(
        server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab)
    )
    assert anonymous_reply.status == 200
    call(
        server.port,
        "POST",
        GBD,
        gbd_body(),
        JSON_HEADERS,
        context=client_context(lab, device_cert(lab)),
    )
    serials = [r["client_serial"] for r in server.requests("get-bootstrapping-data")]
    assert serials == [None, SERIAL]


def test_serial_from_certificate_selects_the_response(
    lab: Lab, started: Any, unsigned: bytes
) -> None:
    """The device's certificate serialNumber picks its Response; others get the default."""
    redirect = cms.content_info("json", REDIRECT)
    other = lab.pki.idevid(OTHER_SERIAL)
    config = ServerConfig(
        identity=lab.identity,
        # a non-root anchor (the IDevID CA) works: VERIFY_X509_PARTIAL_CHAIN
        client_ca=[lab.pki.idevid_ca.cert],
        responses={SERIAL: Response(unsigned=unsigned)},
        default=Response(unsigned=redirect),
    )
    server = started(LabBootstrapServer(config))
    mine = call(
        server.port,
        "POST",
        GBD,
        gbd_body(),
        JSON_HEADERS,
        context=client_context(lab, device_cert(lab, with_chain=False)),
    )
    other_files = lab.pem_files("other", other.pem_chain(), other.key_pem())
    theirs = call(
        server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab, other_files)
    )
    assert parse_get_bootstrapping_data_output(mine.body).conveyed_information == unsigned
    assert parse_get_bootstrapping_data_output(theirs.body).conveyed_information == redirect
    records = server.requests("get-bootstrapping-data")
    assert [r["client_serial"] for r in records] == [SERIAL, OTHER_SERIAL]
    assert [r["client_chain_len"] for r in records] == [1, 2]


def _certificate_with_subject(lab: Lab, attributes: list[x509.NameAttribute]) -> tuple[Path, Path]:
    """A client certificate under the IDevID CA whose subject has ``attributes`` in order."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    issuer = lab.pki.idevid_ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(issuer.key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives import serialization

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + issuer.pem_chain()
    return lab.pem_files("ordered-subject", chain, key_pem)


@pytest.mark.parametrize(("strict", "expected"), [(True, "last-rdn"), (False, "SN-FIRST")])
def test_strict_serial_is_the_last_rdn(
    lab: Lab, started: Any, unsigned: bytes, strict: bool, expected: str
) -> None:
    """D29: a strict server takes the serial number from the subject's LAST RDN, as deployed
    servers do; a lenient one reads the serialNumber attribute wherever it is."""
    files = _certificate_with_subject(
        lab,
        [
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "SN-FIRST"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SZTP Lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, "last-rdn"),
        ],
    )
    config = ServerConfig(
        identity=lab.identity,
        client_ca=[lab.pki.idevid_ca.cert],
        default=Response(unsigned=unsigned),
        strict=strict,
    )
    server = started(LabBootstrapServer(config))
    reply = call(
        server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab, files)
    )
    assert reply.status == 200
    assert server.requests("get-bootstrapping-data")[0]["client_serial"] == expected


def test_unknown_device_without_default_is_404(lab: Lab, started: Any, unsigned: bytes) -> None:
    config = anonymous(lab, responses={SERIAL: Response(unsigned=unsigned)})
    server = started(LabBootstrapServer(config))
    reply = call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=client_context(lab))
    assert reply.status == 404
    assert reply.error_tag() == "invalid-value"


def test_config_changes_apply_to_the_next_request(lab: Lab, started: Any, unsigned: bytes) -> None:
    server = started(LabBootstrapServer(anonymous(lab)))
    context = client_context(lab)
    assert call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=context).status == 404
    server.config.default = Response(unsigned=unsigned)
    assert call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, context=context).status == 200


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
def test_tls_versions(lab: Lab, started: Any, unsigned: bytes, version: ssl.TLSVersion) -> None:
    """R-095: TLS 1.2 and 1.3 are served; the server's chain lets a root-only client verify."""
    server = started(LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned))))
    context = client_context(lab, minimum_version=version, maximum_version=version)
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    try:
        reply = call(server.port, "POST", GBD, gbd_body(), JSON_HEADERS, connection=connection)
        assert reply.status == 200
        sock = connection.sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
    finally:
        connection.close()


def test_tls_1_3_only_server_refuses_tls_1_2(lab: Lab, started: Any) -> None:
    config = anonymous(lab, tls_minimum_version=ssl.TLSVersion.TLSv1_3)
    server = started(LabBootstrapServer(config))
    context = client_context(lab, maximum_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError):
        call(server.port, "GET", "/.well-known/host-meta", context=context)


# ---------------------------------------------------------------------------------------------
# report-progress


def test_report_progress_204_and_override(lab: Lab, started: Any) -> None:
    """R-090: 204 No Content by default; report_status_for overrides per progress type."""
    config = anonymous(lab, report_status_for={"bootstrap-complete": 200, "config-error": 500})
    server = started(LabBootstrapServer(config))
    context = client_context(lab)
    bag = trust_anchor_bag(lab.pki.idevid_ca)
    host_key = SSHHostKey("ssh-ed25519", b"\x00\x00\x00\x0bssh-ed25519" + bytes(36))
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    try:
        first = call(
            server.port,
            "POST",
            REPORT,
            ReportProgressInput("bootstrap-initiated").to_json(),
            JSON_HEADERS,
            connection=connection,
        )
        # the same connection carries on after a 204 (keep-alive)
        error = call(
            server.port,
            "POST",
            REPORT,
            ReportProgressInput("config-error", message="bad config").to_json(),
            JSON_HEADERS,
            connection=connection,
        )
        last = call(
            server.port,
            "POST",
            REPORT,
            ReportProgressInput(
                "bootstrap-complete",
                message="done",
                ssh_host_keys=(host_key,),
                trust_anchor_certs=(bag,),
            ).to_json(),
            JSON_HEADERS,
            connection=connection,
        )
    finally:
        connection.close()
    assert (first.status, first.body) == (204, b"")
    assert "content-length" not in first.headers
    assert error.status == 500
    assert error.error_tag() == "operation-failed"
    assert last.status == 200
    assert last.headers["content-type"] == JSON_MEDIA_TYPE
    assert last.json() == {"ietf-sztp-bootstrap-server:output": {}}
    assert server.reports() == ["bootstrap-initiated", "config-error", "bootstrap-complete"]
    complete = server.requests("report-progress")[-1]
    assert complete["message"] == "done"
    assert complete["ssh-host-keys"] == [
        {"algorithm": "ssh-ed25519", "key-data": base64.b64encode(host_key.key_data).decode()}
    ]
    assert complete["trust-anchor-certs"] == 1
    assert complete["trust-anchor-cert-values"] == [base64.b64encode(bag).decode()]
    assert [r["status"] for r in server.requests("report-progress")] == [204, 500, 200]


def test_report_progress_xml_and_report_status(lab: Lab, started: Any) -> None:
    server = started(LabBootstrapServer(anonymous(lab, report_status=400)))
    body = (
        b'<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
        b"<progress-type>informational</progress-type><message>about to reboot</message>"
        b"</input>"
    )
    reply = call(
        server.port,
        "POST",
        REPORT,
        body,
        {"Content-Type": XML_MEDIA_TYPE},
        context=client_context(lab),
    )
    assert reply.status == 400
    assert reply.error_tag() == "invalid-value"
    assert server.reports() == ["informational"]
    assert server.requests("report-progress")[0]["message"] == "about to reboot"


# ---------------------------------------------------------------------------------------------
# Wire errors


def test_unknown_path_is_404(lab: Lab, started: Any) -> None:
    server = started(LabBootstrapServer(anonymous(lab)))
    context = client_context(lab)
    for method, path in (
        ("GET", "/"),
        ("GET", "/restconf"),
        ("POST", "/restconf/operations/ietf-sztp-bootstrap-server:other"),
        ("POST", "/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data/"),
    ):
        reply = call(server.port, method, path, b"{}", JSON_HEADERS, context=context)
        assert reply.status == 404, path
        assert reply.error_tag() == "invalid-value"
    assert {r["event"] for r in server.log} == {"other"}


def test_wrong_method_is_405(lab: Lab, started: Any) -> None:
    server = started(LabBootstrapServer(anonymous(lab)))
    context = client_context(lab)
    for method, path in (("GET", GBD), ("PUT", REPORT), ("DELETE", GBD)):
        reply = call(server.port, method, path, context=context)
        assert reply.status == 405
        assert reply.headers["allow"] == "POST"
        assert reply.error_tag() == "operation-not-supported"
    reply = call(server.port, "POST", "/.well-known/host-meta", b"", context=context)
    assert reply.status == 405


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "text/plain", "application/yang.data+xml"]
)
def test_wrong_content_type_is_415(lab: Lab, started: Any, content_type: str | None) -> None:
    server = started(LabBootstrapServer(anonymous(lab)))
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = call(server.port, "POST", GBD, gbd_body(), headers, context=client_context(lab))
    assert reply.status == 415
    assert reply.error_tag() == "invalid-value"
    assert server.log[0]["content_type"] == content_type


def test_content_type_parameters_are_accepted(lab: Lab, started: Any, unsigned: bytes) -> None:
    """Lenient mode takes media-type parameters; strict mode (D29) compares the header whole."""
    response = Response(unsigned=unsigned)
    headers = {"Content-Type": "application/yang-data+json; charset=utf-8"}
    lenient = started(LabBootstrapServer(anonymous(lab, default=response, strict=False)))
    reply = call(lenient.port, "POST", GBD, gbd_body(), headers, context=client_context(lab))
    assert reply.status == 200
    strict = started(LabBootstrapServer(anonymous(lab, default=response)))
    reply = call(strict.port, "POST", GBD, gbd_body(), headers, context=client_context(lab))
    assert reply.status == 415


@pytest.mark.parametrize(
    "accept",
    [
        "application/yang-data+json, application/yang-data+xml;q=0.9",
        "application/json",
        "*/*",
        "application/yang-data+json; q=1",
    ],
)
def test_strict_accept_other_than_one_type_is_406(
    lab: Lab, started: Any, unsigned: bytes, accept: str
) -> None:
    """D29: a strict server answers 406 to an Accept that is not exactly one served type."""
    server = started(LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned))))
    headers = {"Content-Type": JSON_MEDIA_TYPE, "Accept": accept}
    reply = call(server.port, "POST", GBD, gbd_body(), headers, context=client_context(lab))
    assert reply.status == 406
    assert server.log[0]["accept"] == accept
    lenient = started(
        LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned), strict=False))
    )
    reply = call(lenient.port, "POST", GBD, gbd_body(), headers, context=client_context(lab))
    assert reply.status == 200


def test_strict_answers_in_the_accepted_encoding(lab: Lab, started: Any, unsigned: bytes) -> None:
    """D29: Accept application/yang-data+xml gets the output, and errors, in XML."""
    server = started(LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned))))
    headers = {"Content-Type": JSON_MEDIA_TYPE, "Accept": XML_MEDIA_TYPE}
    reply = call(server.port, "POST", GBD, gbd_body(), headers, context=client_context(lab))
    assert reply.status == 200
    assert reply.headers["content-type"] == XML_MEDIA_TYPE
    assert reply.body.startswith(b"<output")
    reply = call(server.port, "POST", GBD, b"{", headers, context=client_context(lab))
    assert reply.status == 400
    assert reply.headers["content-type"] == XML_MEDIA_TYPE
    assert b"<error-tag>malformed-message</error-tag>" in reply.body


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        (GBD, b"{not json", JSON_MEDIA_TYPE),
        (GBD, b"", JSON_MEDIA_TYPE),
        (GBD, b'{"ietf-sztp-bootstrap-server:input":{"nonce":"AAAA"}}', JSON_MEDIA_TYPE),
        (GBD, b'{"ietf-sztp-bootstrap-server:input":{"unknown":1}}', JSON_MEDIA_TYPE),
        (GBD, b'{"input":{}}', JSON_MEDIA_TYPE),
        (GBD, b"<input/>", XML_MEDIA_TYPE),
        (
            GBD,
            b'<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
            b"<signed-data-preferred>yes</signed-data-preferred></input>",
            XML_MEDIA_TYPE,
        ),
        (GBD, b'<!DOCTYPE x [<!ENTITY a "b">]><input/>', XML_MEDIA_TYPE),
        (REPORT, b'{"ietf-sztp-bootstrap-server:input":{"progress-type":"nope"}}', JSON_MEDIA_TYPE),
        (REPORT, b'{"ietf-sztp-bootstrap-server:input":{}}', JSON_MEDIA_TYPE),
        (
            REPORT,
            ReportProgressInput("bootstrap-initiated")
            .to_json()
            .replace(
                b'"bootstrap-initiated"',
                b'"bootstrap-initiated","trust-anchor-certs":{"trust-anchor-cert":["AA=="]}',
            ),
            JSON_MEDIA_TYPE,
        ),
    ],
)
def test_malformed_input_is_400(
    lab: Lab, started: Any, *, unsigned: bytes, path: str, body: bytes, content_type: str
) -> None:
    server = started(LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned))))
    reply = call(
        server.port,
        "POST",
        path,
        body,
        {"Content-Type": content_type},
        context=client_context(lab),
    )
    assert reply.status == 400
    assert reply.error_tag() == "malformed-message"
    record = server.log[0]
    assert record["status"] == 400 and record["error"]
    assert server.reports() == []


def test_oversized_body_is_413(lab: Lab, started: Any) -> None:
    server = started(LabBootstrapServer(anonymous(lab)))
    body = b" " * (MAX_REQUEST_BODY + 1)
    reply = call(server.port, "POST", GBD, body, JSON_HEADERS, context=client_context(lab))
    assert reply.status == 413
    assert reply.error_tag() == "too-big"
    assert reply.headers["connection"] == "close"


# ---------------------------------------------------------------------------------------------
# Log, lifecycle


def test_log_json_lines(lab: Lab, started: Any, unsigned: bytes, tmp_path: Path) -> None:
    log_path = tmp_path / "server.jsonl"
    config = ServerConfig(
        identity=lab.identity,
        client_ca=[lab.pki.manufacturer_root.cert],
        default=Response(unsigned=unsigned, reporting_level="verbose"),
    )
    server = started(LabBootstrapServer(config, log_path=log_path))
    context = client_context(lab, device_cert(lab))
    call(server.port, "GET", "/.well-known/host-meta", context=context)
    call(server.port, "POST", GBD, gbd_body(nonce=NONCE), JSON_HEADERS, context=context)
    call(
        server.port,
        "POST",
        REPORT,
        ReportProgressInput("bootstrap-initiated", message="hi").to_json(),
        JSON_HEADERS,
        context=context,
    )
    call(server.port, "GET", "/nowhere", context=context)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert lines == server.log
    assert [r["event"] for r in lines] == [
        "host-meta",
        "get-bootstrapping-data",
        "report-progress",
        "other",
    ]
    assert [r["status"] for r in lines] == [200, 200, 204, 404]
    common = {
        "time",
        "method",
        "path",
        "status",
        "client_serial",
        "client_chain_len",
        "authorization",
        "content_type",
        "accept",
        "event",
    }
    for record in lines:
        assert common <= set(record)
        assert record["client_serial"] == SERIAL
        assert record["client_chain_len"] == 2
    assert lines[1]["input"]["nonce"] == base64.b64encode(NONCE).decode()
    assert lines[2]["progress-type"] == "bootstrap-initiated"
    assert lines[2]["message"] == "hi"
    assert lines[2]["ssh-host-keys"] == []
    assert lines[2]["trust-anchor-certs"] == 0
    assert server.requests("report-progress") == [lines[2]]


def test_stop_leaves_no_threads(lab: Lab, unsigned: bytes, tmp_path: Path) -> None:
    """stop() ends idle keep-alive connections and half-open handshakes, and joins all threads."""
    before = set(threading.enumerate())
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    bootstrap = LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned)))
    files = LabFileServer(tmp_path)
    with bootstrap, files:
        assert bootstrap.running and files.running
        context = client_context(lab)
        idle = http.client.HTTPSConnection("127.0.0.1", bootstrap.port, context=context)
        call(bootstrap.port, "POST", GBD, gbd_body(), JSON_HEADERS, connection=idle)
        raw = socket.create_connection(("127.0.0.1", bootstrap.port))  # never says hello
        idle_files = http.client.HTTPConnection("127.0.0.1", files.port)
        call(files.port, "GET", "/f.bin", connection=idle_files)
        time.sleep(0.1)
        assert len(threading.enumerate()) > len(before)
        begun = time.monotonic()
    elapsed = time.monotonic() - begun
    idle.close()
    idle_files.close()
    raw.close()
    assert elapsed < 3
    assert set(threading.enumerate()) == before
    assert not bootstrap.running
    bootstrap.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = bootstrap.port


def test_restart_after_stop(lab: Lab, unsigned: bytes) -> None:
    server = LabBootstrapServer(anonymous(lab, default=Response(unsigned=unsigned)))
    for _ in range(2):
        with server:
            reply = call(server.port, "GET", "/.well-known/host-meta", context=client_context(lab))
            assert reply.status == 200
    assert len(server.requests("host-meta")) == 2


def test_tls_key_files_are_private_and_removed(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PEM files load_cert_chain reads are 0600 in a 0700 directory, gone once loaded."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[tuple[int, int, int]] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        cert, key = Path(certfile), Path(keyfile)
        seen.append(
            (
                cert.parent.stat().st_mode & 0o777,
                cert.stat().st_mode & 0o777,
                key.stat().st_mode & 0o777,
            )
        )
        original(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    with LabBootstrapServer(anonymous(lab)):
        assert seen == [(0o700, 0o600, 0o600)]
        assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# File server


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "files"
    directory.mkdir()
    (directory / "image.bin").write_bytes(bytes(range(256)) * 4)  # 1024 bytes
    (directory / "sub").mkdir()
    (directory / "sub" / "nested.txt").write_bytes(b"nested\n")
    (tmp_path / "secret.txt").write_bytes(b"outside\n")
    return directory


IMAGE = bytes(range(256)) * 4


def test_file_get_and_head(lab: Lab, started: Any, files_dir: Path) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity))
    assert server.url.startswith("https://127.0.0.1:")
    assert server.url_for("image.bin") == f"{server.url}/image.bin"
    context = client_context(lab)
    full = call(server.port, "GET", "/image.bin", context=context)
    assert full.status == 200
    assert full.body == IMAGE
    assert full.headers["content-length"] == "1024"
    assert full.headers["accept-ranges"] == "bytes"
    head = call(server.port, "HEAD", "/image.bin", context=context)
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "1024")
    nested = call(server.port, "GET", "/sub/nested.txt", context=context)
    assert nested.body == b"nested\n"
    assert [(r["method"], r["status"], r["sent"]) for r in server.log] == [
        ("GET", 200, 1024),
        ("HEAD", 200, 0),
        ("GET", 200, 7),
    ]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1000-5000", 1000, 1023),
        ("bytes=-5000", 0, 1023),
        ("bytes=0-0", 0, 0),
    ],
)
def test_file_range(
    lab: Lab, started: Any, *, files_dir: Path, header: str, start: int, end: int
) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity))
    reply = call(
        server.port, "GET", "/image.bin", headers={"Range": header}, context=client_context(lab)
    )
    assert reply.status == 206
    assert reply.body == IMAGE[start : end + 1]
    assert reply.headers["content-range"] == f"bytes {start}-{end}/1024"
    assert reply.headers["content-length"] == str(end - start + 1)
    assert server.log[0]["range"] == header


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_file_range_unsatisfiable(lab: Lab, started: Any, files_dir: Path, header: str) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity))
    reply = call(
        server.port, "GET", "/image.bin", headers={"Range": header}, context=client_context(lab)
    )
    assert reply.status == 416
    assert reply.headers["content-range"] == "bytes */1024"


@pytest.mark.parametrize("header", ["bytes=5-2", "items=0-1", "bytes=0-1,5-6", "bytes=x-"])
def test_file_range_ignored(lab: Lab, started: Any, files_dir: Path, header: str) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity))
    reply = call(
        server.port, "GET", "/image.bin", headers={"Range": header}, context=client_context(lab)
    )
    assert (reply.status, reply.body) == (200, IMAGE)


def test_file_not_found_and_traversal(lab: Lab, started: Any, files_dir: Path) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity))
    context = client_context(lab)
    for path in (
        "/missing.bin",
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/",
        "/sub",
    ):
        reply = call(server.port, "GET", path, context=context)
        assert reply.status == 404, path
    assert call(server.port, "POST", "/image.bin", b"x", context=context).status == 405


def test_file_injected_failure(lab: Lab, started: Any, files_dir: Path) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity, fail={"image.bin": 503}))
    context = client_context(lab)
    assert call(server.port, "GET", "/image.bin", context=context).status == 503
    assert call(server.port, "GET", "/sub/nested.txt", context=context).status == 200
    del server.fail["/image.bin"]
    server.fail["sub/nested.txt"] = 404
    assert call(server.port, "GET", "/image.bin", context=context).status == 200
    assert call(server.port, "GET", "/sub/nested.txt", context=context).status == 404
    assert [r["status"] for r in server.log] == [503, 200, 200, 404]


def test_file_truncation(lab: Lab, started: Any, files_dir: Path) -> None:
    server = started(LabFileServer(files_dir, identity=lab.identity, truncate={"/image.bin": 100}))
    context = client_context(lab)
    with pytest.raises(http.client.IncompleteRead) as caught:
        call(server.port, "GET", "/image.bin", context=context)
    assert caught.value.partial == IMAGE[:100]
    # a range shorter than the limit is sent whole
    short = call(server.port, "GET", "/image.bin", headers={"Range": "bytes=0-49"}, context=context)
    assert short.body == IMAGE[:50]
    record = server.log[0]
    assert (record["status"], record["sent"], record["truncated"]) == (200, 100, True)


def test_file_large_streams(started: Any, tmp_path: Path) -> None:
    """Plain HTTP, and a file larger than the chunk size arrives whole."""
    big = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.img").write_bytes(big)
    server = started(LabFileServer(tmp_path))
    assert server.url.startswith("http://127.0.0.1:")
    reply = call(server.port, "GET", "/big.img")
    assert hashlib.sha256(reply.body).digest() == hashlib.sha256(big).digest()
    tail = call(server.port, "GET", "/big.img", headers={"Range": f"bytes={len(big) - 17}-"})
    assert (tail.status, tail.body) == (206, big[-17:])


def test_file_log_json_lines(started: Any, files_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "files.jsonl"
    server = started(LabFileServer(files_dir, log_path=log_path))
    call(server.port, "GET", "/image.bin", headers={"Range": "bytes=0-9"})
    call(server.port, "GET", "/nothing")
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert lines == server.log
    assert [(r["path"], r["status"], r["range"]) for r in lines] == [
        ("/image.bin", 206, "bytes=0-9"),
        ("/nothing", 404, None),
    ]


# ---------------------------------------------------------------------------------------------
# The lab on disk and the sztp-lab command


def _certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_create_and_load_lab(tmp_path: Path) -> None:
    layout = create_lab(tmp_path / "lab", serial_number="SN-DISK-1")
    assert oct(layout.idevid_key.stat().st_mode & 0o777) == "0o600"
    assert oct(layout.server_key.stat().st_mode & 0o777) == "0o600"
    for key in layout.pki_dir.glob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600, key
    idevid_chain = _certs(layout.idevid_cert)
    assert [c.subject for c in idevid_chain] == [
        layout.idevid.cert.subject,
        layout.pki.idevid_ca.cert.subject,
    ]
    serial = idevid_chain[0].subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert serial == "SN-DISK-1"
    assert _certs(layout.manufacturer_trust_anchors) == [layout.pki.manufacturer_root.cert]
    assert _certs(layout.voucher_signer_trust_anchors) == [layout.pki.voucher_root.cert]
    assert _certs(layout.bootstrap_server_trust_anchors) == [layout.server_root.cert]
    san = layout.server_identity.cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert layout.serial_number_file.read_text() == "SN-DISK-1\n"
    with pytest.raises(FileExistsError):
        create_lab(tmp_path / "lab")

    loaded = load_lab(tmp_path / "lab")
    assert loaded.serial_number == "SN-DISK-1"
    assert loaded.pki.owner_certificate.cert == layout.pki.owner_certificate.cert
    assert loaded.pki.owner_certificate.chain == layout.pki.owner_certificate.chain
    assert loaded.pki.voucher_signer.trust_anchor == layout.pki.voucher_root.cert
    assert loaded.server_identity.chain == (layout.server_ca.cert,)
    assert loaded.pki.idevid("SN-DISK-1").cert == layout.idevid.cert
    assert loaded.pki.now == layout.pki.now


def test_lab_files_drive_a_server(tmp_path: Path) -> None:
    """A device using only the lab's files gets signed data that verifies (the demo path)."""
    layout = load_lab(create_lab(tmp_path / "lab").directory)
    onboarding = ONBOARDING

    def make_signed(nonce: bytes | None) -> SignedSet:
        return make_signed_set(layout.pki, layout.serial_number, onboarding, nonce=nonce)

    config = ServerConfig(
        identity=layout.server_identity,
        client_ca=_certs(layout.client_ca),
        responses={layout.serial_number: Response(make_signed=make_signed)},
    )
    context = ssl.create_default_context(cafile=str(layout.bootstrap_server_trust_anchors))
    context.load_cert_chain(layout.idevid_cert, layout.idevid_key)
    with LabBootstrapServer(config) as server:
        connection = http.client.HTTPSConnection("localhost", server.port, context=context)
        reply = call(
            server.port,
            "POST",
            GBD,
            gbd_body(signed_data_preferred=True, nonce=NONCE),
            JSON_HEADERS,
            connection=connection,
        )
        connection.close()
    output = parse_get_bootstrapping_data_output(reply.body)
    assert output.owner_certificate is not None and output.ownership_voucher is not None
    signed = SignedSet(
        output.conveyed_information, output.owner_certificate, output.ownership_voucher
    )
    verify(layout.pki, signed, serial=layout.serial_number, nonce=NONCE)


@pytest.mark.subprocess
def test_cli_create_and_serve(tmp_path: Path) -> None:
    """`sztp-lab create` then `serve`: signed data that verifies, the image it names, one
    printed line per request.  Synchronised on what serve prints, never on time; serve runs
    with SIGINT ignored, as a shell without job control starts a background job, and must
    still stop on it (it used to hang there until killed)."""
    lab_dir = tmp_path / "lab"
    assert lab_main(["create", str(lab_dir), "--serial-number", "SN-CLI-1"]) == 0
    assert lab_main(["create", str(lab_dir)]) == 1  # exists
    assert lab_main(["serve", str(lab_dir), "--host", "192.0.2.1"]) == 1  # not loopback
    layout = load_lab(lab_dir)
    command = [sys.executable, "-m", "sztp_lab.cli", "serve", str(lab_dir)]
    with LabServe(
        ["sh", "-c", "trap '' INT; exec \"$@\"", "sh", *command, "--port", "0", "--file-port", "0"]
    ) as serve:
        summary = serve.summary()
        context = ssl.create_default_context(cafile=str(layout.bootstrap_server_trust_anchors))
        context.load_cert_chain(layout.idevid_cert, layout.idevid_key)
        port = int(summary["bootstrap-server"].rsplit(":", 1)[1])
        reply = call(
            port,
            "POST",
            GBD,
            gbd_body(signed_data_preferred=True, nonce=NONCE),
            JSON_HEADERS,
            context=context,
            timeout=HANG,
        )
        assert reply.status == 200
        # the record, and so the line, is written before the answer is sent
        line = serve.line(lambda text: "get-bootstrapping-data" in text)
        assert line.split()[1:] == ["bootstrap-server", "POST", GBD, "200", "SN-CLI-1"]
        output = parse_get_bootstrapping_data_output(reply.body)
        assert output.reporting_level == "verbose"
        assert output.ownership_voucher is not None and output.owner_certificate is not None
        verified = verify(
            layout.pki,
            SignedSet(
                output.conveyed_information, output.owner_certificate, output.ownership_voucher
            ),
            serial="SN-CLI-1",
            nonce=NONCE,
        )
        info = verified.conveyed_information
        assert isinstance(info, OnboardingInformation)
        assert info.boot_image is not None
        (image_url,) = info.boot_image.download_uris
        assert image_url == summary["image"]
        file_port = int(urlsplit(image_url).port or 0)
        image = call(
            file_port,
            "GET",
            urlsplit(image_url).path,
            context=ssl.create_default_context(cafile=str(layout.bootstrap_server_trust_anchors)),
            timeout=HANG,
        )
        assert image.status == 200
        (check,) = info.boot_image.image_verifications
        assert check.hash_value == hashlib.sha256(image.body).digest()
        line = serve.line(lambda text: " file-server " in text)
        assert line.split()[1:] == ["file-server", "GET", urlsplit(image_url).path, "200", "-"]
        assert serve.stop(signal.SIGINT) == 0
    assert "stopping\n" in serve.stderr
    log = [
        json.loads(x)
        for x in (lab_dir / "server" / "bootstrap-server.log.jsonl").read_text().splitlines()
    ]
    gbd = [r for r in log if r.get("event") == "get-bootstrapping-data"]
    assert [r["client_serial"] for r in gbd] == ["SN-CLI-1"]


@pytest.mark.subprocess
def test_cli_serve_stops_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM (what systemd and kill send) stops serve cleanly too, with exit 0."""
    lab_dir = tmp_path / "lab"
    assert lab_main(["create", str(lab_dir)]) == 0
    command = [sys.executable, "-m", "sztp_lab.cli", "serve", str(lab_dir), "--port", "0"]
    with LabServe([*command, "--file-port", "0"]) as serve:
        assert serve.summary()["serial-number"] == "SZTP-DEMO-0001"
        assert serve.stop(signal.SIGTERM) == 0


def test_cli_serve_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A port already taken is said as such, naming the option that chooses another."""
    lab_dir = tmp_path / "lab"
    assert lab_main(["create", str(lab_dir)]) == 0
    capsys.readouterr()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert lab_main(["serve", str(lab_dir), "--port", str(port), "--file-port", "0"]) == 1
    err = capsys.readouterr().err
    assert "cannot listen for the bootstrap server" in err
    assert "--port" in err
