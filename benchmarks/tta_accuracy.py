"""Test-time adaptation on a mini UCF-101C: how much accuracy input editing gives back.

Held-out synthetic action clips (photos the action model never saw) are written as a UCF-101-layout
folder, corrupted into a mini UCF-101C by the same code as the real one (`make-ucf101c`), laid out
and stored as the published UCF-101C is (MPEG-4 Part 2 as OpenCV's mp4v writes it; --storage lossless
keeps the corruptions alone), and
classified by the embedded TinyActionNet in every mode of `video-decorruptor evaluate`: source,
restored, ensemble, tent and restored+tent, with the embedded Decorruptor-Tiny CM (at its own step
count unless --editor-steps says otherwise) unless --editor names another checkpoint. Prints the
accuracy table per severity and what one clip costs in each mode, all measured in this run.

Targets: ensemble mean >= source mean + 5 points; restored >= source on the noise corruptions
(gauss, shot, impulse, salt, pepper).

The restored mode is the whole video layer: each frame fused with its flow-warped neighbours
(video_decorruptor.restore.fusion), then edited. A second table splits the two: the action model on the
fused clips alone, without the editor, beside the restored mode.

    python benchmarks/tta_accuracy.py [--clips 100] [--severity 5,3] [--editor PATH]
        [--editor-* options: --help] [--keep DIR]

With --keep the mini dataset stays: DIR/videos (clean, UCF-101 layout), DIR/splits and DIR/ucf101c.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import RESULTS_DIR, markdown_table, save_json  # noqa: E402

from video_decorruptor.benchmark.corruptions import UCF101C_CORRUPTIONS  # noqa: E402
from video_decorruptor.benchmark.data import UCF101C, uniform_indices  # noqa: E402
from video_decorruptor.benchmark.evaluate import MODES, EvaluationConfig, evaluate  # noqa: E402
from video_decorruptor.benchmark.evaluate import markdown_table as accuracy_table  # noqa: E402
from video_decorruptor.benchmark.ucf101c import STORAGES, build_ucf101c, parse_severities  # noqa: E402
from video_decorruptor.io import write_video  # noqa: E402
from video_decorruptor.options import add_editor_options, restorer_config  # noqa: E402
from video_decorruptor.recognition.action_net import load_action_model  # noqa: E402
from video_decorruptor.recognition.synthetic_actions import ACTION_CLASSES, SyntheticActions  # noqa: E402
from video_decorruptor.restore.fusion import fuse_frames  # noqa: E402
from video_decorruptor.restore.presets import PRESETS  # noqa: E402

NOISE = ("gauss", "shot", "impulse", "salt", "pepper")


def write_mini_ucf101(base: Path, clips: int, seed: int) -> tuple[Path, Path]:
    """Held-out synthetic clips as <base>/videos/<Class>/v_<Class>_gXX_c01.mp4 (lossless) plus split files."""
    root, splits = base / "videos", base / "splits"
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(ACTION_CLASSES)))
    dataset, listed = SyntheticActions("test", clips, seed=seed), []
    for index in range(clips):
        frames, label = dataset.clip(index)
        relative = f"{ACTION_CLASSES[label]}/v_{ACTION_CLASSES[label]}_g{index:04d}_c01.mp4"
        write_video(root / relative, frames, 25, lossless=True)
        listed.append(relative)
    (splits / "testlist01.txt").write_text("\n".join(listed) + "\n")
    return root, splits


@torch.no_grad()
def fused_only_accuracy(data: Path, splits: Path, severity: int, radius: int) -> tuple[dict[str, float], float]:
    """Top-1 (%) per corruption of the embedded action model on the clips fused with their neighbours
    and not edited, as the evaluation samples them (16 frames), and the fusion's seconds per clip."""
    model, accuracy, seconds, clips = load_action_model(), {}, 0.0, 0
    for corruption in UCF101C_CORRUPTIONS:
        dataset = UCF101C(data, splits, corruption, severity, sampler=lambda n: uniform_indices(n, 16), output="uint8")
        correct = 0
        for index in range(len(dataset)):
            clip, label, _ = dataset[index]
            started = time.perf_counter()
            fused = fuse_frames(np.ascontiguousarray(clip.permute(1, 2, 3, 0).numpy()), radius)
            seconds, clips = seconds + time.perf_counter() - started, clips + 1
            logits = model(torch.from_numpy(fused).permute(3, 0, 1, 2)[None].float().div_(255))
            correct += int(logits.argmax(1).item() == label)
        accuracy[corruption] = 100 * correct / len(dataset)
    return accuracy, seconds / clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100, help="held-out clips per corruption (default 100)")
    parser.add_argument("--severity", default="5,3", help="severities, e.g. 5 or 5,3 (default 5,3)")
    add_editor_options(parser, "editor-")
    parser.add_argument("--seed", type=int, default=3, help="seed of the held-out clips (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="processes building the mini UCF-101C (default 2)")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/tta_accuracy.json)")
    parser.add_argument(
        "--storage",
        choices=STORAGES,
        default="published",
        help="how the mini UCF-101C stores its clips: published (laid out and compressed as the published "
        "UCF-101C is: MPEG-4 Part 2 as OpenCV's mp4v writes it) or lossless (default published)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the mini UCF-101 / UCF-101C in this folder and keep it (default: a temporary one)",
    )
    args = parser.parse_args()

    severities = parse_severities(args.severity)
    work = args.keep or Path(tempfile.mkdtemp(prefix="tta-accuracy-"))
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep} exists; name a new folder")
    try:
        root, splits = write_mini_ucf101(work, args.clips, args.seed)
        layout = "published" if args.storage == "published" else "project"
        build_ucf101c(
            root,
            splits,
            work / "ucf101c",
            UCF101C_CORRUPTIONS,
            severities,
            workers=args.workers,
            layout=layout,
            storage=args.storage,
        )
        print(f"mini UCF-101C: {args.clips} clips per corruption, {layout} layout, {args.storage} storage")
        report: dict[str, dict] = {}
        for severity in severities:
            config = EvaluationConfig(
                data=work / "ucf101c",
                splits_dir=splits,
                corruptions=UCF101C_CORRUPTIONS,
                severities=[severity],
                editor=restorer_config(args),
                output_dir=RESULTS_DIR / "tta_accuracy" / f"severity{severity}",
                cache_dir=work / "cache",
            )
            result = evaluate(config)
            print(f"\nTinyActionNet top-1 (%) on {args.clips} held-out clips per corruption, severity {severity}\n")
            print(accuracy_table(result))
            print("\nseconds per clip (measured in this run):\n")
            source_cost = result.mode_seconds_per_clip["source"]
            print(
                markdown_table(
                    ["mode", "s/clip", "x source"],
                    [
                        [
                            m,
                            f"{result.mode_seconds_per_clip[m]:.4f}",
                            f"{result.mode_seconds_per_clip[m] / source_cost:.1f}",
                        ]
                        for m in MODES
                    ],
                )
            )
            gain = result.mean["ensemble"] - result.mean["source"]
            noise = {
                c: result.accuracy["restored"][f"{c}-{severity}"] - result.accuracy["source"][f"{c}-{severity}"]
                for c in NOISE
            }
            print(
                f"\nensemble mean - source mean: {gain:+.1f} points (target >= +5): {'PASS' if gain >= 5 else 'FAIL'}"
            )
            print(
                "restored - source on the noise corruptions: "
                + ", ".join(f"{c} {d:+.1f}" for c, d in noise.items())
                + f" (target >= 0 each): {'PASS' if min(noise.values()) >= 0 else 'FAIL'}"
            )
            report[str(severity)] = {
                "accuracy": result.accuracy,
                "mean": result.mean,
                "seconds_per_clip": result.mode_seconds_per_clip,
                "stage_seconds_per_clip": result.seconds_per_clip,
                "ensemble_gain": gain,
                "noise_restored_gain": noise,
            }
            fusion_radius = (
                PRESETS[args.preset].fusion_radius if args.editor_fusion_radius is None else args.editor_fusion_radius
            )
            if fusion_radius > 0:
                fused, fusion_cost = fused_only_accuracy(work / "ucf101c", splits, severity, fusion_radius)
                restored = {c: result.accuracy["restored"][f"{c}-{severity}"] for c in UCF101C_CORRUPTIONS}
                rows = [
                    [
                        f"{c}-{severity}",
                        f"{result.accuracy['source'][f'{c}-{severity}']:.1f}",
                        f"{fused[c]:.1f}",
                        f"{restored[c]:.1f}",
                        f"{restored[c] - fused[c]:+.1f}",
                    ]
                    for c in UCF101C_CORRUPTIONS
                ]
                rows.append(
                    [
                        "**mean**",
                        f"**{result.mean['source']:.1f}**",
                        f"**{np.mean(list(fused.values())):.1f}**",
                        f"**{result.mean['restored']:.1f}**",
                        f"**{result.mean['restored'] - np.mean(list(fused.values())):+.1f}**",
                    ]
                )
                print(
                    f"\nthe fusion alone (radius {fusion_radius}, no editor; {fusion_cost:.4f} s/clip) "
                    "and with the editor after it:\n"
                )
                print(
                    markdown_table(
                        ["corruption", "source", "fused only", "restored (fused + edited)", "editor's share"], rows
                    )
                )
                report[str(severity)]["fused_only"] = {"accuracy": fused, "seconds_per_clip": fusion_cost}
        editor = restorer_config(args)
        save_json(
            "tta_accuracy",
            {
                "clips": args.clips,
                "storage": args.storage,
                "editor": editor.checkpoint or "embedded",
                "editor_preset": editor.preset,
                "editor_options": dict(editor.options),
                "severities": report,
            },
            args.output,
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
