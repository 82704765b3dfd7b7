"""The signature check of one CMS signer (RFC 5652 §5.4, §5.6, §11), over a SignedData that
:mod:`sztp_client.trust.cms` parsed: the digest and signature algorithms on the allow-list,
the signed attributes (content type, message digest) when present, and the signature with the
public key of the certificate the caller names.  Any exception a cryptographic primitive raises
becomes a :class:`~sztp_client.trust.cms_algorithms.SignatureFailure` (D28).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.trust.cms import SignedData, short_reason, subject_text
from sztp_client.trust.cms_algorithms import (
    ALLOWED_CURVES,
    HASHES,
    MAX_RSA_BITS,
    MIN_RSA_BITS,
    AlgorithmParameterError,
    SignatureFailure,
)
from sztp_client.trust.cms_signer import Signer

__all__ = ["verify_signature"]


def verify_signature(
    signed: SignedData, signer: Signer, cert: x509.Certificate, what: str
) -> bytes:
    """Check ``signer``'s signature over ``signed``'s content with ``cert``'s public key.

    Returns the content that the signature covers.  Raises :class:`SignatureFailure` with a
    message that names the failed check.
    """
    if signed.econtent is None:
        raise SignatureFailure(
            f"{what}: the signed content is absent (detached signatures are not used by SZTP)"
        )
    hash_name = signer.digest_algorithm
    hash_factory = HASHES.get(hash_name)
    if hash_factory is None:
        raise SignatureFailure(
            f"{what}: digest algorithm {hash_name} is not accepted (SHA-256, SHA-384 or SHA-512)"
        )
    if signer.signature_hash is not None and signer.signature_hash != hash_name:
        raise SignatureFailure(
            f"{what}: the signature algorithm uses {signer.signature_hash} but the digest "
            f"algorithm is {hash_name}"
        )
    if signer.signed_attributes_der is not None:
        if signer.content_type_attribute != signed.econtent_type:
            raise SignatureFailure(
                f"{what}: the signed content-type attribute "
                f"({signer.content_type_attribute}) differs from the eContentType "
                f"({signed.econtent_type})"
            )
        digest = hashlib.new(hash_name, signed.econtent).digest()
        if signer.message_digest_attribute is None or not hmac.compare_digest(
            digest, signer.message_digest_attribute
        ):
            raise SignatureFailure(
                f"{what}: the message digest does not match the content: the content was "
                "changed after signing"
            )
        to_verify = signer.signed_attributes_der
    else:
        to_verify = signed.econtent
    try:
        public_key = cert.public_key()
    except Exception as exc:  # an unusable key is a failed signature
        raise SignatureFailure(
            f"{what}: the public key of {subject_text(cert)} cannot be used ({short_reason(exc)})"
        ) from exc
    try:
        _check_with_key(
            signer,
            public_key=public_key,
            to_verify=to_verify,
            hash_name=hash_name,
            hash_factory=hash_factory,
            what=what,
        )
    except SignatureFailure:
        raise
    except InvalidSignature as exc:
        raise SignatureFailure(
            f"{what}: the signature does not verify with the key of {subject_text(cert)}"
        ) from exc
    except Exception as exc:  # D28: any primitive failure is a failed signature
        raise SignatureFailure(
            f"{what}: the signature cannot be checked with the key of {subject_text(cert)} "
            f"({type(exc).__name__}: {short_reason(exc)})"
        ) from exc
    return signed.econtent


def _check_with_key(
    signer: Signer,
    *,
    public_key: object,
    to_verify: bytes,
    hash_name: str,
    hash_factory: Callable[[], hashes.HashAlgorithm],
    what: str,
) -> None:
    """Verify the signature; InvalidSignature (or anything else) escapes to the caller."""
    if signer.signature_algorithm in ("rsassa_pkcs1v15", "rsassa_pss"):
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise SignatureFailure(f"{what}: an RSA signature but the signer key is not RSA")
        if public_key.key_size < MIN_RSA_BITS:
            raise SignatureFailure(
                f"{what}: the signer's RSA key has {public_key.key_size} bits; "
                f"at least {MIN_RSA_BITS} are required"
            )
        if public_key.key_size > MAX_RSA_BITS:
            raise SignatureFailure(
                f"{what}: the signer's RSA key has {public_key.key_size} bits; "
                f"at most {MAX_RSA_BITS} are accepted"
            )
        if signer.signature_algorithm == "rsassa_pss":
            if signer.pss_hash != hash_name or signer.pss_mgf_hash != hash_name:
                raise AlgorithmParameterError(
                    f"{what}: RSASSA-PSS parameters use a hash other than the digest "
                    f"algorithm {hash_name}"
                )
            salt = signer.pss_salt_length or 0
            # RFC 8017 §9.1.2: emLen = ceil((modBits - 1) / 8) >= hLen + sLen + 2
            em_len = (public_key.key_size - 1 + 7) // 8
            most = em_len - hash_factory().digest_size - 2
            if not 0 <= salt <= most:
                raise AlgorithmParameterError(
                    f"{what}: RSASSA-PSS salt length {salt} does not fit a "
                    f"{public_key.key_size}-bit key with {hash_name} (0..{most})"
                )
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(hash_factory()), salt_length=salt
            )
        else:
            pad = padding.PKCS1v15()
        public_key.verify(signer.signature, to_verify, pad, hash_factory())
    else:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise SignatureFailure(f"{what}: an ECDSA signature but the signer key is not EC")
        if not isinstance(public_key.curve, ALLOWED_CURVES):
            raise SignatureFailure(
                f"{what}: the signer's curve {public_key.curve.name} is not accepted"
            )
        public_key.verify(signer.signature, to_verify, ec.ECDSA(hash_factory()))
