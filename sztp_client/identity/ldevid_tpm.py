"""RFC 9646 LDevID keys made inside the TPM that holds the IDevID key.

With a TPM identity the fresh key a csr-request asks for is made in the same TPM, through the
identity's own connection (a TPM without a resource manager serves one connection at a time):
ECC P-256 or RSA-2048 under a storage primary key, non-exportable (fixedTPM, fixedParent,
sensitiveDataOrigin), unrestricted sign and decrypt like the IDevID key, and persisted at
``identity.ldevid.tpm-handle`` (default 0x81000100, apart from the IDevID's).  The request is
signed by the TPM (SHA-256; ECDSA or RSASSA-PKCS1-v1_5).  A second csr-request evicts the
previous round's key before making the next one, so that no key of an earlier round remains
anywhere in the TPM; a factory reset evicts the key too.  The IDevID's handle is never used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from sztp_client.actions.ldevid import check_installed
from sztp_client.errors import ConfigurationError, CSRRequestError, SZTPError
from sztp_client.identity.tpm import parse_handle

if TYPE_CHECKING:
    from sztp_client.identity.tpm import TPM
    from sztp_client.identity.tpm_key import KeyAlgorithm, TPMKey

#: the LDevID key's persistent handle unless configured: in the owner's range, apart from the
#: storage root key 0x81000001 and the TCG's IDevID handles 0x81020000..
DEFAULT_LDEVID_HANDLE = 0x81000100
HANDLE_KEY = "identity.ldevid.tpm-handle"


class TPMKeyStore:
    """The LDevID key at persistent ``handle`` of ``tpm``; the certificate at ``cert_path``.

    ``idevid_handle`` is the IDevID key's handle, which the store refuses to use."""

    def __init__(self, tpm: TPM, handle: int, cert_path: Path, idevid_handle: int) -> None:
        self.handle = parse_handle(handle, HANDLE_KEY)
        if self.handle == idevid_handle:
            raise ConfigurationError(
                f"{self.handle:#010x} is the IDevID key's handle (identity.tpm.key-handle); "
                "the LDevID key needs a persistent handle of its own",
                HANDLE_KEY,
            )
        self.tpm = tpm
        self._cert_path = cert_path
        self._key: TPMKey | None = None

    def __repr__(self) -> str:
        return f"TPMKeyStore({self.location!r}, cert_path={str(self.cert_path)!r})"

    @property
    def cert_path(self) -> Path:
        return self._cert_path

    @property
    def location(self) -> str:
        return f"tpm:{self.handle:#010x} via {self.tpm.tcti}"

    def generate(self, algorithm: str) -> None:
        if algorithm not in ("ec-p256", "rsa-2048"):
            raise CSRRequestError(f"no key generation for algorithm {algorithm!r}")
        self.delete()
        # the post-configuration script writes the certificate there
        self.cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        chosen: KeyAlgorithm = "ec-p256" if algorithm == "ec-p256" else "rsa-2048"
        self._key = self.tpm.create_persistent_key(chosen, self.handle, HANDLE_KEY)

    def delete(self) -> bool:
        self._key = None
        return self.tpm.evict(self.handle, HANDLE_KEY)

    def _require(self) -> TPMKey:
        if self._key is None:
            raise CSRRequestError("no key has been generated for the certificate request")
        return self._key

    def spki_der(self) -> bytes:
        return self._require().public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        return self._require().sign_data(data, "sha256", "pkcs1")

    def _held_spki(self) -> bytes | None:
        if self._key is None:
            try:
                if self.tpm.holds(self.handle):  # made by an earlier run
                    self._key = self.tpm.key(self.handle)
            except SZTPError:  # no usable key there: nothing the certificate can match
                return None
        return self.spki_der() if self._key is not None else None

    def check_certificate(self) -> bool:
        return check_installed(self.cert_path, self._held_spki)

    def script_environment(self) -> dict[str, str]:
        if self._key is None:
            return {}
        return {
            "SZTP_LDEVID_KEY": f"tpm:{self.handle:#010x}",
            "SZTP_LDEVID_TPM_HANDLE": f"{self.handle:#010x}",
            "SZTP_LDEVID_TPM_TCTI": self.tpm.tcti,
            "SZTP_LDEVID_CERT": str(self.cert_path),
        }


__all__ = ["DEFAULT_LDEVID_HANDLE", "HANDLE_KEY", "TPMKeyStore"]
