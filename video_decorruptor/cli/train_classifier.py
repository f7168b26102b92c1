"""``video-decorruptor train-classifier``: fine-tune a video classifier on a UCF-101 train split."""

from __future__ import annotations

import argparse
from pathlib import Path

from video_decorruptor.cli.common import PROG, add_command, add_device_option
from video_decorruptor.options import non_negative_float, non_negative_int, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from video_decorruptor.recognition.classifiers import VIDEO_MODELS

    parser = add_command(
        subparsers,
        "train-classifier",
        help="fine-tune a video classifier on a UCF-101 train split",
        description="Fine-tune a video classifier on a UCF-101 train split: a torchvision video model from a local "
        "checkpoint (e.g. Kinetics-400 weights, whose head is replaced to the classes of classInd.txt) or "
        "from scratch, or the embedded TinyActionNet. Uniformly spread clips with temporal jitter, a random "
        "resized crop and flip shared by all frames, the model's own preprocessing, AdamW with warm-up and "
        "cosine decay, fp16 on CUDA. Prints the top-1 accuracy on the matching test split (train1 -> test1) "
        "after every epoch and checkpoints it; a rerun into the same --output resumes from the newest "
        "checkpoint. Unreadable videos are skipped and counted. Under `torchrun --nproc_per_node N` the "
        "split is shared out across processes (DDP). Writes OUTPUT/MODEL.safetensors, which `evaluate "
        "--classifier MODEL --weights` loads.",
        examples=[
            f"{PROG} train-classifier --root UCF-101/ --splits ucfTrainTestlist/ --output runs/tiny-ucf101",
            "torchrun --nproc_per_node 2 -m video_decorruptor.cli train-classifier --root UCF-101/ "
            "--splits ucfTrainTestlist/ --classifier r3d_18 --weights r3d_18_kinetics.pth --epochs 20 --lr 1e-4 "
            "--output runs/r3d18-ucf101",
        ],
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
    add_device_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=non_negative_int, default=2, help="video decoding processes (default 2)")
    parser.add_argument("--limit", type=positive_int, help="only the first N videos of each split, for quick looks")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
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
