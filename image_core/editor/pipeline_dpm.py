"""Decorruptor-DPM: the diffusion teacher, 3-way classifier-free guidance, DDIM by default."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from diffusers import DiffusionPipeline

from image_core.editor.base import DecorruptorMixin, StepEndCallback, resolves_settings
from image_core.editor.images import ImageInput
from image_core.editor.latents import image_guidance_schedule
from image_core.editor.settings import EditorSettings


class DecorruptorDPMPipeline(DecorruptorMixin, DiffusionPipeline):
    """Edit corrupted images into clean ones with the InstructPix2Pix-style teacher.

    Each step runs the UNet once on a batch of three: [instruction, image], [null text, image] and
    [null text, zero image], combined as
    ``eps = eps(0,0) + s_T (eps(T,I) - eps(0,I)) + s_I[i] (eps(0,I) - eps(0,0))``.
    By default ``s_I`` decays as a square root from 1.8 to 0 (the published schedule).

    Example:
        >>> pipe = DecorruptorDPMPipeline.from_pretrained("path/to/DeCorruptor-DPM")  # doctest: +SKIP
        >>> restored = pipe(image=corrupted_pil, generator=torch.Generator().manual_seed(0)).images[0]  # doctest: +SKIP
    """

    kind = "dpm"

    @torch.no_grad()
    @resolves_settings
    def __call__(
        self,
        image: ImageInput,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | Sequence[float] | torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
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
            num_inference_steps: scheduler steps (3 UNet evaluations each; published 20).
            guidance_scale: text guidance s_T (published 7.5).
            image_guidance_scale: s_I: a float (the start of the sqrt decay, or the constant with
                ``image_guidance_decay`` off), or one value per step.
            generator: one generator, or one per image (in one state: the same noise for every image).
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

        # 2. Instruction embeddings: [text, null, null]
        prompt, negative = self.instruction_embeddings(device)
        text = torch.cat([prompt.expand(batch, -1, -1), negative.expand(batch, -1, -1), negative.expand(batch, -1, -1)])

        # 3. Image latents: [image, image, zero]
        image_latents = self.encode_image_latents(images, device).to(self.unet.dtype)
        image_condition = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])

        # 4. Timesteps and the image guidance per step
        self.scheduler.set_timesteps(settings.steps(self.kind), device=device)
        timesteps = self.scheduler.timesteps
        image_scales = self.image_guidance_per_step(settings, image_guidance_scale, len(timesteps))

        # 5. Initial latents: noise, or the image at the terminal SNR
        offset = self.diffusion_offset(image_latents)
        latents = self.prepare_noise(image_latents, generator, settings.start_from_image)
        extra_step_kwargs = {"generator": generator} if "generator" in self._step_parameters() else {}

        # 6. Denoising loop: one UNet batch of 3 per step
        for i, t in enumerate(self.progress_bar(timesteps)):
            model_input = self.scheduler.scale_model_input(torch.cat([latents] * 3), t)
            model_input = torch.cat([model_input, image_condition], dim=1)
            output = self.unet(model_input, t, encoder_hidden_states=text, return_dict=False)[0]
            text_image, null_image, null_null = output.chunk(3)
            guided = (
                null_null
                + settings.guidance_scale * (text_image - null_image)
                + float(image_scales[i]) * (null_image - null_null)
            )
            step = self.scheduler.step(guided, t, latents, **extra_step_kwargs)
            latents, _ = self.step_end(
                callback_on_step_end,
                callback_on_step_end_tensor_inputs,
                i,
                t,
                step.prev_sample,
                getattr(step, "pred_original_sample", None),
                offset,
            )

        # 7. Decode, then the settings' post-processing (colour fix, crop back, tone), convert
        return self._output(self.decode_latents(latents, offset), images, settings, size, kind, return_dict)

    @staticmethod
    def image_guidance_per_step(
        settings: EditorSettings, per_step: Sequence[float] | torch.Tensor | None, steps: int
    ) -> torch.Tensor:
        """s_I for each of ``steps`` steps (steps,): the values given, else the settings' scale as
        the start of the published sqrt decay or, with ``image_guidance_decay`` off, as a constant."""
        if per_step is not None:
            scales = torch.as_tensor(per_step, dtype=torch.float32)
            if scales.shape != (steps,):
                raise ValueError(f"image_guidance_scale has {scales.numel()} values for {steps} steps")
            return scales
        start = settings.image_guidance("dpm")
        return image_guidance_schedule(steps, start) if settings.image_guidance_decay else torch.full((steps,), start)

    def _step_parameters(self) -> set[str]:
        return set(inspect.signature(self.scheduler.step).parameters)
