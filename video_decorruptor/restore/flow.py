"""Optical-flow helpers shared by the warping-error metric and the temporal fusion.

Convention: a flow (H, W, 2) from frame A to frame B says that the pixel at x in A shows what B
shows at x + flow(x).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["consistent", "dis_flow", "inside_frame", "warp"]


def dis_flow(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """DIS flow (OpenCV, medium preset) between grey uint8 (H, W) frames, float32 (H, W, 2)."""
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(reference, other, None)


def _grid(height: int, width: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (H, W[, C]) float32 sampled at x + flow(x): the other frame brought onto the reference."""
    target = _grid(*flow.shape[:2]) + flow
    return cv2.remap(image, target[..., 0], target[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistent(forward: np.ndarray, backward: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(H, W) bool: where following ``forward`` and then ``backward`` comes back to the start.

    The tolerance grows with the motion, 0.01 of the squared flows plus ``threshold`` px^2, as flow
    errors do (Sundaram, Brox and Keutzer, ECCV 2010); occluded pixels fail it."""
    returned = warp(backward, forward)
    mismatch = ((forward + returned) ** 2).sum(-1)
    return mismatch < 0.01 * ((forward**2).sum(-1) + (returned**2).sum(-1)) + threshold


def inside_frame(flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: where x + flow(x) lies inside the frame."""
    height, width = flow.shape[:2]
    target = _grid(height, width) + flow
    return (
        (target[..., 0] >= 0) & (target[..., 0] <= width - 1) & (target[..., 1] >= 0) & (target[..., 1] <= height - 1)
    )
