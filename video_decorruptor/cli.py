"""The ``video-decorruptor`` console script.

Exit codes: 0 success, 2 bad usage (argparse), 1 a clear runtime error (message on stderr, no
traceback unless ``VIDEO_DECORRUPTOR_DEBUG=1``).

One file because it is one console script: each command's parser sits beside its thin runner, which
imports the library module doing the work only when run, so the whole command line reads in one
place; about 530 lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from image_core import __version__
from image_core.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, corruption_names
from video_decorruptor.options import (
    add_editor_options,
    at_least,
    check_device,
    device_name,
    non_negative_float,
    non_negative_int,
    positive_int,
    restorer_config,
    restorer_settings,
)

PROG = "video-decorruptor"


class CommandError(Exception):
    """A runtime failure to report in one line (exit code 1)."""


def _add_corrupt(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.benchmark.corruptions import VIDEO_CORRUPTIONS

    parser = subparsers.add_parser(
        "corrupt",
        help="apply one corruption to an image (ImageNet-C) or a video (UCF-101C and others)",
        description=textwrap.fill(
            "Apply one corruption at one severity. Images take the ImageNet-C names "
            "(gaussian_noise, fog, ...); videos take the video names (gauss, rain, h265_abr, ...). The same "
            "seed gives the same output. Grayscale images stay grayscale.",
            100,
        ),
        epilog=f"examples:\n  {PROG} corrupt photo.png -o noisy.png --corruption gaussian_noise --severity 3 --seed 0\n"
        f"  {PROG} corrupt clip.avi -o rainy.mp4 --corruption rain --severity 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.set_defaults(run=_run_corrupt)


def _run_corrupt(args: argparse.Namespace) -> None:
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


def _add_corruptions(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "corruptions",
        help="list the corruptions; optionally render a gallery",
        description="List the ImageNet-C corruptions by family. With --gallery, render a grid of every "
        "corruption (rows) at every severity (columns) on a photo, to see what they look like.",
        epilog=f"example: {PROG} corruptions --gallery gallery.png",
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
    parser.set_defaults(run=_run_corruptions)


def _run_corruptions(args: argparse.Namespace) -> None:
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


def _add_make_ucf101c(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.benchmark.ucf101c import LAYOUTS, STORAGES

    parser = subparsers.add_parser(
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
        epilog=f"examples:\n  {PROG} make-ucf101c --root UCF-101/ --splits ucfTrainTestlist/ --out UCF-101C/ "
        "--corruptions all --severity 5 --workers 2\n"
        f"  {PROG} make-ucf101c --root UCF-101/ --splits ucfTrainTestlist/ --out UCF-101C-published/ "
        "--layout published --storage published",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.set_defaults(run=_run_make_ucf101c)


def _run_make_ucf101c(args: argparse.Namespace) -> None:
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


def _add_restore(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="restore a corrupted video (or image folder) with the Decorruptor editor",
        description=textwrap.fill(
            "Edit every frame of a video back to clean with a Decorruptor checkpoint (default: the embedded "
            "Decorruptor-Tiny CM). The default preset first fuses each frame with its neighbours warped onto it by "
            "optical flow, and keeps the video temporally consistent with shared noise, anchor-frame attention and "
            "motion-aware latent smoothing; --preset published runs the published video path instead. A released "
            "checkpoint folder gets the published editor settings, the embedded model its own. The output keeps the "
            "source's size and fps and appears only when complete.",
            100,
        ),
        epilog=f"examples:\n  {PROG} restore noisy.mp4 -o restored.mp4 --side-by-side\n"
        f"  {PROG} restore noisy.mp4 -o restored.mp4 --model checkpoints/DeCorruptor-CM --preset published",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
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
    parser.set_defaults(run=_run_restore)


def _run_restore(args: argparse.Namespace) -> None:
    import numpy as np

    from image_core.io import write_image
    from video_decorruptor.io import DamagedVideoError, PyAVReader, open_video, output_kind

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
    if reader.info.bits > 8:
        print(f"{args.input} has {reader.info.bits}-bit samples; the editor works on 8, and the restored video has 8")
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


def _add_restore_dataset(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore-dataset",
        help="restore every video and image of a dataset folder into a mirror of it",
        description=textwrap.fill(
            "Restore every video under SRC as a video and every image as an image (in batches of images of one "
            "size, by the editor alone: no temporal machinery), each to the same relative path under DST in the "
            "same format; every other file (list files, classInd.txt) is copied, so DST replaces SRC for any "
            "loader. The model loads once. Resumable: DST/restore-dataset.manifest.jsonl records each finished "
            "item with checksums, and a rerun skips what is done and redoes the rest; DST/restore-dataset.json "
            "records the settings, and a DST restored with other settings is refused. Unreadable files are recorded in "
            "DST/restore-dataset.failures.txt; the run goes on and exits with 1.",
            100,
        ),
        epilog=f"examples:\n  {PROG} restore-dataset UCF-101C/ -o UCF-101C-restored/\n"
        f"  {PROG} restore-dataset ImageNet-C/gaussian_noise/ -o restored/gaussian_noise/ --preset fast",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="SRC", help="dataset folder (videos, images, any other files)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DST", help="mirror to write")
    add_editor_options(parser)
    parser.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="frames or images per editor batch (default 8)"
    )
    parser.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.set_defaults(run=_run_restore_dataset)


def _run_restore_dataset(args: argparse.Namespace) -> None:
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
        summary = restore_dataset(restorer, args.input, args.output, progress=rank == 0, rank=rank, world=world)
    if rank == 0:
        print(f"{args.output}: {summary.line()}")
    if summary.failed:
        first, reason = next(iter(summary.failed.items()))
        raise CommandError(
            f"{len(summary.failed)} item(s) failed, e.g. {first}: {reason}; "
            f"all in {args.output}/restore-dataset.failures.txt"
        )


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.benchmark.evaluate import MODES
    from video_decorruptor.recognition.classifiers import VIDEO_MODELS

    parser = subparsers.add_parser(
        "evaluate",
        help="action-recognition accuracy on corrupted video, with and without test-time adaptation",
        description=textwrap.fill(
            "Classify every video of a split under each corruption and severity, in the modes source "
            "(as is), restored (each frame fused with its flow-warped neighbours, then edited by Decorruptor), "
            "ensemble (sum of both logits), tent (TENT over the stream, reset per corruption) and restored+tent. "
            "Prints a Markdown table and writes results.csv, "
            "results.json and accuracy.png to --output-dir. Restored clips and logits are cached, so a rerun or "
            "an added mode redoes nothing. Under `torchrun --nproc_per_node N` the work is sharded across "
            "processes and the result is the same. The classifier must fit classInd.txt (one output per class).",
            100,
        ),
        epilog=f"examples:\n  {PROG} evaluate --data UCF-101C/ --splits ucfTrainTestlist/ --corruptions all "
        "--severity 5 --classifier r3d_18 --weights r3d18_ucf101.pth\n"
        f"  torchrun --nproc_per_node 2 -m video_decorruptor.cli evaluate --data UCF-101C/ --splits ucfTrainTestlist/ "
        "--corruptions gauss,shot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="UCF-101C folder in any of three layouts, found from its names: project "
        "(<corruption>/<severity>/<Class>/<video>.mp4, what make-ucf101c writes), published "
        "(level_<severity>_ucf_val_split_1_/<corruption>/<Class>/<video>.mp4, a level folder or the "
        "folder holding them; list files <corruption>.txt in a level folder are used) or flat "
        "(<corruption>/<severity>/<video>.mp4); or UCF-101 with --on-the-fly",
    )
    parser.add_argument("--splits", type=Path, required=True, help="folder with classInd.txt and the split lists")
    parser.add_argument("--split", default="test1", help="train1..train3 or test1..test3 (default test1)")
    parser.add_argument(
        "--on-the-fly", action="store_true", help="--data is clean UCF-101: corrupt each sampled clip in memory"
    )
    parser.add_argument(
        "--corruptions",
        default="all",
        help="all (the 12 UCF-101C ones), all-video or a comma-separated list (default all)",
    )
    parser.add_argument("--severity", default="5", help="5, 1-5 or 3,5 (default 5)")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)} (default all)"
    )
    parser.add_argument(
        "--classifier",
        default="tiny_action_net",
        choices=list(VIDEO_MODELS),
        metavar="NAME",
        help=f"video classifier: {', '.join(VIDEO_MODELS)} (default tiny_action_net, the embedded one)",
    )
    parser.add_argument(
        "--model", dest="classifier_alias", choices=list(VIDEO_MODELS), metavar="NAME", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--weights",
        help="classifier checkpoint (state_dict or training checkpoint); DEFAULT = torchvision's Kinetics weights",
    )
    add_editor_options(parser, "editor-")
    parser.add_argument(
        "--batch-size", type=positive_int, default=8, help="clips per classifier batch and per TENT update (default 8)"
    )
    parser.add_argument("--tent-lr", type=non_negative_float, default=1e-3, help="TENT learning rate (default 1e-3)")
    parser.add_argument("--limit", type=positive_int, help="only the first N videos of the split")
    parser.add_argument(
        "--restored-data",
        type=Path,
        metavar="DST",
        help="a restored copy of --data (restore-dataset): the restored, ensemble and restored+tent modes read "
        "their clips from it, sampled at the same frames, instead of restoring",
    )
    parser.add_argument(
        "--clip-length",
        type=positive_int,
        metavar="T",
        help="frames per clip, sampled uniformly over each video: what the classifier was trained on (default: what "
        "it needs, else 16)",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("evaluation"), help="results folder (default ./evaluation)"
    )
    parser.add_argument("--cache-dir", type=Path, help="restored clips and logits (default OUTPUT_DIR/cache)")
    parser.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0, help="editor noise seed (default 0)")
    parser.add_argument("--backend", default="pyav", choices=["pyav", "decord"], help="video decoder (default pyav)")
    parser.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    from diffusers.utils import logging as diffusers_logging

    from video_decorruptor.benchmark.evaluate import EvaluationConfig, evaluate, markdown_table
    from video_decorruptor.benchmark.ucf101c import parse_corruptions, parse_severities

    diffusers_logging.disable_progress_bar()
    if args.classifier_alias is not None:
        print(
            f"{PROG}: warning: evaluate --model is deprecated (it names the classifier); use --classifier",
            file=sys.stderr,
        )
        args.classifier = args.classifier_alias
    config = EvaluationConfig(
        data=args.data,
        splits_dir=args.splits,
        split=args.split,
        on_the_fly=args.on_the_fly,
        corruptions=parse_corruptions(args.corruptions),
        severities=parse_severities(args.severity),
        modes=[m.strip() for m in args.modes.split(",") if m.strip()],
        classifier=args.classifier,
        weights=args.weights,
        editor=restorer_config(args),
        batch_size=args.batch_size,
        tent_learning_rate=args.tent_lr,
        limit=args.limit,
        clip_length=args.clip_length,
        restored_data=args.restored_data,
        output_dir=args.output_dir,
        cache_dir=args.cache_dir,
        device=args.device,
        seed=args.seed,
        backend=args.backend,
    )
    result = evaluate(config)
    if result.files:  # rank 0
        source = f"; restored clips read from {args.restored_data}" if args.restored_data else ""
        print(f"\ntop-1 accuracy (%) of {args.classifier}, {result.videos} clips{source}\n")
        print(markdown_table(result))
        for stream, found in result.unreadable.items():
            named = ", ".join(list(found)[:3]) + (", ..." if len(found) > 3 else "")
            print(f"{stream}: skipped {len(found)} unreadable video(s), left out of every mode: {named}")
        print(f"\nwrote {result.files['csv']}, {result.files['json']}, {result.files['plot']}")


def _add_train_classifier(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.recognition.classifiers import VIDEO_MODELS

    parser = subparsers.add_parser(
        "train-classifier",
        help="fine-tune a video classifier on a UCF-101 train split",
        description=textwrap.fill(
            "Fine-tune a video classifier on a UCF-101 train split: a torchvision video model from a local checkpoint "
            "(e.g. Kinetics-400 weights, whose head is replaced to the classes of classInd.txt) or from scratch, or "
            "the embedded TinyActionNet. Uniformly spread clips with temporal jitter, a random resized crop and flip "
            "shared by all frames, the model's own preprocessing, AdamW with warm-up and cosine decay, fp16 on CUDA. "
            "Prints the top-1 accuracy on the matching test split (train1 -> test1) after every epoch and checkpoints "
            "it; a rerun into the same --output resumes from the newest checkpoint. Unreadable videos are skipped and "
            "counted. Under `torchrun --nproc_per_node N` the split is shared out across processes (DDP). Writes "
            "OUTPUT/MODEL.safetensors, which `evaluate --classifier MODEL --weights` loads.",
            100,
        ),
        epilog=f"examples:\n  {PROG} train-classifier --root UCF-101/ --splits ucfTrainTestlist/ "
        "--output runs/tiny-ucf101\n"
        "  torchrun --nproc_per_node 2 -m video_decorruptor.cli train-classifier --root UCF-101/ "
        "--splits ucfTrainTestlist/ --classifier r3d_18 --weights r3d_18_kinetics.pth --epochs 20 --lr 1e-4 "
        "--output runs/r3d18-ucf101",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, required=True, help="UCF-101 folder (class folders of videos)")
    parser.add_argument("--splits", type=Path, required=True, help="folder with classInd.txt and the split lists")
    parser.add_argument("--split", default="train1", help="train1..train3 (default train1); testN scores each epoch")
    parser.add_argument(
        "--classifier",
        dest="model",
        default="tiny_action_net",
        choices=list(VIDEO_MODELS),
        metavar="NAME",
        help=f"video classifier: {', '.join(VIDEO_MODELS)} (default tiny_action_net)",
    )
    parser.add_argument(
        "--weights",
        help="initial weights file (state_dict or training checkpoint; default: the "
        "embedded weights for tiny_action_net, random weights for the others)",
    )
    parser.add_argument("--epochs", type=positive_int, default=10, help="passes over the split (default 10)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="clips per step and process (default 8)")
    parser.add_argument("--lr", type=non_negative_float, default=3e-4, help="AdamW peak learning rate (default 3e-4)")
    parser.add_argument(
        "--weight-decay", type=non_negative_float, default=0.01, help="AdamW weight decay (default 0.01)"
    )
    parser.add_argument(
        "--clip-length", type=positive_int, metavar="T", help="frames per clip (default: what the model needs, 16)"
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints and the final weights")
    parser.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=non_negative_int, default=2, help="video decoding processes (default 2)")
    parser.add_argument("--limit", type=positive_int, help="only the first N videos of each split, for quick looks")
    parser.set_defaults(run=_run_train_classifier)


def _run_train_classifier(args: argparse.Namespace) -> None:
    from video_decorruptor.benchmark.train_classifier import ClassifierTrainingConfig, train_classifier

    config = ClassifierTrainingConfig(
        root=args.root,
        splits_dir=args.splits,
        output_dir=args.output,
        split=args.split,
        model=args.model,
        weights=args.weights,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        clip_length=args.clip_length,
        device=args.device,
        seed=args.seed,
        workers=args.workers,
        limit=args.limit,
    )
    result = train_classifier(config)
    if result.weights is not None:  # rank 0
        print(
            f"wrote {result.weights} ({args.model}, {result.classes} classes, {result.clip_length} frames per clip); "
            f"score it with: {PROG} evaluate --classifier {args.model} --weights {result.weights} ..."
        )


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "restore": _add_restore,
    "restore-dataset": _add_restore_dataset,
    "corrupt": _add_corrupt,
    "corruptions": _add_corruptions,
    "make-ucf101c": _add_make_ucf101c,
    "evaluate": _add_evaluate,
    "train-classifier": _add_train_classifier,
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
    for name, add in COMMANDS.items():
        if only in (None, name):
            add(subparsers)
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


if __name__ == "__main__":
    sys.exit(main())
