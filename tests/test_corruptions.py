import numpy as np
import pytest

from image_core.corruptions import CORRUPTIONS, FAMILIES, as_generator, corrupt, corruption_names

ALL = corruption_names()
SEVERITIES = (1, 2, 3, 4, 5)
# Where the benchmark's own tables are not monotonic in damage: elastic severities 1-2 use a large
# affine jitter that 3-5 do not; saturate goes from desaturation (1-2) to oversaturation (3-5);
# glass blur 2 has one scrambling pass where 1 has two; frost 1 and 2 blend nearly the same amount.
NON_MONOTONIC = {"elastic_transform", "saturate", "glass_blur", "frost"}


def damage(clean: np.ndarray, corrupted: np.ndarray) -> float:
    return float(np.abs(corrupted.astype(np.float64) - clean).mean())


def test_registry_has_the_19_benchmark_corruptions_in_families():
    assert len(ALL) == 19
    sizes = {family: len(corruption_names(family)) for family in FAMILIES}
    assert sizes == {"noise": 3, "blur": 4, "weather": 4, "digital": 4, "extra": 4}
    assert corruption_names("extra") == ["speckle_noise", "gaussian_blur", "spatter", "saturate"]


@pytest.mark.parametrize("name", ALL)
def test_every_severity_keeps_shape_dtype_and_is_deterministic(name, photo):
    for severity in SEVERITIES:
        out = corrupt(photo, name, severity, rng=7)
        assert out.shape == photo.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, corrupt(photo, name, severity, rng=np.random.default_rng(7)))
        assert damage(photo, out) > 0


@pytest.mark.parametrize("name", ALL)
def test_damage_grows_with_severity(name, photo):
    # Average over three seeds so one random draw does not decide the order.
    damages = [np.mean([damage(photo, corrupt(photo, name, s, rng=seed)) for seed in range(3)]) for s in SEVERITIES]
    if name == "elastic_transform":
        assert damages[4] > damages[2]
    elif name == "saturate":
        assert damages[4] > damages[2] > damages[0]
    else:
        assert damages[4] > damages[0] * 1.1
    if name not in NON_MONOTONIC:
        assert all(b >= a * 0.98 for a, b in zip(damages, damages[1:])), damages


@pytest.mark.parametrize("name", [n for n in ALL if CORRUPTIONS[n].family == "noise" or n in ("fog", "frost", "snow")])
def test_different_seeds_give_different_random_corruptions(name, photo):
    assert not np.array_equal(corrupt(photo, name, 3, rng=1), corrupt(photo, name, 3, rng=2))


def test_no_global_rng_state_is_touched(photo):
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    for name in ALL:
        corrupt(photo, name, 3, rng=0)
    assert np.random.random() == expected


def test_generator_is_advanced_so_successive_calls_differ(photo):
    rng = np.random.default_rng(0)
    assert not np.array_equal(corrupt(photo, "gaussian_noise", 2, rng), corrupt(photo, "gaussian_noise", 2, rng))


@pytest.mark.parametrize("name", ALL)
def test_grayscale_and_non_square_inputs(name, photo):
    gray = photo[:, :, 1]
    out = corrupt(gray, name, 4, rng=0)
    assert out.shape == gray.shape and out.dtype == np.uint8
    wide = np.ascontiguousarray(np.concatenate([photo, photo], axis=1)[:40])  # 40x192, odd aspect
    assert corrupt(wide, name, 5, rng=0).shape == wide.shape


def test_constant_mid_gray_under_contrast_and_brightness_follows_the_tables():
    gray = np.full((64, 64, 3), 100, dtype=np.uint8)
    np.testing.assert_array_equal(corrupt(gray, "contrast", 5, 0), gray)  # mean is preserved exactly
    # brightness adds c to the HSV value: 100/255 + 0.5 = 0.892 -> 227.5, rounded either way
    assert abs(int(corrupt(gray, "brightness", 5, 0)[0, 0, 0]) - 227.5) <= 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "gaussian_nosie"}, "unknown corruption 'gaussian_nosie'; allowed: gaussian_noise"),
        ({"severity": 0}, "severity must be an integer 1 to 5, got 0"),
        ({"severity": 6}, "got 6"),
        ({"severity": 2.0}, "got 2.0"),
        ({"image": np.zeros((64, 64, 3), np.float32)}, "uint8 numpy array, got array of dtype float32"),
        ({"image": [[0]]}, "uint8 numpy array, got list"),
        ({"image": np.zeros((64, 64, 4), np.uint8)}, "shape (H, W, 3) or (H, W), got (64, 64, 4)"),
        ({"image": np.zeros((64, 64, 3, 1), np.uint8)}, "got (64, 64, 3, 1)"),
        ({"image": np.zeros((31, 64, 3), np.uint8)}, "at least 32x32 pixels, got 64x31"),
        ({"rng": "seed"}, "rng must be a numpy.random.Generator, an int seed or None, got str"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(kwargs, message, photo):
    call = {"image": photo, "name": "gaussian_noise", "severity": 3, "rng": 0} | kwargs
    with pytest.raises(ValueError) as error:
        corrupt(**call)
    assert message in str(error.value)


def test_unknown_family_is_rejected():
    with pytest.raises(ValueError, match="unknown corruption family 'rain'; allowed: noise, blur"):
        corruption_names("rain")


def test_as_generator_accepts_seeds_generators_and_none():
    rng = np.random.default_rng(1)
    assert as_generator(rng) is rng
    assert as_generator(5).random() == np.random.default_rng(5).random()
    assert isinstance(as_generator(None), np.random.Generator)
