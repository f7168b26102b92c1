"""The console script end to end, in a subprocess, as a user runs it."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from image_core.corruptions import corrupt
from image_core.sources import sample_photo


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "video_decorruptor", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.fixture()
def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(sample_photo(64)).save(path)
    return path


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert "corrupt " in result.stdout and "corruptions" in result.stdout
    for command in ("corrupt", "corruptions", "make-ucf101c"):
        assert command in result.stdout
        sub = run(command, "--help")
        assert sub.returncode == 0 and "example" in sub.stdout


def test_corrupt_writes_the_same_image_as_the_library(photo_file, tmp_path):
    out = tmp_path / "out" / "noisy.png"
    result = run(
        "corrupt", str(photo_file), "-o", str(out), "--corruption", "shot_noise", "--severity", "4", "--seed", "3"
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    written = np.asarray(Image.open(out))
    np.testing.assert_array_equal(written, corrupt(sample_photo(64), "shot_noise", 4, rng=3))
    assert sorted(p.name for p in out.parent.iterdir()) == ["noisy.png"]  # no temporary left


def test_corrupt_keeps_grayscale_and_jpeg_output(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(sample_photo(64)[..., 0]).save(gray)
    out = tmp_path / "gray_fog.jpg"
    assert run("corrupt", str(gray), "-o", str(out), "--corruption", "fog").returncode == 0
    with Image.open(out) as image:
        assert image.mode == "L" and image.size == (64, 64) and image.format == "JPEG"


def test_unknown_corruption_is_a_usage_error_listing_the_names(photo_file, tmp_path):
    result = run("corrupt", str(photo_file), "-o", str(tmp_path / "x.png"), "--corruption", "blurry")
    assert result.returncode == 2
    assert "invalid choice: 'blurry'" in result.stderr and "gaussian_noise" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_bad_severity_is_a_usage_error(photo_file, tmp_path):
    result = run("corrupt", str(photo_file), "-o", str(tmp_path / "x.png"), "--corruption", "fog", "--severity", "9")
    assert result.returncode == 2 and "invalid choice: 9" in result.stderr


@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
def test_unreadable_input_is_a_clear_error_and_writes_nothing(tmp_path, content):
    source = tmp_path / "broken.png"
    if content is not None:
        source.write_bytes(content)
    out = tmp_path / "out.png"
    result = run("corrupt", str(source), "-o", str(out), "--corruption", "fog")
    assert result.returncode == 1
    assert result.stderr.startswith("video-decorruptor: error:") and "Traceback" not in result.stderr
    assert str(source) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if content is None else ["broken.png"])


def test_truncated_png_is_a_clear_error(photo_file, tmp_path):
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(photo_file.read_bytes()[:200])
    result = run("corrupt", str(truncated), "-o", str(tmp_path / "o.png"), "--corruption", "fog")
    assert result.returncode == 1 and "cannot read" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_too_small_image_and_unknown_extension_are_clear_errors(tmp_path, photo_file):
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(small)
    result = run("corrupt", str(small), "-o", str(tmp_path / "o.png"), "--corruption", "fog")
    assert result.returncode == 1 and "at least 32x32 pixels, got 16x16" in result.stderr
    result = run("corrupt", str(photo_file), "-o", str(tmp_path / "o.xyz"), "--corruption", "fog")
    assert result.returncode == 1 and "unknown image extension '.xyz'" in result.stderr
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".o.*"))


def test_corruptions_lists_names_by_family():
    result = run("corruptions")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 19 and lines[1].split() == ["gaussian_noise", "noise"]
    noise = run("corruptions", "--family", "noise").stdout.splitlines()[1:]
    assert [line.split()[0] for line in noise] == ["gaussian_noise", "shot_noise", "impulse_noise"]


def test_corruptions_gallery_renders_a_grid(tmp_path):
    out = tmp_path / "gallery.png"
    result = run("corruptions", "--family", "blur", "--gallery", str(out), "--tile", "48")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        width, height = image.size
    # 4 blur rows of 48 px tiles (+2 px gaps) under a header; 6 columns (clean + 5 severities).
    assert height == 48 // 5 + 4 * 50 and width > 6 * 50


def test_corrupt_accepts_videos_and_checks_the_name_fits_the_input(tmp_path):
    from conftest import moving_clip

    from video_decorruptor.io import read_video, write_video

    source = tmp_path / "clip.mp4"
    write_video(source, moving_clip(6), 25, lossless=True)
    out = tmp_path / "rainy.mp4"
    result = run("corrupt", str(source), "-o", str(out), "--corruption", "rain", "--severity", "5")
    assert result.returncode == 0, result.stderr
    assert "6 frames at 25.00 fps" in result.stdout
    assert read_video(out)[0].shape == (6, 64, 80, 3)
    wrong = run("corrupt", str(source), "-o", str(tmp_path / "x.mp4"), "--corruption", "gaussian_noise")
    assert wrong.returncode == 1 and "'gaussian_noise' is not a corruption for a video; allowed: gauss" in wrong.stderr
    wrong = run("corrupt", str(tmp_path / "x.png"), "-o", str(tmp_path / "y.png"), "--corruption", "gauss")
    assert wrong.returncode == 1 and "not a corruption for an image" in wrong.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(source.read_bytes()[:200])
    result = run("corrupt", str(broken), "-o", str(tmp_path / "z.mp4"), "--corruption", "gauss")
    assert result.returncode == 1 and "broken.mp4" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "z.mp4").exists() and not list(tmp_path.glob(".z*"))
