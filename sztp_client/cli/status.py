"""``sztp-client status [--json] [--config FILE]``: what bootstrapping did, and where it is.

The document is the one the runner keeps in ``<run-dir>/status.json`` (docs/running.md), with
``bootstrapped`` taken from the persistent state, which survives reboots.  A document that says
``running`` while no run holds the run lock is shown as ``interrupted``: that run was killed.
Without a configuration file (the default path missing) the status is read from the built-in
default paths, with a note on stderr.  Exit 0 whenever the status could be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sztp_client.cli.help import EXIT_CODES, HelpFormatter, paragraph
from sztp_client.config import DEFAULT_CONFIG, load_config
from sztp_client.errors import SZTPError
from sztp_client.protocol.outcome import StatusState
from sztp_client.state import state_file
from sztp_client.state.status_file import STATUS_VERSION, read_status, status_path


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="show the bootstrapping status",
        description=paragraph(
            "Show what bootstrapping did and where it is: the state (idle, running, "
            "interrupted, failed, no-data, rebooting, bootstrapped, disabled), the attempts, "
            "the steps, the images installed and the last error with a diagnosis.  Reads "
            "files only; works while a run is in progress, and without a configuration file "
            "(then the built-in default paths are read)."
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
        help=f"the configuration file that names the paths (default: {DEFAULT_CONFIG})",
    )
    parser.set_defaults(handler=status)


def status(args: argparse.Namespace) -> int:
    try:
        path = args.config or DEFAULT_CONFIG
        config = load_config(path, required=args.config is not None)
        if config.source is None and args.config is None:
            print(
                f"sztp-client: note: {path} does not exist; reading the built-in default paths",
                file=sys.stderr,
            )
        document = read_status(status_path(config.paths.run_dir))
        state = state_file.read_state(config.paths.state_dir)
    except SZTPError as exc:
        print(f"sztp-client: {exc.message}", file=sys.stderr)
        return exc.exit_code
    if document is None:
        document = {
            "version": STATUS_VERSION,
            "state": StatusState.IDLE,
            "attempts": [],
            "steps": [],
        }
    if document.get("state") == StatusState.RUNNING:
        from sztp_client.state.lock import holder  # noqa: PLC0415 - only while a run may be on

        pid = holder(config.paths.run_dir)
        if pid is None:  # no run holds the lock: the one that wrote "running" was killed
            document["state"] = StatusState.INTERRUPTED
            document["interrupted"] = "the run ended without finishing (killed)"
        elif pid:
            document["pid"] = pid
    bootstrapped: bool = state[state_file.BOOTSTRAPPED]
    document["bootstrapped"] = bootstrapped
    if bootstrapped:
        document["state"] = StatusState.BOOTSTRAPPED
        document["bootstrapped-at"] = state[state_file.BOOTSTRAPPED_AT]
    document["images"] = state[state_file.IMAGES]
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    print(f"state: {document.get('state')}")
    print(f"bootstrapped: {'yes' if bootstrapped else 'no'}")
    for attempt in document.get("attempts", []):
        error = attempt.get("error", {}).get("message", "")
        print(
            f"attempt: {attempt.get('server')} ({attempt.get('address')}, {attempt.get('trust')})"
            f" -> {attempt.get('outcome')}{': ' + error if error else ''}"
        )
    for step in document.get("steps", []):
        print(f"step: {step.get('step')}: {step.get('outcome')}")
    if document.get("notice"):
        print(f"notice: {document['notice']}")
    last = document.get("last-error")
    if last and not bootstrapped:
        print(f"last error: {last.get('message')}")
        print(f"diagnosis: {last.get('diagnosis')}")
    return 0
