"""The whole Decorruptor-Tiny recipe in one resumable command: autoencoder -> DPM teacher -> CM
student, then (``--ship``) the embedded copies in ``image_core/weights``.

A stage whose export exists is skipped; an interrupted stage resumes from its newest checkpoint.

    python -m image_core.training.train_all --profile cpu --ship     # `make weights`, about 8 h on 2 cores
    python -m image_core.training.train_all --profile gpu --ship     # the same recipe sized for one GPU
"""

from __future__ import annotations

import argparse
import csv
import shutil
import time
from pathlib import Path
from typing import Sequence

import torch

from image_core.editor.loading import EMBEDDED_DIR, load_editor
from image_core.training.autoencoder import AutoencoderConfig, train_autoencoder
from image_core.training.common import load_config
from image_core.training.distill import DistillConfig, distill
from image_core.training.editor import EditorConfig, train_editor

CONFIGS = Path(__file__).resolve().parent / "configs"
STAGES = (
    ("autoencoder", AutoencoderConfig, train_autoencoder, "vae"),
    ("editor", EditorConfig, train_editor, "dpm"),
    ("distill", DistillConfig, distill, "cm"),
)


def _training_summary(output_dir: Path) -> str:
    log = output_dir / "log.csv"
    if not log.is_file():
        return "no log"
    rows = list(csv.DictReader(log.open()))
    return f"{rows[-1]['step']} steps, final loss {float(rows[-1]['loss']):.4f}" if rows else "empty log"


def ship(exports: dict[str, Path], profile: str, destination: Path = EMBEDDED_DIR) -> list[Path]:
    """Copy the DPM and CM pipelines into ``destination`` in float16 with a model card."""
    shipped = []
    for name in ("dpm", "cm"):
        pipe = load_editor(exports[name], device="cpu", dtype=torch.float16)
        target = destination / f"decorruptor-tiny-{name}"
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        pipe.save_pretrained(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        shipped.append(target)
    lines = [f"- {stage}: {_training_summary(exports[stage].parent)}" for stage in ("vae", "dpm", "cm")]
    (destination / "TRAINING.md").write_text(
        f"# How these weights were made\n\nProfile `{profile}` of `python -m image_core.training.train_all`, "
        f"configs in `image_core/training/configs/{profile}/`.\n\n" + "\n".join(lines) + "\n"
    )
    return shipped


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("cpu", "gpu"), default="cpu", help="config set under image_core/training/configs")
    parser.add_argument("--ship", action="store_true", help="copy the results into image_core/weights")
    parser.add_argument(
        "--minutes", help="time budgets per stage, e.g. 2.5,3.5,2.5: a stage stops there (checkpointed) and exports"
    )  # fmt: skip
    args = parser.parse_args(argv)
    budgets = [float(m) for m in args.minutes.split(",")] if args.minutes else [0.0] * len(STAGES)
    if len(budgets) != len(STAGES):
        parser.error(f"--minutes needs {len(STAGES)} values (autoencoder, editor, distill), got {args.minutes!r}")
    exports: dict[str, Path] = {}
    for (stage, config_class, train, export_name), minutes in zip(STAGES, budgets):
        config = load_config(config_class, CONFIGS / args.profile / f"{stage}.yaml", [f"time_budget_minutes={minutes}"])
        export = Path(config.output_dir) / export_name
        if (export / "config.json").is_file() or (export / "model_index.json").is_file():
            print(f"{stage}: {export} exists, skipped")
        else:
            started = time.perf_counter()
            export = train(config)
            print(f"{stage}: exported {export} in {(time.perf_counter() - started) / 60:.1f} min")
        exports[export_name] = export
    if args.ship:
        for folder in ship(exports, args.profile):
            print(f"shipped {folder}")


if __name__ == "__main__":
    main()
