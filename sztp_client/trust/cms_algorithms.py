"""Which signature and digest algorithms a CMS signer may use (RFC 5652 §5.3, RFC 5754,
RFC 4055, RFC 5753), and the refusals: SHA-256/384/512; RSA PKCS#1 v1.5 and RSASSA-PSS with
keys of 2048 to 16384 bits; ECDSA on P-256/P-384/P-521.  Algorithm identifiers are checked
with every parameter when a SignerInfo is parsed (:mod:`sztp_client.trust.cms`); the key
bounds when the signature is checked (:mod:`sztp_client.trust.cms_verify`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from asn1crypto import core as asn1_core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sztp_client.errors import CMSError

#: the largest RSA modulus whose signatures are checked (a bigger key costs too much)
MAX_RSA_BITS: Final = 16384
#: RSASSA-PSS salt lengths above this are refused at parse time (the exact bound, emLen -
#: hLen - 2, is checked once the key is known)
_MAX_PSS_SALT = MAX_RSA_BITS // 8
_PSS_TRAILER_BC = (1, "trailer_field_bc")


HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
ALLOWED_CURVES: Final = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
MIN_RSA_BITS: Final = 2048


class SignatureFailure(CMSError):
    """A signer's signature, digest or signed attributes do not check out."""


class AlgorithmParameterError(SignatureFailure):
    """A signer's digest or signature algorithm, or one of its parameters, is not accepted."""


RSA_PKCS1_OIDS: Final = {
    "1.2.840.113549.1.1.1": None,  # rsaEncryption: hash from digestAlgorithm
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
ECDSA_OIDS: Final = {
    "1.2.840.10045.2.1": None,  # id-ecPublicKey used as a signature algorithm by some producers
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
_PSS_OID = "1.2.840.113549.1.1.10"


def known_hash(algorithm: Any, role: str, what: str) -> str:
    """The name of an accepted hash from a DigestAlgorithmIdentifier, or a typed refusal.

    Parameters must be absent or NULL (RFC 5754 §2).
    """
    oid = str(algorithm["algorithm"].dotted)
    name = _HASH_OIDS.get(oid)
    if name is None:
        raise AlgorithmParameterError(
            f"{what}: {role} {oid} is not accepted (SHA-256, SHA-384 or SHA-512)"
        )
    params = algorithm["parameters"]
    if not absent_or_null(params):
        raise AlgorithmParameterError(f"{what}: {role} {name} has parameters; it takes none")
    return name


def pss_parameters(params: Any, what: str) -> tuple[str, str, int]:
    """RSASSA-PSS-params (RFC 4055 §3.1), every field checked: hash, MGF1 and its hash, salt
    length (0 up to a bound; the key-dependent bound follows at verification), trailer 1."""
    if isinstance(params, asn1_core.Void) or params.native is None:
        raise AlgorithmParameterError(f"{what}: RSASSA-PSS signature without parameters")
    pss_hash = known_hash(params["hash_algorithm"], "RSASSA-PSS hash", what)
    mgf = params["mask_gen_algorithm"]
    if str(mgf["algorithm"].dotted) != _MGF1_OID:
        raise AlgorithmParameterError(
            f"{what}: RSASSA-PSS with a mask generation function other than MGF1 "
            f"({mgf['algorithm'].dotted})"
        )
    mgf_params = mgf["parameters"]
    if isinstance(mgf_params, asn1_core.Void):
        raise AlgorithmParameterError(f"{what}: RSASSA-PSS MGF1 without its hash algorithm")
    pss_mgf = known_hash(mgf_params, "RSASSA-PSS MGF1 hash", what)
    salt = params["salt_length"].native
    if not isinstance(salt, int) or isinstance(salt, bool) or not 0 <= salt <= _MAX_PSS_SALT:
        raise AlgorithmParameterError(
            f"{what}: RSASSA-PSS salt length {_short_int(salt)} is outside 0..{_MAX_PSS_SALT}"
        )
    trailer = params["trailer_field"].native
    if trailer not in _PSS_TRAILER_BC:
        raise AlgorithmParameterError(
            f"{what}: RSASSA-PSS trailer field {_short_int(trailer)}; only 1 is defined"
        )
    return pss_hash, pss_mgf, salt


def absent_or_null(params: Any) -> bool:
    return isinstance(params, asn1_core.Void) or params.dump() in (b"", b"\x05\x00")


def _short_int(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        sign = "-" if value < 0 else ""
        return f"{sign}(a {value.bit_length()}-bit number)"
    return str(value)[:40]


_HASH_OIDS = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_MGF1_OID = "1.2.840.113549.1.1.8"


def signature_family(oid: str, what: str) -> str:
    if oid in RSA_PKCS1_OIDS:
        return "rsassa_pkcs1v15"
    if oid == _PSS_OID:
        return "rsassa_pss"
    if oid in ECDSA_OIDS:
        return "ecdsa"
    raise AlgorithmParameterError(f"{what}: signature algorithm {oid} is not supported")
