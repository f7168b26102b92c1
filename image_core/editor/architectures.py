"""Named editor architectures (a timm-style registry) and a factory for randomly initialised pipelines.

``tiny`` is Decorruptor-Tiny, the model this project trains and embeds: a linear 4x4-patch
autoencoder with 20 latent channels (:class:`~image_core.editor.autoencoder.PatchAutoencoder`;
fidelity over compression: 2.4x fewer numbers than pixels, and held-out crops come back close to
their originals) and a small InstructPix2Pix UNet.
``sd15`` is the Stable Diffusion 1.5 geometry the released Decorruptor checkpoints use. Random
pipelines serve the speed benchmark and as the starting point of training from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, LCMScheduler, UNet2DConditionModel

from image_core.editor.autoencoder import PatchAutoencoder, vae_downsampling
from image_core.editor.pipeline_cm import DecorruptorCMPipeline
from image_core.editor.pipeline_dpm import DecorruptorDPMPipeline

__all__ = ["ARCHITECTURES", "EditorArchitecture", "create_editor"]

# Stable Diffusion's noise schedule, shared by every architecture here.
SD_SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


@dataclass(frozen=True)
class EditorArchitecture:
    """Configs of the UNet and VAE (and the VAE's class) plus the shape of the instruction embedding (tokens, width)."""

    name: str
    unet: dict[str, Any]
    vae: dict[str, Any]
    prompt_tokens: int
    guidance_embedding_dim: int
    scheduler: dict[str, Any] = field(default_factory=dict)
    vae_class: Callable[..., torch.nn.Module] = AutoencoderKL

    @property
    def vae_scale_factor(self) -> int:
        return vae_downsampling(self.vae)

    def create_vae(self) -> torch.nn.Module:
        """A randomly initialised autoencoder of this architecture."""
        return self.vae_class(**self.vae)


ARCHITECTURES: dict[str, EditorArchitecture] = {}


def _register(architecture: EditorArchitecture) -> None:
    ARCHITECTURES[architecture.name] = architecture


_register(
    EditorArchitecture(
        name="tiny",
        unet={
            "block_out_channels": (64, 128, 128),
            "layers_per_block": 1,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            "in_channels": 40,
            "out_channels": 20,
            "cross_attention_dim": 64,
            "attention_head_dim": 8,
            "norm_num_groups": 32,
        },
        vae={"latent_channels": 20, "patch_size": 4},
        vae_class=PatchAutoencoder,
        prompt_tokens=8,
        guidance_embedding_dim=64,
        scheduler={"prediction_type": "v_prediction", "timestep_spacing": "trailing"},
    )
)
_register(
    EditorArchitecture(
        name="sd15",
        unet={
            "block_out_channels": (320, 640, 1280, 1280),
            "layers_per_block": 2,
            "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            "in_channels": 8,
            "out_channels": 4,
            "cross_attention_dim": 768,
            "attention_head_dim": 8,
        },
        vae={
            "block_out_channels": (128, 256, 512, 512),
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "layers_per_block": 2,
            "latent_channels": 4,
            "scaling_factor": 0.18215,
        },
        prompt_tokens=77,
        guidance_embedding_dim=256,
    )
)


def create_editor(name: str, cm: bool, seed: int = 0, dtype: torch.dtype = torch.float32):
    """A randomly initialised editor pipeline of a registered architecture.

    Args:
        name: a key of ``ARCHITECTURES``.
        cm: a consistency student (UNet with a guidance embedding, LCM scheduler) instead of the DPM teacher.
        seed: seeds the weights and the stored instruction embeddings.
        dtype: parameter dtype.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown editor architecture {name!r}; allowed: {', '.join(ARCHITECTURES)}")
    architecture = ARCHITECTURES[name]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **architecture.unet, time_cond_proj_dim=architecture.guidance_embedding_dim if cm else None
    )
    vae = architecture.create_vae()
    scheduler_config = {**SD_SCHEDULE, **architecture.scheduler}
    if cm:
        pipe = DecorruptorCMPipeline(vae=vae, unet=unet, scheduler=LCMScheduler(**scheduler_config))
    else:
        scheduler = DDIMScheduler(**scheduler_config, clip_sample=False, set_alpha_to_one=False)
        pipe = DecorruptorDPMPipeline(vae=vae, unet=unet, scheduler=scheduler)
    width = architecture.unet["cross_attention_dim"]
    pipe.prompt_embeds = torch.randn(1, architecture.prompt_tokens, width)
    pipe.negative_prompt_embeds = torch.randn(1, architecture.prompt_tokens, width)
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)
