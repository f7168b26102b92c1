"""Clean images for training and evaluation, all available offline.

Training photos are the natural colour photographs bundled inside scikit-image; scikit-learn's two
bundled photos (``china.jpg``, ``flower.jpg``) are kept out of training as the held-out set for the
restoration benchmark. Procedural dead-leaves images add unlimited variety of edges and flat regions.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from image_core.procedural import dead_leaves

__all__ = [
    "CleanImageDataset",
    "folder_photos",
    "heldout_photos",
    "random_crop",
    "recolour",
    "sample_photo",
    "training_photos",
]

# Photographs shipped in the scikit-image wheel (no download needed); grayscale ones become RGB.
_SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
)
_SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


@functools.lru_cache(maxsize=1)
def training_photos() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as (H, W, 3) uint8 arrays."""
    import skimage.data

    return tuple(_rgb(getattr(skimage.data, name)()) for name in _SKIMAGE_PHOTOS)


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@functools.lru_cache(maxsize=4)
def folder_photos(folder: str, min_side: int = 128) -> tuple[np.ndarray, ...]:
    """Every image file of ``folder`` (not its subfolders) whose short side is at least ``min_side``,
    as (H, W, 3) uint8 RGB arrays in name order. Why: more clean pictures than the dozen bundled
    ones, e.g. the ~90 of Debian's ``opencv-doc`` (``/usr/share/doc/opencv-doc/examples/data``);
    a missing or empty folder is an error, so that a training recipe never silently shrinks."""
    paths = sorted(path for path in Path(folder).glob("*") if path.suffix.lower() in PHOTO_SUFFIXES)
    photos = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None and min(image.shape[:2]) >= min_side:
            photos.append(np.ascontiguousarray(image[..., ::-1]))
    if not photos:
        raise FileNotFoundError(f"no image of at least {min_side} px in {folder}")
    return tuple(photos)


@functools.lru_cache(maxsize=1)
def heldout_photos() -> dict[str, np.ndarray]:
    """scikit-learn's two bundled photographs, never used for training."""
    from sklearn.datasets import load_sample_image

    return {name.removesuffix(".jpg"): _rgb(load_sample_image(name)) for name in _SKLEARN_PHOTOS}


def sample_photo(size: int = 224) -> np.ndarray:
    """A centred square crop of the held-out ``china`` photo, resized to ``size``: the demo picture."""
    photo = heldout_photos()["china"]
    h, w = photo.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return cv2.resize(photo[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """A random square crop resized to ``size``, only ever downscaled so clean targets stay sharp.

    The crop side is log-uniform between ``size`` and the image's short side; images smaller than
    ``size`` are the one case that is upscaled.
    """
    h, w = image.shape[:2]
    short = min(h, w)
    if short <= size:
        side = short
    else:
        side = int(round(math.exp(rng.uniform(math.log(size), math.log(short)))))
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    crop = image[top : top + side, left : left + side]
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    crop = cv2.resize(crop, (size, size), interpolation=interpolation)
    if flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def recolour(image: np.ndarray, rng: np.random.Generator, max_saturation_change: float = 2.0) -> np.ndarray:
    """Rotate the hues of an (H, W, 3) uint8 image by a random angle around the grey axis and scale
    its saturation by a log-uniform factor in ``[1 / max_saturation_change, max_saturation_change]``.

    Why: a dozen training photos have a dozen palettes, and a small editor learns them. Trained on
    those alone, Decorruptor-Tiny pulled held-out photos 11-27 grey levels towards the training
    colours (4 on training photos). Recoloured copies of the clean crop (the same one in the target
    and, through the pair sampler, in the input) show it that colours come from the input.
    Luminance (the mean of the channels) is kept, up to clipping.
    """
    angle = rng.uniform(-math.pi, math.pi)
    saturation = math.exp(rng.uniform(-math.log(max_saturation_change), math.log(max_saturation_change)))
    # Rodrigues' rotation about the unit grey axis (1, 1, 1) / sqrt(3), scaled off that axis.
    grey = np.full((3, 3), 1 / 3)
    cross = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / math.sqrt(3)
    rotation = grey + math.cos(angle) * (np.eye(3) - grey) + math.sin(angle) * cross
    matrix = grey + saturation * (rotation - grey)
    return np.clip(image.astype(np.float32) @ matrix.T.astype(np.float32), 0, 255).round().astype(np.uint8)


class CleanImageDataset(Dataset):
    """Random square crops of the training photos mixed with dead-leaves images.

    Item ``i`` is deterministic given ``(seed, i)``, whatever worker loads it.

    Args:
        size: side S of the returned crops.
        length: number of items per epoch.
        seed: base seed.
        dead_leaves_fraction: probability that an item is a dead-leaves image instead of a photo crop.
        recolour_fraction: probability that a photo crop is passed through :func:`recolour`.
        photo_folders: folders whose images (:func:`folder_photos`) join the bundled photos.

    Returns (per item):
        float32 tensor (3, S, S) in [0, 1].
    """

    def __init__(
        self,
        size: int = 128,
        length: int = 10_000,
        seed: int = 0,
        dead_leaves_fraction: float = 0.3,
        recolour_fraction: float = 0.0,
        photo_folders: tuple[str, ...] = (),
    ):
        if size < 32:
            raise ValueError(f"size must be >= 32, got {size}")
        if not 0.0 <= dead_leaves_fraction <= 1.0:
            raise ValueError(f"dead_leaves_fraction must lie in [0, 1], got {dead_leaves_fraction}")
        if not 0.0 <= recolour_fraction <= 1.0:
            raise ValueError(f"recolour_fraction must lie in [0, 1], got {recolour_fraction}")
        self.size, self.length, self.seed = size, length, seed
        self.dead_leaves_fraction, self.recolour_fraction = dead_leaves_fraction, recolour_fraction
        self.photo_folders = tuple(str(folder) for folder in photo_folders)

    def __len__(self) -> int:
        return self.length

    def image(self, index: int) -> np.ndarray:
        """Item ``index`` as an (S, S, 3) uint8 array."""
        rng = np.random.default_rng([self.seed, index])
        if rng.random() < self.dead_leaves_fraction:
            return dead_leaves(self.size, rng)
        photos = training_photos() + sum((folder_photos(folder) for folder in self.photo_folders), ())
        crop = random_crop(photos[int(rng.integers(len(photos)))], self.size, rng)
        return recolour(crop, rng) if rng.random() < self.recolour_fraction else crop

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.image(index))


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float [0, 1] array -> (3, H, W) float32 tensor in [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    return tensor.float().div_(255.0) if image.dtype == np.uint8 else tensor.float()
