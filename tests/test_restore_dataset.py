"""`restore-dataset`: a restored mirror of a tiny generated dataset (videos, images, other files),
resume after a simulated kill, refused settings and folders, the broken-file summary."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import moving_clip
from tiny_editor import tiny_pipeline

from image_core.io import checksum, read_image, write_image
from video_decorruptor.io import open_video, read_video, write_video
from video_decorruptor.restore.dataset import image_generator, restore_dataset
from video_decorruptor.restore.restorer import VideoDecorruptor


def noisy(frames: np.ndarray, seed: int = 0) -> np.ndarray:
    return np.clip(frames + np.random.default_rng(seed).normal(0, 25, frames.shape), 0, 255).astype(np.uint8)


@pytest.fixture()
def dataset(tmp_path):
    """Two videos in two containers, one broken, four images in two sizes and formats, a list file."""
    src = tmp_path / "src"
    write_video(src / "gauss" / "A" / "v1.mp4", noisy(moving_clip(6, 32, 48)), 25)
    write_video(src / "gauss" / "B" / "v2.avi", noisy(moving_clip(5, 32, 48, seed=1), 1), 25)
    (src / "gauss" / "B" / "broken.mp4").write_bytes(b"not a video")
    for index in range(3):
        write_image(src / "imagenet" / "n01" / f"img{index}.png", noisy(moving_clip(1, 32, 32, seed=index)[0], index))
    write_image(src / "imagenet" / "n02" / "wide.jpg", noisy(moving_clip(1, 24, 40)[0]))
    (src / "gauss.txt").write_text("gauss/A/v1.mp4 6 0\ngauss/B/v2.avi 5 1\n")
    return src


@pytest.fixture(scope="module")
def restorer():
    return VideoDecorruptor(tiny_pipeline(cm=True), batch_size=2, progress=False)


def outputs(folder) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): checksum(path) for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_mirror_holds_every_item_in_its_own_format(dataset, restorer, tmp_path):
    dst = tmp_path / "dst"
    summary = restore_dataset(restorer, dataset, dst, progress=False)
    assert (summary.restored, summary.done, summary.copied) == (6, 0, 1)
    assert list(summary.failed) == ["gauss/B/broken.mp4"]
    assert (dst / "restore-dataset.failures.txt").read_text().startswith("gauss/B/broken.mp4\t")
    assert (dst / "gauss.txt").read_bytes() == (dataset / "gauss.txt").read_bytes()
    for name, frames in (("gauss/A/v1.mp4", 6), ("gauss/B/v2.avi", 5)):
        restored, info = read_video(dst / name)
        assert restored.shape == (frames, 32, 48, 3)
        reader = open_video(dst / name)
        assert reader.info.fps == 25
        reader.close()
    assert read_image(dst / "imagenet/n01/img0.png").shape == (32, 32, 3)
    assert read_image(dst / "imagenet/n02/wide.jpg").shape == (24, 40, 3)
    # a video is restored as `restore` restores it on its own (opened ahead, while the one before was edited)
    restorer.restore_video(dataset / "gauss/B/v2.avi", tmp_path / "alone.avi")
    assert checksum(tmp_path / "alone.avi") == checksum(dst / "gauss/B/v2.avi")
    # the images were edited by the editor alone, in batches of one size, each as it would be on its own
    alone = restorer.pipe(
        image=read_image(dataset / "imagenet/n01/img0.png")[None],
        settings=restorer.editor_settings,
        generator=[image_generator(restorer.seed, "imagenet/n01/img0.png")],
    )
    np.testing.assert_array_equal(read_image(dst / "imagenet/n01/img0.png"), alone.images[0])
    records = [line for line in (dst / "restore-dataset.manifest.jsonl").read_text().splitlines()]
    assert len(records) == 7 and sum('"status": "ok"' in line for line in records) == 6


def test_a_rerun_skips_what_is_done_and_redoes_what_a_kill_left(dataset, restorer, tmp_path):
    dst = tmp_path / "dst"
    restore_dataset(restorer, dataset, dst, progress=False)
    first = outputs(dst)
    again = restore_dataset(restorer, dataset, dst, progress=False)
    assert (again.restored, again.done, len(again.failed)) == (0, 6, 1)
    # a kill in the middle of v1.mp4: its temporary file on disk, the output not yet renamed, no manifest line
    (dst / "gauss/A/v1.mp4").rename(dst / "gauss/A/.v1.abc123.partial.mp4")
    lines = (dst / "restore-dataset.manifest.jsonl").read_text().splitlines()
    (dst / "restore-dataset.manifest.jsonl").write_text(
        "\n".join(lines[:-1]) + "\n" + lines[-1][:20]
    )  # a half-written last line
    (dst / "imagenet/n01/img1.png").write_bytes(b"half an image")  # an output that no longer matches
    resumed = restore_dataset(restorer, dataset, dst, progress=False)
    assert (resumed.restored, resumed.done) == (2, 4)
    assert outputs(dst).keys() == first.keys()
    assert all(outputs(dst)[name] == digest for name, digest in first.items() if name.split(".")[-1] != "jsonl")


def test_published_storage_writes_videos_as_the_published_set_stores_them(dataset, restorer, tmp_path):
    import av

    write_video(dataset / "gauss" / "A" / "odd.mp4", noisy(moving_clip(4, 31, 45)), 25)
    write_video(dataset / "gauss" / "A" / "web.webm", noisy(moving_clip(4, 32, 48)), 25)
    dst = tmp_path / "dst"
    summary = restore_dataset(restorer, dataset, dst, progress=False, storage="published")
    assert summary.restored == 7
    assert "WebM cannot hold" in summary.failed["gauss/A/web.webm"] and not (dst / "gauss/A/web.webm").exists()
    for name, size in (("gauss/A/v1.mp4", (32, 48)), ("gauss/B/v2.avi", (32, 48)), ("gauss/A/odd.mp4", (30, 44))):
        with av.open(str(dst / name)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("mpeg4", "yuv420p")
            assert (stream.codec_context.height, stream.codec_context.width) == size  # odd sides dropped, as OpenCV
    with pytest.raises(ValueError, match="other settings \\(storage differ"):
        restore_dataset(restorer, dataset, dst, progress=False)
    with pytest.raises(ValueError, match="storage must be one of restore, published"):
        restore_dataset(restorer, dataset, tmp_path / "other", progress=False, storage="lossless")


def test_other_settings_and_bad_folders_are_refused_before_anything_is_written(dataset, restorer, tmp_path):
    dst = tmp_path / "dst"
    restore_dataset(restorer, dataset, dst, progress=False)
    other = VideoDecorruptor(restorer.pipe, batch_size=2, seed=1, progress=False)
    with pytest.raises(ValueError, match="was restored with other settings \\(seed differ"):
        restore_dataset(other, dataset, dst, progress=False)
    with pytest.raises(ValueError, match="is the source"):
        restore_dataset(restorer, dataset, dataset, progress=False)
    with pytest.raises(ValueError, match="is inside the source"):
        restore_dataset(restorer, dataset, dataset / "restored", progress=False)
    empty = tmp_path / "lists"
    empty.mkdir()
    (empty / "classInd.txt").write_text("1 A\n")
    with pytest.raises(ValueError, match="holds no video or image to restore"):
        restore_dataset(restorer, empty, tmp_path / "nothing", progress=False)
    assert not (dataset / "restored").exists() and not (tmp_path / "nothing").exists()


def test_the_command_prints_the_summary_and_exits_1_on_a_failure(dataset, tmp_path, restorer):
    folder = tmp_path / "editor"
    restorer.pipe.save_pretrained(folder)
    command = [sys.executable, "-m", "video_decorruptor", "restore-dataset", str(dataset), "-o", str(tmp_path / "dst")]
    result = subprocess.run([*command, "--model", str(folder)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "restored 6, already done 0, failed 1 (1 other files copied)" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("video-decorruptor: error: 1 item(s) failed, e.g. gauss/B")


def test_two_torchrun_processes_share_the_items_and_give_the_same_outputs(dataset, tmp_path, restorer):
    folder = tmp_path / "editor"
    restorer.pipe.save_pretrained(folder)
    common = ["restore-dataset", str(dataset), "--model", str(folder), "--batch-size", "2", "--device", "cpu"]
    one = subprocess.run(
        [sys.executable, "-m", "video_decorruptor", *common, "-o", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531"]
    two = subprocess.run(
        [*launcher, "-m", "video_decorruptor.cli", *common, "-o", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert one.returncode == two.returncode == 1, two.stderr  # the broken video, in both
    assert "restored 6, already done 0, failed 1 (1 other files copied)" in two.stdout
    ranks = sorted(path.name for path in (tmp_path / "two").glob("restore-dataset.manifest*.jsonl"))
    assert ranks == ["restore-dataset.manifest.rank0.jsonl", "restore-dataset.manifest.rank1.jsonl"]
    items = [line.split('"')[3] for rank in ranks for line in (tmp_path / "two" / rank).read_text().splitlines()]
    assert len(items) == len(set(items)) == 7  # each item once, none lost

    def made(folder):
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if "restore-dataset." not in p.name)

    assert made(tmp_path / "one") == made(tmp_path / "two")
    for name in ("gauss/A/v1.mp4", "gauss/B/v2.avi"):
        a, b = read_video(tmp_path / "one" / name)[0], read_video(tmp_path / "two" / name)[0]
        assert np.abs(a.astype(int) - b).max() <= 1  # other thread counts, other summation orders
    for name in ("imagenet/n01/img0.png", "imagenet/n02/wide.jpg"):
        a, b = read_image(tmp_path / "one" / name), read_image(tmp_path / "two" / name)
        assert np.abs(a.astype(int) - b).max() <= 1


def test_a_sigkill_at_about_half_then_a_rerun_gives_the_uninterrupted_outputs(dataset, tmp_path, restorer):
    import signal
    import time

    folder = tmp_path / "editor"
    restorer.pipe.save_pretrained(folder)
    common = [sys.executable, "-m", "video_decorruptor", "restore-dataset", str(dataset), "--model", str(folder)]
    assert subprocess.run([*common, "-o", str(tmp_path / "whole")], capture_output=True, timeout=300).returncode == 1
    out = tmp_path / "killed"
    process = subprocess.Popen([*common, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (
        (out / "restore-dataset.manifest.jsonl").exists()
        and (out / "restore-dataset.manifest.jsonl").read_text().count("\n") >= 3
    ):
        assert process.poll() is None and time.monotonic() < deadline, "restore-dataset ended before the kill"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = subprocess.run([*common, "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1 and ", already done " in rerun.stdout
    kept = {name: digest for name, digest in outputs(tmp_path / "whole").items() if "restore-dataset." not in name}
    assert {name: digest for name, digest in outputs(out).items() if "restore-dataset." not in name} == kept
    assert not [path for path in out.rglob("*") if "partial" in path.name]
