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

The goal "at most 5 ms median" for the full set is printed as PASS/MISS; it is informational,
and the script exits 0 whatever the timings.  See docs/benchmarks.md.

    .venv/bin/python bench/verify_bench.py [--runs N] [--openssl-runs N] [--json]
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
from cryptography import x509
from cryptography.hazmat.backends.openssl import backend as crypto_backend

from sztp_client.trust import cms
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
from sztp_lab.artifacts import SignedSet, make_signed_set, onboarding_json
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
        return cms.verify_signature(sd, sd.signers[0], owner, "conveyed information")

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
# Run and report


def run(runs: int, openssl_runs: int) -> dict[str, Any]:
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
        "--json", action="store_true", help="print a JSON summary instead of the table"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.openssl_runs < 1:
        parser.error("--runs and --openssl-runs must be at least 1")
    summary = run(args.runs, args.openssl_runs)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
