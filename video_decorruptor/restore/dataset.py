"""Restore a whole dataset into a mirror of it: ``restore-dataset SRC -o DST``.

Every video under SRC is restored as a video (its own temporal state, through
:meth:`VideoDecorruptor.restore_video`), every image as an image (edited in batches of images of
one size, by the editor pipeline alone: no fusion, no temporal machinery), each written to the same
relative path under DST in the same container or image format; every other file (list files,
``classInd.txt``) is copied. DST is then a drop-in replacement for SRC for any loader. Videos are
stored as ``restore`` stores them, or (``storage="published"``) as the published UCF-101C does.
The next video is opened, and its first batch decoded, while the current one is edited.

Resumable: each output is written atomically, and ``DST/restore-dataset.manifest.jsonl`` (one
per process under ``torchrun``: ``restore-dataset.manifest.rank<R>.jsonl``) gets one line per
finished item (the source's size and checksum, the output's checksum, or why it failed). A rerun
skips what is done and still matches (source unchanged, output present with its recorded checksum)
and redoes the rest; the resolved settings live in ``DST/restore-dataset.json``, and a DST restored
with other settings is refused rather than mixed. A ``kill -9`` at any moment leaves at worst a
temporary file, which the next write of the same output removes, and an unfinished manifest line,
which is ignored.

Sharded under ``torchrun --nproc_per_node N``: every N-th item from the rank-th, each process on
its own device, with no item done twice or lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from image_core.io import atomic_path, checksum, read_image, write_image
from video_decorruptor.benchmark.ucf101c import published_writer
from video_decorruptor.io import IMAGE_EXTENSIONS, VideoError, VideoReader, open_video
from video_decorruptor.restore.restorer import ahead

__all__ = ["DatasetSummary", "STORAGES", "VIDEO_EXTENSIONS", "image_generator", "restore_dataset"]

# Inputs restored as videos (any container FFmpeg reads by these names); the output keeps the name.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
MANIFEST = "restore-dataset.manifest.jsonl"  # distinct names: SRC may hold a manifest.jsonl of its own
SETTINGS = "restore-dataset.json"
FAILURES = "restore-dataset.failures.txt"
STORAGES = ("restore", "published")  # how videos are written: as `restore` does, or as the published UCF-101C
IMAGE_QUALITY = 95  # restored JPEG and WebP images: the edit's detail kept, not PIL's default 75


@dataclass
class DatasetSummary:
    """What a run did: items restored now, already done before, failed (with reasons), files copied."""

    restored: int = 0
    done: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    copied: int = 0
    frames: int = 0

    def line(self) -> str:
        return (
            f"restored {self.restored}, already done {self.done}, failed {len(self.failed)}"
            f" ({self.copied} other files copied)"
        )


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return "video" if suffix in VIDEO_EXTENSIONS else "image" if suffix in IMAGE_EXTENSIONS else "file"


def _items(src: Path) -> Iterator[tuple[str, str]]:
    """(relative path, kind) of every file under ``src``, sorted, hidden files and folders left out."""
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield relative.as_posix(), _kind(path)


def check_folders(src: Path, dst: Path) -> None:
    """One-line errors (ValueError) for a source that holds nothing restorable and a destination
    that is the source or inside it, before anything is written."""
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder")
    source, target = src.resolve(), dst.resolve()
    if target == source or source in target.parents:
        raise ValueError(f"the output {dst} is {'the source' if target == source else 'inside the source'} {src}")
    if not any(kind != "file" for _, kind in _items(src)):
        extensions = ", ".join((*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS))
        raise ValueError(f"{src} holds no video or image to restore ({extensions})")


def _settings_record(restorer, storage: str) -> dict:
    """The resolved settings a DST is restored with, as JSON (tuples as lists)."""
    record = {
        "checkpoint": str(restorer.pipe.name_or_path),
        "seed": restorer.seed,
        "storage": storage,
        "video": dataclasses.asdict(restorer.video),
        "editor": dataclasses.asdict(restorer.editor_settings),
    }
    return json.loads(json.dumps(record, default=str))


def _read_manifests(dst: Path) -> dict[str, list[dict]]:
    """Every complete record per item, from every process's manifest (a killed run's unfinished
    last line is skipped)."""
    records: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(dst.glob("restore-dataset.manifest*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "item" in record:
                records[record["item"]].append(record)
    return records


def _is_done(records: list[dict], source: Path, target: Path) -> bool:
    """Whether one of an item's records says it was restored from this very source into this very output."""
    finished = [r for r in records if r.get("status") == "ok" and r["source_size"] == source.stat().st_size]
    if not finished or not target.is_file():
        return False
    output, original = checksum(target), checksum(source)
    return any(r["output_sha256"] == output and r["source_sha256"] == original for r in finished)


def restore_dataset(
    restorer,
    src: str | Path,
    dst: str | Path,
    progress: bool = True,
    rank: int = 0,
    world: int = 1,
    storage: str = "restore",
) -> DatasetSummary:
    """Mirror ``src`` into ``dst``, restored (see the module docstring).

    Args:
        restorer: a :class:`~video_decorruptor.restore.restorer.VideoDecorruptor` (its editor
            pipeline, settings and ``batch_size`` serve the images too).
        storage: how videos are written (:data:`STORAGES`): ``restore`` as ``restore`` writes them
            (H.264, CRF 18), ``published`` as the published UCF-101C stores its clips (MPEG-4 Part
            2 at OpenCV's bit rate, :func:`~video_decorruptor.benchmark.ucf101c.published_writer`),
            so that a classifier sees the restored set through the same codec as the corrupted one.
        rank, world: this process's share under ``torchrun`` (in an initialised process group):
            every ``world``-th restorable item from the ``rank``-th, in sorted order; each process
            writes its own manifest (``restore-dataset.manifest.rank<R>.jsonl``), rank 0 the settings, the copied
            files and ``restore-dataset.failures.txt``, and every rank returns the summary of the whole run.

    Returns:
        The :class:`DatasetSummary`; its ``failed`` maps each unreadable item to the reason, also
        written to ``dst/restore-dataset.failures.txt``.

    Raises:
        ValueError: ``check_folders``' refusals, or ``dst`` restored before with other settings.
    """
    from tqdm.auto import tqdm

    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}; got {storage!r}")
    src, dst = Path(src), Path(dst)
    check_folders(src, dst)
    settings = _settings_record(restorer, storage)
    open_writer = published_writer if storage == "published" else None
    settings_file = dst / SETTINGS
    if settings_file.is_file():
        recorded = {"storage": "restore", **json.loads(settings_file.read_text())}  # (before --storage existed)
        if recorded != settings:
            changed = sorted(key for key in settings if settings[key] != recorded.get(key))
            raise ValueError(
                f"{dst} was restored with other settings ({', '.join(changed)} differ, see {settings_file}); "
                "restore into a new folder, or with the settings recorded there"
            )
    dst.mkdir(parents=True, exist_ok=True)
    items = list(_items(src))
    summary = DatasetSummary()
    if rank == 0:
        with atomic_path(settings_file, clear_stale=True) as temporary:
            temporary.write_text(json.dumps(settings, indent=2) + "\n")
        for relative, kind in items:
            source, target = src / relative, dst / relative
            if kind == "file":
                if not target.is_file() or checksum(target) != checksum(source):
                    with atomic_path(target, clear_stale=True) as temporary:
                        shutil.copyfile(source, temporary)
                summary.copied += 1

    manifest = _read_manifests(dst)
    restorable = [(relative, kind) for relative, kind in items if kind != "file"]
    pending: dict[str, list[str]] = {"video": [], "image": []}
    for relative, kind in restorable[rank::world]:
        if _is_done(manifest.get(relative, []), src / relative, dst / relative):
            summary.done += 1
        else:
            pending[kind].append(relative)

    bar = tqdm(
        total=len(pending["video"]) + len(pending["image"]),
        desc="items" if world == 1 else f"items (rank {rank} of {world})",
        unit="item",
        disable=not progress,
    )
    manifest_file = dst / (MANIFEST if world == 1 else MANIFEST.replace(".jsonl", f".rank{rank}.jsonl"))
    with open(manifest_file, "a") as log:

        def finish(relative: str, error: Exception | None = None, frames: int = 0) -> None:
            source, target = src / relative, dst / relative
            record = {"item": relative, "source_size": source.stat().st_size, "source_sha256": checksum(source)}
            if error is None:
                record.update(status="ok", output_sha256=checksum(target), frames=frames)
                summary.restored += 1
                summary.frames += frames
            else:
                record.update(status="failed", reason=str(error))
                summary.failed[relative] = str(error)
            log.write(json.dumps(record) + "\n")
            log.flush()
            bar.update(1)
            rate = summary.frames / max(bar.format_dict["elapsed"], 1e-9)
            bar.set_postfix(frames=summary.frames, frames_per_s=f"{rate:.1f}", failed=len(summary.failed))

        opened = ahead(_opened(src, pending["video"], restorer.video.batch_size), depth=1)
        try:
            for relative, reader in opened:
                try:
                    if isinstance(reader, VideoError):
                        raise reader
                    done = restorer.restore_video(
                        src / relative, dst / relative, open_writer=open_writer, reader=reader
                    )
                except VideoError as error:
                    finish(relative, error)
                else:
                    finish(relative, frames=done["frames"])
        finally:
            opened.close()
        for group in _image_batches(src, pending["image"], restorer.video.batch_size):
            images, readable = [], []
            for relative in group:
                try:
                    image = read_image(src / relative)
                except ValueError as error:
                    finish(relative, error)
                    continue
                images.append(image)
                readable.append(relative)
            if not readable:
                continue
            grey = [image.ndim == 2 for image in images]
            batch = np.stack([np.repeat(i[..., None], 3, axis=2) if g else i for i, g in zip(images, grey)])
            generators = [image_generator(restorer.seed, relative) for relative in readable]
            restored = restorer.pipe(image=batch, settings=restorer.editor_settings, generator=generators).images
            for relative, image, was_grey in zip(readable, restored, grey):
                pixels = np.asarray(image).mean(-1).round().astype(np.uint8) if was_grey else image
                write_image(dst / relative, pixels, quality=IMAGE_QUALITY)
                finish(relative, frames=1)
    bar.close()

    if world > 1:
        from video_decorruptor.benchmark.distributed import all_gather

        shares = all_gather(summary, world)
        summary = DatasetSummary(
            restored=sum(share.restored for share in shares),
            done=sum(share.done for share in shares),
            failed={item: why for share in shares for item, why in sorted(share.failed.items())},
            copied=shares[0].copied,
            frames=sum(share.frames for share in shares),
        )
    if rank == 0:
        if summary.failed:
            with atomic_path(dst / FAILURES, clear_stale=True) as temporary:
                temporary.write_text("".join(f"{item}\t{reason}\n" for item, reason in summary.failed.items()))
        else:
            (dst / FAILURES).unlink(missing_ok=True)
    return summary


def image_generator(seed: int, relative: str) -> torch.Generator:
    """The noise of one image: from the run's seed and the image's path, so that an image comes out
    the same whatever batch it lands in (a resumed run batches the rest differently)."""
    digest = hashlib.sha256(f"{seed}:{relative}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class _PrimedReader:
    """A video reader whose first chunk was decoded when it was opened (in the thread that opened it)."""

    def __init__(self, reader: VideoReader, chunk_size: int):
        self.reader, self.info, self.chunk_size = reader, reader.info, chunk_size
        self._chunks = reader.chunks(chunk_size)
        self._first = next(self._chunks, None)

    @property
    def lost_frames(self) -> int:
        return self.reader.lost_frames

    def chunks(self, chunk_size: int) -> Iterator[np.ndarray]:
        if chunk_size != self.chunk_size:
            raise ValueError(f"this reader was primed with chunks of {self.chunk_size} frames, not {chunk_size}")
        if self._first is not None:
            yield self._first
        yield from self._chunks

    def close(self) -> None:
        self.reader.close()


def _opened(src: Path, videos: list[str], chunk_size: int) -> Iterator[tuple[str, _PrimedReader | VideoError]]:
    """Each video opened and its first chunk decoded, or why it could not be: run one video ahead of
    the one being restored (:func:`~video_decorruptor.restore.restorer.ahead`), so that the next
    video's opening and first decoding overlap the current one's editing."""
    for relative in videos:
        try:
            reader = open_video(src / relative, deep=True)
        except VideoError as error:
            yield relative, error
            continue
        try:
            primed = _PrimedReader(reader, chunk_size)
        except VideoError as error:  # damaged from its first frames
            reader.close()
            yield relative, error
            continue
        yield relative, primed


def _image_batches(src: Path, images: list[str], batch_size: int) -> Iterator[list[str]]:
    """The images in batches of at most ``batch_size``, each of one size (read from the file's header)."""
    from PIL import Image

    by_size: dict[tuple[int, int], list[str]] = defaultdict(list)
    for relative in images:
        try:
            with Image.open(src / relative) as image:
                size = image.size
        except OSError:
            size = (0, 0)  # unreadable: its own group, where reading it fails and is recorded
        by_size[size].append(relative)
    for group in by_size.values():
        for start in range(0, len(group), batch_size):
            yield group[start : start + batch_size]
