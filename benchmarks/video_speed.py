"""Video restoration speed and memory: end to end through ``restore_video`` at 320x240, batched
VideoDecorruptor vs one editor call per frame, and peak memory of a long video against a short one.

End to end: a corrupted 320x240 pan (gauss, severity 3) stored as the published UCF-101C stores it
is restored file to file (decoding, tone correction, fusion, editing and encoding included, the
model already loaded), best of ``--repeats`` runs, with the defaults, with 1 and 4 grid shifts and
with ``--preset fast``; for each, the editor alone on the same frames in the same batches (what the
rest of the video path is measured against), the PSNR of the restored 320x240 clip and the quality
of the ``make demo`` clip restored in memory (PSNR and warping error against the clean clip): the
speed and quality trade-off.

Batched vs per-frame: both paths edit the same noisy pan (gauss, severity 3: a clean one would
have the video layer's gates skip the edit) as decoded: the batched one is the video layer
without its temporal fusion, which runs before any edit and is no part of batching; the fusion's own
cost per frame (at the video layer's default radius) is printed beside them.

Targets: >= 3 frames/s end to end at 320x240 with the defaults on a 2-core CPU; end to end >= 60% of
the editor alone on a GPU; batched >= 2x the per-frame frames/s on this CPU; peak RSS restoring 2,000
frames <= 1.5x that of 200 frames. Also printed: the editor's floating-point work per frame and the
rate each path reaches, against a large matrix product on the same machine (what the cores can do
at best).

    python benchmarks/video_speed.py [--model PATH] [--frames 64] [--sizes 128,224] [--rss-frames 200,2000]
        [--end-to-end-frames 48] [--repeats 2] [--device cpu|cuda] [--compile]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.editor import load_editor  # noqa: E402
from image_core.sources import sample_photo  # noqa: E402
from video_decorruptor.restore.fusion import fuse_frames  # noqa: E402
from video_decorruptor.restore.presets import PRESETS  # noqa: E402
from video_decorruptor.restore.restorer import VideoDecorruptor, resize_frame  # noqa: E402


def pan(frames: int, width: int) -> np.ndarray:
    height = width * 3 // 4
    photo = sample_photo(width + frames)
    return np.stack([photo[:height, t : t + width] for t in range(frames)])


def gflop_per_frame(pipe, frame: np.ndarray) -> tuple[float, float]:
    """Floating-point work of one editor call on one frame (convolutions and matrix products):
    (total, the autoencoder's part), the latter being the work that batching cannot share."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, depth=1) as counter:
        pipe(image=frame, generator=torch.Generator().manual_seed(0))
    total = counter.get_total_flops() / 1e9
    unet = sum(counter.get_flop_counts().get(type(pipe.unet).__name__, {}).values()) / 1e9
    return total, total - unet


MATMUL_SIZE = 2048


def matmul_gflops(size: int = MATMUL_SIZE, repeats: int = 10) -> float:
    """GFLOP/s of a float32 ``size`` x ``size`` matrix product: the practical peak of these cores."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def peak_rss_mb(model: str | None, frames: int, width: int) -> float:
    """Peak resident memory of a fresh process restoring a ``frames``-long video from disk."""
    with tempfile.TemporaryDirectory() as folder:
        script = f"""
import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from video_speed import pan
from video_decorruptor.io import VideoWriter
from video_decorruptor.restore.restorer import VideoDecorruptor
with VideoWriter({folder!r} + '/in.mp4', 25) as writer:
    for start in range(0, {frames}, 100):
        writer.write(pan(min(100, {frames} - start), {width}))
VideoDecorruptor.from_pretrained({model!r}, progress=False).restore_video(
    {folder!r} + '/in.mp4', {folder!r} + '/out.mp4'
)
import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
        output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        return int(output.strip().splitlines()[-1]) / 1024


END_TO_END_SIZE = (240, 320)  # (h, w) of a UCF-101 clip
SETTINGS = (  # (label, preset, grid shifts; None: the preset's, else the checkpoint's)
    ("default", "default", None),
    ("default, 1 grid shift", "default", 1),
    ("default, 4 grid shifts", "default", 4),
    ("fast", "fast", None),
)


def editor_only_speed(restorer: VideoDecorruptor, frames: np.ndarray, repeats: int) -> float:
    """Frames/s of the editor alone (its own grid shifts, colour fix and tone correction) on ``frames``
    resized to the restorer's working size, in the restorer's batches, best of ``repeats``: the rate
    that decoding, fusion, the temporal machinery and encoding are measured against."""
    size = restorer.working_size(*frames.shape[1:3])
    resized = np.stack([resize_frame(frame, size) for frame in frames])
    batch = restorer.video.batch_size
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for first in range(0, len(resized), batch):
            restorer.pipe(image=resized[first : first + batch], settings=restorer.editor_settings)
        best = max(best, len(resized) / (time.perf_counter() - start))
    return best


def end_to_end(args: argparse.Namespace) -> tuple[list[list], dict]:
    """Rows of the end-to-end table (one per setting) and the figures behind them."""
    from video_decorruptor.benchmark.corruptions import corrupt_frames
    from video_decorruptor.benchmark.metrics import psnr, warping_error
    from video_decorruptor.benchmark.ucf101c import write_published_storage
    from video_decorruptor.demo import camera_clip
    from video_decorruptor.io import read_video

    height, width = END_TO_END_SIZE
    photo = sample_photo(width + 2 * args.end_to_end_frames)
    clean = np.stack([photo[:height, 2 * t : 2 * t + width] for t in range(args.end_to_end_frames)])
    demo_clean = camera_clip()
    demo_corrupted = corrupt_frames(demo_clean, "gauss", 3, rng=0)
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.mp4", Path(folder) / "out.mp4"
        write_published_storage(source, corrupt_frames(clean, "gauss", 3, rng=0), 25)
        input_psnr = psnr(clean, read_video(source)[0])
        pipe = load_editor(args.model, device=args.device, compile=args.compile)
        for label, preset, shifts in SETTINGS:
            restorer = VideoDecorruptor(pipe, preset=preset, grid_shifts=shifts, progress=False)
            restorer.restore_frames(clean[:8])  # warm-up (and, with --compile, compilation)
            speed = max(restorer.restore_video(source, target)["frames_per_second"] for _ in range(args.repeats))
            editor_speed = editor_only_speed(restorer, clean, args.repeats)
            restored = restorer.restore_frames(demo_corrupted)
            quality = {
                "psnr_320x240": psnr(clean, read_video(target)[0]),
                "demo_psnr": psnr(demo_clean, restored),
                "demo_warping_error": warping_error(demo_clean, restored),
            }
            figures[label] = {"frames_per_second": speed, "editor_frames_per_second": editor_speed, **quality}
            rows.append(
                [
                    label,
                    f"{speed:.2f}",
                    f"{editor_speed:.2f} ({100 * speed / editor_speed:.0f}%)",
                    f"{quality['psnr_320x240']:.2f}",
                    f"{quality['demo_psnr']:.2f}",
                    f"{quality['demo_warping_error']:.5f}",
                ]
            )
    return rows, {"input_psnr_320x240": input_psnr, "settings": figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the embedded Decorruptor-Tiny CM)")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--sizes", default="128,224", help="long sides (widths) in pixels")
    parser.add_argument("--rss-frames", default="200,2000")
    parser.add_argument("--rss-width", type=int, default=64)
    parser.add_argument("--end-to-end-frames", type=int, default=48, help="length of the 320x240 clip (default 48)")
    parser.add_argument("--repeats", type=int, default=2, help="end-to-end runs per setting, the best kept (default 2)")
    parser.add_argument("--device", default="cpu", help="device of the end-to-end rows (default cpu)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet for the end-to-end rows")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/video_speed.json)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    e2e_rows, e2e = end_to_end(args)
    print(
        f"end to end: a {args.end_to_end_frames}-frame {END_TO_END_SIZE[1]}x{END_TO_END_SIZE[0]} gauss-3 clip, file to "
        f"file on {args.device} ({torch.get_num_threads()} threads), best of {args.repeats}; quality on the demo clip\n"
    )
    print(
        markdown_table(
            [
                "setting",
                "frames/s end to end",
                "editor alone (end to end of it)",
                "320x240 PSNR dB",
                "demo PSNR dB",
                "demo warping error",
            ],
            e2e_rows,
        )
    )
    default_speed = e2e["settings"]["default"]["frames_per_second"]
    fast_speed = e2e["settings"]["fast"]["frames_per_second"]
    share = default_speed / e2e["settings"]["default"]["editor_frames_per_second"]
    print(
        f"\n320x240 input PSNR {e2e['input_psnr_320x240']:.2f} dB; frames/s end to end (target >= 3): "
        f"default {default_speed:.2f} ({'PASS' if default_speed >= 3 else 'FAIL'}), "
        f"--preset fast {fast_speed:.2f} ({'PASS' if fast_speed >= 3 else 'FAIL'}); the default end to end runs at "
        f"{share:.0%} of the editor alone (target on a GPU >= 60%"
        + (f": {'PASS' if share >= 0.6 else 'FAIL'})\n" if args.device.startswith("cuda") else ")\n")
    )

    from video_decorruptor.benchmark.corruptions import corrupt_frames

    pipe = load_editor(args.model)
    pipe.set_progress_bar_config(disable=True)
    rows, speeds = [], {}
    for width in map(int, args.sizes.split(",")):
        clip = corrupt_frames(pan(args.frames, width), "gauss", 3, rng=0)
        restorer = VideoDecorruptor(pipe, fusion_radius=0, progress=False)
        restorer.restore_frames(clip[:2])  # warm-up
        start = time.perf_counter()
        restorer.restore_frames(clip)
        batched = args.frames / (time.perf_counter() - start)
        start = time.perf_counter()
        for frame in clip:
            pipe(image=frame, generator=torch.Generator().manual_seed(0))
        single = args.frames / (time.perf_counter() - start)
        start = time.perf_counter()
        fuse_frames(clip, PRESETS["default"].fusion_radius)
        fusion_ms = 1000 * (time.perf_counter() - start) / args.frames
        work, autoencoder = gflop_per_frame(pipe, clip[0])
        speeds[width] = {
            "batched": batched,
            "per_frame": single,
            "ratio": batched / single,
            "gflop_per_frame": work,
            "autoencoder_gflop_per_frame": autoencoder,
            "fusion_ms_per_frame": fusion_ms,
        }
        rows.append(
            [
                f"{width}x{width * 3 // 4}",
                batched,
                single,
                f"{batched / single:.2f}x",
                f"{fusion_ms:.1f}",
                f"{work:.1f}",
                f"{autoencoder:.1f}",
                f"{batched * work:.0f}",
                f"{single * work:.0f}",
            ]
        )
    peak = matmul_gflops()
    short, long = map(int, args.rss_frames.split(","))
    rss = {n: peak_rss_mb(args.model, n, args.rss_width) for n in (short, long)}

    print(f"restoring a {args.frames}-frame clip ({torch.get_num_threads()} threads)\n")
    print(
        markdown_table(
            [
                "size",
                "batched frames/s",
                "per-frame frames/s",
                "speed-up",
                "fusion ms/frame",
                "GFLOP/frame",
                "of it autoencoder",
                "batched GFLOP/s",
                "per-frame GFLOP/s",
            ],
            rows,
        )
    )
    print(
        f"\nfloat32 {MATMUL_SIZE}x{MATMUL_SIZE} matrix product: {peak:.0f} GFLOP/s; 2x the per-frame rate would take "
        + ", ".join(
            f"{2 * speed['per_frame'] * speed['gflop_per_frame'] / peak:.0%} of it at width {width}"
            for width, speed in speeds.items()
        )
    )
    print(
        f"\npeak RSS at width {args.rss_width}: {rss[short]:.0f} MB for {short} frames, "
        f"{rss[long]:.0f} MB for {long} frames "
        f"({rss[long] / rss[short]:.2f}x)"
    )
    passed = all(s["ratio"] >= 2 for s in speeds.values()) and rss[long] <= 1.5 * rss[short] and default_speed >= 3
    print(
        "targets: >= 3 frames/s end to end, batched >= 2x per-frame, long/short RSS <= 1.5: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    save_json(
        "video_speed",
        {
            "frames": args.frames,
            "end_to_end": e2e,
            "speeds": speeds,
            "matmul_gflops": peak,
            "peak_rss_mb": rss,
            "pass": passed,
        },
        args.output,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
