"""Fine-tune a video classifier on a UCF-101 train split: the ``train-classifier`` command.

Any model of ``VIDEO_MODELS`` trains here: a torchvision video model from a local checkpoint (e.g.
Kinetics-400 weights) or from scratch, or the embedded TinyActionNet; the classification head is
replaced when classInd.txt counts other classes than the start weights. Clips are spread uniformly
over each video (jittered in time for training), cropped and flipped the same way in every frame,
and go through the model's own preprocessing (:class:`VideoClassifier`). AdamW with a short linear
warm-up and a cosine decay, fp16 autocast with a GradScaler on CUDA. Each epoch ends with the top-1
accuracy on the matching test split (train1 -> test1) and a checkpoint; a rerun into the same
output folder resumes from the newest one.

Determinism: each clip's random draws come from a generator seeded with (seed, epoch, index), and
the global RNG (dropout, loader seeds) is saved in every checkpoint, so a resumed CPU run ends with
the same weights as an uninterrupted one, whatever the number of loader workers. Under ``torchrun``
the train split is sharded with a DistributedSampler and gradients are averaged by DDP.

The result, ``<output>/<model>.safetensors``, is what ``evaluate --model NAME --weights FILE`` loads.

One file because it is one trainer: data, model, schedule, checkpoints and resume share one config and
one determinism contract; about 525 lines.
"""

from __future__ import annotations

import math
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm.auto import tqdm

from image_core.io import atomic_path
from image_core.training.common import latest_checkpoint, save_checkpoint, step_generator
from video_decorruptor.benchmark.data import UCF101, uniform_indices
from video_decorruptor.benchmark.distributed import all_gather, process_group
from video_decorruptor.io import open_video
from video_decorruptor.recognition.classifiers import (
    VIDEO_MODELS,
    VideoClassifier,
    create_video_classifier,
    replace_head,
)

__all__ = [
    "ClassifierTrainingConfig",
    "EpochRecord",
    "TrainingResult",
    "UCF101Clips",
    "build_classifier",
    "clip_length_for",
    "collate_clips",
    "export_weights",
    "jittered_uniform_indices",
    "random_resized_box",
    "scoring_split",
    "train_classifier",
    "warmup_cosine",
]

WARMUP_FRACTION = 0.05  # of all optimiser steps, at least one
CROP_SCALE = (0.25, 1.0)  # random resized crop: fraction of the frame's area
CROP_RATIO = (3 / 4, 4 / 3)  # and its width / height
KEEP_CHECKPOINTS = 2
# Settings that shape the run: a resumed run must use the same ones, or it would not continue it.
RESUME_SETTINGS = (
    "model",
    "split",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "clip_length",
    "seed",
    "limit",
    "world_size",
)


@dataclass
class ClassifierTrainingConfig:
    """What to train, on what, and how (the command's options; see ``train-classifier --help``)."""

    root: Path
    splits_dir: Path
    output_dir: Path
    split: str = "train1"
    model: str = "tiny_action_net"
    weights: str | None = None
    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 3e-4
    weight_decay: float = 0.01
    clip_length: int | None = None
    device: str | None = None
    seed: int = 0
    workers: int = 2
    limit: int | None = None


@dataclass
class EpochRecord:
    """One epoch's mean training loss, test-split accuracy and the videos it could not read."""

    epoch: int
    loss: float
    correct: int
    total: int
    unreadable: list[str] = field(default_factory=list)

    def describe(self, epochs: int) -> str:
        """The line printed after the epoch."""
        accuracy = "n/a (nothing readable)"
        if self.total:
            accuracy = f"{100 * self.correct / self.total:.1f}% ({self.correct}/{self.total})"
        line = f"epoch {self.epoch}/{epochs}: train loss {self.loss:.4f}, test top-1 {accuracy}"
        if self.unreadable:
            names = ", ".join(self.unreadable[:3]) + (", ..." if len(self.unreadable) > 3 else "")
            line += f", skipped {len(self.unreadable)} unreadable video(s): {names}"
        return line


@dataclass
class TrainingResult:
    """``weights``: the exported file (None on ranks other than 0); ``history``: every epoch so far;
    ``resumed_from``: the epochs a checkpoint had already done."""

    weights: Path | None
    classes: int
    clip_length: int
    history: list[EpochRecord]
    resumed_from: int


# ---------------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------------


def clip_length_for(name: str, requested: int | None = None) -> int:
    """Frames per clip: ``requested`` if the model takes it, else what the model needs (16 unless
    it fixes another count or needs more)."""
    if name not in VIDEO_MODELS:
        raise ValueError(f"unknown video model {name!r}; allowed: {', '.join(VIDEO_MODELS)}")
    spec = VIDEO_MODELS[name]
    length = requested or spec.frames or max(16, spec.min_frames)
    if (spec.frames and length != spec.frames) or length < spec.min_frames:
        wanted = spec.frames or f">= {spec.min_frames}"
        raise ValueError(f"{name} needs {wanted} frames per clip, got --clip-length {length}")
    return length


def jittered_uniform_indices(num_frames: int, clip_length: int, generator: torch.Generator) -> np.ndarray:
    """:func:`uniform_indices` with each index moved by up to half a segment either way: another
    clip of the same video each epoch, still spread over all of it and in time order."""
    segment = num_frames / clip_length
    offsets = np.round((torch.rand(clip_length, generator=generator, dtype=torch.float64).numpy() - 0.5) * segment)
    return np.sort(np.clip(uniform_indices(num_frames, clip_length) + offsets.astype(np.int64), 0, num_frames - 1))


def random_resized_box(
    height: int,
    width: int,
    generator: torch.Generator,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """(top, left, box height, box width) of a random box covering ``scale`` of the frame's area with
    width / height in ``ratio``; the whole frame when ten draws do not fit (very thin frames)."""

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))

    for _ in range(10):
        area = height * width * uniform(*scale)
        aspect = math.exp(uniform(math.log(ratio[0]), math.log(ratio[1])))
        box_width, box_height = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < box_width <= width and 0 < box_height <= height:
            top = int(torch.randint(height - box_height + 1, (), generator=generator))
            left = int(torch.randint(width - box_width + 1, (), generator=generator))
            return top, left, box_height, box_width
    return 0, 0, height, width


class UCF101Clips(Dataset):
    """A UCF-101 split as clips (3, T, H, W) in [0, 1] at the model's resize size, with labels.

    Training clips (``augment``) get a temporal jitter, one random resized crop and a horizontal flip
    for all their frames, drawn from a generator of (seed, epoch, index): set ``epoch`` before each
    epoch. Test clips are the whole frames at uniform indices, as ``evaluate`` sees them. An item of a
    video that cannot be read is its relative path instead, for the batch to skip and count.
    """

    def __init__(
        self,
        videos: UCF101,
        clip_length: int,
        size: tuple[int, int],
        augment: bool,
        seed: int,
        limit: int | None = None,
    ):
        self.videos, self.clip_length, self.size, self.augment, self.seed = videos, clip_length, size, augment, seed
        self.count = len(videos) if limit is None else min(limit, len(videos))
        self.epoch = 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | str:
        entry = self.videos.entries[index]
        generator = step_generator(self.seed, self.epoch * len(self) + index) if self.augment else None
        try:  # one undecodable file must not end an epoch of thousands
            reader = open_video(self.videos.video_path(entry), self.videos.backend)
            try:
                frames = self._frames(reader, generator)
            finally:
                reader.close()
        except (ValueError, OSError):
            return entry.relative_path
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)  # (T, 3, H, W)
        if generator is not None:
            top, left, height, width = random_resized_box(clip.shape[-2], clip.shape[-1], generator)
            clip = clip[..., top : top + height, left : left + width]
            if torch.rand((), generator=generator) < 0.5:
                clip = clip.flip(-1)
        clip = F.interpolate(clip, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return clip.transpose(0, 1).contiguous(), entry.label

    def _frames(self, reader: Any, generator: torch.Generator | None) -> np.ndarray:
        count = reader.info.num_frames
        if generator is None:
            return reader.frames_at(uniform_indices(count, self.clip_length))
        return reader.frames_at(jittered_uniform_indices(count, self.clip_length, generator))


def collate_clips(items: list[tuple[torch.Tensor, int] | str]) -> tuple[torch.Tensor | None, torch.Tensor, list[str]]:
    """(clips (N, 3, T, H, W) or None when no item was readable, labels (N,), unreadable paths)."""
    readable = [item for item in items if not isinstance(item, str)]
    unreadable = [item for item in items if isinstance(item, str)]
    if not readable:
        return None, torch.zeros(0, dtype=torch.long), unreadable
    return torch.stack([clip for clip, _ in readable]), torch.tensor([label for _, label in readable]), unreadable


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def build_classifier(name: str, weights: str | Path | None, num_classes: int) -> VideoClassifier:
    """The starting classifier: ``weights`` (a local file; for ``tiny_action_net`` None means the
    embedded model, for the torchvision models random weights) with a ``num_classes`` head.

    Raises:
        ValueError: unknown model, or weights of another architecture (from ``create_video_classifier``).
        FileNotFoundError: the weights file is missing.
    """
    from safetensors import SafetensorError

    random_head = weights is None and name != "tiny_action_net"
    try:
        classifier = create_video_classifier(name, weights, num_classes if random_head else None)
    except (SafetensorError, pickle.UnpicklingError) as error:  # e.g. a .pth file where TinyActionNet reads safetensors
        raise ValueError(f"cannot read {weights} as {name} weights: {error}") from None
    replace_head(classifier.model, num_classes)
    return classifier


def warmup_cosine(total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor of optimiser step ``s``: linear warm-up over ``WARMUP_FRACTION`` of the
    steps, then a cosine down to 0 at ``total_steps``."""
    warmup = max(1, round(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

    return factor


def export_weights(classifier: VideoClassifier, path: Path) -> None:
    """The bare model's state_dict as safetensors, written aside and renamed into place: what
    ``create_video_classifier(name, path)`` loads."""
    from safetensors.torch import save_file

    state = {key: value.detach().cpu().contiguous() for key, value in classifier.model.state_dict().items()}
    with atomic_path(path, clear_stale=True) as temporary:
        save_file(state, str(temporary))


# ---------------------------------------------------------------------------------------------
# Checkpoints and processes
# ---------------------------------------------------------------------------------------------


def _save_checkpoint(output_dir: Path, epoch: int, state: dict[str, Any]) -> None:
    save_checkpoint(output_dir, f"epoch_{epoch:04d}", state, KEEP_CHECKPOINTS)


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _on_every_rank(flag: bool, world: int, device: torch.device) -> bool:
    """Whether ``flag`` holds on all ranks: a step that one rank cannot take (no readable clip in its
    batch) is skipped by all, or DDP's gradient exchange would wait forever."""
    if world == 1:
        return flag
    import torch.distributed as dist

    value = torch.tensor(int(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def scoring_split(split: str) -> str:
    """The test split that scores a train split: train1 -> test1."""
    match = re.fullmatch(r"train([123])", split)
    if not match:
        raise ValueError(
            f"--split must be a train split (train1, train2, train3), got {split!r}; its test split scores each epoch"
        )
    return f"test{match.group(1)}"


@torch.no_grad()
def _score(
    classifier: VideoClassifier, loader: DataLoader, device: torch.device, amp: bool
) -> tuple[int, int, list[str]]:
    """(correct, scored, unreadable paths) of this process's share of the test split."""
    classifier.eval()
    correct, total, unreadable = 0, 0, []
    for clips, labels, skipped in loader:
        unreadable += skipped
        if clips is None:
            continue
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = classifier(clips.to(device, non_blocking=True))
        correct += int((logits.argmax(dim=1).cpu() == labels).sum())
        total += len(labels)
    return correct, total, unreadable


def train_classifier(config: ClassifierTrainingConfig) -> TrainingResult:
    """Train (or resume training) as ``config`` says; one process or one rank of ``torchrun``.

    Raises:
        FileNotFoundError: a missing folder, split file or weights file.
        ValueError: a bad split or clip length, a split naming a class classInd.txt lacks, weights of
            another architecture, or an output folder holding a run with other settings.
    """
    # 1. Check inputs and read the splits (before any process group or model, so errors are cheap)
    clip_length = clip_length_for(config.model, config.clip_length)
    test_split = scoring_split(config.split)
    train_videos = UCF101(config.root, config.splits_dir, config.split)
    test_videos = UCF101(config.root, config.splits_dir, test_split)
    num_classes = max(train_videos.classes.values()) + 1  # labels are classInd.txt's numbers - 1
    size = VIDEO_MODELS[config.model].resize
    train_clips = UCF101Clips(train_videos, clip_length, size, augment=True, seed=config.seed, limit=config.limit)
    test_clips = UCF101Clips(test_videos, clip_length, size, augment=False, seed=config.seed, limit=config.limit)
    settings = {
        "model": config.model,
        "split": config.split,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "clip_length": clip_length,
        "seed": config.seed,
        "limit": config.limit,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
    output_dir = Path(config.output_dir)
    latest = latest_checkpoint(output_dir, "epoch")
    checkpoint = torch.load(latest, map_location="cpu", weights_only=True) if latest else None
    if checkpoint is not None:
        changed = [
            f"{key} {checkpoint['settings'].get(key)!r} -> {settings[key]!r}"
            for key in RESUME_SETTINGS
            if checkpoint["settings"].get(key) != settings[key]
        ]
        if changed:
            raise ValueError(
                f"{output_dir} holds a run with other settings ({'; '.join(changed)}); "
                "rerun with its settings to resume it, or pick another --output"
            )

    # 2. Processes, model, optimiser
    with process_group(config.device) as (rank, world, device):
        torch.manual_seed(config.seed + rank)  # DDP copies rank 0's initial weights to every rank
        classifier = build_classifier(config.model, config.weights, num_classes).to(device)
        amp = device.type == "cuda"
        optimizer = torch.optim.AdamW(classifier.parameters(), config.learning_rate, weight_decay=config.weight_decay)
        sampler = DistributedSampler(train_clips, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
        loader_options = {
            "batch_size": config.batch_size,
            "num_workers": config.workers,
            "collate_fn": collate_clips,
            "pin_memory": amp,
        }
        train_loader = DataLoader(train_clips, sampler=sampler, **loader_options)
        test_loader = DataLoader(Subset(test_clips, range(rank, len(test_clips), world)), **loader_options)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config.epochs * len(train_loader)))
        scaler = torch.amp.GradScaler("cuda", enabled=amp)

        # 3. Resume from the newest checkpoint
        history: list[EpochRecord] = []
        if checkpoint is not None:
            classifier.model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            if checkpoint["scaler"]:  # empty when written without CUDA
                scaler.load_state_dict(checkpoint["scaler"])
            _set_rng_state(checkpoint["rng"][rank], device)
            history = [EpochRecord(**record) for record in checkpoint["history"]]
            if rank == 0:
                print(f"resuming from {latest} ({len(history)} of {config.epochs} epochs done)", flush=True)
        model: nn.Module = classifier
        if world > 1:
            model = nn.parallel.DistributedDataParallel(classifier, device_ids=[device.index] if amp else None)
        resumed_from = len(history)

        # 4. Train, score and checkpoint each epoch
        for epoch in range(resumed_from, config.epochs):
            train_clips.epoch = epoch
            sampler.set_epoch(epoch)
            model.train()
            loss_sum, seen, unreadable = 0.0, 0, []
            progress = tqdm(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=rank != 0)
            for clips, labels, skipped in progress:
                unreadable += skipped
                if not _on_every_rank(clips is not None, world, device):
                    continue
                with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                    loss = F.cross_entropy(model(clips.to(device, non_blocking=True)), labels.to(device))
                learning_rate = scheduler.get_last_lr()[0]
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                loss_sum, seen = loss_sum + loss.item() * len(labels), seen + len(labels)
                progress.set_postfix(loss=f"{loss.item():.4f}", lr=f"{learning_rate:.2e}")
            progress.close()
            correct, total, test_unreadable = _score(classifier, test_loader, device, amp)
            shards = all_gather(
                (loss_sum, seen, correct, total, unreadable + test_unreadable, _rng_state(device)), world
            )
            seen_all = sum(shard[1] for shard in shards)
            record = EpochRecord(
                epoch + 1,
                sum(shard[0] for shard in shards) / max(seen_all, 1),
                sum(shard[2] for shard in shards),
                sum(shard[3] for shard in shards),
                sorted({path for shard in shards for path in shard[4]}),
            )
            history.append(record)
            if rank == 0:
                print(record.describe(config.epochs), flush=True)
                state = {
                    "epoch": epoch + 1,
                    "settings": settings,
                    "model": classifier.model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": [shard[5] for shard in shards],
                    "history": [asdict(r) for r in history],
                }
                _save_checkpoint(output_dir, epoch + 1, state)

        # 5. Export the weights
        weights = None
        if rank == 0:
            weights = output_dir / f"{config.model}.safetensors"
            export_weights(classifier, weights)
        return TrainingResult(weights, num_classes, clip_length, history, resumed_from)
