"""Procedural pictures drawn from an explicit random generator.

These stand in for image files we cannot ship or download: the plasma fractal that ImageNet-C's fog
uses, a frost layer, dead-leaves images (a model of natural-image statistics used as clean training
images), iterated-function-system fractals and feature-visualisation-like patterns (the PixMix mixing
pictures). Every function takes a ``numpy.random.Generator`` and touches no global state.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "plasma_fractal",
    "frost_layer",
    "dead_leaves",
    "ifs_fractal",
    "feature_pattern",
]


def _next_power_of_two(n: int) -> int:
    return 1 << max(1, math.ceil(math.log2(n)))


def plasma_fractal(size: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square height map on a torus, as ImageNet-C's fog draws it.

    Args:
        size: side of the square map; rounded up to a power of two.
        wibble_decay: how fast the random perturbation shrinks per octave (larger = smoother).
        rng: random generator.

    Returns:
        (N, N) float32 map in [0, 1] with N the power of two >= ``size``.
    """
    n = _next_power_of_two(size)
    grid = np.zeros((n, n), dtype=np.float64)
    step, wibble = n, 100.0

    def perturbed_mean(total: np.ndarray) -> np.ndarray:
        # The benchmark's perturbation is wibble * U(-wibble, wibble): keep that scale exactly.
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:n:step, 0:n:step]
        # Square step: centres of squares from their four corners.
        square_sum = corners + np.roll(corners, -1, axis=0)
        square_sum = square_sum + np.roll(square_sum, -1, axis=1)
        grid[half:n:step, half:n:step] = perturbed_mean(square_sum)
        # Diamond step: edge midpoints from the two corners and the two neighbouring centres.
        centres = grid[half:n:step, half:n:step]
        top_edges = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0:n:step, half:n:step] = perturbed_mean(top_edges)
        left_edges = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half:n:step, 0:n:step] = perturbed_mean(left_edges)
        step = half
        wibble /= wibble_decay

    grid -= grid.min()
    return (grid / max(grid.max(), 1e-12)).astype(np.float32)


def frost_layer(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural frost-on-glass texture, (H, W, 3) float32 in [0, 1].

    ImageNet-C blends a random crop of one of six photographs of frost; those files are not ours to
    ship, so this draws the same kind of layer: a cold-tinted plasma haze (the frozen film, darker in
    patches) plus anti-aliased ice needles with side branches (the crystals), lightly blurred. Its
    mean brightness (about 0.43) and tint are close to the photographs', its structure is not the
    same, so frost scores are comparable to ImageNet-C's in strength, not identical.
    """
    haze = plasma_fractal(max(height, width), 1.7, rng)[:height, :width] ** 1.5
    needles = np.zeros((height, width), dtype=np.uint8)
    count = max(8, height * width // 90)
    starts = rng.uniform((0, 0), (width, height), size=(count, 2))
    angles = rng.uniform(0, 2 * math.pi, count)
    lengths = rng.uniform(3, 14, count)
    brightness = rng.integers(110, 256, count)
    for (x0, y0), angle, length, value in zip(starts, angles, lengths, brightness):
        dx, dy = math.cos(angle), math.sin(angle)
        x1, y1 = x0 + length * dx, y0 + length * dy
        cv2.line(needles, (int(x0), int(y0)), (int(x1), int(y1)), int(value), 1, cv2.LINE_AA)
        # Two side branches at +-60 degrees from a point along the needle: dendrite-like crystals.
        t = rng.uniform(0.3, 0.8)
        bx, by = x0 + t * length * dx, y0 + t * length * dy
        for turn in (math.pi / 3, -math.pi / 3):
            branch = 0.4 * length
            ex = bx + branch * math.cos(angle + turn)
            ey = by + branch * math.sin(angle + turn)
            cv2.line(needles, (int(bx), int(by)), (int(ex), int(ey)), int(value) * 3 // 4, 1, cv2.LINE_AA)
    crystals = cv2.GaussianBlur(needles.astype(np.float32) / 255.0, (0, 0), 0.6)
    intensity = np.clip(0.65 * haze + 0.7 * crystals, 0, 1)
    tint = np.array([0.86, 0.93, 1.0], dtype=np.float32)
    return np.clip(intensity[..., None] * tint + 0.14, 0, 1)


def dead_leaves(
    size: int, rng: np.random.Generator, min_radius: float | None = None, max_radius: float | None = None
) -> np.ndarray:
    """A dead-leaves image: occluding discs with power-law radii, (S, S, 3) uint8.

    Radii follow p(r) ~ r^-3 between ``min_radius`` (default S/100, at least 1.5 px) and
    ``max_radius`` (default S/3): scale invariance, as in natural images. Enough discs are drawn
    to cover the canvas about six times over; colours come from a few random palettes with jitter,
    so there are smooth regions and sharp edges at every scale. A light random blur mimics optics.
    """
    min_radius = min_radius or max(1.5, size / 100)
    max_radius = max_radius or size / 3
    a, b = min_radius**-2, max_radius**-2
    # E[pi r^2] under the truncated r^-3 law is 2 pi ln(max/min) / (a - b).
    mean_area = 2 * math.pi * math.log(max_radius / min_radius) / (a - b)
    count = int(min(6 * size * size / mean_area, 50_000))
    radii = (a - rng.uniform(size=count) * (a - b)) ** -0.5
    centres = rng.uniform(-max_radius / 2, size + max_radius / 2, size=(count, 2))
    palette = rng.integers(0, 256, size=(rng.integers(3, 9), 3))
    colours = np.clip(palette[rng.integers(len(palette), size=count)] + rng.normal(0, 18, (count, 3)), 0, 255)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = palette[0]
    # Leaves fall in random order, each covering what lies below it.
    for (cx, cy), radius, colour in zip(centres.astype(int).tolist(), radii.tolist(), colours.astype(int).tolist()):
        cv2.circle(canvas, (cx, cy), max(1, round(radius)), colour, -1, cv2.LINE_AA)
    sigma = rng.uniform(0.0, 1.0)
    if sigma > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    return canvas


def ifs_fractal(size: int, rng: np.random.Generator, points: int = 4096, iterations: int = 48) -> np.ndarray:
    """A colourful iterated-function-system fractal on black, (S, S, 3) uint8.

    2 to 4 random contractive affine maps (singular values in [0.25, 0.85], so the attractor is
    neither a point nor a blob) are iterated by the chaos game on many points at once. Each map has
    a colour; a pixel takes the mean colour of the points that land on it and a brightness from the
    log of their count, like the PixMix fractal set. Sparse attractors (under 6% of the pixels lit)
    are redrawn, up to a few times, so the picture fills its frame.
    """
    for _ in range(4):
        image = _ifs_attempt(size, rng, points, iterations)
        if (image.max(axis=2) > 0).mean() >= 0.06:
            break
    return image


def _ifs_attempt(size: int, rng: np.random.Generator, points: int, iterations: int) -> np.ndarray:
    n_maps = int(rng.integers(2, 5))
    maps = []
    for _ in range(n_maps):
        theta, phi = rng.uniform(0, 2 * math.pi, 2)
        rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        shear = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
        singular = np.diag(rng.uniform(0.25, 0.85, 2) * rng.choice([-1.0, 1.0], 2))
        maps.append((rotation @ singular @ shear, rng.uniform(-1, 1, 2)))
    matrices = np.stack([m for m, _ in maps])
    offsets = np.stack([o for _, o in maps])
    weights = np.abs(np.linalg.det(matrices)) + 0.05
    weights /= weights.sum()
    colours = rng.uniform(0.2, 1.0, size=(n_maps, 3))
    colours[np.arange(n_maps), rng.integers(0, 3, n_maps)] = 1.0

    xy = rng.uniform(-1, 1, size=(points, 2))
    colour = np.zeros((points, 3))
    trail_xy, trail_colour = [], []
    for step in range(iterations):
        choice = rng.choice(n_maps, size=points, p=weights)
        xy = np.einsum("pij,pj->pi", matrices[choice], xy) + offsets[choice]
        colour = 0.5 * colour + 0.5 * colours[choice]
        if step >= 8:  # skip the transient before the points settle on the attractor
            trail_xy.append(xy)
            trail_colour.append(colour)
    xy = np.concatenate(trail_xy)
    colour = np.concatenate(trail_colour)
    low, high = np.percentile(xy, [0.5, 99.5], axis=0)
    extent = max((high - low).max(), 1e-9)
    pix = ((xy - (low + high) / 2) / extent * 0.9 + 0.5) * (size - 1)
    keep = np.all((pix >= 0) & (pix <= size - 1), axis=1)
    flat = np.round(pix[keep, 1]).astype(np.int64) * size + np.round(pix[keep, 0]).astype(np.int64)
    counts = np.bincount(flat, minlength=size * size).astype(np.float64)
    colour_sum = np.stack([np.bincount(flat, colour[keep, c], size * size) for c in range(3)], axis=1)
    mean_colour = colour_sum / np.maximum(counts, 1)[:, None]
    brightness = np.log1p(counts) / max(np.log1p(counts).max(), 1e-9)
    image = (mean_colour * brightness[:, None] ** 0.6).reshape(size, size, 3)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def feature_pattern(size: int, rng: np.random.Generator) -> np.ndarray:
    """A feature-visualisation-like picture, (S, S, 3) uint8.

    Feature visualisations of CNN units are saturated, repeating, swirly textures. Two plasma fields
    (one warping the other) sent through a random sinusoidal palette per channel give the same kind
    of high-frequency colourful structure without any network or image file.
    """
    field = plasma_fractal(size, rng.uniform(1.4, 2.2), rng)[:size, :size]
    warp = plasma_fractal(size, rng.uniform(1.6, 2.5), rng)[:size, :size]
    mixed = field + rng.uniform(0.3, 1.2) * warp
    frequency = rng.uniform(1.5, 6.0, 3)
    phase = rng.uniform(0, 2 * math.pi, 3)
    image = 0.5 + 0.5 * np.sin(2 * math.pi * frequency * mixed[..., None] + phase)
    return np.clip(image * 255, 0, 255).astype(np.uint8)
