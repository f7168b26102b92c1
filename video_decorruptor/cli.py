"""The ``video-decorruptor`` console script.

Exit codes: 0 success, 2 bad usage (argparse), 1 a clear runtime error (message on stderr, no
traceback unless ``VIDEO_DECORRUPTOR_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from image_core import __version__
from image_core.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, corruption_names

PROG = "video-decorruptor"


class CommandError(Exception):
    """A runtime failure to report in one line (exit code 1)."""


def _add_corrupt(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "corrupt",
        help="apply one ImageNet-C corruption to an image",
        description="Apply one ImageNet-C corruption at one severity to an image file. The same seed "
        "gives the same output. Grayscale images stay grayscale.",
        epilog=f"example: {PROG} corrupt photo.png -o noisy.png --corruption gaussian_noise --severity 3 --seed 0",
    )
    parser.add_argument("image", type=Path, help="input image (PNG, JPEG, BMP, TIFF, ...), at least 32x32")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output image; format from its extension")
    parser.add_argument(
        "--corruption", required=True, choices=list(CORRUPTIONS), metavar="NAME",
        help=f"corruption name, one of those `{PROG} corruptions` lists",
    )  # fmt: skip
    parser.add_argument("--severity", type=int, default=3, choices=SEVERITIES, help="1 (mild) to 5 (strong); default 3")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=_run_corrupt)


def _run_corrupt(args: argparse.Namespace) -> None:
    from image_core.corruptions import corrupt
    from image_core.io import read_image, write_image

    image = read_image(args.image)
    write_image(args.output, corrupt(image, args.corruption, args.severity, rng=args.seed))
    print(f"wrote {args.output} ({args.corruption}, severity {args.severity}, seed {args.seed})")


def _add_corruptions(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "corruptions",
        help="list the corruptions; optionally render a gallery",
        description="List the ImageNet-C corruptions by family. With --gallery, render a grid of every "
        "corruption (rows) at every severity (columns) on a photo, to see what they look like.",
        epilog=f"example: {PROG} corruptions --gallery gallery.png",
    )
    parser.add_argument("--family", choices=FAMILIES, help="only this family")
    parser.add_argument("--gallery", type=Path, metavar="OUT.png", help="render the gallery image here")
    parser.add_argument(
        "--image", type=Path, help="photo for the gallery (default: the bundled held-out photo 'china', 224 px)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for the gallery (default 0)")
    parser.add_argument("--tile", type=int, default=128, help="size of each gallery tile in pixels (default 128)")
    parser.set_defaults(run=_run_corruptions)


def _run_corruptions(args: argparse.Namespace) -> None:
    names = corruption_names(args.family)
    width = max(len(name) for name in names)
    print(f"{'name':<{width}}  family")
    for name in names:
        print(f"{name:<{width}}  {CORRUPTIONS[name].family}")
    if args.gallery is None:
        return
    from image_core.gallery import corruption_gallery
    from image_core.io import read_image, write_image
    from image_core.sources import sample_photo

    image = read_image(args.image) if args.image else sample_photo(224)
    if image.ndim == 2:
        image = image[..., None].repeat(3, axis=2)
    grid = corruption_gallery(image, names, seed=args.seed, tile=args.tile)
    write_image(args.gallery, grid)
    print(f"wrote {args.gallery} ({len(names)} corruptions x {len(SEVERITIES)} severities, {grid.shape[1]}x{grid.shape[0]} px)")


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_corrupt, _add_corruptions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Repair corrupted images and video with a diffusion editor (Decorruptor), and build "
        "and measure corruption benchmarks. Run `%(prog)s COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandError, ValueError, OSError) as error:
        if os.environ.get("VIDEO_DECORRUPTOR_DEBUG") == "1":
            raise
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    return 0
