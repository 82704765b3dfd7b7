"""The key file store for RFC 9646 LDevID keys.

A csr-request that selects an algorithm makes a fresh private key here: a PEM file, mode
0600, written atomically under the state directory (or where configured).  The key stays
where it was made; a later csr-request in the same exchange deletes the previous round's key
first.  Once an LDevID certificate has been written to the path handed to the
post-configuration script (``SZTP_LDEVID_CERT``), :meth:`LDevIDKeyStore.check_certificate`
tells whether it certifies the new key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.errors import CSRRequestError, DataError
from sztp_client.files import read_bounded
from sztp_client.state.store import write_atomic

MAX_LDEVID_CERT_OCTETS = 64 * 1024

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class LDevIDMismatchError(DataError):
    """The installed LDevID certificate does not certify the key made for the CSR."""

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
