"""``video-decorruptor evaluate``: action-recognition accuracy on corrupted video, with and without
test-time adaptation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_decorruptor.cli.common import PROG, add_command, add_device_option
from video_decorruptor.options import add_editor_options, non_negative_float, positive_int, restorer_config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.benchmark.evaluate import MODES
    from video_decorruptor.recognition.classifiers import VIDEO_MODELS

    parser = add_command(
        subparsers,
        "evaluate",
        help="action-recognition accuracy on corrupted video, with and without test-time adaptation",
        description="Classify every video of a split under each corruption and severity, in the modes source "
        "(as is), restored (each frame fused with its flow-warped neighbours, then edited by Decorruptor), "
        "ensemble (sum of both logits), tent (TENT over the stream, reset per corruption) and restored+tent. "
        "Prints a Markdown table and writes results.csv, "
        "results.json and accuracy.png to --output-dir. Restored clips and logits are cached, so a rerun or "
        "an added mode redoes nothing. Under `torchrun --nproc_per_node N` the work is sharded across "
        "processes and the result is the same. The classifier must fit classInd.txt (one output per class).",
        examples=[
            f"{PROG} evaluate --data UCF-101C/ --splits ucfTrainTestlist/ --corruptions all --severity 5 "
            "--classifier r3d_18 --weights r3d18_ucf101.pth",
            "torchrun --nproc_per_node 2 -m video_decorruptor.cli evaluate --data UCF-101C/ --splits ucfTrainTestlist/ "
            "--corruptions gauss,shot",
        ],
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
    add_device_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="editor noise seed (default 0)")
    parser.add_argument("--backend", default="pyav", choices=["pyav", "decord"], help="video decoder (default pyav)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
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
