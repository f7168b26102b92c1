"""Bad input and interruptions through the console script: one line on stderr, the documented exit
status, and nothing half-written or stray left behind."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import moving_clip

from image_core.editor.loading import EMBEDDED_DIR
from image_core.io import atomic_path
from video_decorruptor.io import write_video


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "video_decorruptor", *args], capture_output=True, text=True, timeout=300
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture()
def clip_file(tmp_path):
    path = tmp_path / "in.mp4"
    write_video(path, moving_clip(6, 32, 32), 25, lossless=True)
    return path


@pytest.mark.parametrize("option", ["--guidance=nan", "--guidance=inf", "--image-guidance=nan", "--smoothing=-inf"])
def test_non_finite_numbers_are_usage_errors(clip_file, tmp_path, option):
    result = run("restore", str(clip_file), "-o", str(tmp_path / "out.mp4"), option)
    assert result.returncode == 2 and "finite" in result.stderr and not (tmp_path / "out.mp4").exists()


def test_the_library_refuses_non_finite_settings():
    from image_core.editor.settings import EditorSettings
    from video_decorruptor.restore.presets import ConsistencySettings

    with pytest.raises(ValueError, match="guidance_scale must be a finite number"):
        EditorSettings(guidance_scale=float("nan"))
    with pytest.raises(ValueError, match="finite"):
        ConsistencySettings(smoothing=float("inf"))


def test_a_device_is_checked_before_anything_loads(clip_file, tmp_path):
    result = run("restore", str(clip_file), "-o", str(tmp_path / "out.mp4"), "--device", "gpu0")
    assert result.returncode == 2 and "expected cpu, cuda" in result.stderr
    import torch

    if not torch.cuda.is_available():
        result = run("restore", str(clip_file), "-o", str(tmp_path / "out.mp4"), "--device", "cuda")
        assert result.returncode == 1 and "no cuda device" in one_line_error(result)
    assert not (tmp_path / "out.mp4").exists()


def test_a_broken_model_index_is_named_with_its_json_error(clip_file, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(EMBEDDED_DIR / "decorruptor-tiny-cm", model)
    (model / "model_index.json").write_text('{"_class_name": "DecorruptorCMPipeline",')
    result = run("restore", str(clip_file), "-o", str(tmp_path / "out.mp4"), "--model", str(model))
    line = one_line_error(result)
    assert result.returncode == 1 and f"{model / 'model_index.json'} is not valid JSON" in line
    assert not (tmp_path / "out.mp4").exists()


def test_outputs_take_the_umask_or_the_mode_of_the_file_they_replace(clip_file, tmp_path):
    out = tmp_path / "out.mp4"
    previous = os.umask(0o022)
    try:
        assert run("restore", str(clip_file), "-o", str(out)).returncode == 0
        assert out.stat().st_mode & 0o777 == 0o644
        out.chmod(0o640)
        assert run("restore", str(clip_file), "-o", str(out), "--overwrite").returncode == 0
        assert out.stat().st_mode & 0o777 == 0o640
        with atomic_path(tmp_path / "notes.txt") as temporary:
            temporary.write_text("x")
        assert (tmp_path / "notes.txt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)


def test_a_rerun_removes_the_partial_files_a_killed_restore_left(clip_file, tmp_path):
    stale = tmp_path / ".out.abc123.partial.mp4"
    stale.write_bytes(b"half a video")
    assert run("restore", str(clip_file), "-o", str(tmp_path / "out.mp4")).returncode == 0
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_ctrl_c_prints_one_line_exits_130_and_leaves_no_output(tmp_path):
    noisy = np.random.default_rng(0).normal(128, 40, (400, 64, 64, 3)).clip(0, 255).astype(np.uint8)
    write_video(tmp_path / "long.mp4", noisy, 25, lossless=True)
    out = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "video_decorruptor", "restore", str(tmp_path / "long.mp4"), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while "restoring" not in seen:  # the progress bar: the model is loaded and frames are being restored
        character = process.stderr.read(1)
        assert character, f"restore ended before it started restoring: {seen}"
        seen += character
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert rest.strip().splitlines()[-1] == "video-decorruptor: interrupted" and "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]
