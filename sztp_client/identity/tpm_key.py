"""A key at a persistent handle of a TPM 2.0: every private-key operation runs in the TPM.

What the key can do here, and nothing more (the private part never leaves the TPM):

* :meth:`TPMKey.sign_digest`: ECDSA P-256 (DER, as TLS and CMS carry it), RSASSA-PKCS1-v1_5
  and RSA-PSS (salt length = digest length) for RSA-2048, over a SHA-256/384/512 digest;
* :meth:`TPMKey.rsa_private`: the raw RSA private operation, for a message OpenSSL has already
  padded (RSA-PSS in TLS 1.3, see ``tls_key``);
* :meth:`TPMKey.rsa_decrypt` (PKCS#1 v1.5 and OAEP) and :meth:`TPMKey.ecdh_zgen` (the ECDH
  shared secret), the private-key steps of CMS EnvelopedData decryption.  A TPM's OAEP uses
  one hash for the label and MGF1 and an empty label, which is what CMS uses in practice.

:class:`KeyAttributes` says whether the key can ever leave its TPM.  Keys are obtained with
:meth:`sztp_client.identity.tpm.TPM.key`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sztp_client.identity.errors import TPMKeyError, TPMOperationError

if TYPE_CHECKING:
    from sztp_client.identity.tpm import TPM

HashName = Literal["sha1", "sha256", "sha384", "sha512"]
RSASignPadding = Literal["pkcs1", "pss"]
RSADecryptPadding = Literal["pkcs1", "oaep"]
KeyAlgorithm = Literal["ec-p256", "rsa-2048"]
DIGEST_SIZES: dict[str, int] = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


class KeyAttributes(msgspec.Struct, frozen=True):
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
    "DIGEST_SIZES",
    "HashName",
    "KeyAlgorithm",
    "KeyAttributes",
    "RSADecryptPadding",
    "RSASignPadding",
    "TPMKey",
]
