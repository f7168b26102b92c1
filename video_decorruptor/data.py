"""UCF-101 and UCF-101C: split files, dataset index, clip sampling.

Layouts (any tree that follows them works):

    UCF-101/<ClassName>/<video>.avi                        the originals
    ucfTrainTestlist/classInd.txt                          "1 ApplyEyeMakeup" ...
    ucfTrainTestlist/trainlist01.txt, testlist01.txt ...   "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi[ 1]"
    UCF-101C/<corruption>/<severity>/<ClassName>/<video>.mp4

Clip samplers are pure functions from (frame count, clip length) to frame indices, so a dataset
decodes only the frames it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from video_decorruptor.io import open_video

__all__ = [
    "UCF101",
    "UCF101C",
    "VideoEntry",
    "dense_indices",
    "multi_clip_indices",
    "parse_split",
    "read_class_index",
    "uniform_indices",
]

SPLIT_PATTERN = re.compile(r"^(train|test)([123])$")


# ---------------------------------------------------------------------------------------------
# Clip sampling
# ---------------------------------------------------------------------------------------------


def uniform_indices(num_frames: int, clip_length: int = 16) -> np.ndarray:
    """``clip_length`` frames spread evenly over the whole video: the centre of each of
    ``clip_length`` equal segments (the UCF-101C protocol). Short videos repeat frames."""
    if num_frames < 1 or clip_length < 1:
        raise ValueError(f"need num_frames >= 1 and clip_length >= 1, got {num_frames}, {clip_length}")
    centres = (np.arange(clip_length) + 0.5) * num_frames / clip_length
    return np.minimum(centres.astype(np.int64), num_frames - 1)


def dense_indices(num_frames: int, clip_length: int = 16, stride: int = 1, start: int | None = None) -> np.ndarray:
    """Consecutive frames (every ``stride``-th) from ``start``; centred in the video when None.
    Indices past the end repeat the last frame."""
    if num_frames < 1 or clip_length < 1 or stride < 1:
        raise ValueError(f"need positive num_frames, clip_length and stride, got {num_frames}, {clip_length}, {stride}")
    span = (clip_length - 1) * stride + 1
    if start is None:
        start = max(0, (num_frames - span) // 2)
    return np.minimum(start + np.arange(clip_length) * stride, num_frames - 1)


def multi_clip_indices(num_frames: int, clip_length: int = 16, num_clips: int = 3, stride: int = 1) -> np.ndarray:
    """``num_clips`` dense clips with evenly spaced starts, shape (num_clips, clip_length)."""
    span = (clip_length - 1) * stride + 1
    starts = np.linspace(0, max(0, num_frames - span), num_clips).round().astype(np.int64)
    return np.stack([dense_indices(num_frames, clip_length, stride, int(s)) for s in starts])


# ---------------------------------------------------------------------------------------------
# Split files
# ---------------------------------------------------------------------------------------------


def read_class_index(splits_dir: str | Path) -> dict[str, int]:
    """classInd.txt -> {class name: 0-based label}."""
    path = Path(splits_dir) / "classInd.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no classInd.txt in {splits_dir}")
    classes = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"{path}:{number}: expected '<index> <ClassName>', got {line!r}")
        classes[parts[1]] = int(parts[0]) - 1
    return classes


@dataclass(frozen=True)
class VideoEntry:
    """One video of a split: path relative to the dataset root, class name, label."""

    relative_path: str
    class_name: str
    label: int


def parse_split(splits_dir: str | Path, split: str = "test1") -> list[VideoEntry]:
    """Entries of ``trainlist0N.txt`` / ``testlist0N.txt`` for split ``train1`` .. ``test3``; labels
    come from the class folder name through classInd.txt (test lists carry no label column)."""
    match = SPLIT_PATTERN.match(split)
    if not match:
        raise ValueError(f"unknown split {split!r}; allowed: train1, train2, train3, test1, test2, test3")
    classes = read_class_index(splits_dir)
    path = Path(splits_dir) / f"{match.group(1)}list0{match.group(2)}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} not found")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        relative = line.split()[0].replace("\\", "/")
        class_name = relative.split("/")[0]
        if class_name not in classes:
            raise ValueError(f"{path}:{number}: class {class_name!r} is not in classInd.txt")
        entries.append(VideoEntry(relative, class_name, classes[class_name]))
    return entries


# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------

Sampler = Callable[[int], np.ndarray]


class UCF101(Dataset):
    """UCF-101 videos of one split as clips.

    Args:
        root: folder of class folders of videos.
        splits_dir: folder with classInd.txt and the split lists.
        split: ``train1`` .. ``test3``.
        sampler: ``num_frames -> indices``; default 16 frames uniformly over the video. Indices of
            shape (clips, T) give several clips per video.
        output: ``float`` (C, T, H, W) in [0, 1] or ``uint8`` (C, T, H, W).
        backend: video reader (``pyav`` or ``decord``).

    Returns (per item):
        (clip, label, metadata dict with path, corruption and severity).
    """

    corruption: str | None = None
    severity: int | None = None

    def __init__(
        self,
        root: str | Path,
        splits_dir: str | Path,
        split: str = "test1",
        sampler: Sampler = uniform_indices,
        output: Literal["float", "uint8"] = "float",
        backend: str = "pyav",
    ):
        if output not in ("float", "uint8"):
            raise ValueError(f"output must be 'float' or 'uint8', got {output!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {self.root}")
        self.entries = parse_split(splits_dir, split)
        self.classes = read_class_index(splits_dir)
        self.sampler, self.output, self.backend = sampler, output, backend

    def __len__(self) -> int:
        return len(self.entries)

    def video_path(self, entry: VideoEntry) -> Path:
        return self.root / entry.relative_path

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, dict]:
        entry = self.entries[index]
        path = self.video_path(entry)
        reader = open_video(path, self.backend)
        try:
            indices = self.sampler(reader.info.num_frames)
            frames = reader.frames_at(indices.reshape(-1))
            frames = frames.reshape(*indices.shape, *frames.shape[1:])
        finally:
            reader.close()
        clip = torch.from_numpy(frames).movedim(-1, -4)  # (..., T, H, W, C) -> (..., C, T, H, W)
        if self.output == "float":
            clip = clip.float().div_(255.0)
        metadata = {"path": str(path), "corruption": self.corruption, "severity": self.severity}
        return clip, entry.label, metadata


class UCF101C(UCF101):
    """UCF-101C: the same split, videos from ``<root>/<corruption>/<severity>/<Class>/<video>.mp4``."""

    def __init__(self, root: str | Path, splits_dir: str | Path, corruption: str, severity: int, split: str = "test1", **kwargs):
        super().__init__(Path(root) / corruption / str(severity), splits_dir, split, **kwargs)
        self.corruption, self.severity = corruption, severity

    def video_path(self, entry: VideoEntry) -> Path:
        return (self.root / entry.relative_path).with_suffix(".mp4")
