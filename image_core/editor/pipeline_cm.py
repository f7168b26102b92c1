"""Decorruptor-CM: the 4-step consistency student, one UNet call per step."""

from __future__ import annotations

from typing import Optional, Union

import torch
from diffusers import DiffusionPipeline

from image_core.editor.common import (
    DecorruptorMixin,
    DenoisedTransform,
    ImageInput,
    apply_denoised_transform,
    guidance_embedding,
    previous_alpha,
    resolves_settings,
)
from image_core.editor.settings import EditorSettings


class DecorruptorCMPipeline(DecorruptorMixin, DiffusionPipeline):
    """Edit corrupted images into clean ones with the distilled consistency model.

    Each step is ONE UNet call on [noisy latent | image latent] with the instruction embedding;
    the guidance is not applied by a CFG batch but told to the UNet through ``timestep_cond``,
    the element-wise product of the sinusoidal embeddings of w_T and w_I, of the size the UNet was
    built with (``unet.config.time_cond_proj_dim``). The image is decoded from the scheduler's
    denoised estimate of the last step.

    Example:
        >>> pipe = DecorruptorCMPipeline.from_pretrained("path/to/DeCorruptor-CM")  # doctest: +SKIP
        >>> restored = pipe(image=corrupted_pil, generator=torch.Generator().manual_seed(0)).images[0]  # doctest: +SKIP
    """

    kind = "cm"

    def __init__(self, vae, unet, scheduler, text_encoder=None, tokenizer=None, tone_corrector=None,
                 settings: Optional[dict] = None):  # fmt: skip
        if unet.config.time_cond_proj_dim is None:
            raise ValueError(
                "this UNet has no guidance embedding (unet.config.time_cond_proj_dim is None): it is a DPM "
                "teacher, load it with DecorruptorDPMPipeline"
            )
        super().__init__(vae, unet, scheduler, text_encoder, tokenizer, tone_corrector, settings)

    def guidance_condition(self, guidance_scale: float, image_guidance_scale: float, batch: int) -> torch.Tensor:
        """``timestep_cond`` (B, time_cond_proj_dim): emb(w_T) * emb(w_I)."""
        dim = self.unet.config.time_cond_proj_dim
        text = guidance_embedding(torch.full((batch,), float(guidance_scale)), dim)
        image = guidance_embedding(torch.full((batch,), float(image_guidance_scale)), dim)
        return (text * image).to(self._execution_device, self.unet.dtype)

    @torch.no_grad()
    @resolves_settings
    def __call__(
        self,
        image: ImageInput,
        num_inference_steps: Optional[int] = None,
        guidance_scale: Optional[float] = None,
        image_guidance_scale: Optional[float] = None,
        generator: Union[torch.Generator, list[torch.Generator], None] = None,
        shared_noise: bool = False,
        start_from_image: Optional[bool] = None,
        original_inference_steps: Optional[int] = None,
        denoised_transform: Optional[DenoisedTransform] = None,
        colour_fix_sigma: Optional[float] = None,
        colour_reference: Optional[torch.Tensor] = None,
        tone_correction: Optional[bool] = None,
        grid_shifts: Optional[int] = None,
        settings: Optional[EditorSettings] = None,
        return_dict: bool = True,
    ):
        """Restore a batch of images.

        Every argument that names a setting defaults to None: the ``settings`` given, else the
        checkpoint's own (:class:`~image_core.editor.settings.EditorSettings`, published values
        unless its ``model_index.json`` says otherwise).

        Args:
            image: PIL image(s), uint8 array (H, W, 3) / (B, H, W, 3), or float tensor (B, 3, H, W) in [0, 1].
            num_inference_steps: LCM steps, one UNet evaluation each (published 4).
            guidance_scale: text guidance w_T (published 7.5).
            image_guidance_scale: image guidance w_I (published 1.3; the published video path passes 1.8).
            generator: one generator, or one per image for batch-independent seeding.
            shared_noise: every image of the batch gets the same initial and per-step noise.
            start_from_image: start from the input image's latents at the schedule's terminal SNR rather than
                from pure noise (see ``prepare_noise``).
            original_inference_steps: the distillation skeleton's step count (scheduler default if None).
            denoised_transform: ``(x0 (B, C, h, w), step) -> x0`` applied to each step's denoised estimate
                (the video layer's temporal smoothing); the next latents follow the edited estimate.
            colour_fix_sigma: take the output's frequencies below a Gaussian of this std (pixels) from the
                input (see ``keep_low_frequencies``); 0 = off.
            colour_reference: float tensor (B, 3, H, W) in [0, 1], the input's size, whose low frequencies the
                colour fix keeps instead of the input's.
            tone_correction: pass the result through the checkpoint's tone corrector, where it has one.
            grid_shifts: 1, 2 or 4 edits of copies shifted by half a latent pixel, averaged (see
                ``grid_shift_ensemble``).
            settings: the settings the arguments above override (None: the checkpoint's).
            return_dict: return an ``EditorOutput`` instead of a tuple.

        Returns:
            ``EditorOutput`` whose ``images`` are of the input's kind and size.
        """
        # 1. Check inputs, convert, pad to the VAE factor (``resolves_settings`` merged the settings)
        images, kind, size, colour_reference = self.prepare_images(image, generator, shared_noise, colour_reference)
        batch, device = images.shape[0], self._execution_device

        # 2. Instruction embedding (no CFG batch: the guidance is in timestep_cond)
        prompt, _ = self.instruction_embeddings()
        text = prompt.expand(batch, -1, -1)

        # 3. Image latents, unscaled
        image_latents = self.encode_image_latents(images).to(self.unet.dtype)

        # 4. Timesteps
        self.scheduler.set_timesteps(
            settings.steps(self.kind), device=device, original_inference_steps=original_inference_steps
        )  # fmt: skip
        timesteps = self.scheduler.timesteps

        # 5. Guidance embedding emb(w_T) * emb(w_I)
        timestep_cond = self.guidance_condition(settings.guidance_scale, settings.image_guidance(self.kind), batch)

        # 6. Initial latents (noise, or the image at the terminal SNR); shared noise is shared per step too
        offset = self.diffusion_offset(image_latents)
        latents, noise_generator = self.prepare_noise(image_latents, generator, shared_noise, settings.start_from_image)

        # 7. Consistency sampling: one UNet call per step, keep the denoised estimate
        denoised = latents
        for i, t in enumerate(self.progress_bar(timesteps)):
            model_input = torch.cat([latents, image_latents], dim=1)
            output = self.unet(
                model_input, t, encoder_hidden_states=text, timestep_cond=timestep_cond, return_dict=False
            )[0]  # fmt: skip
            latents, denoised = self.scheduler.step(output, t, latents, generator=noise_generator, return_dict=False)
            if denoised_transform is not None:
                latents, denoised = apply_denoised_transform(
                    denoised_transform, latents, denoised, previous_alpha(self.scheduler, i, t), i, offset
                )  # fmt: skip

        # 8. Decode the denoised estimate, then the settings' post-processing (colour fix, crop back, tone), convert
        return self._output(self.decode_latents(denoised, offset), colour_reference, settings, size, kind, return_dict)
