"""Latent maths both pipelines share: normalisation of VAE latents, the diffused variable (plain or
residual target), the guidance embedding and schedule, and scheduler helpers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# A scheduler config's keys that describe the model's noise schedule (what it was trained on), as
# opposed to how a sampler walks it: what the DPM's published DDIM and the CM's LCM scheduler keep.
NOISE_SCHEDULE_KEYS = (
    "num_train_timesteps",
    "beta_start",
    "beta_end",
    "beta_schedule",
    "trained_betas",
    "prediction_type",
    "rescale_betas_zero_snr",
)


def image_guidance_schedule(num_steps: int, start: float = 1.8) -> torch.Tensor:
    """The published square-root decay of the image guidance: sqrt(linspace(start^2, 0, steps))."""
    return torch.linspace(start**2, 0.0, num_steps).sqrt()


def guidance_embedding(scale: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of guidance scales (B,) -> (B, dim), as LCM conditions on guidance.

    The scale is multiplied by 1000 (the range of diffusion timesteps); frequencies are geometric
    from 1 to 1/10000; sines then cosines; an odd ``dim`` gets one zero column.
    """
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
    angles = scale.float()[:, None] * 1000.0 * frequencies[None, :].to(scale.device)
    embedding = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(embedding, (0, dim % 2))


def _channel_stats(config, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    if getattr(config, "latents_std", None) is None:
        return None
    as_tensor = lambda values: torch.tensor(values, device=reference.device, dtype=reference.dtype).view(1, -1, 1, 1)  # noqa: E731
    return as_tensor(config.latents_mean), as_tensor(config.latents_std)


def normalize_latents(vae_config, latents: torch.Tensor) -> torch.Tensor:
    """VAE latents -> diffusion latents: shift, per-channel standardisation, scaling factor.

    Applied to the *target* latents only; the conditioning image latents stay raw (the published
    asymmetry)."""
    if getattr(vae_config, "shift_factor", None) is not None:
        latents = latents - vae_config.shift_factor
    stats = _channel_stats(vae_config, latents)
    if stats is not None:
        latents = (latents - stats[0]) / stats[1]
    return latents * vae_config.scaling_factor


def denormalize_latents(vae_config, latents: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize_latents`."""
    latents = latents / vae_config.scaling_factor
    stats = _channel_stats(vae_config, latents)
    if stats is not None:
        latents = latents * stats[1] + stats[0]
    if getattr(vae_config, "shift_factor", None) is not None:
        latents = latents + vae_config.shift_factor
    return latents


def diffusion_offset(vae_config, image_latents: torch.Tensor, residual_target: bool) -> torch.Tensor:
    """What the diffused variable is measured from: zero (it is the clean image's normalised
    latents, the published setting), or with ``residual_target`` the input's normalised latents
    (it is the change to them, so a clean input is a zero target and copying the input is free)."""
    normalized = normalize_latents(vae_config, image_latents)
    return normalized if residual_target else torch.zeros_like(normalized)


def diffusion_latents(
    vae_config, latents: torch.Tensor, image_latents: torch.Tensor, residual_target: bool
) -> torch.Tensor:
    """VAE latents -> the diffused variable, given the input's ``image_latents``: what training
    noises and what sampling starts from (:func:`diffusion_offset`)."""
    return normalize_latents(vae_config, latents) - diffusion_offset(vae_config, image_latents, residual_target)


def previous_alpha(scheduler, step_index: int, timestep: torch.Tensor) -> float:
    """alpha_cumprod of the timestep a scheduler step lands on (1 where LCM returns x0 itself)."""
    timesteps = scheduler.timesteps
    if scheduler.__class__.__name__ == "LCMScheduler":
        if step_index + 1 >= len(timesteps):
            return 1.0
        return float(scheduler.alphas_cumprod[int(timesteps[step_index + 1])])
    previous = int(timestep) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    return float(scheduler.alphas_cumprod[previous]) if previous >= 0 else float(scheduler.final_alpha_cumprod)


def shared_generators(generator: torch.Generator | list[torch.Generator] | None, batch: int) -> list[torch.Generator]:
    """``batch`` generators in the same state, so every image of a batch draws the same noise."""
    if isinstance(generator, list):
        generator = generator[0]
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ())))
    clones = []
    for _ in range(batch):
        clone = torch.Generator(device=generator.device)
        clone.set_state(generator.get_state())
        clones.append(clone)
    return clones
