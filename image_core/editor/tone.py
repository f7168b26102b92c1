"""The editor's global tone correction: a small learned map of an image's statistics to a
per-channel gain and offset, applied before the edit (the edit then removes the noise and codec
blocks that the gain stretches into view) and again after it (for the little the edit moved).

Why a separate stage: the Decorruptor-Tiny editor keeps the input's low frequencies (the colour
fix), so it cannot undo damage that lives there (lowered contrast, brightness); the published
Decorruptor learns those inside its large diffusion model. A global map is what such damage
needs, and a few global statistics (channel quantiles, spread, the share of clipped pixels) tell
how far an image has been pushed. It is trained on generic tone degradations (contrast towards
the mean, haze, exposure and gamma) of clean photo crops, never on the ImageNet-C functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

__all__ = ["ToneCorrector", "apply_tone", "tone_features", "within_range"]

# 0 and 1 (minimum and maximum) tell a clip whose whole range was squeezed from one that is flat by nature.
QUANTILES = (0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
FEATURE_SIDE = 256  # images are area-resized to at most this long side before their statistics are taken
CLIP_LEVEL = 0.01  # a value within this of 0 or 1 counts as clipped


def tone_features(images: torch.Tensor) -> torch.Tensor:
    """Global statistics of images (B, 3, H, W) in [0, 1] -> (B, F): per channel the quantiles
    ``QUANTILES`` (3 Q), of the channel mean the same quantiles (Q), per channel mean (3) and std (3),
    and per channel the share of values clipped high and low (6); F = 4 Q + 12.

    The statistics are taken at half the size or at a long side of ``FEATURE_SIDE``, whichever is
    smaller (area averaging): a clean image's quantiles barely move, while per-pixel noise, which
    the corrector sees when it runs before the edit, is halved; at full size its tails read as
    lost contrast and its clipped grains as overexposure. The smaller size also spares a sort of
    every pixel of a large frame.
    """
    images = images.float()
    height, width = images.shape[-2:]
    side = min(FEATURE_SIDE, max(height, width) // 2)
    if side >= 8:
        scale = side / max(height, width)
        images = F.interpolate(images, size=(max(1, round(height * scale)), max(1, round(width * scale))), mode="area")
    flat = images.flatten(2)  # (B, 3, N)
    levels = torch.tensor(QUANTILES, device=flat.device)
    channel_quantiles = torch.quantile(flat, levels, dim=2).permute(1, 2, 0).flatten(1)
    grey_quantiles = torch.quantile(flat.mean(1), levels, dim=1).T
    clipped = torch.cat([(flat >= 1 - CLIP_LEVEL).float().mean(2), (flat <= CLIP_LEVEL).float().mean(2)], 1)
    return torch.cat([channel_quantiles, grey_quantiles, flat.mean(2), flat.std(2), clipped], 1)


def apply_tone(
    images: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor, mean: torch.Tensor | None = None
) -> torch.Tensor:
    """``gain * (x - mean) + mean + offset`` per channel, clamped to [0, 1]: images (B, 3, H, W),
    gain and offset (B, 3), mean (B, 3) or (B, 1). The pivot is the images' grey mean (one for the three
    channels) unless ``mean`` is given (training sees sampled pixels of an image whose mean was taken
    whole); gain 1 and offset 0 are identity. One grey pivot, because contrast is lowered and haze
    laid towards one grey level: undoing it then needs no per-channel offset, which a colourful
    frame would otherwise have to be given exactly."""
    pivot = (images.mean((1, 2, 3))[:, None] if mean is None else mean)[..., None, None]
    return (gain[..., None, None] * (images - pivot) + pivot + offset[..., None, None]).clamp(0, 1)


def within_range(gain: torch.Tensor, offset: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``gain`` (B, 3) capped per channel so that ``apply_tone`` maps the channel's minimum and maximum
    (quantiles 0 and 1 of :func:`tone_features`, (B, F)) into [0, 1], never below 1 (a gain below 1,
    which lowers contrast, is left as it is); ``offset`` (B, 3) unchanged."""
    count = len(QUANTILES)
    quantiles = features[:, : 3 * count].view(-1, 3, count)
    low, high = quantiles[..., 0], quantiles[..., -1]
    mean = features[:, 4 * count : 4 * count + 3].mean(1, keepdim=True)  # the grey pivot of apply_tone
    above = (1 - mean - offset) / (high - mean).clamp_min(1e-4)  # the largest gain keeping the maximum <= 1
    below = (mean + offset) / (mean - low).clamp_min(1e-4)  # ... and the minimum >= 0
    cap = torch.minimum(above, below).clamp_min(1.0)
    return torch.minimum(gain, cap), offset


class ToneCorrector(ModelMixin, ConfigMixin):
    """An MLP from :func:`tone_features` (standardised by stored statistics of the training data)
    to a per-channel log-gain and offset. Its last layer starts at zero: an untrained corrector is
    the identity.

    Args:
        hidden: width of the two hidden layers.
        cap_to_range: cap each channel's gain so that its minimum and maximum stay inside [0, 1]
            (:func:`within_range`), in training and in use.
    """

    @register_to_config
    def __init__(self, hidden: int = 128, cap_to_range: bool = False):
        super().__init__()
        features = len(QUANTILES) * 4 + 12
        self.register_buffer("feature_mean", torch.zeros(features))
        self.register_buffer("feature_std", torch.ones(features))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(features, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, 6),
        )
        torch.nn.init.zeros_(self.net[-1].weight)
        torch.nn.init.zeros_(self.net[-1].bias)

    @torch.no_grad()
    def standardise_on(self, features: torch.Tensor) -> None:
        """Store the mean and std of training features (N, F) that inputs are standardised by
        (a feature constant over the data, e.g. no clipping anywhere, keeps a finite scale)."""
        self.feature_mean.copy_(features.float().mean(0))
        self.feature_std.copy_(features.float().std(0) + 1e-4)

    def tone_parameters(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (B, F) -> (gain (B, 3), offset (B, 3)), float32. With ``cap_to_range`` each channel's
        gain is capped so that its minimum and maximum (read off the features) land inside [0, 1]: a
        stretch that pushes values out of range clips detail away, and a frame that already spans
        the range has nothing to gain (:func:`within_range`)."""
        standardised = (features.float() - self.feature_mean.float()) / self.feature_std.float()
        out = self.net(standardised.to(self.net[0].weight.dtype)).float()
        gain, offset = out[:, :3].exp(), out[:, 3:]
        return within_range(gain, offset, features.float()) if self.config.cap_to_range else (gain, offset)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 3, H, W) in [0, 1] -> (gain (B, 3), offset (B, 3)) for :func:`apply_tone`."""
        return self.tone_parameters(tone_features(images))

    def correct(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> tone-corrected images, float32."""
        gain, offset = self(images)
        return apply_tone(images.float(), gain, offset)
