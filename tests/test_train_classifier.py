"""`train-classifier`: training through the CLI on a mini UCF-101, exact resume after a kill, weights
that `evaluate` loads, unreadable videos skipped, one-line errors for bad input."""

import contextlib
import io

import pytest
import torch
from conftest import make_mini_ucf101
from safetensors.torch import load_file

from video_decorruptor import cli
from video_decorruptor.benchmark import train_classifier as training
from video_decorruptor.recognition.classifiers import create_video_classifier, replace_head


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """Three classes, one train and one test video each (20 and 13 frames)."""
    return make_mini_ucf101(tmp_path_factory.mktemp("ucf"))


def arguments(mini, output, *extra: str) -> list[str]:
    root, splits = mini
    return [
        "train-classifier",
        "--root",
        str(root),
        "--splits",
        str(splits),
        "--output",
        str(output),
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--workers",
        "0",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(mini, tmp_path_factory):
    """An uninterrupted two-epoch run: (output folder, what it printed)."""
    output = tmp_path_factory.mktemp("run")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(arguments(mini, output)) == 0
    return output, printed.getvalue()


def test_prints_test_accuracy_after_every_epoch(trained):
    output, printed = trained
    lines = printed.splitlines()
    assert lines[0].startswith("epoch 1/2: train loss ") and lines[0].endswith("/3)") and "test top-1 " in lines[0]
    assert lines[1].startswith("epoch 2/2: train loss ") and lines[1].endswith("/3)")
    weights = output / "tiny_action_net.safetensors"
    assert lines[2].startswith(f"wrote {weights} (tiny_action_net, 3 classes, 16 frames per clip)")
    assert [path.name for path in sorted((output / "checkpoints").iterdir())] == ["epoch_0001.pt", "epoch_0002.pt"]


def test_weights_load_as_evaluate_loads_them(trained):
    output, _ = trained
    classifier = create_video_classifier("tiny_action_net", output / "tiny_action_net.safetensors")
    assert classifier(torch.rand(2, 3, 16, 48, 64)).shape == (2, 3)


class Killed(BaseException):
    """Stands for a SIGKILL: nothing in the command may catch it."""


def test_resume_after_a_kill_ends_with_the_same_weights(mini, trained, tmp_path, monkeypatch, capsys):
    save = training._save_checkpoint

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        raise Killed  # killed right after epoch 1's checkpoint

    monkeypatch.setattr(training, "_save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        cli.main(arguments(mini, tmp_path))
    assert not (tmp_path / "tiny_action_net.safetensors").exists()
    monkeypatch.setattr(training, "_save_checkpoint", save)
    assert cli.main(arguments(mini, tmp_path)) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "(1 of 2 epochs done)" in printed and "epoch 2/2: " in printed
    resumed = load_file(str(tmp_path / "tiny_action_net.safetensors"))
    uninterrupted = load_file(str(trained[0] / "tiny_action_net.safetensors"))
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[key], uninterrupted[key]) for key in resumed)


def test_unreadable_videos_are_skipped_and_counted(tmp_path, capsys):
    root, splits = make_mini_ucf101(tmp_path / "broken", broken=True)  # one broken test video
    with (splits / "trainlist01.txt").open("a") as trainlist:
        trainlist.write("YoYo/v_YoYo_g02_c01.avi 3\n")  # and the same in the train split
    assert cli.main(arguments((root, splits), tmp_path / "run")) == 0
    lines = capsys.readouterr().out.splitlines()
    for line in lines[:2]:
        assert line.endswith("/3), skipped 1 unreadable video(s): YoYo/v_YoYo_g02_c01.avi")


BAD_INPUTS = (
    "missing split file",
    "class not in classInd.txt",
    "weights of another model",
    "pth for tiny_action_net",
    "other settings in output",
    "clip length",
    "test split",
)


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_code_1(mini, trained, case, tmp_path, capsys):
    root, splits = mini
    extra: list[str] = []
    output = tmp_path / "run"
    if case == "missing split file":
        extra = ["--split", "train2"]
    elif case == "class not in classInd.txt":
        bad = tmp_path / "splits"
        bad.mkdir()
        (bad / "classInd.txt").write_text((splits / "classInd.txt").read_text())
        (bad / "trainlist01.txt").write_text("Surfing/v_Surfing_g08_c01.avi 4\n")
        (bad / "testlist01.txt").write_text((splits / "testlist01.txt").read_text())
        splits = bad
    elif case == "weights of another model":
        extra = ["--classifier", "r3d_18", "--weights", str(trained[0] / "tiny_action_net.safetensors")]
    elif case == "pth for tiny_action_net":
        torch.save({"fc.weight": torch.zeros(3, 8)}, tmp_path / "r3d.pth")
        extra = ["--weights", str(tmp_path / "r3d.pth")]
    elif case == "other settings in output":
        output, extra = trained[0], ["--epochs", "3"]
    elif case == "clip length":
        extra = ["--clip-length", "8"]
    else:
        extra = ["--split", "test1"]
    assert cli.main(arguments((root, splits), output, *extra)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("video-decorruptor: error: ")


def test_head_is_replaced_to_the_class_count(tmp_path):
    """Kinetics-style weights (400 classes) of a torchvision model start a 3-class model that
    evaluate's loader reads back; S3D's head is a convolution."""
    import torchvision.models.video as video_models

    torch.save(video_models.mc3_18(num_classes=400).state_dict(), tmp_path / "kinetics.pth")
    classifier = training.build_classifier("mc3_18", tmp_path / "kinetics.pth", 3)
    assert classifier.model.fc.out_features == 3
    training.export_weights(classifier, tmp_path / "mc3_18.safetensors")
    assert create_video_classifier("mc3_18", tmp_path / "mc3_18.safetensors").model.fc.out_features == 3
    s3d = video_models.s3d(num_classes=400)
    replace_head(s3d, 5)
    head = s3d.classifier[1]
    assert isinstance(head, torch.nn.Conv3d) and head.out_channels == 5 and head.kernel_size == (1, 1, 1)


def test_a_sigkill_then_the_same_command_ends_with_the_same_weights(mini, trained, tmp_path):
    """The real thing: the process is killed (no handler runs) once its first checkpoint is on disk."""
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "video_decorruptor", *arguments(mini, tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (tmp_path / "checkpoints" / "epoch_0001.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "train-classifier ended before the kill"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    resumed = load_file(str(tmp_path / "tiny_action_net.safetensors"))
    uninterrupted = load_file(str(trained[0] / "tiny_action_net.safetensors"))
    assert all(torch.equal(resumed[key], uninterrupted[key]) for key in uninterrupted)
    assert not [path for path in tmp_path.rglob("*") if "partial" in path.name]
