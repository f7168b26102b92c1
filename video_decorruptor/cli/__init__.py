"""The ``video-decorruptor`` console script: one module per command, as the huggingface_hub and
torch command lines are laid out.

Each command module has ``add_parser(subparsers)`` (its options, help and examples) and
``run(args)``, which imports the library module doing the work only when it runs. Only the named
command's module is imported to parse its arguments, so that a refusal (a bad option, an existing
output) comes before torch loads.

Exit codes: 0 success, 2 bad usage (argparse), 1 a clear runtime error (message on stderr, no
traceback unless ``VIDEO_DECORRUPTOR_DEBUG=1``), 130 interrupted.

``python -m video_decorruptor.cli ...`` runs it too, as ``torchrun ... -m video_decorruptor.cli`` does.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from image_core import __version__
from video_decorruptor.cli.common import PROG, CommandError
from video_decorruptor.options import check_device

__all__ = ["COMMANDS", "CommandError", "PROG", "build_parser", "main"]

# command name -> the module that adds its parser and runs it, in the order --help lists them
COMMANDS: dict[str, str] = {
    "restore": "restore",
    "restore-dataset": "restore_dataset",
    "corrupt": "corrupt",
    "corruptions": "corruptions",
    "make-ucf101c": "make_ucf101c",
    "evaluate": "evaluate",
    "train-classifier": "train_classifier",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The console script's parser; with ``only`` (a command's name), that command's alone: some
    commands' choices come from modules that import torch, which a refusal should not wait for."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Repair corrupted images and video with a diffusion editor (Decorruptor), and build "
        "and measure corruption benchmarks. Run `%(prog)s COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        if only in (None, name):
            importlib.import_module(f"{__name__}.{module}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        check_device(getattr(args, "device", None))
        args.run(args)
    except (CommandError, ValueError, OSError) as error:
        if os.environ.get("VIDEO_DECORRUPTOR_DEBUG") == "1":
            raise
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the writers have already removed their partial outputs
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0
