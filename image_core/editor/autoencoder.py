"""A linear patch autoencoder: each p x p pixel patch <-> one latent vector, by the principal
components of the training photos' patches.

Why not a deep ``AutoencoderKL`` for Decorruptor-Tiny: trained on the dozen photos this project
has, even the best one reconstructed held-out crops far worse than training crops, and a PCA of 4x4
patches fitted on the same photos reconstructs held-out crops better than any of the trained
convolutional autoencoders did. Patch statistics carry over to new photos; a deep encoder's learned
features did not. Training beyond the PCA did not help on held-out crops in CPU trials: a
zero-initialised convolutional refiner on the decoder and L1 fine-tuning of the linear maps both
lowered held-out fidelity while training crops gained. The figures are in docs/training.md
("Recipe choices") and docs/history.md.

The interface is the one the pipelines and training code use of ``AutoencoderKL``:
``encode(x).latent_dist.mode()``, ``decode(z).sample``, ``quant_conv`` / ``post_quant_conv``
(1x1 convolutions into which latent statistics are folded), ``latents_mean`` / ``latents_std`` /
``scaling_factor`` in the config. The posterior is deterministic (zero variance).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["Autoencoder", "PatchAutoencoder", "fit_patch_pca", "load_autoencoder", "vae_downsampling"]


def vae_downsampling(vae_config) -> int:
    """How many pixels one latent spans per side, for an ``AutoencoderKL`` or a ``PatchAutoencoder`` config."""
    if "patch_size" in vae_config:
        return int(vae_config["patch_size"])
    return 2 ** (len(vae_config["block_out_channels"]) - 1)


class PatchAutoencoder(ModelMixin, ConfigMixin):
    """Images (B, C, H, W) in [-1, 1], H and W multiples of ``patch_size`` <-> latents
    (B, latent_channels, H / p, W / p).

    Args:
        in_channels: image channels.
        latent_channels: numbers per patch (16 of 48 for 4x4 RGB patches).
        patch_size: pixels per patch side: the downsampling factor.
        scaling_factor, latents_mean, latents_std, shift_factor: latent normalisation, as in ``AutoencoderKL``.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        latent_channels: int = 16,
        patch_size: int = 4,
        scaling_factor: float = 1.0,
        latents_mean: list[float] | None = None,
        latents_std: list[float] | None = None,
        shift_factor: float | None = None,
    ):
        super().__init__()
        patch_values = in_channels * patch_size**2
        self.encoder = nn.Conv2d(patch_values, latent_channels, 1)
        self.quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = nn.Conv2d(latent_channels, patch_values, 1)
        for identity in (self.quant_conv, self.post_quant_conv):
            nn.init.eye_(identity.weight[:, :, 0, 0])
            nn.init.zeros_(identity.bias)

    def encode(self, x: torch.Tensor, return_dict: bool = True):
        patches = F.pixel_unshuffle(x, self.config.patch_size)
        latents = self.quant_conv(self.encoder(patches))
        posterior = DiagonalGaussianDistribution(
            torch.cat([latents, torch.zeros_like(latents)], dim=1), deterministic=True
        )
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    def decode(self, z: torch.Tensor, return_dict: bool = True, generator=None):
        patches = self.decoder(self.post_quant_conv(z))
        images = F.pixel_shuffle(patches, self.config.patch_size)
        return DecoderOutput(sample=images) if return_dict else (images,)

    def forward(self, sample: torch.Tensor, return_dict: bool = True):
        decoded = self.decode(self.encode(sample).latent_dist.mode()).sample
        return DecoderOutput(sample=decoded) if return_dict else (decoded,)


@torch.no_grad()
def fit_patch_pca(vae: PatchAutoencoder, batches: Iterable[torch.Tensor]) -> PatchAutoencoder:
    """Set the linear encoder and decoder to the leading principal components of the patches of
    ``batches`` of images (N, C, H, W) in [-1, 1]: the best linear code in squared error.

    The patch covariance is accumulated batch by batch (in float64), so the images need not fit in memory.
    """
    count, total, outer = 0, 0.0, 0.0
    for images in batches:
        flat = F.pixel_unshuffle(images.double(), vae.config.patch_size).transpose(0, 1).flatten(1)  # (values, patches)
        count, total, outer = count + flat.shape[1], total + flat.sum(dim=1), outer + flat @ flat.T
    if count == 0:
        raise ValueError("fit_patch_pca needs at least one batch of images")
    mean = total / count
    _, vectors = torch.linalg.eigh(outer / count - torch.outer(mean, mean))  # ascending eigenvalues
    basis = vectors.flip(1)[:, : vae.config.latent_channels].T  # (latent_channels, values), orthonormal rows
    vae.encoder.weight.copy_(basis[:, :, None, None])
    vae.encoder.bias.copy_(-basis @ mean)
    vae.decoder.weight.copy_(basis.T[:, :, None, None])
    vae.decoder.bias.copy_(mean)
    return vae


Autoencoder = AutoencoderKL | PatchAutoencoder
AUTOENCODER_CLASSES = {"AutoencoderKL": AutoencoderKL, "PatchAutoencoder": PatchAutoencoder}


def load_autoencoder(folder: str | Path) -> Autoencoder:
    """An exported autoencoder folder (``config.json`` + weights) as the class its config names.

    Raises:
        ValueError: the folder holds no autoencoder this project knows.
    """
    config = Path(folder) / "config.json"
    name = json.loads(config.read_text()).get("_class_name") if config.is_file() else None
    if name not in AUTOENCODER_CLASSES:
        raise ValueError(
            f"{folder} is not an autoencoder folder (class {name!r}; allowed: {', '.join(AUTOENCODER_CLASSES)})"
        )
    return AUTOENCODER_CLASSES[name].from_pretrained(folder)
