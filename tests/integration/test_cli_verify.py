"""`sztp-client verify`: interface, judgement, output and exit codes (docs/verify.md).

Most cases call ``main()`` in-process; ``TestAsProcess`` runs the installed console script to
show the same contract holds for a real process (and that no traceback escapes).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sztp_client import __version__
from sztp_client.cli.main import main
from sztp_client.trust import oids
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import (
    SignedSet,
    idevid_issuer_of,
    make_signed_set,
    onboarding_xml,
    redirect_json,
)
from sztp_lab.pki import LabPKI, make_end_entity, make_lab_pki
from tests.conftest import require
from tests.support import ONBOARDING, SERIAL

NONCE = bytes(range(100, 132))


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return make_lab_pki("ec-p256")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, pki: LabPKI) -> Path:
    """A folder of artifacts and certificate files, written once for the module."""
    root = tmp_path_factory.mktemp("verify")

    def write(name: str, data: bytes) -> None:
        (root / name).write_bytes(data)

    def write_set(prefix: str, signed: SignedSet) -> None:
        write(f"{prefix}-ci.cms", signed.conveyed_information)
        write(f"{prefix}-oc.cms", signed.owner_certificate or b"")
        write(f"{prefix}-ov.cms", signed.ownership_voucher or b"")

    write("anchors.pem", pki.voucher_root.cert_pem())
    write("idevid-anchors.pem", pki.manufacturer_root.cert_pem())
    idevid = pki.idevid(SERIAL)
    write("idevid.pem", idevid.cert_pem())
    write("idevid-chain.pem", idevid.pem_chain())
    write("idevid-other.pem", pki.idevid("SN-OTHER").cert_pem())
    no_serial = make_end_entity(pki.idevid_ca, "No Serial Device")
    write("idevid-noserial.pem", no_serial.cert_pem())
    write("empty.pem", b"")
    write("key-only.pem", idevid.key_pem())
    write_set("good", make_signed_set(pki, SERIAL, ONBOARDING))
    write_set("xml", make_signed_set(pki, SERIAL, onboarding_xml(os_name="LabOS"), encoding="xml"))
    write_set(
        "issuer",
        make_signed_set(pki, SERIAL, ONBOARDING, idevid_issuer=idevid_issuer_of(idevid.cert)),
    )
    write_set("nonce", make_signed_set(pki, SERIAL, ONBOARDING, nonce=NONCE))
    write_set(
        "expiring",
        make_signed_set(pki, SERIAL, ONBOARDING, expires_on=pki.now + dt.timedelta(days=1)),
    )
    redirect = redirect_json([("sztp.example", 8443, None)])
    write("redirect.cms", lab_cms.content_info(oids.ID_CT_SZTP_CONVEYED_INFO_JSON, redirect))
    write("onboarding.cms", lab_cms.content_info(oids.ID_CT_SZTP_CONVEYED_INFO_JSON, ONBOARDING))
    good = (root / "good-ci.cms").read_bytes()
    write("good-ci.b64", base64.encodebytes(good))
    write(
        "good-ci.pem",
        b"-----BEGIN CMS-----\n" + base64.encodebytes(good) + b"-----END CMS-----\n",
    )
    write(
        "encrypted.cms",
        lab_cms.envelop_content_info(good, pki.idevid(SERIAL, "rsa-2048").cert),
    )
    write("huge.cms", b"\x30" * (17 * 1024 * 1024))
    return root


def verify(capsys: pytest.CaptureFixture[str], files: Path, *args: str) -> tuple[int, str, str]:
    argv = ["verify"]
    for arg in args:
        argv.append(str(files / arg) if (files / arg).exists() and "/" not in arg else arg)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def signed_args(prefix: str = "good") -> list[str]:
    return [
        f"{prefix}-ci.cms",
        "--owner-certificate",
        f"{prefix}-oc.cms",
        "--ownership-voucher",
        f"{prefix}-ov.cms",
        "--voucher-signer-trust-anchors",
        "anchors.pem",
    ]


def one_error_line(err: str, step: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"verify: {step}: "), err
    assert "Traceback" not in err


def test_signed_set_accepted_text(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-027..R-038: the full signed set passes; stdout shows signed and the content."""
    code, out, err = verify(capsys, files, *signed_args(), "--serial-number", SERIAL)
    assert code == 0, err
    assert "signed: yes" in out
    assert "ietf-sztp-conveyed-info:onboarding-information" in out
    assert err == ""


def test_signed_set_accepted_json(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    code, out, _ = verify(capsys, files, *signed_args(), "--serial-number", SERIAL, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["acceptable"] is True and doc["signed"] is True
    assert doc["kind"] == "onboarding-information"
    onboarding = doc["conveyed-information"]["ietf-sztp-conveyed-info:onboarding-information"]
    assert onboarding["boot-image"]["os-name"] == "LabOS"
    assert set(doc["owner-certificate"]) == {
        "subject",
        "issuer",
        "serial",
        "not-before",
        "not-after",
    }
    assert doc["voucher"]["ietf-voucher:voucher"]["serial-number"] == SERIAL
    assert "error" not in doc


def test_xml_converted_to_json(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-042, R-045, D15: XML conveyed information is shown in the JSON form."""
    code, out, _ = verify(capsys, files, *signed_args("xml"), "--serial-number", SERIAL, "--json")
    assert code == 0
    doc = json.loads(out)
    info = doc["conveyed-information"]["ietf-sztp-conveyed-info:onboarding-information"]
    assert info["boot-image"]["os-name"] == "LabOS"


@pytest.mark.parametrize("name", ["good-ci.b64", "good-ci.pem"])
def test_base64_and_pem_inputs(capsys: pytest.CaptureFixture[str], files: Path, name: str) -> None:
    args = signed_args()
    args[0] = name
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 0, err


def test_unsigned_redirect_accepted(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-025: unsigned redirect information is acceptable and shown as unsigned."""
    code, out, _ = verify(
        capsys,
        files,
        "redirect.cms",
        "--serial-number",
        SERIAL,
        "--voucher-signer-trust-anchors",
        "anchors.pem",
        "--json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["signed"] is False and doc["kind"] == "redirect-information"
    assert "voucher" not in doc and "owner-certificate" not in doc


def test_unsigned_onboarding_refused(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-023, R-025: unsigned onboarding information from an untrusted source."""
    code, out, err = verify(
        capsys,
        files,
        "onboarding.cms",
        "--serial-number",
        SERIAL,
        "--voucher-signer-trust-anchors",
        "anchors.pem",
        "--json",
    )
    assert code == 65
    one_error_line(err, "source")
    doc = json.loads(out)
    assert doc["acceptable"] is False and doc["error"]["step"] == "source"
    assert doc["signed"] is False


def test_owner_certificate_with_unsigned_data(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """R-028: an owner certificate and voucher given with unsigned data are inconsistent."""
    args = signed_args()
    args[0] = "redirect.cms"
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 65
    one_error_line(err, "consistency")


def test_idevid_issuer_needs_idevid_certificate(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """R-033: a voucher naming idevid-issuer is refused without --idevid-certificate."""
    code, _, err = verify(capsys, files, *signed_args("issuer"), "--serial-number", SERIAL)
    assert code == 65
    one_error_line(err, "voucher-idevid-issuer")
    code, _, err = verify(
        capsys, files, *signed_args("issuer"), "--idevid-certificate", "idevid.pem"
    )
    assert code == 0, err


def test_wrong_device(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-032: the IDevID of another device."""
    code, _, err = verify(capsys, files, *signed_args(), "--idevid-certificate", "idevid-other.pem")
    assert code == 65
    one_error_line(err, "voucher-serial-number")


def test_encrypted_input_refused(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-020: encrypted input needs the device identity."""
    args = signed_args()
    args[0] = "encrypted.cms"
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 65
    one_error_line(err, "decode")
    assert "identity" in err


def test_too_large(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """D19: an input over its bound exits 65."""
    args = signed_args()
    args[0] = "huge.cms"
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 65
    assert "limit" in err and "Traceback" not in err


def test_missing_input_file(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    args = signed_args()
    args[0] = str(files / "does-not-exist.cms")
    code, out, err = verify(capsys, files, *args, "--serial-number", SERIAL, "--json")
    assert code == 66
    one_error_line(err, "input")
    assert json.loads(out)["error"]["step"] == "input"


def test_trusted_clock_and_now(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-030, D10: --now past expires-on fails under a trusted clock; untrusted ignores it."""
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = [*signed_args("expiring"), "--serial-number", SERIAL]
    code, _, err = verify(capsys, files, *base, "--clock", "trusted", "--now", later)
    assert code == 65
    one_error_line(err, "voucher-validity")
    code, _, err = verify(capsys, files, *base, "--clock", "trusted")
    assert code == 0, err
    code, _, err = verify(capsys, files, *base)
    assert code == 0, err


def test_nonce(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """R-034: a nonce voucher passes only with the nonce that was sent."""
    base = [*signed_args("nonce"), "--serial-number", SERIAL]
    code, _, err = verify(capsys, files, *base)
    assert code == 65
    one_error_line(err, "voucher-nonce")
    code, _, err = verify(capsys, files, *base, "--nonce", base64.b64encode(NONCE).decode())
    assert code == 0, err


def test_accept_assertion(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """D11: --accept-assertion replaces the default set."""
    base = [*signed_args(), "--serial-number", SERIAL]
    code, _, err = verify(capsys, files, *base, "--accept-assertion", "proximity")
    assert code == 65
    one_error_line(err, "voucher-assertion")
    code, _, _ = verify(capsys, files, *base, "--accept-assertion", "verified")
    assert code == 0


@pytest.mark.parametrize(
    "extra",
    [
        ["--serial-number", SERIAL, "--voucher-signer-trust-anchors", "empty.pem"],
        ["--serial-number", SERIAL, "--voucher-signer-trust-anchors", "key-only.pem"],
        ["--serial-number", SERIAL, "--nonce", "not*base64"],
        ["--serial-number", SERIAL, "--nonce", base64.b64encode(b"short").decode()],
        ["--serial-number", SERIAL, "--nonce", base64.b64encode(bytes(33)).decode()],
        ["--serial-number", SERIAL, "--now", "2026-01-01T00:00:00Z"],
        ["--serial-number", SERIAL, "--clock", "trusted", "--now", "yesterday"],
        ["--serial-number", "SN-NOT-THIS", "--idevid-certificate", "idevid.pem"],
        ["--idevid-certificate", "idevid-noserial.pem"],
        [],
        ["--serial-number", SERIAL, "--accept-assertion", "blind-faith"],
        ["--serial-number", SERIAL, "--no-such-option"],
        ["--serial-number", SERIAL, "--clock", "sundial"],
    ],
    ids=[
        "empty-anchor-file",
        "anchor-file-without-certificate",
        "nonce-not-base64",
        "nonce-too-short",
        "nonce-too-long",
        "now-with-untrusted-clock",
        "now-not-rfc3339",
        "serial-disagrees-with-idevid",
        "idevid-without-serial",
        "no-serial-no-idevid",
        "unknown-assertion",
        "unknown-option",
        "bad-clock",
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], files: Path, extra: list[str]) -> None:
    args = signed_args()
    if "--voucher-signer-trust-anchors" in extra:
        args = args[:-2]
    code, out, err = verify(capsys, files, *args, *extra, "--json")
    assert code == 64, err
    one_error_line(err, "usage")
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["acceptable"] is False
    assert doc["error"]["step"] == "usage"


def test_missing_trust_anchors_option(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    code, _, err = verify(capsys, files, "good-ci.cms", "--serial-number", SERIAL)
    assert code == 64
    one_error_line(err, "usage")


def test_pem_anchor_file_with_several_certificates(
    capsys: pytest.CaptureFixture[str], files: Path, pki: LabPKI, tmp_path: Path
) -> None:
    """A trust-anchor file may hold several certificates."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        make_lab_pki("ec-p256").voucher_root.cert_pem() + pki.voucher_root.cert_pem()
    )
    args = [*signed_args()[:-1], str(bundle)]
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 0, err


def test_der_anchor_file(
    capsys: pytest.CaptureFixture[str], files: Path, pki: LabPKI, tmp_path: Path
) -> None:
    der = tmp_path / "anchor.der"
    der.write_bytes(pki.voucher_root.cert.public_bytes(serialization.Encoding.DER))
    args = [*signed_args()[:-1], str(der)]
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 0, err


def console_script() -> str | None:
    candidate = Path(sys.executable).parent / "sztp-client"
    if candidate.exists():
        return str(candidate)
    return shutil.which("sztp-client")


class TestAsProcess:
    """The installed console script, as an operator runs it."""

    def run(self, files: Path, *args: str) -> subprocess.CompletedProcess[str]:
        script = console_script()
        require(script is not None, "the sztp-client console script (pip install -e .)")
        assert script is not None
        return subprocess.run(
            [script, *args],
            cwd=files,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:sztp_client"},
        )

    def test_version(self, files: Path) -> None:
        result = self.run(files, "--version")
        assert result.returncode == 0
        assert __version__ in result.stdout

    def test_accepts(self, files: Path) -> None:
        result = self.run(files, "verify", *signed_args(), "--serial-number", SERIAL, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["acceptable"] is True

    def test_refuses_without_traceback(self, files: Path) -> None:
        result = self.run(
            files, "verify", *signed_args(), "--idevid-certificate", "idevid-other.pem"
        )
        assert result.returncode == 65
        one_error_line(result.stderr, "voucher-serial-number")

    def test_usage_exit_64(self, files: Path) -> None:
        result = self.run(files, "verify", "--bogus")
        assert result.returncode == 64
        assert "Traceback" not in result.stderr


# --- who may sign a voucher (D27) ---------------------------------------------------------


def test_old_manufacturer_anchor_option_alone_is_explained(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """D27: --manufacturer-trust-anchors no longer verifies vouchers; given alone, the usage
    error names the option that does."""
    args = [*signed_args()[:-2], "--manufacturer-trust-anchors", "anchors.pem"]
    code, _, err = verify(capsys, files, *args, "--serial-number", SERIAL)
    assert code == 64
    one_error_line(err, "usage")
    assert "--voucher-signer-trust-anchors" in err and "IDevIDs" in err


def test_idevid_anchor_as_voucher_anchor_refused(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """D27: with the IDevID given, a voucher-signer anchor that issues it is refused (78)."""
    args = [*signed_args()[:-1], "idevid-anchors.pem", "--idevid-certificate", "idevid-chain.pem"]
    code, out, err = verify(capsys, files, *args, "--json")
    assert code == 78
    one_error_line(err, "configuration")
    assert "--voucher-signer-trust-anchors" in err
    assert json.loads(out)["error"]["step"] == "configuration"


def test_idevid_validates_to_manufacturer_anchors(
    capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """D27: --manufacturer-trust-anchors names the IDevID CAs; the IDevID must validate."""
    base = [*signed_args(), "--idevid-certificate", "idevid-chain.pem"]
    code, _, err = verify(
        capsys, files, *base, "--manufacturer-trust-anchors", "idevid-anchors.pem"
    )
    assert code == 0, err
    code, _, err = verify(capsys, files, *base, "--manufacturer-trust-anchors", "anchors.pem")
    assert code == 78
    one_error_line(err, "configuration")


@pytest.mark.parametrize(
    "option",
    ["--voucher-signer-extended-key-usage", "--voucher-signer-certificate-policy"],
)
def test_signer_constraint_options(
    capsys: pytest.CaptureFixture[str], files: Path, option: str
) -> None:
    """D27: the lab signer has no such EKU or policy: refused at voucher-signer-policy; an OID
    that is not dotted is a usage error."""
    base = [*signed_args(), "--serial-number", SERIAL]
    code, _, err = verify(capsys, files, *base, option, "1.3.6.1.4.1.99999.7.1")
    assert code == 65
    one_error_line(err, "voucher-signer-policy")
    code, _, err = verify(capsys, files, *base, option, "not-an-oid")
    assert code == 64
    one_error_line(err, "usage")


def test_pinned_signer_option(
    capsys: pytest.CaptureFixture[str], files: Path, pki: LabPKI, tmp_path: Path
) -> None:
    base = [*signed_args(), "--serial-number", SERIAL, "--voucher-signer-pinned-certificates"]
    pinned = tmp_path / "pinned.pem"
    pinned.write_bytes(pki.voucher_signer.cert_pem())
    code, _, err = verify(capsys, files, *base, str(pinned))
    assert code == 0, err
    other = tmp_path / "other.pem"
    other.write_bytes(pki.owner_certificate.cert_pem())
    code, _, err = verify(capsys, files, *base, str(other))
    assert code == 65
    one_error_line(err, "voucher-signer-policy")


def test_require_nonce_voucher_option(capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """D27: --require-nonce-voucher refuses a voucher without a nonce; it needs --nonce."""
    nonce = base64.b64encode(NONCE).decode()
    base = [*signed_args(), "--serial-number", SERIAL, "--require-nonce-voucher"]
    code, _, err = verify(capsys, files, *base)
    assert code == 64
    one_error_line(err, "usage")
    code, _, err = verify(capsys, files, *base, "--nonce", nonce)
    assert code == 65
    one_error_line(err, "voucher-nonce")
    nonce_args = [*signed_args("nonce"), "--serial-number", SERIAL, "--require-nonce-voucher"]
    code, _, err = verify(capsys, files, *nonce_args, "--nonce", nonce)
    assert code == 0, err


def test_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--voucher-signer-trust-anchors",
        "--manufacturer-trust-anchors",
        "--voucher-signer-extended-key-usage",
        "--voucher-signer-certificate-policy",
        "--voucher-signer-pinned-certificates",
        "--require-nonce-voucher",
    ):
        assert option in out
    import argparse

    parser = argparse.ArgumentParser()
    from sztp_client.cli import verify as verify_cli

    verify_cli.register(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices["verify"]  # type: ignore[union-attr]
    missing = [a.dest for a in sub._actions if not a.help]
    assert missing == [], missing
