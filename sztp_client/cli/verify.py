"""``sztp-client verify``: judge bootstrapping artifacts as a device would.

The artifacts are judged as data from an untrusted source (removable storage, DNS, a bootstrap
server reached provisionally): signed data must pass every step of
:mod:`sztp_client.trust.verifier`; unsigned redirect information is accepted; unsigned
onboarding information is refused.  No configuration file is read.  Output and exit codes are
described in docs/verify.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from cryptography import x509

from sztp_client.config import load_config
from sztp_client.encoding.yang_types import format_datetime, parse_datetime
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
from sztp_client.model.conveyed import conveyed_information_to_json
from sztp_client.model.voucher import Assertion, voucher_to_json
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
    VerifiedData,
    verify_bootstrapping_data,
)

JSON_VERSION = 1
#: largest certificate file read (D19: trust-anchor artifacts 1 MiB)
MAX_CERTIFICATE_FILE = MIB


#: exit codes of verify, as docs/verify.md lists them
VERIFY_EXIT_CODES = """\
exit codes:
  0    the artifacts are acceptable
  64   usage error (a missing --voucher-signer-trust-anchors, a bad option value)
  65   not acceptable, or an input over its size bound
  66   an input file is missing or unreadable
  70   internal error (a bug: the traceback is printed)
  78   the trust anchors would let an IDevID sign vouchers, or the IDevID does not
       validate to --manufacturer-trust-anchors
"""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="verify conveyed information, owner certificate and ownership voucher",
        description="Judge SZTP artifacts as a device judges data from an untrusted source; "
        "no configuration file is read.",
        epilog=VERIFY_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "conveyed_information",
        metavar="CONVEYED-INFORMATION",
        help="the conveyed-information artifact (DER, PEM or base64 CMS)",
    )
    parser.add_argument(
        "--owner-certificate", metavar="FILE", help="the owner-certificate artifact (CMS)"
    )
    parser.add_argument(
        "--ownership-voucher", metavar="FILE", help="the ownership-voucher artifact (CMS)"
    )
    parser.add_argument(
        "--serial-number",
        metavar="SN",
        help="the device's serial number (default: the IDevID's subject serialNumber)",
    )
    parser.add_argument(
        "--idevid-certificate",
        metavar="CERT",
        help="the device's IDevID (PEM, intermediates may follow): its serial number and "
        "issuer are checked against the voucher, and it may not validate to a "
        "voucher-signer anchor",
    )
    parser.add_argument(
        "--identity",
        metavar="FILE",
        help="decrypt encrypted artifacts with the device's key: FILE is a client "
        "configuration whose identity table is used (file or TPM), or a PEM private key "
        "(with --idevid-certificate)",
    )
    parser.add_argument(
        "--voucher-signer-trust-anchors",
        metavar="CERTS",
        action="append",
        help="required, repeatable: PEM file of the manufacturer's voucher (MASA) CA "
        "certificates; the voucher signer must validate to one of them",
    )
    parser.add_argument(
        "--manufacturer-trust-anchors",
        metavar="CERTS",
        action="append",
        help="repeatable: PEM file of the CAs that issue IDevIDs; the --idevid-certificate "
        "must validate to one of them (vouchers never validate to these)",
    )
    parser.add_argument(
        "--voucher-signer-extended-key-usage",
        metavar="OID",
        help="an extended key usage the voucher signer must list (dotted OID)",
    )
    parser.add_argument(
        "--voucher-signer-certificate-policy",
        metavar="OID",
        help="a certificate policy the voucher signer must assert (dotted OID)",
    )
    parser.add_argument(
        "--voucher-signer-pinned-certificates",
        metavar="CERTS",
        action="append",
        help="repeatable: PEM file of the only certificates that may sign the voucher",
    )
    parser.add_argument(
        "--require-nonce-voucher",
        action="store_true",
        help="refuse a voucher without a nonce (then give --nonce)",
    )
    parser.add_argument(
        "--accept-assertion",
        metavar="NAME",
        action="append",
        help="repeatable: an accepted voucher assertion (default: verified and logged)",
    )
    parser.add_argument(
        "--clock",
        choices=("trusted", "untrusted"),
        default="untrusted",
        help="untrusted (default) checks no validity period; trusted checks them at --now",
    )
    parser.add_argument(
        "--now",
        metavar="RFC3339-TIME",
        help="the time a trusted clock reads (default: this machine's time)",
    )
    parser.add_argument(
        "--nonce", metavar="BASE64", help="the nonce the device sent (16 to 32 bytes, base64)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run)


class _Report:
    """What is printed: one JSON document (--json) or text, and one stderr line on failure."""

    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output
        self.document: dict[str, Any] = {"version": JSON_VERSION, "acceptable": False}

    def fail(self, step: str, message: str, exit_code: int) -> int:
        line = " ".join(message.split())
        print(f"verify: {step}: {line}", file=sys.stderr)
        if self.json_output:
            self.document["acceptable"] = False
            self.document["error"] = {"step": step, "message": line}
            _dump(self.document)
        return exit_code


def report_usage_error(exc: UsageError, json_output: bool) -> int:
    return _Report(json_output).fail("usage", exc.message, exc.exit_code)


def run(args: argparse.Namespace) -> int:
    report = _Report(args.json)
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
    _describe(report.document, verified)
    report.document["acceptable"] = True
    if args.json:
        _dump(report.document)
    else:
        _print_text(report.document)
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
    try:
        return isinstance(cms.unwrap(data, "conveyed-information"), cms.Signed)
    except SZTPError:
        return None


def _describe(document: dict[str, Any], verified: VerifiedData) -> None:
    document["signed"] = verified.signed
    document["encrypted"] = verified.encrypted
    document["kind"] = verified.kind.value
    ci = conveyed_information_to_json(verified.conveyed_information)
    document["conveyed-information"] = ci
    if verified.owner_certificate is not None:
        document["owner-certificate"] = _certificate_summary(verified.owner_certificate)
    if verified.voucher is not None:
        document["voucher"] = voucher_to_json(verified.voucher)


def _certificate_summary(cert: x509.Certificate) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not-before": format_datetime(cert.not_valid_before_utc),
        "not-after": format_datetime(cert.not_valid_after_utc),
    }


def _print_text(document: dict[str, Any]) -> None:
    signed = "yes" if document["signed"] else "no (unsigned redirect information)"
    print(f"acceptable: yes\nsigned: {signed}\nkind: {document['kind']}")
    if "owner-certificate" in document:
        print(f"owner certificate: {document['owner-certificate']['subject']}")
    if "voucher" in document:
        voucher = document["voucher"].get("ietf-voucher:voucher", document["voucher"])
        print(
            f"voucher: serial-number {voucher.get('serial-number')}, "
            f"assertion {voucher.get('assertion')}"
        )
    print(json.dumps(document["conveyed-information"], indent=2))


def _dump(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, sort_keys=False))


__all__ = ["register", "report_usage_error", "run"]
