"""Video quality and temporal-consistency metrics against a clean reference.

- ``psnr`` / ``ssim``: per frame, averaged (scikit-image's implementations).
- ``warping_error`` (Lai et al., ECCV 2018): optical flow between consecutive frames of the *clean
  reference* (OpenCV Farneback), a forward-backward consistency mask for occlusions, then
  E = mean_t sum(M * |O_t - warp(O_{t+1})|^2) / sum(M) over the output O, in [0, 1] intensity units.
- ``flicker``: mean absolute difference of consecutive output frames divided by the same figure on
  the reference (1.0 = as much frame-to-frame change as the clean video; more = flicker).
- ``grain``: the fine texture of frames, std(frame - 3x3 Gaussian blur of frame) averaged over
  frames; restored over clean says whether a repair added texture (stretched codec blocks, noise)
  that the clean video does not have.

All take uint8 (T, H, W, 3) arrays.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from video_decorruptor.restore.flow import consistent, warp

__all__ = ["flicker", "grain", "grain_ratio", "optical_flow", "psnr", "ssim", "warping_error"]


def _check(reference: np.ndarray, output: np.ndarray) -> None:
    if reference.shape != output.shape or reference.ndim != 4:
        raise ValueError(f"reference and output must both be (T, H, W, 3), got {reference.shape} and {output.shape}")


def psnr(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean per-frame PSNR in dB; identical frames count as 100 dB rather than infinity."""
    _check(reference, output)
    values = [
        100.0 if np.array_equal(r, o) else peak_signal_noise_ratio(r, o, data_range=255)
        for r, o in zip(reference, output)
    ]
    return float(np.mean(np.minimum(values, 100.0)))


def ssim(reference: np.ndarray, output: np.ndarray) -> float:
    _check(reference, output)
    return float(
        np.mean([structural_similarity(r, o, channel_axis=2, data_range=255) for r, o in zip(reference, output)])
    )


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2) such that ``source[y, x]`` matches ``target[y + dy, x + dx]``."""
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in (source, target)]
    return cv2.calcOpticalFlowFarneback(gray[0], gray[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)


def warping_error(reference: np.ndarray, output: np.ndarray, occlusion_threshold: float = 0.5) -> float:
    """Mean squared difference between each output frame and the next one warped back onto it,
    outside occlusions; flow from the clean reference."""
    _check(reference, output)
    if len(reference) < 2:
        raise ValueError("warping error needs at least 2 frames")
    errors = []
    for t in range(len(reference) - 1):
        forward = optical_flow(reference[t], reference[t + 1])
        backward = optical_flow(reference[t + 1], reference[t])
        visible = consistent(forward, backward, occlusion_threshold).astype(np.float32)
        warped = warp(output[t + 1].astype(np.float32) / 255, forward)
        squared = ((output[t].astype(np.float32) / 255 - warped) ** 2).sum(-1)
        errors.append(float((visible * squared).sum() / max(visible.sum(), 1.0)))
    return float(np.mean(errors))


def flicker(reference: np.ndarray, output: np.ndarray) -> float:
    _check(reference, output)
    change = lambda v: np.abs(np.diff(v.astype(np.float32), axis=0)).mean()  # noqa: E731
    return float(change(output) / max(change(reference), 1e-6))


def grain(frames: np.ndarray) -> float:
    """Mean over frames of the std (in grey levels, over pixels and channels) of frame minus its
    3 x 3 Gaussian blur (OpenCV's kernel for that size: [1, 2, 1] / 4 in each direction):
    (T, H, W, 3) uint8 -> float."""
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
    values = [float((frame - cv2.GaussianBlur(frame, (3, 3), 0)).std()) for frame in frames.astype(np.float32)]
    return float(np.mean(values))


def grain_ratio(reference: np.ndarray, output: np.ndarray) -> float:
    """``grain(output) / grain(reference)``: 1.0 = as much fine texture as the clean clip, above
    = texture the clean clip does not have (grain), below = detail lost."""
    _check(reference, output)
    return grain(output) / max(grain(reference), 1e-6)
