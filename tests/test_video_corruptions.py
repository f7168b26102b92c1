import numpy as np
import pytest
from conftest import moving_clip

from image_core.codec import decode_stream, encode_frames
from video_decorruptor.benchmark.corruptions import (
    UCF101C_CORRUPTIONS,
    VIDEO_CORRUPTIONS,
    corrupt_frames,
    corrupt_video,
    video_corruption_names,
)
from video_decorruptor.io import read_video, write_video

ALL = video_corruption_names()
# saturate desaturates at 1-2 and oversaturates at 3-5 (the image benchmark's table); bit errors and
# lost packets on a 12-frame clip may hit nothing at all, so the codec test checks them on longer,
# larger streams.
NON_MONOTONIC = {"saturate", "bit_error", "packet_loss"}


def damage(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_registry_has_the_12_ucf101c_and_10_other_corruptions():
    assert len(UCF101C_CORRUPTIONS) == 12 and len(ALL) == 22 and set(ALL) == set(VIDEO_CORRUPTIONS)
    assert ALL[:12] == list(UCF101C_CORRUPTIONS)


@pytest.mark.parametrize("name", ALL)
def test_shape_frame_count_determinism_and_damage(name, clip):
    results = {}
    for severity in (2, 5):
        out = corrupt_frames(clip, name, severity, rng=3, fps=25)
        assert out.shape == clip.shape and out.dtype == np.uint8  # every corruption keeps the frame count
        np.testing.assert_array_equal(out, corrupt_frames(clip, name, severity, rng=np.random.default_rng(3), fps=25))
        results[severity] = damage(clip, out)
    if name not in NON_MONOTONIC:
        assert results[5] > results[2] > 0, results


@pytest.mark.parametrize("name", ["gauss", "shot", "impulse", "salt", "pepper", "rain"])
def test_per_frame_noise_is_redrawn_every_frame(name):
    static = np.repeat(moving_clip(1), 4, axis=0)  # four identical frames
    out = corrupt_frames(static, name, 3, rng=0)
    assert not np.array_equal(out[0], out[1]) and not np.array_equal(out[1], out[2])


def test_fog_uses_one_layer_per_clip():
    static = np.repeat(moving_clip(1), 3, axis=0)
    out = corrupt_frames(static, "fog", 4, rng=0)
    np.testing.assert_array_equal(out[0], out[2])
    assert not np.array_equal(out, corrupt_frames(static, "fog", 4, rng=1))


def test_temporal_motion_blur_averages_neighbouring_frames():
    frames = np.zeros((10, 32, 32, 3), np.uint8)
    frames[5] = 210  # one bright frame
    out = corrupt_frames(frames, "temporal_motion_blur", 1, rng=0)  # c = 3: window [t-3, t+3)
    assert out[:, 0, 0, 0].tolist() == [0, 0, 0, 35, 35, 35, 35, 35, 42, 0]  # 210/6; 210/5 where the end clips


def test_frame_rate_keeps_duration_and_holds_frames():
    frames = np.stack([np.full((32, 32, 3), i, np.uint8) for i in range(25)])
    out = corrupt_frames(frames, "frame_rate", 5, rng=0, fps=25)  # 6 fps
    shown = out[:, 0, 0, 0].tolist()
    assert len(shown) == 25 and shown[0] == 0
    assert len(set(shown)) == 6  # the frames of one second at 6 fps, each held ~4 source frames
    unchanged = corrupt_frames(frames, "frame_rate", 1, rng=0, fps=12)  # source already below 20 fps
    np.testing.assert_array_equal(unchanged, frames)


def test_codec_corruptions_really_lower_bitrate_and_add_errors():
    # Noise does not compress, so every lost byte shows: a clean test of the codec paths.
    noisy = np.random.default_rng(0).integers(0, 256, (12, 64, 96, 3), dtype=np.uint8)
    base = damage(noisy, corrupt_frames(noisy, "h264_crf", 1, rng=0))
    assert damage(noisy, corrupt_frames(noisy, "h264_abr", 5, rng=0, source_bit_rate=8_000_000)) > base
    assert damage(noisy, corrupt_frames(noisy, "h265_abr", 5, rng=0, source_bit_rate=8_000_000)) > base
    # bit errors and lost packets damage the decode beyond the plain CRF-23 encode they start from
    assert damage(noisy, corrupt_frames(noisy, "bit_error", 5, rng=0)) > base + 1
    smooth = moving_clip(24, 64, 96)
    plain = corrupt_frames(smooth, "h264_crf", 1, rng=0)  # CRF 23, the packet-loss encode
    lost = corrupt_frames(smooth, "packet_loss", 5, rng=2)
    assert damage(smooth, lost) > damage(smooth, plain)


def test_codec_round_trips_repeat_exactly_in_one_process(clip):
    # each once flaky in one process: x264 at odd macroblock widths, x265 anywhere, and a decoder given
    # copied extradata (image_core/codec.py)
    for name in ("h264_abr", "h264_crf", "bit_error", "h265_abr"):
        for severity in (2, 5):
            first = corrupt_frames(clip, name, severity, rng=0)
            for _ in range(4):
                np.testing.assert_array_equal(corrupt_frames(clip, name, severity, rng=0), first)


def test_an_x265_failure_in_its_own_process_is_an_error_here():
    with pytest.raises(RuntimeError, match=r"libx265 failed on 80x64 frames \(exit status 1\): .*preset"):
        encode_frames(moving_clip(2), 25, "libx265", {"preset": "nonsense"})


@pytest.mark.parametrize(
    ("codec", "width", "encoded_width"),
    [
        ("libx264", 80, 96),
        ("libx264", 81, 96),
        ("libx264", 96, 96),
        ("libx265", 40, 128),
        ("libx265", 64, 128),
        ("libx265", 130, 130),
    ],
)
def test_encoders_get_a_safe_width_and_decoding_gives_the_source_shape(codec, width, encoded_width):
    # x264 at odd macroblock widths read uninitialised memory; x265 at 34-48 px corrupted the heap and
    # aborted its process (image_core/codec.py)
    import av

    frames = moving_clip(3, 63, width)
    buffer = encode_frames(frames, 25, codec, {"crf": "18"})
    with av.open(buffer) as container:
        assert (container.streams.video[0].codec_context.height, container.streams.video[0].codec_context.width) == (
            64,
            encoded_width,
        )
    buffer.seek(0)
    decoded = decode_stream(buffer, frames, 25)
    assert decoded.shape == frames.shape  # the padding is cropped off
    assert damage(decoded, frames) < 7 and damage(decoded[..., -1, :], frames[..., -1, :]) < 7  # 4:2:0 at CRF 18: ~5.5


def test_corrupt_video_builds_the_same_video_every_time(tmp_path):
    # with x264's macroblock tree, 60 writes of such a clip in one process decoded to 7-16 different videos
    write_video(tmp_path / "source.mp4", moving_clip(16, 64, 64), 25, lossless=True)
    builds = []
    for index in range(4):
        corrupt_video(tmp_path / "source.mp4", tmp_path / f"pepper{index}.mp4", "pepper", 5, seed=0)
        builds.append(read_video(tmp_path / f"pepper{index}.mp4")[0])
    for build in builds[1:]:
        np.testing.assert_array_equal(build, builds[0])


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="unknown video corruption 'gaussian_noise'; allowed: gauss, pepper"):
        corrupt_frames(moving_clip(2), "gaussian_noise", 3)
    with pytest.raises(ValueError, match="severity must be an integer 1 to 5, got 7"):
        corrupt_frames(moving_clip(2), "gauss", 7)
    with pytest.raises(ValueError, match=r"uint8 array \(T, H, W, 3\), got ndarray \(64, 80, 3\)"):
        corrupt_frames(moving_clip(1)[0], "gauss", 3)
    with pytest.raises(ValueError, match="at least 32x32"):
        corrupt_frames(np.zeros((2, 16, 16, 3), np.uint8), "gauss", 3)


def test_corrupt_video_writes_a_file_with_the_source_frame_count_and_fps(tmp_path):
    source = tmp_path / "source.mp4"
    write_video(source, moving_clip(10), 30, lossless=True)
    summary = corrupt_video(source, tmp_path / "out" / "shot.mp4", "shot", 4, seed=1)
    frames, info = read_video(tmp_path / "out" / "shot.mp4")
    assert summary["frames_out"] == info.num_frames == 10 and info.fps == 30
    clean = read_video(source)[0]
    expected = corrupt_frames(clean, "shot", 4, rng=1, fps=30)
    # The high-quality store keeps the corruption: most of its damage survives, little error is added.
    assert damage(clean, frames) > 0.95 * damage(clean, expected)
    assert damage(expected, frames) < 5
