"""`evaluate`: every mode end to end on a fake mini UCF-101C, caching, TENT resets, torchrun sharding."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CLASSES, make_mini_ucf101
from safetensors.torch import save_file
from tiny_editor import tiny_pipeline

from video_decorruptor.benchmark.evaluate import MODES, EvaluationConfig, evaluate
from video_decorruptor.benchmark.ucf101c import build_ucf101c
from video_decorruptor.recognition.action_net import TinyActionNet
from video_decorruptor.restore.presets import RestorerConfig

STREAMS = ("gauss", "contrast")


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A three-video UCF-101C (two corruptions at severity 5) and a tiny random CM editor folder."""
    base = tmp_path_factory.mktemp("mini")
    root, splits = make_mini_ucf101(base, frames=16)
    assert build_ucf101c(root, splits, base / "UCF-101C", STREAMS, [5]).ok
    editor = base / "editor"
    tiny_pipeline(cm=True).save_pretrained(editor)
    classifier = base / "tiny_action_net_3.safetensors"  # one output per class of the mini set
    torch.manual_seed(0)
    save_file(TinyActionNet(len(CLASSES)).state_dict(), str(classifier))
    return {"root": root, "splits": splits, "ucf101c": base / "UCF-101C", "editor": editor, "classifier": classifier}


def config(mini, output, preset: str = "default", **overrides) -> EvaluationConfig:
    """``editor_options`` in ``overrides``: restorer options on top of 4 frames per batch."""
    options = {"batch_size": 4, **overrides.pop("editor_options", {})}
    values = dict(
        data=mini["ucf101c"],
        splits_dir=mini["splits"],
        corruptions=STREAMS,
        severities=[5],
        editor=RestorerConfig(str(mini["editor"]), preset, options),
        batch_size=2,
        output_dir=output,
        progress=False,
        weights=str(mini["classifier"]),
    )
    return EvaluationConfig(**{**values, **overrides})


def cached_logits(output, stream: str, mode: str) -> dict[str, np.ndarray]:
    """The logits a run stored: ``<output>/cache/logits/<classifier>/<stream>-<data key>/<mode>[-<editor key>].npz``."""
    name = mode.replace("+", "_") + ("-*" if mode.startswith("restored") else "")
    (path,) = (output / "cache" / "logits").glob(f"*/{stream}-*/{name}.npz")
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def test_all_modes_end_to_end_with_reports_and_ensemble_arithmetic(mini, tmp_path):
    result = evaluate(config(mini, tmp_path / "out"))
    assert set(result.accuracy) == set(MODES) and result.videos == 2 * 3
    for mode in MODES:
        assert set(result.accuracy[mode]) == {"gauss-5", "contrast-5"}
        assert all(
            round(3 * value / 100, 9).is_integer() for value in result.accuracy[mode].values()
        )  # 0, 1, 2 or 3 of 3 videos
        assert result.mean[mode] == pytest.approx(np.mean(list(result.accuracy[mode].values())))
    # ensemble = argmax of the summed source and restored logits, recomputed from the cache
    labels = {"ApplyEyeMakeup": 0, "Basketball": 1, "YoYo": 2}
    source, restored = (cached_logits(tmp_path / "out", "gauss-5", mode) for mode in ("source", "restored"))
    correct = [np.argmax(source[k] + restored[k]) == labels[k.split("|")[0]] for k in source]
    assert result.accuracy["ensemble"]["gauss-5"] == pytest.approx(100 * np.mean(correct))
    assert source.keys() == restored.keys() and len(source) == 3
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0]
    assert header == "corruption,severity," + ",".join(MODES)
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["accuracy"] == result.accuracy and record["config"]["corruptions"] == list(STREAMS)
    assert (tmp_path / "out" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    restored_clips = sorted((tmp_path / "out" / "cache" / "restored").rglob("*.npz"))
    assert len(restored_clips) == 6 and np.load(restored_clips[0])["frames"].shape == (16, 48, 64, 3)


def test_a_rerun_and_an_added_mode_reuse_the_cache(mini, tmp_path):
    first = evaluate(config(mini, tmp_path, modes=["source", "restored"]))
    assert first.seconds_per_clip["restore"] > 0
    again = evaluate(config(mini, tmp_path, modes=["source", "restored", "ensemble", "restored+tent"]))
    assert again.seconds_per_clip["restore"] == 0 and again.seconds_per_clip["classify_restored"] == 0
    assert again.accuracy["restored"] == first.accuracy["restored"]
    assert again.seconds_per_clip["tent_restored"] > 0 and again.seconds_per_clip["tent_source"] == 0
    assert first.mode_seconds_per_clip["restored"] > first.mode_seconds_per_clip["source"] > 0


def test_another_editor_setting_or_rebuilt_data_misses_the_cache(mini, tmp_path):
    evaluate(config(mini, tmp_path / "out", modes=["source", "restored"]))
    other_editor = evaluate(
        config(
            mini,
            tmp_path / "out",
            modes=["source", "restored"],
            editor_options={"colour_fix_sigma": 1.0},
        )
    )
    assert other_editor.seconds_per_clip["classify_source"] == 0  # the same clips and classifier
    assert other_editor.seconds_per_clip["restore"] > 0 and other_editor.seconds_per_clip["classify_restored"] > 0
    unfused = evaluate(config(mini, tmp_path / "out", modes=["restored"], editor_options={"fusion_radius": 0}))
    assert unfused.seconds_per_clip["restore"] > 0  # the fusion radius is part of the key
    published = evaluate(
        config(mini, tmp_path / "out", modes=["restored"], preset="published", editor_options={"size": 64})
    )
    assert published.seconds_per_clip["restore"] > 0  # and so is the preset
    rebuilt = tmp_path / "rebuilt"
    assert build_ucf101c(mini["root"], mini["splits"], rebuilt, ["gauss"], [5]).ok
    moved = evaluate(config(mini, tmp_path / "out", modes=["source"], data=rebuilt, corruptions=["gauss"]))
    assert moved.seconds_per_clip["classify_source"] > 0


def test_tent_resets_between_streams(mini, tmp_path):
    both = evaluate(config(mini, tmp_path / "both", modes=["tent"]))
    alone = evaluate(config(mini, tmp_path / "alone", modes=["tent"], corruptions=["contrast"]))
    logits = [cached_logits(tmp_path / run, "contrast-5", "tent") for run in ("both", "alone")]
    for key in logits[1]:
        np.testing.assert_allclose(logits[0][key], logits[1][key], rtol=1e-5, atol=1e-5)
    assert both.accuracy["tent"]["contrast-5"] == alone.accuracy["tent"]["contrast-5"]


def test_on_the_fly_corruption_of_clean_ucf101(mini, tmp_path):
    result = evaluate(
        config(mini, tmp_path, data=mini["root"], on_the_fly=True, modes=["source"], corruptions=["impulse"])
    )
    assert list(result.accuracy["source"]) == ["impulse-5"]


def test_a_classifier_must_fit_the_classes_of_class_ind(mini, tmp_path):
    other = tmp_path / "five.safetensors"
    save_file(TinyActionNet(5).state_dict(), str(other))
    with pytest.raises(ValueError, match="tiny_action_net has 5 outputs .*classInd.txt lists 3 classes"):
        evaluate(config(mini, tmp_path, modes=["source"], weights=str(other)))
    with pytest.raises(ValueError, match="embedded tiny_action_net knows only its 10 synthetic classes"):
        evaluate(config(mini, tmp_path, modes=["source"], weights=None))


def test_an_unreadable_video_is_left_out_and_named(mini, tmp_path):
    import shutil

    data = tmp_path / "UCF-101C"
    shutil.copytree(mini["ucf101c"], data)
    broken = next((data / "gauss" / "5").rglob("*.mp4"))
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])  # truncated
    result = evaluate(config(mini, tmp_path / "out", data=data, modes=["source", "restored", "tent"]))
    assert list(result.unreadable) == ["gauss-5"]
    listed = str(broken.relative_to(data / "gauss" / "5").with_suffix(".avi"))  # as the split list names it
    assert list(result.unreadable["gauss-5"]) == [listed]
    assert broken.name in next(iter(result.unreadable["gauss-5"].values()))  # the reason names the file
    assert set(result.accuracy["tent"]) == {"gauss-5", "contrast-5"}  # the other videos scored in every mode
    everything = evaluate(config(mini, tmp_path / "all", modes=["source"]))
    assert result.accuracy["source"]["contrast-5"] == everything.accuracy["source"]["contrast-5"]


def test_bad_arguments_fail_clearly(mini, tmp_path):
    with pytest.raises(ValueError, match="unknown mode\\(s\\) tnet; allowed: source, restored"):
        evaluate(config(mini, tmp_path, modes=["tnet"]))
    with pytest.raises(FileNotFoundError, match="shot/5 not found"):
        evaluate(config(mini, tmp_path, corruptions=["shot"]))


def run_cli(*args: str, launcher: tuple[str, ...] = ("-m", "video_decorruptor")) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *launcher, *args], capture_output=True, text=True, timeout=600)


def test_torchrun_with_two_cpu_processes_equals_one_process(mini, tmp_path):
    common = [
        "evaluate",
        "--data",
        str(mini["ucf101c"]),
        "--splits",
        str(mini["splits"]),
        "--corruptions",
        ",".join(STREAMS),
        "--editor",
        str(mini["editor"]),
        "--weights",
        str(mini["classifier"]),
        "--batch-size",
        "2",
        "--device",
        "cpu",
    ]
    single = run_cli(*common, "--output-dir", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    assert "| **mean** |" in single.stdout and "results.csv" in single.stdout
    launcher = (
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "video_decorruptor.cli",
    )
    sharded = run_cli(*common, "--output-dir", str(tmp_path / "two"), launcher=launcher)
    assert sharded.returncode == 0, sharded.stderr
    one, two = (json.loads((tmp_path / run / "results.json").read_text()) for run in ("one", "two"))
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert one["accuracy"] == two["accuracy"]
    for mode in ("source", "restored", "tent"):
        a, b = (cached_logits(tmp_path / run, "gauss-5", mode) for run in ("one", "two"))
        assert a.keys() == b.keys()
        for key in a:  # torchrun runs one thread per process: other summation orders, so not bit-equal
            np.testing.assert_allclose(a[key], b[key], rtol=1e-3, atol=1e-3)


def test_cli_reports_bad_usage_in_one_line(mini, tmp_path):
    weights = ("--weights", str(mini["classifier"]))
    result = run_cli(
        "evaluate",
        "--data",
        str(tmp_path / "missing"),
        "--splits",
        str(mini["splits"]),
        "--corruptions",
        "gauss",
        *weights,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "not found" in result.stderr
    result = run_cli(
        "evaluate", "--data", str(mini["ucf101c"]), "--splits", str(mini["splits"]), "--corruptions", "gaus", *weights
    )
    assert result.returncode == 1 and "unknown corruption(s) gaus" in result.stderr


def test_cli_names_the_classifier_classifier_and_keeps_model_as_a_deprecated_alias(mini, tmp_path, capsys):
    from video_decorruptor.cli import main

    common = [
        "evaluate",
        "--data",
        str(mini["ucf101c"]),
        "--splits",
        str(mini["splits"]),
        "--corruptions",
        "gauss",
        "--modes",
        "source",
        "--output-dir",
        str(tmp_path),
    ]
    assert main([*common, "--classifier", "tiny_action_net"]) == 1  # the embedded one: not these classes
    assert "knows only its 10 synthetic classes" in capsys.readouterr().err
    common += ["--weights", str(mini["classifier"])]
    assert main([*common, "--classifier", "tiny_action_net"]) == 0
    assert "top-1 accuracy (%) of tiny_action_net" in capsys.readouterr().out
    assert main([*common, "--model", "tiny_action_net"]) == 0
    assert "--model is deprecated" in capsys.readouterr().err
    assert main([*common, "--clip-length", "8"]) == 1  # refused before any clip is read
    assert "tiny_action_net takes clips of 16 frames; the clip length asked is 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--preset", "turbo"])


def test_a_sigkill_then_the_same_command_gives_the_uninterrupted_results(mini, tmp_path):
    import signal
    import time

    common = [
        *("evaluate", "--data", str(mini["ucf101c"]), "--splits", str(mini["splits"])),
        *("--corruptions", ",".join(STREAMS), "--modes", "source,restored,restored+tent"),
        *("--editor", str(mini["editor"]), "--weights", str(mini["classifier"]), "--batch-size", "1"),
    ]
    whole = run_cli(*common, "--output-dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "video_decorruptor", *common, "--output-dir", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not list((out / "cache").rglob("*.npz")):  # the first restored clip is on disk
        assert process.poll() is None and time.monotonic() < deadline, "evaluate ended before the kill"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "results.json").exists()
    again = run_cli(*common, "--output-dir", str(out))
    assert again.returncode == 0, again.stderr
    first, second = (json.loads((folder / "results.json").read_text()) for folder in (tmp_path / "whole", out))
    assert first["accuracy"] == second["accuracy"]
    assert not [path for path in out.rglob("*") if "partial" in path.name]


def test_restored_data_is_read_instead_of_restoring(mini, tmp_path):
    """restore-dataset, then evaluate --restored-data: the restored mode scores the restored copy's
    clips, as evaluating that copy as data in the source mode does, and restores nothing itself."""
    from video_decorruptor.restore.dataset import restore_dataset
    from video_decorruptor.restore.restorer import VideoDecorruptor

    restorer = VideoDecorruptor.from_pretrained(str(mini["editor"]), batch_size=4, progress=False)
    restored = tmp_path / "UCF-101C-restored"
    assert not restore_dataset(restorer, mini["ucf101c"], restored, progress=False).failed
    result = evaluate(config(mini, tmp_path / "out", modes=["source", "restored", "ensemble"], restored_data=restored))
    assert result.seconds_per_clip["restore"] == 0  # nothing restored here
    as_data = evaluate(config(mini, tmp_path / "as-data", modes=["source"], data=restored))
    assert result.accuracy["restored"] == as_data.accuracy["source"]
    assert json.loads((tmp_path / "out" / "results.json").read_text())["config"]["restored_data"] == str(restored)
