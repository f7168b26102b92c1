"""The whole Decorruptor-Tiny recipe in one resumable command: autoencoder -> DPM teacher -> CM
student -> tone corrector, then (``--ship``) the embedded copies in ``image_core/weights``.

A stage whose export exists is skipped; an interrupted stage resumes from its newest checkpoint.

    python -m image_core.training.train_all --profile cpu --ship     # `make weights`, about 8 h on 2 cores
    python -m image_core.training.train_all --profile gpu --ship     # the same recipe sized for one GPU
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from image_core.editor.loading import EMBEDDED_DIR, load_editor
from image_core.training.autoencoder import AutoencoderConfig, train_autoencoder
from image_core.training.common import load_config, read_log
from image_core.training.distill import DistillConfig, distill
from image_core.training.editor import EditorConfig, train_editor
from image_core.training.tone import TONE_CORRECTOR, ToneConfig, attach_tone_corrector, train_tone

CONFIGS = Path(__file__).resolve().parent / "configs"
STAGES = (
    ("autoencoder", AutoencoderConfig, train_autoencoder, "vae"),
    ("editor", EditorConfig, train_editor, "dpm"),
    ("distill", DistillConfig, distill, "cm"),
    ("tone", ToneConfig, train_tone, TONE_CORRECTOR),
)


def _training_summary(output_dir: Path) -> str:
    """Steps, minutes and final loss of a stage, read from its log.csv."""
    rows = read_log(output_dir)
    if not rows:
        return "no gradient steps"
    return f"{rows[-1].step} steps in {rows[-1].minutes:.0f} min, final loss {rows[-1].loss:.4f}"


MODEL_CARD = """# Decorruptor-Tiny

An InstructPix2Pix-style latent diffusion editor that turns corrupted images into clean ones,
trained from scratch by this project: `decorruptor-tiny-dpm` (the teacher, three-way guidance)
and `decorruptor-tiny-cm` (the consistency student, the default of `load_editor()`), sharing one
autoencoder. Each folder's `model_index.json` records, under `settings`, the editor settings this
small model was tuned with (`image_core.editor.settings.EditorSettings`; a released checkpoint has
none and gets the published ones): its step count, its grid shifts, start from the
image, colour fix sigma 2, tone correction, residual target; the CM also image guidance 1.2. The
training configs set them. Weights are float16 safetensors; the instruction embeddings are
stored (`prompt_embeds.safetensors`), so no text encoder is needed.

## Architecture
- Autoencoder: `image_core.editor.autoencoder.PatchAutoencoder`, a linear code of 4x4 pixel
  patches with 20 latent channels: the leading principal components of the patches of clean
  training-photo crops, with the per-channel latent statistics folded in (zero-mean, unit-std latents).
- UNet: diffusers `UNet2DConditionModel`, blocks (64, 128, 128), input = [noisy latent | image latent]
  (40 channels), cross-attention on two stored 8-token embeddings (instruction and null prompt);
  the CM student adds a guidance embedding (`timestep_cond`, emb(w_T) * emb(w_I)).
- Tone corrector (`tone_corrector/`, `image_core.editor.tone.ToneCorrector`): an MLP from global
  image statistics to a per-channel gain and offset, applied after the edit and its colour fix.
- Residual target (`residual_target` in `model_index.json` settings): the diffused variable is the change
  to the input's normalised latents, so a clean input is a zero target.
- Teacher: v-prediction, trailing timesteps, DDIM, training timesteps drawn towards t = 999
  (`timestep_power`). Student: LCM scheduler.

## Data
Clean images: random crops of the scikit-image photos (a share of them recoloured: hues rotated,
saturation scaled, so colours are learned from the input) plus dead-leaves images. Pairs: the published
corruption-modeling cases (identity, PixMix with procedural fractals / plasma / feature patterns,
SimSiam views) and a generic second-order degradation model (random blur kernels, resizing,
Gaussian and Poisson noise, JPEG and H.264 compression, and 3 times in 10 heavy full-resolution
Gaussian, Poisson or impulse noise). The tone corrector: photo crops of 96 to 256 px, half of them
degraded (the model above, no tone change) and a quarter blurred (up to 5 px), 4 in 10 then given a
generic tone change (contrast towards the mean, haze, exposure and gamma), per-image log-MSE loss.
scikit-learn's two photos are held out for evaluation. No
ImageNet-C or UCF-101C corruption function is used for training: those are the test sets.

## How it was made
Profile `{profile}` of `python -m image_core.training.train_all` (configs in
`image_core/training/configs/{profile}/`), on {machine}:

{stages}

`make weights` reproduces it from scratch (a finished stage is skipped, an interrupted one resumes
from its newest checkpoint).

## Quality
`python benchmarks/restoration_quality.py` measures PSNR / SSIM on held-out photos per ImageNet-C
corruption; its table for these weights is in the README ("Restoration quality").
"""


def ship(exports: dict[str, Path], profile: str, destination: Path = EMBEDDED_DIR) -> list[Path]:
    """Copy the DPM and CM pipelines into ``destination`` in float16, each with the tone corrector
    (where ``exports`` has one), and a model card."""
    shipped = []
    for name in ("dpm", "cm"):
        pipe = load_editor(exports[name], device="cpu", dtype=torch.float16)
        target = destination / f"decorruptor-tiny-{name}"
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        pipe.save_pretrained(staging)
        if TONE_CORRECTOR in exports:
            attach_tone_corrector(staging, exports[TONE_CORRECTOR])
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        shipped.append(target)
    names = (
        ("autoencoder", "vae"),
        ("editor (DPM teacher)", "dpm"),
        ("distillation (CM student)", "cm"),
        ("tone corrector", TONE_CORRECTOR),
    )
    stages = "\n".join(f"- {stage}: {_training_summary(exports[key].parent)}" for stage, key in names if key in exports)
    machine = f"{os.cpu_count()} CPU cores" if not torch.cuda.is_available() else torch.cuda.get_device_name()
    (destination / "MODEL_CARD.md").write_text(MODEL_CARD.format(profile=profile, machine=machine, stages=stages))
    return shipped


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", choices=("cpu", "gpu"), default="cpu", help="config set under image_core/training/configs"
    )
    parser.add_argument("--ship", action="store_true", help="copy the results into image_core/weights")
    parser.add_argument(
        "--minutes",
        help="time budgets per stage in order (autoencoder, editor, distill, tone), e.g. 2.5,3.5,2.5: a stage "
        "stops there (checkpointed) and exports; stages left out have none",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STAGE.KEY=VALUE",
        help="override one config value of a stage, e.g. --set editor.bank_size=512 (repeatable)",
    )
    args = parser.parse_args(argv)
    overrides: dict[str, list[str]] = {stage: [] for stage, *_ in STAGES}
    for item in args.set:
        stage, dot, assignment = item.partition(".")
        if not dot or stage not in overrides:
            parser.error(f"--set {item!r}: expected STAGE.KEY=VALUE with STAGE one of {', '.join(overrides)}")
        overrides[stage].append(assignment)
    budgets = [float(m) for m in args.minutes.split(",")] if args.minutes else []
    if len(budgets) > len(STAGES):
        parser.error(
            f"--minutes takes at most {len(STAGES)} values ({', '.join(s for s, *_ in STAGES)}), got {args.minutes!r}"
        )
    budgets += [0.0] * (len(STAGES) - len(budgets))
    exports: dict[str, Path] = {}
    for (stage, config_class, train, export_name), minutes in zip(STAGES, budgets):
        config = load_config(
            config_class,
            CONFIGS / args.profile / f"{stage}.yaml",
            [f"time_budget_minutes={minutes}", *overrides[stage]],
        )
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
