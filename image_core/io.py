"""Reading and writing image files; every write is atomic (temporary file, then rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["atomic_path", "read_image", "write_image"]


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` only if the block succeeds.

    A crash or an exception leaves neither a half-written ``target`` nor the temporary file behind.
    The temporary name keeps the target's suffix so writers that look at it pick the right format.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".partial{target.suffix}")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


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


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) or (H, W) uint8 array; the format follows the file extension."""
    path = Path(path)
    extension = path.suffix.lower().lstrip(".")
    if Image.registered_extensions().get(f".{extension}") is None:
        raise ValueError(f"unknown image extension {path.suffix!r} for {path}; use .png, .jpg, .bmp, .tif ...")
    with atomic_path(path) as temporary:
        Image.fromarray(image).save(temporary, format=Image.registered_extensions()[f".{extension}"])
