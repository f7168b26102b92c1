"""``video-decorruptor make-ucf101c``: UCF-101C built from a UCF-101 folder, resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_decorruptor.cli.common import PROG, CommandError, add_command
from video_decorruptor.options import positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.benchmark.ucf101c import LAYOUTS, STORAGES

    parser = add_command(
        subparsers,
        "make-ucf101c",
        help="build UCF-101C from a UCF-101 folder",
        description="Corrupt every video of a UCF-101 split into <out>/<corruption>/<severity>/<Class>/<video>.mp4,\n"
        "or with --layout published into <out>/level_<severity>_ucf_val_split_1_/<corruption>/<Class>/<video>.mp4\n"
        "plus list files <corruption>.txt (video_path n_frames class_id), as the set released with ViTTA.\n"
        "--storage published stores each clip as that set does (MPEG-4 Part 2 as OpenCV's mp4v writer: its\n"
        "compression is part of every published clip); the default keeps the corruption as it is.\n"
        "Deterministic per video, resumable (a rerun skips finished videos and redoes partial ones), with a\n"
        "manifest.jsonl of parameters, layout, storage, frame counts and checksums. Unreadable inputs are\n"
        "recorded as failures; the run goes on and exits with code 1 and a summary.",
        examples=[
            f"{PROG} make-ucf101c --root UCF-101/ --splits ucfTrainTestlist/ --out UCF-101C/ --corruptions all "
            "--severity 5 --workers 2",
            f"{PROG} make-ucf101c --root UCF-101/ --splits ucfTrainTestlist/ --out UCF-101C-published/ "
            "--layout published --storage published",
        ],
    )
    parser.add_argument("--root", type=Path, required=True, help="UCF-101 folder (class folders of videos)")
    parser.add_argument("--splits", type=Path, required=True, help="folder with classInd.txt and the split lists")
    parser.add_argument("--split", default="test1", help="train1..train3 or test1..test3 (default test1)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--corruptions",
        default="all",
        help="all (the 12 UCF-101C ones), all-video (all 22) or a comma-separated list (default all)",
    )
    parser.add_argument("--severity", default="5", help="5, 1-5 or 3,5 (default 5)")
    parser.add_argument("--workers", type=positive_int, default=1, help="parallel processes (default 1)")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="project",
        help="project (<corruption>/<severity>/...) or published (level_<severity>_.../<corruption>/... "
        "with list files); default project",
    )
    parser.add_argument(
        "--storage",
        choices=STORAGES,
        default="lossless",
        help="lossless (x264 CRF 10, 4:4:4: the corruption as it is) or published (MPEG-4 Part 2 as "
        "OpenCV's mp4v writer, like the released set); default lossless",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from video_decorruptor.benchmark.ucf101c import MANIFEST, build_ucf101c, parse_corruptions, parse_severities

    corruptions, severities = parse_corruptions(args.corruptions), parse_severities(args.severity)
    summary = build_ucf101c(
        args.root,
        args.splits,
        args.out,
        corruptions,
        severities,
        split=args.split,
        workers=args.workers,
        layout=args.layout,
        storage=args.storage,
    )
    lists = f", {len(summary.video_lists)} list files" if args.layout == "published" else ""
    print(
        f"UCF-101C in {args.out} ({args.layout} layout, {args.storage} storage): {summary.done} written, "
        f"{summary.skipped} already there, {len(summary.failed)} failed, {summary.cleaned} partial files removed"
        f"{lists}; manifest {args.out / MANIFEST}"
    )
    if summary.failed:
        for record in summary.failed[:10]:
            print(
                f"  failed: {record['source']} ({record['corruption']} {record['severity']}): {record['error']}",
                file=sys.stderr,
            )
        raise CommandError(f"{len(summary.failed)} video(s) failed; see the manifest for all of them")
