"""The video layer's presets, declared side by side.

``default`` is the project's own temporal machinery: flow fusion before the edit, one noise shared
by every frame, attention to the anchor frame beside the frame's own tokens, latent smoothing along
time. It does not depend on the checkpoint, so it applies to any. ``published`` is the video path of
the published Decorruptor code: frames edited at long side 512, chunks of the first frame plus seven
new ones, every frame's self-attention keys and values taken from the first frame, the same seed
for every chunk, and no aid before or after the edit. ``fast`` is ``default`` at a working long side
of 160 pixels with one grid shift: several times the frames per second of ``default`` on a CPU
(``benchmarks/video_speed.py``), at the cost of the finest detail, since a 320x240 frame is edited
at a quarter of its pixels and upsampled back. Every option of ``VideoDecorruptor`` (and of the
command line) overrides the preset it starts from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRESETS", "ConsistencySettings", "RestorerConfig", "VideoPreset", "get_preset"]


@dataclass(frozen=True)
class ConsistencySettings:
    """How frames of one video are tied together.

    Args:
        shared_noise: every frame and chunk starts from, and is re-noised with, the same noise.
        anchor_attention: self-attention also sees the anchor frame's tokens (keys and values).
        smoothing: strength of the latent smoothing along time (0 = off).
        anchor_only: with ``anchor_attention``, keys and values come from the anchor alone (the
            published cross-frame attention) instead of the frame's own tokens plus the anchor's.
        reseed_every_chunk: without ``shared_noise``, every chunk draws its noise from a generator
            seeded afresh with the same seed (frames of a chunk differ, chunks repeat), as the
            published code does; otherwise each chunk draws new noise.
    """

    shared_noise: bool = True
    anchor_attention: bool = True
    smoothing: float = 0.5
    anchor_only: bool = False
    reseed_every_chunk: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.smoothing) or self.smoothing < 0:
            raise ValueError(f"smoothing must be a finite number >= 0, got {self.smoothing}")

    @classmethod
    def none(cls) -> ConsistencySettings:
        """Independent per-frame editing: the baseline the consistency is measured against."""
        return cls(shared_noise=False, anchor_attention=False, smoothing=0.0)


@dataclass(frozen=True)
class VideoPreset:
    """What the video layer does around the editor.

    Args:
        batch_size: frames per editor call (with ``anchor_in_every_chunk``, the anchor included).
        size: working long side in pixels (None: native, at most 512); results go back to the source size.
        size_multiple: the working size is rounded to a multiple of this (None: the VAE's factor).
        fusion_radius: neighbours on each side fused into each frame before the edit (0 = off).
        fusion_noise: (nothing, full): the fusion's strength follows the frames' noise level
            (:func:`image_core.editor.estimates.noise_level`, grey levels): the frame as it is at
            ``nothing`` and below, the full fusion at ``full`` and above. The same value twice: always
            full. A clean, blurred or compressed clip gains nothing from averaging warped neighbours
            and loses detail wherever the flow is a little off.
        fusion_outliers: (nothing, full): outlier removal, whose strength follows the share of
            bright outliers the fusion finds (:func:`video_decorruptor.restore.fusion.bright_outliers`:
            rain and snow, which leave the noise level low): pixels more than
            ``REPLACE_LEVELS`` grey levels above their fused value take it (the mean of the aligned
            neighbours, which undoes a streak better than their median), the rest of the frame
            stays as it is (on textured footage the flow's small errors would cost more than the
            fusion gives). None = no outlier removal (and no optical flow on a batch whose noise
            level leaves the fusion at 0).
        impulse_share: remove salt-and-pepper grains (a switching median:
            :func:`image_core.editor.estimates.remove_impulses`) from frames where at least this share
            of the pixels are such grains; None = never.
        consistency: the temporal ties between frames.
        anchor_in_every_chunk: every chunk after the first is the anchor (frame 0) plus
            ``batch_size - 1`` new frames, the anchor edited again each time; otherwise the anchor's
            attention tokens are recorded once and replayed.
        editor: editor settings this preset overrides (names of
            :class:`~image_core.editor.settings.EditorSettings`); the checkpoint's own for the rest.
    """

    batch_size: int = 8
    size: int | None = None
    size_multiple: int | None = None
    fusion_radius: int = 2
    fusion_noise: tuple[float, float] = (5.0, 12.0)
    fusion_outliers: tuple[float, float] | None = (0.003, 0.008)
    impulse_share: float | None = 0.005
    consistency: ConsistencySettings = field(default_factory=ConsistencySettings)
    anchor_in_every_chunk: bool = False
    editor: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        minimum = 2 if self.anchor_in_every_chunk else 1
        if self.batch_size < minimum:
            raise ValueError(
                f"batch_size must be >= {minimum}{' (the anchor plus new frames)' if minimum == 2 else ''}, "
                f"got {self.batch_size}"
            )
        if self.size is not None and self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.fusion_radius < 0:
            raise ValueError(f"fusion_radius must be >= 0, got {self.fusion_radius}")

    def replace(self, **changes: Any) -> VideoPreset:
        """A copy with the ``changes`` that are not None (an option left unset keeps the preset's value)."""
        return dataclasses.replace(self, **{name: value for name, value in changes.items() if value is not None})


PRESETS: dict[str, VideoPreset] = {
    "default": VideoPreset(),
    "published": VideoPreset(
        batch_size=8,
        size=512,
        size_multiple=64,
        fusion_radius=0,
        fusion_outliers=None,
        impulse_share=None,
        consistency=ConsistencySettings(
            shared_noise=False, anchor_attention=True, smoothing=0.0, anchor_only=True, reseed_every_chunk=True
        ),
        anchor_in_every_chunk=True,
        editor={
            "image_guidance_scale": 1.8,
            "start_from_image": False,
            "colour_fix_sigma": 0.0,
            "tone_correction": False,
            "grid_shifts": 1,
            "edit_noise_nothing": 0.0,
            "edit_noise_full": 0.0,
            "keep_spread": False,
        },
    ),
    "fast": VideoPreset(size=160, editor={"grid_shifts": 1}),
}


@dataclass(frozen=True)
class RestorerConfig:
    """What a restorer is built from, as one value a caller can keep (the evaluation keeps one).

    Args:
        checkpoint: editor checkpoint folder or hub id (None: the embedded Decorruptor-Tiny CM).
        preset: a name of ``PRESETS``.
        options: ``VideoDecorruptor`` keywords that override the preset and the checkpoint
            (``num_inference_steps``, ``colour_fix_sigma``, ``batch_size``, ...).
    """

    checkpoint: str | None = None
    preset: str = "default"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_preset(self.preset)  # an unknown name fails here, before any work


def get_preset(name: str) -> VideoPreset:
    """The preset called ``name``; an unknown name is refused with the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]
