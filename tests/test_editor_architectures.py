import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from image_core.editor import DecorruptorCMPipeline, DecorruptorDPMPipeline, load_editor
from image_core.editor.architectures import ARCHITECTURES, create_editor


def test_sd15_geometry_matches_stable_diffusion_1_5():
    sd15 = ARCHITECTURES["sd15"]
    with torch.device("meta"):
        unet = UNet2DConditionModel(**sd15.unet)
    # SD 1.5's UNet has 859.52M parameters; 4 more input channels add 4 * 320 * 9 weights.
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964 + 4 * 320 * 9
    assert sd15.vae["scaling_factor"] == 0.18215 and sd15.vae_scale_factor == 8


@pytest.mark.parametrize("cm", [True, False])
def test_tiny_architecture_builds_a_working_pipeline(cm):
    pipe = create_editor("tiny", cm=cm, seed=1)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe, DecorruptorCMPipeline if cm else DecorruptorDPMPipeline)
    assert pipe.vae_scale_factor == 4 and pipe.vae.config.latent_channels == 20
    assert sum(p.numel() for p in pipe.unet.parameters()) < 8_000_000
    out = pipe(image=np.zeros((1, 40, 36, 3), np.uint8), num_inference_steps=2).images
    assert out.shape == (1, 40, 36, 3)


def test_create_editor_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown editor architecture 'sdxl'; allowed: tiny, sd15"):
        create_editor("sdxl", cm=True)


def test_load_editor_channels_last_and_dtype(tmp_path):
    create_editor("tiny", cm=True).save_pretrained(tmp_path)
    pipe = load_editor(tmp_path, device="cpu", dtype=torch.bfloat16, channels_last=True)
    weight = pipe.unet.conv_in.weight
    assert weight.dtype == torch.bfloat16 and weight.is_contiguous(memory_format=torch.channels_last)
    pipe.set_progress_bar_config(disable=True)
    assert pipe(image=np.zeros((1, 32, 32, 3), np.uint8), num_inference_steps=1).images.shape == (1, 32, 32, 3)
