"""Command-line options shared by the console script, the demo and the benchmarks, declared once:
argparse types that turn a bad number into a usage error (exit code 2) before any work starts, and
the editor's settings, which ``restore`` names ``--steps ...`` and commands that run the editor as
one part of a bigger job name ``--editor-steps ...``."""

from __future__ import annotations

import argparse
from typing import Any, Callable

__all__ = ["add_editor_options", "at_least", "editor_config_fields", "non_negative_float", "non_negative_int", "positive_int",
           "restorer_settings"]  # fmt: skip


def at_least(kind: Callable[[str], int | float], minimum: int | float) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)``, refused below ``minimum`` ("must be >= 1, got 0")."""

    def parse(text: str) -> int | float:
        value = kind(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value: 'x'"
    return parse


positive_int = at_least(int, 1)
non_negative_int = at_least(int, 0)
non_negative_float = at_least(float, 0)


def add_editor_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The editor's checkpoint and settings, as options named ``--<prefix>steps`` and so on: with
    ``prefix=""`` (read back by :func:`restorer_settings`) the checkpoint is ``--model``, with
    ``prefix="editor-"`` (read back by :func:`editor_config_fields`) it is ``--editor``."""
    parser.add_argument(f"--{prefix[:-1]}" if prefix else "--model", dest=prefix.replace("-", "_") + "model", metavar="FOLDER",
                        help="editor checkpoint folder or hub id (default: the embedded Decorruptor-Tiny CM)")  # fmt: skip
    parser.add_argument(f"--{prefix}steps", type=positive_int, metavar="N",
                        help="editor steps (default: the checkpoint's own, else 4 for CM and 20 for DPM)")  # fmt: skip
    parser.add_argument(f"--{prefix}size", type=positive_int, metavar="PIXELS", help="editor working long side (default: native, at most 512)")
    parser.add_argument(f"--{prefix}colour-fix", type=non_negative_float, metavar="SIGMA",
                        help="colour fix: the input's frequencies below a Gaussian of this std in pixels (the frames "
                        "smoothed along time first) replace the edit's; 0 = off (default: the editor's, 2)")  # fmt: skip
    parser.add_argument(f"--{prefix}grid-shifts", type=positive_int, metavar="N",
                        help="edit each batch N times (1, 2 or 4) on latent grids shifted by half a latent pixel and average: "
                        "fewer patch seams and less noise for N times the work (default: the checkpoint's own, else 1)")  # fmt: skip
    parser.add_argument(f"--{prefix}no-tone", action="store_true",
                        help="skip the checkpoint's tone correction (a learned global gain and offset per frame, "
                        "smoothed along time, that undoes lowered contrast; the embedded model has one)")  # fmt: skip
    parser.add_argument(f"--{prefix}fusion-radius", type=non_negative_int, default=2, metavar="N",
                        help="before the edit, average each frame with N neighbours on each side, warped onto it by optical "
                        "flow where the flow is reliable: noise, grain, rain and compression drawn afresh per frame average "
                        "out; 0 = off (default 2)")  # fmt: skip


def restorer_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``add_editor_options(parser)`` added, as the keywords of ``VideoDecorruptor.from_pretrained``."""
    return {"path": args.model, "num_inference_steps": args.steps, "size": args.size, "colour_fix_sigma": args.colour_fix,
            "grid_shifts": args.grid_shifts, "tone_correction": not args.no_tone, "fusion_radius": args.fusion_radius}  # fmt: skip


def editor_config_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``add_editor_options(parser, "editor-")`` added, as the editor fields of ``EvaluationConfig``."""
    return {"editor": args.editor_model, "editor_steps": args.editor_steps, "editor_size": args.editor_size,
            "editor_colour_fix": args.editor_colour_fix, "editor_grid_shifts": args.editor_grid_shifts,
            "editor_tone_correction": not args.editor_no_tone, "editor_fusion_radius": args.editor_fusion_radius}  # fmt: skip
