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

__all__ = ["FLOW_BLUR_SIGMA", "fuse_frames"]

FLOW_BLUR_SIGMA = 1.5  # pixels: smoothing of the grey frames the flow is computed on


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
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    targets = range(len(frames)) if targets is None else targets
    if radius == 0 or len(frames) < 2:
        return frames[targets.start : targets.stop : targets.step].copy()
    greys = [cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (0, 0), FLOW_BLUR_SIGMA) for frame in frames]
    flows: dict[
        tuple[int, int], np.ndarray
    ] = {}  # each ordered pair once: a pair's backward flow is the other's forward

    def flow(source: int, destination: int) -> np.ndarray:
        if (source, destination) not in flows:
            flows[source, destination] = dis_flow(greys[source], greys[destination])
        return flows[source, destination]

    fused = []
    for index in targets:
        total = frames[index].astype(np.float32)
        count = np.ones(total.shape[:2], np.float32)
        for other in range(max(0, index - radius), min(len(frames), index + radius + 1)):
            if other == index:
                continue
            forward, backward = flow(index, other), flow(other, index)
            weight = (inside_frame(forward) & consistent(forward, backward)).astype(np.float32)
            total += weight[..., None] * warp(frames[other].astype(np.float32), forward)
            count += weight
        fused.append(np.clip(total / count[..., None] + 0.5, 0, 255).astype(np.uint8))
    return np.stack(fused)
