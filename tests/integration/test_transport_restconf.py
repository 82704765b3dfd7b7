"""RestconfClient against real HTTPS servers on loopback with real certificates.

R-017 (server authentication, name check), R-018/R-019 (client certificate with its
intermediates), R-083 (host-meta), R-084/R-085 (request shape), R-089 (reply), R-090 (204),
R-091/D8 (error documents), R-092/D18 (nothing secret to a provisional server), R-095 (TLS),
D10 (clock modes), D19 (size bounds).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import (
    ConfigurationError,
    ConnectError,
    ConnectionDroppedError,
    EncodingError,
    MediaTypeError,
    ReportRejectedError,
    ServerCertificateError,
    ServerError,
    SizeLimitError,
    TLSAlertError,
    TLSError,
    TransportError,
)
from sztp_client.identity.base import FileIdentity
from sztp_client.limits import Limits
from sztp_client.model.rpc import (
    GetBootstrappingDataInput,
    ReportingLevel,
    ReportProgressInput,
    SSHHostKey,
    parse_get_bootstrapping_data_input,
    parse_report_progress_input,
)
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.progress import ProgressType
from sztp_client.transport.http import Timeouts
from sztp_client.transport.limits import TransportLimits
from sztp_client.transport.restconf import RestconfClient
from sztp_client.trust.clock import Clock
from sztp_client.trust.hops import ServerTrust
from sztp_lab.pki import Issued, LabPKI, make_lab_pki, pem_bundle, utcnow
from tests.helpers.tls_server import (
    Reply,
    ScriptedServer,
    ServerPKI,
    credentials,
    make_server_pki,
)

pytestmark = pytest.mark.integration

SERIAL = "SN-TRANSPORT-0001"
GBD_PATH = "/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"
REPORT_PATH = "/restconf/operations/ietf-sztp-bootstrap-server:report-progress"
CONVEYED = b"\x30\x03\x02\x01\x07"  # opaque octets: the transport does not look inside
NONCE = bytes(range(16))
JSON_TYPE = "application/yang-data+json"
XML_TYPE = "application/yang-data+xml"
UNTRUSTED = Clock.untrusted()
FAST = Timeouts(connect=5.0, read=5.0)


def gbd_json(level: str | None = None) -> bytes:
    output: dict[str, object] = {"conveyed-information": base64.b64encode(CONVEYED).decode()}
    if level is not None:
        output["reporting-level"] = level
    return json.dumps({"ietf-sztp-bootstrap-server:output": output}).encode()


GBD_XML = (
    b'<output xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
    b"<reporting-level>verbose</reporting-level>"
    b"<conveyed-information>" + base64.b64encode(CONVEYED) + b"</conveyed-information>"
    b"</output>"
)
GBD_OK = Reply(200, {"Content-Type": JSON_TYPE}, gbd_json())

TRUSTED_REQUEST = GetBootstrappingDataInput(
    hw_model="model-x", os_name="LabOS", os_version="1.0", nonce=NONCE
)
UNTRUSTED_REQUEST = GetBootstrappingDataInput(signed_data_preferred=True, nonce=NONCE)


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def spki() -> ServerPKI:
    return make_server_pki()


@pytest.fixture(scope="module")
def lab() -> LabPKI:
    return make_lab_pki()


def _identity(directory: Path, issued: Issued, *, with_chain: bool = True) -> FileIdentity:
    cert = directory / "idevid.pem"
    key = directory / "idevid.key"
    cert.write_bytes(issued.pem_chain() if with_chain else issued.cert_pem())
    key.write_bytes(issued.key_pem())
    return FileIdentity(certificate=cert, key=key)


@pytest.fixture(scope="module")
def identity(lab: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> FileIdentity:
    return _identity(tmp_path_factory.mktemp("identity"), lab.idevid(SERIAL))


@pytest.fixture
def server(spki: ServerPKI) -> Iterator[ScriptedServer]:
    with ScriptedServer(*credentials(spki.server)) as running:
        yield running


def client_for(
    server: ScriptedServer,
    *,
    host: str = "localhost",
    trusted: bool = True,
    anchors: Sequence[x509.Certificate] | None = None,
    spki: ServerPKI | None = None,
    clock: Clock = UNTRUSTED,
    identity: FileIdentity | None = None,
    root: str | None = "/restconf",
    **kwargs: object,
) -> RestconfClient:
    if anchors is None:
        assert spki is not None or not trusted
        anchors = (spki.anchor,) if spki is not None else ()
    return RestconfClient(
        ServerEndpoint(host, server.port, root),
        server.host,
        trust=ServerTrust(trusted, tuple(anchors)),
        clock=clock,
        identity=identity,
        **kwargs,  # type: ignore[arg-type]
    )


def trusted_clock_now() -> Clock:
    return Clock.trusted_at(dt.datetime.now(dt.UTC))


# ---------------------------------------------------------------------------------------------
# server authentication (R-017, D10, D12)


def test_trusted_get_bootstrapping_data(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = Reply(200, {"Content-Type": JSON_TYPE}, gbd_json("verbose"))
    with client_for(server, spki=spki) as client:
        output = client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert output.conveyed_information == CONVEYED
    assert output.reporting_level is ReportingLevel.VERBOSE
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == GBD_PATH
    assert request.headers["content-type"] == JSON_TYPE
    assert request.headers["accept"] == JSON_TYPE  # D29: exactly one media type
    assert request.headers["host"] == f"localhost:{server.port}"
    assert "authorization" not in request.headers
    assert parse_get_bootstrapping_data_input(request.body) == TRUSTED_REQUEST
    assert request.tls_version == "TLSv1.3"


def test_tls12_server_is_accepted(spki: ServerPKI) -> None:
    with ScriptedServer(
        *credentials(spki.server), maximum_version=ssl.TLSVersion.TLSv1_2
    ) as server:
        server.routes[GBD_PATH] = GBD_OK
        with client_for(server, spki=spki) as client:
            assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED
        assert server.requests[0].tls_version == "TLSv1.2"


def test_ip_literal_host_is_matched_against_ip_sans(
    server: ScriptedServer, spki: ServerPKI
) -> None:
    server.routes[GBD_PATH] = GBD_OK
    with client_for(server, host="127.0.0.1", spki=spki, clock=trusted_clock_now()) as client:
        assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


def test_ipv6_literal(spki: ServerPKI) -> None:
    with ScriptedServer(*credentials(spki.server), host="::1") as server:
        server.routes[GBD_PATH] = GBD_OK
        endpoint = ServerEndpoint("::1", server.port, "/restconf")
        with RestconfClient(
            endpoint,
            "::1",
            trust=ServerTrust(True, (spki.anchor,)),
            clock=UNTRUSTED,
            identity=None,
        ) as client:
            assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED
        assert server.requests[0].headers["host"] == f"[::1]:{server.port}"


def test_wrong_anchor_is_a_tls_error(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = GBD_OK
    with (
        client_for(server, anchors=(spki.other_root.cert,)) as client,
        pytest.raises(TLSError, match="trust anchors") as info,
    ):
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert info.value.retryable
    assert server.requests == []


def test_host_name_mismatch_is_a_tls_error(spki: ServerPKI) -> None:
    with ScriptedServer(*credentials(spki.other_name)) as server:
        server.routes[GBD_PATH] = GBD_OK
        for host in ("localhost", "127.0.0.1"):
            with client_for(server, host=host, spki=spki) as client, pytest.raises(TLSError):
                client.get_bootstrapping_data(TRUSTED_REQUEST)
        assert server.requests == []
        # the same certificate passes when the name is the one it was issued for
        with client_for(server, host="other.example", spki=spki) as client:
            assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED


def test_expired_server_certificate_depends_on_the_clock(spki: ServerPKI) -> None:
    assert spki.expired.cert.not_valid_after_utc < utcnow()
    with ScriptedServer(*credentials(spki.expired)) as server:
        server.routes[GBD_PATH] = GBD_OK
        with (
            client_for(server, spki=spki, clock=trusted_clock_now()) as client,
            pytest.raises(TLSError, match="expired"),
        ):
            client.get_bootstrapping_data(TRUSTED_REQUEST)
        # D10: under an untrusted clock validity periods are not enforced
        with client_for(server, spki=spki, clock=UNTRUSTED) as client:
            assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED


def test_non_self_signed_anchor(spki: ServerPKI) -> None:
    """D12: the issuing CA alone is an anchor; the server sends its chain up to the root."""
    with ScriptedServer(*credentials(spki.via_intermediate)) as server:
        server.routes[GBD_PATH] = GBD_OK
        with client_for(
            server, anchors=(spki.intermediate.cert,), clock=trusted_clock_now()
        ) as client:
            assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED
        with client_for(server, anchors=(spki.other_root.cert,)) as client, pytest.raises(TLSError):
            client.get_bootstrapping_data(TRUSTED_REQUEST)


def test_trusted_context_needs_anchors(server: ScriptedServer) -> None:
    with pytest.raises(ValueError, match="trust anchor"):
        client_for(server, anchors=())


# ---------------------------------------------------------------------------------------------
# provisional servers (R-060, R-061, R-086, R-092, D18) and credentials


def test_provisional_accepts_any_certificate_and_sends_no_credentials(spki: ServerPKI) -> None:
    # another root, and a certificate that names neither host nor address
    for issued in (spki.other_root_server, spki.other_name, spki.expired):
        with ScriptedServer(*credentials(issued)) as server:
            server.routes[GBD_PATH] = GBD_OK
            with client_for(
                server,
                trusted=False,
                clock=trusted_clock_now(),
                basic_auth=(SERIAL, "device-secret"),
            ) as client:
                output = client.get_bootstrapping_data(UNTRUSTED_REQUEST)
            assert output.conveyed_information == CONVEYED
            [request] = server.requests
            assert "authorization" not in request.headers
            assert parse_get_bootstrapping_data_input(request.body) == UNTRUSTED_REQUEST


def test_trusted_sends_basic_credentials(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = GBD_OK
    with client_for(server, spki=spki, basic_auth=(SERIAL, "pass:word")) as client:
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    expected = base64.b64encode(f"{SERIAL}:pass:word".encode()).decode()
    assert server.requests[0].headers["authorization"] == f"Basic {expected}"


def test_basic_user_with_colon_is_refused(server: ScriptedServer, spki: ServerPKI) -> None:
    with pytest.raises(ValueError, match="user name"):
        client_for(server, spki=spki, basic_auth=("a:b", "x"))


def _client_auth_server(spki: ServerPKI, lab: LabPKI) -> ScriptedServer:
    """A server that requires a client certificate and trusts only the manufacturer root."""
    root_pem = lab.manufacturer_root.cert.public_bytes(serialization.Encoding.PEM)
    return ScriptedServer(*credentials(spki.server), client_ca=root_pem)


def test_client_certificate_is_sent_with_its_intermediates(
    spki: ServerPKI, lab: LabPKI, identity: FileIdentity
) -> None:
    """R-019: the server knows only the root, so the handshake needs the IDevID CA from us."""
    idevid = lab.idevid(SERIAL)
    assert idevid.chain and idevid.chain[0].subject != lab.manufacturer_root.cert.subject
    with _client_auth_server(spki, lab) as server:
        server.routes[GBD_PATH] = GBD_OK
        server.routes[REPORT_PATH] = Reply(204)
        for trusted in (True, False):  # also to a provisional server
            request = TRUSTED_REQUEST if trusted else UNTRUSTED_REQUEST
            with client_for(server, trusted=trusted, spki=spki, identity=identity) as client:
                assert client.get_bootstrapping_data(request).conveyed_information == CONVEYED
        assert [r.client_cert for r in server.requests] == [idevid.cert_der()] * 2
        for recorded in server.requests:
            if recorded.client_chain_length is not None:  # Python >= 3.13 exposes the chain
                assert recorded.client_chain_length >= 2
        assert server.handshake_errors == []


def test_client_certificate_without_intermediates_fails(
    spki: ServerPKI, lab: LabPKI, tmp_path: Path
) -> None:
    leaf_only = _identity(tmp_path, lab.idevid(SERIAL), with_chain=False)
    with _client_auth_server(spki, lab) as server:
        server.routes[GBD_PATH] = GBD_OK
        for identity in (leaf_only, None):
            with (
                client_for(server, spki=spki, identity=identity) as client,
                pytest.raises(TransportError),
            ):
                client.get_bootstrapping_data(TRUSTED_REQUEST)
        assert server.requests == []
        assert server.wait_for_handshake_errors(2) == 2


def test_unloadable_identity_is_a_configuration_error(
    server: ScriptedServer, spki: ServerPKI, tmp_path: Path
) -> None:
    missing = FileIdentity(tmp_path / "none.pem", tmp_path / "none.key")
    with pytest.raises(ConfigurationError, match=r"none\.pem"):
        client_for(server, spki=spki, identity=missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(pem_bundle([spki.root.cert]))  # a certificate but no matching key
    with pytest.raises(ConfigurationError):
        client_for(server, trusted=False, identity=FileIdentity(garbage, garbage))


def test_untrusted_client_refuses_reports(server: ScriptedServer) -> None:
    """R-066, D18: the hop's trust decision flows to the client; what the request body holds
    is decided by the trust owner (tests/unit/test_trust_hops.py)."""
    with (
        client_for(server, trusted=False) as client,
        pytest.raises(ValueError, match="untrusted"),
    ):
        client.report_progress(ReportProgressInput(ProgressType.BOOTSTRAP_INITIATED))
    assert server.requests == []


# ---------------------------------------------------------------------------------------------
# RESTCONF root discovery (R-083, D9)

HOST_META = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
    b"  <Link rel='author' href='/someone'/>\n"
    b"  <Link rel='restconf' href='HREF'/>\n"
    b"</XRD>\n"
)


def _discover(server: ScriptedServer, spki: ServerPKI, host_meta: Reply | None) -> list[str]:
    """The paths requested for one get-bootstrapping-data with discovery."""
    if host_meta is not None:
        server.routes["/.well-known/host-meta"] = host_meta
    for path in ("/top/restconf", "/restconf", ""):
        server.routes[f"{path}/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"] = (
            GBD_OK
        )
    with client_for(server, spki=spki, root=None) as client:
        client.get_bootstrapping_data(TRUSTED_REQUEST)
        client.get_bootstrapping_data(TRUSTED_REQUEST)  # the root is discovered once
    return [r.path for r in server.requests]


def _meta(href: str) -> Reply:
    return Reply(
        200, {"Content-Type": "application/xrd+xml"}, HOST_META.replace(b"HREF", href.encode())
    )


def test_host_meta_gives_the_root(server: ScriptedServer, spki: ServerPKI) -> None:
    paths = _discover(server, spki, _meta("/top/restconf"))
    top = "/top" + GBD_PATH
    assert paths == ["/.well-known/host-meta", top, top]
    assert server.requests[0].method == "GET"
    assert server.requests[0].headers["accept"] == "application/xrd+xml"


def test_host_meta_absolute_href_on_the_same_origin(
    server: ScriptedServer, spki: ServerPKI
) -> None:
    paths = _discover(server, spki, _meta(f"https://localhost:{server.port}/top/restconf/"))
    assert paths[1] == "/top" + GBD_PATH


@pytest.mark.parametrize(
    "host_meta",
    [
        None,  # 404
        Reply(500, {}, b"oops"),
        Reply(200, {}, b"this is not XML"),
        Reply(200, {}, b"<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'/>"),
        Reply(200, {}, b"<other/>"),
        Reply(200, {}, b"<!DOCTYPE x [<!ENTITY e 'x'>]><XRD>&e;</XRD>"),
        Reply(200, {}, b"<XRD><Link rel='restconf' href='https://elsewhere.example/rc'/></XRD>"),
        Reply(200, {}, HOST_META.replace(b"HREF", b"/r?x=1")),
        Reply(200, {}, b"<XRD>" + b" " * (70 * 1024) + b"</XRD>"),  # over the 64 KiB bound
        Reply(301, {"Location": "/elsewhere"}),
    ],
    ids=[
        "404",
        "500",
        "not-xml",
        "no-link",
        "not-xrd",
        "dtd",
        "other-origin",
        "query",
        "oversize",
        "redirect",
    ],
)
def test_host_meta_fallback(
    server: ScriptedServer, spki: ServerPKI, host_meta: Reply | None
) -> None:
    paths = _discover(server, spki, host_meta)
    assert paths == ["/.well-known/host-meta", GBD_PATH, GBD_PATH]


def test_root_from_the_uri_skips_discovery(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes["/x/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"] = GBD_OK
    with client_for(server, spki=spki, root="/x") as client:
        assert client.restconf_root() == "/x"
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert [r.path for r in server.requests] == [
        "/x/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data"
    ]


# ---------------------------------------------------------------------------------------------
# get-bootstrapping-data replies (R-089, R-091, D8, D19)


def test_xml_reply(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = Reply(200, {"Content-Type": f"{XML_TYPE}; charset=utf-8"}, GBD_XML)
    with client_for(server, spki=spki) as client:
        output = client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert output.conveyed_information == CONVEYED
    assert output.reporting_level is ReportingLevel.VERBOSE


ERRORS_JSON = json.dumps(
    {
        "ietf-restconf:errors": {
            "error": [
                {
                    "error-type": "protocol",
                    "error-tag": "access-denied",
                    "error-message": "unknown device",
                }
            ]
        }
    }
).encode()
ERRORS_XML = (
    b'<errors xmlns="urn:ietf:params:xml:ns:yang:ietf-restconf"><error>'
    b"<error-type>application</error-type><error-tag>operation-failed</error-tag>"
    b"<error-message>database down</error-message></error></errors>"
)


@pytest.mark.parametrize(
    "case",
    [
        (404, JSON_TYPE, ERRORS_JSON, "access-denied", "unknown device"),
        (401, JSON_TYPE, ERRORS_JSON, "access-denied", "unknown device"),
        (500, XML_TYPE, ERRORS_XML, "operation-failed", "database down"),
        (503, "", ERRORS_JSON, "access-denied", "unknown device"),  # sniffed
    ],
)
def test_error_document(
    server: ScriptedServer, spki: ServerPKI, case: tuple[int, str, bytes, str, str]
) -> None:
    status, media_type, body, tag, message = case
    headers = {"Content-Type": media_type} if media_type else {}
    server.routes[GBD_PATH] = Reply(status, headers, body)
    with client_for(server, spki=spki) as client, pytest.raises(ServerError) as info:
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert info.value.status == status
    assert info.value.error_tag == tag
    assert info.value.error_message == message
    assert str(status) in str(info.value) and message in str(info.value)


CSR_REQUEST_JSON = {
    "key-generation": {"selected-algorithm": {"algorithm-identifier": "BgcqhkjOPQIB"}},
    "csr-generation": {"selected-format": {"format-identifier": "ietf-ztp-types:p10-csr"}},
}


def test_csr_request_is_kept_in_error_info(server: ScriptedServer, spki: ServerPKI) -> None:
    """RFC 9646 (R-125): the 400 with csr-request is recognisable from ServerError."""
    document = {
        "ietf-restconf:errors": {
            "error": [
                {
                    "error-type": "application",
                    "error-tag": "missing-attribute",
                    "error-message": "Missing input parameter",
                    "error-info": {"ietf-sztp-csr:csr-request": CSR_REQUEST_JSON},
                }
            ]
        }
    }
    xml = (
        b'<errors xmlns="urn:ietf:params:xml:ns:yang:ietf-restconf"><error>'
        b"<error-type>application</error-type><error-tag>missing-attribute</error-tag>"
        b"<error-info><csr-request xmlns='urn:ietf:params:xml:ns:yang:ietf-sztp-csr'>"
        b"<key-generation><selected-algorithm><algorithm-identifier>BgcqhkjOPQIB"
        b"</algorithm-identifier></selected-algorithm></key-generation>"
        b"<csr-generation><selected-format>"
        b"<format-identifier>ietf-ztp-types:p10-csr</format-identifier>"
        b"</selected-format></csr-generation></csr-request></error-info></error></errors>"
    )
    for media_type, body in ((JSON_TYPE, json.dumps(document).encode()), (XML_TYPE, xml)):
        server.routes[GBD_PATH] = Reply(400, {"Content-Type": media_type}, body)
        with client_for(server, spki=spki) as client, pytest.raises(ServerError) as info:
            client.get_bootstrapping_data(TRUSTED_REQUEST)
        assert info.value.status == 400
        assert info.value.error_tag == "missing-attribute"
        assert info.value.error_info == {"ietf-sztp-csr:csr-request": CSR_REQUEST_JSON}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(500, {"Content-Type": JSON_TYPE}, b"{not json"),
        Reply(500, {"Content-Type": JSON_TYPE}, b'{"other": 1}'),
        Reply(403, {"Content-Type": "text/html"}, b"<html>forbidden</html>"),
        Reply(502, {"Content-Type": XML_TYPE}, b"<errors/>"),
        Reply(500, {"Content-Type": JSON_TYPE}, b"{" + b" " * (65 * 1024) + b"}"),  # oversize
        Reply(404),
        Reply(302, {"Location": "https://elsewhere.example/"}),  # no redirect is followed
        Reply(204),
    ],
)
def test_unusable_error_document_still_gives_server_error(
    server: ScriptedServer, spki: ServerPKI, reply: Reply
) -> None:
    server.routes[GBD_PATH] = reply
    with client_for(server, spki=spki) as client, pytest.raises(ServerError) as info:
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert info.value.status == reply.status
    assert info.value.error_tag is None
    assert [r.path for r in server.requests] == [GBD_PATH]


@pytest.mark.parametrize("no_length", [False, True])
def test_oversize_reply_is_refused(
    server: ScriptedServer, spki: ServerPKI, no_length: bool
) -> None:
    def padded(spaces: int) -> bytes:
        return gbd_json()[:-2] + b" " * spaces + b"}}"

    limit = len(padded(4096)) - 1
    narrow = msgspec.structs.replace(TransportLimits.of(Limits()), response=limit)
    server.routes[GBD_PATH] = Reply(
        200, {"Content-Type": JSON_TYPE}, padded(4096), no_length=no_length
    )
    with (
        client_for(server, spki=spki, limits=narrow) as client,
        pytest.raises(SizeLimitError) as info,
    ):
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert info.value.limit == limit
    assert info.value.size == limit + 1
    # exactly at the bound is fine
    server.routes[GBD_PATH] = Reply(
        200, {"Content-Type": JSON_TYPE}, padded(4095), no_length=no_length
    )
    with client_for(server, spki=spki, limits=narrow) as client:
        assert client.get_bootstrapping_data(TRUSTED_REQUEST).conveyed_information == CONVEYED


def test_compressed_reply_is_refused(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = Reply(
        200, {"Content-Type": JSON_TYPE, "Content-Encoding": "gzip"}, b"\x1f\x8b..."
    )
    with client_for(server, spki=spki) as client, pytest.raises(EncodingError, match="gzip"):
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert server.requests[0].headers["accept-encoding"] == "identity"


def test_unknown_media_type_is_refused(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = Reply(200, {"Content-Type": "text/plain"}, gbd_json())
    with client_for(server, spki=spki) as client, pytest.raises(EncodingError):
        client.get_bootstrapping_data(TRUSTED_REQUEST)


# ---------------------------------------------------------------------------------------------
# report-progress


def test_report_progress(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[REPORT_PATH] = Reply(204)
    report = ReportProgressInput(ProgressType.BOOTSTRAP_INITIATED, message="starting")
    with client_for(server, spki=spki) as client:
        client.report_progress(report)
        client.report_progress(report)
    assert len(server.requests) == 2
    for request in server.requests:
        assert request.method == "POST"
        assert request.path == REPORT_PATH
        assert request.headers["content-type"] == JSON_TYPE
        assert parse_report_progress_input(request.body) == report


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"Content-Type": JSON_TYPE}, b"{}"),
        Reply(500, {"Content-Type": JSON_TYPE}, ERRORS_JSON),
        Reply(400),
        Reply(201),
    ],
)
def test_report_not_answered_with_204_is_rejected(
    server: ScriptedServer, spki: ServerPKI, reply: Reply
) -> None:
    server.routes[REPORT_PATH] = reply
    with client_for(server, spki=spki) as client, pytest.raises(ReportRejectedError) as info:
        client.report_progress(ReportProgressInput(ProgressType.BOOTSTRAP_COMPLETE))
    assert info.value.status == reply.status
    assert not info.value.retryable


# ---------------------------------------------------------------------------------------------
# connections and timeouts (D8)


def test_read_timeout_is_a_connect_error(server: ScriptedServer, spki: ServerPKI) -> None:
    server.routes[GBD_PATH] = Reply(200, {"Content-Type": JSON_TYPE}, gbd_json(), delay=10)
    started = time.monotonic()
    with (
        client_for(server, spki=spki, timeouts=Timeouts(connect=5, read=0.5)) as client,
        pytest.raises(ConnectError, match="timed out"),
    ):
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert time.monotonic() - started < 5


def test_refused_connection_is_a_connect_error(spki: ServerPKI) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = ServerEndpoint("localhost", port, "/restconf")
    with (
        RestconfClient(
            endpoint,
            "127.0.0.1",
            trust=ServerTrust(True, (spki.anchor,)),
            clock=UNTRUSTED,
            identity=None,
            timeouts=FAST,
        ) as client,
        pytest.raises(ConnectError, match="cannot connect") as info,
    ):
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert "localhost" in str(info.value) and "127.0.0.1" in str(info.value)


def test_plain_http_server_is_a_tls_error(spki: ServerPKI) -> None:
    with ScriptedServer() as server:  # no TLS at all
        server.routes[GBD_PATH] = GBD_OK
        with client_for(server, trusted=False) as client, pytest.raises(TLSError):
            client.get_bootstrapping_data(UNTRUSTED_REQUEST)


# ---------------------------------------------------------------------------------------------
# one media type on the wire (D29, R-084, R-085)


def test_xml_encoding_sends_xml_with_one_media_type(
    server: ScriptedServer, spki: ServerPKI
) -> None:
    """D29: with encoding "xml" both RPCs carry Accept and Content-Type
    application/yang-data+xml, and their bodies are XML inputs in the module's namespace."""
    server.routes[GBD_PATH] = Reply(200, {"Content-Type": XML_TYPE}, GBD_XML)
    server.routes[REPORT_PATH] = Reply(204)
    report = ReportProgressInput(
        ProgressType.BOOTSTRAP_COMPLETE,
        message="done <&> \x1b[0m",
        ssh_host_keys=(SSHHostKey("ssh-ed25519", b"\x00\x00\x00\x0bssh-ed25519"),),
        trust_anchor_certs=(CONVEYED,),
    )
    with client_for(server, spki=spki, encoding="xml") as client:
        output = client.get_bootstrapping_data(TRUSTED_REQUEST)
        client.report_progress(report)
    assert output.conveyed_information == CONVEYED
    gbd, posted = server.requests
    for request in (gbd, posted):
        assert request.headers["accept"] == XML_TYPE
        assert request.headers["content-type"] == XML_TYPE
        root = ET.fromstring(request.body)
        assert root.tag == "{urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server}input"
    ns = "{urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server}"
    root = ET.fromstring(gbd.body)
    assert [child.tag[len(ns) :] for child in root] == [
        "hw-model",
        "os-name",
        "os-version",
        "nonce",
    ]
    assert base64.b64decode(root.findtext(f"{ns}nonce") or "") == NONCE
    root = ET.fromstring(posted.body)
    assert root.findtext(f"{ns}progress-type") == "bootstrap-complete"
    # a control character cannot be in a YANG string nor in XML: it is replaced (U+FFFD)
    assert root.findtext(f"{ns}message") == "done <&> \ufffd[0m"
    assert root.findtext(f"{ns}ssh-host-keys/{ns}ssh-host-key/{ns}algorithm") == "ssh-ed25519"
    certs = root.findall(f"{ns}trust-anchor-certs/{ns}trust-anchor-cert")
    assert [base64.b64decode(c.text or "") for c in certs] == [CONVEYED]


def test_provisional_xml_request_has_only_signed_data_preferred_and_nonce(
    server: ScriptedServer,
) -> None:
    """D18, D29: the untrusted request in XML: <signed-data-preferred/> and the nonce."""
    server.routes[GBD_PATH] = Reply(200, {"Content-Type": XML_TYPE}, GBD_XML)
    with client_for(server, trusted=False, encoding="xml") as client:
        client.get_bootstrapping_data(UNTRUSTED_REQUEST)
    [request] = server.requests
    ns = "{urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server}"
    root = ET.fromstring(request.body)
    assert [child.tag[len(ns) :] for child in root] == ["signed-data-preferred", "nonce"]
    assert root[0].text is None and len(root[0]) == 0


def test_unknown_encoding_is_refused(server: ScriptedServer, spki: ServerPKI) -> None:
    with pytest.raises(ValueError, match="json or xml"):
        client_for(server, spki=spki, encoding="cbor")


@pytest.mark.parametrize("status", [406, 415])
def test_media_type_refusal_is_its_own_error(
    server: ScriptedServer, spki: ServerPKI, status: int
) -> None:
    """D29: 406 and 415 are a MediaTypeError: not retryable against that server, with the
    media type sent in the message and a diagnosis that says what to change."""
    server.routes[GBD_PATH] = Reply(status, {"Content-Type": JSON_TYPE}, ERRORS_JSON)
    server.routes[REPORT_PATH] = Reply(status)
    with client_for(server, spki=spki) as client:
        with pytest.raises(MediaTypeError) as info:
            client.get_bootstrapping_data(TRUSTED_REQUEST)
        assert info.value.status == status
        assert not info.value.retryable
        assert JSON_TYPE in str(info.value) and "network.encoding" in str(info.value)
        assert MediaTypeError.diagnosis and "network.encoding" in MediaTypeError.diagnosis
        with pytest.raises(MediaTypeError):
            client.report_progress(ReportProgressInput(ProgressType.BOOTSTRAP_INITIATED))


def test_wrong_anchor_is_a_server_certificate_error(
    server: ScriptedServer, spki: ServerPKI
) -> None:
    """D29: certificate verify failed is told apart from the device-certificate cases."""
    server.routes[GBD_PATH] = GBD_OK
    with (
        client_for(server, anchors=(spki.other_root.cert,)) as client,
        pytest.raises(ServerCertificateError) as info,
    ):
        client.get_bootstrapping_data(TRUSTED_REQUEST)
    assert not isinstance(info.value, TLSAlertError | ConnectionDroppedError)
