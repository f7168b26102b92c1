"""``video-decorruptor restore-dataset``: a restored mirror of a dataset folder (one process or torchrun)."""

from __future__ import annotations

import argparse
from pathlib import Path

from video_decorruptor.cli.common import PROG, CommandError, add_command, add_device_option
from video_decorruptor.options import add_editor_options, positive_int, restorer_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "restore-dataset",
        help="restore every video and image of a dataset folder into a mirror of it",
        description="Restore every video under SRC as a video and every image as an image (in batches of images of one "
        "size, by the editor alone: no temporal machinery), each to the same relative path under DST in the "
        "same format; every other file (list files, classInd.txt) is copied, so DST replaces SRC for any "
        "loader. The model loads once. Resumable: DST/restore-dataset.manifest.jsonl records each finished "
        "item with checksums, and a rerun skips what is done and redoes the rest; DST/restore-dataset.json "
        "records the settings, and a DST restored with other settings is refused. Unreadable files are recorded in "
        "DST/restore-dataset.failures.txt; the run goes on and exits with 1.",
        examples=[
            f"{PROG} restore-dataset UCF-101C/ -o UCF-101C-restored/",
            f"{PROG} restore-dataset UCF-101C-published/ -o restored/ --storage published",
            "torchrun --nproc_per_node 4 -m video_decorruptor.cli restore-dataset UCF-101C/ -o UCF-101C-restored/",
            f"{PROG} restore-dataset ImageNet-C/gaussian_noise/ -o restored/gaussian_noise/ --preset fast",
        ],
    )
    parser.add_argument("input", type=Path, metavar="SRC", help="dataset folder (videos, images, any other files)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DST", help="mirror to write")
    add_editor_options(parser)
    parser.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="frames or images per editor batch (default 8)"
    )
    add_device_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument(
        "--storage",
        choices=("restore", "published"),
        default="restore",
        help="how videos are written: restore (H.264 CRF 18, as the restore command) or published (MPEG-4 Part 2 "
        "as OpenCV's mp4v writer, as the published UCF-101C stores its clips, so a classifier meets the same "
        "codec in the restored copy as in the corrupted set); default restore",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from video_decorruptor.restore.dataset import check_folders

    check_folders(args.input, args.output)  # before the model loads
    from diffusers.utils import logging as diffusers_logging

    from video_decorruptor.benchmark.distributed import process_group
    from video_decorruptor.restore.dataset import restore_dataset
    from video_decorruptor.restore.restorer import VideoDecorruptor

    diffusers_logging.disable_progress_bar()
    with process_group(args.device) as (rank, world, device):  # one process, or one rank of torchrun
        restorer = VideoDecorruptor.from_pretrained(
            device=str(device), batch_size=args.batch_size, seed=args.seed, progress=False, **restorer_settings(args)
        )
        summary = restore_dataset(
            restorer, args.input, args.output, progress=rank == 0, rank=rank, world=world, storage=args.storage
        )
    if rank == 0:
        print(f"{args.output}: {summary.line()}")
    if summary.failed:
        first, reason = next(iter(summary.failed.items()))
        raise CommandError(
            f"{len(summary.failed)} item(s) failed, e.g. {first}: {reason}; "
            f"all in {args.output}/restore-dataset.failures.txt"
        )
