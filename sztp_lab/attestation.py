"""The lab's verifier of TPM quotes, in pure Python with cryptography.

:func:`verify_quote` checks, in this order, and raises :class:`QuoteRefused` naming the first
check that fails:

1. the signature of the attestation key over the TPMS_ATTEST bytes (SHA-256; ECDSA for an
   ECC key, RSASSA-PKCS1-v1_5 for an RSA key);
2. the structure: magic ``TPM_GENERATED_VALUE``, type ``TPM_ST_ATTEST_QUOTE``, every length
   inside the bytes and nothing left over;
3. ``extraData`` equals the verifier's nonce (freshness);
4. the quoted PCR selection is the one asked for;
5. ``pcrDigest`` equals the hash of the PCR values the device reported, concatenated in
   register order.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018
HASH_ALGORITHMS = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}


class QuoteRefused(Exception):
    """The quote does not prove what it claims; the message says which check failed."""


@dataclass(frozen=True, slots=True)
class QuoteInfo:
    extra_data: bytes
    selection: tuple[tuple[str, tuple[int, ...]], ...]
    pcr_digest: bytes
    clock: int
    reset_count: int
    restart_count: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise QuoteRefused("TPMS_ATTEST is truncated")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def sized(self) -> bytes:
        return self.take(self.uint(2))


def parse_quote(attest: bytes) -> QuoteInfo:
    """The parts of a TPMS_ATTEST quote structure a verifier needs."""
    reader = _Reader(attest)
    if reader.uint(4) != TPM_GENERATED_VALUE:
        raise QuoteRefused("TPMS_ATTEST does not start with TPM_GENERATED_VALUE")
    if reader.uint(2) != TPM_ST_ATTEST_QUOTE:
        raise QuoteRefused("TPMS_ATTEST is not a quote")
    reader.sized()  # qualifiedSigner
    extra = reader.sized()
    clock, reset, restart = struct.unpack(">QII", reader.take(16))
    reader.take(1)  # safe
    reader.take(8)  # firmwareVersion
    count = reader.uint(4)
    if count > 16:
        raise QuoteRefused(f"TPMS_ATTEST selects {count} PCR banks")
    banks: list[tuple[str, tuple[int, ...]]] = []
    for _ in range(count):
        alg = reader.uint(2)
        mask = reader.take(reader.uint(1))
        name = HASH_ALGORITHMS.get(alg)
        if name is None:
            raise QuoteRefused(f"TPMS_ATTEST selects PCR bank {alg:#06x}")
        registers = tuple(
            8 * i + bit for i, byte in enumerate(mask) for bit in range(8) if byte >> bit & 1
        )
        banks.append((name, registers))
    digest = reader.sized()
    if reader.offset != len(attest):
        raise QuoteRefused("TPMS_ATTEST has bytes after the quote")
    return QuoteInfo(extra, tuple(banks), digest, clock, reset, restart)


def verify_quote(
    ak_public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    attest: bytes,
    signature: bytes,
    *,
    nonce: bytes,
    bank: str,
    pcrs: dict[int, bytes],
) -> QuoteInfo:
    """The quote's information when every check holds; QuoteRefused otherwise."""
    try:
        if isinstance(ak_public, rsa.RSAPublicKey):
            ak_public.verify(signature, attest, padding.PKCS1v15(), hashes.SHA256())
        else:
            ak_public.verify(signature, attest, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise QuoteRefused("the signature over TPMS_ATTEST does not verify") from None
    info = parse_quote(attest)
    if info.extra_data != nonce:
        raise QuoteRefused("the quote is not bound to this nonce (extraData differs)")
    registers = tuple(sorted(pcrs))
    if info.selection != ((bank, registers),):
        raise QuoteRefused(f"the quote covers {info.selection}, not {bank}:{registers}")
    digest = hashlib.new(bank)
    for register in registers:
        digest.update(pcrs[register])
    if digest.digest() != info.pcr_digest:
        raise QuoteRefused("the PCR digest in the quote does not match the PCR values")
    return info


__all__ = ["QuoteInfo", "QuoteRefused", "parse_quote", "verify_quote"]
