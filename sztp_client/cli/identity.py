"""``sztp-client identity [--json] [--config FILE]``: who the device says it is.

Shows the serial number, the IDevID's subject and issuer, where the key is (a TPM persistent
handle or a file path), whether the key can leave its store, and, for a TPM identity, the
digest of the selected PCRs (the value a quote over them would carry); with ``--quote NONCE``
also a TPM quote over those PCRs bound to the verifier's nonce.  The JSON document
(``--json``) is versioned; docs/identity.md describes it.  Exit 0 when the identity could be
read, the error's exit code otherwise (78 for a bad or missing identity configuration, 75
when the TPM does not answer).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sztp_client.cli.help import EXIT_CODES, HelpFormatter, paragraph
from sztp_client.config import DEFAULT_CONFIG

#: the version of the JSON document
IDENTITY_VERSION = 1


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "identity",
        help="show the device's identity (IDevID, key location, PCR digest)",
        description=paragraph(
            "Show the device's identity as the identity table of the configuration sets it "
            "up: the serial number, the IDevID subject and issuer, the key's location (TPM "
            "handle or file path), whether the key is non-exportable and, for a TPM identity, "
            "the digest of the selected PCRs (null for a file identity)."
        ),
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the versioned JSON document instead of the summary",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"the configuration file whose identity table is read (default: {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--pcrs",
        metavar="BANK:LIST",
        default="sha256:0-7",
        help="the PCRs whose digest is shown, such as sha256:0-7 or sha256:0,2,4 "
        "(default: sha256:0-7)",
    )
    parser.add_argument(
        "--quote",
        metavar="NONCE",
        help="also have the TPM quote the selected PCRs, bound to NONCE (hexadecimal, 1 to 64 "
        "bytes, the verifier's), signed by the attestation key at --ak-handle",
    )
    parser.add_argument(
        "--ak-handle",
        metavar="HANDLE",
        default="0x81010002",
        help="the persistent handle of the attestation key for --quote, a restricted ECC P-256 "
        "or RSA-2048 signing key (default: 0x81010002)",
    )
    parser.set_defaults(handler=identity)


def describe(
    config_path: Path, pcrs: str, nonce_text: str | None = None, ak_handle: str = "0x81010002"
) -> dict[str, Any]:
    """The identity document (typed errors for every failure); with ``nonce_text`` a quote
    too."""
    from sztp_client.config import load_config  # noqa: PLC0415 - lazily, like the others
    from sztp_client.errors import ConfigurationError  # noqa: PLC0415
    from sztp_client.identity import attest  # noqa: PLC0415
    from sztp_client.identity.base import TPMIdentity, build_identity  # noqa: PLC0415
    from sztp_client.identity.tpm import parse_handle  # noqa: PLC0415

    selection = attest.parse_selection(pcrs)
    nonce = attest.parse_nonce(nonce_text) if nonce_text is not None else None
    ak = parse_handle(ak_handle, "--ak-handle")
    config = load_config(config_path, required=True)
    built = build_identity(config.identity)
    if built is None:
        raise ConfigurationError(
            "no identity is configured: set identity.certificate and identity.key, or "
            'identity.backend = "tpm" with identity.tpm.*',
            "identity",
        )
    try:
        leaf = built.chain[0]
        key: dict[str, Any] = {"backend": built.backend}
        digest: str | None = None
        quoted: dict[str, Any] | None = None
        if isinstance(built, TPMIdentity):
            key["handle"] = f"{built.handle:#010x}"
            key["tcti"] = built.tcti
            values = attest.read_pcrs(built.device, selection)
            digest = attest.pcr_digest(selection, values).hex()
            if nonce is not None:
                quoted = attest.quote(built.device, ak, nonce, selection).to_json(nonce, ak)
        else:
            key["path"] = str(built.key)
            if nonce is not None:
                raise ConfigurationError(
                    '--quote needs a TPM identity (identity.backend "tpm" or "auto" with '
                    "a TPM that answers)",
                    "identity.backend",
                )
        key["non-exportable"] = built.non_exportable
        return {
            "version": IDENTITY_VERSION,
            "serial-number": built.serial_number(),
            "idevid": {
                "subject": leaf.subject.rfc4514_string(),
                "issuer": leaf.issuer.rfc4514_string(),
            },
            "key": key,
            "choice": built.choice,
            "pcr-selection": str(selection) if digest is not None else None,
            "pcr-digest": digest,
            **({"quote": quoted} if quoted is not None else {}),
        }
    finally:
        if isinstance(built, TPMIdentity):
            built.close()


def identity(args: argparse.Namespace) -> int:
    from sztp_client.errors import SZTPError  # noqa: PLC0415

    try:
        document = describe(args.config or DEFAULT_CONFIG, args.pcrs, args.quote, args.ak_handle)
    except SZTPError as exc:
        print(f"sztp-client: {exc.message}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    key = document["key"]
    print(f"serial number: {document['serial-number']}")
    print(f"idevid subject: {document['idevid']['subject']}")
    print(f"idevid issuer: {document['idevid']['issuer']}")
    where = key.get("handle") or key.get("path")
    print(f"key: {key['backend']} {where}{' via ' + key['tcti'] if 'tcti' in key else ''}")
    print(f"non-exportable: {'yes' if key['non-exportable'] else 'no'}")
    print(f"chosen: {document['choice']}")
    if document["pcr-digest"] is not None:
        print(f"pcr digest ({document['pcr-selection']}): {document['pcr-digest']}")
    else:
        print("pcr digest: none (no TPM)")
    if "quote" in document:
        quoted = document["quote"]
        print(
            f"quote ({quoted['signature-scheme']}, attestation key {quoted['ak-handle']}, "
            f"nonce {quoted['nonce']}):"
        )
        print(f"  attest: {quoted['attest']}")
        print(f"  signature: {quoted['signature']}")
    return 0
