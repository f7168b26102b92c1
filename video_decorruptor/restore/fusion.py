"""Motion-compensated temporal fusion: each frame averaged with its neighbours warped onto it.

Noise, grain, rain streaks and compression artefacts are drawn afresh in every frame, while the
scene only moves. Warping the ``radius`` frames before and after a frame onto it by optical flow and
averaging them divides independent per-frame damage by up to ``2 * radius + 1`` samples before the
editor sees the frame, which a per-frame editor cannot do. A neighbour's pixel counts only where the
flow there passes a forward-backward check (it lands back where it started), so occluded and
uncovered regions, and the parts of a neighbour that fall outside the frame, are left out instead of
being smeared in.

Flow is DIS (OpenCV) on grey frames smoothed first, so that the noise being removed does not steer
the flow that removes it; the check is :func:`video_decorruptor.restore.flow.consistent`.
"""

from __future__ import annotations

import cv2
import numpy as np

from video_decorruptor.restore.flow import consistent, dis_flow, inside_frame, warp

__all__ = [
    "FLOW_BLUR_SIGMA",
    "OUTLIER_LEVELS",
    "REPLACE_LEVELS",
    "bright_outliers",
    "fuse_frames",
    "fuse_frames_with_median",
    "grey_excess",
]

FLOW_BLUR_SIGMA = 1.5  # pixels: smoothing of the grey frames the flow is computed on
OUTLIER_LEVELS = 20.0  # grey levels a pixel must stand above (or below) its fused value to count
REPLACE_LEVELS = 5.0  # grey levels above its fused value from which outlier removal replaces a pixel


def fuse_frames(frames: np.ndarray, radius: int, targets: range | None = None) -> np.ndarray:
    """Average each target frame with its neighbours up to ``radius`` frames away, warped onto it.

    Args:
        frames: (T, H, W, 3) uint8 consecutive frames (targets and their context).
        radius: neighbours on each side (0 = frames returned as they are).
        targets: indices of the frames to fuse (default: all); neighbours come from all of ``frames``.

    Returns:
        (len(targets), H, W, 3) uint8. Per pixel, the mean over the frame itself and the neighbours
        whose flow passes the forward-backward check there.
    """
    return _fuse(frames, radius, targets, with_median=False)[0]


def fuse_frames_with_median(
    frames: np.ndarray, radius: int, targets: range | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fuse_frames` and, from the same flow, the per-pixel median over the frame and its
    warped neighbours (a neighbour whose flow fails the check there counts as the frame's own
    value). Light drawn afresh in one frame moves the mean of the others a little, and the median
    not at all: the median is what outliers are measured against.

    Returns:
        (mean, median), each (len(targets), H, W, 3) uint8.
    """
    mean, median = _fuse(frames, radius, targets, with_median=True)
    return mean, median


def _fuse(
    frames: np.ndarray, radius: int, targets: range | None, with_median: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The mean of each target frame and its warped neighbours, and their median if asked for."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    targets = range(len(frames)) if targets is None else targets
    if radius == 0 or len(frames) < 2:
        own = frames[targets.start : targets.stop : targets.step].copy()
        return own, own.copy() if with_median else None
    greys = [cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (0, 0), FLOW_BLUR_SIGMA) for frame in frames]
    flows: dict[
        tuple[int, int], np.ndarray
    ] = {}  # each ordered pair once: a pair's backward flow is the other's forward

    def flow(source: int, destination: int) -> np.ndarray:
        if (source, destination) not in flows:
            flows[source, destination] = dis_flow(greys[source], greys[destination])
        return flows[source, destination]

    means, medians = [], []
    for index in targets:
        own = frames[index].astype(np.float32)
        samples, total, count = [own], own.copy(), np.ones(own.shape[:2], np.float32)
        for other in range(max(0, index - radius), min(len(frames), index + radius + 1)):
            if other == index:
                continue
            forward, backward = flow(index, other), flow(other, index)
            weight = (inside_frame(forward) & consistent(forward, backward)).astype(np.float32)
            warped = warp(frames[other].astype(np.float32), forward)
            total += weight[..., None] * warped
            count += weight
            if with_median:
                samples.append(np.where(weight[..., None] > 0, warped, own))
        means.append(np.clip(total / count[..., None] + 0.5, 0, 255).astype(np.uint8))
        if with_median:
            medians.append(np.clip(np.median(np.stack(samples), axis=0) + 0.5, 0, 255).astype(np.uint8))
    return np.stack(means), np.stack(medians) if with_median else None


def grey_excess(frames: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """How far each pixel's grey value lies above its fused value, in grey levels (negative:
    below): frames, fused (T, H, W, 3) uint8 -> (T, H, W) float32."""
    return frames.astype(np.float32).mean(-1) - fused.astype(np.float32).mean(-1)


def bright_outliers(excess: np.ndarray, levels: float | np.ndarray = OUTLIER_LEVELS) -> np.ndarray:
    """How much more of each frame stands out bright than dark against its fusion: the share of
    pixels more than ``levels`` above their fused value minus the share more than ``levels`` below.

    Rain, snow and specks are light drawn afresh in each frame, so the median of the aligned
    neighbours takes them out and leaves bright outliers only. The flow's own mistakes on a clean
    clip (and independent noise) fall on both sides alike and cancel: a clean clip reads about 0, a
    rainy one 0.01 and more.

    Args:
        excess: (T, H, W) :func:`grey_excess` of the frames over the median of
            :func:`fuse_frames_with_median`.
        levels: the threshold in grey levels, one for all frames or (T,) (raise it with the noise
            level: clipping at black and white makes strong noise a little lopsided).

    Returns:
        (T,) float32 in [-1, 1].
    """
    levels = np.broadcast_to(np.asarray(levels, np.float32), excess.shape[:1])[:, None, None]
    bright = (excess > levels).mean(axis=(1, 2))
    dark = (excess < -levels).mean(axis=(1, 2))
    return (bright - dark).astype(np.float32)
