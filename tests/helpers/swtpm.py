"""A software TPM (swtpm in socket mode) for the TPM identity tests, and IDevIDs inside it.

:class:`SoftwareTPM` (from ``sztp_lab.swtpm``, shared with the demo) runs ``swtpm socket
--tpm2`` on a free pair of loopback ports with its state in a directory of its own.

:func:`provision_lab_identities` puts an ECC P-256 and an RSA-2048 IDevID into it with the
factory (``sztp_lab.tpm_factory``), certified by the lab's IDevID CA.
"""

from __future__ import annotations

from dataclasses import dataclass

from sztp_lab.pki import LabPKI
from sztp_lab.swtpm import SoftwareTPM, swtpm_available, tpm2_pytss_available
from sztp_lab.tpm_factory import ProvisionedIdentity

ECC_HANDLE = 0x81020000
RSA_HANDLE = 0x81020001
ECC_NV_INDEX = 0x01C90000


@dataclass(frozen=True)
class LabTPMIdentities:
    ecc: ProvisionedIdentity
    rsa: ProvisionedIdentity

    def by_algorithm(self, algorithm: str) -> ProvisionedIdentity:
        return self.ecc if algorithm == "ec-p256" else self.rsa


def require_tpm_stack() -> None:
    """swtpm and tpm2-pytss, or a skip that names what is missing (a failure under CI=true)."""
    from tests.conftest import require

    require(swtpm_available(), "swtpm (Debian package swtpm)")
    require(tpm2_pytss_available(), "tpm2-pytss (the test extra; Debian libtss2-dev to build)")


def provision_lab_identities(tcti: str, pki: LabPKI, serial_number: str) -> LabTPMIdentities:
    """An ECC P-256 IDevID (certificate also in NV) and an RSA-2048 one, through the factory;
    the factory's TPM connection is closed again (swtpm serves one connection at a time)."""
    from sztp_client.identity.tpm import TPM
    from sztp_lab.tpm_factory import provision_idevid

    with TPM(tcti) as tpm:
        ecc = provision_idevid(
            tpm,
            pki.idevid_ca,
            serial_number,
            algorithm="ec-p256",
            handle=ECC_HANDLE,
            nv_index=ECC_NV_INDEX,
        )
        rsa = provision_idevid(
            tpm, pki.idevid_ca, serial_number, algorithm="rsa-2048", handle=RSA_HANDLE
        )
    return LabTPMIdentities(ecc=ecc, rsa=rsa)


__all__ = [
    "ECC_HANDLE",
    "ECC_NV_INDEX",
    "RSA_HANDLE",
    "LabTPMIdentities",
    "SoftwareTPM",
    "provision_lab_identities",
    "require_tpm_stack",
    "swtpm_available",
    "tpm2_pytss_available",
]
