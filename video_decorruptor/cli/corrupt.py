"""``video-decorruptor corrupt``: one corruption at one severity on an image or a video."""

from __future__ import annotations

import argparse
from pathlib import Path

from image_core.corruptions import CORRUPTIONS, SEVERITIES
from video_decorruptor.cli.common import PROG, CommandError, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.benchmark.corruptions import VIDEO_CORRUPTIONS

    parser = add_command(
        subparsers,
        "corrupt",
        help="apply one corruption to an image (ImageNet-C) or a video (UCF-101C and others)",
        description="Apply one corruption at one severity. Images take the ImageNet-C names "
        "(gaussian_noise, fog, ...); videos take the video names (gauss, rain, h265_abr, ...). The same "
        "seed gives the same output. Grayscale images stay grayscale.",
        examples=[
            f"{PROG} corrupt photo.png -o noisy.png --corruption gaussian_noise --severity 3 --seed 0",
            f"{PROG} corrupt clip.avi -o rainy.mp4 --corruption rain --severity 5",
        ],
    )
    parser.add_argument(
        "image", type=Path, metavar="INPUT", help="image (PNG, JPEG, ...) or video (MP4, AVI, MKV, ...)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file; format from its extension")
    parser.add_argument(
        "--corruption",
        required=True,
        choices=list(CORRUPTIONS) + [n for n in VIDEO_CORRUPTIONS if n not in CORRUPTIONS],
        metavar="NAME",
        help=f"corruption name; `{PROG} corruptions --video` lists them all",
    )
    parser.add_argument("--severity", type=int, default=3, choices=SEVERITIES, help="1 (mild) to 5 (strong); default 3")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from image_core.corruptions import corrupt
    from image_core.io import read_image, write_image
    from video_decorruptor.benchmark.corruptions import VIDEO_CORRUPTIONS, corrupt_video
    from video_decorruptor.io import IMAGE_EXTENSIONS

    is_image = args.image.suffix.lower() in IMAGE_EXTENSIONS
    names = CORRUPTIONS if is_image else VIDEO_CORRUPTIONS
    if args.corruption not in names:
        kind = "an image" if is_image else "a video"
        raise CommandError(f"{args.corruption!r} is not a corruption for {kind}; allowed: {', '.join(names)}")
    if is_image:
        write_image(args.output, corrupt(read_image(args.image), args.corruption, args.severity, rng=args.seed))
        detail = ""
    else:
        summary = corrupt_video(args.image, args.output, args.corruption, args.severity, seed=args.seed)
        detail = f", {summary['frames_out']} frames at {summary['fps']:.2f} fps"
    print(f"wrote {args.output} ({args.corruption}, severity {args.severity}, seed {args.seed}{detail})")
