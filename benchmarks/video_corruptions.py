"""Frames per second of every video corruption at 320x240 on a 150-frame clip (in memory).

Target: median over the 12 UCF-101C corruptions >= 60 frames/s on this machine.

    python benchmarks/video_corruptions.py [--frames 150] [--severity 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.sources import sample_photo  # noqa: E402
from video_decorruptor.benchmark.corruptions import (
    UCF101C_CORRUPTIONS,
    VIDEO_CORRUPTIONS,
    corrupt_frames,
    video_corruption_names,
)  # noqa: E402

TARGET_FPS = 60.0


def panning_clip(num_frames: int, height: int = 240, width: int = 320) -> np.ndarray:
    """A slow camera pan over a real photo, the motion a UCF-101 clip has."""
    photo = sample_photo(max(height, width) + num_frames)
    return np.stack([photo[:height, t : t + width] for t in range(num_frames)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--severity", type=int, default=5)
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/video_corruptions.json)")
    args = parser.parse_args()

    clip = panning_clip(args.frames)
    fps_by_name = {}
    for name in video_corruption_names():
        corrupt_frames(clip[:8], name, args.severity, rng=0, source_bit_rate=400_000)  # warm-up
        start = time.perf_counter()
        corrupt_frames(clip, name, args.severity, rng=0, fps=25, source_bit_rate=400_000)
        fps_by_name[name] = args.frames / (time.perf_counter() - start)
    rows = [
        [name, VIDEO_CORRUPTIONS[name].kind, "yes" if name in UCF101C_CORRUPTIONS else "", fps]
        for name, fps in fps_by_name.items()
    ]
    print(f"frames/s at 320x240, {args.frames}-frame clip, severity {args.severity}\n")
    print(markdown_table(["corruption", "kind", "UCF-101C", "frames/s"], rows))
    median = statistics.median(fps_by_name[name] for name in UCF101C_CORRUPTIONS)
    passed = median >= TARGET_FPS
    print(
        f"\nmedian over the 12 UCF-101C corruptions: {median:.0f} frames/s "
        f"(target >= {TARGET_FPS:.0f}) {'PASS' if passed else 'FAIL'}"
    )
    save_json(
        "video_corruptions",
        {
            "frames": args.frames,
            "severity": args.severity,
            "fps": fps_by_name,
            "ucf101c_median_fps": median,
            "pass": passed,
        },
        args.output,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
