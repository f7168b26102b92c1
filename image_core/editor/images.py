"""Images in and out of the editor: any supported input to a float batch and back, padding to the
autoencoder's factor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers.utils import BaseOutput

ImageInput = PIL.Image.Image | Sequence[PIL.Image.Image] | np.ndarray | torch.Tensor


@dataclass
class EditorOutput(BaseOutput):
    """``images``: a list of PIL images, a uint8 array (B, H, W, 3) or a float tensor (B, 3, H, W) in
    [0, 1], the same kind as the input."""

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor


def images_to_tensor(image: ImageInput) -> tuple[torch.Tensor, str]:
    """Any supported input -> (float32 tensor (B, 3, H, W) in [0, 1], kind)."""
    if isinstance(image, PIL.Image.Image):
        image = [image]
    if isinstance(image, (list, tuple)):
        if not image:
            raise ValueError("image is an empty list; pass at least one image")
        if not all(isinstance(item, PIL.Image.Image) for item in image):
            raise ValueError("a list input must hold only PIL images")
        sizes = {item.size for item in image}
        if len(sizes) > 1:
            raise ValueError(f"all images of a batch must have the same size, got {sorted(sizes)}")
        array = np.stack([np.asarray(item.convert("RGB")) for item in image])
        return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255.0, "pil"
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8 (H, W, 3) or (B, H, W, 3), got dtype {image.dtype}")
        if image.ndim == 3:
            image = image[None]
        if image.ndim != 4 or image.shape[-1] != 3:
            raise ValueError(f"numpy images must have shape (H, W, 3) or (B, H, W, 3), got {image.shape}")
        if image.shape[0] == 0:
            raise ValueError("image batch is empty (B = 0)")
        image = np.ascontiguousarray(image) if image.flags.writeable else image.copy()  # PIL's arrays are read-only
        return torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255.0, "numpy"
    if isinstance(image, torch.Tensor):
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"tensor images must have shape (B, 3, H, W), got {tuple(image.shape)}")
        if image.shape[0] == 0:
            raise ValueError("image batch is empty (B = 0)")
        if not image.is_floating_point():
            raise ValueError(f"tensor images must be floating point in [0, 1], got dtype {image.dtype}")
        low, high = float(image.min()), float(image.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(f"tensor images must lie in [0, 1], got values from {low:.3f} to {high:.3f}")
        return image.float().clamp(0, 1), "tensor"
    raise ValueError(f"unsupported image type {type(image).__name__}; pass PIL images, a uint8 array or a tensor")


def tensor_to_images(images: torch.Tensor, kind: str) -> list[PIL.Image.Image] | np.ndarray | torch.Tensor:
    """(B, 3, H, W) tensor in [0, 1] -> the input's kind."""
    images = images.float().clamp(0, 1)
    if kind == "tensor":
        return images
    array = (images.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return array if kind == "numpy" else [PIL.Image.fromarray(item) for item in array]


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad right and bottom (reflect; replicate where the image is too small to reflect) to a multiple."""
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return images
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)
