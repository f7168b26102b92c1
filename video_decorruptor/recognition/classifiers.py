"""Video classifiers behind one interface, and test-time adaptation by input editing in front of any.

``create_video_classifier(name, weights)`` builds torchvision's video models (or the embedded
TinyActionNet) wrapped with their own preprocessing, so every classifier here takes clips
(N, 3, T, H, W) as floats in [0, 1]. ``DecorruptedClassifier`` puts the Decorruptor editor in
front of any such classifier.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "VIDEO_MODELS",
    "DecorruptedClassifier",
    "VideoClassifier",
    "VideoModelSpec",
    "classification_head",
    "create_video_classifier",
    "replace_head",
]

KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class VideoModelSpec:
    """A classifier's input contract: resize to ``resize`` (h, w), centre-crop ``crop``, normalise,
    and how many frames it needs (``frames``: exactly; ``min_frames``: at least)."""

    builder: str
    resize: tuple[int, int]
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    frames: int | None = None
    min_frames: int = 1
    weights_enum: str | None = None


VIDEO_MODELS: dict[str, VideoModelSpec] = {
    "r3d_18": VideoModelSpec("r3d_18", (128, 171), 112, KINETICS_MEAN, KINETICS_STD, weights_enum="R3D_18_Weights"),
    "mc3_18": VideoModelSpec("mc3_18", (128, 171), 112, KINETICS_MEAN, KINETICS_STD, weights_enum="MC3_18_Weights"),
    "r2plus1d_18": VideoModelSpec(
        "r2plus1d_18", (128, 171), 112, KINETICS_MEAN, KINETICS_STD, weights_enum="R2Plus1D_18_Weights"
    ),
    "s3d": VideoModelSpec(
        "s3d", (256, 256), 224, KINETICS_MEAN, KINETICS_STD, min_frames=14, weights_enum="S3D_Weights"
    ),
    "mvit_v1_b": VideoModelSpec(
        "mvit_v1_b", (256, 256), 224, (0.45,) * 3, (0.225,) * 3, frames=16, weights_enum="MViT_V1_B_Weights"
    ),
    "mvit_v2_s": VideoModelSpec(
        "mvit_v2_s", (256, 256), 224, (0.45,) * 3, (0.225,) * 3, frames=16, weights_enum="MViT_V2_S_Weights"
    ),
    "swin3d_t": VideoModelSpec(
        "swin3d_t", (256, 256), 224, IMAGENET_MEAN, IMAGENET_STD, weights_enum="Swin3D_T_Weights"
    ),
    "swin3d_s": VideoModelSpec(
        "swin3d_s", (256, 256), 224, IMAGENET_MEAN, IMAGENET_STD, weights_enum="Swin3D_S_Weights"
    ),
    "swin3d_b": VideoModelSpec(
        "swin3d_b", (256, 256), 224, IMAGENET_MEAN, IMAGENET_STD, weights_enum="Swin3D_B_Weights"
    ),
    # The embedded model normalises inside; its contract is only the clip size.
    "tiny_action_net": VideoModelSpec("tiny_action_net", (64, 64), 64, (0.0,) * 3, (1.0,) * 3, frames=16),
}


class VideoClassifier(nn.Module):
    """A video model plus its preprocessing: (N, 3, T, H, W) in [0, 1] -> logits (N, classes)."""

    def __init__(self, model: nn.Module, spec: VideoModelSpec, name: str):
        super().__init__()
        self.model, self.spec, self.name = model, spec, name
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1, 1))

    def preprocess(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"{self.name} takes clips (N, 3, T, H, W), got {tuple(clips.shape)}")
        frames = clips.shape[2]
        if (self.spec.frames and frames != self.spec.frames) or frames < self.spec.min_frames:
            wanted = self.spec.frames or f">= {self.spec.min_frames}"
            raise ValueError(f"{self.name} needs {wanted} frames per clip, got {frames}")
        n, c, t, h, w = clips.shape
        flat = clips.transpose(1, 2).reshape(n * t, c, h, w)
        if (h, w) != self.spec.resize:
            flat = F.interpolate(flat, size=self.spec.resize, mode="bilinear", align_corners=False, antialias=True)
        top, left = (self.spec.resize[0] - self.spec.crop) // 2, (self.spec.resize[1] - self.spec.crop) // 2
        flat = flat[..., top : top + self.spec.crop, left : left + self.spec.crop]
        clips = flat.reshape(n, t, c, self.spec.crop, self.spec.crop).transpose(1, 2)
        return (clips - self.mean) / self.std

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(clips))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state_dict or a training checkpoint ({"state_dict": ...} / {"model": ...}), any
    ``module.`` prefixes (DataParallel) removed; a file that neither reader can read is a ValueError
    that names it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(path, "cpu", weights_only=True)
    except (SafetensorError, pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error})") from error
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items()}


def classification_head(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of a video model's classification head: its last Linear or Conv3d, as in every
    model of ``VIDEO_MODELS`` (S3D's is a 1x1x1 convolution)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv3d))][-1]


def replace_head(model: nn.Module, num_classes: int) -> None:
    """Give the classification head (:func:`classification_head`) ``num_classes`` outputs, freshly
    initialised; a head of the right size is kept."""
    name, head = classification_head(model)
    if isinstance(head, nn.Linear):
        if head.out_features == num_classes:
            return
        new_head: nn.Module = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
    else:
        if head.out_channels == num_classes:
            return
        new_head = nn.Conv3d(
            head.in_channels, num_classes, head.kernel_size, head.stride, head.padding, bias=head.bias is not None
        )
    parent, _, attribute = name.rpartition(".")
    setattr(model.get_submodule(parent), attribute, new_head.to(head.weight.device))


def create_video_classifier(
    name: str, weights: str | Path | None = None, num_classes: int | None = None
) -> VideoClassifier:
    """Build a registered video classifier.

    Args:
        name: a key of ``VIDEO_MODELS``.
        weights: a local checkpoint file (class count read from it, e.g. 101 for UCF-101);
            ``"DEFAULT"`` for torchvision's Kinetics-400 weights (downloaded: needs a connection);
            None for random weights (``tiny_action_net``: the embedded trained model).
        num_classes: for random weights (default 400; 10 for the embedded model).

    Raises:
        ValueError: unknown name, or a checkpoint that does not fit the model (names both shapes).
        FileNotFoundError: the checkpoint file is missing.
    """
    if name not in VIDEO_MODELS:
        raise ValueError(f"unknown video model {name!r}; allowed: {', '.join(VIDEO_MODELS)}")
    spec = VIDEO_MODELS[name]
    if name == "tiny_action_net":
        from video_decorruptor.recognition.action_net import TinyActionNet, load_action_model

        model = load_action_model(weights) if weights is not None or num_classes is None else TinyActionNet(num_classes)
        return VideoClassifier(model, spec, name).eval()
    import torchvision.models.video as video_models

    builder: Callable[..., nn.Module] = getattr(video_models, spec.builder)
    if weights == "DEFAULT":
        enum = getattr(video_models, spec.weights_enum)
        return VideoClassifier(builder(weights=enum.DEFAULT), spec, name).eval()
    if weights is None:
        return VideoClassifier(builder(num_classes=num_classes or 400), spec, name).eval()
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{name} checkpoint not found: {path}")
    state = _read_state_dict(path)
    model = builder()
    head = f"{classification_head(model)[0]}.weight"
    if head not in state:
        raise ValueError(f"{path} does not fit {name}: it has no {head} (the classification head)")
    replace_head(model, int(state[head].shape[0]))
    expected = model.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and expected[k].shape != v.shape
    ]
    missing = sorted(set(expected) - set(state))
    if mismatched or missing:
        detail = "; ".join(mismatched[:3]) or f"missing {', '.join(missing[:3])}"
        raise ValueError(f"{path} does not fit {name}: {detail}")
    model.load_state_dict(state)
    return VideoClassifier(model, spec, name).eval()


class DecorruptedClassifier(nn.Module):
    """Test-time adaptation by input editing, in front of any video classifier.

    Args:
        classifier: any module mapping clips (N, 3, T, H, W) in [0, 1] to logits.
        editor: a ``VideoDecorruptor`` (default: the embedded Decorruptor-Tiny, with its temporal fusion).
        mode: ``restored`` (logits of the edited clip) or ``ensemble`` (sum of the logits of the
            original and the edited clip, the DDA protocol).

    Example:
        >>> adapted = DecorruptedClassifier(my_video_model)  # doctest: +SKIP
        >>> logits = adapted(clips)                           # doctest: +SKIP
    """

    MODES = ("restored", "ensemble")

    def __init__(self, classifier: nn.Module, editor=None, mode: str = "ensemble"):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(self.MODES)}")
        if editor is None:
            from video_decorruptor.restore.restorer import VideoDecorruptor

            editor = VideoDecorruptor.from_pretrained(progress=False)
        self.classifier, self.editor, self.mode = classifier, editor, mode

    def restore(self, clips: torch.Tensor) -> torch.Tensor:
        """Edit every clip with the video editor: (N, 3, T, H, W) in [0, 1] -> the same."""
        restored = []
        for clip in clips:
            frames = (clip.permute(1, 2, 3, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
            edited = self.editor.restore_frames(np.ascontiguousarray(frames))
            restored.append(torch.from_numpy(edited).permute(3, 0, 1, 2).float() / 255)
        return torch.stack(restored).to(clips.device)

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.restore(clips))
        return logits if self.mode == "restored" else logits + self.classifier(clips)
