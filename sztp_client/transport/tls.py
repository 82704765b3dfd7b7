"""TLS client contexts for bootstrap servers: trusted and provisional (RFC 8572 §5.3, §5.5).

* :func:`trusted_context` authenticates the server by X.509 path validation to the trust anchors
  in use, and only to them (never the system store), with the host-name check (R-017, RFC 6125).
  Any certificate can be an anchor, self-signed or not (D12).  Under an untrusted clock no
  validity period is enforced (D10).
* :func:`provisional_context` accepts any server certificate (R-060, R-061): what such a server
  returns must be signed, and it gets nothing secret (D18).

Both present the device's client certificate with all its intermediates when one is configured
(R-018, R-019).  The contexts are plain :class:`ssl.SSLContext` objects for the HTTP layer in
:mod:`sztp_client.transport.restconf`.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import ConfigurationError
from sztp_client.trust.clock import Clock

__all__ = ["X509_V_FLAG_NO_CHECK_TIME", "ClientIdentity", "provisional_context", "trusted_context"]

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (x509_vfy.h): skip the validity-period checks.  Python has
# no name for it but passes the verify flags through to X509_VERIFY_PARAM_set_flags unchanged.
X509_V_FLAG_NO_CHECK_TIME: Final = 0x200000


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """The device's TLS client identity, as files.

    ``certificate`` is a PEM file with the IDevID end-entity certificate first, followed by its
    intermediate CA certificates: all of them are sent in the handshake (R-019).  ``key`` is the
    PEM private key of the end-entity certificate, unencrypted.
    """

    certificate: Path
    key: Path


def _base_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _load_identity(context: ssl.SSLContext, identity: ClientIdentity | None) -> None:
    if identity is None:
        return
    try:
        context.load_cert_chain(certfile=identity.certificate, keyfile=identity.key)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigurationError(
            f"cannot load the client certificate {str(identity.certificate)!r} with the key "
            f"{str(identity.key)!r}: {reason}; the certificate file must be PEM (the device "
            "certificate, then its intermediates) and the key an unencrypted PEM key that "
            "belongs to it",
            key="identity",
        ) from exc


def trusted_context(
    anchors: Sequence[x509.Certificate], clock: Clock, identity: ClientIdentity | None
) -> ssl.SSLContext:
    """A context that authenticates the server to ``anchors`` only, host name included.

    TLS 1.2 or later; the certificate is required and the host name checked (the caller passes
    the server's name or IP literal as ``server_hostname``).  Each anchor ends a path even when
    it is not self-signed (``VERIFY_X509_PARTIAL_CHAIN``, D12).

    Under an untrusted clock validity periods are not checked at all
    (``X509_V_FLAG_NO_CHECK_TIME``, D10).  Under a trusted clock they are checked by OpenSSL's
    verifier, which reads the system clock, not ``clock.now``: that mode assumes the system
    clock is right.

    Raises ``ValueError`` without anchors (a programming error) and
    :class:`~sztp_client.errors.ConfigurationError` when the identity files cannot be loaded.
    """
    if not anchors:
        raise ValueError("a trusted TLS context needs at least one trust anchor")
    context = _base_context()
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    pem = "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in anchors)
    context.load_verify_locations(cadata=pem)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if not clock.trusted:
        context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    _load_identity(context, identity)
    return context


def provisional_context(identity: ClientIdentity | None) -> ssl.SSLContext:
    """A context that accepts any server certificate ("blind" TLS, R-060, R-061).

    TLS 1.2 or later.  The client certificate is still presented: the device identifies itself
    to every bootstrap server (R-018).
    """
    context = _base_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _load_identity(context, identity)
    return context
