import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from image_core.corruption_modeling import (
    AUGMENTATIONS,
    CASES,
    CorruptionPairDataset,
    MixingBank,
    PairSampler,
    augment,
    pixmix,
    simsiam_view,
)
from image_core.procedural import dead_leaves, feature_pattern, frost_layer, ifs_fractal, plasma_fractal
from image_core.sources import CleanImageDataset, heldout_photos, random_crop, recolour, training_photos


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> MixingBank:
    return MixingBank(count=8, size=64, seed=0, cache_dir=tmp_path_factory.mktemp("bank"))


def test_mixing_bank_is_generated_once_cached_and_seeded(bank, tmp_path):
    pictures = np.array(bank.pictures)
    assert pictures.shape == (8, 64, 64, 3) and pictures.dtype == np.uint8
    assert bank.path.exists()
    mtime = bank.path.stat().st_mtime_ns
    again = MixingBank(count=8, size=64, seed=0, cache_dir=bank.path.parent)
    np.testing.assert_array_equal(again.pictures, pictures)
    assert bank.path.stat().st_mtime_ns == mtime  # loaded, not regenerated
    elsewhere = MixingBank(count=8, size=64, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(elsewhere.pictures, pictures)  # same seed, same pictures
    other_seed = MixingBank(count=8, size=64, seed=1, cache_dir=tmp_path)
    assert not np.array_equal(other_seed.pictures, pictures)
    assert not list(tmp_path.glob("*.tmp*"))


def test_mixing_pictures_are_colourful_and_fill_the_frame(bank):
    for index, picture in enumerate(bank.pictures):
        assert picture.std(axis=(0, 1)).mean() > 10, index  # not flat
        lit = (picture.max(axis=2) > 0).mean()
        assert lit > 0.05, index
    # colour: channels differ somewhere (not grayscale)
    assert all(np.abs(p[..., 0].astype(int) - p[..., 1]).mean() > 3 for p in bank.pictures)


def test_procedural_generators_are_seeded_and_in_range():
    for draw in (lambda r: ifs_fractal(48, r), lambda r: feature_pattern(48, r), lambda r: dead_leaves(48, r)):
        a, b = draw(np.random.default_rng(3)), draw(np.random.default_rng(3))
        np.testing.assert_array_equal(a, b)
        assert a.shape == (48, 48, 3) and a.dtype == np.uint8
    plasma = plasma_fractal(100, 2.0, np.random.default_rng(0))
    assert plasma.shape == (128, 128) and plasma.min() == 0 and plasma.max() == 1
    frost = frost_layer(40, 70, np.random.default_rng(0))
    assert frost.shape == (40, 70, 3) and 0 <= frost.min() and frost.max() <= 1


def test_dead_leaves_cover_the_canvas_with_many_colours():
    image = dead_leaves(128, np.random.default_rng(0))
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 500
    # No single colour (such as the background) covers more than a fifth of the image.
    _, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    assert counts.max() < 0.2 * 128 * 128


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_every_augmix_op_runs_and_keeps_the_range(name, photo):
    from PIL import Image

    out = np.asarray(AUGMENTATIONS[name](Image.fromarray(photo), 1.0, np.random.default_rng(0)))
    assert out.shape == photo.shape and out.dtype == np.uint8


def test_augment_and_simsiam_view_return_float_images_in_range(photo):
    rng = np.random.default_rng(0)
    for _ in range(20):
        for out in (augment(photo, rng), simsiam_view(photo, rng)):
            assert out.shape == photo.shape and out.dtype == np.float32
            assert 0 <= out.min() and out.max() <= 1


def test_pixmix_output_range_and_that_it_changes_the_image(bank, photo):
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(40):
        out = pixmix(photo, lambda r: bank.sample(96, r), rng)
        assert out.shape == (96, 96, 3) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1 and np.isfinite(out).all()
        changed += np.abs(out - photo / 255.0).mean() > 0.02
    assert changed >= 36


def test_pixmix_mixes_one_to_four_times(bank, photo):
    calls = []

    def counting_picture(rng):
        calls.append(1)
        return bank.sample(96, rng)

    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        calls.clear()
        pixmix(photo, counting_picture, rng, self_partner_probability=0.0)
        seen.add(len(calls))
    assert seen == {1, 2, 3, 4}


def test_pair_sampler_case_ratios_follow_the_weights(bank):
    sampler = PairSampler(bank)
    rng = np.random.default_rng(0)
    draws = [sampler.sample_case(rng) for _ in range(20_000)]
    freq = {case: draws.count(case) / len(draws) for case in CASES}
    assert freq["identity"] == pytest.approx(0.2, abs=0.015)
    assert freq["pixmix"] == pytest.approx(0.6, abs=0.015)
    assert freq["simsiam"] == pytest.approx(0.2, abs=0.015)
    assert freq["imagenet_c"] == 0  # the test set never reaches training by default
    assert freq["degradation"] == 0  # the published recipe; the project's training configs add it

    ablation = PairSampler(bank, case_weights={"identity": 1, "imagenet_c": 1})
    draws = [ablation.sample_case(rng) for _ in range(4000)]
    assert draws.count("imagenet_c") / len(draws) == pytest.approx(0.5, abs=0.03)
    assert set(draws) == {"identity", "imagenet_c"}


def test_pair_sampler_builds_each_case(bank, photo):
    rng = np.random.default_rng(0)
    for case in CASES:
        pair = PairSampler(bank, case_weights={case: 1})(photo, rng)
        assert pair.case == case
        np.testing.assert_allclose(pair.clean, photo / 255.0, atol=1e-6)
        assert pair.corrupted.shape == pair.clean.shape and pair.corrupted.dtype == np.float32
        if case == "identity":
            np.testing.assert_array_equal(pair.corrupted, pair.clean)


def test_degradation_model_damages_and_varies(photo):
    from image_core.degradations import DegradationModel, random_blur_kernel

    model = DegradationModel()
    outs = [model(photo, np.random.default_rng(seed)) for seed in range(12)]
    for out in outs:
        assert out.shape == photo.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    errors = [np.abs(out - photo / 255.0).mean() for out in outs]
    assert min(errors) > 0.005 and max(errors) > 2 * min(errors)
    np.testing.assert_array_equal(outs[3], model(photo, np.random.default_rng(3)))
    kernel = random_blur_kernel(np.random.default_rng(0), 3.0)
    assert kernel.shape[0] % 2 == 1 and abs(kernel.sum() - 1) < 1e-5


@pytest.fixture
def gentle():
    """A degradation model whose rounds barely touch the image: what a test adds on top stands out."""
    from image_core.degradations import DegradationModel

    return DegradationModel(
        blur_probability=(0, 0),
        scale_range=(1, 1),
        gaussian_sigma_range=(1, 1),
        poisson_peak_range=(1e4, 1e4),
        jpeg_quality_range=(95, 95),
        second_round_probability=0,
        final_noise_probability=0,
        video_codec_probability=0,
    )


def test_degradation_model_final_noise_is_heavy_and_full_resolution(photo, gentle):
    noisy = dataclasses.replace(gentle, final_noise_probability=1)
    clean = photo / 255.0
    for seed in range(6):
        base = np.abs(gentle(photo, np.random.default_rng(seed)) - clean).mean()
        heavy = noisy(photo, np.random.default_rng(seed))
        assert np.abs(heavy - clean).mean() > base + 0.01
        # i.i.d. at full resolution: neighbouring pixels' errors are nearly uncorrelated
        error = (heavy - clean).mean(axis=2)
        assert abs(np.corrcoef(error[:, :-1].ravel(), error[:, 1:].ravel())[0, 1]) < 0.3


def test_degradation_model_tone_stage_changes_the_global_tone(photo, gentle):
    from image_core.degradations import lower_contrast

    toned = dataclasses.replace(gentle, tone_probability=1)
    clean = photo / 255.0
    for seed in range(6):
        out = toned(photo, np.random.default_rng(seed))
        assert 0 <= out.min() and out.max() <= 1
        # a global change: the mean or the spread moves by far more than the gentle rounds' noise
        assert abs(out.mean() - clean.mean()) > 0.02 or abs(out.std() - clean.std()) > 0.02
    # the contrast kind keeps the grey mean and scales every deviation from it by the factor
    grey_mean = (clean @ np.array([0.299, 0.587, 0.114])).mean()
    flat = lower_contrast(clean.astype(np.float32), 0.3)
    np.testing.assert_allclose(flat - grey_mean, 0.3 * (clean - grey_mean), atol=1e-5)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"jpeg": 1}, r"unknown cases \['jpeg'\]; allowed: identity"),
        ({"identity": 0}, "positive sum"),
        ({"pixmix": -1}, ">= 0"),
    ],
)
def test_pair_sampler_rejects_bad_weights(bank, weights, message):
    with pytest.raises(ValueError, match=message):
        PairSampler(bank, case_weights=weights)


def test_clean_dataset_is_deterministic_per_seed_and_index():
    dataset = CleanImageDataset(size=64, length=10, seed=3)
    a, b = dataset[4], CleanImageDataset(size=64, length=10, seed=3)[4]
    assert a.shape == (3, 64, 64) and a.dtype == torch.float32
    assert 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(dataset[4], dataset[5])
    assert not torch.equal(dataset[4], CleanImageDataset(size=64, length=10, seed=4)[4])


def test_recolour_changes_hue_and_saturation_but_keeps_grey_and_luminance():
    rng = np.random.default_rng(0)
    photo = np.random.default_rng(1).integers(100, 156, (16, 16, 3), dtype=np.uint8)  # no clipping
    grey = np.full((4, 4, 3), 97, np.uint8)
    changed = 0.0
    for _ in range(8):
        out = recolour(photo, rng, max_saturation_change=1.2)
        assert out.dtype == np.uint8 and out.shape == photo.shape
        assert np.abs(out.astype(float).mean(axis=2) - photo.astype(float).mean(axis=2)).max() <= 1.0
        changed = max(changed, np.abs(out.astype(float) - photo).mean())
        np.testing.assert_array_equal(recolour(grey, rng), grey)
    assert changed > 5


def test_clean_dataset_recolours_photo_crops_only_when_asked():
    plain = CleanImageDataset(size=64, length=40, seed=0, dead_leaves_fraction=0.0)
    recoloured = CleanImageDataset(size=64, length=40, seed=0, dead_leaves_fraction=0.0, recolour_fraction=1.0)
    assert torch.equal(plain[3], CleanImageDataset(size=64, length=40, seed=0, dead_leaves_fraction=0.0)[3])
    coloured = [i for i in range(8) if (plain[i] - plain[i].mean(dim=0)).abs().mean() > 0.02]  # grey photos stay grey
    assert len(coloured) >= 2
    assert min((plain[i] - recoloured[i]).abs().mean().item() for i in coloured) > 0.01
    # Luminance stays (up to clipping); the hues move.
    assert max(abs(plain[i].mean().item() - recoloured[i].mean().item()) for i in range(6)) < 0.05
    with pytest.raises(ValueError, match="recolour_fraction"):
        CleanImageDataset(recolour_fraction=1.5)


def test_heldout_photos_are_not_training_photos():
    held_out = heldout_photos()
    assert set(held_out) == {"china", "flower"}
    for photo in held_out.values():
        assert not any(p.shape == photo.shape and np.array_equal(p, photo) for p in training_photos())


def test_random_crop_only_downscales_when_the_image_is_large_enough():
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    for _ in range(10):
        assert random_crop(image, 64, rng).shape == (64, 64, 3)
    # At crop size == short side the crop is a plain window of the image, pixel for pixel.
    crop = random_crop(image, 200, rng, flip=False)
    rows = [i for i in range(101) if np.array_equal(image[i : i + 200], crop)]
    assert rows


def test_pair_dataset_is_deterministic_across_dataloader_workers(bank):
    dataset = CorruptionPairDataset(CleanImageDataset(size=48, length=6, seed=0), PairSampler(bank))
    serial = [dataset[i] for i in range(6)]
    loader = DataLoader(dataset, batch_size=3, num_workers=2)
    batches = list(loader)
    clean = torch.cat([b[0] for b in batches])
    corrupted = torch.cat([b[1] for b in batches])
    torch.testing.assert_close(clean, torch.stack([s[0] for s in serial]))
    torch.testing.assert_close(corrupted, torch.stack([s[1] for s in serial]))
    assert clean.shape == (6, 3, 48, 48)
