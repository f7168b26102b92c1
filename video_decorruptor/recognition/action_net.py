"""Action recognition models: the embedded TinyActionNet, its training command and loader.

TinyActionNet is a small 3D CNN (about 0.3M parameters) for 16-frame 64x64 clips, trained on the
synthetic action dataset (:mod:`video_decorruptor.recognition.synthetic_actions`) because no pretrained video
weights can be downloaded here. It takes clips (N, 3, T, H, W) as floats in [0, 1] and normalises
them itself; its BatchNorm layers are what TENT adapts.

    python -m video_decorruptor.recognition.action_net --ship        # retrain, then replace the embedded weights
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from image_core.training.common import LoopConfig, load_config, run_loop
from video_decorruptor.recognition.synthetic_actions import ACTION_CLASSES, SyntheticActions

__all__ = ["EMBEDDED_ACTION_MODEL", "TinyActionNet", "evaluate_accuracy", "load_action_model", "train_action_model"]

EMBEDDED_ACTION_MODEL = Path(__file__).resolve().parent / "weights" / "tiny-action-net.safetensors"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _block(inputs: int, outputs: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(inputs, outputs, kernel, stride, padding, bias=False), nn.BatchNorm3d(outputs), nn.ReLU(inplace=True)
    )


class TinyActionNet(nn.Module):
    """Four 3D conv blocks (16-32-64-128 channels), global average pooling, a linear classifier.

    Args:
        num_classes: outputs.
        width: channels of the first block (doubled per block).

    Shapes:
        input (N, 3, T, H, W) in [0, 1] -> logits (N, num_classes).
    """

    def __init__(self, num_classes: int = len(ACTION_CLASSES), width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            _block(3, width, (3, 5, 5), (1, 2, 2)),
            _block(width, 2 * width, (3, 3, 3), (2, 2, 2)),
            _block(2 * width, 4 * width, (3, 3, 3), (2, 2, 2)),
            _block(4 * width, 8 * width, (3, 3, 3), (2, 2, 2)),
        )
        self.classifier = nn.Linear(8 * width, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"clips must be (N, 3, T, H, W), got {tuple(clips.shape)}")
        features = self.features((clips - self.mean) / self.std)
        return self.classifier(features.mean(dim=(2, 3, 4)))


def load_action_model(path: str | Path | None = None) -> TinyActionNet:
    """The embedded TinyActionNet (or one saved at ``path``), in eval mode.

    Raises:
        FileNotFoundError: the weights are missing.
        ValueError: the file is not a safetensors file or does not hold a TinyActionNet.
    """
    path = Path(path) if path is not None else EMBEDDED_ACTION_MODEL
    if not path.is_file():
        raise FileNotFoundError(
            f"action model weights not found: {path} (train them: python -m video_decorruptor.recognition.action_net)"
        )
    try:
        state = load_file(str(path))
    except SafetensorError as error:
        raise ValueError(
            f"{path} is not a safetensors file ({error}); TinyActionNet weights are saved as .safetensors "
            "(by train-classifier and python -m video_decorruptor.recognition.action_net)"
        ) from error
    classes = state["classifier.weight"].shape[0] if "classifier.weight" in state else None
    width = state["features.0.0.weight"].shape[0] if "features.0.0.weight" in state else None
    if classes is None or width is None:
        raise ValueError(f"{path} is not a TinyActionNet checkpoint (keys: {', '.join(list(state)[:5])} ...)")
    model = TinyActionNet(classes, width)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, dataset: SyntheticActions, batch_size: int = 32) -> float:
    """Top-1 accuracy of ``model`` on ``dataset``."""
    model.eval()
    correct = 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=2)
    for clips, labels in loader:
        correct += int((model(clips).argmax(dim=1) == labels).sum())
    return correct / len(dataset)


@dataclasses.dataclass
class ActionModelConfig(LoopConfig):
    """The shared loop's settings with this model's defaults, plus the clip shape and the test set."""

    output_dir: str = "runs/tiny-action-net"
    max_steps: int = 1200
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    max_grad_norm: float = 5.0
    checkpoint_every: int = 250
    frames: int = 16
    size: int = 64
    width: int = 16
    test_clips: int = 500


class ClassificationObjective(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> torch.Tensor:
        clips, labels = batch
        return F.cross_entropy(self.model(clips), labels)


def train_action_model(config: ActionModelConfig, ship: bool = False) -> dict:
    """Train on synthetic clips, measure held-out accuracy, save weights (and ship them if asked)."""
    torch.manual_seed(config.seed)
    model = TinyActionNet(len(ACTION_CLASSES), config.width)
    train = SyntheticActions("train", config.max_steps * config.batch_size, config.frames, config.size, config.seed)
    run_loop(config, ClassificationObjective(model), train)
    accuracy = evaluate_accuracy(
        model, SyntheticActions("test", config.test_clips, config.frames, config.size, config.seed)
    )
    output = Path(config.output_dir)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(output / "tiny-action-net.safetensors"))
    card = {
        "classes": list(ACTION_CLASSES),
        "frames": config.frames,
        "size": config.size,
        "held_out_accuracy": accuracy,
        "test_clips": config.test_clips,
        "steps": config.max_steps,
        "batch_size": config.batch_size,
    }
    (output / "tiny-action-net.json").write_text(json.dumps(card, indent=2) + "\n")
    if ship:
        EMBEDDED_ACTION_MODEL.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".safetensors", ".json"):
            (EMBEDDED_ACTION_MODEL.with_suffix(suffix)).write_bytes((output / f"tiny-action-net{suffix}").read_bytes())
    return card


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the embedded TinyActionNet on synthetic action clips.")
    parser.add_argument("--config", type=Path, help="YAML file of ActionModelConfig fields")
    parser.add_argument("--ship", action="store_true", help=f"copy the weights to {EMBEDDED_ACTION_MODEL}")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. max_steps=100")
    args = parser.parse_args(argv)
    card = train_action_model(load_config(ActionModelConfig, args.config, args.overrides), ship=args.ship)
    print(f"held-out accuracy {100 * card['held_out_accuracy']:.1f}% on {card['test_clips']} clips")


if __name__ == "__main__":
    main()
