"""The ``sztp-client`` command: argument parsing and exit codes (D20).

Each sub-command lives in its own module and registers itself here.  Only the module of the
sub-command given is imported (all of them for help and usage errors): ``status`` and
``--version`` then start without loading the TLS, HTTP and CMS code that ``run`` needs.  Every
error that reaches this level is turned into its exit code and one line on stderr; a traceback
is printed only for a bug (exit 70).

The cyclic garbage collector is held off while the sub-command's modules are imported: those
imports create thousands of objects that live as long as the process (classes, functions,
tables) and almost no garbage, so the collections the allocations would trigger find nothing
and only cost start-up time.  Once they are loaded (and when ``main`` runs the process's own
command line, not a caller's), ``gc.freeze`` moves them out of the collector's view for good,
which also keeps a long ``run`` from scanning them again.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Final, NoReturn

from sztp_client import __version__
from sztp_client.cli.help import EXIT_CODES, HelpFormatter, paragraph
from sztp_client.errors import EXIT_SOFTWARE, UsageError

#: the sub-commands, each a module of this package with ``register(subparsers)``
COMMANDS: Final = ("run", "status", "verify", "discover", "identity", "factory-reset")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors raise UsageError (exit 64, D20) instead of exiting 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser(commands: Sequence[str] = COMMANDS) -> ArgumentParser:
    """The parser with the sub-commands ``commands`` registered (their modules imported)."""
    parser = ArgumentParser(
        prog="sztp-client",
        description=paragraph(
            "Secure Zero Touch Provisioning (RFC 8572) client.  run, status and discover read the "
            "configuration in /etc/sztp/client.toml (and the drop-ins in client.toml.d/ "
            "beside it) unless --config names another file.  `sztp-client COMMAND --help` "
            "tells more."
        ),
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"sztp-client {__version__}",
        help="print the version and exit",
    )
    # prog given: argparse would otherwise format a usage line to derive it, which loads shutil
    # (and with it zlib, bz2 and lzma) for every command, ``status`` included
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=ArgumentParser,
        title="commands",
        prog=parser.prog,
    )
    for name in commands:
        importlib.import_module(f"sztp_client.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list else None
    gc.disable()
    try:
        if command in COMMANDS:
            parser = build_parser((command,))
        elif args_list == ["--version"]:
            parser = build_parser(())
        else:
            parser = build_parser()
    finally:
        if argv is None:  # the process's own command line: what is loaded now stays loaded
            gc.freeze()
        gc.enable()
    try:
        args = parser.parse_args(args_list)
    except UsageError as exc:
        if command == "verify":
            from sztp_client.cli import verify  # noqa: PLC0415 - imported for verify only

            return verify.report_usage_error(exc, json_output="--json" in args_list)
        parser.print_usage(sys.stderr)
        print(f"sztp-client: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.command is None:
        parser.print_help(sys.stderr)
        return UsageError.exit_code
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception:  # a bug: show it, with its traceback, and exit 70
        import traceback  # noqa: PLC0415 - only after a bug

        traceback.print_exc()
        return EXIT_SOFTWARE
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
