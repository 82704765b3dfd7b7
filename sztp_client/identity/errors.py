"""Errors of the identity back-ends, in the project's one hierarchy (see sztp_client.errors).

A missing package, an unreachable TPM, a missing key or a platform on which TLS with a TPM key
cannot work each has its own class, so that the caller can say exactly what to fix.
"""

from __future__ import annotations

from sztp_client.errors import EXIT_SOFTWARE, EXIT_TEMPFAIL, ConfigurationError, SZTPError


class TPMSupportMissingError(ConfigurationError):
    """The TPM back-end is configured but tpm2-pytss (or the TSS libraries) cannot be loaded."""


class TPMConnectionError(SZTPError):
    """The TPM did not answer through the configured TCTI (no device, simulator down, ...).

    Retryable: a TPM resource manager or simulator that comes back later may answer then.
    """

    progress_type = None
    retryable = True
    exit_code = EXIT_TEMPFAIL


class TPMKeyError(ConfigurationError):
    """The configured key handle holds no usable key (absent, wrong type, wrong attributes)."""


class TPMCertificateError(ConfigurationError):
    """The IDevID certificate (PEM file or NV index) is absent, malformed or too large."""


class TPMOperationError(SZTPError):
    """The TPM refused an operation with the device's key; the message carries its code."""

    exit_code = EXIT_SOFTWARE


class TLSKeyMechanismError(ConfigurationError):
    """TLS with the TPM key cannot work in this process: the OpenSSL or CPython facts the
    mechanism relies on do not hold (see sztp_client.identity.tls_key)."""


__all__ = [
    "TLSKeyMechanismError",
    "TPMCertificateError",
    "TPMConnectionError",
    "TPMKeyError",
    "TPMOperationError",
    "TPMSupportMissingError",
]
