"""The key file store for RFC 9646 LDevID keys.

A csr-request that selects an algorithm makes a fresh private key here: a PEM file, mode
0600, written atomically under the state directory (or where configured).  The key stays
where it was made; a later csr-request in the same exchange deletes the previous round's key
first.  Once an LDevID certificate has been written to the path handed to the
post-configuration script (``SZTP_LDEVID_CERT``), :meth:`LDevIDKeyStore.check_certificate`
tells whether it certifies the new key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.errors import CSRRequestError, DataError, ServerError
from sztp_client.files import read_bounded
from sztp_client.model.rpc import GetBootstrappingDataInput
from sztp_client.progress import ProgressType
from sztp_client.protocol import csr
from sztp_client.state.store import write_atomic

MAX_LDEVID_CERT_OCTETS = 64 * 1024

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class LDevIDMismatchError(DataError):
    """The installed LDevID certificate does not certify the key made for the CSR."""

    progress_type = ProgressType.BOOTSTRAP_ERROR

    diagnosis = "the certificate written to SZTP_LDEVID_CERT is not for the device's new key"


@dataclass
class LDevIDKeyStore:
    """Key file at ``key_path``; the LDevID certificate is expected at ``cert_path``."""

    key_path: Path
    cert_path: Path
    _key: PrivateKey | None = field(default=None, init=False, repr=False)

    def generate(self, algorithm: str) -> PrivateKey:
        """A fresh key for ``algorithm`` (``ec-p256`` or ``rsa-2048``); any previous key of
        this store is deleted first."""
        self.delete()
        key: PrivateKey
        if algorithm == "ec-p256":
            key = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "rsa-2048":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise CSRRequestError(f"no key generation for algorithm {algorithm!r}")
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.key_path, pem, mode=0o600)
        self._key = key
        return key

    def delete(self) -> None:
        """Remove the key file (a previous round's key no longer exists afterwards)."""
        self._key = None
        self.key_path.unlink(missing_ok=True)

    def spki_der(self) -> bytes:
        return (
            self._require()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(self, data: bytes) -> bytes:
        key = self._require()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def _require(self) -> PrivateKey:
        if self._key is None:
            raise CSRRequestError("no key has been generated for the certificate request")
        return self._key

    def check_certificate(self) -> bool:
        """False when no certificate was installed; True when the installed one certifies
        the new key; :class:`LDevIDMismatchError` otherwise."""
        if not self.cert_path.exists():
            return False
        data = read_bounded(self.cert_path, MAX_LDEVID_CERT_OCTETS, "the LDevID certificate")
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            try:
                cert = x509.load_der_x509_certificate(data)
            except ValueError:
                raise LDevIDMismatchError(
                    f"{self.cert_path}: not a certificate (PEM or DER)"
                ) from None
        theirs = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if self._key is None or theirs != self.spki_der():
            raise LDevIDMismatchError(
                f"{self.cert_path}: the LDevID certificate does not certify the new key"
            )
        return True


def csr_request_of(error: Exception) -> Mapping[str, object] | None:
    """The csr-request of a server's 400 reply, if that is what ``error`` is."""
    if not isinstance(error, ServerError) or error.status != 400:
        return None
    return csr.find_csr_request(error.error_info)


def answer(
    first: GetBootstrappingDataInput,
    request: Mapping[str, object],
    rounds: int,
    store: LDevIDKeyStore,
    idevid_subject: bytes,
) -> GetBootstrappingDataInput:
    """The request that answers ``request`` (round ``rounds``): a fresh key in ``store`` (the
    previous round's deleted) and a p10-csr over it; csr-support is not sent again.  A
    refused csr-request deletes any key made and raises :class:`CSRRequestError`."""
    if rounds > csr.MAX_CSR_ROUNDS:
        store.delete()
        raise CSRRequestError(
            f"the server asked for a certificate request {rounds} times; at most "
            f"{csr.MAX_CSR_ROUNDS} rounds are answered"
        )
    try:
        asked = csr.parse_csr_request(request)
        if asked.algorithm is None:
            raise CSRRequestError(
                "the csr-request has no key-generation: the device signs requests only with a "
                "new key"
            )
        if asked.cert_req_info is not None:
            csr.load_cert_req_info(asked.cert_req_info, asked.algorithm)
        store.generate(asked.algorithm)
        der = csr.build_p10_csr(
            algorithm=asked.algorithm,
            spki_der=store.spki_der(),
            sign=store.sign,
            cert_req_info=asked.cert_req_info,
            subject_der=idevid_subject,
        )
    except CSRRequestError:
        store.delete()
        raise
    return msgspec.structs.replace(first, csr_support=False, p10_csr=der)


def script_environment(store: LDevIDKeyStore | None) -> dict[str, str]:
    """``SZTP_LDEVID_KEY`` and ``SZTP_LDEVID_CERT`` for the scripts, once a key was made."""
    if store is None or not store.key_path.exists():
        return {}
    return {"SZTP_LDEVID_KEY": str(store.key_path), "SZTP_LDEVID_CERT": str(store.cert_path)}
