"""Temporal consistency for per-frame editing: anchor attention and latent temporal smoothing.

Anchor attention: every self-attention layer of the UNet takes its keys and values from the frame
itself and from the anchor frame (the video's first frame), so all frames are edited in the
anchor's terms and chunk boundaries do not jump. Keeping the frame's own tokens matters under
motion: keys and values from the anchor alone pull its content into places where the camera has
moved on (``benchmarks/temporal.py`` measures it). Implemented as a diffusers attention processor
that hands ``[frame, anchor]`` tokens to the standard processor as the context; the anchor itself
sees its tokens twice, which is plain self-attention. With ``anchor_only`` (the published
cross-frame attention) the context is the anchor's tokens alone.

The anchor is edited once per video. While the first batch (which starts with the anchor) runs,
the processors record the anchor's tokens at every layer and step; later batches replay them
instead of carrying the anchor along, which saves one frame of work per batch. This is exact when
the anchor's trajectory does not depend on the batch: the same steps and guidance in every batch.
The recording holds the anchor's attention inputs for every layer, step and guidance group, so it
grows with the step count (DPM-20 keeps 15 times what CM-4 keeps).

Latent temporal smoothing: between denoising steps, each frame's denoised latent estimate is
averaged with its neighbours' with per-pixel weights that fall off with the latent difference, so
static regions are smoothed and moving ones are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from diffusers.models.attention_processor import AttnProcessor2_0

__all__ = ["AnchorAttentionProcessor", "AnchorState", "install_anchor_attention", "temporal_smooth"]


@dataclass
class AnchorState:
    """Shared by all processors of one UNet.

    The batch is ``groups x group_size`` (DPM's guidance batch has three groups, CM's one). While
    ``recording``, the first element of each group is the anchor and its tokens are appended to
    ``recorded``, call by call; otherwise the batch holds frames only and ``recorded`` is replayed
    in the same order. The list belongs to the caller (one per video).
    """

    group_size: int = 1
    enabled: bool = False  # switched on only while a VideoDecorruptor batch runs
    recording: bool = True
    anchor_only: bool = False  # keys and values from the anchor alone, not the frame's own tokens too
    recorded: list[torch.Tensor] = field(default_factory=list)  # (groups, 1, N, C) per attention call
    cursor: int = 0

    def start_batch(
        self, group_size: int, recorded: list[torch.Tensor], recording: bool, anchor_only: bool = False
    ) -> None:
        """Before each pipeline call; a recording batch empties ``recorded`` first."""
        self.group_size, self.recorded, self.recording, self.cursor, self.enabled = (
            group_size,
            recorded,
            recording,
            0,
            True,
        )
        self.anchor_only = anchor_only
        if recording:
            recorded.clear()

    def anchor_tokens(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The anchor's tokens for every element of the batch: (B, N, C) -> (B, N, C)."""
        batch, size = hidden_states.shape[0], self.group_size
        if batch % size:
            raise ValueError(f"batch of {batch} is not a whole number of groups of {size}")
        groups = batch // size
        if self.recording:
            anchors = hidden_states.view(groups, size, *hidden_states.shape[1:])[:, :1]
            self.recorded.append(anchors.clone())  # a copy: a view would keep the whole batch alive
        else:
            if self.cursor >= len(self.recorded):
                raise RuntimeError(
                    f"the anchor was recorded for {len(self.recorded)} attention calls and this batch makes more: "
                    "every batch of a video must use the same steps and guidance"
                )
            anchors = self.recorded[self.cursor]
            self.cursor += 1
            if anchors.shape[0] != groups or anchors.shape[2:] != hidden_states.shape[1:]:
                raise ValueError(
                    f"recorded anchor tokens {tuple(anchors.shape)} do not fit a batch of {groups} group(s) "
                    f"of {tuple(hidden_states.shape[1:])} tokens: "
                    "every batch of a video must have the same size and guidance"
                )
        return anchors.expand(groups, size, *hidden_states.shape[1:]).reshape(hidden_states.shape)


class AnchorAttentionProcessor:
    """Self-attention whose keys and values are the tokens of the element itself and of the anchor:
    (B, N, C) -> context (B, 2N, C); with the state's ``anchor_only``, the anchor's alone (B, N, C)."""

    def __init__(self, state: AnchorState):
        self.state = state
        self.inner = AttnProcessor2_0()

    @torch.compiler.disable  # its Python state changes every call: a compiled UNet steps out here
    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs
    ):
        if self.state.enabled and encoder_hidden_states is None and hidden_states.ndim == 3:
            anchors = self.state.anchor_tokens(hidden_states)
            encoder_hidden_states = anchors if self.state.anchor_only else torch.cat([hidden_states, anchors], dim=1)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)


def install_anchor_attention(unet) -> AnchorState:
    """Put anchor processors on the UNet's self-attention layers (``attn1``); returns their state.

    Installing twice on one UNet returns the state already there, so several restorers can share
    a pipeline. While the state is disabled the processors compute ordinary self-attention.
    """
    for processor in unet.attn_processors.values():
        if isinstance(processor, AnchorAttentionProcessor):
            return processor.state
    state = AnchorState()
    processors = {
        name: AnchorAttentionProcessor(state) if ".attn1." in name else processor
        for name, processor in unet.attn_processors.items()
    }
    unet.set_attn_processor(processors)
    return state


def temporal_smooth(latents: torch.Tensor, strength: float, tolerance: float | None = None) -> torch.Tensor:
    """Motion-aware smoothing along time.

    Args:
        latents: (T, C, h, w), consecutive frames.
        strength: weight of each neighbour where it agrees with the frame (0 = off; 0.5 averages a
            static frame with half of each neighbour).
        tolerance: squared-difference scale (mean over channels) above which a neighbour stops
            counting; default: the median difference in the clip, so it adapts to the content.

    Returns:
        (T, C, h, w): ``(x_t + sum_s w_s x_s) / (1 + sum_s w_s)`` over s = t - 1, t + 1 with per-pixel
        ``w_s = strength * exp(-d_s / tolerance)``, d_s the channel-mean squared difference.
    """
    if strength <= 0 or latents.shape[0] < 2:
        return latents
    differences = (latents[1:] - latents[:-1]).pow(2).mean(dim=1, keepdim=True)  # (T-1, 1, h, w)
    scale = tolerance if tolerance is not None else float(differences.median().clamp_min(1e-6))
    weights = strength * torch.exp(-differences / scale)
    total, norm = latents.clone(), torch.ones_like(latents[:, :1])
    total[1:] += weights * latents[:-1]
    norm[1:] += weights
    total[:-1] += weights * latents[1:]
    norm[:-1] += weights
    return total / norm
