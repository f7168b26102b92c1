"""Bad input and interruptions through the console script: one line on stderr, the documented exit
status, and nothing half-written or stray left behind."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def write_front_indexed_mp4(path, frames: np.ndarray) -> None:
    """H.264 in an MP4 whose index sits before the frames (``movflags=faststart``), as web video is."""
    import av

    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def readable_frames(path) -> int:
    from video_decorruptor.io import open_video

    reader = open_video(path, salvage=True)
    try:
        return sum(len(chunk) for chunk in reader.chunks(8))
    finally:
        reader.close()


@pytest.mark.parametrize("name", ["front-indexed.mp4", "cut.mkv", "cut.avi"])
def test_a_truncated_video_is_refused_and_salvage_restores_what_is_readable(tmp_path, name):
    clip = moving_clip(24, 32, 48)
    source = tmp_path / name
    if name.endswith(".mp4"):
        write_front_indexed_mp4(source, clip)
    else:
        write_video(source, clip, 25)
    source.write_bytes(source.read_bytes()[: source.stat().st_size * 2 // 3])
    out = tmp_path / "out.mp4"
    result = run("restore", str(source), "-o", str(out))
    line = one_line_error(result)
    assert result.returncode == 1 and "truncated" in line and "24 frames" in line and "--salvage" in line
    assert not out.exists()

    readable = readable_frames(source)
    assert 0 < readable < 24
    result = run("restore", str(source), "-o", str(out), "--salvage")
    assert result.returncode == 0, result.stderr
    assert f"{24 - readable} of the 24 frames its container states could not be read" in result.stdout
    assert readable_frames(out) == readable


def test_output_formats_are_checked_before_anything_loads(clip_file, tmp_path):
    from image_core.io import write_image

    image = tmp_path / "photo.png"
    write_image(image, moving_clip(1, 32, 48)[0])
    (tmp_path / "folder").mkdir()
    cases = {
        (clip_file, tmp_path / "out.xyz"): "'.xyz' is not a video format this tool writes",
        (clip_file, tmp_path / "out"): "has no extension",
        (clip_file, tmp_path / "folder"): "is a folder; name the output file",
        (clip_file, tmp_path / "out.png"): "is a video: it restores into a video",
        (image, tmp_path / "out.mp4"): "is an image: it restores into an image",
    }
    for (source, target), message in cases.items():
        started = time.perf_counter()
        result = run("restore", str(source), "-o", str(target))
        assert result.returncode == 1 and message in one_line_error(result), (target, result.stderr)
        assert time.perf_counter() - started < 5, "the refusal waited for the model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "in.mp4", "photo.png"]


def test_each_container_gets_a_codec_that_fits_it(clip_file, tmp_path):
    import av

    from image_core.io import read_image

    for name, codec in (("out.webm", "vp9"), ("out.avi", "h264")):
        assert run("restore", str(clip_file), "-o", str(tmp_path / name)).returncode == 0
        with av.open(str(tmp_path / name)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == codec
            timestamps = [packet.pts for packet in container.demux(stream) if packet.size]
        assert timestamps == sorted(timestamps) and len(timestamps) == 6  # AVI: no reordered frames
    image = tmp_path / "photo.png"
    from image_core.io import write_image

    write_image(image, moving_clip(1, 32, 48)[0])
    result = run("restore", str(image), "-o", str(tmp_path / "restored.png"))
    assert result.returncode == 0 and read_image(tmp_path / "restored.png").shape == (32, 48, 3)


def test_a_folder_of_frames_takes_its_rate_from_fps(tmp_path):
    from image_core.io import write_image
    from video_decorruptor.io import open_video

    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(moving_clip(4, 32, 48)):
        write_image(frames / f"{index:03d}.png", frame)
    assert run("restore", str(frames), "-o", str(tmp_path / "out.mp4"), "--fps", "10").returncode == 0
    reader = open_video(tmp_path / "out.mp4")
    assert reader.info.fps == pytest.approx(10) and reader.info.num_frames == 4
    reader.close()


def children(pid: int) -> list[int]:
    found = []
    for task in (Path(f"/proc/{pid}/task")).iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def checksums(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix == ".mp4"
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_make_ucf101c_leaves_no_workers_and_a_rerun_gives_the_same_set(tmp_path):
    from conftest import make_mini_ucf101

    root, splits = make_mini_ucf101(tmp_path / "ucf", frames=24)
    command = [
        *("make-ucf101c", "--root", str(root), "--splits", str(splits)),
        *("--corruptions", "gauss,rain,contrast", "--workers", "2"),
    ]
    assert run(*command, "--out", str(tmp_path / "whole")).returncode == 0
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "video_decorruptor", *command, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while not (manifest.exists() and manifest.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "make-ucf101c ended before the kill"
        time.sleep(0.05)
    workers = children(process.pid)
    assert workers, "no pool workers to watch"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while any(alive(worker) for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(worker) for worker in workers), "pool workers outlived their killed parent"
    assert run(*command, "--out", str(out)).returncode == 0
    assert checksums(out) == checksums(tmp_path / "whole")
    assert not list(out.rglob("*.partial*"))


def test_a_killed_restore_rerun_gives_the_uninterrupted_output(tmp_path):
    noisy = np.random.default_rng(0).normal(128, 40, (48, 48, 64, 3)).clip(0, 255).astype(np.uint8)
    source = tmp_path / "noisy.mp4"
    write_video(source, noisy, 25, lossless=True)
    whole = tmp_path / "whole.mp4"
    assert run("restore", str(source), "-o", str(whole)).returncode == 0
    out = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "video_decorruptor", "restore", str(source), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while "restoring" not in seen:
        character = process.stderr.read(1)
        assert character, f"restore ended before it started restoring: {seen}"
        seen += character
    time.sleep(1.0)
    process.kill()
    process.wait()
    assert not out.exists()
    assert run("restore", str(source), "-o", str(out)).returncode == 0
    assert out.read_bytes() == whole.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.mp4", "out.mp4", "whole.mp4"]


def test_a_display_rotation_is_applied_and_said(tmp_path):
    """A phone's portrait clip is stored sideways with a display matrix (here written into the MP4's
    track header: a quarter turn clockwise); the restored video is upright instead of sideways."""
    import struct

    from video_decorruptor.io import read_video

    frames = np.zeros((4, 32, 64, 3), np.uint8)
    frames[:, :8] = 255  # a white band along the stored frame's top
    stored = tmp_path / "stored.mp4"
    write_video(stored, frames, 25, lossless=True)
    data = bytearray(stored.read_bytes())
    header = data.find(b"tkhd") + 4  # version 0: flags, times, track id, duration, layers, volume, then the matrix
    matrix = header + 4 + 20 + 8 + 8
    assert struct.unpack(">9i", data[matrix : matrix + 36]) == (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    turned = tmp_path / "turned.mp4"
    turned.write_bytes(bytes(data))
    result = run("restore", str(turned), "-o", str(tmp_path / "out.mp4"))
    assert result.returncode == 0 and "display rotation -90 degrees" in result.stdout
    restored, info = read_video(tmp_path / "out.mp4")
    assert restored.shape[1:3] == (64, 32) and info.rotation == 0
    assert restored[:, :, -4:].mean() > 200 and restored[:, :, :20].mean() < 30  # the band now on the right
