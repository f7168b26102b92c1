"""The blind estimates, and every restoration stage stepping aside when they find nothing to fix."""

import cv2
import numpy as np
import pytest
import torch
from conftest import moving_clip

from image_core.editor import load_editor
from image_core.editor.estimates import impulse_share, noise_level, ramp, remove_impulses, tonal_range
from video_decorruptor.restore.restorer import VideoDecorruptor


def as_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


def noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).round().astype(np.uint8)


def rainy(frames: np.ndarray, drops: int = 40, seed: int = 0) -> np.ndarray:
    """Light streaks drawn afresh in every frame."""
    rng = np.random.default_rng(seed)
    out = frames.copy()
    height, width = frames.shape[1:3]
    for frame in out:
        for x, y in zip(rng.integers(0, width, drops).tolist(), rng.integers(-8, height, drops).tolist()):
            cv2.line(frame, (x, y), (x + 2, y + 12), (220, 220, 220), 1)
    return out


def salted(frames: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = frames.copy()
    hit = rng.random(frames.shape[:-1]) < share
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)[:, None]
    return out


def test_noise_level_reads_the_std_of_added_noise_and_little_on_clean_or_blurred_photos(photo):
    flat = np.full((2, 96, 96, 3), 128, np.uint8)
    for sigma in (5, 25):
        assert noise_level(as_tensor(noisy(flat, sigma))).numpy() == pytest.approx([sigma, sigma], rel=0.08)
    clean = as_tensor(photo[None])
    assert noise_level(clean).item() < 4
    blurred = torch.nn.functional.avg_pool2d(clean, 3, 1, 1)
    assert noise_level(blurred).item() < noise_level(clean).item()


def test_impulse_share_counts_salt_and_pepper_and_removal_touches_nothing_else(photo):
    clean = photo[None]
    assert impulse_share(as_tensor(clean)).item() == 0
    assert torch.equal(remove_impulses(as_tensor(clean)), as_tensor(clean))  # nothing found, nothing changed
    damaged = salted(clean, 0.04)
    # grains that land on a pixel already near their colour (pepper in a shadow) are not counted
    assert 0.025 < impulse_share(as_tensor(damaged)).item() <= 0.04
    repaired = remove_impulses(as_tensor(damaged))
    grains = (damaged != clean).any(-1)
    untouched = ~grains[0]
    assert torch.equal(repaired[0][:, untouched], as_tensor(damaged)[0][:, untouched])
    error = lambda a: float(((a - as_tensor(clean)) * 255).square().mean())  # noqa: E731
    assert error(repaired) < error(as_tensor(damaged)) / 20
    # Gaussian noise is not salt and pepper
    assert impulse_share(as_tensor(noisy(clean, 25))).item() < 0.002


def test_tonal_range_and_ramp(photo):
    clean = as_tensor(photo[None])
    flattened = 0.3 * (clean - clean.mean()) + clean.mean()
    assert tonal_range(flattened).item() == pytest.approx(0.3 * tonal_range(clean).item(), rel=0.05)
    values = torch.tensor([0.0, 5.0, 10.0, 20.0])
    assert ramp(values, 5, 15).tolist() == [0.0, 0.0, 0.5, 1.0]
    assert ramp(torch.tensor([0.2, 0.34, 0.5]), 0.38, 0.30).tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert ramp(values, 0, 0).tolist() == [1.0] * 4  # equal ends: always full strength


@pytest.fixture(scope="module")
def embedded() -> VideoDecorruptor:
    return VideoDecorruptor.from_pretrained(progress=False)


@pytest.mark.parametrize("preset", ["default", "fast"])
def test_a_clean_clip_comes_back_as_it_went_in(preset):
    clip = moving_clip(6, 96, 128)
    restorer = VideoDecorruptor.from_pretrained(progress=False, preset=preset)
    assert np.array_equal(restorer.restore_frames(clip), clip)
    found = restorer.explain()
    assert found["tone"] == found["fusion"] == found["outlier_removal"] == found["edit"] == 0


def test_blurred_and_compressed_clips_pass_through_the_embedded_model_untouched(embedded):
    clip = moving_clip(6, 96, 128)
    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in clip])
    assert np.array_equal(embedded.restore_frames(blurred), blurred)
    _, encoded = cv2.imencode(".jpg", clip[0], [cv2.IMWRITE_JPEG_QUALITY, 10])
    compressed = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)[None]
    assert np.array_equal(embedded.restore_frames(compressed), compressed)


def test_each_stage_acts_where_its_estimate_finds_damage(embedded):
    clip = moving_clip(6, 96, 128)
    restored = embedded.restore_frames(noisy(clip, 30))
    found = embedded.explain()
    assert found["noise"] == pytest.approx(30, rel=0.15) and found["fusion"] == 1 and found["edit"] == 1
    mse = lambda a: float(np.mean((a.astype(float) - clip) ** 2))  # noqa: E731
    assert mse(restored) < mse(noisy(clip, 30)) / 3

    salt = salted(clip, 0.04)
    restored = embedded.restore_frames(salt)
    assert embedded.explain()["impulses"] > 0.03 and embedded.explain()["edit"] == 0
    assert mse(restored) < mse(salt) / 20

    rain = rainy(clip)
    restored = embedded.restore_frames(rain)
    found = embedded.explain()
    assert found["outliers"] > 0.008 and found["outlier_removal"] == 1 and found["fusion"] == found["edit"] == 0
    assert mse(restored) < mse(rain) / 2

    mean = clip.mean()
    flat = np.clip((clip - mean) * 0.3 + mean, 0, 255).round().astype(np.uint8)
    restored = embedded.restore_frames(flat)
    assert embedded.explain()["tone"] == 1 and embedded.explain()["fusion"] == 0
    assert mse(restored) < mse(flat) / 2


def test_the_embedded_pipeline_leaves_a_clean_photo_as_it_is(photo):
    pipe = load_editor()
    pipe.set_progress_bar_config(disable=True)
    assert np.array_equal(pipe(image=photo[None], generator=torch.Generator().manual_seed(0)).images[0], photo)


def test_the_published_preset_and_a_released_folder_keep_every_stage_on():
    """The gates are the embedded checkpoint's settings: the published preset turns them off and a
    folder without them (a released checkpoint) runs every stage in full."""
    from image_core.editor.settings import EditorSettings

    published = EditorSettings()
    assert published.edit_noise_nothing == published.edit_noise_full == 0
    assert published.tone_range_nothing == published.tone_range_full == 0
    embedded = load_editor().settings
    assert embedded.edit_noise_full > embedded.edit_noise_nothing > 0
    restorer = VideoDecorruptor(load_editor(), preset="published", progress=False)
    assert restorer.editor_settings.edit_noise_nothing == restorer.editor_settings.edit_noise_full == 0
    assert restorer.video.impulse_share is restorer.video.fusion_outliers is None
