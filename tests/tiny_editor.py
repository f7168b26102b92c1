"""Tiny random editor components (diffusers test style) and a replica of the released folder layout."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, LCMScheduler, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from image_core.editor import DecorruptorCMPipeline, DecorruptorDPMPipeline

SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def tiny_unet(cm: bool) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=8,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        time_cond_proj_dim=24 if cm else None,
    )


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )


def tiny_text() -> tuple[CLIPTextModel, CLIPTokenizer]:
    torch.manual_seed(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({c: len(vocab) + i for i, c in enumerate(letters)})
    vocab.update({c + "</w>": len(vocab) + i for i, c in enumerate(letters)})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    config = CLIPTextConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(vocab),
        max_position_embeddings=16,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config).eval(), tokenizer


def tiny_pipeline(cm: bool, with_text_encoder: bool = True):
    text_encoder, tokenizer = tiny_text() if with_text_encoder else (None, None)
    scheduler = (
        LCMScheduler(**SD_BETAS, original_inference_steps=50)
        if cm
        else DDIMScheduler(**SD_BETAS, clip_sample=False, set_alpha_to_one=False)
    )
    pipeline_class = DecorruptorCMPipeline if cm else DecorruptorDPMPipeline
    pipe = pipeline_class(
        vae=tiny_vae(), unet=tiny_unet(cm), scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def write_released_layout(folder: Path, cm: bool) -> Path:
    """A folder laid out like Anonymous-12/DeCorruptor-DPM / -CM: StableDiffusionInstructPix2PixPipeline
    model_index, fp16 variant weights, CLIP text encoder and tokenizer, PNDM (DPM) or LCM (CM) scheduler."""
    text_encoder, tokenizer = tiny_text()
    tiny_unet(cm).half().save_pretrained(folder / "unet", variant="fp16")
    tiny_vae().half().save_pretrained(folder / "vae", variant="fp16")
    text_encoder.half().save_pretrained(folder / "text_encoder", variant="fp16")
    tokenizer.save_pretrained(folder / "tokenizer")
    CLIPImageProcessor().save_pretrained(folder / "feature_extractor")
    scheduler = LCMScheduler(**SD_BETAS) if cm else PNDMScheduler(**SD_BETAS, skip_prk_steps=True, steps_offset=1)
    scheduler.save_pretrained(folder / "scheduler")
    model_index = {
        "_class_name": "StableDiffusionInstructPix2PixPipeline",
        "_diffusers_version": "0.25.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", type(scheduler).__name__],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2))
    return folder
