"""Grid shifts: edits of copies shifted by half a latent pixel, averaged, so that the autoencoder's
patch seams of one edit fall where another has none."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from image_core.editor.settings import GRID_SHIFT_COUNTS


def grid_offsets(count: int, factor: int) -> list[tuple[int, int]]:
    """The first ``count`` (1, 2 or 4) of the (top, left) shifts (0, 0), (h, h), (0, h), (h, 0),
    h = ``factor`` // 2: half a latent pixel, where one edit's patch seams are furthest from another's."""
    if count not in GRID_SHIFT_COUNTS:
        raise ValueError(f"grid_shifts must be one of {GRID_SHIFT_COUNTS}, got {count}")
    half = factor // 2
    return [(0, 0), (half, half), (0, half), (half, 0)][:count]


def grid_shift_mean(
    edit: Callable[[torch.Tensor, int], torch.Tensor], images: torch.Tensor, count: int, factor: int
) -> torch.Tensor:
    """The mean of ``edit(copy, index)`` over ``count`` copies of ``images`` (B, C, H, W) shifted by
    ``grid_offsets``, each shifted back -> (B, C, H, W).

    A copy is padded (replicate) by its offset at the top and left and by the rest of half the
    factor at the bottom and right, so every copy has one shape (H + h, W + h); ``edit`` returns
    the edited copy at that shape. One copy is the images as they are: ``edit(images, 0)``.
    """
    height, width = images.shape[-2:]
    margin = factor // 2 if count > 1 else 0
    edits = []
    for index, (top, left) in enumerate(grid_offsets(count, factor)):
        edited = edit(F.pad(images, (left, margin - left, top, margin - top), mode="replicate"), index)
        edits.append(edited[..., top : top + height, left : left + width])
    return torch.stack(edits).mean(0)
