"""Attestation evidence from the device's TPM: PCR values and their digest.

:func:`parse_selection` reads a PCR selection such as ``"sha256:0-7"`` (the default) or
``"sha256:0,1,2,7"``; :func:`read_pcrs` reads those PCRs (one TPM2_PCR_Read per register, so
the selection is never cut short by the eight-digest limit of one reply); :func:`pcr_digest`
is the hash, with the bank's algorithm, of the values concatenated in register order, which
is how a TPM quote's ``pcrDigest`` is formed.
"""

from __future__ import annotations

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
    """A TPM quote: the TPMS_ATTEST structure as signed, its ECDSA signature (DER), the PCR
    selection quoted and the PCR values read with it (the evidence a verifier checks)."""

    attest: bytes
    signature: bytes
    selection: PCRSelection
    pcrs: dict[int, bytes]


def quote(device: tpm.TPM, ak_handle: int, nonce: bytes, selection: PCRSelection) -> Quote:
    """TPM2_Quote of ``selection`` with the attestation key at ``ak_handle`` (an ECC P-256
    restricted signing key), ``nonce`` as the qualifying data (extraData), and the PCR values
    read right after."""
    if not 0 < len(nonce) <= 64:
        raise ConfigurationError("the nonce must be 1 to 64 bytes", "nonce")
    pytss = tpm.pytss_module()
    types, constants = pytss.types, pytss.constants
    scheme = types.TPMT_SIG_SCHEME(scheme=constants.TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = constants.TPM2_ALG.SHA256

    def run(esapi: Any) -> tuple[bytes, bytes]:
        quoted, signature = esapi.quote(
            device.resource(esapi, ak_handle), tpm_selection(pytss, selection), nonce, scheme
        )
        r = int.from_bytes(bytes(signature.signature.ecdsa.signatureR), "big")
        s = int.from_bytes(bytes(signature.signature.ecdsa.signatureS), "big")
        return bytes(quoted.marshal()[2:]), encode_dss_signature(r, s)

    attest_bytes, der = device.run(run, f"quote the PCRs {selection}")
    return Quote(attest_bytes, der, selection, read_pcrs(device, selection))


__all__ = [
    "BANKS",
    "DEFAULT_SELECTION",
    "PCRSelection",
    "Quote",
    "parse_selection",
    "pcr_digest",
    "quote",
    "read_pcrs",
    "tpm_selection",
]
