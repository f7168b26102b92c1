"""Command-line options shared by the console script, the demo and the benchmarks, declared once:
argparse types that turn a bad number into a usage error (exit code 2) before any work starts, and
the editor's settings, which ``restore`` names ``--steps ...`` and commands that run the editor as
one part of a bigger job name ``--editor-steps ...``."""

from __future__ import annotations

import argparse
import math
import re
import textwrap
from collections.abc import Callable
from typing import Any

from video_decorruptor.restore.presets import RestorerConfig

__all__ = [
    "add_editor_options",
    "at_least",
    "check_device",
    "device_name",
    "restorer_config",
    "non_negative_float",
    "non_negative_int",
    "positive_int",
    "restorer_settings",
]


def at_least(kind: Callable[[str], int | float], minimum: int | float) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)``, refused below ``minimum`` ("must be >= 1, got 0") and, for
    floats, refused unless finite (NaN passes every comparison, and inf or NaN guidance made black video)."""

    def parse(text: str) -> int | float:
        value = kind(text)
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value: 'x'"
    return parse


DEVICE_NAME = re.compile(r"cpu|mps|(cuda|xpu)(:\d+)?")


def device_name(text: str) -> str:
    """An argparse type: a torch device name (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``xpu:0``), checked
    for its form before anything loads; :func:`check_device` checks that the machine has it."""
    if not DEVICE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N, mps or xpu:N, got {text!r}")
    return text


def check_device(name: str | None) -> None:
    """Raise ValueError (one line) if this machine has no device ``name``; None (the default) is fine."""
    if name is None or name == "cpu":
        return
    import torch

    kind, _, index = name.partition(":")
    backend = getattr(torch, kind, None)
    count = backend.device_count() if backend is not None and backend.is_available() else 0
    if count == 0:
        raise ValueError(f"--device {name}: this machine has no {kind} device (use --device cpu)")
    if index and int(index) >= count:
        raise ValueError(f"--device {name}: this machine has {count} {kind} device(s), numbered from 0")


positive_int = at_least(int, 1)
non_negative_int = at_least(int, 0)
non_negative_float = at_least(float, 0)


# Each editor option: its name after the prefix -> the ``VideoDecorruptor`` keyword it sets.
EDITOR_OPTION_KEYWORDS = {
    "steps": "num_inference_steps",
    "guidance": "guidance_scale",
    "image_guidance": "image_guidance_scale",
    "image_guidance_schedule": "image_guidance_decay",
    "start_from_image": "start_from_image",
    "size": "size",
    "colour_fix": "colour_fix_sigma",
    "grid_shifts": "grid_shifts",
    "tone": "tone_correction",
    "fusion_radius": "fusion_radius",
}


def add_editor_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The editor's checkpoint, the video preset and every setting, as options named
    ``--<prefix>steps`` and so on: with ``prefix=""`` (read back by :func:`restorer_settings`) the
    checkpoint is ``--model``, with ``prefix="editor-"`` (read back by :func:`restorer_config`)
    it is ``--editor``. Every setting defaults to None: the preset's value, else the checkpoint's."""
    from video_decorruptor.restore.presets import PRESETS

    group = parser.add_argument_group(
        "editor",
        textwrap.fill(
            "Settings left unset come from the preset, then from the checkpoint: a released folder gets the "
            "published values, the embedded Decorruptor-Tiny the ones recorded in its model_index.json.",
            100,
        ),
    )
    add = group.add_argument
    add(
        f"--{prefix[:-1]}" if prefix else "--model",
        dest=prefix.replace("-", "_") + "model",
        metavar="FOLDER",
        help="editor checkpoint folder or hub id (default: the embedded Decorruptor-Tiny CM)",
    )
    add(
        "--preset",
        choices=list(PRESETS),
        default="default",
        help="default: the project's temporal machinery (flow fusion, shared noise, anchor-plus-own attention, latent "
        "smoothing); published: the published video path (long side 512, chunks of frame 0 + 7 new frames, keys and "
        "values from frame 0 only, the seed reset per chunk, image guidance 1.8, no fusion, smoothing, colour fix or "
        "tone correction); fast: default at a working long side of 160 with one grid shift (several times the frames/s "
        "on a CPU, the finest detail lost). Every other option overrides the preset (default: default)",
    )
    add(
        f"--{prefix}steps",
        type=positive_int,
        metavar="N",
        help="sampling steps (the embedded model: 1; published: 20 for DPM, 4 for CM)",
    )
    add(
        f"--{prefix}guidance",
        type=non_negative_float,
        metavar="SCALE",
        help="text guidance scale, S_T in the paper (published: 7.5; the embedded model has no text encoder)",
    )
    add(
        f"--{prefix}image-guidance",
        type=non_negative_float,
        metavar="SCALE",
        help="image guidance scale, S_I in the paper; for DPM the start of its square-root decay to 0 (the embedded "
        "CM: 1.2; published: DPM 1.8, CM 1.3)",
    )
    add(
        f"--{prefix}image-guidance-schedule",
        choices=["decay", "constant"],
        help="DPM only: decay the image guidance as a square root to 0 over the steps (published) or keep it constant",
    )
    add(
        f"--{prefix}start-from-image",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start sampling from the input's latents at the terminal SNR instead of pure noise (published: off)",
    )
    add(
        f"--{prefix}size",
        type=positive_int,
        metavar="PIXELS",
        help="working long side (default preset: native, at most 512; published: 512, a multiple of 64)",
    )
    add(
        f"--{prefix}colour-fix",
        type=non_negative_float,
        metavar="SIGMA",
        help="colour fix: the input's frequencies below a Gaussian of this std in pixels (the frames smoothed along "
        "time first) replace the edit's; 0 = off (published: off)",
    )
    add(
        f"--{prefix}grid-shifts",
        type=int,
        choices=[1, 2, 4],
        metavar="N",
        help="edit each batch N times (1, 2 or 4) on latent grids shifted by half a latent pixel and average: fewer "
        "patch seams and less noise for N times the work (published: 1)",
    )
    add(
        f"--{prefix}tone",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the checkpoint's tone correction, where it has one (a learned global gain and offset per frame, "
        "smoothed along time, that undoes lowered contrast; published: no such step)",
    )
    if not prefix:
        add(
            "--compile",
            action="store_true",
            help="torch.compile the editor's UNet (CUDA graphs on a GPU): the first batch compiles, which takes a "
            "minute; worth it on a GPU for long videos, no faster on a CPU",
        )
    add(
        f"--{prefix}fusion-radius",
        type=non_negative_int,
        metavar="N",
        help="before the edit, average each frame with N neighbours on each side, warped onto it by optical flow where "
        "the flow is reliable: noise, grain, rain and compression drawn afresh per frame average out; 0 = off "
        "(default preset: 2, published: 0)",
    )


def _editor_keywords(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The editor options that were given, as ``VideoDecorruptor`` keywords."""
    keywords = {}
    for option, keyword in EDITOR_OPTION_KEYWORDS.items():
        value = getattr(args, prefix + option)
        if value is not None:
            keywords[keyword] = value == "decay" if option == "image_guidance_schedule" else value
    return keywords


def restorer_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``add_editor_options(parser)`` added, as the keywords of ``VideoDecorruptor.from_pretrained``."""
    return {"path": args.model, "preset": args.preset, "compile": args.compile, **_editor_keywords(args, "")}


def restorer_config(args: argparse.Namespace) -> RestorerConfig:
    """The options ``add_editor_options(parser, "editor-")`` added, as ``EvaluationConfig.editor``."""
    return RestorerConfig(args.editor_model, args.preset, _editor_keywords(args, "editor_"))
