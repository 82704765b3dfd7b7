"""TLS client contexts for bootstrap servers: trusted and provisional (RFC 8572 §5.3, §5.5).

* :func:`trusted_context` authenticates the server by X.509 path validation to the trust anchors
  in use, and only to them (never the system store), with the host-name check (R-017, RFC 6125).
  Any certificate can be an anchor, self-signed or not (D12).  Under an untrusted clock no
  validity period is enforced (D10).
* :func:`provisional_context` accepts any server certificate (R-060, R-061): what such a server
  returns must be signed, and it gets nothing secret (D18).

Both present the device's client certificate with all its intermediates when one is configured
(R-018, R-019): the :class:`~sztp_client.identity.base.Identity` configures the
context, from files or with the key inside a TPM.  The contexts are plain
:class:`ssl.SSLContext` objects for the HTTP layer in :mod:`sztp_client.transport.restconf`.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.identity.base import Identity
from sztp_client.trust.clock import Clock

__all__ = ["X509_V_FLAG_NO_CHECK_TIME", "provisional_context", "trusted_context"]

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (x509_vfy.h): skip the validity-period checks.  Python has
# no name for it but passes the verify flags through to X509_VERIFY_PARAM_set_flags unchanged.
X509_V_FLAG_NO_CHECK_TIME: Final = 0x200000


def _base_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _load_identity(context: ssl.SSLContext, identity: Identity | None) -> None:
    if identity is not None:
        identity.configure_tls(context)


def trusted_context(
    anchors: Sequence[x509.Certificate], clock: Clock, identity: Identity | None
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
    the identity's typed errors when it cannot authenticate (identity files unreadable, ...).
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


def provisional_context(identity: Identity | None) -> ssl.SSLContext:
    """A context that accepts any server certificate ("blind" TLS, R-060, R-061).

    TLS 1.2 or later.  The client certificate is still presented: the device identifies itself
    to every bootstrap server (R-018).
    """
    context = _base_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _load_identity(context, identity)
    return context
