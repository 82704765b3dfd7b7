"""What ``--help`` shows beyond the options: the exit codes (one table for every command)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

EXIT_CODES: Final = """\
exit codes:
  0    done: bootstrapped, rebooting into a new image, already bootstrapped, or disabled
       (status: the status could be read; discover: some source yielded something)
  64   usage error on the command line
  65   data refused (not trustworthy, malformed), or a script or the configuration failed
  66   an input file named on the command line is missing or unreadable
  69   no source gave usable bootstrapping data (run --once); discover: no source
       yielded a bootstrap server or artifacts
  70   internal error (a bug: the traceback is printed)
  75   temporary failure worth retrying (network, image download), or another run holds
       the run lock (its pid is named)
  77   permission denied: a directory or file the client must use (the key is named)
  78   the configuration is invalid or incomplete (the key is named)
  130  interrupted by SIGINT (Ctrl-C); 143: stopped by SIGTERM (systemctl stop)
"""


def terminal_columns(fallback: int = 80) -> int:
    """The terminal's width as ``shutil.get_terminal_size`` tells it (``COLUMNS``, then the
    terminal of stdout, then ``fallback``), without importing shutil: argparse makes a
    formatter for every option it registers, and shutil would load zlib, bz2 and lzma into
    every command (start-up)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or fallback


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description and the exit-code table as written (see :func:`paragraph`)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = terminal_columns() - 2  # what argparse does, through shutil
        super().__init__(prog, indent_increment, max_help_position, width)


def paragraph(text: str, width: int = 78) -> str:
    """``text`` wrapped for a description shown by :class:`HelpFormatter`: its words, each line
    as long as fits in ``width`` (a longer word alone on its line, never split).  Not textwrap:
    each command wraps its description when it registers, ``status`` included, and textwrap
    compiles its patterns on import (start-up)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "\n".join(lines)


__all__ = ["EXIT_CODES", "HelpFormatter", "paragraph"]
