"""``video-decorruptor corruptions``: the corruption names by family, and a gallery of them."""

from __future__ import annotations

import argparse
from pathlib import Path

from image_core.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, corruption_names
from video_decorruptor.cli.common import PROG, add_command
from video_decorruptor.options import positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "corruptions",
        help="list the corruptions; optionally render a gallery",
        description="List the ImageNet-C corruptions by family. With --gallery, render a grid of every "
        "corruption (rows) at every severity (columns) on a photo, to see what they look like.",
        examples=[f"{PROG} corruptions --video", f"{PROG} corruptions --gallery gallery.png"],
    )
    parser.add_argument("--family", choices=FAMILIES, help="only this family of image corruptions")
    parser.add_argument("--video", action="store_true", help="also list the video corruptions")
    parser.add_argument("--gallery", type=Path, metavar="OUT.png", help="render the gallery image here")
    parser.add_argument(
        "--image", type=Path, help="photo for the gallery (default: the bundled held-out photo 'china', 224 px)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for the gallery (default 0)")
    parser.add_argument(
        "--tile", type=positive_int, default=128, help="size of each gallery tile in pixels (default 128)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    names = corruption_names(args.family)
    width = max(len(name) for name in names)
    print(f"{'name':<{width}}  family")
    for name in names:
        print(f"{name:<{width}}  {CORRUPTIONS[name].family}")
    if args.video:
        from video_decorruptor.benchmark.corruptions import (
            UCF101C_CORRUPTIONS,
            VIDEO_CORRUPTIONS,
            video_corruption_names,
        )

        print(f"\n{'video name':<22}  kind      in UCF-101C")
        for name in video_corruption_names():
            print(f"{name:<22}  {VIDEO_CORRUPTIONS[name].kind:<8}  {'yes' if name in UCF101C_CORRUPTIONS else ''}")
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
    print(
        f"wrote {args.gallery} ({len(names)} corruptions x {len(SEVERITIES)} severities, "
        f"{grid.shape[1]}x{grid.shape[0]} px)"
    )
