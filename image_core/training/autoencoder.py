"""Train the editor's autoencoder (KL-regularised, diffusers ``AutoencoderKL``).

It must reconstruct clean images (the decoder writes the result) and corrupted ones (the encoder
reads the input), so each batch holds both halves of corruption-modeling pairs. After training,
per-channel latent statistics are measured and written into the VAE config (``latents_mean``,
``latents_std``) so diffusion runs on normalised latents.

    python -m image_core.training.autoencoder --config image_core/training/configs/cpu/autoencoder.yaml
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from accelerate import PartialState
from diffusers import AutoencoderKL
from torch.utils.data import Dataset

from image_core.corruption_modeling import CorruptionPairDataset, MixingBank, PairSampler
from image_core.editor.architectures import ARCHITECTURES
from image_core.sources import CleanImageDataset
from image_core.training.common import LoopConfig, config_main, run_loop, step_generator

__all__ = ["AutoencoderConfig", "train_autoencoder", "main"]


@dataclasses.dataclass
class AutoencoderConfig(LoopConfig):
    architecture: str = "tiny"
    image_size: int = 64
    kl_weight: float = 1e-6
    case_weights: dict = dataclasses.field(
        default_factory=lambda: {"identity": 1.0, "pixmix": 3.0, "simsiam": 1.0, "degradation": 2.0}
    )
    dataset_length: int = 10_000_000  # index space; steps * batch_size must stay below it
    mixing_bank_count: int = 256
    stats_batches: int = 16  # batches encoded to measure the latent statistics


class PairImages(Dataset):
    """Both halves of a pair, stacked: (2, 3, S, S)."""

    def __init__(self, pairs: CorruptionPairDataset):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> torch.Tensor:
        clean, corrupted = self.pairs[index]
        return torch.stack([clean, corrupted])


def pair_dataset(config: AutoencoderConfig, seed_offset: int = 0) -> CorruptionPairDataset:
    sampler = PairSampler(MixingBank(count=config.mixing_bank_count), case_weights=dict(config.case_weights))
    clean = CleanImageDataset(size=config.image_size, length=config.dataset_length, seed=config.seed + seed_offset)
    return CorruptionPairDataset(clean, sampler)


@torch.no_grad()
def latent_statistics(vae: AutoencoderKL, images: Dataset, batches: int, batch_size: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of sampled latents over ``batches`` batches of ``images``."""
    samples = []
    for index in range(batches):
        batch = torch.stack([images[index * batch_size + i] for i in range(batch_size)]).flatten(0, 1)
        posterior = vae.encode(batch.to(vae.device) * 2 - 1).latent_dist
        samples.append(posterior.sample(generator=torch.Generator(vae.device).manual_seed(index)).float().cpu())
    latents = torch.cat(samples).transpose(0, 1).flatten(1)
    return latents.mean(dim=1).tolist(), latents.std(dim=1).clamp_min(1e-4).tolist()


class AutoencoderObjective(torch.nn.Module):
    """L1 reconstruction of clean and corrupted images plus a small KL term."""

    def __init__(self, vae: AutoencoderKL, kl_weight: float, seed: int):
        super().__init__()
        self.vae, self.kl_weight, self.seed = vae, kl_weight, seed

    def forward(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        x = batch.flatten(0, 1) * 2 - 1
        posterior = self.vae.encode(x).latent_dist
        latents = posterior.sample(generator=step_generator(self.seed, step, x.device))
        reconstruction = self.vae.decode(latents).sample
        return F.l1_loss(reconstruction, x) + self.kl_weight * posterior.kl().mean()


def train_autoencoder(config: AutoencoderConfig) -> Path:
    """Train, measure latent statistics, export ``<output_dir>/vae``; returns that folder."""
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {config.architecture!r}; allowed: {', '.join(ARCHITECTURES)}")
    torch.manual_seed(config.seed)
    vae = AutoencoderKL(**ARCHITECTURES[config.architecture].vae)
    images = PairImages(pair_dataset(config))
    run_loop(config, AutoencoderObjective(vae, config.kl_weight, config.seed), images)
    held_out = PairImages(pair_dataset(config, seed_offset=10_000))
    mean, std = latent_statistics(vae, held_out, config.stats_batches, config.batch_size)
    vae.register_to_config(latents_mean=mean, latents_std=std, scaling_factor=1.0)
    export = Path(config.output_dir) / "vae"
    if PartialState().is_main_process:
        vae.save_pretrained(export)
    return export


def main(argv: Sequence[str] | None = None) -> None:
    print(f"autoencoder exported to {config_main(AutoencoderConfig, train_autoencoder, __doc__.splitlines()[0], argv)}")


if __name__ == "__main__":
    main()
