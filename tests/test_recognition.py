import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from video_decorruptor.recognition.action_net import (
    EMBEDDED_ACTION_MODEL,
    ActionModelConfig,
    TinyActionNet,
    load_action_model,
    train_action_model,
)
from video_decorruptor.recognition.synthetic_actions import ACTION_CLASSES, SyntheticActions, render_action_clip


def test_ten_balanced_classes_and_deterministic_clips():
    assert len(ACTION_CLASSES) == 10
    dataset = SyntheticActions("train", 20, frames=8, size=48)
    clip, label = dataset[13]
    assert clip.shape == (3, 8, 48, 48) and clip.dtype == torch.float32 and label == 3
    torch.testing.assert_close(clip, SyntheticActions("train", 20, frames=8, size=48)[13][0])
    assert [dataset[i][1] for i in range(10)] == list(range(10))


def test_train_and_test_splits_use_different_photos():
    train, test = SyntheticActions("train", 4, 4, 32), SyntheticActions("test", 4, 4, 32)
    assert not torch.equal(train[0][0], test[0][0])
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        SyntheticActions("val")


def test_camera_motions_move_the_content_the_right_way():
    rng = np.random.default_rng(0)
    photo = np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    photo = np.ascontiguousarray(np.repeat(np.repeat(photo[::10, ::10], 10, 0), 10, 1))  # 10 px blocks
    clip = render_action_clip(photo, "pan_right", rng, frames=2, size=64).astype(float)
    # Camera right -> content left: the second frame matches the first shifted left by some pixels.
    errors = {shift: np.abs(clip[1][:, : -shift or None] - clip[0][:, shift:]).mean() for shift in range(0, 30, 2)}
    assert min(errors, key=errors.get) > 0
    with pytest.raises(ValueError, match="unknown action 'jump'"):
        render_action_clip(photo, "jump", rng)


def test_tiny_action_net_shapes_and_loading(tmp_path):
    model = TinyActionNet()
    assert model(torch.rand(2, 3, 16, 64, 64)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) < 400_000
    with pytest.raises(ValueError, match=r"clips must be \(N, 3, T, H, W\)"):
        model(torch.rand(2, 16, 3, 64, 64))
    save_file(model.state_dict(), str(tmp_path / "m.safetensors"))
    loaded = load_action_model(tmp_path / "m.safetensors")
    clips = torch.rand(1, 3, 8, 32, 32)
    torch.testing.assert_close(loaded(clips), model.eval()(clips))
    with pytest.raises(FileNotFoundError, match="action model weights not found"):
        load_action_model(tmp_path / "missing.safetensors")
    save_file({"other": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="not a TinyActionNet checkpoint"):
        load_action_model(tmp_path / "bad.safetensors")


def test_training_command_runs_and_reports_accuracy(tmp_path):
    config = ActionModelConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        batch_size=4,
        frames=4,
        size=32,
        width=4,
        test_clips=10,
        num_workers=0,
        warmup_steps=1,
    )
    card = train_action_model(config)
    assert 0.0 <= card["held_out_accuracy"] <= 1.0 and card["classes"] == list(ACTION_CLASSES)
    assert load_action_model(tmp_path / "tiny-action-net.safetensors")(torch.rand(1, 3, 4, 32, 32)).shape == (1, 10)


@pytest.mark.skipif(
    not EMBEDDED_ACTION_MODEL.exists(), reason="the embedded TinyActionNet is not trained in this checkout"
)
def test_embedded_action_model_recognises_held_out_clips():
    from video_decorruptor.recognition.action_net import evaluate_accuracy

    accuracy = evaluate_accuracy(load_action_model(), SyntheticActions("test", 60, seed=7))
    assert accuracy >= 0.8
