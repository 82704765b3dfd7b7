"""Where RFC 9646 LDevID keys are made, and the rounds of certificate requests.

A csr-request that selects an algorithm makes a fresh private key in a key store
(:class:`LDevIDKeyStore`): the key stays where it was made; a later csr-request in the same
exchange deletes the previous round's key first.  Two stores:

* :class:`FileKeyStore`: a PEM file, mode 0600, written atomically under the state directory
  (or where configured); for a file identity, or none;
* :class:`sztp_client.identity.ldevid_tpm.TPMKeyStore`: a key made inside the TPM and
  persisted at ``identity.ldevid.tpm-handle``; for a TPM identity (the new key protected as
  well as the IDevID's), imported only then.

Once an LDevID certificate has been written to the path handed to the post-configuration
script (``SZTP_LDEVID_CERT``), ``check_certificate`` tells whether it certifies the new key.
The same stores remove the LDevID and its key at a factory reset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from sztp_client.errors import CSRRequestError, DataError, ServerError
from sztp_client.progress import ProgressType

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from sztp_client.model.rpc import GetBootstrappingDataInput

MAX_LDEVID_CERT_OCTETS = 64 * 1024


class LDevIDMismatchError(DataError):
    """The installed LDevID certificate does not certify the key made for the CSR."""

    progress_type = ProgressType.BOOTSTRAP_ERROR

    diagnosis = "the certificate written to SZTP_LDEVID_CERT is not for the device's new key"


class LDevIDKeyStore(Protocol):
    """What the certificate request rounds and the factory reset ask of a key store."""

    @property
    def cert_path(self) -> Path:
        """Where the LDevID certificate is expected (``SZTP_LDEVID_CERT``)."""
        ...

    @property
    def location(self) -> str:
        """Where the new key is: a file path, or ``tpm:<handle> via <tcti>``."""
        ...

    def generate(self, algorithm: str) -> None:
        """A fresh key for ``algorithm`` (``ec-p256`` or ``rsa-2048``); any previous key of
        this store is deleted first."""
        ...

    def delete(self) -> bool:
        """Remove the key, whether or not this process made it; True when one was there."""
        ...

    def spki_der(self) -> bytes:
        """The new key's SubjectPublicKeyInfo (DER)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """``data`` signed with the new key: SHA-256 with ECDSA (DER) or PKCS#1 v1.5."""
        ...

    def check_certificate(self) -> bool:
        """False when no certificate was installed; True when the installed one certifies
        the new key (the one made in this run, else the one the store holds from an earlier
        run); :class:`LDevIDMismatchError` otherwise."""
        ...

    def script_environment(self) -> dict[str, str]:
        """What the scripts are told about the key, once one was made."""
        ...


def installed_public_key(cert_path: Path) -> bytes | None:
    """The SubjectPublicKeyInfo (DER) of the certificate at ``cert_path`` (PEM or DER), None
    when there is none; :class:`LDevIDMismatchError` when it is not a certificate."""
    from cryptography import x509  # noqa: PLC0415 - certificate requests only
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    from sztp_client.files import read_bounded  # noqa: PLC0415

    if not cert_path.exists():
        return None
    data = read_bounded(cert_path, MAX_LDEVID_CERT_OCTETS, "the LDevID certificate")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            raise LDevIDMismatchError(f"{cert_path}: not a certificate (PEM or DER)") from None
    spki: bytes = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki


def check_installed(cert_path: Path, new_key_spki: Callable[[], bytes | None]) -> bool:
    """:meth:`LDevIDKeyStore.check_certificate` for a store whose key has the
    SubjectPublicKeyInfo ``new_key_spki()`` (None: the store holds no key); asked only when
    a certificate is installed."""
    theirs = installed_public_key(cert_path)
    if theirs is None:
        return False
    ours = new_key_spki()
    if ours is None or theirs != ours:
        raise LDevIDMismatchError(
            f"{cert_path}: the LDevID certificate does not certify the new key"
        )
    return True


class FileKeyStore:
    """The new key as a PEM file at ``key_path`` (mode 0600); the LDevID certificate is
    expected at ``cert_path``."""

    def __init__(self, key_path: Path, cert_path: Path) -> None:
        self.key_path = key_path
        self._cert_path = cert_path
        self._key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None

    def __repr__(self) -> str:  # the key itself never appears
        return f"FileKeyStore(key_path={str(self.key_path)!r}, cert_path={str(self.cert_path)!r})"

    @property
    def cert_path(self) -> Path:
        return self._cert_path

    @property
    def location(self) -> str:
        return str(self.key_path)

    def generate(self, algorithm: str) -> None:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: PLC0415

        from sztp_client.state.store import write_atomic  # noqa: PLC0415

        self.delete()
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
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
        for directory in {self.key_path.parent, self.cert_path.parent}:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.key_path, pem, mode=0o600)
        self._key = key

    def delete(self) -> bool:
        self._key = None
        existed = self.key_path.exists()
        self.key_path.unlink(missing_ok=True)
        return existed

    def _require(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        if self._key is None:
            raise CSRRequestError("no key has been generated for the certificate request")
        return self._key

    def spki_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        return (
            self._require()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: PLC0415

        key = self._require()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def _held_spki(self) -> bytes | None:
        if self._key is not None:
            return self.spki_der()
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        from sztp_client.files import read_bounded  # noqa: PLC0415

        if not self.key_path.is_file():
            return None
        try:  # made by an earlier run
            key = serialization.load_pem_private_key(
                read_bounded(self.key_path, MAX_LDEVID_CERT_OCTETS, "the LDevID key"), None
            )
        except (ValueError, TypeError):
            return None
        spki: bytes = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return spki

    def check_certificate(self) -> bool:
        return check_installed(self.cert_path, self._held_spki)

    def script_environment(self) -> dict[str, str]:
        if not self.key_path.exists():
            return {}
        return {"SZTP_LDEVID_KEY": str(self.key_path), "SZTP_LDEVID_CERT": str(self.cert_path)}


def csr_request_of(error: Exception) -> Mapping[str, object] | None:
    """The csr-request of a server's 400 reply, if that is what ``error`` is."""
    if not isinstance(error, ServerError) or error.status != 400:
        return None
    from sztp_client.protocol import csr  # noqa: PLC0415 - certificate requests only

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
    from sztp_client.protocol import csr  # noqa: PLC0415 - certificate requests only

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
    """``SZTP_LDEVID_KEY`` and ``SZTP_LDEVID_CERT`` (and, for a TPM key, its handle and
    TCTI) for the scripts, once a key was made."""
    return {} if store is None else store.script_environment()


__all__ = [
    "FileKeyStore",
    "LDevIDKeyStore",
    "LDevIDMismatchError",
    "answer",
    "check_installed",
    "csr_request_of",
    "installed_public_key",
    "script_environment",
]
