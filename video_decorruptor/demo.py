"""The `make demo` job: corrupt a short clip with real camera motion, restore it with the embedded
Decorruptor-Tiny, write input | restored side by side and print the quality before and after.

The clip pans across one of the held-out photos (scikit-learn's, which the editor never trained
on); the corruption is UCF-101C's ``gauss`` at severity 3 unless told otherwise.

    python -m video_decorruptor.demo [--out demo-output] [--corruption gauss] [--severity 3] [editor options: --help]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from image_core.io import write_image
from image_core.sources import heldout_photos
from video_decorruptor.benchmark.corruptions import corrupt_frames
from video_decorruptor.benchmark.metrics import psnr, warping_error
from video_decorruptor.io import read_video, write_video
from video_decorruptor.options import add_editor_options, positive_int, restorer_settings
from video_decorruptor.recognition.synthetic_actions import render_action_clip
from video_decorruptor.restore.restorer import VideoDecorruptor


def camera_clip(frames: int = 24, size: int = 128, seed: int = 0) -> np.ndarray:
    """A camera pan over the held-out ``china`` photo: (frames, size, size, 3) uint8."""
    return render_action_clip(heldout_photos()["china"], "pan_right", np.random.default_rng(seed), frames, size)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    parser.add_argument("--corruption", default="gauss", help="video corruption name (default gauss)")
    parser.add_argument(
        "--severity", type=int, default=3, choices=range(1, 6), metavar="1-5", help="1 to 5 (default 3)"
    )
    parser.add_argument("--frames", type=positive_int, default=24, help="clip length (default 24)")
    add_editor_options(parser)
    args = parser.parse_args(argv)

    # 1. A clean clip with real motion and its corrupted copy, stored losslessly.
    clean = camera_clip(args.frames)
    corrupted = corrupt_frames(clean, args.corruption, args.severity, rng=0)
    args.out.mkdir(parents=True, exist_ok=True)
    corrupted_path, output = args.out / "corrupted.mp4", args.out / "side_by_side.mp4"
    write_video(corrupted_path, corrupted, 12, lossless=True)

    # 2. The real restore path: streaming decode -> edit -> encode, input | restored in one video.
    restorer = VideoDecorruptor.from_pretrained(**restorer_settings(args))
    summary = restorer.restore_video(corrupted_path, output, side_by_side=True)
    side_by_side = read_video(output)[0]
    restored = side_by_side[:, :, clean.shape[2] :]
    still = args.out / "side_by_side.png"  # the middle frame, input | restored, twice the size to be seen
    write_image(still, side_by_side[len(side_by_side) // 2].repeat(2, axis=0).repeat(2, axis=1))

    # 3. Quality against the clean clip, before and after.
    print(
        f"{args.corruption} severity {args.severity} on a {len(clean)}-frame "
        f"{clean.shape[2]}x{clean.shape[1]} camera pan; "
        f"restored at {summary['frames_per_second']:.1f} frames/s"
    )
    print(f"{'':10} {'PSNR dB':>8} {'warping error':>14}")
    for name, frames in (("corrupted", corrupted), ("restored", restored)):
        print(f"{name:10} {psnr(clean, frames):8.2f} {warping_error(clean, frames):14.5f}")
    print(f"wrote {output} and {still} (input | restored) and {corrupted_path}")


if __name__ == "__main__":
    main()
