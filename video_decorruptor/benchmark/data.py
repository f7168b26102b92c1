"""UCF-101 and UCF-101C: split files, dataset index, clip sampling.

Layouts (any tree that follows them works):

    UCF-101/<ClassName>/<video>.avi                        the originals
    ucfTrainTestlist/classInd.txt                          "1 ApplyEyeMakeup" ...
    ucfTrainTestlist/trainlist01.txt, testlist01.txt ...   "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi[ 1]"

UCF-101C comes in three layouts (``LAYOUT_PATTERNS``), told apart by :func:`detect_layout`:

    project     UCF-101C/<corruption>/<severity>/<ClassName>/<video>.mp4    what make-ucf101c writes
    published   level_<severity>_ucf_val_split_1_/<corruption>/<ClassName>/<video>.mp4
                (the set released with ViTTA; the data folder is a level folder or holds several),
                optionally with list files level_<severity>_.../<corruption>.txt whose lines are
                "<corruption>/<ClassName>/<video>.mp4 <n_frames> <class_id>", class ids from 0
    flat        UCF-101C/<corruption>/<severity>/<video>.mp4

A stream's videos are the split's (class from its folder in the split file), or its list file's
where there is one. Clip samplers are pure functions from (frame count, clip length) to frame
indices, so a dataset decodes only the frames it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from video_decorruptor.io import open_video

__all__ = [
    "LAYOUT_PATTERNS",
    "UCF101",
    "UCF101C",
    "Layout",
    "VideoEntry",
    "class_of_video",
    "dense_indices",
    "detect_layout",
    "multi_clip_indices",
    "parse_split",
    "parse_video_list",
    "published_level_folder",
    "read_class_index",
    "uniform_indices",
    "video_list_path",
]

SPLIT_PATTERN = re.compile(r"^(train|test)([123])$")
LEVEL_FOLDER_PATTERN = re.compile(r"^level_([1-5])_")
VIDEO_NAME_PATTERN = re.compile(r"^v_(?P<class_name>.+)_g\d+_c\d+$")
SEVERITY_FOLDERS = ("1", "2", "3", "4", "5")

LayoutKind = Literal["project", "published", "flat"]
LAYOUT_PATTERNS: dict[str, str] = {
    "project": "<corruption>/<severity>/<ClassName>/<video>.mp4",
    "published": "level_<severity>_ucf_val_split_1_/<corruption>/<ClassName>/<video>.mp4",
    "flat": "<corruption>/<severity>/<video>.mp4",
}


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


def _match_split(split: str) -> re.Match:
    match = SPLIT_PATTERN.match(split)
    if not match:
        raise ValueError(f"unknown split {split!r}; allowed: train1, train2, train3, test1, test2, test3")
    return match


def parse_split(splits_dir: str | Path, split: str = "test1") -> list[VideoEntry]:
    """Entries of ``trainlist0N.txt`` / ``testlist0N.txt`` for split ``train1`` .. ``test3``; labels
    come from the class folder name through classInd.txt (test lists carry no label column)."""
    match = _match_split(split)
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


def class_of_video(relative_path: str, classes: dict[str, int]) -> str:
    """The class of ``<ClassName>/<video>`` from its folder, of a bare ``v_<ClassName>_gNN_cNN.mp4``
    from its file name. File names match classInd.txt regardless of case: UCF-101 files the
    HandstandPushups videos as ``v_HandStandPushups_...``."""
    path = PurePosixPath(relative_path)
    if len(path.parts) > 1:
        if path.parts[-2] not in classes:
            raise ValueError(f"class folder {path.parts[-2]!r} of {relative_path} is not in classInd.txt")
        return path.parts[-2]
    match = VIDEO_NAME_PATTERN.match(path.stem)
    if not match:
        raise ValueError(
            f"cannot tell the class of {relative_path}: expected <ClassName>/<video> or v_<ClassName>_gNN_cNN"
        )
    by_lower_case = {name.lower(): name for name in classes}
    if match["class_name"].lower() not in by_lower_case:
        raise ValueError(f"class {match['class_name']!r} of {relative_path} is not in classInd.txt")
    return by_lower_case[match["class_name"].lower()]


def parse_video_list(path: str | Path, classes: dict[str, int], corruption: str) -> list[VideoEntry]:
    """A published list file: lines ``<corruption>/<ClassName>/<video>.mp4 <n_frames> <class_id>``, paths
    relative to the level folder. Its class ids count from 0, classInd.txt's from 1; each id must name
    its video's class (folder, else file name), or the list and classInd.txt would score wrong labels.
    Entry paths are relative to the corruption folder."""
    path = Path(path)
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise ValueError(f"{path}:{number}: expected '<video_path> <n_frames> <class_id>', got {line!r}")
        listed = PurePosixPath(parts[0].replace("\\", "/"))
        relative = str(listed.relative_to(corruption) if listed.parts[0] == corruption else listed)
        try:
            class_name = class_of_video(relative, classes)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        class_id, expected = int(parts[2]), classes[class_name]
        if class_id != expected:
            hint = " (list files count class ids from 0, classInd.txt from 1)" if class_id == expected + 1 else ""
            raise ValueError(
                f"{path}:{number}: class id {class_id} does not match {relative}: classInd.txt numbers {class_name} "
                f"{expected + 1}, so its id is {expected}{hint}"
            )
        entries.append(VideoEntry(relative, class_name, class_id))
    return entries


# ---------------------------------------------------------------------------------------------
# UCF-101C layouts
# ---------------------------------------------------------------------------------------------


def published_level_folder(severity: int, split: str = "test1") -> str:
    """The published name of one severity's folder: ``level_5_ucf_val_split_1_`` for test1 at 5."""
    match = _match_split(split)
    return f"level_{severity}_ucf_{'val' if match.group(1) == 'test' else 'train'}_split_{match.group(2)}_"


def video_list_path(level_folder: Path, corruption: str) -> Path:
    """Where a published level folder keeps a corruption's list file."""
    return level_folder / f"{corruption}.txt"


DOWNLOAD_LIST_FOLDER = "list_video_perturbations_ucf"  # where the published download keeps its list files


def _download_list_folders(level: Path) -> tuple[Path, Path]:
    """The published download's list folder inside a level folder, and beside it."""
    return level / DOWNLOAD_LIST_FOLDER, level.parent / DOWNLOAD_LIST_FOLDER


@dataclass(frozen=True)
class Layout:
    """How a UCF-101C folder stores its streams (``LAYOUT_PATTERNS``); see :func:`detect_layout`.

    ``levels`` holds the published layout's (severity, level folder) pairs, by severity.
    """

    kind: LayoutKind
    root: Path
    levels: tuple[tuple[int, Path], ...] = ()

    def describe(self) -> str:
        """One line for logs: the layout, its pattern and where it was found."""
        severities = f", severities {', '.join(str(s) for s, _ in self.levels)}" if self.levels else ""
        return f"UCF-101C layout: {self.kind} ({LAYOUT_PATTERNS[self.kind]}) in {self.root}{severities}"

    def stream_folder(self, corruption: str, severity: int) -> Path:
        """The folder of one (corruption, severity) stream's videos."""
        levels = dict(self.levels)
        if self.kind == "published" and severity not in levels:
            raise FileNotFoundError(
                f"{self.root} has no level_{severity}_* folder (severity {severity}): {self.describe()}"
            )
        folder = levels[severity] / corruption if self.kind == "published" else self.root / corruption / str(severity)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} not found: the {self.kind} layout in {self.root} has no {corruption} at severity {severity}"
            )
        return folder

    def list_file(self, corruption: str, severity: int) -> Path | None:
        """The stream's list file, where a published copy keeps one: ``<corruption>.txt`` in the level
        folder (as ``make-ucf101c`` writes it), else in ``list_video_perturbations_ucf/`` inside the
        level folder or beside it (as the published download ships it)."""
        if self.kind != "published":
            return None
        level = self.stream_folder(corruption, severity).parent
        candidates = [video_list_path(folder, corruption) for folder in (level, *_download_list_folders(level))]
        return next((path for path in candidates if path.is_file()), None)


def detect_layout(root: str | Path) -> Layout:
    """Tell which of ``LAYOUT_PATTERNS`` a UCF-101C folder follows, from folder and file names (no
    video is opened, so it is instant on the full set).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: it follows none of the layouts, or holds two level folders of one severity.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"UCF-101C folder not found: {root}")
    children = sorted(path for path in root.iterdir() if path.is_dir())
    if LEVEL_FOLDER_PATTERN.match(root.name):
        level_folders = [root]
    else:
        level_folders = [path for path in children if LEVEL_FOLDER_PATTERN.match(path.name)]
    if level_folders:
        levels: dict[int, Path] = {}
        for folder in level_folders:
            severity = int(LEVEL_FOLDER_PATTERN.match(folder.name).group(1))
            if severity in levels:
                raise ValueError(
                    f"{root} holds two folders of severity {severity} ({levels[severity].name}, {folder.name}); "
                    "pass one of them"
                )
            levels[severity] = folder
        return Layout("published", root, tuple(sorted(levels.items())))
    streams = [
        folder
        for child in children
        for folder in child.iterdir()
        if folder.is_dir() and folder.name in SEVERITY_FOLDERS
    ]
    if streams:
        flat = any(path.suffix == ".mp4" for folder in streams for path in folder.iterdir())
        return Layout("flat" if flat else "project", root)
    expected = "; ".join(f"{kind}: {pattern}" for kind, pattern in LAYOUT_PATTERNS.items())
    raise ValueError(f"{root} is not a UCF-101C folder in a known layout; expected one of {expected}")


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
        self.classes = read_class_index(splits_dir)
        self.entries = self._index(splits_dir, split)
        self.sampler, self.output, self.backend = sampler, output, backend

    def _index(self, splits_dir: str | Path, split: str) -> list[VideoEntry]:
        """The dataset's videos, in order: the split's."""
        return parse_split(splits_dir, split)

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
    """One (corruption, severity) stream of a UCF-101C folder in any of ``LAYOUT_PATTERNS``.

    ``root`` is the folder :func:`detect_layout` reads (``layout``; ``layout.describe()`` says which);
    the dataset's own ``root`` becomes the stream's folder. Videos are the split's, or the list
    file's in a published level folder that has one (then the split file is not read).
    """

    def __init__(
        self, root: str | Path, splits_dir: str | Path, corruption: str, severity: int, split: str = "test1", **kwargs
    ):
        self.layout = detect_layout(root)
        self.corruption, self.severity = corruption, severity
        self.list_file = self.layout.list_file(corruption, severity)
        super().__init__(self.layout.stream_folder(corruption, severity), splits_dir, split, **kwargs)

    def _index(self, splits_dir: str | Path, split: str) -> list[VideoEntry]:
        if self.list_file is None:
            return super()._index(splits_dir, split)
        return parse_video_list(self.list_file, self.classes, self.corruption)

    def video_path(self, entry: VideoEntry) -> Path:
        relative = Path(entry.relative_path).with_suffix(".mp4")
        return self.root / (relative.name if self.layout.kind == "flat" else relative)
