"""What every command of the console script shares: its name, the one-line error, the device option.

The editor's options (shared with library code that builds a restorer from parsed arguments) live in
:mod:`video_decorruptor.options`.
"""

from __future__ import annotations

import argparse
import textwrap

from video_decorruptor.options import device_name

PROG = "video-decorruptor"


class CommandError(Exception):
    """A runtime failure to report in one line (exit code 1)."""


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``, checked by :func:`video_decorruptor.options.check_device` before a command runs."""
    parser.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def add_command(
    subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str, examples: list[str]
) -> argparse.ArgumentParser:
    """A command's parser with the house layout of its ``--help``: the description wrapped at 100
    columns (kept as written where it breaks its own lines), then its examples, one per line."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description if "\n" in description else textwrap.fill(description, 100),
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
