"""Train the editor's tone corrector (:mod:`image_core.editor.tone`) and attach it to exported
Decorruptor pipelines.

Pairs: clean crops of the training photos of 96 to 256 px, half of them first passed through the
generic degradation model without its tone change (blur, noise, JPEG: the corrector must leave such
damage alone) and a quarter only blurred (the corrector runs on edits, which are smooth: without
these it took blurred edits for flattened ones and lost PSNR on them; a blur of up to 5 px rather
than 2.5 reduced what remained), 4 in 10 then given a generic tone change
(``DegradationModel.tone_change``: contrast towards the mean, haze, exposure and gamma). The target is the
image before the tone change. A bank of image statistics and sampled pixels is built once, so a
step costs one small MLP call.

The loss is per image ``log10(MSE + loss_floor)``, the PSNR a benchmark averages over images.
With a plain MSE the rare confident repair of a tone-damaged image paid for small changes to
every other image: on held-out crops it changed clean ones, which need nothing, and lowered the
PSNR of blurred ones. In the log, a change to an image that needs none costs as much as the same factor of
error removed from one that does, and the floor (3e-4, about 35 dB) stops near-perfect pairs
from dominating.

    python -m image_core.training.tone --config image_core/training/configs/cpu/tone.yaml
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from image_core.degradations import DegradationModel, lower_contrast
from image_core.editor.estimates import tonal_range
from image_core.editor.tone import ToneCorrector, apply_tone, tone_features
from image_core.io import atomic_path
from image_core.sources import CleanImageDataset
from image_core.training.common import LoopConfig, config_main, load_cached_tensors, run_loop, save_cached_tensors

__all__ = ["ToneBank", "ToneConfig", "attach_tone_corrector", "build_tone_bank", "main", "train_tone"]

TONE_CORRECTOR = "tone_corrector"


@dataclasses.dataclass
class ToneConfig(LoopConfig):
    bank_size: int = 10_000
    crop_sizes: tuple = (96, 128, 160, 224, 256)
    pixels_per_image: int = 1024  # pixels sampled per pair for the loss
    tone_probability: float = 0.4  # pairs given a tone change (the rest: the corrector should do nothing)
    # of those, the share whose contrast is lowered towards each channel's mean (as ImageNet-C and
    # UCF-101C do) instead of the generic tone change, which lowers it towards the grey mean
    channel_contrast_probability: float = 0.0
    degradation_probability: float = 0.5  # pairs first degraded without a tone change
    smooth_probability: float = 0.25  # pairs first blurred (Gaussian) instead
    smooth_sigma_range: tuple = (0.5, 5.0)  # that blur's std in pixels
    recolour_fraction: float = 0.5
    dead_leaves_fraction: float = 0.1
    # Extra folders of clean photos (image_core.sources.folder_photos), beside the bundled ones.
    photo_folders: tuple = ()
    # Pairs whose input's tonal range (image_core.editor.estimates.tonal_range) is wider than this are
    # drawn again: the checkpoint's tone gate (tone_range_nothing) never lets the corrector see them,
    # so it is trained on the inputs it will meet. None: every pair.
    max_input_range: float | None = None
    hidden: int = 128
    cap_to_range: bool = False  # ToneCorrector's gain cap (its minimum and maximum stay inside [0, 1])
    loss_floor: float = 3e-4
    # Exported pipeline folders the trained corrector is added to (model_index.json gains it).
    attach_to: tuple = ()


class ToneBank(Dataset):
    """Per pair: the input's features (F,), its grey mean (1,) (:func:`apply_tone`'s pivot), and
    ``pixels_per_image`` sampled pixels of input and target (P, 3); indices wrap around."""

    KEYS = ("features", "means", "inputs", "targets")

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = {key: tensors[key] for key in self.KEYS}

    def __len__(self) -> int:
        return len(self.tensors["features"])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(self.tensors[key][index % len(self)].float() for key in self.KEYS)


def _pair(
    config: ToneConfig,
    index: int,
    crops: dict[int, CleanImageDataset],
    tone: DegradationModel,
    degrade: DegradationModel,
) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) float32 (S, S, 3) in [0, 1] of pair ``index``, drawn from its own generator."""
    rng = np.random.default_rng([config.seed, index])
    size = config.crop_sizes[index % len(config.crop_sizes)]
    image = crops[size].image(index)
    first = rng.random()
    if first < config.degradation_probability:
        target = degrade(image, rng)
    elif first < config.degradation_probability + config.smooth_probability:
        sigma = rng.uniform(*config.smooth_sigma_range)
        target = cv2.GaussianBlur(image.astype(np.float32) / 255, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    else:
        target = image.astype(np.float32) / 255
    if rng.random() < config.tone_probability:
        if rng.random() < config.channel_contrast_probability:
            factor = math.exp(rng.uniform(*np.log(tone.contrast_range)))
            return np.clip(lower_contrast(target, factor, per_channel=True), 0, 1), target
        return np.clip(tone.tone_change(target, rng), 0, 1).astype(np.float32), target
    return target, target


def _bank_recipe(config: ToneConfig) -> str:
    fields = (
        "bank_size",
        "crop_sizes",
        "pixels_per_image",
        "tone_probability",
        "channel_contrast_probability",
        "degradation_probability",
        "smooth_probability",
        "smooth_sigma_range",
        "recolour_fraction",
        "dead_leaves_fraction",
        "photo_folders",
        "max_input_range",
        "seed",
    )
    return json.dumps({name: getattr(config, name) for name in fields}, sort_keys=True, default=str)


@torch.no_grad()
def build_tone_bank(config: ToneConfig, path: Path) -> ToneBank:
    """Draw ``config.bank_size`` pairs once (cached at ``path`` with the recipe that made them)."""
    from tqdm.auto import tqdm

    recipe = _bank_recipe(config)
    cached = load_cached_tensors(path, recipe)
    if cached is not None:
        return ToneBank(cached)
    crops = {
        size: CleanImageDataset(
            size=size,
            length=config.bank_size,
            seed=config.seed + size,
            recolour_fraction=config.recolour_fraction,
            dead_leaves_fraction=config.dead_leaves_fraction,
            photo_folders=tuple(config.photo_folders),
        )
        for size in config.crop_sizes
    }
    tone, degrade = DegradationModel(), DegradationModel(video_codec_probability=0.0)
    rows: dict[str, list[torch.Tensor]] = {key: [] for key in ToneBank.KEYS}
    draws = itertools.count()
    for _ in tqdm(range(config.bank_size), desc="tone bank", unit="pair"):
        while True:
            given, target = _pair(config, next(draws), crops, tone, degrade)
            image = torch.from_numpy(given).permute(2, 0, 1)[None]
            if config.max_input_range is None or tonal_range(image).item() <= config.max_input_range:
                break
        index = len(rows["features"])
        rows["features"].append(tone_features(image)[0])
        rows["means"].append(image.mean((1, 2, 3)))
        pick = np.random.default_rng([config.seed, index, 1]).integers(
            0, target.shape[0] * target.shape[1], config.pixels_per_image
        )
        rows["inputs"].append(torch.from_numpy(given.reshape(-1, 3)[pick]))
        rows["targets"].append(torch.from_numpy(target.reshape(-1, 3)[pick]))
    tensors = {key: torch.stack(values).contiguous() for key, values in rows.items()}
    save_cached_tensors(path, tensors, recipe)
    return ToneBank(tensors)


class ToneObjective(torch.nn.Module):
    """Mean over the batch of log10(MSE + floor) of the corrected sampled pixels against the target's."""

    def __init__(self, corrector: ToneCorrector, loss_floor: float):
        super().__init__()
        self.corrector, self.loss_floor = corrector, loss_floor

    def forward(self, batch: tuple[torch.Tensor, ...], step: int) -> torch.Tensor:
        features, means, inputs, targets = batch
        gain, offset = self.corrector.tone_parameters(features)
        corrected = apply_tone(inputs.transpose(1, 2)[..., None], gain, offset, mean=means)  # pixels as (B, 3, P, 1)
        error = (corrected[..., 0].transpose(1, 2) - targets).square().mean((1, 2))
        return torch.log10(error + self.loss_floor).mean()


def attach_tone_corrector(pipeline_folder: str | Path, corrector_folder: str | Path) -> None:
    """Add a trained corrector to an exported pipeline folder: copied in as ``tone_corrector/``, named
    in ``model_index.json`` (so ``load_editor`` loads it as the pipeline's component) and switched on
    in its settings (``tone_correction``)."""
    pipeline_folder = Path(pipeline_folder)
    index_path = pipeline_folder / "model_index.json"
    index = json.loads(index_path.read_text())
    target = pipeline_folder / TONE_CORRECTOR
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(corrector_folder, target)
    index[TONE_CORRECTOR] = [ToneCorrector.__module__, ToneCorrector.__name__]
    index["settings"] = {**index.get("settings", {}), "tone_correction": True}
    with atomic_path(index_path) as temporary:  # a crash here must not leave the folder without an index
        temporary.write_text(json.dumps(index, indent=2) + "\n")


def train_tone(config: ToneConfig) -> Path:
    """Build the bank, standardise the features on it, train, export to ``<output_dir>/tone_corrector``
    (then into every folder of ``attach_to``)."""
    output_dir = Path(config.output_dir)
    bank = build_tone_bank(config, output_dir / "tone_bank.safetensors")
    corrector = ToneCorrector(hidden=config.hidden, cap_to_range=config.cap_to_range)
    corrector.standardise_on(bank.tensors["features"])
    run_loop(config, ToneObjective(corrector, config.loss_floor), bank)
    export = output_dir / TONE_CORRECTOR
    corrector.save_pretrained(export)
    for folder in config.attach_to:
        attach_tone_corrector(folder, export)
    return export


def main(argv: Sequence[str] | None = None) -> None:
    print(f"tone corrector exported to {config_main(ToneConfig, train_tone, __doc__.splitlines()[0], argv)}")


if __name__ == "__main__":
    main()
