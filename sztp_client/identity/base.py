"""The device's identity as the rest of the client uses it, whatever holds the key.

An :class:`Identity` answers "who are you?": the serial number, the IDevID certificate chain
(end-entity first, then its intermediates), TLS client authentication (it configures an
``ssl.SSLContext``), CMS decryption (a :class:`~sztp_client.trust.envelope.RecipientKey`), whether
the key can leave its store, and where it is.  Two back-ends:

* :class:`FileIdentity`: a PEM certificate file and an unencrypted PEM key file.
* :class:`TPMIdentity`: the key at a persistent handle of a TPM 2.0 (reached through a TCTI),
  the certificate in a PEM file or an NV index; TLS through
  :mod:`sztp_client.identity.tls_key`, decryption through TPM2_RSA_Decrypt / TPM2_ECDH_ZGen.

:func:`build_identity` picks the back-end from the ``identity`` table: ``file`` (the default),
``tpm``, or ``auto`` (the TPM when one answers at the configured TCTI with a key at the
configured handle, else the files), and records why in :attr:`Identity.choice`.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec
from cryptography import x509

from sztp_client.certificate_files import load_certificates, read_configured
from sztp_client.errors import ConfigurationError, SZTPError
from sztp_client.trust.identity import subject_serial_number

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from sztp_client.config import IdentityConfig
    from sztp_client.identity.tpm import TPM
    from sztp_client.identity.tpm_key import TPMKey
    from sztp_client.trust.envelope.keys import RecipientKey, RsaPadding


class Identity(Protocol):
    """What the transport and the trust core ask of the device's identity."""

    @property
    def backend(self) -> str:
        """ "file" or "tpm"."""
        ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The IDevID first, then its intermediates (all sent in the TLS handshake)."""
        ...

    @property
    def location(self) -> str:
        """Where the key is: a file path, or "tpm:<handle> via <tcti>"."""
        ...

    @property
    def non_exportable(self) -> bool:
        """True when the private key cannot be read out of its store."""
        ...

    @property
    def choice(self) -> str:
        """How the back-end was chosen (for the timeline and status)."""
        ...

    def serial_number(self) -> str | None:
        """The serial number of the IDevID subject, if it carries one."""
        ...

    def configure_tls(self, context: ssl.SSLContext) -> None:
        """Make ``context`` authenticate as the IDevID (with its intermediates)."""
        ...

    def recipient_key(self) -> RecipientKey:
        """The key as CMS decryption uses it."""
        ...


class FileIdentity(msgspec.Struct, frozen=True):
    """The identity as files: ``certificate`` is a PEM file with the IDevID first, then its
    intermediates (all sent in the handshake); ``key`` the unencrypted PEM key of the IDevID."""

    certificate: Path
    key: Path
    choice: str = "identity.backend is file"

    @property
    def backend(self) -> str:
        return "file"

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return load_certificates([self.certificate], "identity.certificate")

    @property
    def location(self) -> str:
        return str(self.key)

    @property
    def non_exportable(self) -> bool:
        return False

    def serial_number(self) -> str | None:
        return subject_serial_number(self.chain[0])

    def check(self) -> None:
        """Both files exist (the key's match with the certificate is checked by preflight)."""
        for path, key in ((self.certificate, "identity.certificate"), (self.key, "identity.key")):
            if not path.is_file():
                raise ConfigurationError(f"{path} does not exist", key)

    def configure_tls(self, context: ssl.SSLContext) -> None:
        try:
            context.load_cert_chain(certfile=self.certificate, keyfile=self.key)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise ConfigurationError(
                f"cannot load the client certificate {str(self.certificate)!r} with the key "
                f"{str(self.key)!r}: {reason}; the certificate file must be PEM (the device "
                "certificate, then its intermediates) and the key an unencrypted PEM key that "
                "belongs to it",
                key="identity",
            ) from exc

    def recipient_key(self) -> RecipientKey:
        cert_pem = read_configured(self.certificate, "the certificate file", "identity.certificate")
        key_pem = read_configured(self.key, "the key file", "identity.key")
        from sztp_client.trust.envelope.keys import FileRecipientKey  # noqa: PLC0415

        return FileRecipientKey.from_pem(cert_pem, key_pem)


class TPMRecipientKey:
    """A :class:`RecipientKey` over a TPM key: the TPM does only the private-key operation."""

    def __init__(self, key: TPMKey, certificate: x509.Certificate) -> None:
        self._key = key
        self._certificate = certificate

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def rsa_decrypt(self, ciphertext: bytes, padding: RsaPadding) -> bytes:
        if padding.scheme == "pkcs1v15":
            return self._key.rsa_decrypt(ciphertext, "pkcs1")
        if padding.label or padding.hash != padding.mgf1_hash or padding.hash is None:
            # TPM2_RSA_Decrypt takes one hash for both the label and MGF1
            raise TypeError("the TPM does OAEP with one hash for the label and MGF1 only")
        if padding.hash not in ("sha1", "sha256", "sha384", "sha512"):
            raise TypeError(f"the TPM does not do OAEP with {padding.hash}")
        return self._key.rsa_decrypt(ciphertext, "oaep", padding.hash)  # type: ignore[arg-type]

    def ecdh(self, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        return self._key.ecdh_zgen(peer_public_key)


class TPMIdentity:
    """The identity with its key inside a TPM 2.0 (never read out).

    Nothing talks to the TPM until :meth:`open` (the composition root calls it at start-up,
    which also runs :func:`sztp_client.identity.tls_key.startup_check`).  The TPM modules
    (and ctypes, tpm2-pytss) are imported only here: a file identity never loads them.
    """

    backend = "tpm"

    def __init__(
        self, tcti: str, handle: int, certificate: str, choice: str = "identity.backend is tpm"
    ) -> None:
        from sztp_client.identity.tpm import parse_handle, parse_tcti  # noqa: PLC0415

        self.tcti = parse_tcti(tcti)
        self.handle = parse_handle(handle)
        self.certificate = certificate
        self.choice = choice
        self._tpm: TPM | None = None
        self._key: TPMKey | None = None
        self._chain: tuple[x509.Certificate, ...] = ()

    def open(self) -> None:
        """Connect, load the key and the certificate chain, and check that TLS with the key
        works in this process (typed errors: TPMConnectionError 75, others 78)."""
        from sztp_client.identity import tls_key  # noqa: PLC0415 - ctypes, for a TPM only
        from sztp_client.identity.tpm import TPM  # noqa: PLC0415
        from sztp_client.identity.tpm_certs import load_certificates  # noqa: PLC0415

        self._tpm = self._tpm or TPM(self.tcti)
        self._key = self._tpm.key(self.handle)
        self._chain = tuple(load_certificates(self.certificate, self._tpm))
        if not self._chain:
            raise ConfigurationError(
                f"{self.certificate} holds no certificate", "identity.tpm.certificate"
            )
        tls_key.startup_check(self._key, self._chain)

    def _opened(self) -> tuple[TPMKey, tuple[x509.Certificate, ...]]:
        if self._key is None:
            self.open()
        assert self._key is not None
        return self._key, self._chain

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._opened()[1]

    @property
    def location(self) -> str:
        return f"tpm:{self.handle:#010x} via {self.tcti}"

    @property
    def non_exportable(self) -> bool:
        return self._opened()[0].attributes.non_exportable

    def serial_number(self) -> str | None:
        return subject_serial_number(self.chain[0])

    def configure_tls(self, context: ssl.SSLContext) -> None:
        from sztp_client.identity import tls_key  # noqa: PLC0415

        key, chain = self._opened()
        tls_key.attach(context, key, chain)

    def recipient_key(self) -> RecipientKey:
        key, chain = self._opened()
        return TPMRecipientKey(key, chain[0])

    @property
    def device(self) -> TPM:
        """The TPM the key is in (opened now if needed); for PCR reads and quotes."""
        self._opened()
        assert self._tpm is not None
        return self._tpm

    def close(self) -> None:
        if self._tpm is not None:
            self._tpm.close()


def build_identity(config: IdentityConfig) -> FileIdentity | TPMIdentity | None:
    """The identity the ``identity`` table configures, opened and checked (or None: none)."""
    files = (
        FileIdentity(config.certificate, config.key)
        if config.certificate is not None and config.key is not None
        else None
    )
    if config.backend == "file":
        if files is not None:
            files.check()
        return files
    tpm_config = config.tpm
    if tpm_config.certificate is None:
        if config.backend == "tpm":
            raise ConfigurationError(
                'identity.backend is "tpm" but no certificate is configured: set '
                'identity.tpm.certificate (a PEM file or "nv:0x...")',
                "identity.tpm.certificate",
            )
        chosen = TPMIdentity(
            tpm_config.tcti, tpm_config.key_handle, "", "auto: no identity.tpm.certificate"
        )
        return _auto_files(files, chosen.choice)
    if config.backend == "tpm":
        identity = TPMIdentity(tpm_config.tcti, tpm_config.key_handle, tpm_config.certificate)
        identity.open()
        return identity
    identity = TPMIdentity(
        tpm_config.tcti,
        tpm_config.key_handle,
        tpm_config.certificate,
        f"auto: the TPM answered at {tpm_config.tcti}",
    )
    try:
        identity.open()
    except SZTPError as exc:
        identity.close()
        return _auto_files(files, f"auto: no usable TPM ({exc.message})")
    return identity


def _auto_files(files: FileIdentity | None, why: str) -> FileIdentity | None:
    if files is None:
        return None
    files.check()
    return FileIdentity(files.certificate, files.key, f"{why}; the identity files are used")


__all__ = [
    "FileIdentity",
    "Identity",
    "TPMIdentity",
    "TPMRecipientKey",
    "build_identity",
]
