"""What ``sztp-client verify`` prints: one JSON document (``--json``) or a few lines of text,
and one line on stderr naming the failed step (docs/verify.md).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from sztp_client.encoding.yang_types import format_datetime
from sztp_client.model.conveyed import conveyed_information_to_json
from sztp_client.model.voucher import voucher_to_json

if TYPE_CHECKING:
    from cryptography import x509

    from sztp_client.trust.verifier import VerifiedData

__all__ = ["JSON_VERSION", "Report", "describe", "dump", "print_text"]

JSON_VERSION = 1


class Report:
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
            dump(self.document)
        return exit_code


def describe(document: dict[str, Any], verified: VerifiedData) -> None:
    document["signed"] = verified.signed
    document["encrypted"] = verified.encrypted
    document["kind"] = verified.kind.value
    ci = conveyed_information_to_json(verified.conveyed_information)
    document["conveyed-information"] = ci
    if verified.owner_certificate is not None:
        document["owner-certificate"] = certificate_summary(verified.owner_certificate)
    if verified.voucher is not None:
        document["voucher"] = voucher_to_json(verified.voucher)


def certificate_summary(cert: x509.Certificate) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not-before": format_datetime(cert.not_valid_before_utc),
        "not-after": format_datetime(cert.not_valid_after_utc),
    }


def print_text(document: dict[str, Any]) -> None:
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


def dump(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, sort_keys=False))
