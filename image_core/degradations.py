"""A generic second-order degradation model: the kind of damage real cameras and codecs cause.

Practical real-world restoration training degrades clean images twice in a row with random blur,
resizing, noise and compression, then compresses once more. The editor's training uses this as a
second data source next to Decorruptor's corruption modeling; none of it is an ImageNet-C or
UCF-101C corruption function (those are the test sets), though both describe similar physics.

Every draw comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from image_core.codec import decode_stream, encode_frames

__all__ = ["DegradationModel", "lower_contrast", "random_blur_kernel"]

_INTERPOLATIONS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)


def random_blur_kernel(rng: np.random.Generator, max_sigma: float, size_range: tuple[int, int] = (7, 21)) -> np.ndarray:
    """An isotropic or anisotropic (rotated) Gaussian kernel, odd size, normalised to sum 1."""
    size = int(rng.integers(size_range[0] // 2, size_range[1] // 2 + 1)) * 2 + 1
    sigma_x = rng.uniform(0.2, max_sigma)
    sigma_y = sigma_x if rng.random() < 0.5 else rng.uniform(0.2, max_sigma)
    theta = rng.uniform(0, math.pi)
    half = size // 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    u = xx * math.cos(theta) + yy * math.sin(theta)
    v = -xx * math.sin(theta) + yy * math.cos(theta)
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).astype(np.float32)


def lower_contrast(image: np.ndarray, factor: float, per_channel: bool = False) -> np.ndarray:
    """(H, W, 3) float in [0, 1] with every value's distance to the grey mean scaled by ``factor``
    (torchvision's ``adjust_contrast``; below 1 it stays in [0, 1]), or with ``per_channel`` to its
    channel's mean (how ImageNet-C and UCF-101C lower contrast)."""
    if per_channel:
        mean = image.mean(axis=(0, 1), keepdims=True)
    else:
        mean = float((image @ np.array([0.299, 0.587, 0.114], np.float32)).mean())
    return (mean + (image - mean) * factor).astype(np.float32)


@dataclass
class DegradationModel:
    """Maybe a global tone change, two rounds of blur -> resize -> noise -> JPEG, back to the input
    size, maybe heavy noise at full resolution, then maybe a video codec.

    The tone change comes first, as in a camera, where the scene's haze or flat light is there
    before the sensor adds noise: contrast lowered towards the picture's grey mean (torchvision's
    ``adjust_contrast`` with a factor below 1), haze (a blend with a bright, slightly tinted
    airlight) or exposure and gamma. Without it an editor never sees low-frequency damage; with it,
    a from-scratch CPU run of the shipped recipe still learned to undo none of it (docs/history.md),
    so the separate tone corrector does that job.

    The rounds' noise is softened by the resizing and JPEG that follow it, as in a camera pipeline,
    and their Gaussian noise stops at 30 grey levels. The final noise is strong and left as it is:
    heavy sensor noise (Gaussian up to 100 grey levels, Poisson down to one photon at white) and
    impulse noise (dead and hot pixels). Test sets go that far (ImageNet-C and UCF-101C Gaussian
    noise is 97 grey levels at severity 5), and editors trained without it left such clips far from
    clean (docs/design.md, "Corruption modeling").

    Args:
        tone_probability: chance of the global tone change (0: none, as in the shipped recipe).
        contrast_range: contrast factor (drawn log-uniform); the haze transmission uses it too.
        exposure_range: exposure gain (drawn log-uniform).
        gamma_range: gamma exponent (drawn log-uniform).
        blur_probability: per round.
        max_blur_sigma: per round (the second round is milder).
        scale_range: resize factor per round.
        gaussian_sigma_range: noise sigma in grey levels (of 255).
        poisson_peak_range: photons at white for shot noise (lower = noisier).
        jpeg_quality_range: per round.
        second_round_probability: chance of the second round.
        final_noise_probability: chance of the heavy full-resolution noise after the rounds.
        final_gaussian_sigma_range: its Gaussian sigma in grey levels (drawn log-uniform).
        final_poisson_peak_range: its photons at white (drawn log-uniform).
        impulse_amount_range: its share of impulse-noise pixels.
        video_codec_probability: chance of a final intra-frame H.264 encode.
        video_crf_range: CRF of that encode.
    """

    tone_probability: float = 0.0
    contrast_range: tuple[float, float] = (0.08, 0.8)
    exposure_range: tuple[float, float] = (0.4, 2.5)
    gamma_range: tuple[float, float] = (0.5, 2.0)
    blur_probability: tuple[float, float] = (0.8, 0.5)
    max_blur_sigma: tuple[float, float] = (3.0, 1.5)
    scale_range: tuple[float, float] = (0.4, 1.2)
    gaussian_sigma_range: tuple[float, float] = (1.0, 30.0)
    poisson_peak_range: tuple[float, float] = (3.0, 100.0)
    jpeg_quality_range: tuple[int, int] = (30, 95)
    second_round_probability: float = 0.7
    final_noise_probability: float = 0.3
    final_gaussian_sigma_range: tuple[float, float] = (10.0, 100.0)
    final_poisson_peak_range: tuple[float, float] = (1.0, 30.0)
    impulse_amount_range: tuple[float, float] = (0.01, 0.3)
    video_codec_probability: float = 0.3
    video_crf_range: tuple[int, int] = (18, 40)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(H, W, 3) uint8 -> degraded (H, W, 3) float32 in [0, 1]."""
        height, width = image.shape[:2]
        x = image.astype(np.float32) / 255.0
        if self.tone_probability > 0 and rng.random() < self.tone_probability:
            x = self.tone_change(x, rng)
        for round_index in range(2):
            if round_index == 1 and rng.random() >= self.second_round_probability:
                break
            x = self._round(x, round_index, rng)
        x = cv2.resize(x, (width, height), interpolation=_INTERPOLATIONS[int(rng.integers(3))])
        if rng.random() < self.final_noise_probability:
            x = self._final_noise(x, rng)
        x = np.clip(x, 0, 1)
        if rng.random() < self.video_codec_probability:
            x = _h264_intra(x, int(rng.integers(self.video_crf_range[0], self.video_crf_range[1] + 1)))
        return x.astype(np.float32)

    def tone_change(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One global tone change of (H, W, 3) float in [0, 1]: lowered contrast, haze, or exposure
        and gamma (a third each); also the tone corrector's training data (image_core.training.tone)."""
        kind = int(rng.integers(3))
        if kind == 0:
            return lower_contrast(x, _log_uniform(rng, self.contrast_range))
        if kind == 1:
            transmission = _log_uniform(rng, self.contrast_range)
            airlight = rng.uniform(0.6, 1.0) + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
            return np.clip(x * transmission + airlight * (1 - transmission), 0, 1)
        exposed = np.clip(x * _log_uniform(rng, self.exposure_range), 0, 1)
        return exposed ** np.float32(_log_uniform(rng, self.gamma_range))

    def _round(self, x: np.ndarray, round_index: int, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.blur_probability[round_index]:
            x = cv2.filter2D(
                x, -1, random_blur_kernel(rng, self.max_blur_sigma[round_index]), borderType=cv2.BORDER_REFLECT_101
            )
        scale = rng.uniform(*self.scale_range)
        height, width = x.shape[:2]
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        x = cv2.resize(x, size, interpolation=_INTERPOLATIONS[int(rng.integers(3))])
        if rng.random() < 0.5:
            x = _gaussian_noise(x, rng.uniform(*self.gaussian_sigma_range), rng)
        else:
            x = _poisson_noise(x, _log_uniform(rng, self.poisson_peak_range), rng)
        x = np.clip(x, 0, 1)
        quality = int(rng.integers(self.jpeg_quality_range[0], self.jpeg_quality_range[1] + 1))
        encoded = cv2.imencode(".jpg", np.rint(x * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0

    def _final_noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kind = int(rng.integers(3))
        if kind == 0:
            return _gaussian_noise(x, _log_uniform(rng, self.final_gaussian_sigma_range), rng)
        if kind == 1:
            return _poisson_noise(x, _log_uniform(rng, self.final_poisson_peak_range), rng)
        return _impulse_noise(x, rng.uniform(*self.impulse_amount_range), rng)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))


def _gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Colour noise, or luminance noise (one draw for the three channels) 4 times in 10; sigma in grey levels."""
    shape = x.shape if rng.random() < 0.6 else (*x.shape[:2], 1)
    return x + rng.normal(0, sigma / 255.0, shape).astype(np.float32)


def _poisson_noise(x: np.ndarray, peak: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise of ``peak`` photons at white."""
    return rng.poisson(np.clip(x, 0, 1) * peak).astype(np.float32) / peak


def _impulse_noise(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """``amount`` of the values set to 0 or 1: salt, pepper or both, per channel or per whole pixel."""
    shape = x.shape if rng.random() < 0.5 else (*x.shape[:2], 1)
    hit = rng.random(shape) < amount
    salt_share = (0.0, 0.5, 1.0)[int(rng.integers(3))]
    value = (rng.random(shape) < salt_share).astype(np.float32)
    return np.where(hit, value, x).astype(np.float32)


def _h264_intra(x: np.ndarray, crf: int) -> np.ndarray:
    """One frame through libx264 (4:2:0) and back: blocking and chroma loss of video streams.

    In this process, not a fresh one (``image_core.codec``): a DataLoader worker makes thousands of
    these, and 1500 repeats of such encodes on 64 px crops all gave the same frame."""
    frame = np.rint(x * 255).astype(np.uint8)[None]
    stream = encode_frames(frame, 25.0, "libx264", {"crf": str(crf), "preset": "veryfast"}, fresh_process=False)
    decoded = decode_stream(stream, frame, 25.0)
    return decoded[0].astype(np.float32) / 255.0
