"""A lab on disk: the PKI, one device's identity and the bootstrap server's files.

``create_lab(directory)`` writes::

    lab.json                           serial number and key type
    pki/<name>.pem, pki/<name>.key     every CA and signer of the lab (keys mode 0600):
        voucher-root, manufacturer-intermediate, voucher-signer,
        manufacturer-root, idevid-ca,
        owner-root, owner-intermediate, owner-certificate,
        bootstrap-server-root, bootstrap-server-ca, bootstrap-server
    device/idevid.pem                  the device's IDevID certificate + the IDevID CA
    device/idevid.key                  its private key (0600)
    device/voucher-signer-trust-anchors.pem  the manufacturer's voucher root (verifies vouchers)
    device/manufacturer-trust-anchors.pem    the manufacturer's IDevID root (the IDevID's CA)
    device/bootstrap-server-trust-anchors.pem the bootstrap-server root (verifies TLS)
    device/serial-number               the serial number, one line
    server/server.pem                  the bootstrap server's certificate + its CA
    server/server.key                  its private key (0600)
    server/client-ca.pem               the manufacturer root (verifies device certificates)
    server/images/                     boot images the file server offers

The bootstrap server's certificate names ``localhost``, 127.0.0.1 and ::1.  ``load_lab`` reads
everything back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_lab.pki import (
    BACKDATE,
    DEFAULT_LIFETIME,
    Issued,
    KeyType,
    LabPKI,
    make_end_entity,
    make_intermediate_ca,
    make_lab_pki,
    make_root_ca,
)

__all__ = ["DEFAULT_SERIAL_NUMBER", "LabLayout", "create_lab", "load_lab"]

DEFAULT_SERIAL_NUMBER: Final = "SZTP-DEMO-0001"
MANIFEST: Final = "lab.json"
SERVER_NAMES: Final = ("localhost",)
SERVER_ADDRESSES: Final = ("127.0.0.1", "::1")

# The PKI's members in pki/, each with the member it is issued by (None: self-signed root).
_PKI_FILES: Final[dict[str, str | None]] = {
    "manufacturer-root": None,
    "voucher-root": None,
    "manufacturer-intermediate": "voucher-root",
    "voucher-signer": "manufacturer-intermediate",
    "idevid-ca": "manufacturer-root",
    "owner-root": None,
    "owner-intermediate": "owner-root",
    "owner-certificate": "owner-intermediate",
    "bootstrap-server-root": None,
    "bootstrap-server-ca": "bootstrap-server-root",
    "bootstrap-server": "bootstrap-server-ca",
}


@dataclass(frozen=True)
class LabLayout:
    """A lab written by :func:`create_lab`: its paths and, in memory, its certificates."""

    directory: Path
    serial_number: str
    key_type: KeyType
    pki: LabPKI
    server_root: Issued
    server_ca: Issued
    server_identity: Issued
    idevid: Issued

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST

    @property
    def pki_dir(self) -> Path:
        return self.directory / "pki"

    @property
    def device_dir(self) -> Path:
        return self.directory / "device"

    @property
    def server_dir(self) -> Path:
        return self.directory / "server"

    @property
    def images_dir(self) -> Path:
        return self.server_dir / "images"

    @property
    def idevid_cert(self) -> Path:
        """device/idevid.pem: the IDevID certificate followed by the IDevID CA."""
        return self.device_dir / "idevid.pem"

    @property
    def idevid_key(self) -> Path:
        return self.device_dir / "idevid.key"

    @property
    def manufacturer_trust_anchors(self) -> Path:
        """The IDevID root: what the device's IDevID validates to."""
        return self.device_dir / "manufacturer-trust-anchors.pem"

    @property
    def voucher_signer_trust_anchors(self) -> Path:
        """The voucher root: the only anchor a voucher signer may validate to."""
        return self.device_dir / "voucher-signer-trust-anchors.pem"

    @property
    def bootstrap_server_trust_anchors(self) -> Path:
        return self.device_dir / "bootstrap-server-trust-anchors.pem"

    @property
    def serial_number_file(self) -> Path:
        return self.device_dir / "serial-number"

    @property
    def server_cert(self) -> Path:
        """server/server.pem: the bootstrap server's certificate followed by its CA."""
        return self.server_dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.server_dir / "server.key"

    @property
    def client_ca(self) -> Path:
        return self.server_dir / "client-ca.pem"

    def pki_cert(self, name: str) -> Path:
        """pki/<name>.pem for a name of the lab's PKI (e.g. "owner-root")."""
        if name not in _PKI_FILES:
            raise KeyError(f"no PKI member {name!r}; the members are {sorted(_PKI_FILES)}")
        return self.pki_dir / f"{name}.pem"

    def pki_key(self, name: str) -> Path:
        return self.pki_cert(name).with_suffix(".key")


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    _write(path, data, 0o600)


def create_lab(
    directory: Path,
    *,
    serial_number: str = DEFAULT_SERIAL_NUMBER,
    key_type: KeyType = "ec-p256",
) -> LabLayout:
    """Make a lab PKI and one device, and write them under ``directory``.

    ``directory`` may exist but must not hold a lab already (FileExistsError).
    """
    directory = Path(directory)
    if (directory / MANIFEST).exists():
        raise FileExistsError(f"{directory} already holds a lab ({MANIFEST})")
    pki = make_lab_pki(key_type)
    start, end = pki.now - BACKDATE, pki.now + DEFAULT_LIFETIME
    server_root = make_root_ca("SZTP Lab Bootstrap Server Root CA", key_type, start, end)
    server_ca = make_intermediate_ca(
        server_root, "SZTP Lab Bootstrap Server CA", key_type, start, end, path_length=0
    )
    server_identity = make_end_entity(
        server_ca,
        "localhost",
        key_type,
        key_usage={"digital_signature", "key_encipherment"},
        extended_key_usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
        dns_names=SERVER_NAMES,
        ip_addresses=SERVER_ADDRESSES,
        not_before=start,
        not_after=end,
    )
    idevid = pki.idevid(serial_number)
    layout = LabLayout(
        directory=directory,
        serial_number=serial_number,
        key_type=key_type,
        pki=pki,
        server_root=server_root,
        server_ca=server_ca,
        server_identity=server_identity,
        idevid=idevid,
    )
    members = _members(layout)
    (directory / "pki").mkdir(parents=True, exist_ok=True)
    os.chmod(directory / "pki", 0o700)
    for name, issued in members.items():
        _write(layout.pki_cert(name), issued.cert_pem())
        _write_private(layout.pki_key(name), issued.key_pem())

    _write(layout.idevid_cert, idevid.pem_chain())
    _write_private(layout.idevid_key, idevid.key_pem())
    _write(layout.manufacturer_trust_anchors, pki.manufacturer_root.cert_pem())
    _write(layout.voucher_signer_trust_anchors, pki.voucher_root.cert_pem())
    _write(layout.bootstrap_server_trust_anchors, server_root.cert_pem())
    _write(layout.serial_number_file, f"{serial_number}\n".encode())

    _write(layout.server_cert, server_identity.pem_chain())
    _write_private(layout.server_key, server_identity.key_pem())
    _write(layout.client_ca, pki.manufacturer_root.cert_pem())
    layout.images_dir.mkdir(parents=True, exist_ok=True)

    manifest = {"serial-number": serial_number, "key-type": key_type}
    _write(layout.manifest, (json.dumps(manifest, indent=2) + "\n").encode())
    return layout


def _members(layout: LabLayout) -> dict[str, Issued]:
    pki = layout.pki
    return {
        "manufacturer-root": pki.manufacturer_root,
        "voucher-root": pki.voucher_root,
        "manufacturer-intermediate": pki.manufacturer_intermediate,
        "voucher-signer": pki.voucher_signer,
        "idevid-ca": pki.idevid_ca,
        "owner-root": pki.owner_root,
        "owner-intermediate": pki.owner_intermediate,
        "owner-certificate": pki.owner_certificate,
        "bootstrap-server-root": layout.server_root,
        "bootstrap-server-ca": layout.server_ca,
        "bootstrap-server": layout.server_identity,
    }


def _read_issued(cert_file: Path, key_file: Path, issuer: Issued | None) -> Issued:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if issuer is None:
        return Issued(cert=cert, key=key, chain=(), root=cert)
    below = issuer.chain if issuer.cert is issuer.trust_anchor else (issuer.cert, *issuer.chain)
    return Issued(cert=cert, key=key, chain=below, root=issuer.trust_anchor)


def load_lab(directory: Path) -> LabLayout:
    """Read back a lab that :func:`create_lab` wrote."""
    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    serial_number = str(manifest["serial-number"])
    key_type: KeyType = manifest["key-type"]
    loaded: dict[str, Issued] = {}
    for name, issuer in _PKI_FILES.items():
        base = directory / "pki" / name
        loaded[name] = _read_issued(
            base.with_suffix(".pem"),
            base.with_suffix(".key"),
            loaded[issuer] if issuer is not None else None,
        )
    root = loaded["manufacturer-root"]
    pki = LabPKI(
        manufacturer_root=root,
        manufacturer_intermediate=loaded["manufacturer-intermediate"],
        voucher_signer=loaded["voucher-signer"],
        idevid_ca=loaded["idevid-ca"],
        owner_root=loaded["owner-root"],
        owner_intermediate=loaded["owner-intermediate"],
        owner_certificate=loaded["owner-certificate"],
        voucher_root=loaded["voucher-root"],
        key_type=key_type,
        now=root.cert.not_valid_before_utc + BACKDATE,
    )
    device_dir = directory / "device"
    idevid = _read_issued(device_dir / "idevid.pem", device_dir / "idevid.key", pki.idevid_ca)
    # The device's IDevID is the one on disk: pki.idevid(serial_number) must return it.
    pki._idevids[(serial_number, key_type)] = idevid
    return LabLayout(
        directory=directory,
        serial_number=serial_number,
        key_type=key_type,
        pki=pki,
        server_root=loaded["bootstrap-server-root"],
        server_ca=loaded["bootstrap-server-ca"],
        server_identity=loaded["bootstrap-server"],
        idevid=idevid,
    )
