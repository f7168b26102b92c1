"""The video layer with tiny random editors: batching, consistency mechanisms, streaming, metrics, CLI."""

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import torch
from conftest import moving_clip, write_clip_with_audio
from tiny_editor import tiny_pipeline

from image_core.editor import load_editor
from video_decorruptor.benchmark.metrics import flicker, grain, grain_ratio, psnr, ssim, warping_error
from video_decorruptor.io import read_video, write_video
from video_decorruptor.restore.consistency import AnchorAttentionProcessor, AnchorState, temporal_smooth
from video_decorruptor.restore.presets import PRESETS
from video_decorruptor.restore.restorer import ConsistencySettings, VideoDecorruptor, ahead, working_size


@pytest.fixture(scope="module")
def cm():
    return tiny_pipeline(cm=True)


def restorer(pipe, **kwargs) -> VideoDecorruptor:
    """Without the temporal fusion unless asked: it mixes neighbouring frames into each input, which the
    tests of the other mechanisms must not see (tests/test_fusion.py tests it)."""
    kwargs.setdefault("fusion_radius", 0)
    return VideoDecorruptor(pipe, batch_size=kwargs.pop("batch_size", 4), progress=False, **kwargs)


def test_restore_frames_keeps_shape_for_cm_dpm_odd_sizes_and_one_frame(cm):
    clip = moving_clip(9, 37, 45)
    assert restorer(cm).restore_frames(clip).shape == clip.shape
    assert restorer(tiny_pipeline(cm=False), num_inference_steps=2).restore_frames(clip[:3]).shape == (3, 37, 45, 3)
    assert restorer(cm, size=24).restore_frames(clip).shape == clip.shape  # edited at 24 px, resized back
    assert restorer(cm).restore_frames(clip[:1]).shape == (1, 37, 45, 3)
    with pytest.raises(ValueError, match="frames is empty"):
        restorer(cm).restore_frames(clip[:0])
    assert restorer(cm, batch_size=1).restore_frames(clip[:3]).shape == (3, 37, 45, 3)
    plain = restorer(cm).restore_frames(clip)  # the tiny pipeline has the published settings: no colour fix
    assert (
        np.abs(plain.astype(int) - restorer(cm, colour_fix_sigma=2.0).restore_frames(clip)).max() > 0
    )  # the option reaches the editor
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        restorer(cm, batch_size=0)


def test_grid_shifts_edit_each_batch_on_shifted_grids_with_a_state_per_shift(cm, monkeypatch):
    clip = moving_clip(6, 20, 28)
    single = restorer(cm).restore_frames(clip)
    shifted = restorer(cm, grid_shifts=2).restore_frames(clip)
    assert shifted.shape == clip.shape and np.abs(shifted.astype(int) - single).max() > 0
    np.testing.assert_array_equal(shifted, restorer(cm, grid_shifts=2).restore_frames(clip))  # seeded
    with pytest.raises(ValueError, match="grid_shifts must be one of"):
        restorer(cm, grid_shifts=3)
    # each shift carries its own anchor tokens and smoothing neighbours from batch to batch
    seen = []
    original = VideoDecorruptor._edit_copy

    def recording(self, images, chunk_index, stream, prepended):
        seen.append((chunk_index, tuple(images.shape[-2:]), id(stream)))
        return original(self, images, chunk_index, stream, prepended)

    monkeypatch.setattr(VideoDecorruptor, "_edit_copy", recording)
    restorer(cm, grid_shifts=2).restore_frames(clip)  # batches of 4 and 2 frames
    assert [(chunk, size) for chunk, size, _ in seen] == [(0, (21, 29))] * 2 + [
        (1, (21, 29))
    ] * 2  # + half the factor, 2
    streams = [stream for _, _, stream in seen]
    assert streams[0] != streams[1] and streams[:2] == streams[2:]


def test_ahead_keeps_order_raises_where_the_worker_failed_and_stops_with_its_consumer():
    assert list(ahead(iter(range(20)), depth=2)) == list(range(20))

    def failing():
        yield from (0, 1)
        raise OSError("truncated")

    received = []
    with pytest.raises(OSError, match="truncated"):
        for item in ahead(failing(), depth=1):
            received.append(item)
    assert received == [0, 1]

    produced, stopped = [], threading.Event()

    def endless():
        try:
            for index in range(10_000):
                produced.append(index)
                yield index
        finally:
            stopped.set()

    stream = ahead(endless(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert stopped.wait(5) and len(produced) < 10


def test_working_size_rounds_the_long_side_to_the_vae_factor():
    assert working_size(240, 320, None, 8) == (240, 320)
    assert working_size(720, 1280, None, 8) == (288, 512)  # native capped at 512
    assert working_size(240, 320, 128, 4) == (96, 128)


def test_the_fast_preset_edits_at_160_pixels_once_per_batch_and_returns_the_source_size(cm, monkeypatch):
    fast = VideoDecorruptor(cm, preset="fast", progress=False)
    assert (fast.video.size, fast.editor_settings.grid_shifts) == (160, 1)
    assert fast.video.fusion_radius == PRESETS["default"].fusion_radius  # the default machinery otherwise
    edited = []
    original = VideoDecorruptor._edit_copy

    def recording(self, images, chunk_index, stream, prepended):
        edited.append(tuple(images.shape[-2:]))
        return original(self, images, chunk_index, stream, prepended)

    monkeypatch.setattr(VideoDecorruptor, "_edit_copy", recording)
    clip = moving_clip(3, 120, 200)
    assert fast.restore_frames(clip).shape == clip.shape
    assert edited == [(96, 160)]  # one edit of the batch, long side 160
    assert VideoDecorruptor(cm, preset="fast", size=64, grid_shifts=2, progress=False).video.size == 64  # options win


def test_anchor_attention_makes_frames_depend_on_the_anchor(cm):
    clip = moving_clip(4, 32, 32)
    other_anchor = clip.copy()
    other_anchor[0] = 255 - other_anchor[0]
    for anchor_on, should_change in ((True, True), (False, False)):
        settings = ConsistencySettings(shared_noise=True, anchor_attention=anchor_on, smoothing=0.0)
        a = restorer(cm, consistency=settings).restore_frames(clip)
        b = restorer(cm, consistency=settings).restore_frames(other_anchor)
        assert (np.abs(a[1:].astype(int) - b[1:]).max() > 0) == should_change


def test_anchor_attention_attends_to_the_frame_and_the_anchor_and_leaves_the_anchor_alone():
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    torch.manual_seed(0)
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    hidden = torch.randn(4, 5, 8)  # 2 groups of 2 frames, 5 tokens each
    processor = AnchorAttentionProcessor(AnchorState())
    recorded: list[torch.Tensor] = []
    processor.state.start_batch(2, recorded, recording=True)
    plain = AttnProcessor2_0()
    with torch.no_grad():
        out = processor(attn, hidden)
        for anchor, frame in ((0, 1), (2, 3)):
            torch.testing.assert_close(out[anchor], plain(attn, hidden[anchor : anchor + 1])[0])  # plain self-attention
            context = torch.cat([hidden[frame : frame + 1], hidden[anchor : anchor + 1]], dim=1)
            torch.testing.assert_close(out[frame], plain(attn, hidden[frame : frame + 1], context)[0])
        # A later batch of frames only (3 per group) attends to the recorded anchors.
        processor.state.start_batch(3, recorded, recording=False)
        frames = torch.randn(6, 5, 8)
        replayed = processor(attn, frames)
        for group, anchor in ((0, 0), (1, 2)):
            for t in range(3):
                index = 3 * group + t
                context = torch.cat([frames[index : index + 1], hidden[anchor : anchor + 1]], dim=1)
                torch.testing.assert_close(replayed[index], plain(attn, frames[index : index + 1], context)[0])
        with pytest.raises(RuntimeError, match="recorded for 1 attention calls"):
            processor(attn, frames)
        processor.state.enabled = False
        torch.testing.assert_close(processor(attn, hidden), plain(attn, hidden))


def test_the_pipeline_stays_usable_on_its_own_and_restorers_share_it(cm):
    clip = moving_clip(3, 32, 32)
    first = restorer(cm)
    expected = first.restore_frames(clip)
    assert cm(image=clip[0], generator=torch.Generator().manual_seed(0)).images.shape == (1, 32, 32, 3)
    second = restorer(cm)
    assert second._anchor_state is first._anchor_state
    np.testing.assert_array_equal(first.restore_frames(clip), expected)


def test_shared_noise_gives_equal_frames_equal_results_across_chunks(cm):
    static = np.repeat(moving_clip(1, 32, 32), 7, axis=0)  # 7 identical frames -> chunks of 4 and 3
    shared = restorer(cm, consistency=ConsistencySettings(True, True, 0.5)).restore_frames(static)
    assert np.abs(shared.astype(int) - shared[0]).max() <= 1
    independent = restorer(cm, consistency=ConsistencySettings.none()).restore_frames(static)
    assert np.abs(independent.astype(int) - independent[0]).max() > 5


@pytest.mark.parametrize("kind", ["cm", "dpm"])
def test_replaying_the_anchor_equals_carrying_it_in_every_batch(cm, kind):
    """Chunks after the first get the anchor's recorded tokens; the result is that of editing
    ``[anchor, frames]`` together (no smoothing, shared noise: the anchor's path is the same).
    DPM's guidance batch holds three groups, each with its own anchor."""
    pipe, steps = (cm, None) if kind == "cm" else (tiny_pipeline(cm=False), 2)
    clip = moving_clip(7, 32, 32)
    settings = ConsistencySettings(shared_noise=True, anchor_attention=True, smoothing=0.0)
    streamed = restorer(pipe, consistency=settings, batch_size=3, num_inference_steps=steps).restore_frames(clip)
    together = restorer(pipe, consistency=settings, batch_size=4, num_inference_steps=steps)
    for start in (3, 6):
        carried_along = together.restore_frames(np.concatenate([clip[:1], clip[start : start + 3]]))[1:]
        assert np.abs(streamed[start : start + 3].astype(int) - carried_along).max() <= 1


def test_restorers_sharing_a_pipeline_can_interleave_videos(cm):
    """Each video keeps its own recorded anchor and carried latents, not the shared processors."""
    clips = moving_clip(6, 32, 32), 255 - moving_clip(6, 32, 32)
    restorers = restorer(cm, batch_size=2), restorer(cm, batch_size=2)
    expected = [r.restore_frames(c) for r, c in zip(restorers, clips)]
    streams = [r._restore_stream(iter([c]), c[0]) for r, c in zip(restorers, clips)]
    outputs: tuple[list, list] = ([], [])
    for batches in zip(*streams):  # batch 1 of video A, batch 1 of video B, batch 2 of A, ...
        for output, batch in zip(outputs, batches):
            output.append(batch)
    for output, alone in zip(outputs, expected):
        assert np.abs(np.concatenate(output).astype(int) - alone).max() <= 1


def test_smoothing_carries_across_chunk_boundaries(cm):
    """With smoothing, the first frame of a chunk depends on the previous chunk's last frame."""
    clip = moving_clip(6, 32, 32)
    settings = ConsistencySettings(shared_noise=True, anchor_attention=False, smoothing=0.5)
    streamed = restorer(cm, consistency=settings, batch_size=3).restore_frames(clip)
    alone = restorer(cm, consistency=settings, batch_size=3).restore_frames(clip[3:])
    assert np.abs(streamed[3].astype(int) - alone[0]).max() > 0
    unsmoothed = ConsistencySettings(shared_noise=True, anchor_attention=False, smoothing=0.0)
    streamed = restorer(cm, consistency=unsmoothed, batch_size=3).restore_frames(clip)
    alone = restorer(cm, consistency=unsmoothed, batch_size=3).restore_frames(clip[3:])
    assert np.abs(streamed[3].astype(int) - alone[0]).max() <= 1


@pytest.mark.parametrize(("steps", "passes_per_step"), [(1, 4), (2, 2), (4, 1), (8, 1)])
def test_fewer_steps_smooth_more_per_step(cm, steps, passes_per_step, monkeypatch):
    """Four smoothing passes per sampling run at least, whatever the step count."""
    import video_decorruptor.restore.restorer as restore_module

    calls = []

    def counting_smooth(latents, strength, tolerance=None):
        if latents.shape[-1] > 1:  # latents, not the per-frame estimates (B, C, 1, 1) smoothed beside them
            calls.append(latents.shape[0])
        return temporal_smooth(latents, strength, tolerance)

    monkeypatch.setattr(restore_module, "temporal_smooth", counting_smooth)
    settings = ConsistencySettings(shared_noise=True, anchor_attention=False, smoothing=0.5)
    restorer(cm, consistency=settings, colour_fix_sigma=0, num_inference_steps=steps).restore_frames(
        moving_clip(4, 16, 16)
    )
    assert len(calls) == steps * passes_per_step


def test_the_colour_reference_is_the_input_smoothed_along_time_across_batches(cm):
    from video_decorruptor.restore.restorer import _StreamState

    static = 0.2 + 0.6 * torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    flickering = (
        static + 0.05 * torch.tensor([(-1.0) ** t for t in range(8)])[:, None, None, None]
    )  # brightness flicker
    smoothing = restorer(cm)
    stream = _StreamState()
    reference = torch.cat(
        [smoothing._colour_reference(flickering[:4], stream), smoothing._colour_reference(flickering[4:], stream)]
    )
    assert reference.shape == flickering.shape

    def brightness_steps(frames: torch.Tensor) -> float:
        return float(frames.mean(dim=(1, 2, 3)).diff().abs().mean())

    assert brightness_steps(reference) < 0.5 * brightness_steps(flickering)
    # The first frame of the second batch had the first batch's last frame as its left neighbour.
    alone = smoothing._colour_reference(flickering[4:], _StreamState())
    assert (reference[4] - alone[0]).abs().max() > 0.01
    unsmoothed = restorer(cm, consistency=ConsistencySettings(smoothing=0.0))
    assert torch.equal(unsmoothed._colour_reference(flickering, _StreamState()), flickering)


def test_temporal_smooth_spares_motion_and_keeps_static_content():
    torch.manual_seed(0)
    static = torch.randn(1, 4, 8, 8).repeat(5, 1, 1, 1)
    torch.testing.assert_close(temporal_smooth(static, 0.5), static)  # nothing to smooth
    noisy = static + 0.05 * torch.randn_like(static)
    assert (temporal_smooth(noisy, 0.5) - static).abs().mean() < (noisy - static).abs().mean()
    moving = noisy.clone()
    moving[2, :, :4] += 5.0  # a large change in one region of one frame: real motion
    smoothed = temporal_smooth(moving, 0.5)
    assert (smoothed[2, :, :4] - moving[2, :, :4]).abs().mean() < 0.05  # barely touched
    assert torch.equal(temporal_smooth(moving, 0.0), moving)


def test_a_denoised_estimate_replaced_at_step_end_moves_the_result(cm):
    image = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    denoised = {"callback_on_step_end_tensor_inputs": ["denoised"], "generator": torch.Generator().manual_seed(0)}
    plain = cm(image=image, generator=torch.Generator().manual_seed(0)).images
    same = cm(image=image, callback_on_step_end=lambda pipe, i, t, x: x, **denoised).images
    assert np.abs(plain.astype(int) - same).max() <= 1
    zeros = cm(
        image=image,
        callback_on_step_end=lambda pipe, i, t, x: {"denoised": torch.zeros_like(x["denoised"])},
        **denoised,
    ).images
    expected = cm.decode_latents(torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 16, 16))
    expected = (expected.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()[0]
    assert np.abs(zeros.astype(int) - expected).max() <= 1  # the last step's x0 is what gets decoded


def test_restore_video_streams_to_a_file_with_side_by_side(cm, tmp_path):
    clip = moving_clip(10, 32, 40)
    write_video(tmp_path / "in.mp4", clip, 30, lossless=True)
    fused = restorer(cm, fusion_radius=2)  # each batch comes out after the next one is read: the pairing must wait
    summary = fused.restore_video(tmp_path / "in.mp4", tmp_path / "out.mp4", side_by_side=True)
    frames, info = read_video(tmp_path / "out.mp4")
    assert summary["frames"] == 10 and info.num_frames == 10 and info.fps == 30
    assert frames.shape == (10, 32, 80, 3)
    # The left half is the input, frame for frame (up to the H.264 encode).
    left = frames[:, :, :40].astype(int)
    for t in range(10):
        errors = [np.abs(left[t] - clip[s]).mean() for s in range(10)]
        assert int(np.argmin(errors)) == t


def test_restore_video_keeps_the_audio(cm, tmp_path):
    import av

    source = write_clip_with_audio(tmp_path / "talk.mp4", frames=6)
    restorer(cm).restore_video(source, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.audio and container.streams.video[0].frames == 6


def test_a_failure_mid_video_leaves_no_output(cm, tmp_path):
    write_video(tmp_path / "in.mp4", moving_clip(12, 32, 32), 25, lossless=True)
    video = restorer(cm)
    calls = []
    original = video._edit

    def failing(frames, index, stream, anchor):
        calls.append(index)
        if index == 2:
            raise RuntimeError("editor crashed")
        return original(frames, index, stream, anchor)

    video._edit = failing
    with pytest.raises(RuntimeError, match="editor crashed"):
        video.restore_video(tmp_path / "in.mp4", tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_metrics_on_consistent_and_flickering_outputs():
    clean = moving_clip(6, 48, 64)
    assert psnr(clean, clean) == 100.0 and ssim(clean, clean) == pytest.approx(1.0)
    assert flicker(clean, clean) == pytest.approx(1.0)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    assert warping_error(clean, noisy) > 3 * warping_error(clean, clean)
    assert flicker(clean, noisy) > 1.2  # the pan itself changes a lot between frames
    assert 20 < psnr(clean, noisy) < 35
    with pytest.raises(ValueError, match="must both be"):
        psnr(clean, clean[:3])


def test_grain_is_the_spread_of_fine_texture_and_its_ratio_tells_added_grain_from_lost_detail():
    flat = np.full((3, 32, 40, 3), 120, np.uint8)
    assert grain(flat) == 0.0
    noise = np.random.default_rng(0).normal(0, 10, flat.shape)
    noisy = np.clip(flat + noise, 0, 255).astype(np.uint8)
    # white noise of std s minus its 3x3 Gaussian blur (OpenCV's [1, 2, 1] / 4 kernel, centre weight 1/4)
    # keeps sqrt(0.75^2 + 4 / 8^2 + 4 / 16^2) = 0.80 s
    assert 7.6 < grain(noisy) < 8.4
    clean = moving_clip(4, 48, 64)
    assert grain_ratio(clean, clean) == pytest.approx(1.0)
    grainy = np.clip(clean + np.random.default_rng(1).normal(0, 16, clean.shape), 0, 255).astype(np.uint8)
    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in clean])
    assert grain_ratio(clean, grainy) > 1.3 > 1.0 > grain_ratio(clean, blurred)
    with pytest.raises(ValueError, match="must both be"):
        grain_ratio(clean, clean[:2])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "video_decorruptor", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def model_dir(cm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    cm.save_pretrained(folder)
    return folder


def test_restore_cli_end_to_end_and_overwrite(model_dir, tmp_path):
    noise = np.random.default_rng(0).normal(0, 30, (5, 32, 32, 3))  # noisy: the fusion steps aside on a clean clip
    noisy = np.clip(moving_clip(5, 32, 32) + noise, 0, 255).astype(np.uint8)
    write_video(tmp_path / "in.mp4", noisy, 25, lossless=True)
    out = tmp_path / "out.mp4"
    result = run_cli(
        "restore", str(tmp_path / "in.mp4"), "-o", str(out), "--model", str(model_dir), "--batch-size", "3"
    )
    assert result.returncode == 0, result.stderr
    assert "restored 5 frames" in result.stdout and str(out) in result.stdout
    unfused = tmp_path / "unfused.mp4"
    assert (
        run_cli(
            "restore",
            str(tmp_path / "in.mp4"),
            "-o",
            str(unfused),
            "--model",
            str(model_dir),
            "--batch-size",
            "3",
            "--fusion-radius",
            "0",
        ).returncode
        == 0
    )
    assert np.abs(read_video(unfused)[0].astype(int) - read_video(out)[0]).max() > 0  # fusion: on by default for noise
    again = run_cli("restore", str(tmp_path / "in.mp4"), "-o", str(out), "--model", str(model_dir))
    assert again.returncode == 1 and "exists; pass --overwrite" in again.stderr
    assert (
        run_cli(
            "restore", str(tmp_path / "in.mp4"), "-o", str(out), "--model", str(model_dir), "--overwrite"
        ).returncode
        == 0
    )


def test_restore_cli_handles_grayscale_and_one_frame_videos(model_dir, tmp_path):
    import av

    gray = tmp_path / "gray.mp4"
    with av.open(str(gray), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = 32, 32, "gray"
        for t in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32), 60 * t, np.uint8), format="gray")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    write_video(tmp_path / "one.mp4", moving_clip(1, 32, 32), 25)
    for source, frames in ((gray, 3), (tmp_path / "one.mp4", 1)):
        result = run_cli("restore", str(source), "-o", str(tmp_path / f"r_{source.name}"), "--model", str(model_dir))
        assert result.returncode == 0, result.stderr
        assert read_video(tmp_path / f"r_{source.name}")[0].shape == (frames, 32, 32, 3)


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "text", "no-model", "bad-model"])
def test_restore_cli_bad_inputs_are_one_clear_line_and_leave_nothing(case, model_dir, tmp_path, capsys):
    from video_decorruptor.cli import main

    good = tmp_path / "good.mp4"
    write_video(good, moving_clip(4, 32, 32), 25)
    source, model = tmp_path / "in.mp4", str(model_dir)
    if case == "empty":
        source.touch()
    elif case == "truncated":
        source.write_bytes(good.read_bytes()[:600])
    elif case == "text":
        source.write_text("not a video\n" * 50)
    elif case in ("no-model", "bad-model"):
        source = good
        model = str(tmp_path / "nowhere") if case == "no-model" else str(tmp_path)
    before = set(tmp_path.iterdir())
    assert main(["restore", str(source), "-o", str(tmp_path / "out.mp4"), "--model", model]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("video-decorruptor: error:")
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "option, value",
    [
        ("--batch-size", "0"),
        ("--steps", "-1"),
        ("--size", "0"),
        ("--smoothing", "-0.5"),
        ("--colour-fix", "-1"),
        ("--grid-shifts", "3"),
        ("--fusion-radius", "-1"),
        ("--image-guidance", "-1"),
    ],
)
def test_restore_cli_out_of_range_numbers_are_bad_usage(option, value, tmp_path, capsys):
    from video_decorruptor.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.mp4"), option, value])
    assert exit_info.value.code == 2
    assert (
        f"argument {option}: " + ("invalid choice" if option == "--grid-shifts" else "must be >= ")
        in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


def test_the_compiled_channels_last_path_restores_a_video_as_the_plain_path_does(tmp_path, clip):
    """Channels-last weights and a compiled UNet (inductor on this CPU; CUDA graphs need a GPU) give the
    plain path's frames within one grey level, anchor attention and smoothing included."""
    tiny_pipeline(cm=True).save_pretrained(tmp_path / "cm")
    restored = {}
    for name, options in {"plain": {"channels_last": False}, "fast": {"channels_last": True, "compile": True}}.items():
        pipe = load_editor(tmp_path / "cm", device="cpu", **options)
        restored[name] = VideoDecorruptor(pipe, batch_size=4, num_inference_steps=2, progress=False).restore_frames(
            clip[:8]
        )
    assert np.abs(restored["fast"].astype(int) - restored["plain"].astype(int)).max() <= 1


def test_a_deep_source_keeps_its_bits_where_no_stage_changes_it(tmp_path):
    """A 10-bit clip: the stages see it at 8 bits, their changes are carried onto its own samples,
    and the writer keeps 10 bits (H.264 High 10); a clean clip comes back with every bit it had."""
    import av

    from video_decorruptor.io import VideoWriter, open_video
    from video_decorruptor.restore.restorer import carry_onto_deep

    clip = moving_clip(6, 96, 128)
    finer = (np.arange(128) % 4 * 64).astype(np.uint16)[None, None, :, None]  # detail below 8 bits
    write_video(tmp_path / "deep.mp4", np.minimum(clip.astype(np.uint32) * 257 + finer, 65535).astype(np.uint16), 25)
    reader = open_video(tmp_path / "deep.mp4", deep=True)
    source = np.concatenate(list(reader.chunks(4)))
    reader.close()
    assert reader.info.bits == 10 and source.dtype == np.uint16 and np.mean(source % 257 != 0) > 0.5

    written = []

    class Recording(VideoWriter):
        def write(self, frames: np.ndarray) -> None:
            written.append(frames)
            super().write(frames)

    restorer = VideoDecorruptor.from_pretrained(progress=False)
    restorer.restore_video(tmp_path / "deep.mp4", tmp_path / "out.mp4", open_writer=lambda p, f, h, w: Recording(p, f))
    assert restorer.explain()["edit"] == restorer.explain()["fusion"] == 0
    np.testing.assert_array_equal(np.concatenate(written), source)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"

    # a changed pixel moves by the change, whole 8-bit levels, and keeps the source's finer bits
    restored = np.clip(source[:2] // 257 + np.random.default_rng(0).integers(-3, 4, source[:2].shape), 0, 255)
    carried = carry_onto_deep(restored.astype(np.uint8), source[:2])
    assert carried.dtype == np.uint16
    moved = carried.astype(int) - source[:2]
    inside = (carried > 0) & (carried < 65535)
    assert np.all(moved[inside] % 257 == 0) and np.any(moved[inside])
