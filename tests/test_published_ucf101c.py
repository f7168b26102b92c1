"""UCF-101C layouts (project, published, flat), published list files, and the published storage."""

import hashlib
import json

import av
import cv2
import numpy as np
import pytest
from conftest import CLASSES, make_mini_ucf101, moving_clip

from video_decorruptor.benchmark.corruptions import corrupt_frames
from video_decorruptor.benchmark.data import (
    UCF101C,
    class_of_video,
    detect_layout,
    parse_split,
    parse_video_list,
    read_class_index,
)
from video_decorruptor.benchmark.ucf101c import write_published_storage
from video_decorruptor.cli import main
from video_decorruptor.io import read_video, write_video

LEVEL = "level_5_ucf_val_split_1_"
STREAM_PATHS = {  # where each layout keeps the contrast-5 copy of v_<Class>_g01_c01
    "project": "contrast/5/{name}/v_{name}_g01_c01.mp4",
    "published": LEVEL + "/contrast/{name}/v_{name}_g01_c01.mp4",
    "flat": "contrast/5/v_{name}_g01_c01.mp4",
}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return make_mini_ucf101(tmp_path_factory.mktemp("ucf"))


def frames_of(label: int) -> np.ndarray:
    return moving_clip(8, 48, 64, seed=label)


def write_layout(base, layout: str):
    """The three test1 videos of the mini UCF-101 as a lossless contrast-5 stream in ``layout``."""
    for label, name in enumerate(CLASSES):
        write_video(base / STREAM_PATHS[layout].format(name=name), frames_of(label), 25, lossless=True)
    return base


def read_stream(data, splits) -> dict[str, tuple[int, np.ndarray]]:
    dataset = UCF101C(data, splits, "contrast", 5, output="uint8")
    return {meta["path"].rsplit("/", 1)[1]: (label, clip.numpy()) for clip, label, meta in dataset}


def test_the_three_layouts_give_the_same_clips_and_labels(mini, tmp_path):
    _, splits = mini
    read = {}
    for layout in STREAM_PATHS:
        data = write_layout(tmp_path / layout, layout)
        assert detect_layout(data).kind == layout
        read[layout] = read_stream(data, splits)
    read["level folder"] = read_stream(tmp_path / "published" / LEVEL, splits)  # --data may be the level folder itself
    expected = {f"v_{name}_g01_c01.mp4": label for label, name in enumerate(CLASSES)}
    for layout, clips in read.items():
        assert {video: label for video, (label, _) in clips.items()} == expected, layout
        for label, clip in clips.values():  # lossless storage: the very frames written, 16 of 8 sampled
            np.testing.assert_array_equal(clip, frames_of(label)[np.repeat(np.arange(8), 2)].transpose(3, 0, 1, 2))
    layout = detect_layout(tmp_path / "published")
    assert layout.levels == ((5, tmp_path / "published" / LEVEL),)
    assert layout.describe() == (
        f"UCF-101C layout: published (level_<severity>_ucf_val_split_1_/<corruption>/<ClassName>/"
        f"<video>.mp4) in {tmp_path / 'published'}, severities 5"
    )
    with pytest.raises(FileNotFoundError, match="has no level_3_"):
        UCF101C(tmp_path / "published", splits, "contrast", 3)
    with pytest.raises(FileNotFoundError, match="gauss/5 not found"):
        UCF101C(tmp_path / "flat", splits, "gauss", 5)


def test_list_file_ids_count_from_zero_and_classind_from_one(mini, tmp_path):
    root, splits = mini
    classes = read_class_index(splits)
    assert classes == {"ApplyEyeMakeup": 0, "Basketball": 1, "YoYo": 2}  # classInd.txt: "1 ApplyEyeMakeup" ...
    data = write_layout(tmp_path, "published")
    list_file = data / LEVEL / "contrast.txt"
    list_file.write_text(
        "contrast/YoYo/v_YoYo_g01_c01.mp4 8 2\ncontrast/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.mp4 8 0\n"
    )
    dataset = UCF101C(data, splits, "contrast", 5)
    assert dataset.list_file == list_file
    assert [(e.relative_path, e.class_name, e.label) for e in dataset.entries] == [
        ("YoYo/v_YoYo_g01_c01.mp4", "YoYo", 2),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.mp4", "ApplyEyeMakeup", 0),
    ]
    assert dataset[0][1] == 2 and dataset[0][2]["path"] == str(data / LEVEL / "contrast/YoYo/v_YoYo_g01_c01.mp4")

    # Ids written as classInd.txt numbers them (from 1) are caught, with the reason.
    list_file.write_text("contrast/Basketball/v_Basketball_g01_c01.mp4 8 2\n")
    with pytest.raises(
        ValueError,
        match=r"contrast.txt:1: class id 2 does not match .*Basketball 2, so its id is 1 "
        r"\(list files count class ids from 0, classInd.txt from 1\)",
    ):
        UCF101C(data, splits, "contrast", 5)
    with pytest.raises(ValueError, match="class id 0 does not match"):  # any other class: no hint
        parse_video_list(_write(tmp_path / "other.txt", "contrast/YoYo/v_YoYo_g01_c01.mp4 8 0\n"), classes, "contrast")
    with pytest.raises(ValueError, match="other.txt:1: expected '<video_path> <n_frames> <class_id>'"):
        parse_video_list(_write(tmp_path / "other.txt", "contrast/YoYo/v_YoYo_g01_c01.mp4 YoYo\n"), classes, "contrast")


def test_list_files_are_found_where_the_published_download_keeps_them(mini, tmp_path):
    """The download ships `list_video_perturbations_ucf/<corruption>.txt` beside the level folder."""
    _, splits = mini
    data = write_layout(tmp_path, "published")
    lists = data / "list_video_perturbations_ucf"
    lists.mkdir()
    (lists / "contrast.txt").write_text("contrast/YoYo/v_YoYo_g01_c01.mp4 8 2\n")
    dataset = UCF101C(data, splits, "contrast", 5)
    assert dataset.list_file == lists / "contrast.txt" and len(dataset.entries) == 1
    inside = data / LEVEL / "list_video_perturbations_ucf"
    inside.mkdir()
    (inside / "contrast.txt").write_text("contrast/Basketball/v_Basketball_g01_c01.mp4 8 1\n")
    assert UCF101C(data, splits, "contrast", 5).list_file == inside / "contrast.txt"  # the nearer one
    (data / LEVEL / "contrast.txt").write_text("contrast/YoYo/v_YoYo_g01_c01.mp4 8 2\n")
    assert UCF101C(data, splits, "contrast", 5).list_file == data / LEVEL / "contrast.txt"  # make-ucf101c's place


def _write(path, text: str):
    path.write_text(text)
    return path


def test_class_from_folder_or_file_name():
    classes = {"ApplyEyeMakeup": 0, "HandstandPushups": 1}
    assert class_of_video("HandstandPushups/v_HandStandPushups_g01_c01.mp4", classes) == "HandstandPushups"
    assert class_of_video("v_HandStandPushups_g01_c01.mp4", classes) == "HandstandPushups"  # UCF-101's own spelling
    assert class_of_video("v_ApplyEyeMakeup_g25_c07", classes) == "ApplyEyeMakeup"
    with pytest.raises(ValueError, match="class 'YoYo' of v_YoYo_g01_c01.mp4 is not in classInd.txt"):
        class_of_video("v_YoYo_g01_c01.mp4", classes)
    with pytest.raises(ValueError, match="cannot tell the class of clip.mp4"):
        class_of_video("clip.mp4", classes)


def test_a_folder_in_no_known_layout_is_one_clear_error(mini, tmp_path):
    root, splits = mini
    expected = r"not a UCF-101C folder in a known layout; expected one of project: .*; published: level_.*; flat: "
    with pytest.raises(ValueError, match=expected):
        detect_layout(root)  # clean UCF-101: class folders of videos
    with pytest.raises(ValueError, match=expected):
        UCF101C(root, splits, "contrast", 5)
    with pytest.raises(FileNotFoundError, match="UCF-101C folder not found"):
        detect_layout(tmp_path / "missing")
    (tmp_path / "two" / LEVEL).mkdir(parents=True)
    (tmp_path / "two" / "level_5_ucf_val_split_2_").mkdir()
    with pytest.raises(ValueError, match="two folders of severity 5"):
        detect_layout(tmp_path / "two")


def _stream(path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyframes = [i for i, packet in enumerate(container.demux(stream)) if packet.size and packet.is_keyframe]
        context = stream.codec_context
        return {
            "bit_rate": stream.bit_rate,
            "codec": context.name,
            "profile": context.profile,
            "pix_fmt": context.pix_fmt,
            "tag": stream.codec_tag,
            "keyframes": keyframes,
        }


@pytest.mark.parametrize("corruption", [None, "gauss"])
def test_published_storage_matches_opencv_mp4v(tmp_path, corruption):
    """Three seconds of a 320x240 pan, clean and with gauss-5 noise (the encoder's two regimes: under
    and over its bit-rate target), written by OpenCV's mp4v writer and by ours."""
    frames = moving_clip(75, 240, 320, seed=3)
    if corruption:
        frames = corrupt_frames(frames, corruption, 5, rng=0)
    writer = cv2.VideoWriter(str(tmp_path / "opencv.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    assert writer.isOpened()
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    write_published_storage(tmp_path / "ours.mp4", frames, 25)
    opencv, ours = _stream(tmp_path / "opencv.mp4"), _stream(tmp_path / "ours.mp4")
    assert abs(ours["bit_rate"] / opencv["bit_rate"] - 1) < 0.15, (ours["bit_rate"], opencv["bit_rate"])
    for stream in (opencv, ours):
        assert (stream["codec"], stream["profile"], stream["pix_fmt"], stream["tag"]) == (
            "mpeg4",
            "Simple Profile",
            "yuv420p",
            "mp4v",
        )
    if corruption is None:  # noise makes the encoder add keyframes at "scene changes"
        assert ours["keyframes"] == opencv["keyframes"] == list(range(0, 75, 12))
    write_published_storage(tmp_path / "again.mp4", frames, 25)
    assert (tmp_path / "again.mp4").read_bytes() == (tmp_path / "ours.mp4").read_bytes()


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_make_ucf101c_published_layout_and_storage_end_to_end(mini, tmp_path, capsys):
    root, splits = mini
    out = tmp_path / "out"
    command = [
        "make-ucf101c",
        "--root",
        str(root),
        "--splits",
        str(splits),
        "--out",
        str(out),
        "--corruptions",
        "contrast,gauss",
        "--severity",
        "5",
        "--layout",
        "published",
        "--storage",
        "published",
    ]
    assert main(command) == 0
    assert "(published layout, published storage): 6 written, 0 already there, 0 failed" in capsys.readouterr().out
    level = out / LEVEL
    video = level / "gauss" / "Basketball" / "v_Basketball_g01_c01.mp4"
    stream = _stream(video)
    assert (stream["codec"], stream["pix_fmt"], stream["tag"]) == ("mpeg4", "yuv420p", "mp4v")
    frames, info = read_video(video)
    assert info.num_frames == 13 and (info.width, info.height) == (64, 48)
    assert (level / "gauss.txt").read_text().splitlines() == [
        f"gauss/{name}/v_{name}_g01_c01.mp4 13 {label}" for label, name in enumerate(CLASSES)
    ]
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["layout"] == "published" and r["storage"] == "published" for r in records)

    # Deterministic and resumable: a lost output is redone with the same bytes, the rest skipped.
    digest = _sha256(video)
    video.unlink()
    assert main(command) == 0
    assert "1 written, 5 already there" in capsys.readouterr().out and _sha256(video) == digest

    # Read back through the list file, labels as the split gives them.
    assert detect_layout(out).kind == "published"
    dataset = UCF101C(out, splits, "gauss", 5, output="uint8")
    assert dataset.list_file == level / "gauss.txt"
    assert [(e.class_name, e.label) for e in dataset.entries] == [(e.class_name, e.label) for e in parse_split(splits)]
    clip, label, _ = dataset[1]
    assert label == 1 and clip.shape == (3, 16, 48, 64)

    # One folder, one storage: resuming with another is refused before any work.
    assert main([*command[:-1], "lossless"]) == 1
    assert "built with --layout published --storage published" in capsys.readouterr().err
