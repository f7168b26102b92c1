"""A synthetic action-recognition dataset made from real photographs.

No pretrained video model can be downloaded here, so the embedded action model learns ten motion
classes rendered over photos: camera pans (4 directions), zooms (in, out), rotations (both ways)
and an object (a photo cut-out) moving across a still background (2 directions). Training clips
use scikit-image's photos and dead-leaves images; test clips use scikit-learn's two photos, which
training never sees. Clip ``i`` is deterministic given ``(split, seed, i)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from image_core.procedural import dead_leaves
from image_core.sources import heldout_photos, training_photos

__all__ = ["ACTION_CLASSES", "SyntheticActions", "render_action_clip"]

ACTION_CLASSES = (
    "pan_left",
    "pan_right",
    "pan_up",
    "pan_down",
    "zoom_in",
    "zoom_out",
    "rotate_clockwise",
    "rotate_counterclockwise",
    "object_left_to_right",
    "object_top_to_bottom",
)


def _camera_frames(photo: np.ndarray, action: str, rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """Sample ``frames`` views of ``photo`` through a moving virtual camera."""
    field_of_view = rng.uniform(0.35, 0.6)
    # Shrink the photo first so each output pixel covers about 1.5 photo pixels: no aliasing shimmer.
    shrink = min(1.0, 1.5 * size / (field_of_view * min(photo.shape[:2])))
    if shrink < 1.0:
        photo = cv2.resize(photo, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    h, w = photo.shape[:2]
    side = field_of_view * min(h, w)  # the camera's field of view, in photo pixels
    travel = rng.uniform(0.25, 0.5) * side  # how far a pan moves over the clip
    zoom = rng.uniform(0.25, 0.45)  # relative change of the field of view
    turn = math.radians(rng.uniform(20, 45))  # total rotation
    margin = side * (1 + zoom) / 2 + travel
    cx = rng.uniform(min(margin, w / 2), max(w - margin, w / 2))
    cy = rng.uniform(min(margin, h / 2), max(h - margin, h / 2))
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        progress = t / max(frames - 1, 1) - 0.5  # -0.5 .. 0.5, centred on the middle frame
        x, y, view, angle = cx, cy, side, 0.0
        if action == "pan_left":
            x -= travel * progress
        elif action == "pan_right":
            x += travel * progress
        elif action == "pan_up":
            y -= travel * progress
        elif action == "pan_down":
            y += travel * progress
        elif action == "zoom_in":
            view *= 1 - zoom * (progress + 0.5)
        elif action == "zoom_out":
            view *= 1 - zoom * (0.5 - progress)
        elif action == "rotate_clockwise":
            angle = turn * progress
        elif action == "rotate_counterclockwise":
            angle = -turn * progress
        scale = view / size
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        # output pixel (u, v) -> photo pixel: rotate and scale about the output centre, then move to (x, y)
        matrix = np.float32([[cos, -sin, x - size / 2 * (cos - sin)], [sin, cos, y - size / 2 * (sin + cos)]])
        out[t] = cv2.warpAffine(
            photo,
            matrix,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
    return out


def _object_frames(
    background: np.ndarray, sprite_source: np.ndarray, action: str, rng: np.random.Generator, frames: int, size: int
) -> np.ndarray:
    """A still background with an elliptical cut-out of another photo crossing it."""
    still = _camera_frames(background, "pan_left", rng, 1, size)[0]
    radius = int(rng.uniform(0.18, 0.3) * size)
    sprite = _camera_frames(sprite_source, "pan_left", rng, 1, 2 * radius)[0]
    mask = np.zeros((2 * radius, 2 * radius), np.float32)
    cv2.ellipse(mask, (radius, radius), (radius - 1, int(radius * rng.uniform(0.6, 0.95))), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    lane = rng.uniform(radius, size - radius)
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        along = -radius + (size + 2 * radius) * t / (frames - 1) * rng.uniform(0.95, 1.05)
        x, y = (along, lane) if action == "object_left_to_right" else (lane, along)
        frame = still.astype(np.float32)
        x0, y0 = int(round(x)) - radius, int(round(y)) - radius
        left, top = max(x0, 0), max(y0, 0)
        right, bottom = min(x0 + 2 * radius, size), min(y0 + 2 * radius, size)
        if right > left and bottom > top:
            patch = (slice(top - y0, bottom - y0), slice(left - x0, right - x0))
            alpha = mask[patch]
            frame[top:bottom, left:right] = alpha * sprite[patch] + (1 - alpha) * frame[top:bottom, left:right]
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def render_action_clip(
    photo: np.ndarray,
    action: str,
    rng: np.random.Generator,
    frames: int = 16,
    size: int = 64,
    other_photo: np.ndarray | None = None,
) -> np.ndarray:
    """One clip (frames, size, size, 3) uint8 of ``action`` over ``photo``.

    ``other_photo`` supplies the moving object of the object classes (default: ``photo`` itself).
    """
    if action not in ACTION_CLASSES:
        raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTION_CLASSES)}")
    if action.startswith("object_"):
        return _object_frames(photo, other_photo if other_photo is not None else photo, action, rng, frames, size)
    return _camera_frames(photo, action, rng, frames, size)


class SyntheticActions(Dataset):
    """Clips of the ten actions, balanced; labels are indices into ``ACTION_CLASSES``.

    Args:
        split: ``train`` (scikit-image photos + dead-leaves backgrounds) or ``test`` (held-out photos).
        length: number of clips.
        frames, size: clip shape.
        seed: base seed.

    Returns (per item):
        (clip float32 (3, T, H, W) in [0, 1], label).
    """

    def __init__(self, split: str = "train", length: int = 1000, frames: int = 16, size: int = 64, seed: int = 0):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split, self.length, self.frames, self.size, self.seed = split, length, frames, size, seed

    def __len__(self) -> int:
        return self.length

    def _photo(self, rng: np.random.Generator) -> np.ndarray:
        if self.split == "test":
            photos = list(heldout_photos().values())
            return photos[int(rng.integers(len(photos)))]
        if rng.random() < 0.25:
            return dead_leaves(160, rng)
        photos = training_photos()
        return photos[int(rng.integers(len(photos)))]

    def clip(self, index: int) -> tuple[np.ndarray, int]:
        """Item ``index`` as ((T, H, W, 3) uint8, label)."""
        rng = np.random.default_rng([self.seed, index, 0 if self.split == "train" else 1])
        label = index % len(ACTION_CLASSES)
        frames = render_action_clip(
            self._photo(rng), ACTION_CLASSES[label], rng, self.frames, self.size, self._photo(rng)
        )
        return frames, label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, label = self.clip(index)
        return torch.from_numpy(frames).permute(3, 0, 1, 2).float().div_(255.0), label
