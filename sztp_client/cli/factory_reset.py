"""``sztp-client factory-reset [--config FILE] [--yes] [--json]``: forget what bootstrapping
made, keep what the factory made.

Removes the RFC 9646 LDevID: its certificate and its key (the key file deleted; a key made in
the TPM evicted from ``identity.ldevid.tpm-handle``), and the client's state and status (so
that the next ``run`` bootstraps from scratch: the bootstrapped flag, the installed-image
record, the status document and the client's caches).  The IDevID, its key and its
certificate, files or TPM, are never touched, nor the images installed and the configuration
applied.

It asks before removing anything: ``--yes`` confirms on the command line; without it a terminal
on stdin is asked, and anything else is refused (exit 64).  The removal runs under the run
lock, so never while a ``run`` is in progress (exit 75).  Exit codes: 0 done (also when there
was nothing to remove); 64 not confirmed; 75 a run holds the lock, or the TPM that holds the
LDevID key does not answer (nothing is removed then); 77 a file may not be removed; 78 a bad
configuration (a LDevID path or handle that is the IDevID's).  It says what it removed, or
prints a versioned JSON document with ``--json`` (docs/identity.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sztp_client.cli.help import EXIT_CODES, HelpFormatter, paragraph
from sztp_client.config import DEFAULT_CONFIG

if TYPE_CHECKING:
    from sztp_client.config import ClientConfig

#: the version of the JSON document
RESET_VERSION = 1
#: what the client keeps under paths.cache-dir (work directories of scripts, images, configs)
CACHE_ENTRIES = ("images", "scripts", "configuration")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "factory-reset",
        help="remove the LDevID, its key and the bootstrapping state (keeps the IDevID)",
        description=paragraph(
            "Remove what bootstrapping made so that the next run starts from scratch: the "
            "LDevID certificate and its key (the key file deleted, a TPM key evicted) and the "
            "client's state, status and caches.  The IDevID, its key and its certificate stay "
            "as the factory made them.  Asks for confirmation on a terminal; elsewhere --yes "
            "is required."
        ),
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"the configuration file that names the paths and the identity (default: "
        f"{DEFAULT_CONFIG})",
    )
    parser.add_argument("--yes", action="store_true", help="remove without asking")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the versioned JSON document of what was removed instead of the summary",
    )
    parser.set_defaults(handler=factory_reset)


def _guard_paths(config: ClientConfig, paths: list[Path]) -> None:
    from sztp_client.errors import ConfigurationError  # noqa: PLC0415

    identity = config.identity
    kept = {p.resolve() for p in (identity.certificate, identity.key) if p is not None}
    if identity.tpm.certificate is not None and not identity.tpm.certificate.startswith("nv:"):
        kept.add(Path(identity.tpm.certificate).resolve())
    for path in paths:
        if path.resolve() in kept:
            raise ConfigurationError(
                f"{path} is the IDevID's own file; a factory reset never removes it",
                "identity.ldevid",
            )


def _tpm_store(config: ClientConfig, cert_path: Path, notes: list[str]) -> Any:
    """The LDevID key store in the TPM, or None when the identity is not a TPM one (or,
    for ``auto``, no TPM answers)."""
    from sztp_client.errors import SZTPError  # noqa: PLC0415
    from sztp_client.identity.ldevid_tpm import TPMKeyStore  # noqa: PLC0415
    from sztp_client.identity.tpm import TPM  # noqa: PLC0415

    identity = config.identity
    if identity.backend == "file":
        return None
    if identity.backend == "auto" and identity.tpm.certificate is None:
        notes.append("auto: no identity.tpm.certificate, so no TPM key to evict")
        return None
    tpm = TPM(identity.tpm.tcti)
    store = TPMKeyStore(tpm, identity.ldevid.tpm_handle, cert_path, identity.tpm.key_handle)
    try:
        store.tpm.persistent_handles()  # does it answer?
    except SZTPError as exc:
        tpm.close()
        if identity.backend == "tpm":
            raise
        notes.append(f"auto: no usable TPM ({exc.message}), so no TPM key to evict")
        return None
    return store


def reset(config: ClientConfig) -> dict[str, Any]:
    """Remove the LDevID, its key and the state; the JSON document of what was done."""
    from sztp_client.actions.ldevid import FileKeyStore  # noqa: PLC0415
    from sztp_client.errors import PermissionDeniedError  # noqa: PLC0415
    from sztp_client.state.lock import RunLock  # noqa: PLC0415

    paths = config.paths
    ldevid = config.identity.ldevid
    base = paths.state_dir / "ldevid"
    cert_path = ldevid.certificate or base / "cert.pem"
    key_file = ldevid.key_file or base / "key.pem"
    files = [
        ("ldevid-certificate", cert_path),
        ("ldevid-key", key_file),
        ("state", paths.state_dir / "state.json"),
        ("status", paths.run_dir / "status.json"),
    ]
    _guard_paths(config, [cert_path, key_file])
    removed: list[dict[str, str]] = []
    notes: list[str] = []
    lock = RunLock(paths.run_dir) if paths.run_dir.is_dir() else None
    if lock is not None:
        lock.acquire()  # AlreadyRunningError (75) while a run is in progress
    try:
        store = _tpm_store(config, cert_path, notes)
        if store is not None:  # first the TPM: if it does not answer, nothing is removed
            try:
                if store.delete():
                    removed.append({"item": "ldevid-key", "location": store.location})
            finally:
                store.tpm.close()
        file_store = FileKeyStore(key_path=key_file, cert_path=cert_path)
        try:
            for item, path in files:
                if item == "ldevid-key":
                    if file_store.delete():
                        removed.append({"item": item, "location": str(path)})
                elif path.exists():
                    path.unlink()
                    removed.append({"item": item, "location": str(path)})
            for name in CACHE_ENTRIES:
                entry = paths.cache_dir / name
                if entry.is_dir():
                    shutil.rmtree(entry)
                    removed.append({"item": "cache", "location": str(entry)})
            if base.is_dir() and not any(base.iterdir()):
                base.rmdir()
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"cannot remove {exc.filename}: permission denied", "paths"
            ) from exc
    finally:
        if lock is not None:
            lock.release()
    return {
        "version": RESET_VERSION,
        "removed": removed,
        "kept": _kept(config),
        "notes": notes,
    }


def _kept(config: ClientConfig) -> list[dict[str, str]]:
    identity = config.identity
    kept = []
    if identity.backend in ("tpm", "auto") and identity.tpm.certificate is not None:
        kept.append(
            {
                "item": "idevid-key",
                "location": f"tpm:{identity.tpm.key_handle:#010x} via {identity.tpm.tcti}",
            }
        )
        kept.append({"item": "idevid-certificate", "location": identity.tpm.certificate})
    if identity.backend in ("file", "auto") and identity.key is not None:
        kept.append({"item": "idevid-key", "location": str(identity.key)})
        kept.append({"item": "idevid-certificate", "location": str(identity.certificate)})
    return kept


def _confirmed(args: argparse.Namespace) -> bool:
    from sztp_client.errors import UsageError  # noqa: PLC0415

    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "factory-reset removes the LDevID and the bootstrapping state; stdin is not a "
            "terminal to ask, so confirm with --yes"
        )
    answer = input("Remove the LDevID, its key and the bootstrapping state? Type 'yes': ")
    return answer.strip().lower() == "yes"


def factory_reset(args: argparse.Namespace) -> int:
    from sztp_client.config import load_config  # noqa: PLC0415
    from sztp_client.errors import EXIT_USAGE, SZTPError  # noqa: PLC0415

    try:
        config = load_config(args.config or DEFAULT_CONFIG, required=args.config is not None)
        if not _confirmed(args):
            print("sztp-client: not confirmed; nothing removed", file=sys.stderr)
            return EXIT_USAGE
        document = reset(config)
    except SZTPError as exc:
        print(f"sztp-client: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except EOFError:
        print("sztp-client: not confirmed; nothing removed", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    for entry in document["removed"]:
        print(f"removed {entry['item']}: {entry['location']}")
    if not document["removed"]:
        print("nothing to remove")
    for entry in document["kept"]:
        print(f"kept {entry['item']}: {entry['location']}")
    for note in document["notes"]:
        print(f"note: {note}")
    return 0
