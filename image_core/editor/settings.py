"""The editor's settings, declared once.

Every field defaults to what the published Decorruptor pipelines do, so a released folder (whose
``model_index.json`` has no ``settings`` key) behaves as the published code does. A checkpoint
overrides fields in its ``model_index.json`` under ``"settings"`` (the embedded Decorruptor-Tiny
records the aids it was tuned with there); a call argument or a command-line option overrides both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DPM_ONLY_SETTINGS", "EditorKind", "EditorSettings"]

EditorKind = Literal["dpm", "cm"]
GRID_SHIFT_COUNTS = (1, 2, 4)
# Settings that only the DPM teacher reads: giving one to a CM checkpoint is a mistake worth saying.
DPM_ONLY_SETTINGS = ("image_guidance_decay",)
# What the published pipelines use when a setting is None.
PUBLISHED_STEPS = {"dpm": 20, "cm": 4}
PUBLISHED_IMAGE_GUIDANCE = {"dpm": 1.8, "cm": 1.3}


@dataclass(frozen=True)
class EditorSettings:
    """How a Decorruptor pipeline edits.

    Args:
        inference_steps: sampling steps (DPM: 3 UNet evaluations each; CM: one); None = published
            (DPM 20, CM 4).
        guidance_scale: text guidance s_T (published 7.5).
        image_guidance_scale: image guidance s_I; None = published (DPM: a schedule from 1.8, CM: 1.3).
        image_guidance_decay: DPM only: s_I decays as sqrt(linspace(s_I^2, 0, steps)), the published
            schedule; False keeps it constant for every step (as diffusers' InstructPix2Pix does).
        start_from_image: start sampling from the input's latents at the terminal SNR instead of pure
            noise (published: pure noise times ``init_noise_sigma``).
        colour_fix_sigma: std in pixels below which the output takes the input's low frequencies
            (0 = off, published).
        tone_correction: pass the input through the checkpoint's tone corrector, where it has one,
            before the edit, and the output after it (published: no such step).
        grid_shifts: 1, 2 or 4 edits on latent grids shifted by half a latent pixel, averaged
            (published: 1).
        residual_target: the model diffuses the change to the input's latents rather than the
            clean latents (a property of how the checkpoint was trained; published: False).
        edit_noise_nothing, edit_noise_full: the edit's strength follows the input's noise level
            (:func:`image_core.editor.estimates.noise_level`, grey levels, taken after the tone correction):
            the output is the input at ``edit_noise_nothing`` and below, the full edit at
            ``edit_noise_full`` and above, a blend between. Equal values (published: 0 and 0) edit
            every image in full. For a model that repairs only noise well, it steps aside elsewhere.
        keep_spread: after the edit, stretch each image back to the contrast its noisy input implies
            (:func:`image_core.editor.colour.restore_spread`; published: no such step).
        tone_range_nothing, tone_range_full: the tone correction's strength follows the input's tonal
            range (:func:`image_core.editor.estimates.tonal_range`): none at ``tone_range_nothing`` and wider,
            full at ``tone_range_full`` and narrower (gain ** strength, offset * strength). Equal
            values (the default, 0 and 0) correct every image in full.
    """

    inference_steps: int | None = None
    guidance_scale: float = 7.5
    image_guidance_scale: float | None = None
    image_guidance_decay: bool = True
    start_from_image: bool = False
    colour_fix_sigma: float = 0.0
    tone_correction: bool = False
    grid_shifts: int = 1
    residual_target: bool = False
    edit_noise_nothing: float = 0.0
    edit_noise_full: float = 0.0
    keep_spread: bool = False
    tone_range_nothing: float = 0.0
    tone_range_full: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check(field.name, getattr(self, field.name))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> EditorSettings:
        """A copy with ``changes`` (each checked); unknown names are refused."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError(f"unknown editor setting(s) {', '.join(unknown)}; known: {', '.join(self.names())}")
        return dataclasses.replace(self, **changes)

    def override(self, overrides: Mapping[str, Any] | None, kind: EditorKind, origin: str) -> EditorSettings:
        """These settings with ``overrides`` applied, refusing DPM-only settings for a CM checkpoint.

        ``origin`` names where the overrides come from, for the error message (e.g. the
        checkpoint's ``model_index.json``)."""
        overrides = dict(overrides or {})
        if kind == "cm":
            misplaced = [name for name in DPM_ONLY_SETTINGS if name in overrides]
            if misplaced:
                raise ValueError(
                    f"{origin}: {', '.join(misplaced)} applies to DPM checkpoints only, and this is a CM checkpoint"
                )
        try:
            return self.replace(**overrides)
        except ValueError as error:
            raise ValueError(f"{origin}: {error}") from None

    def steps(self, kind: EditorKind) -> int:
        """The step count this pipeline kind runs."""
        return self.inference_steps or PUBLISHED_STEPS[kind]

    def image_guidance(self, kind: EditorKind) -> float:
        """s_I for CM, the schedule's start (or the constant) for DPM."""
        return PUBLISHED_IMAGE_GUIDANCE[kind] if self.image_guidance_scale is None else self.image_guidance_scale


def _check(name: str, value: Any) -> None:
    """Refuse a value of the wrong type or out of range, naming the setting."""
    if name in ("image_guidance_decay", "start_from_image", "tone_correction", "residual_target", "keep_spread"):
        if not isinstance(value, bool):
            raise ValueError(f"editor setting {name} must be true or false, got {value!r}")
        return
    if value is None and name in ("inference_steps", "image_guidance_scale"):
        return
    if name in ("inference_steps", "grid_shifts"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"editor setting {name} must be an integer, got {value!r}")
        if name == "grid_shifts" and value not in GRID_SHIFT_COUNTS:
            raise ValueError(f"editor setting grid_shifts must be one of {GRID_SHIFT_COUNTS}, got {value}")
        if value < 1:
            raise ValueError(f"editor setting {name} must be >= 1, got {value}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"editor setting {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"editor setting {name} must be a finite number, got {value}")
    if value < 0:
        raise ValueError(f"editor setting {name} must be >= 0, got {value}")
