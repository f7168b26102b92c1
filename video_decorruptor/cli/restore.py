"""``video-decorruptor restore``: one video, folder of frames or image, restored."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from video_decorruptor.cli.common import PROG, CommandError, add_command, add_device_option
from video_decorruptor.options import add_editor_options, at_least, non_negative_float, positive_int, restorer_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "restore",
        help="restore a corrupted video (or image folder) with the Decorruptor editor",
        description="Edit every frame of a video back to clean with a Decorruptor checkpoint (default: the embedded "
        "Decorruptor-Tiny CM). The default preset first fuses each frame with its neighbours warped onto it by "
        "optical flow, and keeps the video temporally consistent with shared noise, anchor-frame attention and "
        "motion-aware latent smoothing; --preset published runs the published video path instead. A released "
        "checkpoint folder gets the published editor settings, the embedded model its own. The output keeps the "
        "source's size and fps and appears only when complete.",
        examples=[
            f"{PROG} restore noisy.mp4 -o restored.mp4 --side-by-side",
            f"{PROG} restore noisy.mp4 -o restored.mp4 --model checkpoints/DeCorruptor-CM --preset published",
        ],
    )
    parser.add_argument("input", type=Path, help="video file, folder of frames or image")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output file: a video (.mp4, .mkv, .mov, .avi, .webm) for a video or a folder of frames, an image "
        "(.png, .jpg, ...) for an image",
    )
    add_editor_options(parser)
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="frames per editor batch (default: the preset's, 8; published: frame 0 + 7 new frames)",
    )
    add_device_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--no-shared-noise", action="store_true", help="independent noise per frame")
    parser.add_argument("--no-anchor", action="store_true", help="no anchor-frame attention")
    parser.add_argument(
        "--smoothing",
        type=non_negative_float,
        metavar="S",
        help="latent temporal smoothing strength, 0 = off (default preset: 0.5, published: 0)",
    )
    parser.add_argument("--side-by-side", action="store_true", help="write input | restored next to each other")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--backend", default="pyav", choices=["pyav", "decord"], help="video decoder (default pyav)")
    parser.add_argument(
        "--salvage",
        action="store_true",
        help="restore the readable frames of a damaged or truncated video and say how many were lost (without it, "
        "such a video is refused with nothing written)",
    )
    parser.add_argument(
        "--fps",
        type=at_least(float, 0.001),
        metavar="RATE",
        help="frame rate of a folder of frames (default 25); a video keeps its own",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print what the estimates found in the clip (noise level, salt-and-pepper share, tonal range) and how "
        "strongly each stage ran (tone, fusion, edit: 0 = stepped aside, 1 = full)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import numpy as np

    from image_core.io import write_image
    from video_decorruptor.io import (
        DEEP_ENCODERS,
        DamagedVideoError,
        PyAVReader,
        open_video,
        output_kind,
        video_encoder,
    )

    kind = output_kind(args.input, args.output)  # a bad input or output fails before the model loads
    if args.output.exists() and not args.overwrite:
        raise CommandError(f"{args.output} exists; pass --overwrite to replace it")
    reader = open_video(args.input, args.backend, salvage=args.salvage, fps=args.fps)
    try:
        if isinstance(reader, PyAVReader):
            reader.verify()
    except DamagedVideoError as error:
        raise CommandError(f"{error}; nothing written (--salvage restores the frames that can be read)") from error
    finally:
        reader.close()
    if reader.info.rotation:
        print(
            f"{args.input} is stored turned (display rotation {reader.info.rotation:+d} degrees): its frames are "
            "turned upright, and so is the restored video"
        )
    if reader.info.bits > 8 and kind == "video":
        kept = video_encoder(args.output) in DEEP_ENCODERS
        print(
            f"{args.input} has {reader.info.bits}-bit samples: the stages work on 8 bits and their changes are "
            f"carried onto the source's samples; the restored video has "
            + ("10 bits (H.264 High 10)" if kept else f"8 bits ({args.output.suffix} is written by an 8-bit encoder)")
        )
    # only now the libraries that take seconds to import
    from diffusers.utils import logging as diffusers_logging

    from video_decorruptor.restore.presets import PRESETS
    from video_decorruptor.restore.restorer import VideoDecorruptor

    diffusers_logging.disable_progress_bar()  # our own progress bar counts frames
    changes = {
        "shared_noise": False if args.no_shared_noise else None,
        "anchor_attention": False if args.no_anchor else None,
        "smoothing": args.smoothing,
    }
    consistency = dataclasses.replace(
        PRESETS[args.preset].consistency, **{k: v for k, v in changes.items() if v is not None}
    )
    restorer = VideoDecorruptor.from_pretrained(
        device=args.device,
        batch_size=args.batch_size,
        consistency=consistency,
        seed=args.seed,
        **restorer_settings(args),
    )
    if kind == "image":
        reader = open_video(args.input)
        image = next(reader.chunks(1))
        restored = restorer.restore_frames(image)
        write_image(args.output, np.concatenate([image, restored], axis=2)[0] if args.side_by_side else restored[0])
        print(f"restored {args.input} -> {args.output}")
    else:
        try:
            summary = restorer.restore_video(
                args.input,
                args.output,
                side_by_side=args.side_by_side,
                backend=args.backend,
                salvage=args.salvage,
                fps=args.fps,
            )
        except DamagedVideoError as error:
            raise CommandError(f"{error}; nothing written (--salvage restores the frames that can be read)") from error
        print(
            f"restored {summary['frames']} frames at {summary['frames_per_second']:.2f} frames/s "
            f"({summary['seconds']:.1f} s, video {summary['fps']:.2f} fps) -> {summary['output']}"
        )
        if summary["lost_frames"]:
            print(
                f"salvaged: {args.input} is damaged or truncated; {summary['lost_frames']} of the "
                f"{summary['frames'] + summary['lost_frames']} frames its container states could not be read"
            )
    if args.explain:
        found = restorer.explain()
        outliers = f", bright outliers {100 * found['outliers']:.2f} %" if "outliers" in found else ""
        removal = f", outlier removal {found['outlier_removal']:.2f}" if "outlier_removal" in found else ""
        print(
            f"estimates: noise {found['noise']:.1f} grey levels, salt and pepper {100 * found['impulses']:.2f} % of "
            f"pixels, tonal range {found['tonal_range']:.2f}{outliers}; stage strengths: tone {found['tone']:.2f}, "
            f"fusion {found['fusion']:.2f}{removal}, edit {found['edit']:.2f}"
        )
