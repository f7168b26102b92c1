r"""Compare candidate editors side by side before shipping one: PSNR per input and colour shift.

Each editor is given as ``FOLDER[:STEPS[:SIGMA[:SHIFTS[:TONE]]]]`` (a DPM or CM pipeline folder; steps default to 4,
the colour fix's sigma in pixels to the pipelines' default, 0 turns it off; grid shifts, 1, 2 or 4, to
the checkpoint's own; tone 0 skips the checkpoint's tone correction), or as
an autoencoder folder alone (only its round trip is measured: for comparing autoencoders). Inputs
are 128x128 crops of the held-out photos (or, with ``--photos training``, of the training photos:
the gap between the two shows what a model learned of its training set rather than of images), clean
and under chosen ImageNet-C corruptions at one severity. Also printed: the autoencoder round trip
(the ceiling) and the mean colour shift of clean crops, in grey levels: how far the editor moves
the mean of each colour channel of an image that needs no repair.

    python benchmarks/compare_editors.py image_core/weights/decorruptor-tiny-cm runs/x/distill/cm
    python benchmarks/compare_editors.py runs/x/editor/dpm:1 runs/x/editor/dpm:20 --corruptions all
    python benchmarks/compare_editors.py image_core/weights/decorruptor-tiny-cm:4:0 \
        image_core/weights/decorruptor-tiny-cm:4:2
    python benchmarks/compare_editors.py image_core/weights/decorruptor-tiny-cm:1:2:1 \
        image_core/weights/decorruptor-tiny-cm:1:2:4
    python benchmarks/compare_editors.py image_core/weights/decorruptor-tiny-cm:1:2:4:0 \
        image_core/weights/decorruptor-tiny-cm:1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402
from restoration_quality import BENCHMARK_CORRUPTIONS, autoencoder_round_trip, held_out_crops, psnr, restore  # noqa: E402

from image_core.corruptions import corrupt  # noqa: E402
from image_core.editor import load_editor  # noqa: E402
from image_core.editor.autoencoder import AUTOENCODER_CLASSES, load_autoencoder  # noqa: E402
from image_core.sources import random_crop, training_photos  # noqa: E402

DEFAULT_CORRUPTIONS = "gaussian_noise,shot_noise,defocus_blur,contrast,fog,jpeg_compression"


def training_crops(size: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` crops of the training photos large enough for ``size``, one per photo in turn."""
    rng = np.random.default_rng([seed, size])
    photos = [p for p in training_photos() if min(p.shape[:2]) >= size]
    return np.stack([random_crop(photos[i % len(photos)], size, rng, flip=False) for i in range(count)])


def is_autoencoder(folder: Path) -> bool:
    """An autoencoder folder (a training run's ``vae`` export) rather than a pipeline."""
    config = folder / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("_class_name") in AUTOENCODER_CLASSES


def colour_shift(reference: np.ndarray, images: np.ndarray) -> float:
    """Mean over images and channels of |mean channel value of the output - of the reference|, 0-255."""
    return float(
        np.abs(images.reshape(len(images), -1, 3).mean(1) - reference.reshape(len(reference), -1, 3).mean(1)).mean()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "editors",
        nargs="+",
        help="FOLDER[:STEPS[:SIGMA[:SHIFTS[:TONE]]]], a DPM or CM pipeline folder, or an autoencoder folder",
    )
    parser.add_argument(
        "--crops", type=int, default=2, help="held-out: crops per photo (2 photos); training: crops in all"
    )
    parser.add_argument("--photos", choices=("held-out", "training"), default="held-out")
    parser.add_argument(
        "--corruptions", default=DEFAULT_CORRUPTIONS, help="comma-separated names, or 'all' (the 15 of ImageNet-C)"
    )
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/compare_editors.json)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    names = BENCHMARK_CORRUPTIONS if args.corruptions == "all" else args.corruptions.split(",")
    clean = held_out_crops(128, args.crops) if args.photos == "held-out" else training_crops(128, args.crops)
    inputs = {
        "clean": clean,
        **{n: np.stack([corrupt(c, n, args.severity, rng=i) for i, c in enumerate(clean)]) for n in names},
    }
    input_psnr = {n: psnr(clean, inputs[n]) for n in names}
    results = {}
    loaded: dict[str, tuple[object, float]] = {}  # folder -> (pipeline, autoencoder PSNR), once per folder
    for spec in args.editors:
        folder, steps, sigma, shifts, tone = (spec.split(":") + ["", "", "", ""])[:5]
        if is_autoencoder(Path(folder)):
            round_trip = autoencoder_round_trip(load_autoencoder(folder), clean)
            results[spec] = {
                "autoencoder": psnr(clean, round_trip),
                "psnr": {},
                "mean_gain": None,
                "colour_shift": colour_shift(clean, round_trip),
            }
            continue
        if folder not in loaded:
            pipe = load_editor(folder)
            pipe.set_progress_bar_config(disable=True)
            loaded[folder] = pipe, psnr(clean, autoencoder_round_trip(pipe.vae, clean))
        pipe, autoencoder_psnr = loaded[folder]
        outputs = {
            name: restore(
                pipe,
                images,
                int(steps or 4),
                float(sigma) if sigma else None,
                int(shifts) if shifts else None,
                tone_correction=False if tone == "0" else None,
            )
            for name, images in inputs.items()
        }
        scores = {name: psnr(clean, out) for name, out in outputs.items()}
        gains = [scores[n] - input_psnr[n] for n in names]
        results[spec] = {
            "autoencoder": autoencoder_psnr,
            "psnr": scores,
            "mean_gain": float(np.mean(gains)),
            "colour_shift": colour_shift(clean, outputs["clean"]),
        }
        print(f"{spec}: done", flush=True)

    header = ["input", "input dB", *results]
    rows = [["autoencoder", "", *[r["autoencoder"] for r in results.values()]]]
    rows += [[name, input_psnr.get(name, ""), *[r["psnr"].get(name, "") for r in results.values()]] for name in inputs]
    rows += [
        [
            "mean gain (corrupted)",
            "",
            *["" if r["mean_gain"] is None else f"{r['mean_gain']:+.2f}" for r in results.values()],
        ]
    ]
    rows += [["colour shift, clean (0-255)", "", *[r["colour_shift"] for r in results.values()]]]
    print(f"\n{len(clean)} {args.photos} crops of 128 px, severity {args.severity}; PSNR in dB\n")
    print(markdown_table(header, [[f"{c:.2f}" if isinstance(c, float) else c for c in row] for row in rows]))
    save_json(
        "compare_editors",
        {"photos": args.photos, "crops": len(clean), "severity": args.severity, "editors": results},
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
