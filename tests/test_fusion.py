import numpy as np
import pytest
from conftest import moving_clip
from tiny_editor import tiny_pipeline

from video_decorruptor.benchmark.metrics import psnr
from video_decorruptor.restore.flow import dis_flow, warp
from video_decorruptor.restore.fusion import bright_outliers, fuse_frames, fuse_frames_with_median, grey_excess
from video_decorruptor.restore.restorer import VideoDecorruptor, _StreamState


def noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Independent Gaussian noise in every frame, as the per-frame corruptions draw it."""
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def test_flow_and_warp_follow_a_camera_pan():
    clip = moving_clip(2, 48, 64)  # the content moves 3 px left per frame
    grey = [frame.mean(-1).astype(np.uint8) for frame in clip]
    flow = dis_flow(grey[0], grey[1])
    assert np.median(flow[..., 0]) == pytest.approx(-3, abs=0.3) and abs(np.median(flow[..., 1])) < 0.3
    aligned = warp(clip[1].astype(np.float32), flow)
    crop = lambda frame: frame[None, :, 4:].astype(np.uint8)  # noqa: E731 - the columns that stay in view
    assert psnr(crop(clip[0]), crop(np.clip(aligned + 0.5, 0, 255))) > psnr(crop(clip[0]), crop(clip[1])) + 6


def test_fusion_averages_out_independent_noise_on_a_static_scene():
    clean = np.repeat(moving_clip(1, 48, 64), 7, axis=0)
    frames = noisy(clean, 20)
    fused = fuse_frames(frames, radius=2)
    noise_before = (frames[3].astype(float) - clean[3]).std()
    noise_after = (fused[3].astype(float) - clean[3]).std()
    assert noise_after < noise_before / 1.8  # five samples: up to sqrt(5) = 2.2 times less


def test_fusion_aligns_a_moving_camera_before_averaging():
    """Warping by the flow is what makes the average work under motion: a plain mean of the same
    frames smears the pan."""
    clean = moving_clip(9, 48, 64)
    frames = noisy(clean, 25)
    fused = fuse_frames(frames, radius=2)
    plain = np.stack([frames[max(0, t - 2) : t + 3].astype(np.float32).mean(0) for t in range(len(frames))])
    middle = slice(2, 7)
    before, after, unaligned = (
        psnr(clean[middle], np.clip(x[middle] + 0.5, 0, 255).astype(np.uint8)) for x in (frames, fused, plain)
    )
    assert after > before + 4 and after > unaligned + 3


def test_fusion_leaves_a_clean_video_and_its_edges_alone():
    """Content entering at the frame's edge has no match in the neighbours: the forward-backward
    check leaves it out instead of smearing the border pixels in."""
    clean = moving_clip(7, 48, 64)
    fused = fuse_frames(clean, radius=2)
    assert psnr(fused, clean) > 32
    assert psnr(fused[:, :, -4:], clean[:, :, -4:]) > 30  # the columns that enter the view


def test_bright_outliers_read_light_drawn_afresh_and_not_noise_or_a_clean_pan():
    clean = moving_clip(7, 48, 64)
    outliers = lambda frames, levels=20: float(  # noqa: E731
        bright_outliers(grey_excess(frames, fuse_frames_with_median(frames, 2)[1]), levels).mean()
    )
    assert abs(outliers(clean)) < 0.002 and abs(outliers(noisy(clean, 30), 20 + 2 * 30)) < 0.002
    speckled = clean.copy()
    rng = np.random.default_rng(0)
    for frame in speckled:  # a light speck of 2x2 pixels at new places in every frame
        for y, x in zip(rng.integers(0, 46, 40), rng.integers(0, 62, 40)):
            frame[y : y + 2, x : x + 2] = 230
    assert outliers(speckled) > 0.02


def test_fusing_targets_inside_a_window_equals_fusing_everything():
    frames = noisy(moving_clip(8, 32, 40), 15)
    everything = fuse_frames(frames, radius=2)
    np.testing.assert_array_equal(fuse_frames(frames, radius=2, targets=range(3, 6)), everything[3:6])
    np.testing.assert_array_equal(fuse_frames(frames, radius=0), frames)
    np.testing.assert_array_equal(fuse_frames(frames[:1], radius=2), frames[:1])
    with pytest.raises(ValueError, match="radius must be >= 0"):
        fuse_frames(frames, radius=-1)


@pytest.fixture(scope="module")
def cm():
    return tiny_pipeline(cm=True)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 11])
def test_streamed_fusion_matches_the_whole_clip_whatever_the_batches(cm, batch_size):
    """A batch waits for the frames after it, and keeps the frames before it: the edit sees the
    same fused frames however the video is cut into batches."""
    frames = noisy(moving_clip(11, 32, 40), 15)
    restorer = VideoDecorruptor(cm, batch_size=batch_size, fusion_radius=2, progress=False)
    batches = [frames[i : i + batch_size] for i in range(0, len(frames), batch_size)]
    stream = _StreamState()
    prepared = [restorer._prepare(batch, stream, frames.shape[1:3]) for batch in batches]
    assert all((batch.fusion == 1).all() for batch in prepared)  # noise 15: the fusion runs in full
    streamed = [batch.frames for batch in restorer._fused(iter(prepared), stream)]
    assert [len(b) for b in streamed] == [len(b) for b in batches]
    np.testing.assert_array_equal(np.concatenate(streamed), fuse_frames(frames, radius=2))


def test_the_editor_gets_the_fused_frames(cm, monkeypatch):
    frames = noisy(moving_clip(6, 32, 40), 15)
    seen = []
    original = VideoDecorruptor._edit

    def recording(self, batch, chunk_index, streams, anchor):
        seen.append(batch.frames.copy())
        return original(self, batch, chunk_index, streams, anchor)

    monkeypatch.setattr(VideoDecorruptor, "_edit", recording)
    VideoDecorruptor(cm, batch_size=4, progress=False).restore_frames(frames)  # default radius 2
    np.testing.assert_array_equal(np.concatenate(seen), fuse_frames(frames, radius=2))
    seen.clear()
    VideoDecorruptor(cm, batch_size=4, fusion_radius=0, progress=False).restore_frames(frames)
    np.testing.assert_array_equal(np.concatenate(seen), frames)
    with pytest.raises(ValueError, match="fusion_radius must be >= 0"):
        VideoDecorruptor(cm, fusion_radius=-1)
