"""Attestation evidence from the device's TPM: PCR values, their digest, and quotes.

:func:`parse_selection` reads a PCR selection such as ``"sha256:0-7"`` (the default) or
``"sha256:0,1,2,7"``; :func:`read_pcrs` reads those PCRs (one TPM2_PCR_Read per register, so
the selection is never cut short by the eight-digest limit of one reply); :func:`pcr_digest`
is the hash, with the bank's algorithm, of the values concatenated in register order, which
is how a TPM quote's ``pcrDigest`` is formed.  :func:`quote` has an attestation key (a
restricted ECC P-256 or RSA-2048 signing key) sign a TPM2_Quote over a selection, bound to a
verifier's nonce.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sztp_client.errors import ConfigurationError
from sztp_client.identity import tpm

#: the PCRs read when nothing else is asked: the firmware and boot loader measurements
DEFAULT_SELECTION = "sha256:0-7"
#: the banks supported, with their digest sizes
BANKS = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
#: PCR registers a TPM 2.0 PC client has
MAX_PCR = 23
#: the longest nonce a quote's qualifying data takes (a SHA-512 digest)
MAX_NONCE = 64
#: where the factory puts the attestation key unless told otherwise
DEFAULT_AK_HANDLE = 0x81010002


class PCRSelection(msgspec.Struct, frozen=True):
    bank: str
    registers: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.bank}:{','.join(str(r) for r in self.registers)}"


def parse_selection(text: str, key: str = "--pcrs") -> PCRSelection:
    """``BANK:LIST`` where LIST holds numbers and ranges (``0-7,10``); typed error otherwise."""
    bank, sep, spec = text.strip().partition(":")
    if not sep or bank not in BANKS or not spec:
        raise ConfigurationError(
            f"PCR selection {text!r} is not BANK:LIST (BANK one of {', '.join(BANKS)}; "
            "LIST such as 0-7 or 0,2,4)",
            key,
        )
    registers: set[int] = set()
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            message = f"PCR selection {text!r}: {part!r} is no number"
            raise ConfigurationError(message, key) from None
        if not 0 <= first <= last <= MAX_PCR:
            raise ConfigurationError(
                f"PCR selection {text!r}: {part!r} is outside 0-{MAX_PCR}", key
            )
        registers.update(range(first, last + 1))
    return PCRSelection(bank, tuple(sorted(registers)))


def pcr_digest(selection: PCRSelection, values: dict[int, bytes]) -> bytes:
    """The quote's pcrDigest over ``values`` (register order), with the bank's hash."""
    digest = hashlib.new(selection.bank)
    for register in selection.registers:
        digest.update(values[register])
    return digest.digest()


def tpm_selection(pytss: Any, selection: PCRSelection) -> Any:
    """The TPML_PCR_SELECTION of ``selection``."""
    return pytss.TPML_PCR_SELECTION.parse(str(selection))


def read_pcrs(device: tpm.TPM, selection: PCRSelection) -> dict[int, bytes]:
    """The values of the selected PCRs, register -> digest."""
    pytss = tpm.pytss_module()

    def read(esapi: Any) -> dict[int, bytes]:
        values: dict[int, bytes] = {}
        for register in selection.registers:
            one = pytss.TPML_PCR_SELECTION.parse(f"{selection.bank}:{register}")
            _, _, digests = esapi.pcr_read(one)
            if len(digests) != 1:
                raise ConfigurationError(
                    f"the TPM has no {selection.bank} PCR {register} (bank not allocated?)",
                    "--pcrs",
                )
            values[register] = bytes(digests[0])
        return values

    return device.run(read, f"read the PCRs {selection}")


class Quote(msgspec.Struct, frozen=True):
    """A TPM quote: the TPMS_ATTEST structure as signed, its signature (ECDSA as DER, or the
    RSASSA-PKCS1-v1_5 octets), the PCR selection quoted and the PCR values read with it (the
    evidence a verifier checks), and the attestation key's algorithm."""

    attest: bytes
    signature: bytes
    selection: PCRSelection
    pcrs: dict[int, bytes]
    algorithm: str = "ec-p256"

    def to_json(self, nonce: bytes, ak_handle: int) -> dict[str, Any]:
        """The quote as the identity command's JSON document carries it."""
        return {
            "nonce": nonce.hex(),
            "ak-handle": f"{ak_handle:#010x}",
            "algorithm": self.algorithm,
            "signature-scheme": "ecdsa-sha256" if self.algorithm == "ec-p256" else "rsassa-sha256",
            "attest": base64.b64encode(self.attest).decode("ascii"),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "pcr-selection": str(self.selection),
            "pcrs": {str(register): value.hex() for register, value in self.pcrs.items()},
        }


def parse_nonce(text: str, key: str = "--quote") -> bytes:
    """A verifier's nonce given as hexadecimal: 1 to 64 bytes."""
    try:
        nonce = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigurationError(f"the nonce {text!r} is not hexadecimal", key) from None
    if not 0 < len(nonce) <= MAX_NONCE:
        raise ConfigurationError(f"the nonce must be 1 to {MAX_NONCE} bytes", key)
    return nonce


def quote(device: tpm.TPM, ak_handle: int, nonce: bytes, selection: PCRSelection) -> Quote:
    """TPM2_Quote of ``selection`` with the attestation key at ``ak_handle`` (a restricted
    signing key: ECC P-256 signing with ECDSA, or RSA-2048 with RSASSA-PKCS1-v1_5, both
    SHA-256), ``nonce`` as the qualifying data (extraData), and the PCR values read right
    after."""
    if not 0 < len(nonce) <= MAX_NONCE:
        raise ConfigurationError(f"the nonce must be 1 to {MAX_NONCE} bytes", "nonce")
    pytss = tpm.pytss_module()
    types, constants = pytss.types, pytss.constants

    def run(esapi: Any) -> tuple[bytes, bytes, str]:
        ak = device.resource(esapi, ak_handle)
        public, _, _ = esapi.read_public(ak)
        is_rsa = public.publicArea.type == constants.TPM2_ALG.RSA
        scheme = types.TPMT_SIG_SCHEME(
            scheme=constants.TPM2_ALG.RSASSA if is_rsa else constants.TPM2_ALG.ECDSA
        )
        scheme.details.any.hashAlg = constants.TPM2_ALG.SHA256
        quoted, signature = esapi.quote(ak, tpm_selection(pytss, selection), nonce, scheme)
        if is_rsa:
            return bytes(quoted.marshal()[2:]), bytes(signature.signature.rsassa.sig), "rsa-2048"
        r = int.from_bytes(bytes(signature.signature.ecdsa.signatureR), "big")
        s = int.from_bytes(bytes(signature.signature.ecdsa.signatureS), "big")
        return bytes(quoted.marshal()[2:]), encode_dss_signature(r, s), "ec-p256"

    attest_bytes, signature, algorithm = device.run(run, f"quote the PCRs {selection}")
    return Quote(attest_bytes, signature, selection, read_pcrs(device, selection), algorithm)


__all__ = [
    "BANKS",
    "DEFAULT_AK_HANDLE",
    "DEFAULT_SELECTION",
    "MAX_NONCE",
    "PCRSelection",
    "Quote",
    "parse_nonce",
    "parse_selection",
    "pcr_digest",
    "quote",
    "read_pcrs",
    "tpm_selection",
]
