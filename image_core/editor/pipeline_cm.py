"""Decorruptor-CM: the 4-step consistency student, one UNet call per step."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers import DiffusionPipeline

from image_core.editor.base import DecorruptorMixin, StepEndCallback, resolves_settings
from image_core.editor.images import ImageInput
from image_core.editor.latents import guidance_embedding
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

    def __init__(
        self,
        vae,
        unet,
        scheduler,
        text_encoder=None,
        tokenizer=None,
        tone_corrector=None,
        settings: dict | None = None,
    ):
        if unet.config.time_cond_proj_dim is None:
            raise ValueError(
                "this UNet has no guidance embedding (unet.config.time_cond_proj_dim is None): it is a DPM "
                "teacher, load it with DecorruptorDPMPipeline"
            )
        super().__init__(vae, unet, scheduler, text_encoder, tokenizer, tone_corrector, settings)

    def guidance_condition(
        self, guidance_scale: float, image_guidance_scale: float, batch: int, device: torch.device
    ) -> torch.Tensor:
        """``timestep_cond`` (B, time_cond_proj_dim): emb(w_T) * emb(w_I)."""
        dim = self.unet.config.time_cond_proj_dim
        text = guidance_embedding(torch.full((batch,), float(guidance_scale)), dim)
        image = guidance_embedding(torch.full((batch,), float(image_guidance_scale)), dim)
        return (text * image).to(device, self.unet.dtype)

    @torch.no_grad()
    @resolves_settings
    def __call__(
        self,
        image: ImageInput,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        original_inference_steps: int | None = None,
        settings: EditorSettings | None = None,
        callback_on_step_end: StepEndCallback | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        return_dict: bool = True,
    ):
        """Restore a batch of images.

        The arguments that name a setting default to None: the ``settings`` given, else the
        checkpoint's own (:class:`~image_core.editor.settings.EditorSettings`: published values
        unless its ``model_index.json`` says otherwise), which also say whether sampling starts
        from the image and what runs around the edit (tone correction, grid shifts, colour fix).

        Args:
            image: PIL image(s), uint8 array (H, W, 3) / (B, H, W, 3), or float tensor (B, 3, H, W) in [0, 1].
            num_inference_steps: LCM steps, one UNet evaluation each (published 4).
            guidance_scale: text guidance w_T (published 7.5).
            image_guidance_scale: image guidance w_I (published 1.3; the published video path passes 1.8).
            generator: one generator, or one per image (in one state: the same noise for every image).
            original_inference_steps: the distillation skeleton's step count (scheduler default if None).
            settings: the settings the arguments above override (None: the checkpoint's).
            callback_on_step_end: diffusers' step-end callback; it may read and replace ``latents``
                and ``denoised`` (see ``DecorruptorMixin.step_end``).
            callback_on_step_end_tensor_inputs: the tensors it is handed.
            return_dict: return an ``EditorOutput`` instead of a tuple.

        Returns:
            ``EditorOutput`` whose ``images`` are of the input's kind and size.
        """
        # 1. Check inputs, convert, correct the tone (if asked), pad to the VAE factor
        #    (``resolves_settings`` merged the settings)
        images, kind, size = self.prepare_images(image, generator, callback_on_step_end_tensor_inputs, settings)
        batch, device = images.shape[0], images.device

        # 2. Instruction embedding (no CFG batch: the guidance is in timestep_cond)
        prompt, _ = self.instruction_embeddings(device)
        text = prompt.expand(batch, -1, -1)

        # 3. Image latents, unscaled
        image_latents = self.encode_image_latents(images, device).to(self.unet.dtype)

        # 4. Timesteps
        self.scheduler.set_timesteps(
            settings.steps(self.kind), device=device, original_inference_steps=original_inference_steps
        )
        timesteps = self.scheduler.timesteps

        # 5. Guidance embedding emb(w_T) * emb(w_I)
        timestep_cond = self.guidance_condition(
            settings.guidance_scale, settings.image_guidance(self.kind), batch, device
        )

        # 6. Initial latents: noise, or the image at the terminal SNR
        offset = self.diffusion_offset(image_latents)
        latents = self.prepare_noise(image_latents, generator, settings.start_from_image)

        # 7. Consistency sampling: one UNet call per step, keep the denoised estimate
        denoised = latents
        for i, t in enumerate(self.progress_bar(timesteps)):
            model_input = torch.cat([latents, image_latents], dim=1)
            output = self.unet(
                model_input, t, encoder_hidden_states=text, timestep_cond=timestep_cond, return_dict=False
            )[0]
            latents, denoised = self.scheduler.step(output, t, latents, generator=generator, return_dict=False)
            latents, denoised = self.step_end(
                callback_on_step_end, callback_on_step_end_tensor_inputs, i, t, latents, denoised, offset
            )

        # 8. Decode the denoised estimate, then the settings' post-processing (colour fix, crop back, tone), convert
        return self._output(self.decode_latents(denoised, offset), images, settings, size, kind, return_dict)
