"""Latent consistency distillation of Decorruptor-DPM into the 4-step Decorruptor-CM.

Recipe (Decorruptor / LCM): a DDIM solver on a 50-step skeleton of the 1000 training timesteps;
the student starts as a copy of the teacher with a guidance embedding added (zero-initialised, so
it starts out as the teacher); the target network is an EMA of the student (decay 0.95); Huber
loss (c = 0.001); consistency boundary scalings with sigma_data 0.5 and the timestep scaled by 10.
The teacher's target uses the three-way guidance with w_T ~ U[5, 15] and w_I ~ U[1.0, 1.5]; the
student is told both through ``timestep_cond`` = emb(w_T) * emb(w_I) of the UNet's
``time_cond_proj_dim``.

    python -m image_core.training.distill --config image_core/training/configs/cpu/distill.yaml
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from accelerate import PartialState
from diffusers import LCMScheduler, UNet2DConditionModel
from safetensors.torch import load_file

from image_core.editor.latents import NOISE_SCHEDULE_KEYS, diffusion_latents, guidance_embedding
from image_core.editor.pipeline_cm import DecorruptorCMPipeline
from image_core.editor.pipeline_dpm import DecorruptorDPMPipeline
from image_core.training.common import LoopConfig, config_main, in_memory_device, run_loop, step_generator
from image_core.training.editor import LatentBank

__all__ = ["DistillConfig", "distill", "main"]


@dataclasses.dataclass
class DistillConfig(LoopConfig):
    teacher_path: str = "runs/tiny/editor/dpm"
    bank_path: str | None = None  # default: the editor run's latent_bank.safetensors beside the teacher
    num_ddim_timesteps: int = 50
    text_guidance_range: tuple = (5.0, 15.0)
    image_guidance_range: tuple = (1.0, 1.5)
    guidance_embedding_dim: int = 64
    huber_c: float = 0.001
    target_ema_decay: float = 0.95
    sigma_data: float = 0.5
    timestep_scaling: float = 10.0
    # The exported student's editor settings (model_index.json "settings"; see image_core.editor.settings);
    # residual_target comes from the teacher.
    settings: dict = dataclasses.field(default_factory=dict)


def _boundary_scalings(timesteps: torch.Tensor, sigma_data: float, scaling: float) -> tuple[torch.Tensor, torch.Tensor]:
    scaled = timesteps.float() * scaling
    c_skip = sigma_data**2 / (scaled**2 + sigma_data**2)
    c_out = scaled / (scaled**2 + sigma_data**2) ** 0.5
    return c_skip.view(-1, 1, 1, 1), c_out.view(-1, 1, 1, 1)


class DistillationObjective(torch.nn.Module):
    """Consistency loss between the student at t and the EMA target at the teacher's DDIM step t -> t - k."""

    def __init__(
        self,
        teacher: UNet2DConditionModel,
        teacher_scheduler,
        vae_config,
        prompt: torch.Tensor,
        null: torch.Tensor,
        config: DistillConfig,
        residual_target: bool = False,
    ):
        super().__init__()
        self.config, self.vae_config, self.residual_target = config, vae_config, residual_target
        self.prediction_type = teacher_scheduler.config.prediction_type
        self.teacher = teacher.requires_grad_(False).eval()
        self.student = UNet2DConditionModel.from_config(
            {**teacher.config, "time_cond_proj_dim": config.guidance_embedding_dim}
        )
        missing, unexpected = self.student.load_state_dict(teacher.state_dict(), strict=False)
        if unexpected or any("cond_proj" not in name for name in missing):
            raise ValueError(f"teacher and student differ beyond the guidance embedding: {missing} {unexpected}")
        torch.nn.init.zeros_(self.student.time_embedding.cond_proj.weight)
        self.target = copy.deepcopy(self.student).requires_grad_(False)
        self.register_buffer("prompt", prompt)
        self.register_buffer("null", null)
        # The teacher's own noise schedule (the Stable Diffusion one, zero terminal SNR or not).
        self.register_buffer("alphas_cumprod", teacher_scheduler.alphas_cumprod.clone().float())
        self.step_ratio = teacher_scheduler.config.num_train_timesteps // config.num_ddim_timesteps
        self.register_buffer("ddim_timesteps", torch.arange(1, config.num_ddim_timesteps + 1) * self.step_ratio - 1)

    def _x0_and_eps(
        self, output: torch.Tensor, sample: torch.Tensor, timesteps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1)
        if self.prediction_type == "v_prediction":
            return alpha.sqrt() * sample - (1 - alpha).sqrt() * output, (
                1 - alpha
            ).sqrt() * sample + alpha.sqrt() * output
        return (sample - (1 - alpha).sqrt() * output) / alpha.sqrt(), output

    def _consistency(self, unet: UNet2DConditionModel, sample, condition, timesteps, text, guidance) -> torch.Tensor:
        output = unet(
            torch.cat([sample, condition], dim=1), timesteps, encoder_hidden_states=text, timestep_cond=guidance
        ).sample
        x0, _ = self._x0_and_eps(output, sample, timesteps)
        c_skip, c_out = _boundary_scalings(timesteps, self.config.sigma_data, self.config.timestep_scaling)
        return c_skip * sample + c_out * x0

    def forward(self, batch: tuple[torch.Tensor, ...], step: int) -> torch.Tensor:
        target, condition = batch
        c, device, size = self.config, target.device, target.shape[0]
        generator = step_generator(c.seed, step, device)
        latents = diffusion_latents(self.vae_config, target, condition, self.residual_target)
        index = torch.randint(0, c.num_ddim_timesteps, (size,), generator=generator, device=device)
        start = self.ddim_timesteps[index]
        previous = (start - self.step_ratio).clamp_min(0)
        noise = torch.randn(latents.shape, generator=generator, device=device)
        alpha = self.alphas_cumprod[start].view(-1, 1, 1, 1)
        noisy = alpha.sqrt() * latents + (1 - alpha).sqrt() * noise
        w_text = torch.empty(size, device=device).uniform_(*c.text_guidance_range, generator=generator)
        w_image = torch.empty(size, device=device).uniform_(*c.image_guidance_range, generator=generator)
        dim = c.guidance_embedding_dim
        guidance = guidance_embedding(w_text, dim) * guidance_embedding(w_image, dim)
        text = self.prompt.expand(size, -1, -1)

        prediction = self._consistency(self.student, noisy, condition, start, text, guidance)
        with torch.no_grad():
            # Teacher: one batch of three, [text, image], [null, image], [null, zero image].
            both = torch.cat([noisy] * 3)
            conditions = torch.cat([condition, condition, torch.zeros_like(condition)])
            texts = torch.cat([text, self.null.expand(size, -1, -1), self.null.expand(size, -1, -1)])
            outputs = self.teacher(
                torch.cat([both, conditions], dim=1), start.repeat(3), encoder_hidden_states=texts
            ).sample
            text_image, null_image, null_null = outputs.chunk(3)
            guided = (
                null_null
                + w_text.view(-1, 1, 1, 1) * (text_image - null_image)
                + w_image.view(-1, 1, 1, 1) * (null_image - null_null)
            )
            x0, eps = self._x0_and_eps(guided, noisy, start)
            alpha_previous = self.alphas_cumprod[previous].view(-1, 1, 1, 1)
            solver_step = alpha_previous.sqrt() * x0 + (1 - alpha_previous).sqrt() * eps
            target = self._consistency(self.target, solver_step, condition, previous, text, guidance)
        difference = prediction.float() - target.float()
        return (torch.sqrt(difference**2 + c.huber_c**2) - c.huber_c).mean()

    @torch.no_grad()
    def update_target(self) -> None:
        decay = self.config.target_ema_decay
        for target, student in zip(self.target.parameters(), self.student.parameters()):
            target.lerp_(student, 1 - decay)


def distill(config: DistillConfig) -> Path:
    """Distil the teacher at ``config.teacher_path``; export the CM pipeline to ``<output_dir>/cm``."""
    teacher_pipe = DecorruptorDPMPipeline.from_pretrained(config.teacher_path)
    bank_path = (
        Path(config.bank_path) if config.bank_path else Path(config.teacher_path).parent / "latent_bank.safetensors"
    )
    if not bank_path.is_file():
        raise FileNotFoundError(f"latent bank {bank_path} not found; run the editor training first or set bank_path")
    bank = LatentBank(load_file(str(bank_path)))
    prompt, null = teacher_pipe.instruction_embeddings()
    residual = teacher_pipe.settings.residual_target
    objective = DistillationObjective(
        teacher_pipe.unet,
        teacher_pipe.scheduler,
        teacher_pipe.vae.config,
        prompt.float(),
        null.float(),
        config,
        residual,
    )
    run_loop(
        config,
        objective,
        bank.to(in_memory_device(config)),
        after_step=lambda step: objective.update_target(),
        collate_fn=LatentBank.collate,
    )
    # The student samples on the teacher's noise schedule, whatever it is.
    schedule = {key: value for key, value in teacher_pipe.scheduler.config.items() if key in NOISE_SCHEDULE_KEYS}
    scheduler = LCMScheduler(
        **schedule,
        original_inference_steps=config.num_ddim_timesteps,
        timestep_scaling=config.timestep_scaling,
        clip_sample=False,
        set_alpha_to_one=False,
    )
    pipe = DecorruptorCMPipeline(
        vae=teacher_pipe.vae,
        unet=objective.target,
        scheduler=scheduler,
        settings={**config.settings, "residual_target": residual},
    )
    pipe.prompt_embeds, pipe.negative_prompt_embeds = prompt, null
    export = Path(config.output_dir) / "cm"
    if PartialState().is_main_process:
        pipe.save_pretrained(export)
    return export


def main(argv: Sequence[str] | None = None) -> None:
    print(f"consistency model (CM) exported to {config_main(DistillConfig, distill, __doc__.splitlines()[0], argv)}")


if __name__ == "__main__":
    main()
