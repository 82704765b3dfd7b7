"""The identity table: back-end choice and TPM keys, and the ``auto`` fallback (R-018)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sztp_client.config import IdentityConfig, TPMIdentityConfig, parse_config
from sztp_client.errors import ConfigurationError
from sztp_client.identity.base import FileIdentity, build_identity
from sztp_lab.pki import make_lab_pki, pem_bundle


def _config(tmp_path: Path, text: str) -> IdentityConfig:
    return parse_config(text, tmp_path).identity


def test_identity_defaults(tmp_path: Path) -> None:
    """R-018: file back-end by default; the TPM defaults are the resource manager and the
    first IDevID handle."""
    identity = _config(tmp_path, "")
    assert identity.backend == "file"
    assert identity.tpm == TPMIdentityConfig()
    assert identity.tpm.tcti == "device:/dev/tpmrm0"
    assert identity.tpm.key_handle == 0x81020000
    assert identity.tpm.certificate is None


@pytest.mark.parametrize(
    ("text", "handle"),
    [
        ("", 0x81000100),
        ('tpm-handle = "0x81000200"\n', 0x81000200),
        ("tpm-handle = 2164260865\n", 0x81000001),
    ],
)
def test_d23_ldevid_tpm_handle(tmp_path: Path, text: str, handle: int) -> None:
    """D23: identity.ldevid.tpm-handle, a persistent handle as a string or an integer;
    0x81000100 by default."""
    assert _config(tmp_path, f"[identity.ldevid]\n{text}").ldevid.tpm_handle == handle


@pytest.mark.parametrize("value", ['"0x01C00002"', '"handle"', "true", "3"])
def test_d23_bad_ldevid_tpm_handle_refused(tmp_path: Path, value: str) -> None:
    """D23: anything but a persistent handle is refused, naming the key (exit 78)."""
    with pytest.raises(ConfigurationError, match=r"identity\.ldevid\.tpm-handle"):
        _config(tmp_path, f"[identity.ldevid]\ntpm-handle = {value}\n")


def test_tpm_keys_parsed(tmp_path: Path) -> None:
    """R-018: key-handle as a string or an integer, certificate as a path or an NV index."""
    text = (
        '[identity]\nbackend = "tpm"\n[identity.tpm]\ntcti = "swtpm:host=127.0.0.1,port=2321"\n'
        'key-handle = "0x81020001"\ncertificate = "idevid.pem"\n'
    )
    identity = _config(tmp_path, text)
    assert identity.backend == "tpm"
    assert identity.tpm.tcti == "swtpm:host=127.0.0.1,port=2321"
    assert identity.tpm.key_handle == 0x81020001
    assert identity.tpm.certificate == str(tmp_path / "idevid.pem")
    text = '[identity.tpm]\nkey-handle = 2164391936\ncertificate = "nv:0x01C00002"\n'
    identity = _config(tmp_path, text)
    assert identity.tpm.key_handle == 2164391936
    assert identity.tpm.certificate == "nv:0x01C00002"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[identity]\nbackend = "hsm"\n', "identity.backend"),
        ('[identity.tpm]\nkey-handle = "0x01000000"\n', "identity.tpm.key-handle"),
        ('[identity.tpm]\nkey-handle = "eighty-one"\n', "identity.tpm.key-handle"),
        ("[identity.tpm]\nkey-handle = true\n", "identity.tpm.key-handle"),
        ('[identity.tpm]\ntcti = "carrier-pigeon"\n', "identity.tpm.tcti"),
        ('[identity.tpm]\ncertificate = "nv:0x81000000"\n', "identity.tpm.certificate"),
        ('[identity.tpm]\nhandle = "0x81020000"\n', "identity.tpm.handle"),
    ],
)
def test_bad_identity_keys_refused(tmp_path: Path, text: str, key: str) -> None:
    """R-018: every bad identity key is a configuration error naming it (exit 78)."""
    with pytest.raises(ConfigurationError) as info:
        _config(tmp_path, text)
    assert info.value.exit_code == 78
    assert key in str(info.value)


def test_tpm_backend_needs_a_certificate(tmp_path: Path) -> None:
    """R-018: backend tpm without identity.tpm.certificate is refused before any TPM traffic."""
    with pytest.raises(ConfigurationError, match=r"identity\.tpm\.certificate"):
        build_identity(_config(tmp_path, '[identity]\nbackend = "tpm"\n'))


def _files(tmp_path: Path) -> str:
    idevid = make_lab_pki().idevid("AUTO-1")
    (tmp_path / "idevid.pem").write_bytes(pem_bundle(idevid.path))
    (tmp_path / "idevid.key").write_bytes(
        idevid.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return '[identity]\ncertificate = "idevid.pem"\nkey = "idevid.key"\n'


def test_auto_without_a_tpm_takes_the_files_and_says_why(tmp_path: Path) -> None:
    """R-018: auto with no TPM at the TCTI falls back to the files; the choice says why."""
    text = (
        _files(tmp_path) + 'backend = "auto"\n[identity.tpm]\n'
        f'tcti = "device:{tmp_path / "no-tpm"}"\ncertificate = "idevid.pem"\n'
    )
    identity = build_identity(_config(tmp_path, text))
    assert isinstance(identity, FileIdentity)
    assert identity.backend == "file"
    assert identity.choice.startswith("auto: no usable TPM")
    assert "files are used" in identity.choice
    assert identity.serial_number() == "AUTO-1"
    assert identity.non_exportable is False


def test_auto_without_tpm_certificate_takes_the_files(tmp_path: Path) -> None:
    """R-018: auto without a TPM certificate configured uses the files."""
    identity = build_identity(_config(tmp_path, _files(tmp_path) + 'backend = "auto"\n'))
    assert isinstance(identity, FileIdentity)
    assert "no identity.tpm.certificate" in identity.choice


def test_file_identity_missing_file(tmp_path: Path) -> None:
    """R-018: a missing identity file is refused at start-up, naming the key."""
    text = '[identity]\ncertificate = "none.pem"\nkey = "none.key"\n'
    with pytest.raises(ConfigurationError, match=r"identity\.certificate"):
        build_identity(_config(tmp_path, text))


class _RecordingKey:
    """Stands in for a TPMKey: records the private-key operation asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def rsa_decrypt(
        self, ciphertext: bytes, padding: str = "pkcs1", oaep_hash: str = "sha1"
    ) -> bytes:
        self.calls.append((ciphertext, padding, oaep_hash))
        return b"cek"


def test_tpm_recipient_key_maps_rsa_paddings() -> None:
    """R-050: PKCS#1 v1.5 and OAEP with one hash go to the TPM; OAEP with a label or with
    different label and MGF1 hashes (which TPM2_RSA_Decrypt cannot do) is refused before the
    TPM is asked."""
    from typing import Any

    from sztp_client.identity.base import TPMRecipientKey
    from sztp_client.trust.envelope import RsaPadding

    fake = _RecordingKey()
    cert = make_lab_pki().idevid("RSA-1").cert
    key = TPMRecipientKey(fake, cert)  # type: ignore[arg-type]
    assert key.certificate == cert
    assert key.rsa_decrypt(b"c1", RsaPadding("pkcs1v15")) == b"cek"
    assert key.rsa_decrypt(b"c2", RsaPadding("oaep", "sha256", "sha256")) == b"cek"
    assert fake.calls == [(b"c1", "pkcs1", "sha1"), (b"c2", "oaep", "sha256")]
    refused: list[Any] = [
        RsaPadding("oaep", "sha256", "sha1"),
        RsaPadding("oaep", "sha256", "sha256", b"label"),
        RsaPadding("oaep", "sha224", "sha224"),
    ]
    for padding in refused:
        with pytest.raises(TypeError):
            key.rsa_decrypt(b"c3", padding)
    assert len(fake.calls) == 2
