"""The tone corrector: its features and map, its training, and where the pipelines and the video
layer apply it (tiny random components; the shipped corrector in test_embedded_editor.py)."""

import json

import numpy as np
import pytest
import torch
from tiny_editor import tiny_pipeline

from image_core.editor import ToneCorrector, load_editor
from image_core.editor.images import tensor_to_images
from image_core.editor.tone import FEATURE_SIDE, QUANTILES, apply_tone, tone_features
from image_core.training.common import load_config
from image_core.training.tone import ToneConfig, ToneObjective, build_tone_bank, train_tone
from video_decorruptor.restore.restorer import VideoDecorruptor


def photo_like(batch=2, size=48, seed=0) -> torch.Tensor:
    """Smooth random images (B, 3, S, S) in [0.1, 0.9]."""
    noise = torch.rand(batch, 3, size // 8, size // 8, generator=torch.Generator().manual_seed(seed))
    return 0.1 + 0.8 * torch.nn.functional.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)


def constant_corrector(gain: float, offset: float, cap_to_range: bool = False) -> ToneCorrector:
    """A corrector that always answers ``gain`` and ``offset`` (capped, with ``cap_to_range``)."""
    corrector = ToneCorrector(hidden=8, cap_to_range=cap_to_range)
    with torch.no_grad():
        corrector.net[-1].bias.copy_(torch.tensor([np.log(gain)] * 3 + [offset] * 3))
    return corrector


def test_features_read_the_spread_and_clipping_and_large_images_are_read_downsized():
    images = photo_like()
    features = tone_features(images)
    assert features.shape == (2, 4 * len(QUANTILES) + 12) and torch.isfinite(features).all()
    flat = tone_features(apply_tone(images, torch.full((2, 3), 0.2), torch.zeros(2, 3)))
    last = 2 * len(QUANTILES)  # the last channel's quantiles start here
    spread = lambda f: f[:, last + QUANTILES.index(0.99)] - f[:, last + QUANTILES.index(0.01)]  # noqa: E731
    assert (spread(flat) < 0.25 * spread(features)).all()
    assert (features[:, -6:] == 0).all()  # nothing clipped in [0.1, 0.9]
    bright = tone_features((images + 0.5).clamp(0, 1))
    assert (bright[:, -6:-3] > 0.1).all()  # values pushed to 1 count as clipped high
    large = torch.nn.functional.interpolate(images, size=(4 * FEATURE_SIDE, 2 * FEATURE_SIDE), mode="nearest")
    torch.testing.assert_close(tone_features(large)[:, -12:-6], features[:, -12:-6], atol=0.02, rtol=0)


def test_apply_tone_is_identity_at_gain_one_and_undoes_a_contrast_drop_around_the_mean():
    images = photo_like()
    ones, zeros = torch.ones(2, 3), torch.zeros(2, 3)
    torch.testing.assert_close(apply_tone(images, ones, zeros), images)
    mean = images.mean((1, 2, 3), keepdim=True)
    flattened = mean + 0.25 * (images - mean)  # contrast lowered towards the grey mean (torchvision's)
    torch.testing.assert_close(apply_tone(flattened, 4 * ones, zeros), images, atol=1e-5, rtol=0)
    assert apply_tone(images, 10 * ones, zeros).min() >= 0 and apply_tone(images, 10 * ones, zeros).max() <= 1


def test_the_gain_cap_keeps_a_stretch_inside_the_range_and_never_lowers_contrast():
    images = photo_like()
    flattened = apply_tone(images, torch.full((2, 3), 0.3), torch.zeros(2, 3))
    capped = constant_corrector(10.0, 0.0, cap_to_range=True)
    gain, _ = capped(flattened)
    assert (gain < 10).all() and (gain >= 1).all()
    stretched = capped.correct(flattened)
    assert stretched.amax((2, 3)).max() <= 1 and (stretched == 0).float().mean() < 0.01  # nothing pushed out
    assert torch.equal(constant_corrector(0.5, 0.0, cap_to_range=True)(images)[0], torch.full((2, 3), 0.5))


def test_the_bank_can_hold_only_inputs_the_tone_gate_lets_through(tmp_path):
    config = load_config(ToneConfig, None, TINY + ["max_input_range=0.3"])
    bank = build_tone_bank(config, tmp_path / "bank.safetensors")
    assert len(bank) == 24
    count = len(QUANTILES)
    grey = bank.tensors["features"][:, 3 * count : 4 * count]  # the grey image's quantiles follow the channels'
    assert (grey[:, QUANTILES.index(0.99)] - grey[:, QUANTILES.index(0.01)] <= 0.31).all()


def test_an_untrained_corrector_is_the_identity_and_survives_a_save_and_load(tmp_path):
    images = photo_like()
    torch.testing.assert_close(ToneCorrector().correct(images), images)
    corrector = constant_corrector(2.0, 0.05)
    corrector.feature_mean.fill_(0.3)
    corrector.save_pretrained(tmp_path)
    loaded = ToneCorrector.from_pretrained(tmp_path)
    assert torch.equal(loaded.feature_mean, corrector.feature_mean)
    torch.testing.assert_close(
        loaded.correct(images), apply_tone(images, torch.full((2, 3), 2.0), torch.full((2, 3), 0.05))
    )


TINY = [
    "bank_size=24",
    "crop_sizes=[64]",
    "pixels_per_image=64",
    "batch_size=8",
    "num_workers=0",
    "warmup_steps=2",
    "log_every=2",
    "checkpoint_every=3",
    "learning_rate=3e-3",
]


def test_the_objective_learns_a_fixed_batch_and_the_bank_is_cached_per_recipe(tmp_path):
    config = load_config(ToneConfig, None, TINY + ["tone_probability=1.0"])
    bank = build_tone_bank(config, tmp_path / "bank.safetensors")
    assert len(bank) == 24 and bank.tensors["inputs"].shape == (24, 64, 3)
    assert (bank.tensors["inputs"] != bank.tensors["targets"]).any(dim=(1, 2)).float().mean() > 0.8  # nearly all toned
    assert build_tone_bank(config, tmp_path / "bank.safetensors").tensors["inputs"].equal(bank.tensors["inputs"])
    other = build_tone_bank(
        load_config(ToneConfig, None, TINY + ["tone_probability=0.0"]), tmp_path / "bank.safetensors"
    )
    assert other.tensors["inputs"].equal(other.tensors["targets"])  # another recipe rebuilds: no tone, no change

    corrector = ToneCorrector(hidden=32)
    corrector.standardise_on(bank.tensors["features"])
    objective = ToneObjective(corrector, config.loss_floor)
    batch = tuple(torch.stack(column) for column in zip(*(bank[i] for i in range(16))))
    optimizer = torch.optim.Adam(corrector.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss = objective(batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.2  # log10 MSE: more than 2 dB better


def test_training_resumes_exactly_exports_and_attaches_to_a_pipeline(tmp_path):
    def train(output_dir, max_steps):
        torch.manual_seed(0)
        config = load_config(ToneConfig, None, TINY + [f"output_dir={output_dir}", f"max_steps={max_steps}"])
        return train_tone(config)

    straight = ToneCorrector.from_pretrained(train(tmp_path / "straight", 6))
    train(tmp_path / "split", 3)
    resumed = ToneCorrector.from_pretrained(train(tmp_path / "split", 6))
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)

    pipe = tiny_pipeline(cm=True)
    pipe.save_pretrained(tmp_path / "cm")
    config = load_config(
        ToneConfig, None, TINY + [f"output_dir={tmp_path}/tone", "max_steps=2", f"attach_to=[{tmp_path}/cm]"]
    )
    train_tone(config)
    assert json.loads((tmp_path / "cm" / "model_index.json").read_text())["tone_corrector"] == [
        "image_core.editor.tone",
        "ToneCorrector",
    ]
    loaded = load_editor(tmp_path / "cm", device="cpu")
    assert isinstance(loaded.tone_corrector, ToneCorrector)


@pytest.mark.parametrize("cm", [True, False], ids=["cm", "dpm"])
def test_a_pipeline_corrects_the_tone_before_the_edit_and_after_the_grid_shift_mean_and_only_if_asked(cm):
    pipe = tiny_pipeline(cm=cm)
    images = photo_like(2, 37)
    kwargs = {"num_inference_steps": 1}
    with_tone = pipe.settings.replace(grid_shifts=2, tone_correction=True)
    without = with_tone.replace(tone_correction=False)
    gain, offset = torch.full((2, 3), 1.5), torch.full((2, 3), -0.02)
    plain = pipe(image=images, generator=torch.Generator().manual_seed(0), settings=with_tone, **kwargs).images
    pipe.register_modules(tone_corrector=constant_corrector(1.5, -0.02))
    try:
        corrected = pipe(image=images, generator=torch.Generator().manual_seed(0), settings=with_tone, **kwargs).images
        skipped = pipe(image=images, generator=torch.Generator().manual_seed(0), settings=without, **kwargs).images
    finally:
        pipe.register_modules(tone_corrector=None)
    # the edit (both grid-shifted copies and the colour fix's reference) sees the corrected input,
    # and the mean is corrected once more
    edited = pipe(
        image=apply_tone(images, gain, offset), generator=torch.Generator().manual_seed(0), settings=without, **kwargs
    ).images
    torch.testing.assert_close(corrected, apply_tone(edited, gain, offset), atol=1e-5, rtol=0)
    torch.testing.assert_close(skipped, plain)


def test_the_video_layer_corrects_the_tone_before_the_fusion_and_the_edit_and_after_with_a_steady_estimate():
    pipe = tiny_pipeline(cm=True)
    frames = (photo_like(5, 32).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    settings = {"batch_size": 2, "num_inference_steps": 1, "progress": False, "tone_correction": True}
    plain = VideoDecorruptor(pipe, **settings).restore_frames(frames)
    pipe.register_modules(tone_corrector=constant_corrector(1.5, 0.0))
    try:
        corrected = VideoDecorruptor(pipe, **settings).restore_frames(frames)
        skipped = VideoDecorruptor(pipe, **{**settings, "tone_correction": False}).restore_frames(frames)
    finally:
        pipe.register_modules(tone_corrector=None)
    assert np.array_equal(skipped, plain)
    # a constant estimate stays constant through the smoothing along time: every frame gets gain 1.5
    # before the fusion and the edit, and again after them
    as_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    gain, offset = torch.full((5, 3), 1.5), torch.zeros(5, 3)
    toned = tensor_to_images(apply_tone(as_tensor(frames), gain, offset), "numpy")
    edited = VideoDecorruptor(pipe, **{**settings, "tone_correction": False}).restore_frames(toned)
    expected = apply_tone(as_tensor(edited), gain, offset)
    assert (as_tensor(corrected) - expected).abs().max() < 3 / 255  # the edited frames were rounded to uint8 first
