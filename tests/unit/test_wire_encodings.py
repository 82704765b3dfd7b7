"""The client's request bodies in both encodings, read back by the lab's independent parser
(D29, R-082, R-084), and the diagnosis each error class carries (D29)."""

from __future__ import annotations

import pytest

from sztp_client.errors import (
    ConnectError,
    ConnectionDroppedError,
    EncryptedContentError,
    MediaTypeError,
    ServerCertificateError,
    ServerError,
    SZTPError,
    TLSAlertError,
    TLSError,
)
from sztp_client.model.rpc import (
    GetBootstrappingDataInput,
    ReportProgressInput,
    SSHHostKey,
    yang_string,
)
from sztp_client.progress import ProgressType
from sztp_client.state.status import describe_error
from sztp_lab import server as lab_server
from sztp_lab.server import parse_gbd_request, parse_report_request

JSON = "application/yang-data+json"
XML = "application/yang-data+xml"

GBD_INPUTS = [
    GetBootstrappingDataInput(signed_data_preferred=True, nonce=bytes(range(16))),
    GetBootstrappingDataInput(signed_data_preferred=True),
    GetBootstrappingDataInput(hw_model="m<&>", os_name="Lab OS", os_version="1.0\r\n2"),
    GetBootstrappingDataInput(),
]
REPORTS = [
    ReportProgressInput(ProgressType.BOOTSTRAP_INITIATED),
    ReportProgressInput(ProgressType.PRE_SCRIPT_ERROR, message="exit 3\n\x1b[31mboom\x00"),
    ReportProgressInput(
        ProgressType.BOOTSTRAP_COMPLETE,
        message="done & dusted",
        ssh_host_keys=(SSHHostKey("ssh-ed25519", b"k1"), SSHHostKey("ecdsa-sha2-nistp256", b"k2")),
        trust_anchor_certs=(b"\x30\x00", b"\x30\x01\x00"),
    ),
]


@pytest.mark.parametrize("request_input", GBD_INPUTS)
def test_r084_gbd_input_reads_the_same_in_json_and_xml(
    request_input: GetBootstrappingDataInput,
) -> None:
    from_json = parse_gbd_request(request_input.to_json(), JSON)
    from_xml = parse_gbd_request(request_input.to_xml(), XML)
    assert from_json == from_xml
    assert from_json.signed_data_preferred == request_input.signed_data_preferred
    assert from_json.nonce == request_input.nonce
    assert from_json.os_version == request_input.os_version


@pytest.mark.parametrize("report", REPORTS)
def test_r082_report_reads_the_same_in_json_and_xml(report: ReportProgressInput) -> None:
    from_json = parse_report_request(report.to_json(), JSON)
    from_xml = parse_report_request(report.to_xml(), XML)
    assert from_json == from_xml
    assert from_json.progress_type == report.progress_type.value
    assert from_json.message == report.message
    assert from_json.ssh_host_keys == tuple((k.algorithm, k.key_data) for k in report.ssh_host_keys)
    assert from_json.trust_anchor_certs == report.trust_anchor_certs


def test_messages_are_made_valid_yang_strings() -> None:
    """RFC 7950 §9.4: no C0 control character but tab, LF and CR; no noncharacters."""
    assert (
        yang_string("a\x1b[0m\tb\r\n\x00\ufffe\U0010ffff") == "a\ufffd[0m\tb\r\n\ufffd\ufffd\ufffd"
    )
    report = ReportProgressInput(ProgressType.INFORMATIONAL, message="\x07bell")
    assert report.message == "\ufffdbell"


@pytest.mark.parametrize(
    "error_class",
    [MediaTypeError, TLSAlertError, ServerCertificateError, ConnectionDroppedError],
)
def test_d29_each_diagnosis_is_its_own(error_class: type[SZTPError]) -> None:
    """Each case an operator must tell apart has its own diagnosis, shown by status."""
    if issubclass(error_class, ServerError):
        error: SZTPError = error_class("refused", status=406)  # type: ignore[call-arg]
    else:
        error = error_class("failed")
    described = describe_error(error)
    assert described["type"] == error_class.__name__
    assert described["diagnosis"] == error_class.diagnosis
    others = {MediaTypeError, TLSAlertError, ServerCertificateError, ConnectionDroppedError}
    assert len({c.diagnosis for c in others}) == len(others)


def test_d29_a_class_without_its_own_diagnosis_inherits_its_parents() -> None:
    """The diagnosis lives on the class; a subclass without one inherits it along the MRO."""
    assert "diagnosis" in vars(TLSError) and "diagnosis" in vars(ConnectError)
    assert "trust anchors" in describe_error(TLSError("x"))["diagnosis"]
    assert "diagnosis" not in vars(EncryptedContentError)
    assert describe_error(EncryptedContentError("x"))["diagnosis"] == "see the message"

    class PlainTLSError(TLSError):
        pass

    assert describe_error(PlainTLSError("x"))["diagnosis"] == TLSError.diagnosis
    assert describe_error(MediaTypeError("x", status=415))["retryable"] is False
    assert issubclass(ConnectionDroppedError, ConnectError)
    assert issubclass(TLSAlertError, TLSError) and issubclass(ServerCertificateError, TLSError)


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b'{"ietf-sztp-bootstrap-server:input":{"hw-model":"a","hw-model":"b"}}', JSON),
        (b'{"ietf-sztp-bootstrap-server:input":{"ietf-sztp-bootstrap-server:hw-model":"a"}}', JSON),
        (b'{"ietf-sztp-bootstrap-server:input":{"hw-model":"a\\u0001"}}', JSON),
        (b'{"ietf-sztp-bootstrap-server:input":{"signed-data-preferred":null}}', JSON),
        (b'{"ietf-sztp-bootstrap-server:input":{"nonce":"AAAAAAAAAAAAAAAAAAAAAA"}}', JSON),
        (b'{"ietf-sztp-bootstrap-server:input":[]}', JSON),
        (
            b'<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
            b"text<hw-model>a</hw-model></input>",
            XML,
        ),
        (
            b'<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
            b"<hw-model>a</hw-model><hw-model>b</hw-model></input>",
            XML,
        ),
        (
            b'<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
            b"<hw-model><b/></hw-model></input>",
            XML,
        ),
    ],
)
def test_lab_parser_is_strict(body: bytes, media_type: str) -> None:
    """The lab reads requests with its own strict parser (not the client's model code)."""
    with pytest.raises(lab_server._BadRequest):
        parse_gbd_request(body, media_type)


def test_lab_parser_ignores_augmentations() -> None:
    """Members and elements of other modules (e.g. ietf-sztp-csr:csr-support) are dropped."""
    json_body = (
        b'{"ietf-sztp-bootstrap-server:input":{"os-name":"x","ietf-sztp-csr:csr-support":{}}}'
    )
    assert parse_gbd_request(json_body, JSON).os_name == "x"
    xml_body = (
        b'<input xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server">'
        b'<os-name>x</os-name><csr-support xmlns="urn:ietf:params:xml:ns:yang:ietf-sztp-csr"/>'
        b"</input>"
    )
    assert parse_gbd_request(xml_body, XML).os_name == "x"


def test_d29_a_closed_connection_is_a_drop_only_when_a_certificate_was_sent() -> None:
    """The server closing after the handshake is ConnectionDroppedError when the device sent
    its certificate (the server may have refused it), a plain ConnectError otherwise."""
    import http.client

    import urllib3

    from sztp_client.transport.http import transport_error

    for cause in (
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        ConnectionResetError(104, "Connection reset by peer"),
    ):
        closed = urllib3.exceptions.ProtocolError("Connection aborted.", cause)
        dropped = transport_error(closed, "https://server", client_certificate=True)
        assert type(dropped) is ConnectionDroppedError
        plain = transport_error(closed, "https://server", client_certificate=False)
        assert type(plain) is ConnectError


def test_ssl_ctx_layout_check_fails_loudly() -> None:
    """The strict server's SSL_CTX pointer is checked against the verify mode; when what it
    reads does not follow the context's settings, it refuses with RuntimeError."""
    import ssl

    class WrongLibrary:
        def get_verify_mode(self, pointer: int) -> int:
            return 0

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(RuntimeError, match="layout"):
        lab_server._ssl_ctx_pointer(context, WrongLibrary())  # type: ignore[arg-type]
    assert context.verify_mode == ssl.CERT_NONE  # left as it was
    real = lab_server._OpenSSL()
    assert lab_server._ssl_ctx_pointer(context, real) > 0
