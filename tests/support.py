"""Shared helpers for the trust tests: a device, a policy and a one-call verify."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sztp_client.limits import Limits
from sztp_client.model.voucher import Assertion
from sztp_client.trust.clock import Clock
from sztp_client.trust.signer_policy import VoucherSignerPolicy
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import (
    DEFAULT_ASSERTIONS,
    Artifacts,
    DeviceIdentity,
    TrustPolicy,
    VerifiedData,
    verify_bootstrapping_data,
)
from sztp_lab.artifacts import SignedSet, idevid_issuer_of, onboarding_json
from sztp_lab.pki import LabPKI

SERIAL = "SN-LAB-0001"
IMAGE_SHA256 = bytes(range(32))
ONBOARDING = onboarding_json(
    os_name="LabOS",
    os_version="2.0",
    download_uris=("https://images.example/labos-2.0.img",),
    sha256=IMAGE_SHA256,
    configuration_handling="merge",
    configuration=b"<config/>",
    pre_script=b"#!/bin/sh\necho pre\n",
    post_script=b"#!/bin/sh\necho post\n",
)


def device_of(pki: LabPKI, serial: str = SERIAL, *, with_issuer: bool = True) -> DeviceIdentity:
    issuer = idevid_issuer_of(pki.idevid(serial).cert) if with_issuer else None
    return DeviceIdentity(serial, issuer)


def policy_of(
    pki: LabPKI,
    clock: Clock | None = None,
    assertions: Iterable[Assertion] = DEFAULT_ASSERTIONS,
    *,
    signer: VoucherSignerPolicy | None = None,
    require_nonce_voucher: bool = False,
    limits: Limits | None = None,
) -> TrustPolicy:
    """D27: vouchers validate to the lab's voucher root only (never the IDevID root)."""
    return TrustPolicy(
        voucher_signer=signer or VoucherSignerPolicy(trust_anchors=(pki.voucher_root.cert,)),
        clock=clock or Clock.untrusted(),
        accepted_assertions=frozenset(assertions),
        require_nonce_voucher=require_nonce_voucher,
        limits=limits or Limits(),
    )


def artifacts_of(signed: SignedSet) -> Artifacts:
    return Artifacts(
        conveyed_information=signed.conveyed_information,
        owner_certificate=signed.owner_certificate,
        ownership_voucher=signed.ownership_voucher,
    )


def verify(
    pki: LabPKI,
    data: SignedSet | Artifacts,
    *,
    serial: str = SERIAL,
    device: DeviceIdentity | None = None,
    clock: Clock | None = None,
    nonce: bytes | None = None,
    source: SourceKind = SourceKind.UNTRUSTED_SERVER,
    assertions: Iterable[Assertion] = DEFAULT_ASSERTIONS,
    signer: VoucherSignerPolicy | None = None,
    require_nonce_voucher: bool = False,
    limits: Limits | None = None,
) -> VerifiedData:
    artifacts = data if isinstance(data, Artifacts) else artifacts_of(data)
    return verify_bootstrapping_data(
        artifacts,
        device or device_of(pki, serial),
        policy_of(
            pki,
            clock,
            assertions,
            signer=signer,
            require_nonce_voucher=require_nonce_voucher,
            limits=limits,
        ),
        source=source,
        nonce=nonce,
    )


def trusted_at(when: dt.datetime) -> Clock:
    return Clock.trusted_at(when)
