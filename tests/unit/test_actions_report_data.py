"""SSH host keys and trust-anchor bags for bootstrap-complete (R-079)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sztp_client.actions.report_data import read_ssh_host_keys, trust_anchor_bags
from sztp_client.model.rpc import SSHHostKey
from sztp_client.trust import cms, oids
from sztp_lab.pki import make_end_entity, make_intermediate_ca, make_root_ca, pem_bundle


def openssh_public(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )


def ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def test_ed25519_and_rsa_keys(tmp_path: Path) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_file = tmp_path / "ssh_host_ed25519_key.pub"
    ed_file.write_bytes(openssh_public(ed) + b" root@device\n")
    rsa_file = tmp_path / "ssh_host_rsa_key.pub"
    rsa_file.write_bytes(openssh_public(rs) + b"\n")

    keys = read_ssh_host_keys([ed_file, rsa_file])

    assert [k.algorithm for k in keys] == ["ssh-ed25519", "ssh-rsa"]
    raw = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert keys[0] == SSHHostKey("ssh-ed25519", ssh_string(b"ssh-ed25519") + ssh_string(raw))
    numbers = rs.public_key().public_numbers()
    assert keys[1].key_data.startswith(ssh_string(b"ssh-rsa"))
    # the blob loads back as the same key
    loaded = serialization.load_ssh_public_key(b"ssh-rsa " + base64.b64encode(keys[1].key_data))
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == numbers


def test_malformed_lines_and_files_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = ed25519.Ed25519PrivateKey.generate()
    other = ed25519.Ed25519PrivateKey.generate()
    blob = openssh_public(other).split()[1]
    path = tmp_path / "keys.pub"
    path.write_bytes(
        b"# host keys\n\n"
        b"ssh-ed25519\n"  # no key
        b"ssh-ed25519 !!!notbase64!!!\n"
        b"ssh-rsa " + blob + b" claims rsa but is ed25519\n"
        b"ssh-ed25519 AAAA\n"  # truncated blob
         + openssh_public(good) + b" ok\n"
    )
    huge = tmp_path / "huge.pub"
    huge.write_bytes(b"#" * (64 * 1024 + 1))
    with caplog.at_level(logging.WARNING, logger="sztp_client.actions"):
        keys = read_ssh_host_keys([tmp_path / "missing.pub", path, huge])
    assert len(keys) == 1
    assert keys[0].algorithm == "ssh-ed25519"
    assert keys[0].key_data == base64.b64decode(openssh_public(good).split()[1])
    messages = [r.getMessage() for r in caplog.records]
    assert any("missing.pub" in m for m in messages)
    assert any("line 3" in m and "expected" in m for m in messages)
    assert any("line 4" in m and "base64" in m for m in messages)
    assert any("line 5" in m and "RFC 4253" in m for m in messages)
    assert any("line 6" in m and "truncated" in m for m in messages)
    assert any("huge.pub" in m and "larger than" in m for m in messages)
    assert all(r.name == "sztp_client.actions" for r in caplog.records)


def test_trust_anchor_bag_round_trip(tmp_path: Path) -> None:
    root = make_root_ca("Device Root CA")
    intermediate = make_intermediate_ca(root, "Device Issuing CA")
    device = make_end_entity(intermediate, "device SN-0042", serial_number="SN-0042")
    chain = (intermediate.cert, root.cert)
    path = tmp_path / "chain.pem"
    path.write_bytes(pem_bundle(chain))

    bags = trust_anchor_bags([path])

    assert len(bags) == 1
    unwrapped = cms.unwrap(bags[0], "trust anchor bag")
    assert isinstance(unwrapped, cms.Signed)
    signed = unwrapped.signed
    assert signed.degenerate
    assert signed.econtent_type == oids.ID_DATA
    assert signed.econtent is None
    assert set(signed.certificates) == set(chain)
    assert len(signed.certificates) == 2
    # the bag really is the issuer chain of the device's certificate
    device.cert.verify_directly_issued_by(intermediate.cert)
    # DER: what was written is what a strict parser re-encodes
    info = acms.ContentInfo.load(bags[0], strict=True)
    assert info.dump(force=True) == bags[0]
    assert info["content"]["version"].native == "v1"
    assert len(info["content"]["signer_infos"]) == 0


def test_trust_anchor_bag_problems(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_root_ca("Root", "ec-p256")
    intermediate = make_intermediate_ca(root, "Issuing CA")
    no_root = tmp_path / "no-root.pem"
    no_root.write_bytes(pem_bundle([intermediate.cert]))
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with caplog.at_level(logging.WARNING, logger="sztp_client.actions"):
        bags = trust_anchor_bags([tmp_path / "missing.pem", empty, broken, no_root])
    assert len(bags) == 1  # kept, with a warning
    unwrapped = cms.unwrap(bags[0], "bag")
    assert isinstance(unwrapped, cms.Signed)
    assert unwrapped.signed.certificates == (intermediate.cert,)
    messages = [r.getMessage() for r in caplog.records]
    assert any("missing.pem" in m for m in messages)
    assert any("empty.pem" in m and "no certificate" in m for m in messages)
    assert any("broken.pem" in m for m in messages)
    assert any("no-root.pem" in m and "self-signed" in m for m in messages)


def test_ec_key_file(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path = tmp_path / "ssh_host_ecdsa_key.pub"
    path.write_bytes(line + b"\n")
    (only,) = read_ssh_host_keys([path])
    assert only.algorithm == "ecdsa-sha2-nistp256"
    assert only.key_data.startswith(ssh_string(b"ecdsa-sha2-nistp256"))
