"""A lab bootstrap server (RFC 8572 §7) and a lab file server, over HTTPS on loopback.

Both run :class:`sztp_lab.https.HTTPSServer` in a background thread, one thread per connection,
and keep a log of what devices asked for (``log``, and JSON lines in ``log_path`` when given).

:class:`LabBootstrapServer` answers ``GET /.well-known/host-meta`` and the two RPCs of
``ietf-sztp-bootstrap-server`` under the RESTCONF root::

    POST {root}/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data
    POST {root}/operations/ietf-sztp-bootstrap-server:report-progress

What a device gets is a :class:`Response`, chosen by the device's serial number (from its TLS client
certificate's subject, or else its HTTP Basic username).  Every error is an
``ietf-restconf:errors`` document, in JSON or, when the request accepts only that, XML.  In
strict mode (the default, :class:`ServerConfig`) the server behaves as deployed bootstrap
servers do about media types and client certificates; it reads request bodies with its own
strict parser, never with the client's model code.

:class:`LabFileServer` serves a directory over HTTPS (or plain HTTP) with byte ranges, and can
be told to fail or cut short the answers for given paths.

TLS handshakes happen in the connection's own thread, so a stuck client never blocks the others.
``stop`` shuts down the open connections and joins every thread it started.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import datetime as dt
import hmac
import json
import socket
import ssl
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final, Self
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.x509.oid import NameOID
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from sztp_lab.artifacts import SignedSet
from sztp_lab.csr import CSRPolicy, CSRRefused, csr_members
from sztp_lab.https import DRAIN_LIMIT, HTTPSServer, load_server_identity
from sztp_lab.pki import Issued, pem_bundle

__all__ = [
    "GET_BOOTSTRAPPING_DATA",
    "HOST_META_PATH",
    "MAX_REQUEST_BODY",
    "REPORT_PROGRESS",
    "LabBootstrapServer",
    "LabFileServer",
    "Response",
    "ServerConfig",
    "host_meta_xrd",
    "output_document",
    "restconf_errors",
    "tls_server_context",
]

MODULE: Final = "ietf-sztp-bootstrap-server"
NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-sztp-bootstrap-server"
JSON_MEDIA_TYPE: Final = "application/yang-data+json"
XML_MEDIA_TYPE: Final = "application/yang-data+xml"
RESTCONF_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-restconf"
GET_BOOTSTRAPPING_DATA: Final = f"{MODULE}:get-bootstrapping-data"
REPORT_PROGRESS: Final = f"{MODULE}:report-progress"
HOST_META_PATH: Final = "/.well-known/host-meta"
XRD_MEDIA_TYPE: Final = "application/xrd+xml"
MAX_REQUEST_BODY: Final = 1024 * 1024
FILE_CHUNK: Final = 64 * 1024
BASIC_REALM: Final = "sztp-lab"
_ENCODING_DER: Final = 2  # _ssl.ENCODING_DER, for the certificates of get_unverified_chain()

# RFC 8040 §7: the error-tag a status stands for when a Response gives only the status.
_STATUS_TAGS: Final[Mapping[int, str]] = {
    400: "invalid-value",
    401: "access-denied",
    403: "access-denied",
    404: "invalid-value",
    405: "operation-not-supported",
    409: "resource-denied",
    412: "operation-failed",
    413: "too-big",
    415: "invalid-value",
    500: "operation-failed",
    501: "operation-not-supported",
}


# ---------------------------------------------------------------------------------------------
# Documents


def restconf_errors(
    tag: str, message: str, *, error_type: str = "application", media_type: str = JSON_MEDIA_TYPE
) -> bytes:
    """An ``ietf-restconf:errors`` document (RFC 8040 §7.1) holding one error, as JSON, or as
    XML for ``application/yang-data+xml``."""
    if _essence(media_type) == XML_MEDIA_TYPE:
        return (
            f'<errors xmlns="{RESTCONF_NAMESPACE}"><error>'
            f"<error-type>{escape(error_type)}</error-type>"
            f"<error-tag>{escape(tag)}</error-tag>"
            f"<error-message>{escape(message)}</error-message>"
            "</error></errors>\n"
        ).encode()
    error = {"error-type": error_type, "error-tag": tag, "error-message": message}
    return json.dumps({"ietf-restconf:errors": {"error": [error]}}).encode()


def host_meta_xrd(restconf_root: str) -> bytes:
    """The host-meta XRD document advertising ``restconf_root`` (RFC 8040 §3.1)."""
    href = escape(restconf_root, {"'": "&apos;"})
    return (
        "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
        f"  <Link rel='restconf' href='{href}'/>\n"
        "</XRD>\n"
    ).encode()


def output_document(
    conveyed_information: bytes,
    owner_certificate: bytes | None = None,
    ownership_voucher: bytes | None = None,
    reporting_level: str | None = None,
    media_type: str = JSON_MEDIA_TYPE,
) -> bytes:
    """The get-bootstrapping-data output, as XML for ``application/yang-data+xml``, else JSON.

    The artifacts are written as given (an owner certificate without a voucher too), so that
    tests can send what a device must refuse.
    """
    leaves: list[tuple[str, str]] = []
    if reporting_level is not None:
        leaves.append(("reporting-level", reporting_level))
    leaves.append(("conveyed-information", _b64(conveyed_information)))
    if owner_certificate is not None:
        leaves.append(("owner-certificate", _b64(owner_certificate)))
    if ownership_voucher is not None:
        leaves.append(("ownership-voucher", _b64(ownership_voucher)))
    if _essence(media_type) == XML_MEDIA_TYPE:
        lines = [f'<output xmlns="{NAMESPACE}">']
        lines.extend(f"  <{name}>{escape(value)}</{name}>" for name, value in leaves)
        lines.append("</output>")
        return ("\n".join(lines) + "\n").encode()
    return json.dumps({f"{MODULE}:output": dict(leaves)}).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _essence(media_type: str | None) -> str:
    return (media_type or "").partition(";")[0].strip().lower()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------------------------
# Request bodies: the lab's own strict reading of the two RPC inputs (RFC 8572 §7.3), in JSON
# (RFC 7951) and XML (RFC 7950).  It shares no code with the client's model, so that a bug in
# one is not cancelled out by the same bug in the other.

PROGRESS_TYPES: Final = frozenset(
    {
        "bootstrap-initiated",
        "parsing-initiated",
        "parsing-warning",
        "parsing-error",
        "parsing-complete",
        "boot-image-initiated",
        "boot-image-warning",
        "boot-image-error",
        "boot-image-mismatch",
        "boot-image-installed-rebooting",
        "boot-image-complete",
        "pre-script-initiated",
        "pre-script-warning",
        "pre-script-error",
        "pre-script-complete",
        "config-initiated",
        "config-warning",
        "config-error",
        "config-complete",
        "post-script-initiated",
        "post-script-warning",
        "post-script-error",
        "post-script-complete",
        "bootstrap-warning",
        "bootstrap-error",
        "bootstrap-complete",
        "informational",
    }
)
_INPUT_MEMBER: Final = f"{MODULE}:input"
# RFC 7950 §9.4: no C0 control characters but tab, LF and CR in a string
_BAD_STRING_CHARACTERS: Final = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"}


class _BadRequest(Exception):
    """A request body that does not satisfy ietf-sztp-bootstrap-server; the message says why."""


@dataclass(frozen=True)
class _GBDInput:
    signed_data_preferred: bool
    hw_model: str | None
    os_name: str | None
    os_version: str | None
    nonce: bytes | None


@dataclass(frozen=True)
class _ReportInput:
    progress_type: str
    message: str | None
    ssh_host_keys: tuple[tuple[str, bytes], ...]
    trust_anchor_certs: tuple[bytes, ...]


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _BadRequest(f"{path}: must be a string")
    if any(c in _BAD_STRING_CHARACTERS for c in value):
        raise _BadRequest(f"{path}: a string may not hold control characters")
    return value


def _binary(value: object, path: str) -> bytes:
    text = _string(value, path)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _BadRequest(f"{path}: not base64") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _BadRequest(f"member {name!r} appears twice")
        result[name] = value
    return result


def _json_members(value: object, path: str, known: frozenset[str]) -> dict[str, Any]:
    """A JSON object's members of this module (simple names, RFC 7951 §4); members of other
    modules (augmentations, qualified names) are dropped; anything else is refused."""
    if not isinstance(value, dict):
        raise _BadRequest(f"{path}: must be a JSON object")
    members: dict[str, Any] = {}
    for name, member in value.items():
        if ":" in name:
            if name.partition(":")[0] == MODULE:
                raise _BadRequest(f"{path}/{name}: a member of the same module has a simple name")
            continue
        if name not in known:
            raise _BadRequest(f"{path}/{name}: no such node")
        members[name] = member
    return members


def _json_document(body: bytes) -> object:
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadRequest(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or list(document) != [_INPUT_MEMBER]:
        raise _BadRequest(f"the document must be an object with the one member {_INPUT_MEMBER}")
    return document[_INPUT_MEMBER]


def _xml_root(body: bytes) -> ElementTree.Element:
    try:
        root = defused_fromstring(body, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise _BadRequest(f"not acceptable XML: {exc}") from None
    if root.tag != f"{{{NAMESPACE}}}input":
        raise _BadRequest(f"the root element must be input in namespace {NAMESPACE}")
    return root


def _xml_children(
    element: ElementTree.Element, path: str, known: frozenset[str]
) -> list[tuple[str, ElementTree.Element]]:
    """Child elements of this module's namespace as (local name, element); elements of other
    namespaces (augmentations) are dropped; text between elements is refused."""
    if (element.text or "").strip() and len(element):
        raise _BadRequest(f"{path}: text beside child elements")
    children: list[tuple[str, ElementTree.Element]] = []
    for child in element:
        if (child.tail or "").strip():
            raise _BadRequest(f"{path}: text beside child elements")
        if not isinstance(child.tag, str) or not child.tag.startswith("{"):
            raise _BadRequest(f"{path}: element {child.tag!r} has no namespace")
        namespace, _, local = child.tag[1:].partition("}")
        if namespace != NAMESPACE:
            continue
        if local not in known:
            raise _BadRequest(f"{path}/{local}: no such node")
        children.append((local, child))
    return children


def _xml_leaf_text(element: ElementTree.Element, path: str) -> str:
    if len(element):
        raise _BadRequest(f"{path}: a leaf has no child elements")
    return element.text or ""


def _single(pairs: list[tuple[str, ElementTree.Element]], path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, element in pairs:
        if name in result:
            raise _BadRequest(f"{path}/{name}: appears twice")
        result[name] = element
    return result


_GBD_NODES: Final = frozenset(
    {"signed-data-preferred", "hw-model", "os-name", "os-version", "nonce"}
)


def _gbd_input(leaves: Mapping[str, Any], *, sdp_present: bool) -> _GBDInput:
    nonce = None
    if "nonce" in leaves:
        nonce = _binary(leaves["nonce"], "input/nonce")
        if not 16 <= len(nonce) <= 32:
            raise _BadRequest(f"input/nonce: {len(nonce)} octets; the nonce has 16..32")
    return _GBDInput(
        signed_data_preferred=sdp_present,
        hw_model=_string(leaves["hw-model"], "input/hw-model") if "hw-model" in leaves else None,
        os_name=_string(leaves["os-name"], "input/os-name") if "os-name" in leaves else None,
        os_version=_string(leaves["os-version"], "input/os-version")
        if "os-version" in leaves
        else None,
        nonce=nonce,
    )


def parse_gbd_request(body: bytes, media_type: str) -> _GBDInput:
    """The get-bootstrapping-data input of a request body (``media_type`` JSON or XML)."""
    if media_type == XML_MEDIA_TYPE:
        root = _xml_root(body)
        elements = _single(_xml_children(root, "input", _GBD_NODES), "input")
        leaves = {
            name: _xml_leaf_text(element, f"input/{name}") for name, element in elements.items()
        }
        if leaves.get("signed-data-preferred", "").strip():
            raise _BadRequest("input/signed-data-preferred: an empty leaf has no value")
        return _gbd_input(leaves, sdp_present="signed-data-preferred" in leaves)
    members = _json_members(_json_document(body), "input", _GBD_NODES)
    if "signed-data-preferred" in members and members["signed-data-preferred"] != [None]:
        raise _BadRequest("input/signed-data-preferred: an empty leaf is [null] (RFC 7951 §6.9)")
    return _gbd_input(members, sdp_present="signed-data-preferred" in members)


_REPORT_NODES: Final = frozenset(
    {"progress-type", "message", "ssh-host-keys", "trust-anchor-certs"}
)
_KEY_NODES: Final = frozenset({"algorithm", "key-data"})


def _report_input(
    progress_type: object,
    message: object,
    keys: list[tuple[object, object]] | None,
    certs: list[object] | None,
) -> _ReportInput:
    kind = _string(progress_type, "input/progress-type")
    if kind not in PROGRESS_TYPES:
        raise _BadRequest(f"input/progress-type: {kind[:80]!r} is not a progress type")
    for name, present in (("ssh-host-keys", keys), ("trust-anchor-certs", certs)):
        if present is not None and kind != "bootstrap-complete":
            raise _BadRequest(f"input/{name}: only allowed with progress-type bootstrap-complete")
    path = "input/ssh-host-keys/ssh-host-key"
    return _ReportInput(
        progress_type=kind,
        message=None if message is None else _string(message, "input/message"),
        ssh_host_keys=tuple(
            (_string(algorithm, f"{path}/algorithm"), _binary(data, f"{path}/key-data"))
            for algorithm, data in keys or ()
        ),
        trust_anchor_certs=tuple(
            _binary(cert, "input/trust-anchor-certs/trust-anchor-cert") for cert in certs or ()
        ),
    )


def parse_report_request(body: bytes, media_type: str) -> _ReportInput:
    """The report-progress input of a request body (``media_type`` JSON or XML)."""
    keys: list[tuple[object, object]] | None = None
    certs: list[object] | None = None
    if media_type == XML_MEDIA_TYPE:
        root = _xml_root(body)
        elements = _single(_xml_children(root, "input", _REPORT_NODES), "input")
        if "progress-type" not in elements:
            raise _BadRequest("input/progress-type: missing")
        kind: object = _xml_leaf_text(elements["progress-type"], "input/progress-type")
        message: object = None
        if "message" in elements:
            message = _xml_leaf_text(elements["message"], "input/message")
        if "ssh-host-keys" in elements:
            keys = []
            path = "input/ssh-host-keys"
            for _, entry in _xml_children(
                elements["ssh-host-keys"], path, frozenset({"ssh-host-key"})
            ):
                leaves = _single(_xml_children(entry, f"{path}/ssh-host-key", _KEY_NODES), path)
                if set(leaves) != _KEY_NODES:
                    raise _BadRequest(f"{path}/ssh-host-key: algorithm and key-data are mandatory")
                keys.append(
                    (
                        _xml_leaf_text(leaves["algorithm"], path),
                        _xml_leaf_text(leaves["key-data"], path),
                    )
                )
        if "trust-anchor-certs" in elements:
            path = "input/trust-anchor-certs"
            certs = [
                _xml_leaf_text(element, path)
                for _, element in _xml_children(
                    elements["trust-anchor-certs"], path, frozenset({"trust-anchor-cert"})
                )
            ]
        return _report_input(kind, message, keys, certs)
    members = _json_members(_json_document(body), "input", _REPORT_NODES)
    if "progress-type" not in members:
        raise _BadRequest("input/progress-type: missing")
    if "ssh-host-keys" in members:
        path = "input/ssh-host-keys"
        container = _json_members(members["ssh-host-keys"], path, frozenset({"ssh-host-key"}))
        entries = container.get("ssh-host-key", [])
        if not isinstance(entries, list):
            raise _BadRequest(f"{path}/ssh-host-key: a list is a JSON array")
        keys = []
        for entry in entries:
            leaves = _json_members(entry, f"{path}/ssh-host-key", _KEY_NODES)
            if set(leaves) != _KEY_NODES:
                raise _BadRequest(f"{path}/ssh-host-key: algorithm and key-data are mandatory")
            keys.append((leaves["algorithm"], leaves["key-data"]))
    if "trust-anchor-certs" in members:
        path = "input/trust-anchor-certs"
        container = _json_members(
            members["trust-anchor-certs"], path, frozenset({"trust-anchor-cert"})
        )
        values = container.get("trust-anchor-cert", [])
        if not isinstance(values, list):
            raise _BadRequest(f"{path}/trust-anchor-cert: a leaf-list is a JSON array")
        certs = list(values)
    return _report_input(members["progress-type"], members.get("message"), keys, certs)


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass
class Response:
    """What the bootstrap server answers one device's get-bootstrapping-data with.

    Precedence: ``body_override`` (sent raw with ``status`` and ``media_type``); then an error
    (``status`` other than 200, or ``error_document`` given: sent with ``status`` as
    ``application/yang-data+json``, a generated ``ietf-restconf:errors`` document when
    ``error_document`` is None); then the data.  Which data: with ``signed-data-preferred`` in
    the request, signed data if there is any (``make_signed(nonce)``, else ``signed``), else
    ``unsigned``; without it, ``unsigned`` if given, else signed data.  No data at all gives a
    404 error.  ``media_type`` None answers in the encoding the request's Accept names (JSON
    when it names none); a media type given is used whatever the request asked.  ``delay``
    seconds pass before the answer (for read-timeout tests).
    """

    unsigned: bytes | None = None
    signed: SignedSet | None = None
    make_signed: Callable[[bytes | None], SignedSet] | None = None
    status: int = 200
    error_document: bytes | None = None
    reporting_level: str | None = None
    media_type: str | None = None
    body_override: bytes | None = None
    delay: float = 0.0
    #: RFC 9646: ask this device for certificate requests first (see sztp_lab.csr)
    csr: CSRPolicy | None = None

    @property
    def has_signed(self) -> bool:
        return self.make_signed is not None or self.signed is not None


@dataclass
class ServerConfig:
    """A lab bootstrap server's identity, its client authentication and its answers.

    ``identity`` is the TLS certificate, key and chain (the chain is sent).  With ``client_ca``
    non-empty the server asks for a client certificate issued under one of those anchors (any
    certificate of a chain may be an anchor); ``require_client_certificate`` makes the handshake
    fail without one.  With ``client_ca`` empty no client certificate is asked for.

    ``basic_auth`` (username → password) makes both RPCs answer 401 ``access-denied`` unless
    the request carries valid HTTP Basic credentials.

    ``host_meta`` is the RESTCONF root that ``/.well-known/host-meta`` advertises (None: 404);
    ``restconf_root`` is the root actually served, by default ``host_meta`` or ``/restconf``.

    ``responses`` is keyed by device serial number; ``default`` answers the others (None: 404).
    Every report-progress is answered with ``report_status_for[progress-type]`` if present,
    else ``report_status``.

    ``tls_minimum_version`` (never below TLS 1.2) and ``tls_maximum_version`` bound the
    protocol versions offered.

    ``strict`` (the default) behaves as deployed bootstrap servers do (D29): an RPC whose
    ``Accept`` is present and not exactly ``application/yang-data+json`` or
    ``application/yang-data+xml`` gets 406, one whose ``Content-Type`` is not exactly one of
    them 415 (no parameters); the answer is in the encoding Accept names; the device's serial
    number is the value of the LAST RDN of the client certificate's subject; and a client
    certificate that does not validate to ``client_ca`` completes the handshake and then sees
    the connection closed, with no TLS alert and no HTTP answer.  ``strict=False`` (lenient)
    takes media-type parameters, answers JSON unless told otherwise, reads the subject's
    serialNumber attribute wherever it is, and lets OpenSSL refuse an unknown client
    certificate in the handshake (an alert).  ``media_types`` are the RPC media types served
    (both by default; one alone plays a server that speaks only JSON or only XML).

    The server reads its configuration on every request: assigning ``default``, ``responses``
    and the other fields of a running server's ``config`` takes effect on the next request.
    """

    identity: Issued
    client_ca: Sequence[x509.Certificate] = ()
    require_client_certificate: bool = True
    basic_auth: Mapping[str, str] | None = None
    host_meta: str | None = "/restconf"
    restconf_root: str | None = None
    responses: Mapping[str, Response] = field(default_factory=dict)
    default: Response | None = None
    report_status: int = 204
    report_status_for: Mapping[str, int] = field(default_factory=dict)
    tls_minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    tls_maximum_version: ssl.TLSVersion | None = None
    strict: bool = True
    media_types: Sequence[str] = ("application/yang-data+json", "application/yang-data+xml")

    def served_root(self) -> str:
        """The RESTCONF root the server answers under, without a trailing slash."""
        root = self.restconf_root
        if root is None:
            root = self.host_meta if self.host_meta is not None else "/restconf"
        return root.rstrip("/")


# ---------------------------------------------------------------------------------------------
# TLS


# Strict mode must finish the handshake with a client certificate that does not validate, and
# then drop the connection as deployed servers do.  Python's ssl cannot ask for a client
# certificate without refusing the handshake when it does not validate, so a verify callback
# is attached to the OpenSSL SSL_CTX behind the SSLContext: it lets OpenSSL's own verdict
# (against client_ca, exactly as in lenient mode) through as "accepted" and notes each failure
# for the handshaking thread, which then closes the connection without a word.
_SSL_VERIFY_PEER: Final = 0x01
_SSL_VERIFY_FAIL_IF_NO_PEER_CERT: Final = 0x02
_VERIFY_CALLBACK_TYPE: Final = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_verify_state = threading.local()


class _OpenSSL:
    """The few libssl/libcrypto functions needed, from the library CPython's ssl module uses."""

    def __init__(self) -> None:
        import _ssl  # noqa: PLC0415 - the extension module whose libssl is wanted

        library = ctypes.CDLL(_ssl.__file__)  # dlsym looks in its dependencies too
        self.get_verify_mode = library.SSL_CTX_get_verify_mode
        self.get_verify_mode.argtypes = [ctypes.c_void_p]
        self.get_verify_mode.restype = ctypes.c_int
        self.set_verify = library.SSL_CTX_set_verify
        self.set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK_TYPE]
        self.set_verify.restype = None
        self.store_error = library.X509_STORE_CTX_get_error
        self.store_error.argtypes = [ctypes.c_void_p]
        self.store_error.restype = ctypes.c_int
        self.error_string = library.X509_verify_cert_error_string
        self.error_string.argtypes = [ctypes.c_long]
        self.error_string.restype = ctypes.c_char_p


_openssl: _OpenSSL | None = None


def _note_verify_result(preverify_ok: int, store: int | None) -> int:
    failures: list[str] | None = getattr(_verify_state, "failures", None)
    if preverify_ok or failures is None or _openssl is None:
        return preverify_ok  # outside a handshake of the lab's: OpenSSL's verdict stands
    code = _openssl.store_error(store)
    text = _openssl.error_string(code)
    failures.append(text.decode("ascii", "replace") if text else f"X509 error {code}")
    return 1


_verify_callback: Final = _VERIFY_CALLBACK_TYPE(_note_verify_result)


def _ssl_ctx_pointer(context: ssl.SSLContext, lib: _OpenSSL) -> int:
    """The ``SSL_CTX *`` of ``context``: CPython's PySSLContext keeps it right after
    PyObject_HEAD.  Checked by reading the verify mode through it for two settings; any
    mismatch is a RuntimeError rather than a guess."""
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer:
        raise RuntimeError("this Python's SSLContext layout is not known: no SSL_CTX pointer")
    saved = context.verify_mode
    try:
        for mode, flags in (
            (ssl.CERT_REQUIRED, _SSL_VERIFY_PEER | _SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
            (ssl.CERT_OPTIONAL, _SSL_VERIFY_PEER),
        ):
            context.verify_mode = mode
            if lib.get_verify_mode(pointer) != flags:
                raise RuntimeError(
                    "this Python's SSLContext layout is not known: the SSL_CTX pointer does not "
                    "reflect the verify mode; strict client-certificate handling is unavailable"
                )
    finally:
        context.verify_mode = saved
    return pointer


def _finish_handshake_on_unverified_client(
    context: ssl.SSLContext, require_client_certificate: bool
) -> None:
    global _openssl  # noqa: PLW0603 - loaded once, on first use
    if _openssl is None:
        _openssl = _OpenSSL()
    pointer = _ssl_ctx_pointer(context, _openssl)
    flags = _SSL_VERIFY_PEER
    if require_client_certificate:
        flags |= _SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    _openssl.set_verify(pointer, flags, _verify_callback)
    if _openssl.get_verify_mode(pointer) != flags:
        raise RuntimeError("setting the verify callback did not take effect")


def tls_server_context(
    identity: Issued,
    client_ca: Sequence[x509.Certificate] = (),
    *,
    require_client_certificate: bool = True,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum_version: ssl.TLSVersion | None = None,
    drop_unverified_clients: bool = False,
) -> ssl.SSLContext:
    """A server SSLContext for ``identity`` (certificate and chain sent), TLS 1.2 or later.

    The PEM files ``load_cert_chain`` needs are written (mode 0600) in a private temporary
    directory and removed as soon as they are loaded.

    ``drop_unverified_clients`` (with ``client_ca``): a client certificate that does not
    validate to ``client_ca`` still completes the handshake; the failures are noted for the
    handshaking thread (see ``_LabHTTPServer.finish_request``), which drops the connection.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = max(minimum_version, ssl.TLSVersion.TLSv1_2)
    if maximum_version is not None:
        context.maximum_version = maximum_version
    load_server_identity(context, identity.pem_chain(), identity.key_pem())
    if client_ca:
        context.load_verify_locations(cadata=pem_bundle(client_ca).decode("ascii"))
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
        if drop_unverified_clients:
            _finish_handshake_on_unverified_client(context, require_client_certificate)
    return context


def _peer_serial(connection: socket.socket, *, last_rdn: bool = False) -> str | None:
    """The device's serial number from its TLS client certificate, if any: the subject's
    serialNumber (2.5.4.5), or with ``last_rdn`` the value of the subject's last RDN, as
    deployed servers read it."""
    if not isinstance(connection, ssl.SSLSocket):
        return None
    der = connection.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        if last_rdn:
            rdns = list(cert.subject.rdns)
            attributes = list(rdns[-1]) if rdns else []
        else:
            attributes = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    except ValueError:
        return None
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _peer_chain_length(connection: socket.socket) -> int | None:
    """How many certificates the TLS client sent, where this Python can tell."""
    if not isinstance(connection, ssl.SSLSocket):
        return None
    getter = getattr(connection, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(connection, "_sslobj", None), "get_unverified_chain", None)
    if getter is None:
        return None
    try:
        chain = getter()
    except (ssl.SSLError, ValueError, AttributeError, TypeError):
        return None
    peer = connection.getpeercert(binary_form=True)
    if not peer:
        return None
    # OpenSSL leaves the peer's own certificate out of a server's view of the chain, while
    # Python puts it back in front (or a None when there is none): count it once.
    ders = [c.public_bytes(_ENCODING_DER) for c in chain or () if c is not None]
    return len(ders) if peer in ders else len(ders) + 1


# ---------------------------------------------------------------------------------------------
# The HTTP server machinery shared by both servers


class _LabHTTPServer(HTTPSServer):
    """The shared HTTPS server, recording failed handshakes in the lab's log and, in strict
    mode, dropping a client whose certificate did not validate after the handshake."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext | None,
        lab: _BackgroundServer,
    ) -> None:
        self.lab = lab
        super().__init__(address, handler, context)

    def handshake_failed(self, client_address: Any, exc: BaseException) -> None:
        self.lab._record(
            {
                "time": _now(),
                "event": "tls-handshake-failed",
                "client": str(client_address[0]),
                "error": str(exc) or type(exc).__name__,
            }
        )

    def handshake(self, connection: ssl.SSLSocket, client_address: Any) -> bool:
        failures: list[str] = []
        _verify_state.failures = failures
        try:
            if not super().handshake(connection, client_address):
                return False
        finally:
            _verify_state.failures = None
        if failures:
            # strict mode: as deployed servers do, no alert, no answer, no close_notify
            self.lab._record(
                {
                    "time": _now(),
                    "event": "client-certificate-dropped",
                    "client": str(client_address[0]),
                    "client_serial": _peer_serial(connection, last_rdn=True),
                    "error": "; ".join(dict.fromkeys(failures)),
                }
            )
            return False
        return True


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; every answer has a length; no logging to stderr."""

    protocol_version = "HTTP/1.1"
    server_version = "sztp-lab"
    sys_version = ""
    # answers go out as two writes (headers, body); without this each waits ~40 ms
    disable_nagle_algorithm = True
    server: _LabHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    _pending: dict[str, Any] | None = None

    def _begin(self, record: dict[str, Any]) -> dict[str, Any]:
        self._pending = record
        return record

    def _commit(self) -> None:
        """Log the request's record (once): before the answer's last bytes leave, so that a
        client that has its answer also finds the record."""
        record, self._pending = self._pending, None
        if record is not None:
            self.server.lab._record(record)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        if self._pending is not None:
            self._pending["status"] = status
            self._commit()
        self.send_response(status)
        if content_type is not None and status != 204:
            self.send_header("Content-Type", content_type)
        if status != 204 and status >= 200:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and status != 204 and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _discard_body(self, limit: int = MAX_REQUEST_BODY) -> None:
        """Read and drop a request body of up to ``limit`` bytes, so that the client reads the
        answer before the connection closes; close the connection after a larger one."""
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            return
        if length > limit or length < 0:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(FILE_CHUNK, length))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError


class _BackgroundServer:
    """start/stop, the context manager, the address and the log of both servers."""

    _handler_class: ClassVar[type[_Handler]]
    _thread_name: ClassVar[str]

    def __init__(self, *, host: str, port: int, log_path: Path | None) -> None:
        self.host = host
        self._requested_port = port
        self.log_path = log_path
        self._log_lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        # Called with each record once it is logged (e.g. `sztp-lab serve` prints a line).
        self.on_record: Callable[[dict[str, Any]], None] | None = None
        self._httpd: _LabHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _context(self) -> ssl.SSLContext | None:
        raise NotImplementedError

    def start(self) -> None:
        """Bind and serve in a background thread; returns once the port is known."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        self._stopping.clear()
        httpd = _LabHTTPServer(
            (self.host, self._requested_port), self._handler_class, self._context(), self
        )
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._thread_name}:{httpd.server_port}",
            daemon=True,
        )
        self._httpd, self._thread = httpd, thread
        thread.start()

    def stop(self) -> None:
        """Stop serving, shut the open connections and join every thread; idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return self._httpd.server_port

    @property
    def scheme(self) -> str:
        return "https"

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def log(self) -> list[dict[str, Any]]:
        """A snapshot of the log records, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the records kept in memory (the log file is left as it is)."""
        with self._log_lock:
            self._log.clear()

    def requests(self, event: str | None = None) -> list[dict[str, Any]]:
        """The records of ``event`` (all records when None), oldest first."""
        return [r for r in self.log if event is None or r.get("event") == event]

    def _record(self, record: dict[str, Any]) -> None:
        with self._log_lock:
            self._log.append(record)
            if self.log_path is not None:
                line = json.dumps(record, sort_keys=False) + "\n"
                with self.log_path.open("a", encoding="utf-8") as out:
                    out.write(line)
        if self.on_record is not None:
            self.on_record(dict(record))


# ---------------------------------------------------------------------------------------------
# The bootstrap server


class _Refused(Exception):
    """An answer that ends a request early: status, a RESTCONF error and extra headers."""

    def __init__(
        self,
        status: int,
        tag: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.tag = tag
        self.message = message
        self.headers = dict(headers or {})
        self.close = close


class _BootstrapHandler(_Handler):
    server: _LabHTTPServer
    _answer_type: str = JSON_MEDIA_TYPE

    @property
    def lab(self) -> LabBootstrapServer:
        lab = self.server.lab
        assert isinstance(lab, LabBootstrapServer)
        return lab

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, colon, password = decoded.partition(":")
        return (username, password) if colon else None

    def _dispatch(self) -> None:
        config = self.lab.config
        path = urlsplit(self.path).path
        root = config.served_root()
        basic = self._basic()
        serial = _peer_serial(self.connection, last_rdn=config.strict) or (
            basic[0] if basic else None
        )
        self._answer_type = JSON_MEDIA_TYPE
        authorization = self.headers.get("Authorization")
        record: dict[str, Any] = self._begin(
            {
                "time": _now(),
                "method": self.command,
                "path": self.path,
                "status": None,
                "client_serial": serial,
            }
        )
        chain_length = _peer_chain_length(self.connection)
        if chain_length is not None:
            record["client_chain_len"] = chain_length
        record.update(
            {
                "authorization": authorization.strip().partition(" ")[0].lower()
                if authorization
                else None,
                "username": basic[0] if basic else None,
                "content_type": self.headers.get("Content-Type"),
                "accept": self.headers.get("Accept"),
            }
        )
        rpcs = {
            f"{root}/operations/{GET_BOOTSTRAPPING_DATA}": "get-bootstrapping-data",
            f"{root}/operations/{REPORT_PROGRESS}": "report-progress",
        }
        event = rpcs.get(path) or ("host-meta" if path == HOST_META_PATH else "other")
        record["event"] = event
        try:
            if event == "host-meta":
                self._host_meta(record)
            elif event == "other":
                self._discard_body()
                raise _Refused(404, "invalid-value", f"no resource at {path}")
            else:
                self._rpc(event, record, basic)
        except _Refused as refused:
            record["status"] = refused.status
            record.setdefault("error", refused.message)
            self._send(
                refused.status,
                restconf_errors(refused.tag, refused.message, media_type=self._answer_type),
                self._answer_type,
                refused.headers,
                close=refused.close,
            )
        except (OSError, ValueError):
            raise  # the connection failed: nothing to answer on
        except Exception as exc:  # a bug in the lab: say so in the log and to the device
            traceback.print_exc()
            record["status"] = 500
            record["error"] = f"lab server error: {exc!r}"
            self._send(
                500,
                restconf_errors("operation-failed", record["error"]),
                JSON_MEDIA_TYPE,
                close=True,
            )
        finally:
            self._commit()

    def _host_meta(self, record: dict[str, Any]) -> None:
        self._discard_body()
        if self.command not in {"GET", "HEAD"}:
            raise _Refused(
                405, "operation-not-supported", "host-meta is read with GET", {"Allow": "GET, HEAD"}
            )
        advertised = self.lab.config.host_meta
        if advertised is None:
            raise _Refused(404, "invalid-value", "this server has no host-meta")
        record["status"] = 200
        self._send(200, host_meta_xrd(advertised), XRD_MEDIA_TYPE)

    def _read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise _Refused(
                411, "malformed-message", "send the request with a Content-Length", close=True
            )
        text = self.headers.get("Content-Length", "0").strip()
        if not text.isdigit():
            raise _Refused(400, "malformed-message", "bad Content-Length", close=True)
        length = int(text)
        if length > MAX_REQUEST_BODY:
            self._discard_body(DRAIN_LIMIT)
            raise _Refused(
                413,
                "too-big",
                f"request body of {length} bytes exceeds {MAX_REQUEST_BODY} bytes",
                close=True,
            )
        return self.rfile.read(length) if length else b""

    def _rpc(self, event: str, record: dict[str, Any], basic: tuple[str, str] | None) -> None:
        config = self.lab.config
        if self.command != "POST":
            self._discard_body()
            raise _Refused(
                405, "operation-not-supported", "RPCs are invoked with POST", {"Allow": "POST"}
            )
        body = self._read_body()
        if config.basic_auth is not None:
            expected = config.basic_auth.get(basic[0]) if basic else None
            if (
                basic is None
                or expected is None
                or not hmac.compare_digest(basic[1].encode(), expected.encode())
            ):
                raise _Refused(
                    401,
                    "access-denied",
                    "valid HTTP Basic credentials are required",
                    {"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'},
                )
        served = tuple(t for t in config.media_types if t in (JSON_MEDIA_TYPE, XML_MEDIA_TYPE))
        if served and JSON_MEDIA_TYPE not in served:
            self._answer_type = served[0]
        accept = self.headers.get("Accept")
        if config.strict and accept is not None:
            # D29: deployed servers compare the header whole with the one type they serve
            if accept.strip() not in served:
                raise _Refused(
                    406, "invalid-value", f"Accept must be exactly {' or '.join(served)}"
                )
            self._answer_type = accept.strip()
        content_type = self.headers.get("Content-Type")
        media_type = (content_type or "").strip() if config.strict else _essence(content_type)
        if media_type not in served:
            raise _Refused(415, "invalid-value", f"Content-Type must be {' or '.join(served)}")
        record["body"] = body.decode("utf-8", "replace")
        if event == "get-bootstrapping-data":
            self._get_bootstrapping_data(body, media_type, record)
        else:
            self._report_progress(body, media_type, record)

    def _get_bootstrapping_data(self, body: bytes, media_type: str, record: dict[str, Any]) -> None:
        try:
            request = parse_gbd_request(body, media_type)
        except _BadRequest as exc:
            raise _Refused(400, "malformed-message", str(exc)) from None
        record["input"] = {
            "signed-data-preferred": request.signed_data_preferred,
            "hw-model": request.hw_model,
            "os-name": request.os_name,
            "os-version": request.os_version,
            "nonce": _b64(request.nonce) if request.nonce is not None else None,
        }
        try:  # RFC 9646 members, for the log (D18 checks)
            offered, p10 = csr_members(body, media_type)
        except CSRRefused as exc:
            raise _Refused(400, "malformed-message", str(exc)) from None
        if offered:  # only when present, so records without them stay as they were
            record["input"]["csr-support"] = True
        if p10 is not None:
            record["input"]["p10-csr"] = _b64(p10)
        config = self.lab.config
        serial = record["client_serial"]
        response = config.responses.get(serial) if serial is not None else None
        if response is None:
            response = config.default
        if response is None:
            record["answer"] = "none"
            raise _Refused(404, "invalid-value", f"no bootstrapping data for device {serial}")
        if response.delay > 0:
            self.lab._stopping.wait(response.delay)
        answer_type = response.media_type or self._answer_type
        if response.csr is not None and not self._csr_round(response, body, media_type, record):
            return
        if response.body_override is not None:
            record["answer"] = "override"
            record["status"] = response.status
            self._send(response.status, response.body_override, answer_type)
            return
        if response.status != 200 or response.error_document is not None:
            record["answer"] = "error"
            record["status"] = response.status
            document = response.error_document
            error_type = JSON_MEDIA_TYPE if document is not None else self._answer_type
            if document is None:
                tag = _STATUS_TAGS.get(response.status, "operation-failed")
                document = restconf_errors(
                    tag, f"the lab answers {response.status}", media_type=error_type
                )
            self._send(response.status, document, error_type)
            return

        signed: SignedSet | None = None
        unsigned: bytes | None = None
        if request.signed_data_preferred or response.unsigned is None:
            if response.has_signed:
                try:
                    signed = self._signed(response, request.nonce)
                except Exception as exc:  # a test's factory failed: say so to the device
                    raise _Refused(500, "operation-failed", f"make_signed failed: {exc}") from None
            else:
                unsigned = response.unsigned
        else:
            unsigned = response.unsigned
        if signed is not None:
            record["answer"] = "signed"
            document = output_document(
                signed.conveyed_information,
                signed.owner_certificate,
                signed.ownership_voucher,
                response.reporting_level,
                answer_type,
            )
        elif unsigned is not None:
            record["answer"] = "unsigned"
            document = output_document(unsigned, None, None, response.reporting_level, answer_type)
        else:
            record["answer"] = "none"
            raise _Refused(404, "invalid-value", f"no bootstrapping data for device {serial}")
        record["status"] = 200
        self._send(200, document, answer_type)

    def _csr_round(
        self, response: Response, body: bytes, media_type: str, record: dict[str, Any]
    ) -> bool:
        """Answer a CSR round (False: answered here) or let the data go out (True), with the
        LDevID's onboarding information as the unsigned data once a request was accepted."""
        policy = response.csr
        if policy is None:
            return True
        offered, p10 = csr_members(body, media_type)
        try:
            data = policy.answer(record["client_serial"] or "", offered, p10)
        except CSRRefused as exc:
            raise _Refused(400, "invalid-value", str(exc)) from None
        if data is None:
            record["answer"] = "csr-request"
            record["status"] = 400
            self._send(400, policy.csr_request(self._answer_type), self._answer_type)
            return False
        record["answer"] = "ldevid"
        record["status"] = 200
        document = output_document(
            data, None, None, response.reporting_level, response.media_type or self._answer_type
        )
        self._send(200, document, response.media_type or self._answer_type)
        return False

    @staticmethod
    def _signed(response: Response, nonce: bytes | None) -> SignedSet | None:
        if response.make_signed is not None:
            return response.make_signed(nonce)
        return response.signed

    def _report_progress(self, body: bytes, media_type: str, record: dict[str, Any]) -> None:
        try:
            report = parse_report_request(body, media_type)
        except _BadRequest as exc:
            raise _Refused(400, "malformed-message", str(exc)) from None
        progress_type = report.progress_type
        record["progress-type"] = progress_type
        record["message"] = report.message
        record["ssh-host-keys"] = [
            {"algorithm": algorithm, "key-data": _b64(key_data)}
            for algorithm, key_data in report.ssh_host_keys
        ]
        record["trust-anchor-certs"] = len(report.trust_anchor_certs)
        record["trust-anchor-cert-values"] = [_b64(c) for c in report.trust_anchor_certs]
        config = self.lab.config
        status = config.report_status_for.get(progress_type, config.report_status)
        record["status"] = status
        if status == 204:
            self._send(204)
        elif status >= 300:
            tag = _STATUS_TAGS.get(status, "operation-failed")
            answer = restconf_errors(tag, f"the lab answers {status}", media_type=self._answer_type)
            self._send(status, answer, self._answer_type)
        else:
            self._send(status, json.dumps({f"{MODULE}:output": {}}).encode(), JSON_MEDIA_TYPE)


class LabBootstrapServer(_BackgroundServer):
    """An RFC 8572 bootstrap server on ``host`` (loopback), answering as ``config`` says.

    Log records (``log``, ``requests(event)``, and one JSON line each in ``log_path``):

    every request: ``time``, ``method``, ``path``, ``status``, ``client_serial`` (certificate
    serialNumber, else Basic username, else None), ``client_chain_len`` (certificates the client
    sent, when this Python can tell), ``authorization`` (the scheme, lower case, e.g. "basic",
    or None), ``username``, ``content_type``, ``accept``, ``event``
    ("get-bootstrapping-data", "report-progress", "host-meta" or "other"), and ``error`` for
    refused requests.  get-bootstrapping-data adds ``input`` (``signed-data-preferred`` bool,
    ``hw-model``, ``os-name``, ``os-version``, ``nonce`` base64 or None) and ``answer``
    ("signed", "unsigned", "error", "override" or "none").  report-progress adds
    ``progress-type``, ``message``, ``ssh-host-keys`` ([{algorithm, key-data (base64)}]),
    ``trust-anchor-certs`` (a count) and ``trust-anchor-cert-values`` (base64 each).  Both
    RPCs record ``body``, the request body as sent (UTF-8 text), once its media type is
    accepted.  A failed TLS handshake is recorded as event "tls-handshake-failed" with
    ``client`` and ``error``; a strict server's drop of a client certificate that does not
    validate as "client-certificate-dropped" with ``client``, ``client_serial`` and ``error``.
    """

    _handler_class = _BootstrapHandler
    _thread_name = "sztp-lab-bootstrap"

    def __init__(
        self,
        config: ServerConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(host=host, port=port, log_path=log_path)
        self.config = config

    def _context(self) -> ssl.SSLContext:
        return tls_server_context(
            self.config.identity,
            self.config.client_ca,
            require_client_certificate=self.config.require_client_certificate,
            minimum_version=self.config.tls_minimum_version,
            maximum_version=self.config.tls_maximum_version,
            drop_unverified_clients=self.config.strict,
        )

    @property
    def restconf_root(self) -> str:
        return self.config.served_root()

    @property
    def get_bootstrapping_data_url(self) -> str:
        return f"{self.url}{self.restconf_root}/operations/{GET_BOOTSTRAPPING_DATA}"

    @property
    def report_progress_url(self) -> str:
        return f"{self.url}{self.restconf_root}/operations/{REPORT_PROGRESS}"

    def reports(self) -> list[str]:
        """The progress types reported (and parsed), in order."""
        return [
            r["progress-type"] for r in self.requests("report-progress") if "progress-type" in r
        ]


# ---------------------------------------------------------------------------------------------
# The file server


class _Unsatisfiable(Exception):
    pass


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks of a ``size``-byte file.

    None means "send the whole file" (no header, a header this server ignores: not bytes,
    several ranges, malformed).  An unsatisfiable range raises ``_Unsatisfiable``.
    """
    if header is None:
        return None
    unit, equals, spec = header.strip().partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not first:
        if not last.isdigit():
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def _route_key(path: str) -> str:
    return "/" + path.lstrip("/")


def _lookup(mapping: Mapping[str, int], key: str) -> int | None:
    """``mapping[key]``, the key with or without its leading slash."""
    value = mapping.get(key)
    return value if value is not None else mapping.get(key.lstrip("/"))


class _FileHandler(_Handler):
    server: _LabHTTPServer

    @property
    def lab(self) -> LabFileServer:
        lab = self.server.lab
        assert isinstance(lab, LabFileServer)
        return lab

    def _resolve(self, url_path: str) -> Path | None:
        parts = [p for p in unquote(url_path).split("/") if p]
        if not parts or any(p in {".", ".."} or "\\" in p or "\x00" in p for p in parts):
            return None
        target = self.lab.directory.joinpath(*parts)
        return target if target.is_file() else None

    def _dispatch(self) -> None:
        url_path = urlsplit(self.path).path
        key = _route_key(url_path)
        record: dict[str, Any] = self._begin(
            {
                "time": _now(),
                "event": "file",
                "method": self.command,
                "path": self.path,
                "status": None,
                "range": self.headers.get("Range"),
                "sent": 0,
            }
        )
        try:
            self._serve(url_path, key, record)
        finally:
            self._commit()

    def _serve(self, url_path: str, key: str, record: dict[str, Any]) -> None:
        if self.command not in {"GET", "HEAD"}:
            self._discard_body()
            record["status"] = 405
            self._send(
                405, b"method not allowed\n", "text/plain", {"Allow": "GET, HEAD"}, close=True
            )
            return
        failure = _lookup(self.lab.fail, key)
        if failure is not None:
            record["status"] = failure
            self._send(failure, f"injected failure {failure}\n".encode(), "text/plain")
            return
        target = self._resolve(url_path)
        if target is None:
            record["status"] = 404
            self._send(404, b"not found\n", "text/plain")
            return
        size = target.stat().st_size
        try:
            wanted = _parse_range(self.headers.get("Range"), size)
        except _Unsatisfiable:
            record["status"] = 416
            self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
            return
        start, end = wanted if wanted is not None else (0, size - 1)
        length = end - start + 1 if size else 0
        status = 206 if wanted is not None else 200
        record["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if wanted is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        limit = _lookup(self.lab.truncate, key)
        to_send = length if limit is None else min(limit, length)
        if to_send < length and self.command != "HEAD":
            self.send_header("Connection", "close")
            self.close_connection = True
            record["truncated"] = True
        if self.command == "HEAD" or to_send == 0:
            self._commit()
            self.end_headers()
            self.wfile.flush()
            return
        self.end_headers()
        record["sent"] = to_send
        sent = 0
        with target.open("rb") as source:
            source.seek(start)
            while sent < to_send:
                chunk = source.read(min(FILE_CHUNK, to_send - sent))
                if not chunk:  # the file shrank meanwhile
                    record["sent"] = sent
                    self.close_connection = True
                    break
                if sent + len(chunk) >= to_send:
                    self._commit()
                self.wfile.write(chunk)
                sent += len(chunk)
        self.wfile.flush()


class LabFileServer(_BackgroundServer):
    """Files of ``directory`` over HTTPS (``identity``), or plain HTTP when ``identity`` is None.

    GET and HEAD; ``Range: bytes=a-b`` / ``a-`` / ``-n`` give 206 with Content-Range, an
    unsatisfiable range 416; other methods 405; missing files (and paths with ``..``) 404.
    Files are streamed in 64 KiB chunks.  ``fail`` maps a URL path (``/name``, the leading slash
    optional) to a status answered instead; ``truncate`` maps one to a byte count after which
    the connection is closed (the headers promise the full length).  Both are plain dicts that
    tests may change while the server runs.

    Log records: ``time``, ``event`` ("file"), ``method``, ``path``, ``status``, ``range`` (the
    Range header or None), ``sent`` (body bytes written) and ``truncated`` when cut short.
    """

    _handler_class = _FileHandler
    _thread_name = "sztp-lab-files"

    def __init__(
        self,
        directory: Path,
        *,
        identity: Issued | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        fail: Mapping[str, int] | None = None,
        truncate: Mapping[str, int] | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(host=host, port=port, log_path=log_path)
        self.directory = Path(directory)
        self.identity = identity
        self.fail: dict[str, int] = {_route_key(k): v for k, v in (fail or {}).items()}
        self.truncate: dict[str, int] = {_route_key(k): v for k, v in (truncate or {}).items()}

    def _context(self) -> ssl.SSLContext | None:
        if self.identity is None:
            return None
        return tls_server_context(self.identity)

    @property
    def scheme(self) -> str:
        return "http" if self.identity is None else "https"

    def url_for(self, name: str) -> str:
        """The URL of file ``name`` (relative to the served directory)."""
        return f"{self.url}{_route_key(name)}"
