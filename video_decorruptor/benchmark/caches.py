"""What the evaluation caches and under which keys: restored clips and logits are filed under
hashes of everything that made them, so a rerun reuses them and nothing else does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from image_core.io import atomic_path

__all__ = ["RESTORATION_VERSION", "LogitCache", "cache_key", "file_identity", "video_key"]

# Bump when the same checkpoint and settings start to restore clips differently (a change in the
# pipelines or the video layer), so a cache never serves clips of the older code.
# The settings themselves are part of every key (``_Evaluator._editor_key``).
RESTORATION_VERSION = 7


def cache_key(*parts: object) -> str:
    """A short stable hash of ``parts`` (JSON, keys sorted) that names a cache entry."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def file_identity(path: str | None) -> object:
    """A checkpoint's path, size and modification time (a retrained file gets a new cache key)."""
    if path is None or not Path(path).exists():
        return path
    files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
    return [str(Path(path).resolve())] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]


class LogitCache:
    """Logits per video for one classifier, mode and stream: ``<dir>/<stream folder>/<mode>.npz``.

    ``stream_folders`` names each stream's folder after its files (see ``_Evaluator``), so a rebuilt
    or different dataset misses the cache; the restored modes' files also carry ``editor_key``, so
    another editor or editor setting does not reuse logits of clips it did not make.
    """

    def __init__(self, directory: Path, stream_folders: dict[str, str], editor_key: str):
        self.directory, self.stream_folders, self.editor_key = directory, stream_folders, editor_key

    def path(self, stream: str, mode: str) -> Path:
        name = mode.replace("+", "_") + (f"-{self.editor_key}" if mode.startswith("restored") else "")
        return self.directory / self.stream_folders[stream] / f"{name}.npz"

    def load(self, stream: str, mode: str) -> dict[str, np.ndarray]:
        path = self.path(stream, mode)
        if not path.is_file():
            return {}
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}

    def save(self, stream: str, mode: str, logits: dict[str, np.ndarray]) -> None:
        path = self.path(stream, mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, clear_stale=True) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **logits)


def video_key(relative_path: str) -> str:
    """npz member names cannot hold '/'."""
    return relative_path.replace("/", "|")
