"""The colour fix: the edit's fine detail with the input's broad colours (see ``keep_low_frequencies``);
and the spread fix: the edit's contrast set back to what the noisy input implies (``restore_spread``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

# Window of the median that the colour fix takes of (input - edit) before its low-pass: the smallest
# that removes impulse grains (see ``keep_low_frequencies``).
COLOUR_FIX_MEDIAN = 3


def _median3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Element-wise median of three tensors, by comparisons only (exact)."""
    return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """The median of every value's ``size`` x ``size`` neighbourhood (reflect padding, so H and W > size // 2):
    (B, C, H, W) -> same.

    The 3 x 3 case (the colour fix's) sorts each column of three once and takes the median of the
    largest low, the middle middle and the smallest high of three neighbouring columns, which is the
    median of the nine (Paeth's identity): a dozen element-wise comparisons instead of a sort of
    nine shifted copies of the batch.
    """
    padded = F.pad(images, (size // 2,) * 4, mode="reflect")
    if size == 3:
        top, middle, bottom = padded[..., :-2, :], padded[..., 1:-1, :], padded[..., 2:, :]
        low = torch.minimum(torch.minimum(top, middle), bottom)
        high = torch.maximum(torch.maximum(top, middle), bottom)
        mid = _median3(top, middle, bottom)
        columns = lambda t: (t[..., :-2], t[..., 1:-1], t[..., 2:])  # noqa: E731
        lows, mids, highs = columns(low), columns(mid), columns(high)
        largest_low = torch.maximum(torch.maximum(*lows[:2]), lows[2])
        smallest_high = torch.minimum(torch.minimum(*highs[:2]), highs[2])
        return _median3(largest_low, _median3(*mids), smallest_high)
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # (B, C, H, W, size, size)
    return windows.flatten(-2).median(dim=-1).values


def keep_low_frequencies(edited: torch.Tensor, reference: torch.Tensor, sigma: float) -> torch.Tensor:
    """``edited`` with its broad colours, below a Gaussian of std ``sigma`` pixels, taken from ``reference``:
    both (B, 3, H, W).

    Why: a latent editor drifts in colour and brightness (StableSR corrects the same drift of its
    diffusion upscaler), while noise, blur, compression and pixelation leave an image's broad colours
    in place. The result keeps the edit's fine detail and the input's low frequencies; it also gives
    up the editor's repair of corruptions that live in the low frequencies (fog, brightness, snow).
    The difference ``reference - edited`` goes through a ``COLOUR_FIX_MEDIAN`` (3 x 3) median before
    the low-pass: impulse grains and the tails of heavy noise would otherwise move the broad colours
    they are averaged into (salt grains brighten them), while a drift, smooth by nature, passes the
    median as it is. The median holds nine shifted copies of the batch in memory for a moment.
    """
    height, width = edited.shape[-2:]
    kernel = min(2 * math.ceil(3 * sigma) + 1, 2 * min(height, width) - 1)  # reflect padding needs kernel // 2 < size
    difference = median_filter(reference.to(edited.device, edited.dtype) - edited, COLOUR_FIX_MEDIAN)
    return (edited + TF.gaussian_blur(difference, [kernel, kernel], [sigma, sigma])).clamp(0, 1)


def colour_fix(edited: torch.Tensor, reference: torch.Tensor, sigma: float) -> torch.Tensor:
    """The colour fix as the pipelines and the video layer apply it: :func:`keep_low_frequencies` with
    ``sigma`` pixels (0: off, ``edited`` as it is). Both (B, 3, H, W)."""
    return keep_low_frequencies(edited, reference, sigma) if sigma > 0 else edited


# The spread fix raises an edit's contrast by at most this factor.
MAX_SPREAD_GAIN = 1.5


def restore_spread(edited: torch.Tensor, reference: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``edited`` (B, 3, H, W) in [0, 1] stretched around its mean so that its std is the clean
    signal's std that ``reference`` (the edit's input) implies: sqrt(var(reference) - noise^2), with
    ``noise`` (B,) the reference's noise std in 8-bit grey levels
    (:func:`image_core.editor.estimates.noise_level`).

    Why: a one-step edit of heavy noise averages the noise away together with some of the signal,
    and the frame comes out flatter than the scene; noise adds its variance to the signal's, so the
    input's variance minus the noise's is what the output should keep. Never lowers the contrast,
    and raises it by at most ``MAX_SPREAD_GAIN``; a noise-free reference whose edit kept its spread
    is left as it is.
    """
    reference = reference.to(edited) * 255
    signal = (reference.var((1, 2, 3)) - noise.to(edited) ** 2).clamp_min(1.0).sqrt()
    mean = edited.mean((1, 2, 3), keepdim=True)
    spread = (edited * 255).std((1, 2, 3)).clamp_min(1.0)
    gain = (signal / spread).clamp(1.0, MAX_SPREAD_GAIN)[:, None, None, None]
    return (mean + gain * (edited - mean)).clamp(0, 1)
