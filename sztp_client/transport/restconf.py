"""The RESTCONF client for one bootstrap server (RFC 8572 §7, RFC 8040).

* :func:`parse_server_uri` reads a bootstrap-server URI (R-099, D9) into a
  :class:`ServerEndpoint`; :func:`resolve` turns its host into addresses, so that the caller can
  try them one by one.
* :class:`RestconfClient` talks to one server at one address: RESTCONF root discovery through
  ``/.well-known/host-meta`` (:mod:`sztp_client.transport.host_meta` reads the XRD) with the
  ``/restconf`` fallback (R-083, D9), get-bootstrapping-data
  (R-084..R-089) and report-progress (R-090).  A trusted client authenticates the server
  (:func:`~sztp_client.transport.tls.trusted_context`) and may send HTTP Basic credentials; a
  provisional one accepts any server certificate and never sends credentials, progress reports
  or anything but ``signed-data-preferred`` and a nonce (D18).

Every reply body is read with a size bound before it is parsed (D19); every request has connect
and read timeouts; nothing is retried and no redirect is followed.  Replies other than 200 to
get-bootstrapping-data raise :class:`~sztp_client.errors.ServerError` with the RESTCONF error
document's error-tag, error-message and error-info (D8; RFC 9646's csr-request arrives in
``error_info``).

HTTP is done with urllib3 directly: it can connect to one resolved address while verifying the
certificate for the server's host name (``server_hostname``), takes an :class:`ssl.SSLContext`
as built here, and streams bodies so that they can be bounded.
"""

from __future__ import annotations

import base64
import logging
import ssl
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

import msgspec
import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from sztp_client import __version__
from sztp_client.errors import (
    DataError,
    MediaTypeError,
    ReportRejectedError,
    ServerError,
)
from sztp_client.identity.base import Identity
from sztp_client.limits import Limits
from sztp_client.model.rpc import (
    JSON_MEDIA_TYPE,
    XML_MEDIA_TYPE,
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportProgressInput,
    parse_get_bootstrapping_data_output,
)
from sztp_client.model.server_uri import GET_BOOTSTRAPPING_DATA, REPORT_PROGRESS, ServerEndpoint
from sztp_client.transport.host_meta import (
    DEFAULT_RESTCONF_ROOT,
    HOST_META_PATH,
    XRD_MEDIA_TYPE,
    restconf_link,
)
from sztp_client.transport.http import (
    Timeouts,
    read_bounded,
    shown,
    transport_error,
    unverified_is_intended,
)
from sztp_client.transport.limits import TransportLimits
from sztp_client.transport.tls import provisional_context, trusted_context
from sztp_client.trust.clock import Clock
from sztp_client.trust.hops import ServerTrust

if TYPE_CHECKING:
    from sztp_client.model.restconf_errors import ErrorDocument

__all__ = ["MEDIA_TYPES", "RestconfClient"]

_log = logging.getLogger(__name__)

# D29: one media type in Accept, and the same as Content-Type; deployed servers compare these
# headers whole (406, 415 otherwise).
MEDIA_TYPES: Final = {"json": JSON_MEDIA_TYPE, "xml": XML_MEDIA_TYPE}
_USER_AGENT: Final = f"sztp-client/{__version__}"

_DEFAULT_LIMITS: Final = TransportLimits.of(Limits())
_DEFAULT_TIMEOUTS: Final = Timeouts()

# ---------------------------------------------------------------------------------------------
# the client


class _Reply(msgspec.Struct, frozen=True):
    status: int
    reason: str
    media_type: str
    body: bytes


def _error_document(reply: _Reply) -> ErrorDocument | None:
    """The RESTCONF error document of a reply that is not a success (D8); its parser is
    loaded with the first such reply."""
    if not reply.body:
        return None
    from sztp_client.model.restconf_errors import parse_error_document  # noqa: PLC0415

    return parse_error_document(reply.body, reply.media_type)


class RestconfClient:
    """One bootstrap server at one resolved address.

    ``trust`` is the hop's decision (:class:`sztp_client.trust.hops.ServerTrust`, made by the
    trust owner alone): when trusted, authenticate the server to its anchors (host name
    ``endpoint.host``, an IP literal matched against IP-address SANs) under ``clock`` and send
    ``basic_auth``.  Otherwise the connection is provisional: any server certificate is
    accepted, ``basic_auth`` is never sent and no report is posted (D18, R-092).  What the
    request body may hold is the trust owner's decision too (it builds the body).
    ``identity``, when given, is presented to every server (R-018).

    Raises :class:`ConnectError` (connection, timeout), :class:`TLSError` (handshake),
    :class:`ServerError` (HTTP error reply), :class:`ReportRejectedError`,
    :class:`SizeLimitError`, :class:`EncodingError` and :class:`ModelError` (reply content).
    """

    def __init__(
        self,
        endpoint: ServerEndpoint,
        address: str,
        *,
        trust: ServerTrust,
        clock: Clock,
        identity: Identity | None,
        basic_auth: tuple[str, str] | None = None,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        limits: TransportLimits = _DEFAULT_LIMITS,
        encoding: str = "json",
    ) -> None:
        if encoding not in MEDIA_TYPES:
            raise ValueError(f"the encoding is json or xml, not {encoding!r}")
        self.encoding = encoding
        self.media_type = MEDIA_TYPES[encoding]
        self._client_certificate = identity is not None
        self.endpoint = endpoint
        self.address = address
        self.trust = trust
        trusted = trust.trusted
        self.limits = limits
        self.target = f"https://{endpoint.authority}"
        if address != endpoint.host:
            self.target += f" ({address})"
        self._headers = {
            "Host": endpoint.authority,
            "User-Agent": _USER_AGENT,
            "Accept-Encoding": "identity",
        }
        if trusted:
            context = trusted_context(trust.anchors, clock, identity)
            cert_reqs = ssl.CERT_REQUIRED
            if basic_auth is not None and trust.may_send_credentials:
                user, password = basic_auth
                if ":" in user:
                    raise ValueError("an HTTP Basic user name cannot contain ':'")
                token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                self._headers["Authorization"] = f"Basic {token}"
        else:
            context = provisional_context(identity)
            cert_reqs = ssl.CERT_NONE
        # With assert_hostname None urllib3 leaves check_hostname on: OpenSSL checks the name
        # (or the IP-address SANs of an IP literal) in the handshake.  Provisional: no check.
        self._pool = urllib3.HTTPSConnectionPool(
            address,
            endpoint.port,
            timeout=timeouts.as_urllib3(),
            maxsize=1,
            retries=False,
            ssl_context=context,
            cert_reqs=cert_reqs,
            server_hostname=endpoint.host,
            assert_hostname=None if trusted else False,
        )
        self._root: str | None = endpoint.root

    # -- plumbing ------------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        limit: int,
        what: str,
        error_limit: int | None = None,
    ) -> _Reply:
        """Send one request and read its reply, the body bounded by ``limit`` on 2xx replies
        and by ``error_limit`` (default ``limit``) on others.  An error body over its bound is
        dropped: the status is what matters."""
        try:
            with unverified_is_intended(not self.trust.trusted):
                response = self._pool.urlopen(
                    method,
                    path,
                    body=body,
                    headers={**self._headers, **headers},
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,
                )
        except (Urllib3HTTPError, OSError) as exc:
            raise transport_error(
                exc, self.target, client_certificate=self._client_certificate
            ) from exc
        success = 200 <= response.status < 300
        completed = False
        try:
            media_type = response.headers.get("Content-Type", "")
            bound = limit if success or error_limit is None else error_limit
            try:
                data = read_bounded(response, bound, what)
            except DataError as exc:
                if success:
                    raise
                _log.info("%s: unreadable error body from %s: %s", what, self.target, exc)
                data, media_type = b"", ""
            else:
                completed = True
            return _Reply(response.status, response.reason or "", media_type, data)
        except (Urllib3HTTPError, OSError) as exc:
            raise transport_error(
                exc, self.target, client_certificate=self._client_certificate
            ) from exc
        finally:
            if not completed:
                response.close()  # an unread body: do not reuse the connection
            response.release_conn()

    def _server_error(self, what: str, reply: _Reply) -> ServerError:
        document = _error_document(reply)
        message = f"{what} at {self.target}: HTTP {reply.status}"
        if reply.reason:
            message += f" {shown(reply.reason)}"
        error_class = ServerError
        if reply.status in (406, 415):
            # D29: the server does not serve the media type sent; asking again will not help
            error_class = MediaTypeError
            message += (
                f"; the client sent Accept and Content-Type {self.media_type} "
                "(network.encoding): the server does not serve that media type"
            )
        if document is None:
            if reply.body:
                message += " (the reply is not a RESTCONF error document)"
            return error_class(message, status=reply.status)
        if document.tag:
            message += f", {shown(document.tag)}"
        if document.message:
            message += f": {shown(document.message)}"
        return error_class(
            message,
            status=reply.status,
            error_tag=document.tag,
            error_message=None if document.message is None else shown(document.message),
            error_info=document.info,
        )

    def _operation_path(self, operation: str) -> str:
        return f"{self.restconf_root()}/operations/{operation}"

    # -- RESTCONF ------------------------------------------------------------------------------

    def restconf_root(self) -> str:
        """The RESTCONF root path (no trailing slash; ``""`` for the server's root).

        The URI's path when it gave one; else the ``restconf`` link of
        ``/.well-known/host-meta`` (RFC 8040 §3.1), falling back to ``/restconf`` when there
        is none, the reply is not 200 or the XRD is unusable (D9, R-083).  Connection and TLS
        failures are raised.  The result is kept for the client's lifetime.
        """
        if self._root is None:
            self._root = self._discover_root()
        return self._root

    def _discover_root(self) -> str:
        try:
            reply = self._exchange(
                "GET",
                HOST_META_PATH,
                headers={"Accept": XRD_MEDIA_TYPE},
                limit=self.limits.host_meta,
                what="host-meta",
            )
            if reply.status != 200:
                _log.info(
                    "host-meta at %s: HTTP %d; using %s",
                    self.target,
                    reply.status,
                    DEFAULT_RESTCONF_ROOT,
                )
                return DEFAULT_RESTCONF_ROOT
            root = restconf_link(reply.body, self.endpoint)
        except DataError as exc:
            _log.info("host-meta at %s: %s; using %s", self.target, exc, DEFAULT_RESTCONF_ROOT)
            return DEFAULT_RESTCONF_ROOT
        _log.debug("host-meta at %s: RESTCONF root %r", self.target, root)
        return root

    def get_bootstrapping_data(
        self, request: GetBootstrappingDataInput
    ) -> GetBootstrappingDataOutput:
        """POST get-bootstrapping-data (R-084, R-085) and parse the 200 reply (R-089).

        The body is sent as given: the trust owner built it for this hop (D18).  Replies
        other than 200 raise
        :class:`ServerError` carrying the RESTCONF error-tag, error-message and error-info
        (D8; RFC 9646's 400 with ``ietf-sztp-csr:csr-request`` in ``error_info``).
        """
        body = request.to_json() if self.encoding == "json" else request.to_xml()
        reply = self._exchange(
            "POST",
            self._operation_path(GET_BOOTSTRAPPING_DATA),
            headers={"Content-Type": self.media_type, "Accept": self.media_type},
            body=body,
            limit=self.limits.response,
            error_limit=self.limits.error_document,
            what="get-bootstrapping-data reply",
        )
        if reply.status != 200:
            raise self._server_error("get-bootstrapping-data", reply)
        return parse_get_bootstrapping_data_output(reply.body, reply.media_type)

    def report_progress(self, report: ReportProgressInput) -> None:
        """POST report-progress (R-090); only a 204 reply is success (R-067, R-078).

        Only where the hop's trust decision allows reports (R-066); elsewhere this is a
        programming error (``ValueError``).  Any other status raises :class:`ReportRejectedError`.
        """
        if not self.trust.may_report:
            raise ValueError("progress reports never go to an untrusted bootstrap server")
        reply = self._exchange(
            "POST",
            self._operation_path(REPORT_PROGRESS),
            headers={"Content-Type": self.media_type, "Accept": self.media_type},
            body=report.to_json() if self.encoding == "json" else report.to_xml(),
            limit=self.limits.report_reply,
            what="report-progress reply",
        )
        if reply.status == 204:
            return
        if reply.status in (406, 415):
            raise self._server_error(f"report-progress ({report.progress_type.value})", reply)
        message = (
            f"report-progress ({report.progress_type.value}) at {self.target}: HTTP "
            f"{reply.status}, expected 204 No Content"
        )
        document = _error_document(reply)
        if document is not None and (document.tag or document.message):
            message += f" ({shown(document.tag or '')}: {shown(document.message or '')})"
        raise ReportRejectedError(message, status=reply.status)

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
