"""The named steps of the verification pipeline (:mod:`sztp_client.trust.verifier`) and what
every step uses: :func:`labelled` names the step of any DataError raised inside it,
:func:`fail` makes a step's refusal, :class:`PathBudget` bounds the path validations of one
artifact (D28).  Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509

from sztp_client.errors import DataError, TrustError


class Step(enum.StrEnum):
    """Stable names of the verification steps, in the order they run."""

    DECODE = "decode"
    CONSISTENCY = "consistency"
    VOUCHER_SIGNATURE = "voucher-signature"
    VOUCHER_SIGNER_POLICY = "voucher-signer-policy"
    VOUCHER_CONTENT = "voucher-content"
    VOUCHER_VALIDITY = "voucher-validity"
    VOUCHER_ASSERTION = "voucher-assertion"
    VOUCHER_SERIAL_NUMBER = "voucher-serial-number"
    VOUCHER_IDEVID_ISSUER = "voucher-idevid-issuer"
    VOUCHER_NONCE = "voucher-nonce"
    OWNER_CERTIFICATE = "owner-certificate"
    REVOCATION = "revocation"
    OWNER_KEY_USAGE = "owner-key-usage"
    CONVEYED_INFORMATION_SIGNATURE = "conveyed-information-signature"
    CONVEYED_INFORMATION = "conveyed-information"
    SOURCE = "source"


@contextmanager
def labelled(step: Step) -> Iterator[None]:
    """Label any DataError raised inside with ``step`` (unless a deeper step already did)."""
    try:
        yield
    except DataError as exc:
        if exc.step is None:
            exc.step = step.value
        raise


def fail(step: Step, message: str) -> TrustError:
    return TrustError(step.value, message)


class PathBudget:
    """Counts the path validations spent on one artifact (D28)."""

    def __init__(self, limit: int, step: Step, what: str) -> None:
        self.limit = limit
        self.used = 0
        self.step = step
        self.what = what

    def spend(self) -> None:
        if self.used >= self.limit:
            raise fail(
                self.step,
                f"the {self.what} needs more than {self.limit} certificate path validations "
                "(limits.path-validations); an honest artifact needs one",
            )
        self.used += 1


def require_digital_signature(cert: x509.Certificate, step: Step, role: str) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise fail(
            step,
            f"the {role} certificate {cert_name(cert)} has a KeyUsage without digitalSignature, "
            "so it may not sign",
        )


def cert_name(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string()}'"
