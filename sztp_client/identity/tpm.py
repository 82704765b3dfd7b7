"""TPM 2.0 back-end primitives: the IDevID key stays inside the TPM, only its results leave.

The TPM is reached through a TCTI string, always explicit: ``device:/dev/tpmrm0`` (the kernel
resource manager, the default), ``device:/dev/tpm0``, ``swtpm:host=127.0.0.1,port=2321`` (a
software TPM in socket mode) or ``tabrmd:``.  With no TCTI the TSS would silently try a
simulator on port 2321; this module never lets it.

tpm2-pytss is imported only when a :class:`TPM` is opened: a client without the ``tpm`` extra
runs as before, and a configuration that asks for the TPM without the package gets a
:class:`~sztp_client.identity.errors.TPMSupportMissingError` (exit 78) that says what to
install.  Unless ``TSS2_LOG`` is set, it is set to ``all+none`` before the TSS loads: the
TSS would otherwise print its own warnings to stderr for every failure this module turns into
a typed error.

What the key can do here, and nothing more (the private part never leaves the TPM):

* :meth:`TPMKey.sign_digest`: ECDSA P-256 (DER, as TLS and CMS carry it), RSASSA-PKCS1-v1_5
  and RSA-PSS (salt length = digest length) for RSA-2048, over a SHA-256/384/512 digest;
* :meth:`TPMKey.rsa_private`: the raw RSA private operation, for a message OpenSSL has already
  padded (RSA-PSS in TLS 1.3, see ``tls_key``);
* :meth:`TPMKey.rsa_decrypt` (PKCS#1 v1.5 and OAEP) and :meth:`TPMKey.ecdh_zgen` (the ECDH
  shared secret), the private-key steps of CMS EnvelopedData decryption.  A TPM's OAEP uses
  one hash for the label and MGF1 and an empty label, which is what CMS uses in practice.

The key lives at a persistent handle (0x81000000..0x81FFFFFF), put there at the factory (see
``sztp_lab.tpm_factory``); the runtime never creates it.  Loading it takes no transient slot.
Transient objects the factory creates are flushed at once: without a resource manager a TPM
holds only about three.  A connection error (simulator restarted, resource manager gone)
closes the ESAPI context; the next operation opens a new one and retries once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sztp_client.identity.errors import (
    TPMCertificateError,
    TPMConnectionError,
    TPMKeyError,
    TPMOperationError,
    TPMSupportMissingError,
)

DEFAULT_TCTI = "device:/dev/tpmrm0"
PERSISTENT_FIRST = 0x81000000
PERSISTENT_LAST = 0x81FFFFFF
NV_FIRST = 0x01000000
NV_LAST = 0x01FFFFFF
NV_PREFIX = "nv:"
# An IDevID with its intermediates; a TPM's NV indices are far smaller anyway (2 KiB here).
MAX_NV_CERTIFICATE_BYTES = 16 * 1024
NV_CHUNK = 512  # below every TPM's MAX_NV_BUFFER_SIZE
KNOWN_TCTIS = ("device", "swtpm", "mssim", "tabrmd", "libtpms", "cmd", "spi-helper")

HashName = Literal["sha1", "sha256", "sha384", "sha512"]
RSASignPadding = Literal["pkcs1", "pss"]
RSADecryptPadding = Literal["pkcs1", "oaep"]
KeyAlgorithm = Literal["ec-p256", "rsa-2048"]
DIGEST_SIZES: dict[str, int] = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

T = TypeVar("T")


def pytss_module() -> Any:
    """tpm2_pytss, imported on first use (``TSS2_LOG`` quietened unless the caller set it);
    TPMSupportMissingError when it cannot be loaded."""
    os.environ.setdefault("TSS2_LOG", "all+none")
    try:
        import tpm2_pytss  # noqa: PLC0415 - only a configured TPM back-end needs it
    except ImportError as exc:
        raise TPMSupportMissingError(
            "the TPM back-end needs the Python package tpm2-pytss and the TSS libraries "
            "(install the 'tpm' extra: pip install 'sztp-client[tpm]'; Debian: libtss2-dev): "
            f"{exc}",
            key="identity.backend",
        ) from None
    return tpm2_pytss


def parse_handle(value: object, key: str = "identity.tpm.key-handle") -> int:
    """A persistent key handle from ``"0x81020000"`` or an integer; ConfigurationError else."""
    number = _number(value, key)
    if not PERSISTENT_FIRST <= number <= PERSISTENT_LAST:
        raise TPMKeyError(f"{value!r} is not a persistent handle (0x81000000..0x81FFFFFF)", key=key)
    return number


def parse_nv_index(value: object, key: str = "identity.tpm.certificate") -> int:
    """The NV index of ``"nv:0x01C00002"`` (or an integer)."""
    text = (
        value[len(NV_PREFIX) :] if isinstance(value, str) and value.startswith(NV_PREFIX) else value
    )
    number = _number(text, key)
    if not NV_FIRST <= number <= NV_LAST:
        raise TPMCertificateError(f"{value!r} is not an NV index (0x01000000..0x01FFFFFF)", key=key)
    return number


def is_nv_reference(value: object) -> bool:
    """True for a certificate location of the form ``nv:0x...``."""
    return isinstance(value, str) and value.startswith(NV_PREFIX)


def _number(value: object, key: str) -> int:
    if isinstance(value, bool):
        raise TPMKeyError(f"{value!r} is not a handle", key=key)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            pass
    raise TPMKeyError(f'{value!r} is not a number such as "0x81020000"', key=key)


def parse_tcti(value: object, key: str = "identity.tpm.tcti") -> str:
    """A TCTI string, checked for form: ``name`` or ``name:configuration``."""
    if not isinstance(value, str) or not value.strip():
        raise TPMSupportMissingError(
            f"{value!r} is not a TCTI string such as {DEFAULT_TCTI!r}", key=key
        )
    name = value.partition(":")[0]
    if name not in KNOWN_TCTIS:
        raise TPMSupportMissingError(
            f"unknown TCTI {name!r} in {value!r}; use one of {', '.join(KNOWN_TCTIS)}", key=key
        )
    return value.strip()


@dataclass(frozen=True)
class KeyAttributes:
    """The object attributes that decide what the key is and whether it can ever leave."""

    fixed_tpm: bool
    fixed_parent: bool
    sensitive_data_origin: bool
    user_with_auth: bool
    restricted: bool
    sign: bool
    decrypt: bool

    @property
    def non_exportable(self) -> bool:
        """Generated inside this TPM and bound to it: no duplication, no export."""
        return self.fixed_tpm and self.fixed_parent and self.sensitive_data_origin


def _is_connection_error(exc: BaseException) -> bool:
    rc = getattr(exc, "rc", None)
    if not isinstance(rc, int):
        return False
    layer = (rc >> 16) & 0xFF
    base = rc & 0xFFFF
    return layer == 10 or (layer in (6, 7, 8) and base in (8, 9, 10))  # TCTI; ESYS/SYS I/O


class TPM:
    """One TPM reached through ``tcti``; thread-safe (one command at a time).

    The ESAPI context is opened on first use and re-opened after a connection error.
    """

    def __init__(self, tcti: str = DEFAULT_TCTI) -> None:
        self.tcti = parse_tcti(tcti)
        self._lock = threading.RLock()
        self._esapi: Any = None
        self._resources: dict[int, Any] = {}  # TPM handle -> ESYS_TR in the current context

    def _open(self) -> Any:
        pytss = pytss_module()
        name, _, config = self.tcti.partition(":")
        if name == "device":
            path = Path(config or "/dev/tpmrm0")
            if not path.exists():
                raise TPMConnectionError(
                    f"no TPM at {path} (TCTI {self.tcti!r}): check that the device has a TPM "
                    "and its driver is loaded, or set identity.tpm.tcti"
                )
        try:
            return pytss.ESAPI(self.tcti)
        except pytss.TSS2_Exception as exc:
            raise TPMConnectionError(
                f"the TPM does not answer through TCTI {self.tcti!r}: {exc}"
            ) from None

    def close(self) -> None:
        with self._lock:
            esapi, self._esapi = self._esapi, None
            self._resources.clear()
            if esapi is not None:
                with suppress(Exception):  # closing a dead connection may fail too
                    esapi.close()

    def __enter__(self) -> TPM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def esapi(self) -> Any:
        """The open ESAPI context (opened now if needed); for the factory and tests."""
        with self._lock:
            if self._esapi is None:
                self._esapi = self._open()
            return self._esapi

    def run(self, operation: Callable[[Any], T], what: str) -> T:
        """``operation(esapi)`` under the lock; after a connection error the context is
        recreated and the operation tried once more.  TSS failures become typed errors."""
        pytss = pytss_module()
        with self._lock:
            for attempt in (1, 2):
                esapi = self.esapi
                try:
                    return operation(esapi)
                except pytss.TSS2_Exception as exc:
                    if not _is_connection_error(exc):
                        raise TPMOperationError(f"the TPM refused to {what}: {exc}") from None
                    self.close()
                    if attempt == 2:
                        raise TPMConnectionError(
                            f"lost the TPM (TCTI {self.tcti!r}) while trying to {what}: {exc}"
                        ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def resource(self, esapi: Any, handle: int) -> Any:
        """The ESYS_TR of persistent ``handle`` in the current context (made once per
        context: after a reconnection the old ones are void)."""
        with self._lock:
            tr = self._resources.get(handle)
            if tr is None:
                tr = self._resources[handle] = esapi.tr_from_tpmpublic(handle)
            return tr

    @contextmanager
    def transient(self, handle: Any) -> Iterator[Any]:
        """Flush the transient object ``handle`` when the block ends."""
        try:
            yield handle
        finally:
            with suppress(Exception):  # a lost connection frees it anyway
                self.esapi.flush_context(handle)

    def key(self, handle: object) -> TPMKey:
        """The key at persistent ``handle``; TPMKeyError when absent or unusable."""
        number = parse_handle(handle)
        pytss = pytss_module()

        def load(esapi: Any) -> Any:
            public, _, _ = esapi.read_public(self.resource(esapi, number))
            return public

        try:
            public = self.run(load, f"load the key at handle {number:#010x}")
        except TPMOperationError as exc:
            raise TPMKeyError(
                f"no key at persistent handle {number:#010x}: {exc}; provision the IDevID first",
                key="identity.tpm.key-handle",
            ) from None
        return TPMKey(self, number, public.publicArea, pytss)

    def read_nv(self, index: int, limit: int = MAX_NV_CERTIFICATE_BYTES) -> bytes:
        """The whole content of NV ``index`` (at most ``limit`` bytes), read in chunks."""

        def read(esapi: Any) -> bytes:
            tr = esapi.tr_from_tpmpublic(index)
            public, _ = esapi.nv_read_public(tr)
            size = int(public.nvPublic.dataSize)
            if size > limit:
                esapi.tr_close(tr)
                raise TPMCertificateError(
                    f"NV index {index:#010x} holds {size} bytes, over the limit of {limit}",
                    key="identity.tpm.certificate",
                )
            data = bytearray()
            try:
                while len(data) < size:
                    chunk = min(NV_CHUNK, size - len(data))
                    data += bytes(esapi.nv_read(tr, chunk, len(data), auth_handle=tr))
            finally:
                esapi.tr_close(tr)
            return bytes(data)

        try:
            return self.run(read, f"read NV index {index:#010x}")
        except TPMOperationError as exc:
            raise TPMCertificateError(
                f"cannot read NV index {index:#010x}: {exc}", key="identity.tpm.certificate"
            ) from None


def split_der_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates stored back to back as DER (trailing 0x00/0xFF padding allowed)."""
    certs: list[x509.Certificate] = []
    offset = 0
    while offset < len(data) and data[offset] not in (0x00, 0xFF):
        length = _der_length(data, offset)
        try:
            certs.append(x509.load_der_x509_certificate(data[offset : offset + length]))
        except ValueError as exc:
            raise TPMCertificateError(
                f"NV data at offset {offset} is not a DER certificate: {exc}",
                key="identity.tpm.certificate",
            ) from None
        offset += length
    if not certs:
        raise TPMCertificateError("no certificate stored", key="identity.tpm.certificate")
    return certs


def _der_length(data: bytes, offset: int) -> int:
    bad = TPMCertificateError(
        f"NV data at offset {offset} is not a DER SEQUENCE", key="identity.tpm.certificate"
    )
    if data[offset] != 0x30 or offset + 2 > len(data):
        raise bad
    first = data[offset + 1]
    if first < 0x80:
        header, body = 2, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 3 or offset + 2 + count > len(data):
            raise bad
        header, body = 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    if offset + header + body > len(data):
        raise bad
    return header + body


def load_certificates(location: str | Path, tpm: TPM | None = None) -> list[x509.Certificate]:
    """The IDevID first, then its intermediates: from ``nv:0x...`` (with ``tpm``) or a PEM
    file."""
    if is_nv_reference(location):
        if tpm is None:
            raise TPMCertificateError(
                f"{location} names an NV index but no TPM is configured",
                key="identity.tpm.certificate",
            )
        return split_der_certificates(tpm.read_nv(parse_nv_index(location)))
    path = Path(location)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TPMCertificateError(
            f"cannot read {path}: {exc.strerror}", key="identity.tpm.certificate"
        ) from None
    if len(data) > MAX_NV_CERTIFICATE_BYTES * 4:
        raise TPMCertificateError(f"{path} is too large", key="identity.tpm.certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TPMCertificateError(
            f"{path} holds no PEM certificate: {exc}", key="identity.tpm.certificate"
        ) from None
    return certs


class TPMKey:
    """The key at one persistent handle; every private-key operation runs in the TPM."""

    def __init__(self, tpm: TPM, handle: int, public_area: Any, pytss: Any) -> None:
        self.tpm = tpm
        self.handle = handle
        self._pytss = pytss
        self._public_area = public_area
        constants = pytss.constants
        key_type = public_area.type
        pem = public_area.to_pem()
        public_key = load_pem_public_key(pem)
        self.public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
        if key_type == constants.TPM2_ALG.ECC and isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise TPMKeyError(
                    f"the key at {handle:#010x} is on {public_key.curve.name}; only P-256 is "
                    "supported",
                    key="identity.tpm.key-handle",
                )
            self.algorithm: KeyAlgorithm = "ec-p256"
        elif key_type == constants.TPM2_ALG.RSA and isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size != 2048:
                raise TPMKeyError(
                    f"the key at {handle:#010x} is RSA-{public_key.key_size}; only RSA-2048 is "
                    "supported",
                    key="identity.tpm.key-handle",
                )
            self.algorithm = "rsa-2048"
        else:
            raise TPMKeyError(
                f"the object at {handle:#010x} is not an ECC P-256 or RSA-2048 key",
                key="identity.tpm.key-handle",
            )
        self.public_key = public_key
        attrs = public_area.objectAttributes
        flag = constants.TPMA_OBJECT
        self.attributes = KeyAttributes(
            fixed_tpm=bool(attrs & flag.FIXEDTPM),
            fixed_parent=bool(attrs & flag.FIXEDPARENT),
            sensitive_data_origin=bool(attrs & flag.SENSITIVEDATAORIGIN),
            user_with_auth=bool(attrs & flag.USERWITHAUTH),
            restricted=bool(attrs & flag.RESTRICTED),
            sign=bool(attrs & flag.SIGN_ENCRYPT),
            decrypt=bool(attrs & flag.DECRYPT),
        )
        if not self.attributes.sign or self.attributes.restricted:
            raise TPMKeyError(
                f"the key at {handle:#010x} is not an unrestricted signing key",
                key="identity.tpm.key-handle",
            )

    def __repr__(self) -> str:
        return f"TPMKey({self.algorithm}, handle={self.handle:#010x}, tcti={self.tpm.tcti!r})"

    def _hash_alg(self, name: str) -> Any:
        alg = self._pytss.constants.TPM2_ALG
        table = {"sha1": alg.SHA1, "sha256": alg.SHA256, "sha384": alg.SHA384, "sha512": alg.SHA512}
        if name not in table:
            raise TPMOperationError(f"unsupported hash {name!r}")
        return table[name]

    def _need_decrypt(self, what: str) -> None:
        if not self.attributes.decrypt:
            raise TPMKeyError(
                f"the key at {self.handle:#010x} lacks the decrypt attribute needed for {what}",
                key="identity.tpm.key-handle",
            )

    def sign_digest(
        self, digest: bytes, hash_name: HashName = "sha256", padding: RSASignPadding = "pkcs1"
    ) -> bytes:
        """The signature of ``digest`` (made with ``hash_name``): ECDSA as DER
        Ecdsa-Sig-Value; RSA as the signature octets, PKCS#1 v1.5 or PSS."""
        if len(digest) != DIGEST_SIZES.get(hash_name, -1):
            raise TPMOperationError(f"a {hash_name} digest is {DIGEST_SIZES.get(hash_name)} bytes")
        p = self._pytss
        types, constants = p.types, p.constants
        if self.algorithm == "ec-p256":
            scheme_alg = constants.TPM2_ALG.ECDSA
        else:
            scheme_alg = (
                constants.TPM2_ALG.RSAPSS if padding == "pss" else constants.TPM2_ALG.RSASSA
            )
        scheme = types.TPMT_SIG_SCHEME(scheme=scheme_alg)
        scheme.details.any.hashAlg = self._hash_alg(hash_name)
        ticket = types.TPMT_TK_HASHCHECK(
            tag=constants.TPM2_ST.HASHCHECK, hierarchy=constants.TPM2_RH.NULL
        )
        signature = self.tpm.run(
            lambda esapi: esapi.sign(self.tpm.resource(esapi, self.handle), digest, scheme, ticket),
            "sign with the IDevID key",
        )
        if self.algorithm == "ec-p256":
            r = int.from_bytes(bytes(signature.signature.ecdsa.signatureR), "big")
            s = int.from_bytes(bytes(signature.signature.ecdsa.signatureS), "big")
            return encode_dss_signature(r, s)
        body = signature.signature.rsapss if padding == "pss" else signature.signature.rsassa
        return bytes(body.sig).rjust(256, b"\0")

    def sign_data(
        self, data: bytes, hash_name: HashName = "sha256", padding: RSASignPadding = "pkcs1"
    ) -> bytes:
        """:meth:`sign_digest` of ``data`` hashed with ``hash_name``."""
        return self.sign_digest(hashlib.new(hash_name, data).digest(), hash_name, padding)

    def rsa_private(self, block: bytes) -> bytes:
        """The raw RSA private operation on a 256-byte ``block`` padded by the caller."""
        if self.algorithm != "rsa-2048" or len(block) != 256:
            raise TPMOperationError("the raw RSA operation takes a 256-byte block and an RSA key")
        self._need_decrypt("the raw RSA operation")
        types, constants = self._pytss.types, self._pytss.constants
        scheme = types.TPMT_RSA_DECRYPT(scheme=constants.TPM2_ALG.NULL)
        out = self.tpm.run(
            lambda esapi: esapi.rsa_decrypt(self.tpm.resource(esapi, self.handle), block, scheme),
            "apply the IDevID key (raw RSA)",
        )
        return bytes(out).rjust(256, b"\0")

    def rsa_decrypt(
        self,
        ciphertext: bytes,
        padding: RSADecryptPadding = "pkcs1",
        oaep_hash: HashName = "sha1",
    ) -> bytes:
        """The plaintext of an RSA ``ciphertext`` (PKCS#1 v1.5, or OAEP with ``oaep_hash`` for
        both the label hash and MGF1, and an empty label)."""
        if self.algorithm != "rsa-2048":
            raise TPMOperationError("RSA decryption needs an RSA key")
        if len(ciphertext) != 256:
            raise TPMOperationError(f"an RSA-2048 ciphertext is 256 bytes, not {len(ciphertext)}")
        self._need_decrypt("RSA decryption")
        types, constants = self._pytss.types, self._pytss.constants
        if padding == "oaep":
            scheme = types.TPMT_RSA_DECRYPT(scheme=constants.TPM2_ALG.OAEP)
            scheme.details.oaep.hashAlg = self._hash_alg(oaep_hash)
        else:
            scheme = types.TPMT_RSA_DECRYPT(scheme=constants.TPM2_ALG.RSAES)
        out = self.tpm.run(
            lambda esapi: esapi.rsa_decrypt(
                self.tpm.resource(esapi, self.handle), ciphertext, scheme
            ),
            "decrypt with the IDevID key",
        )
        return bytes(out)

    def ecdh_zgen(self, peer: ec.EllipticCurvePublicKey) -> bytes:
        """The ECDH shared secret Z (the x coordinate, 32 bytes) with ``peer``'s public key."""
        if self.algorithm != "ec-p256":
            raise TPMOperationError("ECDH needs an ECC key")
        if not isinstance(peer.curve, ec.SECP256R1):
            raise TPMOperationError(f"the peer's key is on {peer.curve.name}, not P-256")
        self._need_decrypt("ECDH")
        types = self._pytss.types
        numbers = peer.public_numbers()
        point = types.TPM2B_ECC_POINT(
            point=types.TPMS_ECC_POINT(
                x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big")
            )
        )
        out = self.tpm.run(
            lambda esapi: esapi.ecdh_zgen(self.tpm.resource(esapi, self.handle), point),
            "compute ECDH with the IDevID key",
        )
        return bytes(out.point.x).rjust(32, b"\0")


__all__ = [
    "DEFAULT_TCTI",
    "TPM",
    "KeyAttributes",
    "TPMKey",
    "is_nv_reference",
    "load_certificates",
    "parse_handle",
    "parse_nv_index",
    "parse_tcti",
    "pytss_module",
    "split_der_certificates",
]
