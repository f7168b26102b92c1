"""Corruption modeling: the (clean, corrupted) training pairs of Decorruptor.

Per sample one case is drawn (weights configurable, defaults from the paper):

- ``identity`` (1/5): the clean image is its own input, so clean inputs are left alone;
- ``pixmix`` (3/5): one AugMix op on the clean image, then 1-4 rounds of add / multiply mixing with
  an augmented copy (p=0.25) or a mixing picture (fractal or feature-visualisation-like, 50/50);
- ``simsiam`` (1/5): colour jitter (p=0.8), grayscale (p=0.2), Gaussian blur (p=0.5);
- ``degradation`` (0 by default, the project's training recipe turns it on): the generic
  second-order degradation model of :mod:`image_core.degradations` (blur, resize, noise, JPEG,
  video codec), the second data source;
- ``imagenet_c`` (0 by default): a random ImageNet-C corruption, for ablations only: ImageNet-C is
  the test set, so the default training recipe never sees it.

Mixing pictures come from :class:`MixingBank`, generated procedurally once, seeded, cached on disk.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps
from torch.utils.data import Dataset

from image_core.corruptions import corrupt, corruption_names
from image_core.degradations import DegradationModel
from image_core.procedural import feature_pattern, ifs_fractal
from image_core.sources import CleanImageDataset, random_crop, to_tensor

__all__ = [
    "AUGMENTATIONS",
    "augment",
    "pixmix",
    "simsiam_view",
    "MixingBank",
    "PairSampler",
    "Pair",
    "CorruptionPairDataset",
    "default_cache_dir",
]

CASES = ("identity", "pixmix", "simsiam", "degradation", "imagenet_c")


def default_cache_dir() -> Path:
    """``$VIDEO_DECORRUPTOR_CACHE`` or ``~/.cache/video-decorruptor``."""
    return Path(os.environ.get("VIDEO_DECORRUPTOR_CACHE", Path.home() / ".cache" / "video-decorruptor"))


# ---------------------------------------------------------------------------------------------
# AugMix operations (the 13 "all" ops; ``level`` in [0.1, severity], AugMix's parameter scaling)
# ---------------------------------------------------------------------------------------------


def _int_level(level: float, max_value: float) -> int:
    return int(level * max_value / 10)


def _float_level(level: float, max_value: float) -> float:
    return level * max_value / 10


def _signed(value: float, rng: np.random.Generator) -> float:
    return value if rng.random() < 0.5 else -value


def _affine(image: Image.Image, coefficients: tuple[float, ...]) -> Image.Image:
    return image.transform(image.size, Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR)


def _enhance(enhancer: type) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    return lambda image, level, rng: enhancer(image).enhance(_float_level(level, 1.8) + 0.1)


AUGMENTATIONS: dict[str, Callable[[Image.Image, float, np.random.Generator], Image.Image]] = {
    "autocontrast": lambda image, level, rng: ImageOps.autocontrast(image),
    "equalize": lambda image, level, rng: ImageOps.equalize(image),
    "posterize": lambda image, level, rng: ImageOps.posterize(image, 4 - _int_level(level, 4)),
    "rotate": lambda image, level, rng: image.rotate(
        _signed(_int_level(level, 30), rng), resample=Image.Resampling.BILINEAR
    ),
    "solarize": lambda image, level, rng: ImageOps.solarize(image, 256 - _int_level(level, 256)),
    "shear_x": lambda image, level, rng: _affine(image, (1, _signed(_float_level(level, 0.3), rng), 0, 0, 1, 0)),
    "shear_y": lambda image, level, rng: _affine(image, (1, 0, 0, _signed(_float_level(level, 0.3), rng), 1, 0)),
    "translate_x": lambda image, level, rng: _affine(
        image, (1, 0, _signed(_int_level(level, image.width / 3), rng), 0, 1, 0)
    ),
    "translate_y": lambda image, level, rng: _affine(
        image, (1, 0, 0, 0, 1, _signed(_int_level(level, image.height / 3), rng))
    ),
    "color": _enhance(ImageEnhance.Color),
    "contrast": _enhance(ImageEnhance.Contrast),
    "brightness": _enhance(ImageEnhance.Brightness),
    "sharpness": _enhance(ImageEnhance.Sharpness),
}


def augment(image: np.ndarray, rng: np.random.Generator, severity: float = 1.0) -> np.ndarray:
    """One random AugMix op on an (H, W, 3) uint8 image; returns float32 in [0, 1]."""
    name = list(AUGMENTATIONS)[int(rng.integers(len(AUGMENTATIONS)))]
    level = rng.uniform(0.1, severity)
    out = AUGMENTATIONS[name](Image.fromarray(image), level, rng)
    return np.asarray(out, dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# PixMix
# ---------------------------------------------------------------------------------------------


def _mixing_weights(rng: np.random.Generator, beta: float) -> tuple[float, float]:
    if rng.random() < 0.5:
        return rng.beta(beta, 1), rng.beta(1, beta)
    return 1 + rng.beta(1, beta), -rng.beta(1, beta)


def _mix_add(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, beta: float) -> np.ndarray:
    wa, wb = _mixing_weights(rng, beta)
    return (wa * (2 * a - 1) + wb * (2 * b - 1) + 1) / 2


def _mix_multiply(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, beta: float) -> np.ndarray:
    wa, wb = _mixing_weights(rng, beta)
    return (2 * a) ** wa * np.maximum(2 * b, 1e-37) ** wb / 2


def pixmix(
    image: np.ndarray,
    mixing_picture: Callable[[np.random.Generator], np.ndarray],
    rng: np.random.Generator,
    max_rounds: int = 4,
    beta: float = 4.0,
    self_partner_probability: float = 0.25,
) -> np.ndarray:
    """PixMix as Decorruptor uses it.

    Args:
        image: (H, W, 3) uint8 clean image.
        mixing_picture: ``rng -> (H, W, 3) float32`` picture in [0, 1] to mix with.
        rng: random generator.
        max_rounds: mixing rounds are drawn uniformly in 1..max_rounds.
        beta: Beta-distribution parameter of the mixing weights.
        self_partner_probability: chance that a round mixes with another augmented copy of ``image``.

    Returns:
        (H, W, 3) float32 in [0, 1].
    """
    mixed = augment(image, rng)
    for _ in range(int(rng.integers(1, max_rounds + 1))):
        if rng.random() < self_partner_probability:
            partner = augment(image, rng)
        else:
            partner = mixing_picture(rng)
        mix = _mix_add if rng.random() < 0.5 else _mix_multiply
        mixed = np.clip(mix(mixed, partner, rng, beta), 0, 1).astype(np.float32)
    return mixed


# ---------------------------------------------------------------------------------------------
# SimSiam view
# ---------------------------------------------------------------------------------------------


def _gray(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]


def _color_jitter(x: np.ndarray, rng: np.random.Generator, strength: float, hue: float) -> np.ndarray:
    """torchvision's ColorJitter(strength, strength, strength, hue): four adjustments in random order."""
    for step in rng.permutation(4):
        if step == 0:
            x = x * rng.uniform(1 - strength, 1 + strength)
        elif step == 1:
            f = rng.uniform(1 - strength, 1 + strength)
            x = f * x + (1 - f) * _gray(x).mean()
        elif step == 2:
            f = rng.uniform(1 - strength, 1 + strength)
            x = f * x + (1 - f) * _gray(x)
        else:
            hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + 360 * rng.uniform(-hue, hue)) % 360
            x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        x = np.clip(x, 0, 1).astype(np.float32)
    return x


def simsiam_view(image: np.ndarray, rng: np.random.Generator, max_blur_sigma: float = 6.5) -> np.ndarray:
    """SimSiam-style view of an (H, W, 3) uint8 image; returns float32 in [0, 1]."""
    x = image.astype(np.float32) / 255.0
    if rng.random() < 0.8:
        x = _color_jitter(x, rng, 0.4, 0.1)
    if rng.random() < 0.2:
        x = np.repeat(_gray(x), 3, axis=2)
    if rng.random() < 0.5:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.1, max_blur_sigma), borderType=cv2.BORDER_REFLECT_101)
    return np.clip(x, 0, 1)


# ---------------------------------------------------------------------------------------------
# Mixing pictures
# ---------------------------------------------------------------------------------------------


class MixingBank:
    """A fixed set of procedural mixing pictures, generated once per (count, size, seed), cached.

    Even indices are IFS fractals, odd ones feature-visualisation-like patterns. The cache file is
    written to a temporary name and renamed, so concurrent workers never read half a file.
    """

    VERSION = 1

    def __init__(self, count: int = 256, size: int = 256, seed: int = 0, cache_dir: str | Path | None = None):
        if count < 2 or count % 2:
            raise ValueError(f"count must be an even number >= 2, got {count}")
        self.count, self.size, self.seed = count, size, seed
        self.path = Path(cache_dir or default_cache_dir()) / f"mixing_v{self.VERSION}_n{count}_s{size}_seed{seed}.npy"
        self._pictures: np.ndarray | None = None

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict:
        # DataLoader workers reopen the memory map instead of pickling the whole bank.
        return {**self.__dict__, "_pictures": None}

    @property
    def pictures(self) -> np.ndarray:
        """(N, S, S, 3) uint8, memory-mapped from the cache file (generated on first use)."""
        if self._pictures is None:
            if not self.path.exists():
                self._generate()
            self._pictures = np.load(self.path, mmap_mode="r")
        return self._pictures

    def _generate(self) -> None:
        from tqdm.auto import tqdm

        pictures = np.empty((self.count, self.size, self.size, 3), dtype=np.uint8)
        for index in tqdm(range(self.count), desc="mixing pictures", unit="pic", leave=False):
            rng = np.random.default_rng([self.seed, index])
            draw = ifs_fractal if index % 2 == 0 else feature_pattern
            pictures[index] = draw(self.size, rng)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.path.parent, suffix=".npy", delete=False) as handle:
            np.save(handle, pictures)
        os.replace(handle.name, self.path)

    def sample(self, size: int, rng: np.random.Generator, fractal_probability: float = 0.5) -> np.ndarray:
        """A random picture (fractal with ``fractal_probability``), cropped, flipped and rotated to
        (size, size, 3) float32 in [0, 1]."""
        family = 0 if rng.random() < fractal_probability else 1
        picture = np.asarray(self.pictures[2 * int(rng.integers(self.count // 2)) + family])
        picture = np.rot90(random_crop(picture, size, rng), k=int(rng.integers(4)))
        return np.ascontiguousarray(picture, dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# Pair sampler
# ---------------------------------------------------------------------------------------------


class Pair(NamedTuple):
    """A training pair: target ``clean`` and model input ``corrupted``, (H, W, 3) float32 in [0, 1]."""

    clean: np.ndarray
    corrupted: np.ndarray
    case: str


@dataclass
class PairSampler:
    """Draws a corruption case and builds the (clean, corrupted) pair for one clean image.

    Args:
        mixing_bank: source of PixMix mixing pictures.
        case_weights: relative weight of each case in ``CASES``; missing cases weigh 0.
        max_mix_rounds, mix_beta, self_partner_probability, fractal_probability: PixMix settings.
        imagenet_c_names: corruptions the ablation-only ``imagenet_c`` case draws from.
        degradation: the generic degradation model of the ``degradation`` case.
    """

    mixing_bank: MixingBank
    case_weights: Mapping[str, float] = field(
        default_factory=lambda: {"identity": 1.0, "pixmix": 3.0, "simsiam": 1.0, "degradation": 0.0, "imagenet_c": 0.0}
    )
    max_mix_rounds: int = 4
    mix_beta: float = 4.0
    self_partner_probability: float = 0.25
    fractal_probability: float = 0.5
    imagenet_c_names: Sequence[str] = field(default_factory=corruption_names)
    degradation: DegradationModel = field(default_factory=DegradationModel)

    def __post_init__(self) -> None:
        unknown = set(self.case_weights) - set(CASES)
        if unknown:
            raise ValueError(f"unknown cases {sorted(unknown)}; allowed: {', '.join(CASES)}")
        weights = np.array([float(self.case_weights.get(case, 0.0)) for case in CASES])
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"case weights must be >= 0 with a positive sum, got {dict(self.case_weights)}")
        self._probabilities = weights / weights.sum()

    def sample_case(self, rng: np.random.Generator) -> str:
        return CASES[int(rng.choice(len(CASES), p=self._probabilities))]

    def __call__(self, clean: np.ndarray, rng: np.random.Generator) -> Pair:
        """Build a pair from an (H, W, 3) uint8 clean image (square for PixMix's mixing pictures)."""
        case = self.sample_case(rng)
        target = clean.astype(np.float32) / 255.0
        if case == "identity":
            corrupted = target.copy()
        elif case == "pixmix":
            size = clean.shape[0]
            corrupted = pixmix(
                clean,
                lambda r: self.mixing_bank.sample(size, r, self.fractal_probability),
                rng,
                max_rounds=self.max_mix_rounds,
                beta=self.mix_beta,
                self_partner_probability=self.self_partner_probability,
            )
        elif case == "simsiam":
            corrupted = simsiam_view(clean, rng)
        elif case == "degradation":
            corrupted = self.degradation(clean, rng)
        else:
            name = self.imagenet_c_names[int(rng.integers(len(self.imagenet_c_names)))]
            corrupted = corrupt(clean, name, int(rng.integers(1, 6)), rng).astype(np.float32) / 255.0
        return Pair(target, corrupted, case)


class CorruptionPairDataset(Dataset):
    """(clean, corrupted) float32 tensors (3, S, S) in [0, 1], deterministic per (seed, index)."""

    def __init__(self, clean_images: CleanImageDataset, sampler: PairSampler):
        self.clean_images, self.sampler = clean_images, sampler

    def __len__(self) -> int:
        return len(self.clean_images)

    def pair(self, index: int) -> Pair:
        rng = np.random.default_rng([self.clean_images.seed, index, 1])
        return self.sampler(self.clean_images.image(index), rng)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pair(index)
        return to_tensor(pair.clean), to_tensor(pair.corrupted)
