"""One entry point for every Decorruptor checkpoint: local folders, hub ids, the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import DDIMScheduler, LCMScheduler

from image_core.editor.latents import NOISE_SCHEDULE_KEYS
from image_core.editor.pipeline_cm import DecorruptorCMPipeline
from image_core.editor.pipeline_dpm import DecorruptorDPMPipeline
from image_core.editor.settings import EditorKind, EditorSettings

EditorPipeline = DecorruptorCMPipeline | DecorruptorDPMPipeline

# The embedded Decorruptor-Tiny lives here once trained (see the training issue); CM is the default.
EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "weights"
EMBEDDED_DEFAULT = EMBEDDED_DIR / "decorruptor-tiny-cm"


def resolve_checkpoint(path_or_id: str | Path | None) -> Path:
    """A local checkpoint folder for a path, a hub id (downloaded when online) or None (embedded)."""
    if path_or_id is None:
        if not (EMBEDDED_DEFAULT / "model_index.json").is_file():
            raise FileNotFoundError(
                f"the embedded Decorruptor-Tiny is not in this installation ({EMBEDDED_DEFAULT} is missing); "
                "pass the path of a checkpoint folder"
            )
        return EMBEDDED_DEFAULT
    local = Path(path_or_id).expanduser()
    if local.is_dir():
        if not (local / "model_index.json").is_file():
            raise FileNotFoundError(f"{local} is a folder but not a diffusers checkpoint (no model_index.json)")
        return local
    if local.exists() or str(path_or_id).count("/") != 1 or str(path_or_id).startswith((".", "/", "~")):
        raise FileNotFoundError(f"checkpoint folder not found: {path_or_id}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path_or_id)))
    except Exception as error:  # any hub failure (offline, unknown repo, auth) gets the same plain answer
        raise FileNotFoundError(
            f"checkpoint {path_or_id!r} was not found locally and could not be fetched from the Hugging Face "
            f"Hub ({type(error).__name__}); pass the path of a local checkpoint folder"
        ) from error


def _variant(folder: Path) -> str | None:
    """'fp16' when the UNet ships only fp16 variant weights (as the released repos do)."""
    unet = folder / "unet"
    if any(unet.glob("diffusion_pytorch_model.safetensors")) or any(unet.glob("diffusion_pytorch_model.bin")):
        return None
    return "fp16" if any(unet.glob("diffusion_pytorch_model.fp16.*")) else None


def published_ddim(scheduler_config: dict) -> DDIMScheduler:
    """The DPM sampler the published code builds: DDIM with ``clip_sample`` and ``set_alpha_to_one``
    off, whatever the folder's scheduler config says about them.

    A DDIM config (the project's checkpoints) is kept otherwise (its prediction type and timestep
    spacing are how the model was trained). Any other config (the released folders carry a PNDM
    config) gives only its noise schedule; the rest are DDIM's defaults, as in the published code:
    built from a PNDM config, DDIM would inherit its ``steps_offset`` and, lacking ``clip_sample``,
    clip the denoised latents to [-1, 1].
    """
    if scheduler_config.get("_class_name") == "DDIMScheduler":
        return DDIMScheduler.from_config(scheduler_config, clip_sample=False, set_alpha_to_one=False)
    schedule = {key: scheduler_config[key] for key in NOISE_SCHEDULE_KEYS if key in scheduler_config}
    return DDIMScheduler(**schedule, clip_sample=False, set_alpha_to_one=False)


def read_config(path: Path) -> dict:
    """A checkpoint's JSON file as a dict; one line naming the file and the JSON error if it is not valid JSON."""
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not valid JSON: not UTF-8 text") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not valid JSON for a checkpoint: expected an object, got {type(config).__name__}")
    return config


def checkpoint_kind(folder: Path) -> EditorKind:
    """'cm' for a UNet with a guidance embedding (``time_cond_proj_dim``), else 'dpm'."""
    unet_config = read_config(folder / "unet" / "config.json")
    return "cm" if unet_config.get("time_cond_proj_dim") is not None else "dpm"


def checkpoint_settings(path_or_id: str | Path | None = None) -> tuple[EditorSettings, EditorKind]:
    """A checkpoint's editor settings and kind, read from its files without loading any weights."""
    folder = resolve_checkpoint(path_or_id)
    stored = read_config(folder / "model_index.json").get("settings")  # first: a broken index is named as such
    kind = checkpoint_kind(folder)
    return EditorSettings().override(stored, kind, f"{folder / 'model_index.json'} settings"), kind


def load_editor(
    path_or_id: str | Path | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    channels_last: bool = True,
    compile: bool = False,
) -> EditorPipeline:
    """Load a Decorruptor checkpoint as the right pipeline.

    A UNet with ``time_cond_proj_dim`` is a consistency student (CM pipeline, the folder's LCM
    scheduler); otherwise it is the DPM teacher (the published DDIM, :func:`published_ddim`). The
    editor's settings are the published ones unless the folder's ``model_index.json`` records its
    own under ``settings`` (:class:`~image_core.editor.settings.EditorSettings`).

    Args:
        path_or_id: a local diffusers folder (released ``DeCorruptor-DPM`` / ``-CM`` layout), a hub id
            (needs a connection), or None for the embedded Decorruptor-Tiny.
        device: default CUDA when available, else CPU.
        dtype: default float16 on CUDA, float32 on CPU.
        channels_last, compile: the fast path (:func:`speed_up`); the first batch of each shape
            compiles, the later ones run the compiled kernels.

    Raises:
        FileNotFoundError: the checkpoint cannot be found locally or fetched.
        ValueError: a setting in its ``model_index.json`` is unknown, of the wrong type or out of range.
    """
    folder = resolve_checkpoint(path_or_id)
    checkpoint_settings(folder)  # a bad setting fails before any weights load
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    is_cm = checkpoint_kind(folder) == "cm"
    pipeline_class = DecorruptorCMPipeline if is_cm else DecorruptorDPMPipeline
    scheduler_config = read_config(folder / "scheduler" / "scheduler_config.json")
    scheduler = LCMScheduler.from_config(scheduler_config) if is_cm else published_ddim(scheduler_config)
    pipe = pipeline_class.from_pretrained(folder, scheduler=scheduler, dtype=dtype, variant=_variant(folder))
    pipe.to(device)
    speed_up(pipe, channels_last=channels_last, compile=compile)
    return pipe


def speed_up(pipe: EditorPipeline, channels_last: bool = True, compile: bool = False) -> None:
    """Put a loaded pipeline on the fast path, in place; its outputs stay those of the plain one up
    to rounding. Shared by :func:`load_editor` and the speed benchmarks, so that what they time is
    what users run.

    Args:
        channels_last: the UNet and the autoencoder in channels-last memory format, the layout
            cuDNN's and oneDNN's convolutions prefer.
        compile: ``torch.compile`` the UNet. On CUDA with CUDA graphs (mode ``reduce-overhead``): a
            small UNet at a small batch waits on hundreds of kernel launches per step, which one
            graph replay replaces. On CPU with inductor's default mode, which fuses the element-wise
            work between convolutions; on two cores the convolutions dominate and the compiled UNet
            is about as fast as the eager one, so the command line leaves it off there. Shapes are
            static: the last, shorter batch of a video compiles once more.
    """
    if channels_last:
        for module in (pipe.unet, pipe.vae):
            module.to(memory_format=torch.channels_last)
    if compile:
        mode = "reduce-overhead" if pipe.unet.device.type == "cuda" else None
        pipe.unet.compile(mode=mode, dynamic=False)
