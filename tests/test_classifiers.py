import pytest
import torch
from tiny_editor import tiny_pipeline

from video_decorruptor.recognition.classifiers import VIDEO_MODELS, DecorruptedClassifier, create_video_classifier
from video_decorruptor.restore.restorer import VideoDecorruptor


@pytest.mark.parametrize(
    ("name", "frames", "crop", "mean"),
    [
        ("r3d_18", 8, 112, 0.43216),
        ("mc3_18", 8, 112, 0.43216),
        ("r2plus1d_18", 8, 112, 0.43216),
        ("s3d", 14, 224, 0.43216),
        ("swin3d_t", 8, 224, 0.485),
    ],
)
def test_preprocessing_per_family_on_random_models(name, frames, crop, mean):
    classifier = create_video_classifier(name, num_classes=7)
    clips = torch.rand(1, 3, frames, 120, 160)
    prepared = classifier.preprocess(clips)
    assert prepared.shape == (1, 3, frames, crop, crop)
    grey = classifier.preprocess(torch.full((1, 3, frames, 120, 160), mean))
    assert grey[:, 0].abs().max() < 1e-4  # the first channel's mean maps to 0
    with torch.no_grad():
        assert classifier(clips).shape == (1, 7)


def test_mvit_needs_16_frames_and_s3d_at_least_14():
    assert VIDEO_MODELS["mvit_v2_s"].frames == 16 and VIDEO_MODELS["mvit_v2_s"].mean == (0.45,) * 3
    with pytest.raises(ValueError, match="s3d needs >= 14 frames per clip, got 8"):
        create_video_classifier("s3d", num_classes=3)(torch.rand(1, 3, 8, 64, 64))


def test_checkpoints_load_with_their_class_count_or_say_what_does_not_fit(tmp_path):
    model = create_video_classifier("r3d_18", num_classes=101).model
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "ucf.pth"
    )
    loaded = create_video_classifier("r3d_18", tmp_path / "ucf.pth")
    assert loaded.model.fc.out_features == 101
    torch.testing.assert_close(loaded.model.fc.weight, model.fc.weight)
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(
        ValueError,
        match=r"does not fit mc3_18: layer2.0.conv1.0.weight: "
        r"checkpoint \(128, 64, 3, 3, 3\) vs model \(128, 64, 1, 3, 3\)",
    ):
        create_video_classifier("mc3_18", tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError, match="r3d_18 checkpoint not found"):
        create_video_classifier("r3d_18", tmp_path / "missing.pt")
    s3d = create_video_classifier("s3d", num_classes=5).model  # its head is a 1x1x1 convolution
    torch.save(s3d.state_dict(), tmp_path / "s3d.pt")
    assert create_video_classifier("s3d", tmp_path / "s3d.pt").model.classifier[1].out_channels == 5
    with pytest.raises(ValueError, match="unknown video model 'i3d'"):
        create_video_classifier("i3d")


@pytest.mark.parametrize("name", ["r3d_18", "tiny_action_net"])
def test_an_unreadable_checkpoint_is_a_value_error_that_names_the_file(tmp_path, name):
    for file in ("weights.pth", "weights.safetensors"):
        (tmp_path / file).write_text("not a checkpoint")
        with pytest.raises(ValueError, match=file):
            create_video_classifier(name, tmp_path / file)


def test_embedded_tiny_action_net_through_the_same_interface():
    classifier = create_video_classifier("tiny_action_net")
    assert classifier(torch.rand(2, 3, 16, 96, 128)).shape == (2, 10)  # resized to 64x64 inside


def test_decorrupted_classifier_restored_and_ensemble_logits():
    classifier = create_video_classifier("tiny_action_net")
    editor = VideoDecorruptor(tiny_pipeline(cm=True), batch_size=4, progress=False)
    clips = torch.rand(2, 3, 16, 32, 32)
    restored_only = DecorruptedClassifier(classifier, editor, mode="restored")
    ensemble = DecorruptedClassifier(classifier, editor, mode="ensemble")
    with torch.no_grad():
        source = classifier(clips)
        restored = classifier(restored_only.restore(clips))
    torch.testing.assert_close(restored_only(clips), restored)
    torch.testing.assert_close(ensemble(clips), source + restored)
    with pytest.raises(ValueError, match="unknown mode 'tent'"):
        DecorruptedClassifier(classifier, editor, mode="tent")
