"""``sztp-client verify``: judge bootstrapping artifacts as a device would.

The artifacts are judged as data from an untrusted source (removable storage, DNS, a bootstrap
server reached provisionally): signed data must pass every step of
:mod:`sztp_client.trust.verifier`; unsigned redirect information is accepted; unsigned
onboarding information is refused.  No configuration file is read.  Output and exit codes are
described in docs/verify.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from sztp_client.errors import UsageError

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


def report_usage_error(exc: UsageError, json_output: bool) -> int:
    from sztp_client.cli.verify_report import Report  # noqa: PLC0415

    return Report(json_output).fail("usage", exc.message, exc.exit_code)


def run(args: argparse.Namespace) -> int:
    """The handler: the trust stack is loaded here, not when the parser is built (``--help``)."""
    from sztp_client.cli.verify_steps import judge  # noqa: PLC0415

    return judge(args)


__all__ = ["register", "report_usage_error", "run"]
