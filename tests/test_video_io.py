from fractions import Fraction

import numpy as np
import pytest
from conftest import moving_clip, write_clip_with_audio
from PIL import Image

from video_decorruptor.io import VideoError, VideoWriter, open_video, read_video, write_video


@pytest.fixture(scope="module")
def lossless(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    frames = moving_clip(10, 48, 64)
    write_video(path, frames, Fraction(30000, 1001), lossless=True)
    return path, frames


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_both_readers_give_back_the_exact_lossless_frames(lossless, backend):
    path, frames = lossless
    decoded, info = read_video(path, backend)
    np.testing.assert_array_equal(decoded, frames)
    assert (info.num_frames, info.width, info.height) == (10, 64, 48)
    assert info.fps == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_chunks_and_random_access(lossless, backend):
    path, frames = lossless
    reader = open_video(path, backend)
    chunks = list(reader.chunks(4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(chunks), frames)
    np.testing.assert_array_equal(reader.frames_at([9, 0, 3, 3]), frames[[9, 0, 3, 3]])
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        reader.frames_at([10])
    reader.close()


@pytest.mark.parametrize(("suffix", "codec", "pixel_format"), [(".mp4", "vp9", "yuv420p"), (".mov", "h264", "yuv444p")])
def test_lossy_writer_keeps_fps_odd_sizes_and_is_close(tmp_path, suffix, codec, pixel_format):
    """An odd size is kept: in MP4, VP9 in 4:2:0 (what players and browsers open); in MOV, H.264 in 4:4:4."""
    import av

    frames = moving_clip(8, 47, 63)
    write_video(tmp_path / f"odd{suffix}", frames, 25, crf=12)
    decoded, info = read_video(tmp_path / f"odd{suffix}")
    assert decoded.shape == frames.shape and info.fps == 25
    # (4:2:0 halves the chroma of this saturated synthetic clip: about 4.5 on average, H.264 at an even size too)
    assert np.abs(decoded.astype(int) - frames).mean() < (6 if pixel_format == "yuv420p" else 3)
    with av.open(str(tmp_path / f"odd{suffix}")) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt) == (codec, pixel_format)
    write_video(tmp_path / "even.mp4", frames[:, :46, :62], 25)
    with av.open(str(tmp_path / "even.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_the_same_frames_give_the_same_file_every_time_in_one_process(tmp_path):
    """restore-dataset's resume and shards compare outputs by checksum; x264's macroblock tree made
    repeated writes of one noisy clip in one process come out as several different files."""
    import threading

    from image_core.io import checksum

    frames = np.clip(moving_clip(12, 64, 80) + np.random.default_rng(0).normal(0, 25, (12, 64, 80, 3)), 0, 255)
    frames = frames.astype(np.uint8)
    digests = set()
    for index in range(12):
        path = tmp_path / f"{index}.mp4"
        if index % 2:  # from another thread, as restore's encoder runs
            thread = threading.Thread(target=write_video, args=(path, frames, 25))
            thread.start()
            thread.join()
        else:
            write_video(path, frames, 25)
        digests.add(checksum(path))
    assert len(digests) == 1


def test_writer_leaves_nothing_on_error_and_renames_only_when_complete(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(target, 25) as writer:
            writer.write(moving_clip(3))
            assert not target.exists()  # still a temporary
            raise RuntimeError("crash mid-way")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="frame size 32x32 differs"):
        with VideoWriter(target, 25) as writer:
            writer.write(moving_clip(2))
            writer.write(np.zeros((1, 32, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="libx265 cannot write 40 px wide frames"):
        write_video(target, moving_clip(2, 64, 40), 25, codec="libx265")  # x265 aborted the process
    assert list(tmp_path.iterdir()) == []


def test_image_folders_and_single_images_read_as_videos(tmp_path):
    frames = moving_clip(4)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"frame_{index:03d}.png")
    decoded, info = read_video(tmp_path)
    np.testing.assert_array_equal(decoded, frames)
    assert info.num_frames == 4
    single, info = read_video(tmp_path / "frame_002.png")
    np.testing.assert_array_equal(single[0], frames[2])


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_bad_files_raise_video_errors(tmp_path, lossless, backend):
    with pytest.raises(VideoError, match="no such file"):
        open_video(tmp_path / "missing.mp4", backend)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoError, match="empty"):
        open_video(empty, backend)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError):
        open_video(text, backend)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(lossless[0].read_bytes()[:300])
    with pytest.raises(VideoError):
        read_video(truncated, backend)
    with pytest.raises(ValueError, match="unknown video backend 'opencv'"):
        open_video(lossless[0], "opencv")


def test_writer_copies_the_audio_track_through(tmp_path):
    import av

    source = write_clip_with_audio(tmp_path / "with_audio.mp4")
    frames, info = read_video(source)
    assert info.has_audio
    write_video(tmp_path / "copy.mp4", frames, info.fps, audio_from=source)
    with av.open(str(tmp_path / "copy.mp4")) as copied, av.open(str(source)) as original:
        assert copied.streams.audio and copied.streams.audio[0].codec_context.name == "aac"
        sizes = lambda c: [p.size for p in c.demux(c.streams.audio[0]) if p.size]  # noqa: E731
        assert sizes(copied) == sizes(original)  # the same packets, not re-encoded
