"""UCF-101 split parsing, clip sampling, datasets, and make-ucf101c on a fake mini UCF-101 tree."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CLASSES, make_mini_ucf101

from video_decorruptor.benchmark.data import (
    UCF101,
    UCF101C,
    dense_indices,
    multi_clip_indices,
    parse_split,
    uniform_indices,
)
from video_decorruptor.benchmark.ucf101c import build_ucf101c, derive_seed, parse_corruptions, parse_severities
from video_decorruptor.io import read_video


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return make_mini_ucf101(tmp_path_factory.mktemp("ucf"))


def test_clip_samplers():
    np.testing.assert_array_equal(uniform_indices(160, 16), np.arange(16) * 10 + 5)
    np.testing.assert_array_equal(uniform_indices(8, 16), np.repeat(np.arange(8), 2))  # short video
    np.testing.assert_array_equal(dense_indices(100, 4, stride=2), [46, 48, 50, 52])  # centred
    np.testing.assert_array_equal(dense_indices(5, 4, stride=2, start=0), [0, 2, 4, 4])  # clamped
    clips = multi_clip_indices(100, 8, num_clips=3)
    assert clips.shape == (3, 8) and clips[0, 0] == 0 and clips[-1, -1] == 99
    with pytest.raises(ValueError, match="num_frames >= 1"):
        uniform_indices(0, 16)


def test_split_files_parse_with_labels_from_class_folders(mini):
    _, splits = mini
    test = parse_split(splits, "test1")
    assert [e.class_name for e in test] == list(CLASSES) and [e.label for e in test] == [0, 1, 2]
    assert test[1].relative_path == "Basketball/v_Basketball_g01_c01.avi"
    assert len(parse_split(splits, "train1")) == 3
    with pytest.raises(ValueError, match="unknown split 'val1'"):
        parse_split(splits, "val1")
    with pytest.raises(FileNotFoundError, match="testlist02.txt"):
        parse_split(splits, "test2")


def test_ucf101_dataset_returns_clips_labels_and_metadata(mini):
    root, splits = mini
    dataset = UCF101(root, splits, "test1")
    clip, label, meta = dataset[2]
    assert clip.shape == (3, 16, 48, 64) and clip.dtype == torch.float32 and 0 <= clip.min() and clip.max() <= 1
    assert label == 2 and meta["path"].endswith("v_YoYo_g01_c01.avi") and meta["corruption"] is None
    raw = UCF101(root, splits, "test1", output="uint8", sampler=lambda n: multi_clip_indices(n, 4, 2))
    clips, _, _ = raw[0]
    assert clips.shape == (2, 3, 4, 48, 64) and clips.dtype == torch.uint8
    decord_clip, _, _ = UCF101(root, splits, "test1", backend="decord")[2]
    torch.testing.assert_close(decord_clip, clip)  # both backends decode the same frames


def test_make_ucf101c_builds_resumes_and_is_deterministic(mini, tmp_path):
    root, splits = mini
    out = tmp_path / "UCF-101C"
    summary = build_ucf101c(root, splits, out, ["gauss", "contrast"], [1, 5], progress=False)
    assert summary.ok and summary.done == 3 * 2 * 2 and summary.skipped == 0
    video = out / "gauss" / "5" / "Basketball" / "v_Basketball_g01_c01.mp4"
    frames, info = read_video(video)
    assert info.num_frames == 13 and (info.width, info.height) == (64, 48)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 12 and all(r["status"] == "ok" and len(r["sha256"]) == 64 for r in records)
    assert all((r["layout"], r["storage"]) == ("project", "lossless") for r in records)  # the defaults, as before
    record = next(r for r in records if r["output"] == str(video))
    assert record["seed"] == derive_seed("gauss", 5, "v_Basketball_g01_c01.avi") and record["frames_out"] == 13

    # Kill simulated: one output lost mid-write (a temporary left), one finished but never recorded.
    partial = video.parent / ".v_Basketball_g01_c01.abc.partial.mp4"
    video.rename(partial)
    contrast = out / "contrast" / "1" / "YoYo" / "v_YoYo_g01_c01.mp4"
    kept = [line for line in (out / "manifest.jsonl").read_text().splitlines() if str(contrast) not in line]
    (out / "manifest.jsonl").write_text("\n".join(kept) + "\n")
    again = build_ucf101c(root, splits, out, ["gauss", "contrast"], [1, 5], progress=False)
    assert (again.done, again.skipped, again.cleaned) == (1, 11, 1)
    assert not partial.exists() and video.exists()
    redone, _ = read_video(video)
    np.testing.assert_array_equal(redone, frames)  # same seed, same video
    assert any(json.loads(line).get("recovered") for line in (out / "manifest.jsonl").read_text().splitlines())

    clip, label, meta = UCF101C(out, splits, "gauss", 5)[1]
    assert clip.shape == (3, 16, 48, 64) and label == 1 and (meta["corruption"], meta["severity"]) == ("gauss", 5)


def test_make_ucf101c_cli_records_failures_and_exits_1(tmp_path):
    root, splits = make_mini_ucf101(tmp_path / "data", broken=True)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "video_decorruptor",
        "make-ucf101c",
        "--root",
        str(root),
        "--splits",
        str(splits),
        "--out",
        str(out),
        "--corruptions",
        "salt",
        "--severity",
        "3",
        "--workers",
        "2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "3 written, 0 already there, 1 failed" in result.stdout
    assert "v_YoYo_g02_c01.avi" in result.stderr and "Traceback" not in result.stderr
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records].count("failed") == 1
    assert not list(out.rglob("*partial*"))
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1 and "0 written, 3 already there, 1 failed" in rerun.stdout


def test_corruption_and_severity_arguments():
    assert parse_corruptions("all")[-1] == "h265_abr" and len(parse_corruptions("all-video")) == 22
    assert parse_corruptions("rain, fog") == ["rain", "fog"]
    with pytest.raises(ValueError, match="unknown corruption"):
        parse_corruptions("rain,snowstorm")
    assert (
        parse_severities("5") == [5]
        and parse_severities("1-5") == [1, 2, 3, 4, 5]
        and parse_severities("3,5") == [3, 5]
    )
    for bad in ("0", "4-6", "x", ""):
        with pytest.raises(ValueError, match="severity must be 1 to 5"):
            parse_severities(bad)
