"""Shared command-line options: bounded number types and the editor's options under both names."""

import argparse

import pytest

from video_decorruptor.options import (
    add_editor_options,
    at_least,
    positive_int,
    restorer_config,
    restorer_settings,
)
from video_decorruptor.restore.presets import RestorerConfig


def test_at_least_refuses_values_below_the_minimum_as_usage_errors(capsys):
    assert positive_int("3") == 3 and at_least(float, 0.0)("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 1, got 0"):
        positive_int("0")
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=positive_int)
    with pytest.raises(SystemExit) as error:
        parser.parse_args(["--n", "x"])
    assert error.value.code == 2 and "invalid int value: 'x'" in capsys.readouterr().err


def test_editor_options_map_to_the_restorer_and_to_the_evaluation():
    restore, evaluate = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_editor_options(restore)
    add_editor_options(evaluate, "editor-")
    evaluate.add_argument("--classifier")  # evaluate names its classifier --classifier
    settings = restorer_settings(
        restore.parse_args(
            [
                "--model",
                "ckpt",
                "--steps",
                "2",
                "--no-tone",
                "--fusion-radius",
                "0",
                "--image-guidance-schedule",
                "constant",
                "--start-from-image",
                "--compile",
            ]
        )
    )
    assert settings == {
        "path": "ckpt",
        "preset": "default",
        "compile": True,
        "num_inference_steps": 2,
        "tone_correction": False,
        "fusion_radius": 0,
        "image_guidance_decay": False,
        "start_from_image": True,
    }
    args = evaluate.parse_args(
        [
            "--classifier",
            "r3d_18",
            "--editor",
            "ckpt",
            "--editor-size",
            "64",
            "--editor-colour-fix",
            "1.5",
            "--preset",
            "published",
        ]
    )
    assert args.classifier == "r3d_18"
    assert restorer_config(args) == RestorerConfig("ckpt", "published", {"size": 64, "colour_fix_sigma": 1.5})
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--editor-grid-shifts", "3"])
