"""Reading and writing image files; every write is atomic (temporary file, then rename)."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["atomic_path", "read_image", "write_image"]


def _new_file_mode(target: Path) -> int:
    """The mode ``target`` gets when ``atomic_path`` renames into it: the mode of the file it replaces,
    else what an ordinary ``open()`` would give (0666 less the umask). ``mkstemp`` creates 0600."""
    if target.is_file():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(target: str | Path, clear_stale: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only if the block succeeds.

    A crash or an exception leaves neither a half-written ``target`` nor the temporary file behind
    (a ``kill -9`` can: with ``clear_stale``, temporary files of the same target left by an earlier,
    killed run are removed first; only for targets that one process writes at a time). The
    temporary name keeps the target's suffix so writers that look at it pick the right format. The
    file ends with the mode an ordinary ``open()`` would give it, or the mode of the file it replaces.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{target.stem}.", f".partial{target.suffix}"
    if clear_stale:
        for stale in target.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
            stale.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def checksum(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces (manifests record it to tell a finished output)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) RGB uint8, or (H, W) for single-channel files.

    Raises:
        ValueError: the file is missing or is not a readable image.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such image file: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            grayscale = image.mode in ("L", "I", "I;16", "F", "1")
            return np.asarray(image.convert("L" if grayscale else "RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read {path} as an image: {error}") from error


def write_image(path: str | Path, image: np.ndarray, quality: int | None = None) -> None:
    """Write an (H, W, 3) or (H, W) uint8 array; the format follows the file extension. ``quality``:
    for lossy formats (JPEG, WebP), PIL's scale of 1 to 100 (None: PIL's default, 75)."""
    path = Path(path)
    extension = path.suffix.lower().lstrip(".")
    if Image.registered_extensions().get(f".{extension}") is None:
        raise ValueError(f"unknown image extension {path.suffix!r} for {path}; use .png, .jpg, .bmp, .tif ...")
    with atomic_path(path) as temporary:
        options = {} if quality is None else {"quality": quality}
        Image.fromarray(image).save(temporary, format=Image.registered_extensions()[f".{extension}"], **options)
