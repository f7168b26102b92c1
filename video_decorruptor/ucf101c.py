"""Build UCF-101C from a UCF-101 folder: resumable, deterministic, with a JSON-lines manifest.

Output layout: ``<out>/<corruption>/<severity>/<ClassName>/<video>.mp4``. Each video's seed is
derived from (corruption, severity, file name), so any run, any worker count and any order give the
same files. Outputs appear atomically (temporary file, then rename): a killed run leaves only
temporaries, which the next run deletes and redoes; finished outputs are skipped. Unreadable inputs
are recorded as failures and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, Sequence

from video_decorruptor.corruptions import UCF101C_CORRUPTIONS, VIDEO_CORRUPTIONS, corrupt_video, video_corruption_names
from video_decorruptor.data import parse_split

__all__ = ["BuildSummary", "build_ucf101c", "derive_seed", "parse_corruptions", "parse_severities"]

MANIFEST = "manifest.jsonl"


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
        raise ValueError(f"unknown corruption(s) {', '.join(unknown) or repr(text)}; allowed: all, all-video, {', '.join(video_corruption_names())}")
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    corruption: str
    severity: int
    seed: int


def _run_job(job: Job) -> dict:
    """Corrupt one video; never raises (failures come back as records)."""
    record = {
        "source": str(job.source), "output": str(job.output), "corruption": job.corruption,
        "severity": job.severity, "seed": job.seed,
    }  # fmt: skip
    start = time.perf_counter()
    try:
        summary = corrupt_video(job.source, job.output, job.corruption, job.severity, seed=job.seed)
        record.update(status="ok", **summary, sha256=_sha256(job.output))
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

    @property
    def ok(self) -> bool:
        return not self.failed


def _plan(root: Path, splits_dir: Path, split: str, out: Path, corruptions: Sequence[str], severities: Sequence[int]) -> list[Job]:
    jobs = []
    for entry in parse_split(splits_dir, split):
        file_name = Path(entry.relative_path).name
        for corruption in corruptions:
            for severity in severities:
                output = out / corruption / str(severity) / entry.class_name / Path(file_name).with_suffix(".mp4")
                jobs.append(Job(root / entry.relative_path, output, corruption, severity, derive_seed(corruption, severity, file_name)))
    return jobs


def _clean_partials(out: Path) -> int:
    """Delete temporaries a killed run left behind (``.<name>.*.partial.mp4``)."""
    stale = list(out.rglob(".*.partial.*")) if out.exists() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _manifest_outputs(manifest: Path) -> set[str]:
    if not manifest.is_file():
        return set()
    outputs = set()
    for line in manifest.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill: the output will be re-recorded
            continue
        if record.get("status") == "ok":
            outputs.add(record["output"])
    return outputs


def build_ucf101c(
    root: str | Path,
    splits_dir: str | Path,
    out: str | Path,
    corruptions: Iterable[str] = UCF101C_CORRUPTIONS,
    severities: Iterable[int] = (5,),
    split: str = "test1",
    workers: int = 1,
    progress: bool = True,
) -> BuildSummary:
    """Corrupt every video of ``split`` with every (corruption, severity); see the module docstring."""
    from tqdm.auto import tqdm

    root, splits_dir, out = Path(root), Path(splits_dir), Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"UCF-101 folder not found: {root}")
    corruptions, severities = list(corruptions), list(severities)
    for name in corruptions:
        if name not in VIDEO_CORRUPTIONS:
            raise ValueError(f"unknown video corruption {name!r}")
    out.mkdir(parents=True, exist_ok=True)
    summary = BuildSummary(cleaned=_clean_partials(out))
    manifest = out / MANIFEST
    recorded = _manifest_outputs(manifest)
    jobs = _plan(root, splits_dir, split, out, corruptions, severities)
    pending = []
    with manifest.open("a") as log:
        for job in jobs:
            if job.output.is_file():
                summary.skipped += 1
                if str(job.output) not in recorded:  # finished, but killed before its manifest line
                    log.write(json.dumps({"source": str(job.source), "output": str(job.output), "corruption": job.corruption,
                                          "severity": job.severity, "seed": job.seed, "status": "ok",
                                          "sha256": _sha256(job.output), "recovered": True}) + "\n")  # fmt: skip
            else:
                pending.append(job)
        bar = tqdm(total=len(pending), desc="UCF-101C", unit="video", disable=not progress)
        if workers <= 1:
            results: Iterable[dict] = map(_run_job, pending)
        else:
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            results = executor.map(_run_job, pending, chunksize=1)
        for record in results:
            log.write(json.dumps(record) + "\n")
            log.flush()
            if record["status"] == "ok":
                summary.done += 1
            else:
                summary.failed.append(record)
            bar.update()
        bar.close()
        if workers > 1:
            executor.shutdown()
    return summary
