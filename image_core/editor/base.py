"""What both Decorruptor pipelines share: settings resolution, the instruction embedding, VAE
helpers, the step-end callback and the pre- and post-processing the settings ask for.

Kept as one decorator plus one small mixin so each pipeline's ``__call__`` stays self-contained
and readable top to bottom.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor
from safetensors.torch import load_file, save_file

from image_core.editor.autoencoder import vae_downsampling
from image_core.editor.colour import colour_fix, restore_spread
from image_core.editor.estimates import noise_level, ramp, tonal_range
from image_core.editor.grid import grid_shift_mean
from image_core.editor.images import EditorOutput, ImageInput, images_to_tensor, pad_to_multiple, tensor_to_images
from image_core.editor.latents import denormalize_latents, diffusion_latents, diffusion_offset, previous_alpha
from image_core.editor.settings import EditorKind, EditorSettings
from image_core.editor.tone import apply_tone

INSTRUCTION = "Clean the image"
PROMPT_EMBEDS_FILE = "prompt_embeds.safetensors"

# A pipeline call's diffusers-style arguments that override one of the editor's settings: argument -> setting.
SETTING_ARGUMENTS = {
    "num_inference_steps": "inference_steps",
    "guidance_scale": "guidance_scale",
    "image_guidance_scale": "image_guidance_scale",
}
# The tensors a step-end callback may read and replace (diffusers' ``callback_on_step_end``).
CALLBACK_TENSOR_INPUTS = ["latents", "denoised"]

# ``callback_on_step_end(pipe, step_index, timestep, tensors) -> tensors``, as in diffusers.
StepEndCallback = Callable[[DiffusionPipeline, int, torch.Tensor, dict], dict]


def resolves_settings(call: Callable) -> Callable:
    """Decorate a pipeline's ``__call__``: its setting arguments (``SETTING_ARGUMENTS``, None = not
    given) and its ``settings`` are merged into one :class:`EditorSettings` before the body runs
    (the call's arguments over ``settings``, over the checkpoint's own), and the body sees only that,
    as ``settings``. More than one grid shift hands the call to
    ``DecorruptorMixin.grid_shift_ensemble``, which edits each copy through this call with one shift,
    so every argument reaches the copies without a list to keep."""
    signature = inspect.signature(call)

    @functools.wraps(call)
    def wrapper(self, *args, **kwargs):
        arguments = signature.bind(self, *args, **kwargs)
        arguments.apply_defaults()
        arguments = {name: value for name, value in arguments.arguments.items() if name != "self"}
        base = arguments.pop("settings") or self.settings
        given = {SETTING_ARGUMENTS[name]: arguments.pop(name) for name in SETTING_ARGUMENTS}
        per_step = given.get("image_guidance_scale")
        if per_step is not None and not isinstance(per_step, (int, float)):  # DPM's one value per step
            arguments["image_guidance_scale"] = given.pop("image_guidance_scale")
        settings = base.override(
            {key: value for key, value in given.items() if value is not None}, self.kind, "pipeline call"
        )
        if settings.grid_shifts == 1:
            return call(self, settings=settings, **arguments)
        return self.grid_shift_ensemble(settings, **arguments)

    return wrapper


class DecorruptorMixin:
    """Settings, instruction embedding (text encoder or stored embeddings), VAE helpers, save/load
    of the stored embeddings. Mixed into ``DiffusionPipeline`` subclasses."""

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _optional_components = ["text_encoder", "tokenizer", "tone_corrector"]
    prompt_embeds: torch.Tensor | None = None
    negative_prompt_embeds: torch.Tensor | None = None
    kind: EditorKind

    def __init__(
        self, vae, unet, scheduler, text_encoder=None, tokenizer=None, tone_corrector=None, settings: dict | None = None
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            unet=unet,
            scheduler=scheduler,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            tone_corrector=tone_corrector,
        )
        self.register_to_config(settings=dict(settings or {}))
        _ = self.settings  # a bad checkpoint setting fails at load, not at the first edit

    @property
    def settings(self) -> EditorSettings:
        """The checkpoint's settings: the published defaults with ``settings`` from ``model_index.json`` applied."""
        return EditorSettings().override(self.config.settings, self.kind, "the checkpoint's model_index.json settings")

    def grid_shift_ensemble(self, settings: EditorSettings, image: ImageInput, return_dict: bool, **kwargs):
        """Edit ``settings.grid_shifts`` copies of the images shifted by half a latent pixel and average them.

        Why: a latent edit's errors follow the autoencoder's patch grid (a patch code's error is a
        block), and a one-step edit is one draw of noise; shifted copies put the seams elsewhere and
        draw new noise, and their mean is the better estimate. The tone correction runs before the
        copies are made and after the mean; the colour fix once, on the mean.
        """
        images, kind = images_to_tensor(image)
        images = self.correct_tone(images, settings)
        single = settings.replace(
            grid_shifts=1,
            colour_fix_sigma=0.0,
            tone_correction=False,
            keep_spread=False,
            edit_noise_nothing=0.0,
            edit_noise_full=0.0,
        )
        edit = lambda copy, _: self(image=copy, settings=single, **kwargs).images  # noqa: E731
        mean = grid_shift_mean(edit, images, settings.grid_shifts, self.vae_scale_factor)
        return self._output(mean, images, settings, tuple(images.shape[-2:]), kind, return_dict)

    @property
    def vae_scale_factor(self) -> int:
        return vae_downsampling(self.vae.config)

    def prepare_images(
        self, image: ImageInput, generator, callback_tensor_inputs: list[str], settings: EditorSettings
    ) -> tuple[torch.Tensor, str, tuple[int, int]]:
        """Check a call's inputs; return the images on the execution device, tone-corrected if the
        settings ask for it, padded to the VAE factor (B, 3, H', W'), their kind and their size before
        padding. The rest of the call takes its device from these images: diffusers'
        ``_execution_device`` walks every module of every component (for offloading hooks), which
        costs milliseconds per access on an SD-size UNet, so a call asks once."""
        unknown = sorted(set(callback_tensor_inputs) - set(CALLBACK_TENSOR_INPUTS))
        if unknown:
            raise ValueError(f"callback_on_step_end_tensor_inputs may name {CALLBACK_TENSOR_INPUTS}, got {unknown}")
        images, kind = images_to_tensor(image)
        batch = images.shape[0]
        if isinstance(generator, list) and len(generator) != batch:
            raise ValueError(f"got {len(generator)} generators for a batch of {batch} images")
        images = self.correct_tone(images.to(self._execution_device), settings)
        return pad_to_multiple(images, self.vae_scale_factor), kind, tuple(images.shape[-2:])

    def diffusion_offset(self, image_latents: torch.Tensor) -> torch.Tensor:
        """See :func:`diffusion_offset`; ``residual_target`` is a setting of the checkpoint (``model_index.json``)."""
        return diffusion_offset(self.vae.config, image_latents, self.settings.residual_target)

    def prepare_noise(self, image_latents: torch.Tensor, generator, start_from_image: bool) -> torch.Tensor:
        """Initial latents (B, C, h, w). Generators in one state (``shared_generators``) give every
        image of the batch the same noise, here and in every scheduler step.

        With ``start_from_image`` the initial latents are what training showed the UNet at the first
        timestep: sqrt(a_T) * x0 + sqrt(1 - a_T) * noise, with the input image's own (normalised)
        latents standing in for x0 (:func:`diffusion_latents`: zero for a residual-target
        checkpoint, whose best guess without the UNet is "no change"). Stable Diffusion's schedule
        keeps a terminal SNR of a_T = 0.0047 at t = 999, and a UNet trained on it takes the low
        frequencies (colour, brightness) from that leftover signal; pure noise has none (a small
        model benefits; the published pipelines start from pure noise). For a residual-target
        checkpoint the start is pure noise scaled by sqrt(1 - a_T).
        """
        noise = randn_tensor(
            image_latents.shape, generator=generator, device=image_latents.device, dtype=self.unet.dtype
        )
        if not start_from_image:
            return noise * self.scheduler.init_noise_sigma
        alpha = self.scheduler.alphas_cumprod[int(self.scheduler.timesteps[0])].to(noise.device, noise.dtype)
        signal = diffusion_latents(self.vae.config, image_latents, image_latents, self.settings.residual_target).to(
            noise.dtype
        )
        return alpha.sqrt() * signal + (1 - alpha).sqrt() * noise

    def step_end(
        self,
        callback: StepEndCallback | None,
        tensor_inputs: list[str],
        step_index: int,
        timestep: torch.Tensor,
        latents: torch.Tensor,
        denoised: torch.Tensor | None,
        offset: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hand a step's tensors to diffusers' ``callback_on_step_end``: ``latents`` (the next step's
        input) and ``denoised`` (this step's estimate of the clean image latents, normalised: the
        diffused estimate plus its ``offset``, :func:`diffusion_offset`). A returned ``denoised``
        moves the next latents with it: deterministic DDIM and LCM steps form them as
        sqrt(a_prev) x0 + (noise part), so a changed x0 moves them by sqrt(a_prev) (x0' - x0); this
        is how the video layer smooths estimates along time."""
        if callback is None:
            return latents, denoised
        if "denoised" in tensor_inputs and denoised is None:
            raise ValueError(
                f"{type(self.scheduler).__name__} gives no denoised estimate to hand to the callback; use DDIM"
            )
        tensors = {"latents": latents, "denoised": None if denoised is None else denoised + offset}
        returned = callback(self, step_index, timestep, {name: tensors[name] for name in tensor_inputs})
        latents = returned.get("latents", latents)
        if "denoised" in returned:
            edited = returned["denoised"] - offset
            latents = latents + previous_alpha(self.scheduler, step_index, timestep) ** 0.5 * (edited - denoised)
            denoised = edited
        return latents, denoised

    def instruction_embeddings(self, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt, null prompt) embeddings (1, L, D), encoded once and cached, on ``device`` (default
        the execution device)."""
        if self.prompt_embeds is None:
            if self.text_encoder is None or self.tokenizer is None:
                raise ValueError(
                    f"this checkpoint has neither a text encoder and tokenizer nor a stored {PROMPT_EMBEDS_FILE}"
                )
            self.prompt_embeds = self._encode_text(INSTRUCTION)
            self.negative_prompt_embeds = self._encode_text("")
        device, dtype = device or self._execution_device, self.unet.dtype
        return self.prompt_embeds.to(device, dtype), self.negative_prompt_embeds.to(device, dtype)

    def _encode_text(self, text: str) -> torch.Tensor:
        tokens = self.tokenizer(
            text,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            encoded = self.text_encoder(tokens.input_ids.to(self.text_encoder.device))[0]
        return encoded.float().cpu()

    def encode_image_latents(self, images: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
        """Conditioning latents: the posterior mode, *unscaled* (the published asymmetry), computed on
        ``device`` (default the execution device; offloading hooks move the autoencoder there)."""
        vae_input = (images * 2 - 1).to(device or self._execution_device, self.vae.dtype)
        return self.vae.encode(vae_input).latent_dist.mode()

    def decode_latents(self, latents: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """Diffused latents (measured from ``offset``) -> float32 images (B, 3, H, W) in [0, 1]."""
        decoded = self.vae.decode(denormalize_latents(self.vae.config, latents + offset).to(self.vae.dtype)).sample
        return ((decoded.float() + 1) / 2).clamp(0, 1)

    def save_pretrained(self, save_directory: str | Path, *args, **kwargs) -> None:
        """Save the components plus the instruction embeddings (so loading needs no text encoder)."""
        super().save_pretrained(save_directory, *args, **kwargs)
        prompt, negative = self.instruction_embeddings()
        save_file(
            {
                "prompt_embeds": prompt.float().cpu().contiguous(),
                "negative_prompt_embeds": negative.float().cpu().contiguous(),
            },
            str(Path(save_directory) / PROMPT_EMBEDS_FILE),
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> DiffusionPipeline:
        pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        stored = Path(pretrained_model_name_or_path) / PROMPT_EMBEDS_FILE
        if stored.is_file():
            tensors = load_file(str(stored))
            pipe.prompt_embeds = tensors["prompt_embeds"]
            pipe.negative_prompt_embeds = tensors["negative_prompt_embeds"]
        return pipe

    def correct_tone(self, images: torch.Tensor, settings: EditorSettings) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] through the checkpoint's tone corrector
        (:mod:`image_core.editor.tone`) where the settings ask for it, at the strength their tonal
        range calls for (``tone_range_nothing`` / ``tone_range_full``: a well-exposed image is left
        as it is); unchanged where the checkpoint has no corrector. It runs before the edit, where
        the input's tone damage is undone (a large gain applied only after the edit would stretch
        the edit's small errors and the codec blocks the colour fix carries over into visible
        grain), and again after it, for the little the edit itself moved."""
        if self.tone_corrector is None or not settings.tone_correction:
            return images
        images = images.to(self.tone_corrector.device).float()
        strength = ramp(tonal_range(images), settings.tone_range_nothing, settings.tone_range_full)[:, None]
        if not bool(strength.any()):
            return images
        gain, offset = self.tone_corrector(images)
        corrected = apply_tone(images, gain**strength, offset * strength)
        return torch.where(strength[..., None, None] > 0, corrected, images)  # untouched where the gate is shut

    def _output(
        self,
        decoded: torch.Tensor,
        reference: torch.Tensor,
        settings: EditorSettings,
        size: tuple[int, int],
        kind: str,
        return_dict: bool,
    ):
        """The settings' post-processing: colour fix against the (padded, tone-corrected) ``reference``,
        crop back to ``size``, the spread fix (``keep_spread``), blend with the reference by the edit's
        strength (its noise level against ``edit_noise_nothing`` / ``edit_noise_full``), correct the
        tone a second time (if asked: what the edit itself moved; on the cropped image, whose
        statistics it reads), convert to ``kind``."""
        images = colour_fix(decoded, reference, settings.colour_fix_sigma)[..., : size[0], : size[1]]
        reference = reference[..., : size[0], : size[1]].to(images)
        noise = noise_level(reference)
        if settings.keep_spread:
            images = restore_spread(images, reference, noise)
        if settings.edit_noise_nothing != settings.edit_noise_full:
            strength = ramp(noise, settings.edit_noise_nothing, settings.edit_noise_full)
            images = reference + strength[:, None, None, None] * (images - reference)
        images = tensor_to_images(self.correct_tone(images, settings), kind)
        self.maybe_free_model_hooks()
        return EditorOutput(images=images) if return_dict else (images,)
