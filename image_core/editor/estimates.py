"""What an image needs, estimated blind: the measures that tell each restoration stage how much
there is for it to do, and "nothing" where a clean image gives nothing.

Users run a restorer without saying what is wrong with a clip, and a stage that acts on a clean
or differently damaged clip does harm (a tone stretch of well-exposed footage, a denoiser on a
blurred one). Three classical measures, each cheap, each near zero on clean images:

- :func:`noise_level`: the std of per-pixel noise in 8-bit grey levels, from the median absolute
  response to Immerkaer's noise mask (a Laplacian difference that cancels constant, linear and
  most smooth structure; for white noise of std sigma its response has std 6 sigma). The median,
  not the mean, so that edges and texture, which cover a minority of the pixels, barely move it.
- :func:`impulse_share`: the share of pixels that sit at black or white in every channel while
  their 3 x 3 median is far from them, i.e. salt and pepper grains, not highlights or shadows.
- :func:`tonal_range`: the spread between the 0.5 % and 99.5 % quantiles of the grey image; a clip
  whose contrast was lowered has a narrow one.

:func:`ramp` turns a measure into a stage's strength in [0, 1], with both ends explicit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from image_core.editor.colour import median_filter

__all__ = ["impulse_share", "noise_level", "ramp", "remove_impulses", "tonal_range"]

GAUSSIAN_MAD = 1.4826  # std of a zero-mean Gaussian per unit of its median absolute value
IMPULSE_LEVEL = 2 / 255  # a value within this of 0 or 1 is at black or white
IMPULSE_CONTRAST = 60 / 255  # and an impulse sits at least this far from its 3 x 3 median
RANGE_QUANTILES = (0.005, 0.995)


def _check(images: torch.Tensor) -> torch.Tensor:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    if images.shape[-1] < 3 or images.shape[-2] < 3:
        raise ValueError(f"images must be at least 3 x 3 pixels, got {tuple(images.shape[-2:])}")
    return images.float()


def noise_level(images: torch.Tensor) -> torch.Tensor:
    """Std of the per-pixel noise in 8-bit grey levels: images (B, 3, H, W) in [0, 1] -> (B,), the
    mean over the channels of each channel's estimate.

    Example: white Gaussian noise of std 25 grey levels on a flat image reads about 25; a clean
    photo reads 0 to 4; a blurred or JPEG-compressed one less.
    """
    images = _check(images) * 255
    # The mask is the outer product of [1, -2, 1] with itself: a second difference along each axis,
    # as slices (a one-channel 3 x 3 convolution costs several times more on a CPU).
    rows = images[..., :, :-2] - 2 * images[..., :, 1:-1] + images[..., :, 2:]
    response = rows[..., :-2, :] - 2 * rows[..., 1:-1, :] + rows[..., 2:, :]
    mad = response.abs().flatten(2).median(2).values  # (B, 3)
    return (GAUSSIAN_MAD * mad / 6).mean(1)


def _impulses(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(mask (B, H, W) of impulse pixels, the images' 3 x 3 median (B, 3, H, W), or None where no
    pixel is at black or white: then there is nothing to compare, and the median is not taken)."""
    extreme = ((images <= IMPULSE_LEVEL).all(1)) | ((images >= 1 - IMPULSE_LEVEL).all(1))
    if not bool(extreme.any()):
        return extreme, None
    median = median_filter(images, 3)
    far = ((images - median).abs() > IMPULSE_CONTRAST).any(1)
    return extreme & far, median


def impulse_share(images: torch.Tensor) -> torch.Tensor:
    """Share of salt-and-pepper pixels: images (B, 3, H, W) in [0, 1] -> (B,) in [0, 1]."""
    mask, _ = _impulses(_check(images))
    return mask.flatten(1).float().mean(1)


def remove_impulses(images: torch.Tensor, passes: int = 2) -> torch.Tensor:
    """Impulse pixels replaced by their 3 x 3 median, every other pixel untouched (a switching
    median): images (B, 3, H, W) in [0, 1] -> same. A second pass clears grains whose first median
    was itself an impulse (clusters); an image with no impulses comes back unchanged."""
    images = _check(images)
    for _ in range(passes):
        mask, median = _impulses(images)
        if not mask.any():
            break
        images = torch.where(mask[:, None], median, images)
    return images


def tonal_range(images: torch.Tensor) -> torch.Tensor:
    """Spread of the grey image between its 0.5 % and 99.5 % quantiles: images (B, 3, H, W) in
    [0, 1] -> (B,) in [0, 1]. Taken on at most 256 x 256 area-averaged pixels (``torch.quantile``
    sorts every value)."""
    grey = _check(images).mean(1, keepdim=True)
    if max(grey.shape[-2:]) > 256:
        scale = 256 / max(grey.shape[-2:])
        size = (max(1, round(grey.shape[-2] * scale)), max(1, round(grey.shape[-1] * scale)))
        grey = F.interpolate(grey, size=size, mode="area")
    low, high = torch.quantile(grey.flatten(1), torch.tensor(RANGE_QUANTILES, device=grey.device), dim=1)
    return high - low


def ramp(values: torch.Tensor, nothing: float, full: float) -> torch.Tensor:
    """A stage's strength in [0, 1] from a measure: 0 at ``nothing``, 1 at ``full``, linear between
    and clamped. ``full`` may lie below ``nothing`` (a narrower tonal range needs more). With
    ``nothing == full`` the stage always runs at full strength."""
    if nothing == full:
        return torch.ones_like(values)
    return ((values - nothing) / (full - nothing)).clamp(0, 1)
