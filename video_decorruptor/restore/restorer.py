"""``VideoDecorruptor``: restore videos frame by frame with the Decorruptor editor, without flicker.

Frames are edited in chunks of ``batch_size``, one editor batch each. Each batch's needs are
estimated first (noise level, salt-and-pepper share, tonal range:
:mod:`image_core.editor.estimates`, smoothed along time), and every stage runs at the strength they
call for, so that a stage with nothing to fix steps aside and a clean clip comes back as it went
in. What happens around the edit comes from a preset (:mod:`video_decorruptor.restore.presets`),
every part of which an option overrides. The default preset: before the edit, each frame is fused
with its neighbours warped onto it by optical flow (:mod:`video_decorruptor.restore.fusion`), so
damage drawn afresh in every frame (noise, grain, rain, compression) averages out, which no
per-frame edit can do; then three consistency mechanisms, each switchable: shared noise (every
frame and every chunk starts from, and is re-noised with, the same noise), anchor attention to the
video's first frame (edited once, in the first chunk, and replayed to the others) and latent
temporal smoothing, which carries each chunk's last frame into the next chunk as a neighbour
(:mod:`video_decorruptor.restore.consistency`). The
``published`` preset is the published code's video path.
Videos stream: decoding, editing and encoding overlap through bounded queues, so memory does not
grow with the video's length.

One file because it is one pipeline: decoding, the estimates, fusion, editing, colour and tone fixes
and encoding hand one video's state from batch to batch inside one class; about 680 lines.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import torch

from image_core.editor import load_editor
from image_core.editor.base import SETTING_ARGUMENTS
from image_core.editor.colour import colour_fix, restore_spread
from image_core.editor.estimates import impulse_share, noise_level, ramp, remove_impulses, tonal_range
from image_core.editor.grid import grid_shift_mean
from image_core.editor.images import images_to_tensor, tensor_to_images
from image_core.editor.latents import shared_generators
from image_core.editor.loading import checkpoint_settings
from image_core.editor.settings import EditorKind, EditorSettings
from image_core.editor.tone import apply_tone
from video_decorruptor.io import VideoReader, VideoWriter, open_video, to_depth
from video_decorruptor.restore.consistency import install_anchor_attention, temporal_smooth
from video_decorruptor.restore.fusion import (
    OUTLIER_LEVELS,
    REPLACE_LEVELS,
    bright_outliers,
    fuse_frames,
    fuse_frames_with_median,
    grey_excess,
)
from video_decorruptor.restore.presets import ConsistencySettings, VideoPreset, get_preset

__all__ = ["ConsistencySettings", "VideoDecorruptor", "resolve_settings"]

MAX_DEFAULT_SIZE = 512
T = TypeVar("T")
# ``VideoDecorruptor``'s editor options -> the editor settings they override.
EDITOR_OPTIONS = {
    **SETTING_ARGUMENTS,
    **{
        name: name
        for name in ("image_guidance_decay", "start_from_image", "colour_fix_sigma", "tone_correction", "grid_shifts")
    },
}
VIDEO_OPTIONS = ("batch_size", "size", "fusion_radius", "consistency")


def resolve_settings(
    checkpoint: EditorSettings, kind: EditorKind, preset: str = "default", **options: Any
) -> tuple[VideoPreset, EditorSettings]:
    """What a restorer does: the preset's video settings and the checkpoint's editor settings, the
    preset's editor overrides applied, then every option that is not None.

    Args:
        checkpoint, kind: the checkpoint's settings and kind (``pipe.settings``, ``pipe.kind``, or
            :func:`image_core.editor.loading.checkpoint_settings` without loading the weights).
        preset: a name of :data:`video_decorruptor.restore.presets.PRESETS`.
        options: ``VideoDecorruptor``'s keywords (``VIDEO_OPTIONS`` and ``EDITOR_OPTIONS``).
    """
    unknown = sorted(set(options) - set(VIDEO_OPTIONS) - set(EDITOR_OPTIONS))
    if unknown:
        raise TypeError(f"unknown restorer option(s) {', '.join(unknown)}")
    video = get_preset(preset).replace(**{name: options.get(name) for name in VIDEO_OPTIONS})
    given = {
        EDITOR_OPTIONS[name]: value for name, value in options.items() if name in EDITOR_OPTIONS and value is not None
    }
    editor = checkpoint.override(video.editor, kind, f"preset {preset!r}").override(given, kind, "editor options")
    return video, editor


def _smooth(frames: torch.Tensor, strength: float, passes: int) -> torch.Tensor:
    """``passes`` rounds of :func:`temporal_smooth` over (T, C, h, w) frames or latents."""
    for _ in range(passes):
        frames = temporal_smooth(frames, strength)
    return frames


def working_size(height: int, width: int, long_side: int | None, multiple: int) -> tuple[int, int]:
    """(h, w) with the long side at ``long_side`` (default: native, at most 512), both rounded to ``multiple``."""
    target = long_side or min(max(height, width), MAX_DEFAULT_SIZE)
    scale = target / max(height, width)
    round_to = lambda v: max(multiple, int(round(v * scale / multiple)) * multiple)  # noqa: E731
    return round_to(height), round_to(width)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """To (h, w): area averaging down, bicubic up, untouched when already there."""
    if frame.shape[:2] == size:
        return frame
    shrinking = size[0] * size[1] < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """``items`` produced in a worker thread up to ``depth`` items ahead of the consumer, in order.

    Why: decoding, resizing, the tone estimate and the flow fusion (OpenCV and small torch ops,
    which release the GIL) then overlap the editor's batch on an accelerator, where the CPU would
    otherwise wait. On a CPU the editor's own threads already use every core, and a second stream
    of torch and OpenCV work only contends with them (slower at small frames, no faster at 320x240),
    so there the preparation runs inline; decoding, which is light, stays ahead. An exception in the
    worker is raised to the consumer at the item where it happened; a consumer that stops early
    stops the worker.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    done, stop, failure = object(), threading.Event(), []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            failure.append(error)
        handoff.put(done)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not done:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting on the full queue, then let it end
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                pass


def carry_onto_deep(restored: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The restoration carried onto a deep source: (T, H, W, 3) uint8 restored frames and the uint16
    source frames they came from -> uint16. The stages work on the source rounded to 8 bits; what
    they changed is added to the source's own samples, so a pixel that no stage touched keeps every
    bit it had (a clean 10-bit clip comes back at 10 bits), and a changed one keeps the source's
    precision around the change."""
    change = restored.astype(np.int32) - to_depth(source, deep=False)
    return np.clip(source.astype(np.int32) + 257 * change, 0, 65535).astype(np.uint16)


# Temporal smoothing passes over a sampling run: CM-4 smooths its latents once per step, and a
# sampler with fewer steps makes up the rest at each step (a one-step CM smooths four times), so
# the output is as steady whatever the step count. The colour fix's reference frames get as many:
# taken from the raw frames, the input's noise came back as flicker, and more passes lowered
# the warping error in benchmarks/temporal.py (docs/design.md, "Colour fix, grid shifts and tone
# correction in the video layer").
SMOOTHING_PASSES = 4
# The source's detail above the working size is given back to an edited frame soft-thresholded at
# this many times the frame's noise level (``VideoDecorruptor._finish``): noise of std sigma rarely
# exceeds 2 sigma, an edge does.
DETAIL_THRESHOLD = 2.0
# A pixel counts as a bright outlier of the fusion beyond OUTLIER_LEVELS plus this many times the
# frame's noise level: the grey of three channels with noise sigma varies by about sigma / sqrt(3)
# around its median, and clipping at black and white makes strong noise a little lopsided.
OUTLIER_NOISE_LEVELS = 2.0


@dataclass
class _StreamState:
    """What one video's batches hand on to the next, kept per video so that restorers sharing a
    pipeline can interleave: the anchor's recorded attention tokens, and per step the last
    frame's denoised latent and its input frame (the smoothing's left neighbours across a batch boundary)."""

    anchor_tokens: list[torch.Tensor] = field(default_factory=list)
    last_denoised: list[torch.Tensor] = field(default_factory=list)
    last_frame: torch.Tensor | None = None  # the previous batch's last input frame (1, 3, h, w)
    # per estimate ("input tone", "output tone", "noise", "range"), the previous batch's last raw value (1, C, 1, 1)
    last_estimate: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class _Batch:
    """One editor batch on its way through the stages, with what the estimates asked of each.

    ``frames`` (B, h, w, 3) uint8 at the working size: what the editor gets (after the impulse
    removal, the tone correction and the fusion). ``detail`` (B, H, W, 3) float32: the prepared
    frames at the source size minus their round trip through the working size, given back to the
    output as far as the edit leaves the frame alone (None where the working size is the source
    size). ``noise``: the frames' noise level (B,), grey levels. ``tone``, ``fusion``, ``edit``,
    ``outlier_removal``: each stage's strength per frame (B,), in [0, 1] (the last None until the
    fusion has measured the outliers, or where the preset does not remove them).
    ``estimates``: the batch's mean noise level, impulse share and tonal range, and the fusion's
    bright outliers once it ran (for ``--explain``).
    """

    frames: np.ndarray
    detail: np.ndarray | None
    noise: np.ndarray
    tone: torch.Tensor
    fusion: np.ndarray
    edit: np.ndarray
    estimates: dict[str, float]
    outlier_removal: np.ndarray | None = None


@dataclass
class VideoDecorruptor:
    """Restore frames or video files with a Decorruptor editor pipeline.

    Every option left at None takes the preset's value, and for the editor's settings the
    checkpoint's own where the preset names none (:func:`resolve_settings`); the results are
    ``video`` (a :class:`~video_decorruptor.restore.presets.VideoPreset`) and ``editor_settings``.

    Args:
        pipe: a Decorruptor DPM or CM pipeline (see :func:`image_core.editor.load_editor`).
        preset: ``"default"`` (the project's temporal machinery) or ``"published"`` (the published
            video path); see :mod:`video_decorruptor.restore.presets`.
        batch_size: frames per editor batch.
        size: working long side in pixels, rounded to the preset's multiple (default preset: native
            up to 512, multiple of the VAE factor); results are resized back to the source size.
        consistency: which temporal-consistency mechanisms run.
        fusion_radius: neighbours on each side that each frame is fused with before the edit,
            warped onto it by optical flow (0 = off; :func:`video_decorruptor.restore.fusion.fuse_frames`).
            Frames are fused at the working size; a batch waits for the first ``fusion_radius``
            frames of the next.
        seed: seed of the noise (shared, or per chunk).
        num_inference_steps, guidance_scale, image_guidance_scale, image_guidance_decay,
            start_from_image: the editor's sampling (see :class:`~image_core.editor.settings.EditorSettings`).
        colour_fix_sigma: std in pixels below which the edit takes the input's low frequencies
            (0 = off). The input frames are first smoothed along time like the latents, so that
            their noise does not flicker back in.
        grid_shifts: 1, 2 or 4 edits of each batch on grids shifted by half a latent pixel,
            averaged. Each shift keeps its own anchor and smoothing state across batches; the colour
            fix runs once, on the mean.
        tone_correction: pass the frames through the checkpoint's tone corrector where it has one
            (:mod:`image_core.editor.tone`), before the fusion and the edit and again after them, with
            its per-frame gains and offsets smoothed along time.
        progress: show a progress bar in frames.
    """

    pipe: object
    preset: str = "default"
    batch_size: int | None = None
    size: int | None = None
    consistency: ConsistencySettings | None = None
    fusion_radius: int | None = None
    seed: int = 0
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    image_guidance_scale: float | None = None
    image_guidance_decay: bool | None = None
    start_from_image: bool | None = None
    colour_fix_sigma: float | None = None
    grid_shifts: int | None = None
    tone_correction: bool | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        options = {name: getattr(self, name) for name in (*VIDEO_OPTIONS, *EDITOR_OPTIONS)}
        self.video, self.editor_settings = resolve_settings(self.pipe.settings, self.pipe.kind, self.preset, **options)
        self.pipe.set_progress_bar_config(disable=True)
        self._anchor_state = install_anchor_attention(self.pipe.unet)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        compile: bool = False,
        **kwargs,
    ) -> VideoDecorruptor:
        """Load a checkpoint (None: the embedded Decorruptor-Tiny) and wrap it; settings that do not
        fit the checkpoint fail before any weights load. ``compile``: see
        :func:`image_core.editor.loading.speed_up`."""
        options = {name: kwargs.get(name) for name in (*VIDEO_OPTIONS, *EDITOR_OPTIONS)}
        resolve_settings(*checkpoint_settings(path), kwargs.get("preset", "default"), **options)
        return cls(load_editor(path, device=device, dtype=dtype, compile=compile), **kwargs)

    # -----------------------------------------------------------------------------------------
    # Frames
    # -----------------------------------------------------------------------------------------

    def _edit(
        self, batch: _Batch, chunk_index: int, streams: list[_StreamState], anchor: np.ndarray | None
    ) -> np.ndarray:
        """Edit one chunk of consecutive frames, (B, h, w, 3) uint8 -> (B, h, w, 3) uint8: once per
        grid shift (one stream state each), averaged, then the colour fix, the output's tone
        correction and the spread fix, then blended with the batch's frames by the edit's strength. A batch whose edit
        strength is 0 everywhere is not edited at all. An ``anchor`` (1, h, w, 3) is edited in front
        of the frames and dropped from the result."""
        if not batch.edit.any():
            return batch.frames
        frames = batch.frames
        images, _ = images_to_tensor(frames if anchor is None else np.concatenate([anchor, frames]))
        prepended = 0 if anchor is None else 1
        edit = lambda copy, index: self._edit_copy(copy, chunk_index, streams[index], prepended)  # noqa: E731
        edited = grid_shift_mean(edit, images, len(streams), self.pipe.vae_scale_factor)[prepended:]
        images = images[prepended:]
        if self.editor_settings.colour_fix_sigma > 0:  # the reference's smoothing carries state: only when the fix runs
            edited = colour_fix(
                edited, self._colour_reference(images, streams[0]), self.editor_settings.colour_fix_sigma
            )
        if self._tone_corrects:
            edited = self._correct_tone(edited, streams[0], "output tone", batch.tone)
        if self.editor_settings.keep_spread:
            edited = restore_spread(edited, images, noise_level(images))
        strength = torch.from_numpy(batch.edit)[:, None, None, None].to(edited)
        return tensor_to_images(images.to(edited) + strength * (edited - images.to(edited)), "numpy")

    @property
    def _tone_corrects(self) -> bool:
        return self.editor_settings.tone_correction and self.pipe.tone_corrector is not None

    @torch.no_grad()
    def _correct_tone(
        self, frames: torch.Tensor, stream: _StreamState, stage: str, strength: torch.Tensor
    ) -> torch.Tensor:
        """The checkpoint's tone correction of frames (B, 3, h, w) at one ``stage`` and ``strength``
        (B,) (gain ** strength, offset * strength): ``"input tone"``, before the fusion and the edit,
        so that both see (and remove) what the gain stretches (codec blocks and noise that a
        low-contrast frame hides), and ``"output tone"``, after the edit, for the little the edit
        itself moved; that second gain stays near 1 and so no longer stretches the edit's own errors
        into grain. Each stage's log-gain and offset are smoothed along time as the colour reference
        is: a per-frame estimate moves a little with the content, which a video would show as flicker
        of the whole frame."""
        if not bool(strength.any()):  # the gate is shut: no estimate (a stale one must not smooth the next)
            stream.last_estimate.pop(stage, None)
            return frames.float()
        frames = frames.to(self.pipe.tone_corrector.device)  # the input stage gets decoded frames, on the CPU
        gain, offset = self.pipe.tone_corrector(frames)
        smoothed = self._smoothed_estimate(torch.cat([gain.log(), offset], 1), stream, stage)
        strength = strength.to(smoothed)[:, None]
        return apply_tone(frames.float(), (smoothed[:, :3] * strength).exp(), smoothed[:, 3:] * strength)

    def _smoothed_estimate(self, values: torch.Tensor, stream: _StreamState, name: str) -> torch.Tensor:
        """Per-frame estimates (B, C) of consecutive frames smoothed along time (``_smooth_after``),
        with the previous batch's last raw estimate of the same ``name`` as the left neighbour."""
        values = values.float()[..., None, None]
        smoothed = self._smooth_after(values, stream.last_estimate.get(name))[:, :, 0, 0]
        stream.last_estimate[name] = values[-1:]
        return smoothed

    def _generator(self, chunk_index: int, frames: int) -> torch.Generator | list[torch.Generator]:
        """The noise of one chunk: shared noise is one generator per frame, all in one state (every
        frame draws the same noise, in every chunk); reseeded noise one generator seeded afresh
        (the frames of a chunk differ, the chunks repeat); else one per frame, new in every chunk."""
        settings = self.video.consistency
        if settings.shared_noise:
            return shared_generators(torch.Generator().manual_seed(self.seed), frames)
        if settings.reseed_every_chunk:
            return torch.Generator().manual_seed(self.seed)
        seed = self.seed + 1_000_003 * chunk_index
        return [torch.Generator().manual_seed(seed + i) for i in range(frames)]

    def _edit_copy(self, images: torch.Tensor, chunk_index: int, stream: _StreamState, prepended: int) -> torch.Tensor:
        """Edit one chunk's frames (B, 3, h, w) on one grid, without the colour fix and the tone correction.

        Chunk 0 starts with the anchor and records it into ``stream``; later chunks replay it, or
        carry it in front (``prepended``: 1), in which case it is recorded afresh and left out of
        the smoothing.
        """
        settings = self.video.consistency
        smooth_step = None
        if settings.smoothing > 0:
            passes = math.ceil(SMOOTHING_PASSES / self.editor_settings.steps(self.pipe.kind))

            def smooth_step(pipe, step: int, timestep: torch.Tensor, tensors: dict) -> dict:
                """Diffusers' step-end callback: the step's denoised estimates smoothed along time."""
                denoised = tensors["denoised"]
                groups = denoised.view(-1, len(images), *denoised.shape[1:])  # (guidance groups, frames, C, h, w)
                anchors, groups = groups[:, :prepended], groups[:, prepended:]
                carried = stream.last_denoised
                if step < len(carried):  # the previous chunk's last frame is this chunk's left neighbour
                    smoothed = torch.stack(
                        [
                            _smooth(torch.cat([left, group]), settings.smoothing, passes)[1:]
                            for left, group in zip(carried[step], groups)
                        ]
                    )
                else:
                    smoothed = torch.stack([_smooth(group, settings.smoothing, passes) for group in groups])
                carried[step : step + 1] = [smoothed[:, -1:]]
                return {"denoised": torch.cat([anchors, smoothed], 1).view_as(denoised)}

        if settings.anchor_attention:  # the first batch edited records (batches before it needed no edit)
            recording = chunk_index == 0 or prepended > 0 or not stream.anchor_tokens
            self._anchor_state.start_batch(len(images), stream.anchor_tokens, recording, settings.anchor_only)
        try:
            return self.pipe(
                image=images,
                generator=self._generator(chunk_index, len(images)),
                callback_on_step_end=smooth_step,
                callback_on_step_end_tensor_inputs=["denoised"],
                settings=self.editor_settings.replace(
                    colour_fix_sigma=0.0,
                    tone_correction=False,
                    keep_spread=False,
                    grid_shifts=1,
                    edit_noise_nothing=0.0,  # the video layer blends by its own, smoothed, noise estimate
                    edit_noise_full=0.0,
                ),
            ).images
        finally:
            self._anchor_state.enabled = False  # the pipeline stays usable on its own

    def _colour_reference(self, images: torch.Tensor, stream: _StreamState) -> torch.Tensor:
        """The frames (B, 3, h, w) whose low frequencies the colour fix gives the edit: the input,
        smoothed along time as the latents are (raw frames would bring their noise's flicker back)."""
        reference = self._smooth_after(images, stream.last_frame)
        stream.last_frame = images[-1:]
        return reference

    def _smooth_after(self, values: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        """``values`` (B, C, h, w), consecutive, smoothed along time (``SMOOTHING_PASSES`` passes) with
        ``previous`` (1, C, h, w), the last one of the batch before, as the first one's left neighbour."""
        stack = values if previous is None else torch.cat([previous.to(values), values])
        return _smooth(stack, self.video.consistency.smoothing, SMOOTHING_PASSES)[len(stack) - len(values) :]

    def _batches(self, chunks: Iterator[np.ndarray], frame_shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        """Regroup decoded chunks into editor batches of new frames: ``batch_size`` each, or with the
        anchor carried in every chunk ``batch_size`` for the first (which starts with the anchor)
        and ``batch_size - 1`` for the others."""
        pending = np.zeros((0, *frame_shape), np.uint8)
        size = self.video.batch_size
        for chunk in chunks:
            pending = np.concatenate([pending, chunk])
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
                size = self.video.batch_size - self.video.anchor_in_every_chunk
        if len(pending):
            yield pending

    def _fused(self, batches: Iterator[_Batch], stream: _StreamState) -> Iterator[_Batch]:
        """The batches, in order and of the same sizes, each frame fused with ``fusion_radius``
        neighbours on each side and blended with itself by its fusion strength: a batch is held back
        until the frames after it have been read, and the last frames before it are kept as its left
        context. With the preset's ``fusion_outliers`` gate, the fusion's bright outliers (smoothed
        along time) raise the strength the noise level gave; without it, a batch whose strength is 0
        everywhere skips the optical flow."""
        radius = self.video.fusion_radius
        if radius == 0:
            yield from batches
            return
        window: np.ndarray | None = None  # left context, then the batches not yet fused
        context, pending = 0, deque()  # frames of left context at the front of window; batches waiting

        def fuse_first() -> _Batch:
            nonlocal window, context
            batch = pending.popleft()
            size = len(batch.frames)
            # outlier removal where the noise gate leaves some of the frames unfused
            gate = self.video.fusion_outliers
            if gate is not None and (batch.fusion >= 1).all():
                gate, batch.outlier_removal = None, np.zeros_like(batch.fusion)
            if gate is not None or batch.fusion.any():
                targets = range(context, context + size)
                if gate is None:
                    fused, median = fuse_frames(window, radius, targets), None
                else:
                    fused, median = fuse_frames_with_median(window, radius, targets)
                frames = batch.frames.astype(np.float32)
                fused = fused.astype(np.float32)
                blended = frames + batch.fusion[:, None, None, None] * (fused - frames)
                if gate is not None:
                    excess = grey_excess(batch.frames, median)
                    levels = OUTLIER_LEVELS + OUTLIER_NOISE_LEVELS * batch.noise
                    found = torch.from_numpy(bright_outliers(excess, levels))[:, None]
                    outliers = self._smoothed_estimate(found, stream, "outliers")[:, 0]
                    # a frame the fusion averages in full needs no outlier removal on top
                    batch.outlier_removal = ramp(outliers, *gate).numpy() * (1 - batch.fusion)
                    batch.estimates["outliers"] = float(outliers.mean())
                    above = grey_excess(batch.frames, fused) > REPLACE_LEVELS  # the pixels the fused frame darkens
                    removal = (batch.outlier_removal[:, None, None] * above)[..., None]
                    blended = blended + removal * (fused - blended)
                batch.frames = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
            keep = min(radius, context + size)
            window, context = window[context + size - keep :], keep
            return batch

        for batch in batches:
            window = batch.frames if window is None else np.concatenate([window, batch.frames])
            pending.append(batch)
            while pending and len(window) - context - len(pending[0].frames) >= radius:
                yield fuse_first()
        while pending:
            yield fuse_first()

    def _prepare(self, frames: np.ndarray, stream: _StreamState, work_size: tuple[int, int]) -> _Batch:
        """Decoded frames (B, H, W, 3) uint8 -> a batch for the fusion and the editor: the estimates
        taken (each smoothed along time, so that a stage's strength does not flicker), salt and
        pepper removed where there is some, the tone corrected as far as the tonal range asks (both
        at the source size, where they are cheap and exact), then the frames resized to the working size."""
        images, _ = images_to_tensor(frames)
        share = impulse_share(images)
        threshold = self.video.impulse_share
        if threshold is not None and bool((share >= threshold).any()):
            hit = share >= threshold
            images[hit] = remove_impulses(images[hit])
        tonal = self._smoothed_estimate(tonal_range(images)[:, None], stream, "range")[:, 0]
        settings = self.editor_settings
        tone = ramp(tonal, settings.tone_range_nothing, settings.tone_range_full)
        if self._tone_corrects:
            images = self._correct_tone(images, stream, "input tone", tone).cpu()
        else:
            tone = torch.zeros_like(tone)
        noise = self._smoothed_estimate(noise_level(images)[:, None], stream, "noise")[:, 0]
        prepared = tensor_to_images(images, "numpy")
        resized = np.stack([resize_frame(frame, work_size) for frame in prepared])
        detail = None
        if resized.shape[1:3] != prepared.shape[1:3]:
            detail = prepared.astype(np.float32) - np.stack(
                [resize_frame(frame, prepared.shape[1:3]) for frame in resized]
            ).astype(np.float32)
        return _Batch(
            frames=resized,
            detail=detail,
            noise=noise.numpy(),
            tone=tone,
            fusion=ramp(noise, *self.video.fusion_noise).numpy(),
            edit=ramp(noise, settings.edit_noise_nothing, settings.edit_noise_full).numpy(),
            estimates={
                "noise": float(noise.mean()),
                "impulses": float(share.mean()),
                "tonal_range": float(tonal.mean()),
            },
        )

    @staticmethod
    def _finish(batch: _Batch, edited: np.ndarray, source_size: tuple[int, int]) -> np.ndarray:
        """Edited frames at the working size -> the source size: resized, plus the source's own detail
        above the working size. All of it where the edit's strength is 0, so that a frame no stage
        touched comes back exactly as it was; where the edit runs, the detail soft-thresholded at
        ``DETAIL_THRESHOLD`` times the noise level (the detail band of a noisy frame is mostly noise,
        with the strong edges above it), blended by the edit's strength."""
        if batch.detail is None:  # edited at the source size
            return edited
        restored = np.stack([resize_frame(frame, source_size) for frame in edited]).astype(np.float32)
        strength = batch.edit[:, None, None, None]
        threshold = DETAIL_THRESHOLD * batch.noise[:, None, None, None]
        shrunk = np.sign(batch.detail) * np.maximum(np.abs(batch.detail) - threshold, 0)
        detail = batch.detail + strength * (shrunk - batch.detail)
        return np.clip(restored + detail + 0.5, 0, 255).astype(np.uint8)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) this restorer edits frames of a (``height``, ``width``) video at: the preset's long
        side, rounded to its multiple or the autoencoder's factor (:func:`working_size`)."""
        return working_size(height, width, self.video.size, self.video.size_multiple or self.pipe.vae_scale_factor)

    def _restore_stream(self, chunks: Iterator[np.ndarray], first_frame: np.ndarray) -> Iterator[np.ndarray]:
        """Restored frames at the source size, batch by batch, in order; each batch's estimates and
        stage strengths are appended to ``self.stage_log``."""
        source_size = first_frame.shape[:2]
        work_size = self.working_size(*source_size)
        streams = [_StreamState() for _ in range(self.editor_settings.grid_shifts)]
        self.stage_log = []
        batches = self._batches(chunks, first_frame.shape)
        prepared = self._fused((self._prepare(frames, streams[0], work_size) for frames in batches), streams[0])
        if self.pipe.device.type != "cpu":  # on a CPU the editor already keeps every core busy
            prepared = ahead(prepared, depth=1)
        anchor = None
        for index, batch in enumerate(prepared):
            edited = self._edit(batch, index, streams, anchor)
            if self.video.anchor_in_every_chunk and anchor is None:
                anchor = batch.frames[:1]
            self.stage_log.append(
                {
                    "frames": len(batch.frames),
                    **batch.estimates,
                    "tone": float(batch.tone.mean()),
                    "fusion": float(batch.fusion.mean()),
                    **(
                        {}
                        if batch.outlier_removal is None
                        else {"outlier_removal": float(batch.outlier_removal.mean())}
                    ),
                    "edit": float(batch.edit.mean()),
                }
            )
            yield self._finish(batch, edited, source_size)

    def explain(self) -> dict[str, float]:
        """What the estimates found in the last restored clip and how strongly each stage ran, as
        frame-weighted means: ``noise`` (grey levels), ``impulses`` (share of pixels),
        ``tonal_range``, ``outliers`` (the fusion's bright outliers, where the preset removes them),
        and the ``tone``, ``fusion``, ``outlier_removal`` and ``edit`` strengths in [0, 1]."""
        log = getattr(self, "stage_log", [])
        if not log:
            raise ValueError("nothing restored yet")
        names = dict.fromkeys(name for entry in log for name in entry if name != "frames")
        means = {}
        for name in names:  # over the batches that measured it (the outliers: those not fused in full)
            measured = [entry for entry in log if name in entry]
            means[name] = sum(e[name] * e["frames"] for e in measured) / sum(e["frames"] for e in measured)
        return means

    def restore_frames(self, frames: np.ndarray) -> np.ndarray:
        """Restore a clip held in memory: (T, H, W, 3) uint8 -> (T, H, W, 3) uint8."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                "frames must be a uint8 array (T, H, W, 3), "
                f"got {getattr(frames, 'dtype', type(frames))} {getattr(frames, 'shape', '')}"
            )
        if len(frames) == 0:
            raise ValueError("frames is empty (T = 0)")
        return np.concatenate(list(self._restore_stream(iter([frames]), frames[0])))

    # -----------------------------------------------------------------------------------------
    # Files
    # -----------------------------------------------------------------------------------------

    def restore_video(
        self,
        src: str | Path,
        dst: str | Path,
        side_by_side: bool = False,
        crf: int = 18,
        backend: str = "pyav",
        salvage: bool = False,
        fps: float | None = None,
        open_writer: Callable[[Path, float, int, int], VideoWriter] | None = None,
        reader: VideoReader | None = None,
    ) -> dict:
        """Restore a video file (or folder of frames) into ``dst``, streaming.

        Decoding runs ahead in one thread, resizing, tone correction and fusion in another when the
        editor is on an accelerator (:func:`ahead`), encoding behind in a third, each through a queue
        of one or two batches, so the editor stays busy and memory stays bounded. The output keeps
        the source's fps and size (``side_by_side`` puts input | restored next to each other) and
        appears only when complete. An audio track is copied through unchanged. A damaged or
        truncated source fails with nothing written, unless ``salvage``: then its readable frames
        are restored and ``lost_frames`` says how many the container stated beyond them. ``fps``:
        the rate of a folder of frames (:func:`video_decorruptor.io.open_video`). A source of more
        than 8 bits per sample is restored at 8 and the changes carried onto its own samples
        (:func:`carry_onto_deep`); the writer keeps 10 bits where its encoder can. ``open_writer``:
        how the output is stored, ``open_writer(dst, fps, height, width)`` (e.g.
        :func:`video_decorruptor.benchmark.ucf101c.published_writer`); default H.264 at ``crf``.
        ``reader``: ``src`` already opened with ``deep=True`` (restore-dataset opens the next video,
        and decodes its first frames, while this one is restored); closed here.

        Returns:
            ``{"frames", "lost_frames", "fps", "seconds", "frames_per_second", "output"}``.
        """
        from tqdm.auto import tqdm

        reader = reader or open_video(src, backend, salvage=salvage, fps=fps, deep=True)
        info = reader.info
        started = time.perf_counter()
        encoded: queue.Queue = queue.Queue(maxsize=2)
        failure: list[BaseException] = []
        done = object()
        try:
            if open_writer is None:
                writer = VideoWriter(dst, info.fps, crf=crf, audio_from=src if info.has_audio else None)
            else:
                writer = open_writer(Path(dst), info.fps, info.height, (2 if side_by_side else 1) * info.width)
        except BaseException:
            reader.close()
            raise

        def encode() -> None:
            try:
                while (item := encoded.get()) is not done:
                    writer.write(item)
            except BaseException as error:  # noqa: BLE001
                failure.append(error)

        encoder = threading.Thread(target=encode, daemon=True)
        encoder.start()
        bar = tqdm(total=info.num_frames, desc="restoring", unit="frame", disable=not self.progress)
        originals: deque[np.ndarray] = deque()  # inputs not yet paired with their restoration (side by side, deep)
        count, failed = 0, False
        stream = ahead(reader.chunks(self.video.batch_size), depth=2)
        try:
            first = next(stream)
            deep = first.dtype == np.uint16  # a source of more than 8 bits: the stages see it at 8
            keep = side_by_side or deep  # the decoded frames are needed again beside their restoration
            source = itertools.chain([first], stream)
            if keep:
                source = self._tee(source, originals)
            if deep:
                source = (to_depth(chunk, deep=False) for chunk in source)
            for restored in self._restore_stream(source, to_depth(first[0], deep=False)):
                original = self._take(originals, len(restored)) if keep else None
                if deep:
                    restored = carry_onto_deep(restored, original)
                if side_by_side:
                    restored = np.concatenate([original, restored], axis=2)
                encoded.put(restored)
                count += len(restored)
                bar.update(len(restored))
                if failure:
                    raise failure[0]
        except BaseException:
            failed = True
            raise
        finally:
            stream.close()  # stops the decoder
            encoded.put(done)
            encoder.join()
            bar.close()
            reader.close()
            if failed:
                writer.abort()
        if failure:
            writer.abort()
            raise failure[0]
        writer.close()
        seconds = time.perf_counter() - started
        return {
            "frames": count,
            "lost_frames": reader.lost_frames,
            "fps": info.fps,
            "seconds": seconds,
            "frames_per_second": count / seconds,
            "output": str(dst),
        }

    @staticmethod
    def _tee(chunks: Iterator[np.ndarray], sink: deque[np.ndarray]) -> Iterator[np.ndarray]:
        """The chunks, each also appended to ``sink`` (from the thread that reads them) before it is passed on."""
        for chunk in chunks:
            sink.append(chunk)
            yield chunk

    @staticmethod
    def _take(chunks: deque[np.ndarray], count: int) -> np.ndarray:
        """The first ``count`` frames of the queued chunks, removed from the queue. Only the consumer
        takes from the left while the reading thread appends on the right (deque operations are atomic);
        a frame is restored only after it was read, so the frames are there."""
        taken, missing = [], count
        while missing:
            chunk = chunks.popleft()
            taken.append(chunk[:missing])
            if len(chunk) > missing:
                chunks.appendleft(chunk[missing:])
            missing -= len(taken[-1])
        return np.concatenate(taken)
