"""Decorruptor-DPM: the diffusion teacher, 3-way classifier-free guidance, DDIM by default."""

from __future__ import annotations

import inspect
from typing import Optional, Sequence, Union

import torch
from diffusers import DiffusionPipeline

from image_core.editor.common import (
    COLOUR_FIX_SIGMA,
    DecorruptorMixin,
    DenoisedTransform,
    ImageInput,
    apply_denoised_transform,
    grid_shifted,
    image_guidance_schedule,
    previous_alpha,
)


class DecorruptorDPMPipeline(DecorruptorMixin, DiffusionPipeline):
    """Edit corrupted images into clean ones with the InstructPix2Pix-style teacher.

    Each step runs the UNet once on a batch of three: [instruction, image], [null text, image] and
    [null text, zero image], combined as
    ``eps = eps(0,0) + s_T (eps(T,I) - eps(0,I)) + s_I[i] (eps(0,I) - eps(0,0))``.
    The image guidance ``s_I`` is a float or one value per step; by default it decays as a square
    root from 1.8 to 0 (the published schedule).

    Example:
        >>> pipe = DecorruptorDPMPipeline.from_pretrained("path/to/DeCorruptor-DPM")  # doctest: +SKIP
        >>> restored = pipe(image=corrupted_pil, generator=torch.Generator().manual_seed(0)).images[0]  # doctest: +SKIP
    """

    default_inference_steps = 20

    @torch.no_grad()
    @grid_shifted
    def __call__(
        self,
        image: ImageInput,
        num_inference_steps: Optional[int] = None,
        guidance_scale: float = 7.5,
        image_guidance_scale: Union[float, Sequence[float], torch.Tensor, None] = None,
        generator: Union[torch.Generator, list[torch.Generator], None] = None,
        shared_noise: bool = False,
        start_from_image: bool = True,
        denoised_transform: Optional[DenoisedTransform] = None,
        colour_fix_sigma: float = COLOUR_FIX_SIGMA,
        colour_reference: Optional[torch.Tensor] = None,
        tone_correction: bool = True,
        grid_shifts: Optional[int] = None,
        return_dict: bool = True,
    ):
        """Restore a batch of images.

        Args:
            image: PIL image(s), uint8 array (H, W, 3) / (B, H, W, 3), or float tensor (B, 3, H, W) in [0, 1].
            num_inference_steps: scheduler steps (3 UNet evaluations each); None = the checkpoint's
                ``inference_steps``, else 20.
            guidance_scale: text guidance s_T.
            image_guidance_scale: s_I as a float, or one value per step; None = sqrt decay 1.8 -> 0.
            generator: one generator, or one per image for batch-independent seeding.
            shared_noise: draw one noise for the whole batch (every image starts from the same noise).
            start_from_image: start from the input image's latents at the schedule's terminal SNR rather than
                from pure noise (see ``prepare_noise``).
            denoised_transform: ``(x0 (B, C, h, w), step) -> x0`` applied to each step's denoised estimate
                (the video layer's temporal smoothing); the next latents follow the edited estimate.
            colour_fix_sigma: take the output's frequencies below a Gaussian of this std (pixels) from the
                input (see ``keep_low_frequencies``); 0 = off, the decoded edit as it is.
            colour_reference: float tensor (B, 3, H, W) in [0, 1], the input's size, whose low frequencies the
                colour fix keeps instead of the input's (e.g. frames smoothed along time, which the video layer
                fixes against).
            tone_correction: pass the result through the checkpoint's tone corrector, where it has one
                (``tone_corrector`` in ``model_index.json``; see :mod:`image_core.editor.tone`): a
                global per-channel gain and offset that undoes lowered contrast.
            grid_shifts: 1, 2 or 4 edits of copies shifted by half a latent pixel, averaged (see
                ``grid_shift_ensemble``); None = the checkpoint's ``grid_shifts``, else 1. Resolved by
                ``grid_shifted`` before this body runs, which then sees 1.
            return_dict: return an ``EditorOutput`` instead of a tuple.

        Returns:
            ``EditorOutput`` whose ``images`` are of the input's kind and size.
        """
        # 1. Check inputs, convert, pad to the VAE factor
        num_inference_steps = self.resolve_inference_steps(num_inference_steps)
        images, kind, size, colour_reference = self.prepare_images(
            image, num_inference_steps, generator, shared_noise, colour_fix_sigma, colour_reference
        )  # fmt: skip
        batch, device = images.shape[0], self._execution_device

        # 2. Instruction embeddings: [text, null, null]
        prompt, negative = self.instruction_embeddings()
        text = torch.cat([prompt.expand(batch, -1, -1), negative.expand(batch, -1, -1), negative.expand(batch, -1, -1)])

        # 3. Image latents: [image, image, zero]
        image_latents = self.encode_image_latents(images).to(self.unet.dtype)
        image_condition = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])

        # 4. Timesteps and the image-guidance schedule
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        if image_guidance_scale is None:
            image_scales = image_guidance_schedule(len(timesteps))
        elif isinstance(image_guidance_scale, (int, float)):
            image_scales = torch.full((len(timesteps),), float(image_guidance_scale))
        else:
            image_scales = torch.as_tensor(image_guidance_scale, dtype=torch.float32)
            if image_scales.shape != (len(timesteps),):
                raise ValueError(
                    f"image_guidance_scale has {image_scales.numel()} values for {len(timesteps)} steps"
                )

        # 5. Initial latents: noise (shared across the batch if asked) plus the image at the terminal SNR
        offset = self.diffusion_offset(image_latents)
        latents, noise_generator = self.prepare_noise(image_latents, generator, shared_noise, start_from_image)
        extra_step_kwargs = {"generator": noise_generator} if "generator" in self._step_parameters() else {}

        # 6. Denoising loop: one UNet batch of 3 per step
        for i, t in enumerate(self.progress_bar(timesteps)):
            model_input = self.scheduler.scale_model_input(torch.cat([latents] * 3), t)
            model_input = torch.cat([model_input, image_condition], dim=1)
            output = self.unet(model_input, t, encoder_hidden_states=text, return_dict=False)[0]
            text_image, null_image, null_null = output.chunk(3)
            guided = (
                null_null
                + guidance_scale * (text_image - null_image)
                + float(image_scales[i]) * (null_image - null_null)
            )
            step = self.scheduler.step(guided, t, latents, **extra_step_kwargs)
            latents = step.prev_sample
            if denoised_transform is not None:
                if getattr(step, "pred_original_sample", None) is None:
                    raise ValueError(f"{type(self.scheduler).__name__} gives no denoised estimate to transform; use DDIM")
                latents, _ = apply_denoised_transform(
                    denoised_transform, latents, step.pred_original_sample, previous_alpha(self.scheduler, i, t), i, offset
                )  # fmt: skip

        # 7. Decode, take the input's low frequencies, crop back to the input size, correct the tone, convert
        return self._output(self.decode_latents(latents, offset), colour_reference, colour_fix_sigma, tone_correction, size, kind, return_dict)

    def _step_parameters(self) -> set[str]:
        return set(inspect.signature(self.scheduler.step).parameters)
