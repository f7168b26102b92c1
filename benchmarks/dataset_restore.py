"""`restore-dataset` at scale: throughput against one long clip, images against a per-image loop,
two torchrun processes against one, and a kill at about half followed by a rerun.

Throughput: ``--clips`` clips of ``--frames`` frames at 160x120 (a noisy camera pan, gauss severity
3) restored with the defaults through ``restore-dataset``, against one clip of all the same frames
through ``restore``: dataset frames/s over single-clip frames/s (target >= 90%).
Images: ``--images`` 224x224 noisy photos in an ImageNet-C-style tree
(``<corruption>/<severity>/<wnid>/<name>.JPEG``) through ``restore-dataset``, against a loop that
calls the editor pipeline once per image: images/s ratio (target >= 2x).
Sharding: the clip set through ``torchrun --nproc_per_node 2`` (gloo, one thread each) against one
process with one thread (the same arithmetic: identical files expected) and one with two threads
(decoded frames within 1 grey level asked; the editor's frames before encoding and H.264's own
error on them printed beside it).
Resume: the clip set again, SIGKILLed when about half of its items are in the manifest, then the
same command: the same outputs as the uninterrupted run, and no temporary file left.
Editor alone, per model of ``--models`` (``embedded``, and ``sd15``: a random replica of SD 1.5's
size, for a GPU): dataset frames/s over the editor pipeline's own frames/s on the same frames at
the working size, in the same batches (target on a GPU >= 90%; on a CPU the flow fusion, which a GPU
run overlaps with the editor, costs its share).

    python benchmarks/dataset_restore.py [--clips 48] [--frames 20] [--images 64] [--device cpu|cuda]
    python benchmarks/dataset_restore.py --device cuda --dtype float16 --models embedded,sd15
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402
from video_speed import editor_only_speed  # noqa: E402

from image_core.editor.architectures import create_editor  # noqa: E402
from image_core.io import checksum, read_image, write_image  # noqa: E402
from image_core.sources import sample_photo  # noqa: E402
from video_decorruptor.benchmark.corruptions import corrupt_frames  # noqa: E402
from video_decorruptor.io import read_video, write_video  # noqa: E402
from video_decorruptor.restore.dataset import image_generator  # noqa: E402
from video_decorruptor.restore.restorer import VideoDecorruptor  # noqa: E402

HEIGHT, WIDTH = 120, 160
CLI = [sys.executable, "-m", "video_decorruptor"]


def write_clips(folder: Path, clips: int, frames: int) -> np.ndarray:
    """``clips`` noisy pans of ``frames`` frames as ``folder/gauss/3/Class/v_XX.mp4`` (lossless);
    returns all their frames in order, for the single long clip."""
    photo = sample_photo(WIDTH + clips * frames)
    noisy = corrupt_frames(np.stack([photo[:HEIGHT, t : t + WIDTH] for t in range(clips * frames)]), "gauss", 3, rng=0)
    for index in range(clips):
        part = noisy[index * frames : (index + 1) * frames]
        write_video(folder / "gauss" / "3" / f"Class{index % 4}" / f"v_{index:03d}.mp4", part, 25, lossless=True)
    return noisy


def write_images(folder: Path, count: int) -> list[Path]:
    photo = sample_photo(224 + count)
    paths = []
    for index in range(count):
        image = corrupt_frames(photo[None, :224, index : index + 224], "gauss", 3, rng=index)[0]
        path = folder / "gaussian_noise" / "3" / f"n{index % 8:08d}" / f"ILSVRC2012_val_{index:08d}.png"
        write_image(path, image)
        paths.append(path)
    return paths


def run(*args: str, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([*args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started, result


def decoded(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): read_video(p)[0] for p in sorted(folder.rglob("*.mp4"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--models", default="embedded", help="editor-alone rows: embedded, sd15 (comma-separated)")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/dataset_restore.json)")
    args = parser.parse_args()
    device = ["--device", args.device]
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        frames = write_clips(work / "clips", args.clips, args.frames)
        write_video(work / "long.mp4", frames, 25, lossless=True)

        # 1. throughput: the clip set against one long clip (the model's load timed out of both)
        dtype = getattr(torch, args.dtype)
        restorer = VideoDecorruptor.from_pretrained(device=args.device, dtype=dtype, progress=False)
        restorer.restore_frames(frames[:8])  # warm-up
        long_clip = restorer.restore_video(work / "long.mp4", work / "long-restored.mp4")["frames_per_second"]
        from video_decorruptor.restore.dataset import restore_dataset

        started = time.perf_counter()
        summary = restore_dataset(restorer, work / "clips", work / "one", progress=False)
        dataset = summary.frames / (time.perf_counter() - started)
        report["throughput"] = {"dataset": dataset, "single_clip": long_clip, "ratio": dataset / long_clip}

        # 2. images: restore-dataset's batches against one pipeline call per image
        paths = write_images(work / "images", args.images)
        started = time.perf_counter()
        restore_dataset(restorer, work / "images", work / "images-restored", progress=False)
        batched = len(paths) / (time.perf_counter() - started)
        started = time.perf_counter()
        for path in paths:
            relative = path.relative_to(work / "images").as_posix()
            restorer.pipe(
                image=read_image(path)[None],
                settings=restorer.editor_settings,
                generator=[image_generator(restorer.seed, relative)],
            )
        looped = len(paths) / (time.perf_counter() - started)
        report["images"] = {"batched": batched, "per_image": looped, "ratio": batched / looped}

        # 3. sharding: torchrun with two one-thread processes against one process with one thread (the
        # same arithmetic: the same files expected) and with two threads (the comparison)
        common = ["restore-dataset", str(work / "clips"), *device]
        one_seconds, one = run(*CLI, *common, "-o", str(work / "shard-one"), env={"OMP_NUM_THREADS": "2"})
        _, single = run(*CLI, *common, "-o", str(work / "shard-one-thread"), env={"OMP_NUM_THREADS": "1"})
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541"]
        two_seconds, two = run(
            *launcher,
            "-m",
            "video_decorruptor.cli",
            *common,
            "-o",
            str(work / "shard-two"),
            env={"OMP_NUM_THREADS": "1"},
        )
        if one.returncode or single.returncode or two.returncode:
            print(one.stderr[-2000:], single.stderr[-2000:], two.stderr[-2000:], file=sys.stderr)
            return 1
        a, b = decoded(work / "shard-one"), decoded(work / "shard-two")
        same = a.keys() == b.keys() == decoded(work / "shard-one-thread").keys()
        gaps = np.concatenate([np.abs(a[k].astype(int) - b[k]).ravel() for k in a]) if same else np.array([255])
        # the editor's own frames before encoding, with one thread and with two (what the shards differ in),
        # and H.264's own error on them (what a decoded comparison also holds)
        clip = frames[: args.frames]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        alone = restorer.restore_frames(clip)
        torch.set_num_threads(2)
        editor_gap = int(np.abs(alone.astype(int) - restorer.restore_frames(clip)).max())
        torch.set_num_threads(threads)
        write_video(work / "codec.mp4", alone, 25)
        codec_error = np.abs(read_video(work / "codec.mp4")[0].astype(int) - alone)
        videos = sorted(p.relative_to(work / "shard-two") for p in (work / "shard-two").rglob("*.mp4"))
        report["sharding"] = {
            "same_outputs": same,
            "identical_files_one_thread": sum(
                checksum(work / "shard-two" / name) == checksum(work / "shard-one-thread" / name) for name in videos
            ),
            "max_grey_level_difference": int(gaps.max()),
            "share_more_than_1_apart": float((gaps > 1).mean()),
            "editor_frames_max_difference": editor_gap,
            "codec_error_mean": float(codec_error.mean()),
            "codec_error_max": int(codec_error.max()),
            "seconds_one_process": one_seconds,
            "seconds_two_processes": two_seconds,
        }

        # 4. the editor alone, per model: the share of its rate that the dataset path keeps
        report["editor_alone"] = {}
        for model in [name.strip() for name in args.models.split(",") if name.strip()]:
            if model == "embedded":
                tested, rate = restorer, dataset
            else:
                pipe = create_editor(model, cm=True, dtype=dtype).to(args.device)
                tested = VideoDecorruptor(pipe, progress=False)
                tested.restore_frames(frames[:8])  # warm-up
                started = time.perf_counter()
                done = restore_dataset(tested, work / "clips", work / f"editor-{model}", progress=False)
                rate = done.frames / (time.perf_counter() - started)
            alone = editor_only_speed(tested, frames[: 8 * tested.video.batch_size], repeats=1)
            report["editor_alone"][model] = {"dataset": rate, "editor_alone": alone, "ratio": rate / alone}

        # 5. resume: SIGKILL at about half, then the same command
        killed = work / "killed"
        process = subprocess.Popen(
            [*CLI, *common, "-o", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        manifest = killed / "restore-dataset.manifest.jsonl"
        while not (manifest.exists() and manifest.read_text().count("\n") >= args.clips // 2):
            if process.poll() is not None:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        finished_before = manifest.read_text().count("\n") if manifest.exists() else 0
        _, rerun = run(*CLI, *common, "-o", str(killed))

        def outputs(folder: Path) -> dict[str, str]:
            return {str(p.relative_to(folder)): checksum(p) for p in sorted(folder.rglob("*.mp4"))}

        report["resume"] = {
            "killed_after_items": finished_before,
            "rerun_exit": rerun.returncode,
            "same_outputs": outputs(killed) == outputs(work / "shard-one"),
            "temporary_files_left": len([p for p in killed.rglob("*") if "partial" in p.name]),
        }

    throughput, images, sharding, resume = (report[k] for k in ("throughput", "images", "sharding", "resume"))
    print(f"restore-dataset on {args.device} ({os.environ.get('OMP_NUM_THREADS', 'all')} threads)\n")
    print(
        markdown_table(
            ["measure", "value", "target", "result"],
            [
                [
                    f"{args.clips} clips x {args.frames} frames at {WIDTH}x{HEIGHT}: dataset frames/s vs one "
                    f"{args.clips * args.frames}-frame clip",
                    f"{throughput['dataset']:.2f} vs {throughput['single_clip']:.2f} ({throughput['ratio']:.0%})",
                    ">= 90%",
                    "PASS" if throughput["ratio"] >= 0.9 else "FAIL",
                ],
                [
                    f"{args.images} images at 224x224: batched images/s vs one pipeline call per image",
                    f"{images['batched']:.2f} vs {images['per_image']:.2f} ({images['ratio']:.2f}x)",
                    ">= 2x",
                    "PASS" if images["ratio"] >= 2 else "FAIL",
                ],
                [
                    "torchrun, 2 processes x 1 thread vs 1 process x 1 thread: outputs, identical files",
                    f"same set: {sharding['same_outputs']}, identical {sharding['identical_files_one_thread']} of "
                    f"{args.clips} ({sharding['seconds_two_processes']:.0f} s vs "
                    f"{sharding['seconds_one_process']:.0f} s with 2 threads)",
                    "same, all",
                    "PASS"
                    if sharding["same_outputs"] and sharding["identical_files_one_thread"] == args.clips
                    else "FAIL",
                ],
                [
                    "torchrun, 2 processes x 1 thread vs 1 process x 2 threads: decoded frames, worst grey-level "
                    "difference",
                    f"{sharding['max_grey_level_difference']} ({100 * sharding['share_more_than_1_apart']:.1f} % of "
                    f"values > 1 apart); before encoding: {sharding['editor_frames_max_difference']}; H.264's own "
                    f"error: mean {sharding['codec_error_mean']:.1f}, worst {sharding['codec_error_max']}",
                    "<= 1",
                    "PASS" if sharding["same_outputs"] and sharding["max_grey_level_difference"] <= 1 else "FAIL",
                ],
                *[
                    [
                        f"{model}: dataset frames/s vs the editor alone (same frames, working size, batches)",
                        f"{row['dataset']:.2f} vs {row['editor_alone']:.2f} ({row['ratio']:.0%})",
                        ">= 90% (GPU)",
                        ("PASS" if row["ratio"] >= 0.9 else "FAIL")
                        if args.device != "cpu"
                        else "(CPU: not the target)",
                    ]
                    for model, row in report["editor_alone"].items()
                ],
                [
                    "SIGKILL at about half, then the same command: outputs, temporary files left",
                    f"killed after {resume['killed_after_items']} items; same: {resume['same_outputs']}, "
                    f"left: {resume['temporary_files_left']}",
                    "same, 0",
                    "PASS" if resume["same_outputs"] and not resume["temporary_files_left"] else "FAIL",
                ],
            ],
        )
    )
    save_json("dataset_restore", {"device": args.device, **vars(args), "output": None, **report}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
