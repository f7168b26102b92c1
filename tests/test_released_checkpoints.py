"""A released-layout folder gets the published pipeline: checked against diffusers' own pipeline and
against reference loops written here from diffusers' schedulers, on a tiny random replica of the
released layout (CLIP text encoder, AutoencoderKL, fp16 variant files, PNDM / LCM configs, no
settings of ours), float32 on CPU. Also the published video preset and the settings' bad inputs."""

import json

import numpy as np
import pytest
import torch
from conftest import moving_clip
from diffusers import (
    DDIMScheduler,
    LatentConsistencyModelPipeline,
    LCMScheduler,
    PNDMScheduler,
    StableDiffusionInstructPix2PixPipeline,
)
from tiny_editor import SD_BETAS, tiny_pipeline, write_released_layout

from image_core.editor import INSTRUCTION, load_editor
from image_core.editor.loading import published_ddim
from image_core.editor.settings import EditorSettings
from video_decorruptor.io import read_video, write_video
from video_decorruptor.restore.consistency import AnchorAttentionProcessor, AnchorState
from video_decorruptor.restore.presets import PRESETS
from video_decorruptor.restore.restorer import VideoDecorruptor

# The published DPM sampler, as the published code builds it.
PUBLISHED_DDIM = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
}


@pytest.fixture(scope="module")
def released(tmp_path_factory, request):
    """{'dpm': folder, 'cm': folder}: tiny replicas of DeCorruptor-DPM / -CM."""
    base = tmp_path_factory.mktemp("released")
    return {kind: write_released_layout(base / kind, cm=kind == "cm") for kind in ("dpm", "cm")}


@pytest.fixture(scope="module")
def dpm(released):
    pipe = load_editor(released["dpm"], device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def cm(released):
    pipe = load_editor(released["cm"], device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def photo_tensor(seed: int = 0) -> torch.Tensor:
    """(1, 3, 32, 32) float in [0, 1]: a crop of a real photo, so the VAE sees structure."""
    return torch.from_numpy(moving_clip(1, 32, 32, seed=seed)[0]).permute(2, 0, 1)[None].float() / 255


def encode_prompt(pipe, text: str) -> torch.Tensor:
    tokens = pipe.tokenizer(
        text, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    return pipe.text_encoder(tokens.input_ids)[0]


def test_a_released_folder_gets_the_published_settings_and_scheduler(dpm, cm):
    for pipe in (dpm, cm):
        assert pipe.settings == EditorSettings()
        assert (
            not pipe.settings.start_from_image
            and pipe.settings.colour_fix_sigma == 0
            and not pipe.settings.tone_correction
        )
        assert pipe.settings.grid_shifts == 1 and pipe.tone_corrector is None
    assert (dpm.settings.steps("dpm"), cm.settings.steps("cm")) == (20, 4)
    assert (dpm.settings.image_guidance("dpm"), cm.settings.image_guidance("cm")) == (1.8, 1.3)
    assert isinstance(dpm.scheduler, DDIMScheduler) and isinstance(cm.scheduler, LCMScheduler)
    assert not dpm.scheduler.config.clip_sample and not dpm.scheduler.config.set_alpha_to_one


def test_the_dpm_scheduler_is_the_published_ddim_whatever_the_config_says_about_clipping():
    pndm = dict(PNDMScheduler(**SD_BETAS, skip_prk_steps=True, steps_offset=1).config)
    for key in ("clip_sample", "set_alpha_to_one"):  # a PNDM config saved by diffusers has neither
        pndm.pop(key, None)
    scheduler = published_ddim(pndm)
    published = DDIMScheduler(**PUBLISHED_DDIM)
    assert scheduler.config.clip_sample is False and scheduler.config.set_alpha_to_one is False
    assert scheduler.config.steps_offset == 0  # not the PNDM config's 1
    for steps in (4, 20):
        scheduler.set_timesteps(steps)
        published.set_timesteps(steps)
        assert torch.equal(scheduler.timesteps, published.timesteps)
    clipping_ddim = {**dict(DDIMScheduler(**SD_BETAS, prediction_type="v_prediction").config), "clip_sample": True}
    kept = published_ddim(clipping_ddim)  # the project's own DDIM config keeps its prediction type, never clips
    assert kept.config.prediction_type == "v_prediction" and kept.config.clip_sample is False


def test_dpm_with_constant_image_guidance_equals_diffusers_instruct_pix2pix(dpm):
    image = photo_tensor()
    reference = StableDiffusionInstructPix2PixPipeline(
        vae=dpm.vae,
        text_encoder=dpm.text_encoder,
        tokenizer=dpm.tokenizer,
        unet=dpm.unet,
        scheduler=dpm.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    reference.set_progress_bar_config(disable=True)
    expected = reference(
        prompt=INSTRUCTION,
        image=image,
        num_inference_steps=5,
        guidance_scale=7.5,
        image_guidance_scale=1.5,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
    ).images
    ours = dpm(
        image=image,
        num_inference_steps=5,
        image_guidance_scale=1.5,
        generator=torch.Generator().manual_seed(0),
        settings=dpm.settings.replace(image_guidance_decay=False),
    ).images
    assert (ours - expected).abs().max() <= 1e-3
    assert (expected - image).abs().max() > 0.05  # a real edit, not two copies of the input


@torch.no_grad()
def test_dpm_with_the_published_schedule_equals_a_ddim_reference_loop(dpm):
    image, steps = photo_tensor(1), 6
    scheduler = DDIMScheduler(**PUBLISHED_DDIM)
    scheduler.set_timesteps(steps)
    prompt, null = encode_prompt(dpm, INSTRUCTION), encode_prompt(dpm, "")
    text = torch.cat([prompt, null, null])
    image_latents = dpm.vae.encode(image * 2 - 1).latent_dist.mode()  # unscaled
    condition = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
    generator = torch.Generator().manual_seed(3)
    latents = torch.randn(image_latents.shape, generator=generator) * scheduler.init_noise_sigma
    image_guidance = torch.linspace(1.8**2, 0, steps).sqrt()
    for i, t in enumerate(scheduler.timesteps):
        model_input = torch.cat([scheduler.scale_model_input(torch.cat([latents] * 3), t), condition], dim=1)
        text_image, null_image, null_null = dpm.unet(model_input, t, encoder_hidden_states=text).sample.chunk(3)
        guided = null_null + 7.5 * (text_image - null_image) + image_guidance[i] * (null_image - null_null)
        latents = scheduler.step(guided, t, latents).prev_sample
    expected = (dpm.vae.decode(latents / dpm.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
    ours = dpm(image=image, num_inference_steps=steps, generator=torch.Generator().manual_seed(3)).images
    assert (ours - expected).abs().max() <= 1e-3


@torch.no_grad()
def test_cm_equals_an_lcm_reference_loop(cm, released):
    image = photo_tensor(2)
    config = json.loads((released["cm"] / "scheduler" / "scheduler_config.json").read_text())
    scheduler = LCMScheduler.from_config(config)
    scheduler.set_timesteps(4)
    prompt = encode_prompt(cm, INSTRUCTION)
    image_latents = cm.vae.encode(image * 2 - 1).latent_dist.mode()
    dim = cm.unet.config.time_cond_proj_dim
    embed = LatentConsistencyModelPipeline.get_guidance_scale_embedding  # diffusers' own guidance embedding
    timestep_cond = embed(None, torch.tensor([7.5]), dim) * embed(None, torch.tensor([1.3]), dim)
    generator = torch.Generator().manual_seed(4)
    latents = torch.randn(image_latents.shape, generator=generator) * scheduler.init_noise_sigma
    calls = 0
    for t in scheduler.timesteps:
        output = cm.unet(
            torch.cat([latents, image_latents], 1), t, encoder_hidden_states=prompt, timestep_cond=timestep_cond
        ).sample
        calls += 1
        latents, denoised = scheduler.step(output, t, latents, generator=generator, return_dict=False)
    expected = (cm.vae.decode(denoised / cm.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
    ours = cm(image=image, generator=torch.Generator().manual_seed(4)).images
    assert calls == 4 and (ours - expected).abs().max() <= 1e-3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"colour_fix_sigma": "wide"}, "colour_fix_sigma must be a number, got 'wide'"),
        ({"grid_shifts": 3}, r"grid_shifts must be one of \(1, 2, 4\), got 3"),
        ({"inference_steps": 0}, "inference_steps must be >= 1, got 0"),
        ({"start_from_image": "yes"}, "start_from_image must be true or false"),
        ({"sharpen": True}, "unknown editor setting"),
        ({"image_guidance_decay": False}, "applies to DPM checkpoints only"),
    ],
)
def test_a_bad_setting_in_model_index_is_one_clear_error_before_any_weights_load(settings, message, tmp_path):
    folder = write_released_layout(tmp_path / "cm", cm=True)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "settings": settings}))
    with pytest.raises(ValueError, match=message) as error:
        load_editor(folder, device="cpu")
    assert "model_index.json settings" in str(error.value)


def test_a_call_argument_overrides_the_checkpoint_which_overrides_the_published_default():
    pipe = tiny_pipeline(cm=True)
    pipe.register_to_config(settings={"inference_steps": 2, "colour_fix_sigma": 1.0})
    calls: list[int] = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        pipe(image=photo_tensor())
        assert len(calls) == 2  # the checkpoint's
        calls.clear()
        pipe(image=photo_tensor(), num_inference_steps=3)
        assert len(calls) == 3  # the call's
    finally:
        handle.remove()
    assert pipe.settings.colour_fix_sigma == 1.0 and pipe.settings.guidance_scale == 7.5  # the published default


# ---------------------------------------------------------------------------------------------
# The published video preset
# ---------------------------------------------------------------------------------------------


def test_the_published_presets_attention_takes_keys_and_values_from_the_anchor_only():
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    hidden = torch.randn(6, 5, 8)  # 2 guidance groups of 3 frames, 5 tokens each; frame 0 of each group is the anchor
    processor = AnchorAttentionProcessor(AnchorState())
    processor.state.start_batch(3, [], recording=True, anchor_only=True)
    plain = AttnProcessor2_0()
    with torch.no_grad():
        out = processor(attn, hidden)
        for group in (0, 1):
            anchor = hidden[3 * group : 3 * group + 1]
            for index in range(3 * group, 3 * group + 3):
                torch.testing.assert_close(out[index], plain(attn, hidden[index : index + 1], anchor)[0])


def test_the_published_preset_edits_frame_0_plus_7_new_frames_per_chunk_with_the_seed_reset(monkeypatch):
    pipe = tiny_pipeline(cm=True)
    frames = np.stack([np.full((32, 32, 3), 10 * t, np.uint8) for t in range(20)])  # frame t has grey level 10 t
    seen, states = [], []
    original_call = type(pipe).__call__

    def spy(self, image, generator=None, **kwargs):
        seen.append([int(round(float(frame.mean()) * 255 / 10)) for frame in image])
        states.append(generator.get_state())
        return original_call(self, image=image, generator=generator, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    restorer = VideoDecorruptor(pipe, preset="published", size=64, progress=False)
    restored = restorer.restore_frames(frames)
    assert restored.shape == frames.shape  # written back at the input's size
    assert seen == [list(range(8)), [0, *range(8, 15)], [0, *range(15, 20)]]
    assert all(torch.equal(state, states[0]) for state in states)  # the same seed for every chunk
    assert restorer.video.fusion_radius == 0 and restorer.video.consistency.smoothing == 0
    assert restorer.editor_settings.image_guidance_scale == 1.8 and restorer.editor_settings.colour_fix_sigma == 0


def test_with_the_published_preset_a_frame_depends_on_itself_and_frame_0_only():
    pipe = tiny_pipeline(cm=True)
    clip = moving_clip(12, 32, 32)
    changed = clip.copy()
    changed[9] = 255 - changed[9]
    restore = lambda frames: VideoDecorruptor(pipe, preset="published", size=64, progress=False).restore_frames(frames)  # noqa: E731
    before, after = restore(clip), restore(changed)
    differs = [t for t in range(12) if not np.array_equal(before[t], after[t])]
    assert differs == [9]
    changed_anchor = clip.copy()
    changed_anchor[0] = 255 - changed_anchor[0]
    assert all(not np.array_equal(before[t], frame) for t, frame in enumerate(restore(changed_anchor)))


def test_every_option_overrides_the_preset_and_the_checkpoint():
    pipe = tiny_pipeline(cm=True)
    pipe.register_to_config(settings={"colour_fix_sigma": 2.0, "grid_shifts": 4})
    default = VideoDecorruptor(pipe, progress=False)
    assert (
        default.editor_settings.colour_fix_sigma == 2.0 and default.editor_settings.grid_shifts == 4
    )  # the checkpoint's
    published = VideoDecorruptor(pipe, preset="published", progress=False)
    assert (
        published.editor_settings.colour_fix_sigma == 0 and published.editor_settings.grid_shifts == 1
    )  # the preset's
    assert published.video == PRESETS["published"]
    overridden = VideoDecorruptor(
        pipe,
        preset="published",
        colour_fix_sigma=1.0,
        fusion_radius=1,
        batch_size=4,
        image_guidance_scale=1.1,
        progress=False,
    )
    assert overridden.editor_settings.colour_fix_sigma == 1.0 and overridden.editor_settings.image_guidance_scale == 1.1
    assert overridden.video.fusion_radius == 1 and overridden.video.batch_size == 4 and overridden.video.size == 512
    with pytest.raises(ValueError, match="unknown preset 'turbo'; known: default, published, fast"):
        VideoDecorruptor(pipe, preset="turbo")
    with pytest.raises(ValueError, match="applies to DPM checkpoints only"):
        VideoDecorruptor(pipe, image_guidance_decay=False)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        VideoDecorruptor(pipe, preset="published", batch_size=1)


def test_restore_cli_with_the_published_preset_on_a_released_replica(released, tmp_path, capsys):
    from video_decorruptor.cli import main

    source = tmp_path / "in.mp4"
    write_video(source, moving_clip(10, 24, 40), 25, lossless=True)
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "restore",
                str(source),
                "-o",
                str(out),
                "--model",
                str(released["cm"]),
                "--preset",
                "published",
                "--size",
                "64",
            ]
        )
        == 0
    )
    assert "restored 10 frames" in capsys.readouterr().out
    assert read_video(out)[0].shape == (10, 24, 40, 3)
    # A DPM-only option for a CM checkpoint: one line, exit 1, nothing written.
    before = set(tmp_path.iterdir())
    code = main(
        [
            "restore",
            str(source),
            "-o",
            str(tmp_path / "x.mp4"),
            "--model",
            str(released["cm"]),
            "--image-guidance-schedule",
            "constant",
        ]
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "applies to DPM checkpoints only" in lines[0]
    assert set(tmp_path.iterdir()) == before
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(source), "-o", str(tmp_path / "x.mp4"), "--preset", "turbo"])
    assert exit_info.value.code == 2 and "invalid choice: 'turbo'" in capsys.readouterr().err
    assert set(tmp_path.iterdir()) == before
