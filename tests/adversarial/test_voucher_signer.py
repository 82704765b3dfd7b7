"""Who may sign a voucher (D27, R-029..R-035): one test per attack, named after it.

The attack: the owner of one device uses that device's IDevID key to sign a voucher for another
device of the same manufacturer, pinning the attacker's CA.  It works whenever an IDevID
validates to a voucher-signer anchor.  It is refused twice: at start-up, a configuration that
would allow it is refused (exit 78, nothing written); at verification, vouchers validate to the
voucher CA only, and the optional signer constraints refuse any other signer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from sztp_client.errors import ConfigurationError, DataError, TrustError
from sztp_client.trust.signer_policy import VoucherSignerPolicy, check_configuration
from sztp_lab.artifacts import SignedSet, make_signed_set
from sztp_lab.pki import (
    Issued,
    LabPKI,
    make_end_entity,
    make_lab_pki,
    make_root_ca,
    signature_hash,
)
from sztp_lab.scenario import Device, make_device, to_toml
from tests.support import ONBOARDING, SERIAL, verify

NONCE = bytes(range(16, 48))
ATTACKER = "SN-ATTACKER-0001"
#: an EKU a manufacturer might give its voucher signers (a private-enterprise arc)
VOUCHER_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.99999.7.1")


@pytest.fixture(scope="module", params=["ec-p256", "rsa-2048"])
def pki(request: pytest.FixtureRequest) -> LabPKI:
    return make_lab_pki(request.param)


def attackers_voucher(pki: LabPKI) -> SignedSet:
    """A voucher for the victim (SERIAL), signed with the attacker device's IDevID key and
    carrying the IDevID CA, pinning the attacker's own owner CA."""
    attacker_owner = make_root_ca("Attacker Owner CA", pki.key_type)
    owner = make_end_entity(attacker_owner, "Attacker Owner", pki.key_type)
    return make_signed_set(
        pki,
        SERIAL,
        ONBOARDING,
        owner=owner,
        pinned_domain_cert=attacker_owner.cert,
        voucher_signer=pki.idevid(ATTACKER),
    )


def refused(pki: LabPKI, data: SignedSet, step: str, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        verify(pki, data, **kwargs)  # type: ignore[arg-type]
    assert info.value.step == step, f"{info.value.step}: {info.value}"
    return info.value


# -- refused at verification --------------------------------------------------------------


def test_another_devices_idevid_signs_a_voucher_refused_by_the_voucher_anchor(
    pki: LabPKI,
) -> None:
    """R-029, D27: the IDevID validates to the IDevID root, not to the voucher root."""
    err = refused(pki, attackers_voucher(pki), "voucher-signature")
    assert isinstance(err, TrustError)
    assert "voucher-signer trust anchor" in err.message


@pytest.mark.parametrize("constraint", ["pinned", "extended-key-usage", "certificate-policy"])
def test_another_devices_idevid_signs_a_voucher_refused_by_the_signer_policy(
    pki: LabPKI, constraint: str
) -> None:
    """D27: even with anchors that would let the IDevID validate (a configuration start-up
    refuses), each signer constraint alone refuses the attacker's voucher, and accepts the
    manufacturer's signer that satisfies it."""
    honest_signer = _constrained_signer(pki)
    policies = {
        "pinned": VoucherSignerPolicy(
            (pki.voucher_root.cert, pki.manufacturer_root.cert), pinned=(honest_signer.cert,)
        ),
        "extended-key-usage": VoucherSignerPolicy(
            (pki.voucher_root.cert, pki.manufacturer_root.cert),
            extended_key_usage=VOUCHER_EKU.dotted_string,
        ),
        "certificate-policy": VoucherSignerPolicy(
            (pki.voucher_root.cert, pki.manufacturer_root.cert),
            certificate_policy=VOUCHER_EKU.dotted_string,
        ),
    }
    policy = policies[constraint]
    err = refused(pki, attackers_voucher(pki), "voucher-signer-policy", signer=policy)
    assert isinstance(err, TrustError)
    assert constraint.replace("-", " ") in err.message or "pinned" in err.message
    honest = make_signed_set(pki, SERIAL, ONBOARDING, voucher_signer=honest_signer)
    assert verify(pki, honest, signer=policy).voucher_signer == honest_signer.cert
    # and the default lab signer, which has none of the constraints, is refused by them
    err = refused(
        pki, make_signed_set(pki, SERIAL, ONBOARDING), "voucher-signer-policy", signer=policy
    )
    assert "voucher-signer" in err.message


def _constrained_signer(pki: LabPKI) -> Issued:
    """A voucher signer under the voucher CA with the EKU and certificate policy set."""
    signer = make_end_entity(
        pki.manufacturer_intermediate,
        "Constrained Voucher Signer",
        pki.key_type,
        extended_key_usage=[VOUCHER_EKU],
    )
    # add the certificate policy by re-issuing with the same key
    builder = (
        x509.CertificateBuilder()
        .subject_name(signer.cert.subject)
        .issuer_name(signer.cert.issuer)
        .public_key(signer.cert.public_key())  # type: ignore[arg-type]
        .serial_number(signer.cert.serial_number)
        .not_valid_before(signer.cert.not_valid_before_utc)
        .not_valid_after(signer.cert.not_valid_after_utc)
    )
    for ext in signer.cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(
        x509.CertificatePolicies([x509.PolicyInformation(VOUCHER_EKU, None)]), critical=False
    )
    key = pki.manufacturer_intermediate.key
    cert = builder.sign(key, signature_hash(key))  # type: ignore[arg-type]
    return Issued(cert=cert, key=signer.key, chain=signer.chain, root=signer.root)


def test_nonce_less_voucher_refused_when_nonce_vouchers_are_required(pki: LabPKI) -> None:
    """D27: with require-nonce-voucher a voucher without a nonce is refused at voucher-nonce;
    a nonce voucher for this request passes."""
    plain = make_signed_set(pki, SERIAL, ONBOARDING)
    err = refused(pki, plain, "voucher-nonce", nonce=NONCE, require_nonce_voucher=True)
    assert "trust.require-nonce-voucher" in err.message
    nonce_voucher = make_signed_set(pki, SERIAL, ONBOARDING, nonce=NONCE)
    assert verify(pki, nonce_voucher, nonce=NONCE, require_nonce_voucher=True).signed
    assert verify(pki, plain, nonce=NONCE).signed  # off by default


# -- refused at start-up (the pure check) --------------------------------------------------


@pytest.mark.parametrize("anchor", ["idevid-root", "idevid-ca", "idevid-itself"])
def test_another_devices_idevid_signs_a_voucher_refused_at_load_check(
    pki: LabPKI, anchor: str
) -> None:
    """D27: a voucher-signer anchor that the device's IDevID validates to, that is its issuer,
    or that is the IDevID itself, is a configuration error naming the key."""
    idevid = pki.idevid(SERIAL)
    chosen = {
        "idevid-root": pki.manufacturer_root.cert,
        "idevid-ca": pki.idevid_ca.cert,
        "idevid-itself": idevid.cert,
    }[anchor]
    with pytest.raises(ConfigurationError) as info:
        check_configuration(idevid.cert, idevid.chain, [chosen], [pki.manufacturer_root.cert])
    assert info.value.exit_code == 78
    assert info.value.key == "trust.voucher-signer-trust-anchors"
    assert "IDevID" in info.value.message
    # the IDevID's root as an IDevID anchor, the voucher root as the voucher anchor: fine
    check_configuration(
        idevid.cert, idevid.chain, [pki.voucher_root.cert], [pki.manufacturer_root.cert]
    )


def test_idevid_root_given_only_as_manufacturer_anchor_still_refused(pki: LabPKI) -> None:
    """D27: the IDevID file holds only the leaf; its CA comes from the manufacturer anchors,
    and the voucher anchor is the root above them: the path is still found and refused."""
    idevid = pki.idevid(SERIAL)
    with pytest.raises(ConfigurationError):
        check_configuration(idevid.cert, (), [pki.manufacturer_root.cert], [pki.idevid_ca.cert])


def test_idevid_must_validate_to_the_manufacturer_anchors(pki: LabPKI) -> None:
    """D27: when IDevID CAs are given, the device's IDevID validates to one of them."""
    idevid = pki.idevid(SERIAL)
    with pytest.raises(ConfigurationError) as info:
        check_configuration(
            idevid.cert, idevid.chain, [pki.voucher_root.cert], [pki.owner_root.cert]
        )
    assert info.value.key == "trust.manufacturer-trust-anchors"


def test_no_voucher_anchor_refused(pki: LabPKI) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_configuration(pki.idevid(SERIAL).cert, (), [], [])
    assert info.value.key == "trust.voucher-signer-trust-anchors"


# -- refused at start-up, as the real process against a scenario device ---------------------


def _device(tmp_path: Path, pki: LabPKI, trust: dict[str, object]) -> Device:
    device = make_device(
        tmp_path / "device", pki, SERIAL, servers=["https://127.0.0.1:9"], installer="ab-directory"
    )
    config = device.config_path.read_text()
    # rewrite the [trust] table only
    head, _, rest = config.partition("[trust]\n")
    _, _, tail = rest.partition("\n[")
    device.config_path.write_text(head + to_toml({"trust": trust}).lstrip("\n") + "\n[" + tail)
    return device


def _written(device: Device) -> list[str]:
    """Every file under the device's state, run and cache directories."""
    found: list[str] = []
    for sub in ("var/lib/sztp", "run/sztp", "var/cache/sztp", "slots"):
        base = device.root / sub
        found.extend(str(p.relative_to(device.root)) for p in base.rglob("*") if p.is_file())
    return found


@pytest.mark.parametrize(
    ("case", "trust", "expected"),
    [
        (
            "idevid-root-as-voucher-anchor",
            {
                "voucher-signer-trust-anchors": ["manufacturer-trust-anchors.pem"],
                "manufacturer-trust-anchors": ["manufacturer-trust-anchors.pem"],
            },
            "sign a voucher for every other device",
        ),
        (
            "old-configuration",
            {"manufacturer-trust-anchors": ["manufacturer-trust-anchors.pem"]},
            "no longer verifies vouchers",
        ),
        (
            "empty-voucher-anchors",
            {"voucher-signer-trust-anchors": []},
            "is empty",
        ),
    ],
)
def test_another_devices_idevid_signs_a_voucher_refused_at_load(
    tmp_path: Path, case: str, trust: dict[str, object], expected: str
) -> None:
    """D27: `sztp-client run` refuses such a configuration before any traffic: exit 78, the
    key named, the reason said, and nothing written under the device's paths."""
    pki = make_lab_pki()
    device = _device(tmp_path, pki, {"clock": "untrusted", **trust})
    before = device.changed_files()
    result = device.run("run", "--once")
    assert result.returncode == 78, (result.stdout, result.stderr)
    assert "trust.voucher-signer-trust-anchors" in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert _written(device) == []
    assert device.changed_files() == before
    # the configured lab device (voucher root only) passes the same start-up checks
    good = make_device(tmp_path / "good", pki, SERIAL, servers=["https://127.0.0.1:9"])
    ok = good.run("run", "--once")
    assert ok.returncode != 78, ok.stderr


def test_lab_device_configures_only_the_voucher_root(tmp_path: Path) -> None:
    """The lab's devices (and so the demo) trust the voucher root for vouchers and the IDevID
    root for IDevIDs, nothing else."""
    pki = make_lab_pki()
    device = make_device(tmp_path / "d", pki, SERIAL, servers=["https://127.0.0.1:9"])
    etc = device.root / "etc"
    voucher = x509.load_pem_x509_certificates(
        (etc / "voucher-signer-trust-anchors.pem").read_bytes()
    )
    idevid = x509.load_pem_x509_certificates((etc / "manufacturer-trust-anchors.pem").read_bytes())
    assert voucher == [pki.voucher_root.cert]
    assert idevid == [pki.manufacturer_root.cert]
    text = device.config_path.read_text()
    assert 'voucher-signer-trust-anchors = ["voucher-signer-trust-anchors.pem"]' in text
