"""Benchmark: verifying a signed SZTP bootstrapping-data set in-process vs the openssl CLI.

For each key type (ec-p256, rsa-2048) a lab PKI and one signed set (ownership voucher, owner
certificate, signed onboarding information) are made once.  Then:

1. ``verify_bootstrapping_data`` runs on the whole set from an untrusted server, under an
   untrusted clock and under a trusted clock: median, p90 and min over ``--runs`` calls after
   a warm-up, in milliseconds.
2. The baseline: two ``openssl cms -verify`` processes run one after the other, one for the
   voucher CMS (to the manufacturer root) and one for the conveyed-information CMS (to the
   owner root), each with ``-CAfile`` holding the root and its intermediate.
3. Parts of the pipeline, to show where the time goes: ``cms.unwrap`` + ``verify_signature``
   of the conveyed information alone, and ``validate_path`` of the owner certificate alone.
4. Hostile artifacts of at most the size bounds (D28): forged voucher-signer candidates (2,000
   in a voucher under 1 MiB, and the worst cases within the bound of 16 certificates), an
   owner-certificate bag of 16 with decoy issuers, RSASSA-PSS parameter variants; each
   verified under the untrusted clock, its median printed as a ratio to the valid set's
   median, the two timed alternately in the same run (goal: at most 10x).

The goal "at most 5 ms median" for the full set is printed as PASS/MISS; it is informational,
and the script exits 0 whatever the timings.  See docs/benchmarks.md.

    .venv/bin/python bench/verify_bench.py [--runs N] [--openssl-runs N] [--hostile-runs N]
        [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cryptography
from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.backends.openssl import backend as crypto_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sztp_client.errors import DataError
from sztp_client.limits import Limits
from sztp_client.trust import cms, cms_verify
from sztp_client.trust.chain import validate_path
from sztp_client.trust.clock import Clock
from sztp_client.trust.signer_policy import VoucherSignerPolicy
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import (
    Artifacts,
    DeviceIdentity,
    TrustPolicy,
    verify_bootstrapping_data,
)
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import SignedSet, make_signed_set, onboarding_json, voucher_json
from sztp_lab.pki import KeyType, LabPKI, make_lab_pki, pem_bundle

KEY_TYPES: tuple[KeyType, ...] = ("ec-p256", "rsa-2048")
SERIAL = "SN-BENCH-0001"
GOAL_MS = 5.0
WARMUP = 20
OPENSSL_WARMUP = 10
OPENSSL_TIMEOUT = 60

ONBOARDING = onboarding_json(
    os_name="LabOS",
    os_version="2.0",
    download_uris=("https://images.example/labos-2.0.img",),
    sha256=bytes(range(32)),
    configuration_handling="merge",
    configuration=b"<config/>",
    pre_script=b"#!/bin/sh\necho pre\n",
    post_script=b"#!/bin/sh\necho post\n",
)


@dataclass(frozen=True)
class Stats:
    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Stats:
        ordered = sorted(samples_ns)
        p90_index = max(0, math.ceil(0.9 * len(ordered)) - 1)  # nearest rank
        return cls(
            runs=len(ordered),
            median_ms=statistics.median(ordered) / 1e6,
            p90_ms=ordered[p90_index] / 1e6,
            min_ms=ordered[0] / 1e6,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "runs": self.runs,
            "median_ms": round(self.median_ms, 4),
            "p90_ms": round(self.p90_ms, 4),
            "min_ms": round(self.min_ms, 4),
        }


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> Stats:
    for _ in range(warmup):
        fn()
    samples: list[int] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return Stats.of(samples)


def time_interleaved(
    fn: Callable[[], object], reference: Callable[[], object], runs: int
) -> tuple[Stats, Stats]:
    """Time ``fn`` and ``reference`` alternately (so both see the same machine load)."""
    for _ in range(2):
        fn()
        reference()
    samples: list[int] = []
    reference_samples: list[int] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        middle = time.perf_counter_ns()
        reference()
        samples.append(middle - start)
        reference_samples.append(time.perf_counter_ns() - middle)
    return Stats.of(samples), Stats.of(reference_samples)


# ---------------------------------------------------------------------------------------------
# In-process


@dataclass(frozen=True)
class Fixture:
    key_type: KeyType
    pki: LabPKI
    signed: SignedSet
    artifacts: Artifacts
    device: DeviceIdentity


def make_fixture(key_type: KeyType) -> Fixture:
    pki = make_lab_pki(key_type)
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    artifacts = Artifacts(
        conveyed_information=signed.conveyed_information,
        owner_certificate=signed.owner_certificate,
        ownership_voucher=signed.ownership_voucher,
    )
    return Fixture(key_type, pki, signed, artifacts, DeviceIdentity(SERIAL))


def policy_of(pki: LabPKI, clock: Clock) -> TrustPolicy:
    return TrustPolicy(
        voucher_signer=VoucherSignerPolicy(trust_anchors=(pki.voucher_root.cert,)), clock=clock
    )


def full_set_call(fx: Fixture, clock: Clock) -> Callable[[], object]:
    policy = policy_of(fx.pki, clock)

    def call() -> object:
        return verify_bootstrapping_data(
            fx.artifacts, fx.device, policy, source=SourceKind.UNTRUSTED_SERVER
        )

    verified = call()  # fails loudly (a TrustError) if the set does not verify
    if not getattr(verified, "signed", False):
        raise SystemExit(f"{fx.key_type}: the signed set verified as unsigned data")
    return call


def conveyed_signature_call(fx: Fixture) -> Callable[[], object]:
    owner = fx.pki.owner_certificate.cert
    data = fx.signed.conveyed_information

    def call() -> bytes:
        unwrapped = cms.unwrap(data, "conveyed-information")
        if not isinstance(unwrapped, cms.Signed):
            raise SystemExit("the conveyed information is not SignedData")
        sd = unwrapped.signed
        return cms_verify.verify_signature(sd, sd.signers[0], owner, "conveyed information")

    call()
    return call


def owner_path_call(fx: Fixture, clock: Clock) -> Callable[[], object]:
    assert fx.signed.owner_certificate is not None
    bag = cms.unwrap(fx.signed.owner_certificate, "owner-certificate")
    if not isinstance(bag, cms.Signed):
        raise SystemExit("the owner-certificate artifact is not SignedData")
    intermediates: Sequence[x509.Certificate] = bag.signed.certificates
    leaf = fx.pki.owner_certificate.cert
    anchors = [fx.pki.owner_root.cert]

    def call() -> object:
        return validate_path(leaf, intermediates, anchors, clock)

    call()
    return call


# ---------------------------------------------------------------------------------------------
# openssl CLI baseline


def openssl_version(openssl: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed argv, absolute path from shutil.which
        [openssl, "version"], capture_output=True, text=True, check=False, timeout=OPENSSL_TIMEOUT
    )
    return done.stdout.strip() or "unknown"


def openssl_commands(openssl: str, fx: Fixture, workdir: Path) -> list[list[str]]:
    """The two verify commands; writes the DER artifacts and PEM CA files into ``workdir``."""
    assert fx.signed.ownership_voucher is not None
    d = workdir / fx.key_type
    d.mkdir()
    (d / "voucher.der").write_bytes(fx.signed.ownership_voucher)
    (d / "conveyed.der").write_bytes(fx.signed.conveyed_information)
    pki = fx.pki
    (d / "manufacturer-ca.pem").write_bytes(
        pem_bundle([pki.voucher_root.cert, pki.manufacturer_intermediate.cert])
    )
    (d / "owner-ca.pem").write_bytes(pem_bundle([pki.owner_root.cert, pki.owner_intermediate.cert]))

    def verify(der: str, ca: str) -> list[str]:
        return [
            openssl,
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(d / der),
            "-CAfile",
            str(d / ca),
            "-purpose",
            "any",
            "-out",
            os.devnull,
        ]

    return [verify("voucher.der", "manufacturer-ca.pem"), verify("conveyed.der", "owner-ca.pem")]


def check_openssl(commands: list[list[str]]) -> str | None:
    """Run each command once; the error text of the first that fails, else None."""
    for argv in commands:
        done = subprocess.run(  # noqa: S603 - argv built here from fixed words and temp paths
            argv, capture_output=True, text=True, check=False, timeout=OPENSSL_TIMEOUT
        )
        if done.returncode != 0:
            return f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}"
    return None


def openssl_pair_call(commands: list[list[str]]) -> Callable[[], object]:
    def call() -> object:
        for argv in commands:
            done = subprocess.run(  # noqa: S603 - argv built here from fixed words and temp paths
                argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
                timeout=OPENSSL_TIMEOUT,
            )
            if done.returncode != 0:
                raise SystemExit(f"openssl failed during timing: {' '.join(argv)}")
        return None

    return call


# ---------------------------------------------------------------------------------------------
# Hostile artifacts (D28): each of at most the size bounds, timed as a ratio to the valid set

HOSTILE_GOAL_RATIO = 10.0
_FORGER = ec.generate_private_key(ec.SECP256R1())


def _forged(
    like: x509.Certificate,
    count: int,
    *,
    key: Any,
    subject: x509.Name | None = None,
    ca: bool = False,
) -> list[x509.Certificate]:
    """Certificates with ``like``'s issuer and serial number (so a SignerInfo naming ``like``
    names each of them), each with its own notBefore, signed by a forger's key."""
    made = []
    for index in range(count):
        name = subject or x509.Name(
            [x509.NameAttribute(x509.NameOID.COMMON_NAME, f"Forged {index}")]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(like.issuer)
            .public_key(key)
            .serial_number(like.serial_number + (index if ca else 0))
            .not_valid_before(like.not_valid_before_utc + dt.timedelta(seconds=index + 1))
            .not_valid_after(like.not_valid_after_utc)
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        made.append(builder.sign(_FORGER, hashes.SHA256()))
    return made


def _issuer(name: x509.Name, key: Any, signed_by: Any, index: int) -> x509.Certificate:
    """A forged CA certificate with subject and issuer ``name`` (it names itself, and every
    other such certificate, as a possible issuer)."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, seconds=-index)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key)
        .serial_number(7000 + index)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(signed_by, hashes.SHA256())
    )


def _voucher(fx: Fixture, certificates: list[x509.Certificate], **sign: Any) -> bytes:
    pki = fx.pki
    content = voucher_json(
        serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, created_on=pki.now
    )
    return lab_cms.sign(
        content, lab_cms.OID_VOUCHER, pki.voucher_signer, certificates=certificates, **sign
    )


def _with_pss_salt(der: bytes, salt: int) -> bytes:
    info = acms.ContentInfo.load(der)
    info["content"]["signer_infos"][0]["signature_algorithm"]["parameters"]["salt_length"] = salt
    return bytes(info.dump(force=True))


def hostile_artifacts(fx: Fixture) -> dict[str, Artifacts]:
    pki, signed = fx.pki, fx.signed
    signer = pki.voucher_signer
    ci, oc = signed.conveyed_information, signed.owner_certificate

    def with_voucher(voucher: bytes) -> Artifacts:
        return Artifacts(ci, oc, voucher)

    other_key = _FORGER.public_key()
    same_key = signer.cert.public_key()

    def many(key: Any) -> bytes:
        """2,000 forged candidates, or as many as fit in the voucher bound of 1 MiB."""
        forged = _forged(signer.cert, 2000, key=key)
        while True:
            voucher = _voucher(fx, [*signer.path, *forged])
            if len(voucher) <= Limits().ownership_voucher:
                return voucher
            forged = forged[:-100]

    cases: dict[str, Artifacts] = {
        # the attack of the issue: refused by the bag bound before any decoding
        "voucher: <=2,000 forged signer candidates, other key (bag bound)": with_voucher(
            many(other_key)
        ),
        "voucher: <=2,000 forged signer candidates, signer's key (bag bound)": with_voucher(
            many(same_key)
        ),
        # the worst cases within the bound of 16 certificates
        "voucher: 14 forged candidates + real signer, other key": with_voucher(
            _voucher(fx, [*signer.path, *_forged(signer.cert, 14, key=other_key)])
        ),
        "voucher: 15 forged candidates, signer's key, no real signer": with_voucher(
            _voucher(
                fx, [pki.manufacturer_intermediate.cert, *_forged(signer.cert, 15, key=same_key)]
            )
        ),
        "voucher: 15 forged CA candidates named as the issuer, signer's key": with_voucher(
            _voucher(
                fx,
                [
                    pki.manufacturer_intermediate.cert,
                    *_forged(signer.cert, 15, key=same_key, subject=signer.cert.issuer, ca=True),
                ],
            )
        ),
    }
    # issuers that name and sign each other, under a forged leaf that holds the signer's key
    leaf = _forged(signer.cert, 1, key=same_key)
    ring_keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(14)]
    ring = [
        _issuer(signer.cert.issuer, ring_keys[i].public_key(), ring_keys[(i + 1) % 14], i)
        for i in range(14)
    ]
    cases["voucher: forged leaf under a ring of 14 forged issuers"] = with_voucher(
        _voucher(fx, [pki.manufacturer_intermediate.cert, *leaf, *ring])
    )
    loop = [_issuer(signer.cert.issuer, _FORGER.public_key(), _FORGER, i) for i in range(14)]
    cases["voucher: forged leaf under 14 self-issued copies of one issuer"] = with_voucher(
        _voucher(fx, [pki.manufacturer_intermediate.cert, *leaf, *loop])
    )
    owner = pki.owner_certificate
    decoys = _forged(owner.cert, 14, key=other_key, subject=owner.cert.issuer, ca=True)
    cases["owner certificate: 16 certificates, 14 decoy issuers"] = Artifacts(
        ci, lab_cms.degenerate([*owner.path, *decoys]), signed.ownership_voucher
    )
    if fx.key_type.startswith("rsa"):
        pss = _voucher(fx, list(signer.path), rsa_padding="pss")
        for label, salt in (
            ("negative", -1),
            ("2^70", 2**70),
            ("223 (over the key's 222)", 223),
            ("20 (mismatched)", 20),
        ):
            cases[f"voucher: RSASSA-PSS salt length {label}"] = with_voucher(
                _with_pss_salt(pss, salt)
            )
    return cases


def _bag_size(artifacts: Artifacts) -> int:
    """How many certificates the voucher CMS carries (counted without the verifier)."""
    info = acms.ContentInfo.load(artifacts.ownership_voucher or b"")
    return len(info["content"]["certificates"])


def hostile_call(fx: Fixture, artifacts: Artifacts, clock: Clock) -> Callable[[], object]:
    policy = policy_of(fx.pki, clock)

    def call() -> object:
        try:
            return verify_bootstrapping_data(
                artifacts, fx.device, policy, source=SourceKind.UNTRUSTED_SERVER
            )
        except DataError as exc:
            return exc

    return call


def outcome_of(call: Callable[[], object]) -> str:
    result = call()
    if isinstance(result, DataError):
        return f"refused at {result.step}: {type(result).__name__}"
    return "accepted"


# ---------------------------------------------------------------------------------------------
# Run and report


def run(runs: int, openssl_runs: int, hostile_runs: int = 0) -> dict[str, Any]:
    openssl = shutil.which("openssl")
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "cryptography_openssl": crypto_backend.openssl_version_text(),
        "openssl_cli": openssl_version(openssl) if openssl else None,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    summary: dict[str, Any] = {
        "environment": env,
        "runs": runs,
        "warmup": WARMUP,
        "openssl_runs": openssl_runs,
        "openssl_warmup": OPENSSL_WARMUP,
        "goal_median_ms": GOAL_MS,
        "hostile_runs": hostile_runs,
        "hostile_goal_ratio": HOSTILE_GOAL_RATIO,
        "results": {},
    }
    with tempfile.TemporaryDirectory(prefix="sztp-bench-") as tmp:
        for key_type in KEY_TYPES:
            fx = make_fixture(key_type)
            untrusted = Clock.untrusted()
            trusted = Clock.trusted_at(dt.datetime.now(dt.UTC))
            result: dict[str, Any] = {}
            for name, clock in (("untrusted", untrusted), ("trusted", trusted)):
                stats = time_calls(full_set_call(fx, clock), runs, WARMUP)
                result[f"full_set_{name}_clock"] = stats.as_dict()
                result[f"goal_{name}_clock"] = "PASS" if stats.median_ms <= GOAL_MS else "MISS"
            result["part_conveyed_unwrap_verify_signature"] = time_calls(
                conveyed_signature_call(fx), runs, WARMUP
            ).as_dict()
            for name, clock in (("untrusted", untrusted), ("trusted", trusted)):
                result[f"part_owner_validate_path_{name}_clock"] = time_calls(
                    owner_path_call(fx, clock), runs, WARMUP
                ).as_dict()

            if openssl is None:
                result["openssl_pair"] = None
                result["openssl_error"] = "openssl not found on PATH"
            else:
                commands = openssl_commands(openssl, fx, Path(tmp))
                error = check_openssl(commands)
                if error is not None:
                    result["openssl_pair"] = None
                    result["openssl_error"] = error
                else:
                    pair = time_calls(openssl_pair_call(commands), openssl_runs, OPENSSL_WARMUP)
                    result["openssl_pair"] = pair.as_dict()
                    for name in ("untrusted", "trusted"):
                        inproc = result[f"full_set_{name}_clock"]
                        result[f"ratio_openssl_pair_over_{name}_clock"] = round(
                            pair.median_ms / inproc["median_ms"], 2
                        )
                        result[f"ratio_min_openssl_pair_over_{name}_clock"] = round(
                            pair.min_ms / inproc["min_ms"], 2
                        )
            if hostile_runs:
                valid_call = full_set_call(fx, untrusted)
                table: dict[str, Any] = {}
                for label, artifacts in hostile_artifacts(fx).items():
                    call = hostile_call(fx, artifacts, untrusted)
                    outcome = outcome_of(call)
                    stats, valid_stats = time_interleaved(call, valid_call, hostile_runs)
                    valid = valid_stats.median_ms
                    table[label] = {
                        "valid_set_median_ms": round(valid, 4),
                        "certificates": _bag_size(artifacts),
                        "size": len(artifacts.ownership_voucher or b"")
                        + len(artifacts.owner_certificate or b"")
                        + len(artifacts.conveyed_information),
                        "outcome": outcome,
                        **stats.as_dict(),
                        "ratio_to_valid_set": round(stats.median_ms / valid, 2),
                    }
                result["hostile_untrusted_clock"] = table
            summary["results"][key_type] = result
    return summary


def format_table(summary: dict[str, Any]) -> str:
    env = summary["environment"]
    lines = [
        "SZTP bootstrapping-data verification: in-process vs openssl cms -verify",
        f"python {env['python']}, cryptography {env['cryptography']} "
        f"({env['cryptography_openssl']}), openssl CLI: {env['openssl_cli'] or 'absent'}, "
        f"{env['cpus']} CPUs ({env['machine']})",
        f"in-process: {summary['runs']} runs after {summary['warmup']} warm-up; "
        f"openssl pair: {summary['openssl_runs']} runs after {summary['openssl_warmup']} warm-up",
        "",
    ]
    header = f"{'key':<9} {'measurement':<50} {'median':>8} {'p90':>8} {'min':>8}"
    lines += [header + "   (ms)", "-" * (len(header) + 25)]

    def row(key: str, label: str, stats: dict[str, Any], note: str = "") -> None:
        lines.append(
            f"{key:<9} {label:<50} {stats['median_ms']:>8.3f} {stats['p90_ms']:>8.3f} "
            f"{stats['min_ms']:>8.3f}   {note}".rstrip()
        )

    goal = summary["goal_median_ms"]
    for key, r in summary["results"].items():
        for name in ("untrusted", "trusted"):
            row(
                key,
                f"full set, {name} clock",
                r[f"full_set_{name}_clock"],
                f"goal <= {goal:g} ms median: {r[f'goal_{name}_clock']}",
            )
        row(
            key,
            "  part: conveyed info unwrap + verify_signature",
            r["part_conveyed_unwrap_verify_signature"],
        )
        for name in ("untrusted", "trusted"):
            row(
                key,
                f"  part: owner cert validate_path, {name} clock",
                r[f"part_owner_validate_path_{name}_clock"],
            )
        if r["openssl_pair"] is None:
            lines.append(f"{key:<9} openssl baseline skipped: {r['openssl_error']}")
        else:
            row(key, "openssl cms -verify x2 (voucher, conveyed info)", r["openssl_pair"])
            for stat, prefix in (("median", "ratio"), ("min", "ratio_min")):
                lines.append(
                    f"{key:<9} ratio openssl pair / in-process ({stat}): "
                    f"{r[f'{prefix}_openssl_pair_over_untrusted_clock']:.1f}x untrusted clock, "
                    f"{r[f'{prefix}_openssl_pair_over_trusted_clock']:.1f}x trusted clock"
                )
        hostile = r.get("hostile_untrusted_clock")
        if hostile:
            lines.append(
                f"{key:<9} hostile artifacts, untrusted clock, median as a ratio to the valid "
                f"set (goal <= {summary['hostile_goal_ratio']:g}x):"
            )
            for label, h in hostile.items():
                verdict = (
                    "PASS" if h["ratio_to_valid_set"] <= summary["hostile_goal_ratio"] else ("MISS")
                )
                lines.append(
                    f"{key:<9}   {label:<66} {h['median_ms']:>8.3f} ms "
                    f"{h['ratio_to_valid_set']:>6.2f}x {verdict}  "
                    f"({h['size'] // 1024} KiB, {h['certificates']} voucher certs, "
                    f"{h['outcome']})"
                )
        lines.append("")
    lines.append(f"The {goal:g} ms goal is informational; timings never fail this script.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=300, help="timed in-process calls per figure (default 300)"
    )
    parser.add_argument(
        "--openssl-runs", type=int, default=60, help="timed openssl pairs per key (default 60)"
    )
    parser.add_argument(
        "--hostile-runs",
        type=int,
        default=30,
        help="timed calls per hostile artifact (default 30; 0 skips them)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary instead of the table"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.openssl_runs < 1 or args.hostile_runs < 0:
        parser.error("--runs and --openssl-runs must be at least 1, --hostile-runs at least 0")
    summary = run(args.runs, args.openssl_runs, args.hostile_runs)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
