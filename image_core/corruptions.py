"""ImageNet-C corruptions (15 benchmark + 4 held-out), five severities each.

Each corruption is one short function whose first line is the benchmark's five-entry severity
table (Hendrycks & Dietterich, ICLR 2019). Differences from the original code, all deliberate:

- randomness comes from an explicit ``numpy.random.Generator``; no global RNG state;
- it works at any size >= 32 px. Parameters stay in pixels as defined for 224 px images (a
  severity-3 defocus is a 6 px disk at every size, as the video benchmarks apply them at 320x240);
  only size-bound pieces (fog's plasma map, the frost layer) follow the image size;
- glass blur is vectorised and frost is procedural (see their docstrings);
- OpenCV replaces scikit-image / Wand / PIL where it is faster and equivalent; uint8 output is
  rounded rather than truncated.

One file because it is one registry: each corruption registers itself beside its severity table and
the helpers the corruptions share, so the benchmark's definition reads in one place; about 425 lines.

Example:
    >>> import numpy as np
    >>> image = np.full((64, 64, 3), 128, dtype=np.uint8)
    >>> corrupt(image, "gaussian_noise", 3, rng=0).shape
    (64, 64, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from image_core.procedural import frost_layer, plasma_fractal

__all__ = ["FAMILIES", "CORRUPTIONS", "Corruption", "corrupt", "corruption_names", "as_generator"]

FAMILIES = ("noise", "blur", "weather", "digital", "extra")
SEVERITIES = (1, 2, 3, 4, 5)
MIN_SIZE = 32

CorruptionFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Corruption:
    """A registered corruption: ``fn(image_float_HW3, severity, rng) -> float image``."""

    name: str
    family: str
    fn: CorruptionFn


CORRUPTIONS: dict[str, Corruption] = {}


def _register(family: str) -> Callable[[CorruptionFn], CorruptionFn]:
    def add(fn: CorruptionFn) -> CorruptionFn:
        CORRUPTIONS[fn.__name__] = Corruption(fn.__name__, family, fn)
        return fn

    return add


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """An int seeds a new generator, None draws fresh entropy, a Generator is used as is."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


# ---------------------------------------------------------------------------------------------
# Shared helpers (images are float32 (H, W, 3) in [0, 1] inside this module)
# ---------------------------------------------------------------------------------------------


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur truncated at 4 sigma with edge replication, like skimage.filters.gaussian."""
    return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)


def _zoom_about_centre(x: np.ndarray, factor: float) -> np.ndarray:
    """Enlarge by ``factor`` about the image centre and keep the original frame (scipy's clipped zoom)."""
    h, w = x.shape[:2]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    matrix = np.float32([[factor, 0, (1 - factor) * cx], [0, factor, (1 - factor) * cy]])
    out = cv2.warpAffine(x, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(x.shape)


def _motion_kernel(radius: int, sigma: float, angle_degrees: float) -> np.ndarray:
    """One-sided Gaussian line kernel of 2*radius+1 taps, ImageMagick's motion blur."""
    taps = np.arange(2 * radius + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    angle = math.radians(angle_degrees)
    dx = np.rint(taps * math.cos(angle)).astype(int)
    dy = np.rint(taps * math.sin(angle)).astype(int)
    size = 2 * len(taps) - 1
    kernel = np.zeros((size, size), dtype=np.float32)
    np.add.at(kernel, (dy + len(taps) - 1, dx + len(taps) - 1), weights)
    return kernel


def _motion_blur(x: np.ndarray, radius: int, sigma: float, angle_degrees: float) -> np.ndarray:
    kernel = _motion_kernel(radius, sigma, angle_degrees)
    return cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_REPLICATE).reshape(x.shape)


def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """Antialiased disk of the given radius, normalised to sum 1."""
    half = 8 if radius <= 8 else int(radius)
    coords = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(coords, coords)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    ksize = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(disk, ksize, sigmaX=alias_blur)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def _hsv_adjust(x: np.ndarray, channel: int, scale: float, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
    hsv[..., channel] = np.clip(hsv[..., channel] * scale + shift, 0, 1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


# ---------------------------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------------------------


@_register("noise")
def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    return x + rng.normal(scale=c, size=x.shape).astype(np.float32)


@_register("noise")
def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [60, 25, 12, 5, 3][severity - 1]
    return rng.poisson(x * c).astype(np.float32) / c


@_register("noise")
def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    # Salt and pepper on a fraction c of all values (per channel), half white, half black.
    u = rng.random(x.shape, dtype=np.float32)
    out = x.copy()
    out[u < c / 2] = 0.0
    out[(u >= c / 2) & (u < c)] = 1.0
    return out


# ---------------------------------------------------------------------------------------------
# Blur
# ---------------------------------------------------------------------------------------------


@_register("blur")
def defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    return cv2.filter2D(x, -1, _disk_kernel(*c)).reshape(x.shape)


@_register("blur")
def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, scramble pixels locally, blur again.

    The original swaps every pixel with a random neighbour in a sequential Python loop (seconds per
    image). Here each pass moves every pixel to a random offset in [-max_delta, max_delta) in one
    vectorised gather; the look (local scrambling between two blurs) is the same, while some pixels
    repeat and others drop, where the original's swaps keep each pixel exactly once.
    """
    c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    sigma, max_delta, iterations = c
    x = _gaussian(x, sigma)
    h, w = x.shape[:2]
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    for _ in range(iterations):
        dy, dx = rng.integers(-max_delta, max_delta, size=(2, h, w))
        x = x[np.clip(rows + dy, 0, h - 1), np.clip(cols + dx, 0, w - 1)]
    return _gaussian(x, sigma)


@_register("blur")
def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    return _motion_blur(x, c[0], c[1], rng.uniform(-45, 45))


@_register("blur")
def zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [
        np.arange(1, 1.11, 0.01),
        np.arange(1, 1.16, 0.01),
        np.arange(1, 1.21, 0.02),
        np.arange(1, 1.26, 0.02),
        np.arange(1, 1.31, 0.03),
    ][severity - 1]
    out = x.copy()
    for factor in c:
        out += _zoom_about_centre(x, float(factor))
    return out / (len(c) + 1)


# ---------------------------------------------------------------------------------------------
# Weather
# ---------------------------------------------------------------------------------------------


@_register("weather")
def snow(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ][severity - 1]
    loc, scale, zoom, threshold, blur_radius, blur_sigma, blend = c
    flakes = rng.normal(loc, scale, size=x.shape[:2]).astype(np.float32)
    flakes = _zoom_about_centre(flakes, zoom)
    flakes[flakes < threshold] = 0
    flakes = np.clip(flakes, 0, 1)
    flakes = _motion_blur(flakes, blur_radius, blur_sigma, rng.uniform(-135, -45))[..., None]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, gray * 1.5 + 0.5)
    return x + flakes + np.rot90(flakes, k=2)


@_register("weather")
def frost(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blend with a frost layer; the layer is procedural (see ``procedural.frost_layer``)."""
    c = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    return c[0] * x + c[1] * frost_layer(x.shape[0], x.shape[1], rng)


@_register("weather")
def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)][severity - 1]
    h, w = x.shape[:2]
    peak = x.max()
    layer = plasma_fractal(max(h, w), c[1], rng)[:h, :w, None]
    return (x + c[0] * layer) * peak / (peak + c[0])


@_register("weather")
def brightness(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]
    return _hsv_adjust(x, 2, 1.0, c)


# ---------------------------------------------------------------------------------------------
# Digital
# ---------------------------------------------------------------------------------------------


@_register("digital")
def contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
    means = x.mean(axis=(0, 1), keepdims=True)
    return (x - means) * c + means


@_register("digital")
def elastic_transform(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Random affine jitter, then a smooth random displacement field (alpha, sigma in pixels)."""
    c = [
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    ][severity - 1]
    alpha, sigma, affine_jitter = c
    h, w = x.shape[:2]
    centre = np.float32([w / 2, h / 2])
    half = min(h, w) // 3
    src = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    dst = (src + rng.uniform(-affine_jitter, affine_jitter, size=src.shape)).astype(np.float32)
    x = cv2.warpAffine(x, cv2.getAffineTransform(src, dst), (w, h), borderMode=cv2.BORDER_REFLECT_101).reshape(x.shape)
    # Gaussian-smoothed uniform noise, truncated at 3 sigma, reflected at the borders.
    ksize = 2 * math.ceil(3 * sigma) + 1
    dx, dy = (
        cv2.GaussianBlur(
            rng.uniform(-1, 1, size=(h, w)).astype(np.float32), (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT
        )
        * alpha
        for _ in range(2)
    )
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(x, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(x.shape)


@_register("digital")
def pixelate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(1, int(w * c)), max(1, int(h * c))), interpolation=cv2.INTER_AREA)
    # Box filter both ways, as the benchmark's PIL BOX resizes.
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA).reshape(x.shape)


@_register("digital")
def jpeg_compression(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [25, 18, 15, 10, 7][severity - 1]
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(_to_uint8(x), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, c])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# Held-out ("extra") corruptions
# ---------------------------------------------------------------------------------------------


@_register("extra")
def speckle_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.15, 0.2, 0.35, 0.45, 0.6][severity - 1]
    return x + x * rng.normal(scale=c, size=x.shape).astype(np.float32)


@_register("extra")
def gaussian_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [1, 2, 3, 4, 6][severity - 1]
    return _gaussian(x, c)


@_register("extra")
def spatter(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Water droplets (severities 1-3) or mud splashes (4-5) from a thresholded smooth noise field."""
    c = [
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ][severity - 1]
    loc, scale, sigma, threshold, strength, is_mud = c
    liquid = _gaussian(rng.normal(loc, scale, size=x.shape[:2]).astype(np.float32), sigma)
    liquid[liquid < threshold] = 0
    if not is_mud:
        # Droplet shading: distance to the droplet edges, equalised and embossed.
        liquid_u8 = np.clip(liquid * 255, 0, 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(liquid_u8, 50, 150), cv2.DIST_L2, 5)
        dist = cv2.blur(np.minimum(dist, 20), (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
        dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
        shade = liquid_u8.astype(np.float32) * dist
        shade = shade / max(float(shade.max()), 1e-12) * strength
        pale_turquoise = np.array([175, 238, 238], dtype=np.float32) / 255
        return x + shade[..., None] * pale_turquoise
    mask = _gaussian((liquid > threshold).astype(np.float32), strength)
    mask[mask < 0.8] = 0
    mud_brown = np.array([63, 42, 20], dtype=np.float32) / 255
    return x * (1 - mask[..., None]) + mask[..., None] * mud_brown


@_register("extra")
def saturate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]
    return _hsv_adjust(x, 1, c[0], c[1])


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def corruption_names(family: str | None = None) -> list[str]:
    """Names in benchmark order; ``family`` is one of noise, blur, weather, digital, extra."""
    if family is None:
        return list(CORRUPTIONS)
    if family not in FAMILIES:
        raise ValueError(f"unknown corruption family {family!r}; allowed: {', '.join(FAMILIES)}")
    return [name for name, corruption in CORRUPTIONS.items() if corruption.family == family]


def check_corruption(name: str, severity: int) -> Corruption:
    """Validate a (name, severity) pair and return the registered corruption."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; allowed: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer 1 to 5, got {severity!r}")
    return CORRUPTIONS[name]


def corrupt(image: np.ndarray, name: str, severity: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Apply one ImageNet-C corruption.

    Args:
        image: (H, W, 3) RGB or (H, W) grayscale uint8 array, H and W >= 32.
        name: a name from :func:`corruption_names`.
        severity: 1 (mild) to 5 (strong).
        rng: a ``numpy.random.Generator``, an int seed (same seed, same output) or None (fresh).

    Returns:
        uint8 array of the input's shape. Grayscale input is corrupted as RGB and returned as its
        luminance.
    """
    corruption = check_corruption(name, severity)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = f"array of dtype {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a uint8 numpy array, got {kind}")
    grayscale = image.ndim == 2
    if not grayscale and not (image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image must have shape (H, W, 3) or (H, W), got {image.shape}")
    if min(image.shape[:2]) < MIN_SIZE:
        raise ValueError(f"image must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {image.shape[1]}x{image.shape[0]}")
    x = image.astype(np.float32) / 255.0
    if grayscale:
        x = np.repeat(x[..., None], 3, axis=2)
    out = np.ascontiguousarray(corruption.fn(x, int(severity), as_generator(rng)), dtype=np.float32)
    if grayscale:
        out = cv2.cvtColor(np.clip(out, 0, 1), cv2.COLOR_RGB2GRAY)
    return _to_uint8(out)
