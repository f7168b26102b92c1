"""Train the editor's autoencoder: a linear patch code fitted by PCA, or a KL-regularised ``AutoencoderKL``.

The architecture's autoencoder class decides. A :class:`~image_core.editor.autoencoder.PatchAutoencoder`
(Decorruptor-Tiny's) starts from the principal components of the patches of clean photo crops
(dead-leaves images left out: with them in the fit, held-out crops lost fidelity); its configs train
no further steps (``max_steps: 0``), because gradient steps lowered held-out fidelity in every trial.
An ``AutoencoderKL`` (the sd15 geometry, or any other) is trained as follows.

The decoder only ever writes clean images (the editor's output), so the autoencoder learns to
reconstruct clean photographs and nothing else: spending its capacity on reconstructing noise,
which does not compress, held a probe on corruption pairs at a low PSNR. The encoder still reads
corrupted images at editing time; the editor's UNet learns what their latents look like.

The decoder reads the posterior mode, not a sample. Decoding samples with a tiny KL weight let the
model park many of its channels at the prior (posterior std near 1, almost no signal), which
capped the first shipped model's fidelity and handed the editor targets that were half noise. The
KL term is kept, tiny, only so the latents do not drift far from zero.

After training, per-channel latent statistics are measured on held-out clean crops and folded into
the VAE's first and last 1x1 convolutions (:func:`whiten_latents`), so its latents are zero-mean
and unit-std: diffusion runs on normalised latents and the editor's condition has the same scale.

    python -m image_core.training.autoencoder --config image_core/training/configs/cpu/autoencoder.yaml
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import PartialState
from torch.utils.data import Dataset

from image_core.editor.architectures import ARCHITECTURES
from image_core.editor.autoencoder import Autoencoder, PatchAutoencoder, fit_patch_pca
from image_core.sources import CleanImageDataset
from image_core.training.common import LoopConfig, config_main, run_loop

__all__ = ["AutoencoderConfig", "train_autoencoder", "whiten_latents", "main"]


@dataclasses.dataclass
class AutoencoderConfig(LoopConfig):
    architecture: str = "tiny"
    image_size: int = 64
    recolour_fraction: float = 0.0  # photo crops recoloured (image_core.sources.recolour)
    kl_weight: float = 1e-6
    dataset_length: int = 10_000_000  # index space; steps * batch_size must stay below it
    stats_batches: int = 16  # batches encoded to measure the latent statistics
    pca_images: int = 4096  # clean photo crops whose patches a PatchAutoencoder's PCA is fitted on
    latent_std: str = "channel"  # "channel": each latent channel scaled to unit std; "shared": one scale for all

    def __post_init__(self) -> None:
        if self.latent_std not in ("channel", "shared"):
            raise ValueError(f"latent_std must be 'channel' or 'shared', got {self.latent_std!r}")


def clean_images(
    config: AutoencoderConfig, seed_offset: int = 0, dead_leaves_fraction: float = 0.3
) -> CleanImageDataset:
    """Random crops of the training photos and dead-leaves images, (3, S, S) in [0, 1]."""
    return CleanImageDataset(
        size=config.image_size,
        length=config.dataset_length,
        seed=config.seed + seed_offset,
        dead_leaves_fraction=dead_leaves_fraction,
        recolour_fraction=config.recolour_fraction,
    )


def _batches(images: Dataset, batches: int, batch_size: int) -> Iterator[torch.Tensor]:
    """The first ``batches`` batches of ``images``, stacked (B, 3, S, S)."""
    for index in range(batches):
        yield torch.stack([images[index * batch_size + i] for i in range(batch_size)])


@torch.no_grad()
def latent_statistics(
    vae: Autoencoder, images: Dataset, batches: int, batch_size: int
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the latents (posterior modes) over ``batches`` batches of ``images``."""
    modes = [
        vae.encode(batch.to(vae.device) * 2 - 1).latent_dist.mode().float().cpu()
        for batch in _batches(images, batches, batch_size)
    ]
    latents = torch.cat(modes).transpose(0, 1).flatten(1)
    return latents.mean(dim=1).tolist(), latents.std(dim=1).clamp_min(1e-4).tolist()


@torch.no_grad()
def whiten_latents(vae: Autoencoder, mean: list[float], std: list[float]) -> Autoencoder:
    """Fold per-channel latent statistics into the VAE so its latents come out zero-mean, unit-std.

    The encoder's ``quant_conv`` (mean rows, and an ``AutoencoderKL``'s log-variance rows) is shifted
    and scaled, the decoder's ``post_quant_conv`` takes the inverse, so decoding is unchanged. Why: the
    editor's UNet reads the corrupted image's raw latents beside unit-variance noisy ones (the published
    layout); a deterministic autoencoder left them at a std well below 1, which made the condition
    several times weaker than the noise it sits beside. The config's ``latents_mean``/``latents_std``
    become 0 and 1.
    """
    mean_t, std_t = torch.tensor(mean), torch.tensor(std)
    channels = len(mean)
    encoder_out, decoder_in = vae.quant_conv, vae.post_quant_conv
    encoder_out.weight[:channels] /= std_t.view(-1, 1, 1, 1)
    encoder_out.bias[:channels] = (encoder_out.bias[:channels] - mean_t) / std_t
    if encoder_out.out_channels > channels:  # an AutoencoderKL's log-variance rows, for the scaled latent
        encoder_out.bias[channels:] -= 2 * std_t.log()
    decoder_in.bias += (decoder_in.weight[:, :, 0, 0] @ mean_t.to(decoder_in.weight)).view(-1)
    decoder_in.weight *= std_t.view(1, -1, 1, 1)
    vae.register_to_config(latents_mean=[0.0] * channels, latents_std=[1.0] * channels)
    return vae


class AutoencoderObjective(torch.nn.Module):
    """L1 reconstruction of clean images (B, 3, S, S) in [0, 1] from the posterior mode, plus a small KL term."""

    def __init__(self, vae: Autoencoder, kl_weight: float):
        super().__init__()
        self.vae, self.kl_weight = vae, kl_weight

    def forward(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        x = batch * 2 - 1
        posterior = self.vae.encode(x).latent_dist
        reconstruction = self.vae.decode(posterior.mode()).sample
        return F.l1_loss(reconstruction, x) + self.kl_weight * posterior.kl().mean()


def train_autoencoder(config: AutoencoderConfig) -> Path:
    """Train, measure latent statistics, export ``<output_dir>/vae``; returns that folder."""
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {config.architecture!r}; allowed: {', '.join(ARCHITECTURES)}")
    torch.manual_seed(config.seed)
    vae = ARCHITECTURES[config.architecture].create_vae()
    if isinstance(vae, PatchAutoencoder):
        photos = clean_images(config, seed_offset=20_000, dead_leaves_fraction=0.0)
        chunk = min(config.pca_images, 256)
        fit_patch_pca(vae, (batch * 2 - 1 for batch in _batches(photos, config.pca_images // chunk, chunk)))
    if config.max_steps > 0:
        run_loop(config, AutoencoderObjective(vae, config.kl_weight), clean_images(config))
    held_out = clean_images(config, seed_offset=10_000)
    mean, std = latent_statistics(vae, held_out, config.stats_batches, config.batch_size)
    if config.latent_std == "shared":  # keeps the channels' relative scales: an orthonormal code stays an isometry
        std = [sum(s**2 for s in std) ** 0.5 / len(std) ** 0.5] * len(std)
    whiten_latents(vae.float(), mean, std).register_to_config(scaling_factor=1.0)
    export = Path(config.output_dir) / "vae"
    if PartialState().is_main_process:
        vae.save_pretrained(export)
    return export


def main(argv: Sequence[str] | None = None) -> None:
    print(f"autoencoder exported to {config_main(AutoencoderConfig, train_autoencoder, __doc__.splitlines()[0], argv)}")


if __name__ == "__main__":
    main()
