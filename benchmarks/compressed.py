"""Compressed footage: restoration of corrupted clips stored as the published UCF-101C stores them.

Real corrupted video is compressed. Clean 320x240 pans (a dead-leaves scene, as the editor's
procedural training images are drawn, and scikit-image photos; never the held-out photos that
measure restoration quality elsewhere) are corrupted with contrast, brightness, gauss, jpeg and
motion at severities 3 and 5, stored through the published-storage writer (MPEG-4 Part 2 as
OpenCV's ``mp4v`` writes it), decoded and restored with the defaults. Per row, against the clean
clip: PSNR of the decoded input and of the restored clip, and the grain ratio (fine texture of the
restored clip over the clean one's, :func:`video_decorruptor.benchmark.metrics.grain_ratio`), which
catches codec blocks and ringing stretched back into view with the contrast.

Targets: restored PSNR >= input PSNR + 2 dB on average over the rows, no row below its input by
more than 0.5 dB, and a grain ratio <= 1.3 on every contrast and brightness row.

    python benchmarks/compressed.py [--frames 16] [--clips 3] [--model PATH] [editor options: --help]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.procedural import dead_leaves  # noqa: E402
from image_core.sources import training_photos  # noqa: E402
from video_decorruptor.benchmark.corruptions import corrupt_frames  # noqa: E402
from video_decorruptor.benchmark.metrics import grain_ratio, psnr  # noqa: E402
from video_decorruptor.benchmark.ucf101c import write_published_storage  # noqa: E402
from video_decorruptor.io import read_video  # noqa: E402
from video_decorruptor.options import add_editor_options, restorer_settings  # noqa: E402
from video_decorruptor.restore.restorer import VideoDecorruptor  # noqa: E402

CORRUPTIONS = ("contrast", "brightness", "gauss", "jpeg", "motion")
TONE_CORRUPTIONS = ("contrast", "brightness")  # the rows held to the grain target
PHOTOS = (0, 2)  # scikit-image's astronaut and coffee (image_core.sources.training_photos)
WIDTH, HEIGHT, FPS = 320, 240, 25


def pan(scene: np.ndarray, frames: int) -> np.ndarray:
    """A left-to-right pan of a WIDTH x HEIGHT window across ``scene`` scaled to 1.5 x HEIGHT tall:
    (frames, HEIGHT, WIDTH, 3) uint8."""
    scale = 1.5 * HEIGHT / scene.shape[0]
    scene = cv2.resize(scene, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if scene.shape[1] < WIDTH + frames:  # narrow scenes are widened so that the pan has room
        scene = cv2.resize(scene, (WIDTH + 2 * frames, scene.shape[0]), interpolation=cv2.INTER_CUBIC)
    top = (scene.shape[0] - HEIGHT) // 2
    lefts = np.linspace(0, scene.shape[1] - WIDTH, frames + 2)[1:-1].astype(int)
    return np.stack([scene[top : top + HEIGHT, x : x + WIDTH] for x in lefts])


def clean_clips(count: int, frames: int) -> dict[str, np.ndarray]:
    """The dead-leaves pan, then pans over ``PHOTOS``, ``count`` clips in all."""
    scenes = {"dead leaves": dead_leaves(480, np.random.default_rng(7))}
    photos = training_photos()
    scenes |= {f"photo {index}": photos[index] for index in PHOTOS}
    return {name: pan(scene, frames) for name, scene in list(scenes.items())[:count]}


def stored(frames: np.ndarray, folder: str) -> np.ndarray:
    """The frames after a round trip through the published UCF-101C storage."""
    path = Path(folder) / "clip.mp4"
    write_published_storage(path, frames, FPS)
    return read_video(path)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--clips", type=int, default=3, choices=range(1, 4), help="clean clips, 1 to 3 (default 3)")
    parser.add_argument("--severities", default="3,5")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/compressed.json)")
    add_editor_options(parser)
    args = parser.parse_args()

    restorer = VideoDecorruptor.from_pretrained(**{**restorer_settings(args), "progress": False})
    clips = clean_clips(args.clips, args.frames)
    severities = [int(s) for s in args.severities.split(",")]
    rows, records, elapsed, restored_frames = [], [], 0.0, 0
    with tempfile.TemporaryDirectory() as folder:
        for corruption in CORRUPTIONS:
            for severity in severities:
                scores = {"input": [], "restored": [], "grain": [], "input grain": []}
                for clean in clips.values():
                    corrupted = stored(corrupt_frames(clean, corruption, severity, rng=0), folder)
                    start = time.perf_counter()
                    restored = restorer.restore_frames(corrupted)
                    elapsed += time.perf_counter() - start
                    restored_frames += len(restored)
                    scores["input"].append(psnr(clean, corrupted))
                    scores["restored"].append(psnr(clean, restored))
                    scores["grain"].append(grain_ratio(clean, restored))
                    scores["input grain"].append(grain_ratio(clean, corrupted))
                mean = {key: float(np.mean(values)) for key, values in scores.items()}
                records.append({"corruption": corruption, "severity": severity, **mean})
                rows.append(
                    [
                        f"{corruption} {severity}",
                        f"{mean['input']:.2f}",
                        f"{mean['restored']:.2f}",
                        f"{mean['restored'] - mean['input']:+.2f}",
                        f"{mean['input grain']:.2f}",
                        f"{mean['grain']:.2f}",
                    ]
                )
                print(f"{corruption} {severity}: done", flush=True)

    gains = [r["restored"] - r["input"] for r in records]
    worst = min(gains)
    grain_worst = max(r["grain"] for r in records if r["corruption"] in TONE_CORRUPTIONS)
    checks = {
        "mean gain >= +2 dB": float(np.mean(gains)) >= 2.0,
        "no row below input - 0.5 dB": worst >= -0.5,
        "grain ratio <= 1.3 on contrast and brightness": grain_worst <= 1.3,
    }
    print(
        f"\n{len(clips)} clips ({', '.join(clips)}) of {args.frames} frames at {WIDTH}x{HEIGHT}, stored as the "
        f"published UCF-101C stores them; restored at {restored_frames / elapsed:.2f} frames/s\n"
    )
    print(
        markdown_table(
            ["corruption", "input PSNR dB", "restored PSNR dB", "gain dB", "input grain", "restored grain"], rows
        )
    )
    print(f"\nmean gain {np.mean(gains):+.2f} dB, worst row {worst:+.2f} dB, worst tone-row grain {grain_worst:.2f}")
    for name, passed in checks.items():
        print(f"{name}: {'PASS' if passed else 'FAIL'}")
    save_json(
        "compressed",
        {
            "frames": args.frames,
            "clips": list(clips),
            "frames_per_second": restored_frames / elapsed,
            "rows": records,
            "mean_gain": float(np.mean(gains)),
            "worst_gain": worst,
            "worst_tone_grain": grain_worst,
            "checks": checks,
        },
        args.output,
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
