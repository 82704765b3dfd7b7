"""What ``sztp-client verify`` does once its arguments are parsed (:func:`judge`): read the
trust policy and the device's identity from them (anchors, signer constraints, assertions,
clock, nonce), the decryptor of ``--identity`` and the three artifacts, each file with its size
bound (D19); then run :func:`~sztp_client.trust.verifier.verify_bootstrapping_data` and report
(:mod:`sztp_client.cli.verify_report`).  Loaded only when ``verify`` runs.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
from pathlib import Path

from cryptography import x509

from sztp_client.cli.verify_report import Report, describe, dump, print_text
from sztp_client.config import load_config
from sztp_client.encoding.yang_types import parse_datetime
from sztp_client.errors import (
    EXIT_OK,
    ConfigurationError,
    DataError,
    InputFileError,
    SizeLimitError,
    SZTPError,
    UsageError,
)
from sztp_client.files import read_bounded
from sztp_client.identity.base import build_identity
from sztp_client.limits import MIB, Limits
from sztp_client.model.voucher import Assertion
from sztp_client.trust import armor, cms
from sztp_client.trust.clock import Clock
from sztp_client.trust.envelope import EnvelopeDecryptor, FileRecipientKey
from sztp_client.trust.identity import issuer_key_id, subject_serial_number
from sztp_client.trust.oids import is_dotted_oid
from sztp_client.trust.signer_policy import VoucherSignerPolicy, check_configuration
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import (
    DEFAULT_ASSERTIONS,
    Artifacts,
    DeviceIdentity,
    TrustPolicy,
    verify_bootstrapping_data,
)

__all__ = ["judge"]

#: largest certificate file read (D19: trust-anchor artifacts 1 MiB)
MAX_CERTIFICATE_FILE = MIB


def judge(args: argparse.Namespace) -> int:
    """Read the inputs, run the verification pipeline, print the report; the exit code."""
    report = Report(args.json)
    try:
        policy, device, nonce = _policy_from_args(args)
        decryptor = _decryptor(args)
        limits = policy.limits
        artifacts = Artifacts(
            conveyed_information=_read_cms(
                args.conveyed_information, "conveyed information", limits.conveyed_information
            ),
            owner_certificate=_read_optional_cms(
                args.owner_certificate, "owner certificate", limits.owner_certificate
            ),
            ownership_voucher=_read_optional_cms(
                args.ownership_voucher, "ownership voucher", limits.ownership_voucher
            ),
        )
    except (UsageError, InputFileError, ConfigurationError) as exc:
        step = {UsageError: "usage", InputFileError: "input"}.get(type(exc), "configuration")
        return report.fail(step, exc.message, exc.exit_code)
    except DataError as exc:
        return report.fail(exc.step or "input", exc.message, exc.exit_code)
    except SZTPError as exc:  # the identity's TPM does not answer, ...
        return report.fail("identity", exc.message, exc.exit_code)
    report.document["signed"] = _peek_signed(artifacts.conveyed_information)
    try:
        verified = verify_bootstrapping_data(
            artifacts,
            device,
            policy,
            source=SourceKind.UNTRUSTED_SERVER,
            nonce=nonce,
            decryptor=decryptor,
        )
    except SZTPError as exc:
        step = exc.step if isinstance(exc, DataError) and exc.step else "verify"
        return report.fail(step, exc.message, exc.exit_code)
    describe(report.document, verified)
    report.document["acceptable"] = True
    if args.json:
        dump(report.document)
    else:
        print_text(report.document)
    return EXIT_OK


#: the largest --identity file read (a configuration or a PEM key)
MAX_IDENTITY_ARGUMENT = 64 * 1024


def _decryptor(args: argparse.Namespace) -> EnvelopeDecryptor | None:
    """The decryptor of ``--identity``: a PEM private key with ``--idevid-certificate``, or the
    identity table of a client configuration (file or TPM back-end)."""
    if args.identity is None:
        return None
    data = _read_file(args.identity, "identity", MAX_IDENTITY_ARGUMENT)
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" in data:
        if args.idevid_certificate is None:
            raise UsageError("--identity with a PEM key needs --idevid-certificate")
        certificate = _read_file(
            args.idevid_certificate, "IDevID certificate", MAX_CERTIFICATE_FILE
        )
        return EnvelopeDecryptor(FileRecipientKey.from_pem(certificate, data))
    config = load_config(Path(args.identity), required=True)
    identity = build_identity(config.identity)
    if identity is None:
        raise UsageError(f"--identity {args.identity}: the configuration names no identity")
    return EnvelopeDecryptor(identity.recipient_key())


def _policy_from_args(
    args: argparse.Namespace,
) -> tuple[TrustPolicy, DeviceIdentity, bytes | None]:
    if not args.voucher_signer_trust_anchors:
        hint = ""
        if args.manufacturer_trust_anchors:
            hint = (
                "; --manufacturer-trust-anchors no longer verifies vouchers: it names the CAs "
                "that issue IDevIDs. Give the manufacturer's voucher CA with "
                "--voucher-signer-trust-anchors"
            )
        raise UsageError(
            "--voucher-signer-trust-anchors is required: the manufacturer's voucher (MASA) "
            "CA that the voucher signer must validate to" + hint
        )
    anchors: list[x509.Certificate] = []
    for name in args.voucher_signer_trust_anchors:
        anchors.extend(_certificates(name, "--voucher-signer-trust-anchors"))
    idevid_anchors: list[x509.Certificate] = []
    for name in args.manufacturer_trust_anchors or ():
        idevid_anchors.extend(_certificates(name, "--manufacturer-trust-anchors"))
    pinned: list[x509.Certificate] = []
    for name in args.voucher_signer_pinned_certificates or ():
        pinned.extend(_certificates(name, "--voucher-signer-pinned-certificates"))
    for option, value in (
        ("--voucher-signer-extended-key-usage", args.voucher_signer_extended_key_usage),
        ("--voucher-signer-certificate-policy", args.voucher_signer_certificate_policy),
    ):
        if value is not None and not is_dotted_oid(value):
            raise UsageError(f"{option}: '{value}' is not a dotted object identifier")
    signer_policy = VoucherSignerPolicy(
        trust_anchors=tuple(anchors),
        extended_key_usage=args.voucher_signer_extended_key_usage,
        certificate_policy=args.voucher_signer_certificate_policy,
        pinned=tuple(pinned),
    )

    serial = args.serial_number
    idevid_issuer: bytes | None = None
    if args.idevid_certificate is not None:
        certs = armor.load_certificates(
            _read_file(args.idevid_certificate, "IDevID certificate", MAX_CERTIFICATE_FILE),
            args.idevid_certificate,
        )
        if not certs:
            raise UsageError(
                f"--idevid-certificate {args.idevid_certificate}: holds no certificate"
            )
        idevid = certs[0]
        try:
            check_configuration(idevid, certs[1:], anchors, idevid_anchors)
        except ConfigurationError as exc:
            raise ConfigurationError(_option_names(exc.message)) from exc
        idevid_serial = subject_serial_number(idevid)
        if idevid_serial is None and serial is None:
            raise UsageError(
                "the IDevID certificate has no serialNumber in its subject; give --serial-number"
            )
        if idevid_serial is not None and serial is not None and idevid_serial != serial:
            raise UsageError(
                f"--serial-number '{serial}' disagrees with the IDevID's serialNumber "
                f"'{idevid_serial}'"
            )
        serial = serial if serial is not None else idevid_serial
        idevid_issuer = issuer_key_id(idevid)
    if serial is None:
        raise UsageError("give --serial-number or --idevid-certificate (or both)")

    assertions = DEFAULT_ASSERTIONS
    if args.accept_assertion:
        try:
            assertions = frozenset(Assertion(name) for name in args.accept_assertion)
        except ValueError as exc:
            known = ", ".join(a.value for a in Assertion)
            raise UsageError(f"--accept-assertion: unknown assertion ({known} are known)") from exc

    if args.clock == "trusted":
        if args.now is not None:
            try:
                now = parse_datetime(args.now, "--now")
            except DataError as exc:
                raise UsageError(f"--now: not an RFC 3339 time: {exc.message}") from exc
        else:
            now = dt.datetime.now(dt.UTC)
        clock = Clock.trusted_at(now)
    else:
        if args.now is not None:
            raise UsageError("--now needs --clock trusted: an untrusted clock checks no time")
        clock = Clock.untrusted()

    nonce: bytes | None = None
    if args.nonce is not None:
        try:
            nonce = base64.b64decode(args.nonce, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError("--nonce: not base64") from exc
        if not 16 <= len(nonce) <= 32:
            raise UsageError(f"--nonce: {len(nonce)} bytes; a nonce has 16 to 32 bytes")

    if args.require_nonce_voucher and nonce is None:
        raise UsageError("--require-nonce-voucher needs --nonce (the nonce the device sent)")
    policy = TrustPolicy(
        voucher_signer=signer_policy,
        clock=clock,
        accepted_assertions=assertions,
        limits=Limits(),
        require_nonce_voucher=args.require_nonce_voucher,
    )
    return policy, DeviceIdentity(serial, idevid_issuer), nonce


def _option_names(message: str) -> str:
    """A configuration-key message in command-line terms."""
    for key in ("voucher-signer-trust-anchors", "manufacturer-trust-anchors"):
        message = message.replace(f"trust.{key}", f"--{key}")
    return message


def _certificates(name: str, option: str) -> list[x509.Certificate]:
    """The certificates in file ``name``; a file holding none is a usage error."""
    data = _read_file(name, option, MAX_CERTIFICATE_FILE)
    try:
        found = armor.load_certificates(data, name)
    except DataError as exc:
        raise UsageError(f"{option} {name}: holds no certificate ({exc.message})") from exc
    if not found:
        raise UsageError(f"{option} {name}: holds no certificate")
    return found


def _read_file(name: str, what: str, limit: int) -> bytes:
    try:
        return read_bounded(Path(name), limit, what)
    except OSError as exc:
        raise InputFileError(f"{what} {name}: {exc.strerror or exc}") from exc


def _read_cms(name: str, what: str, limit: int) -> bytes:
    # base64 and PEM are about 4/3 larger than the DER they carry
    raw = _read_file(name, what, limit * 4 // 3 + 4096)
    try:
        der = armor.decode_cms_input(raw, f"{what} {name}")
    except DataError as exc:
        exc.step = exc.step or "decode"
        raise
    if len(der) > limit:
        raise SizeLimitError(f"{what} {name}", len(der), limit)
    return der


def _read_optional_cms(name: str | None, what: str, limit: int) -> bytes | None:
    return None if name is None else _read_cms(name, what, limit)


def _peek_signed(data: bytes) -> bool | None:
    """Whether the conveyed information is signed, before it is judged (None: unreadable)."""
    try:
        return isinstance(cms.unwrap(data, "conveyed-information"), cms.Signed)
    except SZTPError:
        return None
