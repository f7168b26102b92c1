"""Temporal consistency of video restoration: each consistency mechanism alone and all together.

Clips with real camera motion (a pan and a zoom over the held-out photos), corrupted per frame with
gauss, shot, contrast and defocus at severities 3 and 5, restored with: none (independent noise,
no anchor, no smoothing), shared noise only, anchor attention only, smoothing only, and all three,
each without the temporal fusion (video_decorruptor.restore.fusion); then all three with it (the default).
Against the clean clip: PSNR, SSIM, warping error (flow from the clean clip) and flicker.

Target: "all" cuts the warping error by >= 30% against "none", with PSNR lower by at most 0.3 dB.

    python benchmarks/temporal.py [--model PATH] [--frames 16] [--size 128] [--batch-size 8] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.editor import load_editor  # noqa: E402
from image_core.sources import heldout_photos  # noqa: E402
from video_decorruptor.benchmark.corruptions import corrupt_frames  # noqa: E402
from video_decorruptor.benchmark.metrics import flicker, psnr, ssim, warping_error  # noqa: E402
from video_decorruptor.restore.restorer import ConsistencySettings, VideoDecorruptor  # noqa: E402

SETTINGS = {  # name: (consistency mechanisms, fusion radius)
    "none": (ConsistencySettings.none(), 0),
    "shared noise": (ConsistencySettings(True, False, 0.0), 0),
    "anchor": (ConsistencySettings(False, True, 0.0), 0),
    "smoothing": (ConsistencySettings(False, False, 0.5), 0),
    "all": (ConsistencySettings(True, True, 0.5), 0),
    "all + fusion": (ConsistencySettings(True, True, 0.5), 2),
}
CORRUPTIONS = ("gauss", "shot", "contrast", "defocus")


def camera_clips(frames: int, size: int) -> dict[str, np.ndarray]:
    """A horizontal pan and a slow zoom-in over each held-out photo, (T, 3/4 size, size, 3)."""
    height, width = size * 3 // 4, size
    clips = {}
    for name, photo in heldout_photos().items():
        h, w = photo.shape[:2]
        window = (int(h * 0.6), int(h * 0.6 * width / height))
        pan = [
            photo[(h - window[0]) // 2 : (h + window[0]) // 2, x : x + window[1]]
            for x in np.linspace(0, w - window[1] - 1, frames).astype(int)
        ]
        zoom = []
        for scale in np.linspace(1.0, 0.6, frames):
            ch, cw = int(h * scale), int(h * scale * width / height)
            top, left = (h - ch) // 2, (w - cw) // 2
            zoom.append(photo[top : top + ch, left : left + cw])
        for kind, crops in (("pan", pan), ("zoom", zoom)):
            clips[f"{name} {kind}"] = np.stack(
                [cv2.resize(c, (width, height), interpolation=cv2.INTER_AREA) for c in crops]
            )
    return clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the embedded Decorruptor-Tiny CM)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128, help="clip width in pixels")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="frames per editor batch: smaller ones test chunk boundaries"
    )
    parser.add_argument("--severities", default="3,5")
    parser.add_argument(
        "--colour-fix", type=float, metavar="SIGMA", help="editor colour fix in pixels, 0 = off (default: the editor's)"
    )
    parser.add_argument(
        "--no-tone", action="store_true", help="skip the editor's tone correction (default: the editor's own)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=2,
        help="noise seeds averaged: shared noise is one draw per clip, so one seed measures the draw",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/temporal.json)")
    args = parser.parse_args()

    pipe = load_editor(args.model)
    clips = camera_clips(args.frames, args.size)
    scores = {name: {"psnr": [], "ssim": [], "warping": [], "flicker": []} for name in SETTINGS}
    inputs = {"psnr": [], "ssim": [], "warping": [], "flicker": []}
    for clip_name, clean in clips.items():
        for corruption in CORRUPTIONS:
            for severity in map(int, args.severities.split(",")):
                corrupted = corrupt_frames(clean, corruption, severity, rng=0)
                for key, fn in (("psnr", psnr), ("ssim", ssim), ("warping", warping_error), ("flicker", flicker)):
                    inputs[key].append(fn(clean, corrupted))
                for name, (settings, fusion_radius) in SETTINGS.items():
                    for seed in range(args.seeds):
                        # Seeds far apart: independent noise seeds frame i with seed + i.
                        restorer = VideoDecorruptor(
                            pipe,
                            batch_size=args.batch_size,
                            consistency=settings,
                            seed=10_000 * seed,
                            colour_fix_sigma=args.colour_fix,
                            tone_correction=False if args.no_tone else None,
                            fusion_radius=fusion_radius,
                            progress=False,
                        )
                        restored = restorer.restore_frames(corrupted)
                        for key, fn in (
                            ("psnr", psnr),
                            ("ssim", ssim),
                            ("warping", warping_error),
                            ("flicker", flicker),
                        ):
                            scores[name][key].append(fn(clean, restored))
                print(f"{clip_name} {corruption} {severity}: done", flush=True)

    mean = {name: {key: float(np.mean(values)) for key, values in s.items()} for name, s in scores.items()}
    rows = [
        [
            "corrupted input",
            *[f"{np.mean(inputs[k]):.4f}" if k == "warping" else f"{np.mean(inputs[k]):.3f}" for k in inputs],
        ]
    ]
    rows += [[name, *[f"{m[k]:.4f}" if k == "warping" else f"{m[k]:.3f}" for k in m]] for name, m in mean.items()]
    print(
        f"\n{len(clips)} clips x {len(CORRUPTIONS)} corruptions x severities {args.severities} x {args.seeds} seeds, "
        f"{args.frames} frames in batches of {args.batch_size}, width {args.size}\n"
    )
    print(markdown_table(["setting", "PSNR dB", "SSIM", "warping error", "flicker"], rows))
    cut = 1 - mean["all"]["warping"] / mean["none"]["warping"]
    psnr_drop = mean["none"]["psnr"] - mean["all"]["psnr"]
    passed = cut >= 0.30 and psnr_drop <= 0.3
    print(
        f"\nall vs none: warping error {-100 * cut:+.1f}% (target <= -30%), PSNR {-psnr_drop:+.2f} dB (target >= -0.3) "
        f"{'PASS' if passed else 'FAIL'}"
    )
    save_json(
        "temporal",
        {
            "frames": args.frames,
            "batch_size": args.batch_size,
            "size": args.size,
            "seeds": args.seeds,
            "input": {k: float(np.mean(v)) for k, v in inputs.items()},
            "settings": mean,
            "warping_cut": cut,
            "psnr_drop": psnr_drop,
            "pass": passed,
        },
        args.output,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
