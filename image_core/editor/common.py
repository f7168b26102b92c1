"""Pieces both Decorruptor pipelines share: input/output conversion, padding, latent scaling,
the instruction embedding and the guidance embedding.

Kept as plain functions plus one small mixin so each pipeline's ``__call__`` stays self-contained
and readable top to bottom.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from safetensors.torch import load_file, save_file

from image_core.editor.autoencoder import vae_downsampling
from image_core.editor.settings import GRID_SHIFT_COUNTS, EditorKind, EditorSettings

INSTRUCTION = "Clean the image"
PROMPT_EMBEDS_FILE = "prompt_embeds.safetensors"
# Window of the median that the colour fix takes of (input - edit) before its low-pass: the smallest
# that removes impulse grains (see ``keep_low_frequencies``).
COLOUR_FIX_MEDIAN = 3

ImageInput = Union[PIL.Image.Image, Sequence[PIL.Image.Image], np.ndarray, torch.Tensor]


@dataclass
class EditorOutput(BaseOutput):
    """``images``: a list of PIL images, a uint8 array (B, H, W, 3) or a float tensor (B, 3, H, W) in
    [0, 1], the same kind as the input."""

    images: Union[list[PIL.Image.Image], np.ndarray, torch.Tensor]


# ---------------------------------------------------------------------------------------------
# Images in and out
# ---------------------------------------------------------------------------------------------


def images_to_tensor(image: ImageInput) -> tuple[torch.Tensor, str]:
    """Any supported input -> (float32 tensor (B, 3, H, W) in [0, 1], kind)."""
    if isinstance(image, PIL.Image.Image):
        image = [image]
    if isinstance(image, (list, tuple)):
        if not image:
            raise ValueError("image is an empty list; pass at least one image")
        if not all(isinstance(item, PIL.Image.Image) for item in image):
            raise ValueError("a list input must hold only PIL images")
        sizes = {item.size for item in image}
        if len(sizes) > 1:
            raise ValueError(f"all images of a batch must have the same size, got {sorted(sizes)}")
        array = np.stack([np.asarray(item.convert("RGB")) for item in image])
        return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255.0, "pil"
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8 (H, W, 3) or (B, H, W, 3), got dtype {image.dtype}")
        if image.ndim == 3:
            image = image[None]
        if image.ndim != 4 or image.shape[-1] != 3:
            raise ValueError(f"numpy images must have shape (H, W, 3) or (B, H, W, 3), got {image.shape}")
        if image.shape[0] == 0:
            raise ValueError("image batch is empty (B = 0)")
        return torch.from_numpy(np.ascontiguousarray(image)).permute(0, 3, 1, 2).float() / 255.0, "numpy"
    if isinstance(image, torch.Tensor):
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"tensor images must have shape (B, 3, H, W), got {tuple(image.shape)}")
        if image.shape[0] == 0:
            raise ValueError("image batch is empty (B = 0)")
        if not image.is_floating_point():
            raise ValueError(f"tensor images must be floating point in [0, 1], got dtype {image.dtype}")
        low, high = float(image.min()), float(image.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(f"tensor images must lie in [0, 1], got values from {low:.3f} to {high:.3f}")
        return image.float().clamp(0, 1), "tensor"
    raise ValueError(f"unsupported image type {type(image).__name__}; pass PIL images, a uint8 array or a tensor")


def tensor_to_images(images: torch.Tensor, kind: str) -> Union[list[PIL.Image.Image], np.ndarray, torch.Tensor]:
    """(B, 3, H, W) tensor in [0, 1] -> the input's kind."""
    images = images.float().clamp(0, 1)
    if kind == "tensor":
        return images
    array = (images.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return array if kind == "numpy" else [PIL.Image.fromarray(item) for item in array]


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad right and bottom (reflect; replicate where the image is too small to reflect) to a multiple."""
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return images
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)


def grid_offsets(count: int, factor: int) -> list[tuple[int, int]]:
    """The first ``count`` (1, 2 or 4) of the (top, left) shifts (0, 0), (h, h), (0, h), (h, 0),
    h = ``factor`` // 2: half a latent pixel, where one edit's patch seams are furthest from another's."""
    if count not in GRID_SHIFT_COUNTS:
        raise ValueError(f"grid_shifts must be one of {GRID_SHIFT_COUNTS}, got {count}")
    half = factor // 2
    return [(0, 0), (half, half), (0, half), (half, 0)][:count]


def grid_shift_mean(edit: Callable[[torch.Tensor, int], torch.Tensor], images: torch.Tensor, count: int, factor: int) -> torch.Tensor:
    """The mean of ``edit(copy, index)`` over ``count`` copies of ``images`` (B, C, H, W) shifted by
    ``grid_offsets``, each shifted back -> (B, C, H, W).

    A copy is padded (replicate) by its offset at the top and left and by the rest of half the
    factor at the bottom and right, so every copy has one shape (H + h, W + h); ``edit`` returns
    the edited copy at that shape. One copy is the images as they are: ``edit(images, 0)``.
    """
    height, width = images.shape[-2:]
    margin = factor // 2 if count > 1 else 0
    edits = []
    for index, (top, left) in enumerate(grid_offsets(count, factor)):
        edited = edit(F.pad(images, (left, margin - left, top, margin - top), mode="replicate"), index)
        edits.append(edited[..., top : top + height, left : left + width])
    return torch.stack(edits).mean(0)


# A pipeline call's arguments that override one of the editor's settings: argument -> setting.
SETTING_ARGUMENTS = {
    "num_inference_steps": "inference_steps",
    "guidance_scale": "guidance_scale",
    "image_guidance_scale": "image_guidance_scale",
    "start_from_image": "start_from_image",
    "colour_fix_sigma": "colour_fix_sigma",
    "tone_correction": "tone_correction",
    "grid_shifts": "grid_shifts",
}


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
        settings = base.override({key: value for key, value in given.items() if value is not None}, self.kind, "pipeline call")
        if settings.grid_shifts == 1:
            return call(self, settings=settings, **arguments)
        return self.grid_shift_ensemble(settings, **arguments)

    return wrapper


def check_colour_reference(reference: torch.Tensor | None, images: torch.Tensor) -> None:
    """A colour reference, where one is given, has the images' shape (B, 3, H, W)."""
    if reference is not None and reference.shape != images.shape:
        raise ValueError(f"colour_reference has shape {tuple(reference.shape)}, the images {tuple(images.shape)}")


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """The median of every value's ``size`` x ``size`` neighbourhood (reflect padding, so H and W > size // 2):
    (B, C, H, W) -> same."""
    padded = F.pad(images, (size // 2,) * 4, mode="reflect")
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # (B, C, H, W, size, size)
    return windows.flatten(-2).median(dim=-1).values


def keep_low_frequencies(edited: torch.Tensor, reference: torch.Tensor, sigma: float) -> torch.Tensor:
    """``edited`` with its broad colours, below a Gaussian of std ``sigma`` pixels, taken from ``reference``:
    both (B, 3, H, W).

    Why: a latent editor drifts in colour and brightness (StableSR corrects the same drift of its
    diffusion upscaler), while noise, blur, compression and pixelation leave an image's broad colours
    in place. The result keeps the edit's fine detail and the input's low frequencies; it also gives
    up the editor's repair of corruptions that live in the low frequencies (fog, brightness, snow).
    The difference ``reference - edited`` goes through a ``COLOUR_FIX_MEDIAN`` (3 x 3) median before
    the low-pass: impulse grains and the tails of heavy noise would otherwise move the broad colours
    they are averaged into (salt grains brighten them), while a drift, smooth by nature, passes the
    median as it is. The median holds nine shifted copies of the batch in memory for a moment.
    """
    height, width = edited.shape[-2:]
    kernel = min(2 * math.ceil(3 * sigma) + 1, 2 * min(height, width) - 1)  # reflect padding needs kernel // 2 < size
    difference = median_filter(reference.to(edited.device, edited.dtype) - edited, COLOUR_FIX_MEDIAN)
    return (edited + TF.gaussian_blur(difference, [kernel, kernel], [sigma, sigma])).clamp(0, 1)


def colour_fix(edited: torch.Tensor, reference: torch.Tensor, sigma: float) -> torch.Tensor:
    """The colour fix as the pipelines and the video layer apply it: :func:`keep_low_frequencies` with
    ``sigma`` pixels (0: off, ``edited`` as it is). Both (B, 3, H, W)."""
    return keep_low_frequencies(edited, reference, sigma) if sigma > 0 else edited


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


def diffusion_latents(vae_config, latents: torch.Tensor, image_latents: torch.Tensor, residual_target: bool) -> torch.Tensor:
    """VAE latents -> the diffused variable, given the input's ``image_latents``: what training
    noises and what sampling starts from (:func:`diffusion_offset`)."""
    return normalize_latents(vae_config, latents) - diffusion_offset(vae_config, image_latents, residual_target)


DenoisedTransform = Callable[[torch.Tensor, int], torch.Tensor]


def apply_denoised_transform(
    transform: DenoisedTransform, latents: torch.Tensor, denoised: torch.Tensor, alpha_previous: float, step_index: int,
    offset: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Edit the denoised estimate x0 of a step and move the next latents with it.

    Deterministic DDIM and LCM steps both form the next latents as sqrt(a_prev) * x0 + (noise part);
    keeping the noise part, a changed x0 moves the latents by sqrt(a_prev) * (x0' - x0). The
    transform sees image latents: the diffused estimate plus its ``offset`` (:func:`diffusion_offset`).
    """
    edited = transform(denoised + offset, step_index) - offset
    return latents + alpha_previous**0.5 * (edited - denoised), edited


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


# ---------------------------------------------------------------------------------------------
# Shared pipeline behaviour
# ---------------------------------------------------------------------------------------------


class DecorruptorMixin:
    """Settings, instruction embedding (text encoder or stored embeddings), VAE helpers, save/load
    of the stored embeddings. Mixed into ``DiffusionPipeline`` subclasses."""

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _optional_components = ["text_encoder", "tokenizer", "tone_corrector"]
    prompt_embeds: torch.Tensor | None = None
    negative_prompt_embeds: torch.Tensor | None = None
    kind: EditorKind

    def __init__(self, vae, unet, scheduler, text_encoder=None, tokenizer=None, tone_corrector=None,
                 settings: dict | None = None):  # fmt: skip
        super().__init__()
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
                              tone_corrector=tone_corrector)  # fmt: skip
        self.register_to_config(settings=dict(settings or {}))
        _ = self.settings  # a bad checkpoint setting fails at load, not at the first edit

    @property
    def settings(self) -> EditorSettings:
        """The checkpoint's settings: the published defaults with ``settings`` from ``model_index.json`` applied."""
        return EditorSettings().override(self.config.settings, self.kind, "the checkpoint's model_index.json settings")

    def grid_shift_ensemble(
        self, settings: EditorSettings, image: ImageInput, colour_reference: torch.Tensor | None, return_dict: bool,
        **kwargs,
    ):  # fmt: skip
        """Edit ``settings.grid_shifts`` copies of the images shifted by half a latent pixel and average them.

        Why: a latent edit's errors follow the autoencoder's patch grid (a patch code's error is a
        block), and a one-step edit is one draw of noise; shifted copies put the seams elsewhere and
        draw new noise, and their mean is the better estimate. The colour fix and the tone
        correction run once, on the mean.
        """
        images, kind = images_to_tensor(image)
        check_colour_reference(colour_reference, images)
        single = settings.replace(grid_shifts=1, colour_fix_sigma=0.0, tone_correction=False)
        edit = lambda copy, _: self(image=copy, settings=single, **kwargs).images  # noqa: E731
        mean = grid_shift_mean(edit, images, settings.grid_shifts, self.vae_scale_factor)
        reference = images if colour_reference is None else colour_reference
        return self._output(mean, reference, settings, tuple(images.shape[-2:]), kind, return_dict)

    @property
    def vae_scale_factor(self) -> int:
        return vae_downsampling(self.vae.config)

    def prepare_images(
        self, image: ImageInput, generator, shared_noise: bool, colour_reference: torch.Tensor | None
    ):  # fmt: skip
        """Check a call's inputs; return the images padded to the VAE factor (B, 3, H', W'), their
        kind, their size before padding and the colour fix's reference, padded alike (the images
        themselves unless ``colour_reference`` is given)."""
        images, kind = images_to_tensor(image)
        batch = images.shape[0]
        if isinstance(generator, list) and len(generator) != batch and not shared_noise:
            raise ValueError(f"got {len(generator)} generators for a batch of {batch} images")
        check_colour_reference(colour_reference, images)
        padded = pad_to_multiple(images, self.vae_scale_factor)
        reference = padded if colour_reference is None else pad_to_multiple(colour_reference.to(images), self.vae_scale_factor)
        return padded, kind, tuple(images.shape[-2:]), reference

    def diffusion_offset(self, image_latents: torch.Tensor) -> torch.Tensor:
        """See :func:`diffusion_offset`; ``residual_target`` is a setting of the checkpoint (``model_index.json``)."""
        return diffusion_offset(self.vae.config, image_latents, self.settings.residual_target)

    def prepare_noise(self, image_latents: torch.Tensor, generator, shared_noise: bool, start_from_image: bool):
        """Initial latents and the generator(s) for the per-step noise; with ``shared_noise`` every
        image of the batch draws the same noise throughout.

        With ``start_from_image`` the initial latents are what training showed the UNet at the first
        timestep: sqrt(a_T) * x0 + sqrt(1 - a_T) * noise, with the input image's own (normalised)
        latents standing in for x0 (:func:`diffusion_latents`: zero for a residual-target
        checkpoint, whose best guess without the UNet is "no change"). Stable Diffusion's schedule
        keeps a terminal SNR of a_T = 0.0047 at t = 999, and a UNet trained on it takes the low
        frequencies (colour, brightness) from that leftover signal; pure noise has none (a small
        model benefits; the published pipelines start from pure noise). For a residual-target
        checkpoint the start is pure noise scaled by sqrt(1 - a_T).
        """
        noise_generator = shared_generators(generator, image_latents.shape[0]) if shared_noise else generator
        noise = randn_tensor(image_latents.shape, generator=noise_generator, device=self._execution_device, dtype=self.unet.dtype)
        if not start_from_image:
            return noise * self.scheduler.init_noise_sigma, noise_generator
        alpha = self.scheduler.alphas_cumprod[int(self.scheduler.timesteps[0])].to(noise.device, noise.dtype)
        signal = diffusion_latents(self.vae.config, image_latents, image_latents, self.settings.residual_target).to(noise.dtype)
        return alpha.sqrt() * signal + (1 - alpha).sqrt() * noise, noise_generator

    def instruction_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt, null prompt) embeddings (1, L, D), encoded once and cached."""
        if self.prompt_embeds is None:
            if self.text_encoder is None or self.tokenizer is None:
                raise ValueError(
                    f"this checkpoint has neither a text encoder and tokenizer nor a stored {PROMPT_EMBEDS_FILE}"
                )
            self.prompt_embeds = self._encode_text(INSTRUCTION)
            self.negative_prompt_embeds = self._encode_text("")
        device, dtype = self._execution_device, self.unet.dtype
        return self.prompt_embeds.to(device, dtype), self.negative_prompt_embeds.to(device, dtype)

    def _encode_text(self, text: str) -> torch.Tensor:
        tokens = self.tokenizer(
            text, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        )  # fmt: skip
        with torch.no_grad():
            encoded = self.text_encoder(tokens.input_ids.to(self.text_encoder.device))[0]
        return encoded.float().cpu()

    def encode_image_latents(self, images: torch.Tensor) -> torch.Tensor:
        """Conditioning latents: the posterior mode, *unscaled* (the published asymmetry)."""
        vae_input = (images * 2 - 1).to(self._execution_device, self.vae.dtype)
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
            {"prompt_embeds": prompt.float().cpu().contiguous(), "negative_prompt_embeds": negative.float().cpu().contiguous()},
            str(Path(save_directory) / PROMPT_EMBEDS_FILE),
        )  # fmt: skip

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> "DiffusionPipeline":
        pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        stored = Path(pretrained_model_name_or_path) / PROMPT_EMBEDS_FILE
        if stored.is_file():
            tensors = load_file(str(stored))
            pipe.prompt_embeds = tensors["prompt_embeds"]
            pipe.negative_prompt_embeds = tensors["negative_prompt_embeds"]
        return pipe

    def correct_tone(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] through the checkpoint's tone corrector
        (:mod:`image_core.editor.tone`); unchanged where the checkpoint has none."""
        if self.tone_corrector is None:
            return images
        return self.tone_corrector.correct(images.to(self.tone_corrector.device))

    def _output(
        self, decoded: torch.Tensor, reference: torch.Tensor, settings: EditorSettings, size: tuple[int, int], kind: str,
        return_dict: bool,
    ):  # fmt: skip
        """The settings' post-processing: colour fix against the (padded) ``reference``, crop back to
        ``size``, correct the tone (if asked and the checkpoint has a corrector; on the cropped image,
        whose statistics it reads), convert to ``kind``."""
        images = colour_fix(decoded, reference, settings.colour_fix_sigma)[..., : size[0], : size[1]]
        images = tensor_to_images(self.correct_tone(images) if settings.tone_correction else images, kind)
        self.maybe_free_model_hooks()
        return EditorOutput(images=images) if return_dict else (images,)
