"""Build UCF-101C from a UCF-101 folder: resumable, deterministic, with a JSON-lines manifest.

Output layouts (see ``video_decorruptor.benchmark.data.LAYOUT_PATTERNS``):

- ``project``: ``<out>/<corruption>/<severity>/<ClassName>/<video>.mp4``;
- ``published``: ``<out>/level_<severity>_ucf_val_split_1_/<corruption>/<ClassName>/<video>.mp4`` plus a
  list file ``<corruption>.txt`` per level folder (``video_path n_frames class_id``, ids from 0), as
  the set released with ViTTA.

Storage: ``lossless`` keeps the corruption as it is (``corrupt_video``: x264 CRF 10, 4:4:4);
``published`` stores each clip as the released set does, MPEG-4 Part 2 written the way OpenCV's
``VideoWriter`` with FourCC ``mp4v`` writes it, so its compression artefacts are part of every clip.

Each video's seed is derived from (corruption, severity, file name), so any run, any worker count
and any order give the same files. Outputs appear atomically (temporary file, then rename): a killed
run leaves only temporaries, which the next run deletes and redoes; finished outputs are skipped.
Unreadable inputs are recorded as failures and the run goes on. The manifest records each video's
layout and storage; an output folder holds one of each.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from image_core.io import atomic_path, checksum
from video_decorruptor.benchmark.corruptions import (
    UCF101C_CORRUPTIONS,
    VIDEO_CORRUPTIONS,
    corrupt_video,
    video_corruption_names,
)
from video_decorruptor.benchmark.data import parse_split, published_level_folder, video_list_path
from video_decorruptor.io import VideoError, VideoWriter, open_video

__all__ = [
    "LAYOUTS",
    "STORAGES",
    "BuildSummary",
    "build_ucf101c",
    "derive_seed",
    "parse_corruptions",
    "parse_severities",
    "write_published_storage",
]

MANIFEST = "manifest.jsonl"
LAYOUTS = ("project", "published")
STORAGES = ("lossless", "published")
# PyAV sets 128 kb/s; OpenCV leaves FFmpeg's default rate tolerance, which lets noisy clips overshoot
FFMPEG_DEFAULT_BIT_RATE_TOLERANCE = 4_000_000


def _end_with(parent: int) -> None:
    """A pool worker's initializer: the kernel kills the worker when its parent dies, however it dies
    (a SIGKILL of the command left the workers corrupting on and holding the resource tracker open).
    Linux only (prctl PR_SET_PDEATHSIG); elsewhere the pool's own shutdown is all there is."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def derive_seed(corruption: str, severity: int, file_name: str) -> int:
    """A 63-bit seed from (corruption, severity, file name): stable across runs and machines."""
    digest = hashlib.sha256(f"{corruption}/{severity}/{file_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def parse_corruptions(text: str) -> list[str]:
    """``all`` (the 12 UCF-101C corruptions), ``all-video`` (all 22) or a comma-separated list."""
    if text == "all":
        return list(UCF101C_CORRUPTIONS)
    if text == "all-video":
        return video_corruption_names()
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VIDEO_CORRUPTIONS]
    if unknown or not names:
        raise ValueError(
            f"unknown corruption(s) {', '.join(unknown) or repr(text)}; "
            f"allowed: all, all-video, {', '.join(video_corruption_names())}"
        )
    return names


def parse_severities(text: str) -> list[int]:
    """``5``, ``1-5`` or ``3,5``."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            severities = list(range(low, high + 1))
        else:
            severities = [int(part) for part in text.split(",")]
    except ValueError:
        severities = []
    if not severities or any(s not in (1, 2, 3, 4, 5) for s in severities):
        raise ValueError(f"severity must be 1 to 5 written as 5, 1-5 or 3,5; got {text!r}")
    return severities


def published_writer(path: str | Path, fps: float | Fraction, height: int, width: int) -> VideoWriter:
    """A writer that stores frames of ``height`` x ``width`` as the published UCF-101C clips are
    stored: OpenCV's ``VideoWriter`` with FourCC ``mp4v`` (FFmpeg's MPEG-4 Part 2 encoder, Simple
    Profile, yuv420p by bicubic conversion, bit rate 1.5 x fps x width x height, quantiser >= 3, a
    keyframe at least every 12 frames), reproduced with PyAV. Its bit rate follows OpenCV's closely on
    clean and smooth clips and comes out a little lower on heavy noise (docs/history.md has the
    comparison). One encoder thread, so the same frames give the same bytes. Like OpenCV, an odd last
    row or column is dropped (4:2:0 needs even sides).

    Raises:
        VideoError: ``path``'s container cannot hold MPEG-4 Part 2 (``.webm``).
    """
    if Path(path).suffix.lower() == ".webm":
        raise VideoError(f"{path}: the published storage is MPEG-4 Part 2, which WebM cannot hold")
    fps = Fraction(fps).limit_denominator(1001)
    pixel_rate = round(fps * (height // 2 * 2) * (width // 2 * 2))
    options = {
        "b": str(pixel_rate + pixel_rate // 2),
        "bt": str(FFMPEG_DEFAULT_BIT_RATE_TOLERANCE),
        "qmin": "3",
        "g": "12",
        "threads": "1",
    }
    return VideoWriter(path, fps, codec="mpeg4", crf=None, options=options, interpolation="BICUBIC", crop_odd=True)


def write_published_storage(path: str | Path, frames: np.ndarray, fps: float) -> None:
    """Store (T, H, W, 3) uint8 frames as the published UCF-101C clips are stored (:func:`published_writer`)."""
    with published_writer(path, fps, frames.shape[1], frames.shape[2]) as writer:
        writer.write(frames)


def _frame_count(path: Path) -> int:
    """A finished output's frame count, from its header (nothing is decoded)."""
    reader = open_video(path)
    reader.close()
    return reader.info.num_frames


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    corruption: str
    severity: int
    seed: int
    label: int
    layout: str
    storage: str

    def record(self) -> dict:
        """The manifest fields every record of this job carries."""
        return {
            "source": str(self.source),
            "output": str(self.output),
            "corruption": self.corruption,
            "severity": self.severity,
            "seed": self.seed,
            "layout": self.layout,
            "storage": self.storage,
        }


def _run_job(job: Job) -> dict:
    """Corrupt one video; never raises (failures come back as records)."""
    record = job.record()
    write = None if job.storage == "lossless" else write_published_storage
    start = time.perf_counter()
    try:
        summary = corrupt_video(job.source, job.output, job.corruption, job.severity, seed=job.seed, write=write)
        record.update(status="ok", **summary, sha256=checksum(job.output))
    except Exception as error:  # noqa: BLE001 - a bad input must not stop the whole build
        record.update(status="failed", error=f"{type(error).__name__}: {error}".strip())
        if os.environ.get("VIDEO_DECORRUPTOR_DEBUG") == "1":
            record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


@dataclass
class BuildSummary:
    done: int = 0
    skipped: int = 0
    failed: list[dict] = field(default_factory=list)
    cleaned: int = 0
    video_lists: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _plan(
    root: Path,
    splits_dir: Path,
    split: str,
    out: Path,
    corruptions: Sequence[str],
    severities: Sequence[int],
    layout: str,
    storage: str,
) -> list[Job]:
    jobs = []
    for entry in parse_split(splits_dir, split):
        file_name = Path(entry.relative_path).name
        for corruption in corruptions:
            for severity in severities:
                if layout == "published":
                    stream = out / published_level_folder(severity, split) / corruption
                else:
                    stream = out / corruption / str(severity)
                output = stream / entry.class_name / Path(file_name).with_suffix(".mp4")
                seed = derive_seed(corruption, severity, file_name)
                jobs.append(
                    Job(root / entry.relative_path, output, corruption, severity, seed, entry.label, layout, storage)
                )
    return jobs


def _clean_partials(out: Path) -> int:
    """Delete temporaries a killed run left behind (``.<name>.*.partial.mp4``)."""
    stale = list(out.rglob(".*.partial.*")) if out.exists() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _manifest_records(manifest: Path, layout: str, storage: str) -> dict[str, dict]:
    """The manifest's successful records by output. Refuses a folder built with another layout or
    storage: a resumed build would mix them (records from before both existed were project, lossless)."""
    if not manifest.is_file():
        return {}
    records = {}
    for line in manifest.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill: the output will be re-recorded
            continue
        built_with = (record.get("layout", "project"), record.get("storage", "lossless"))
        if built_with != (layout, storage):
            raise ValueError(
                f"{manifest.parent} was built with --layout {built_with[0]} --storage {built_with[1]}; "
                f"resume it with those or write --layout {layout} --storage {storage} to another --out"
            )
        if record.get("status") == "ok":
            records[record["output"]] = record
    return records


def _write_video_lists(jobs: Sequence[Job], records: dict[str, dict]) -> list[Path]:
    """The published list file of every (level folder, corruption) the jobs write to: one line
    ``<corruption>/<ClassName>/<video>.mp4 <n_frames> <class_id>`` per finished video, in split order."""
    lines: dict[Path, list[str]] = defaultdict(list)
    for job in jobs:
        record = records.get(str(job.output))
        if record is not None and job.output.is_file():
            level_folder = job.output.parents[2]
            lines[video_list_path(level_folder, job.corruption)].append(
                f"{job.output.relative_to(level_folder).as_posix()} {record['frames_out']} {job.label}"
            )
    for path, listed in lines.items():
        with atomic_path(path) as temporary:
            temporary.write_text("\n".join(listed) + "\n")
    return sorted(lines)


def build_ucf101c(
    root: str | Path,
    splits_dir: str | Path,
    out: str | Path,
    corruptions: Iterable[str] = UCF101C_CORRUPTIONS,
    severities: Iterable[int] = (5,),
    split: str = "test1",
    workers: int = 1,
    progress: bool = True,
    layout: str = "project",
    storage: str = "lossless",
) -> BuildSummary:
    """Corrupt every video of ``split`` with every (corruption, severity) into ``layout`` (``LAYOUTS``),
    stored as ``storage`` (``STORAGES``); see the module docstring."""
    from tqdm.auto import tqdm

    root, splits_dir, out = Path(root), Path(splits_dir), Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"UCF-101 folder not found: {root}")
    if layout not in LAYOUTS or storage not in STORAGES:
        raise ValueError(
            f"layout must be {' or '.join(LAYOUTS)} and storage {' or '.join(STORAGES)}; got {layout!r}, {storage!r}"
        )
    corruptions, severities = list(corruptions), list(severities)
    for name in corruptions:
        if name not in VIDEO_CORRUPTIONS:
            raise ValueError(f"unknown video corruption {name!r}")
    manifest = out / MANIFEST
    records = _manifest_records(manifest, layout, storage)
    out.mkdir(parents=True, exist_ok=True)
    summary = BuildSummary(cleaned=_clean_partials(out))
    jobs = _plan(root, splits_dir, split, out, corruptions, severities, layout, storage)
    pending = []
    with manifest.open("a") as log:
        for job in jobs:
            if job.output.is_file():
                summary.skipped += 1
                if str(job.output) not in records:  # finished, but killed before its manifest line
                    record = {
                        **job.record(),
                        "status": "ok",
                        "frames_out": _frame_count(job.output),
                        "sha256": checksum(job.output),
                        "recovered": True,
                    }
                    records[record["output"]] = record
                    log.write(json.dumps(record) + "\n")
            else:
                pending.append(job)
        bar = tqdm(total=len(pending), desc="UCF-101C", unit="video", disable=not progress)
        if workers <= 1:
            results: Iterable[dict] = map(_run_job, pending)
        else:
            executor = ProcessPoolExecutor(
                max_workers=workers, mp_context=get_context("spawn"), initializer=_end_with, initargs=(os.getpid(),)
            )
            results = executor.map(_run_job, pending, chunksize=1)
        for record in results:
            log.write(json.dumps(record) + "\n")
            log.flush()
            if record["status"] == "ok":
                summary.done += 1
                records[record["output"]] = record
            else:
                summary.failed.append(record)
            bar.update()
        bar.close()
        if workers > 1:
            executor.shutdown()
    if layout == "published":
        summary.video_lists = _write_video_lists(jobs, records)
    return summary
