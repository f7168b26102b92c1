"""Editor speed: DPM-20 against CM-4, in milliseconds, UNet evaluations and FLOPs per image.

For each model (random weights of a registered architecture at its resolution) it measures, in one
run: ms per image for DPM-20 and CM-4, UNet evaluations per image, FLOPs per image (UNet and VAE
apart, counted with torch's FlopCounterMode), the DPM/CM wall-time and FLOP ratios, and the UNet's
achieved GFLOP/s at batch >= 8 against a matmul peak measured in the same run.

Targets: wall-time ratio >= 80% of the FLOP ratio; UNet throughput >= 40% of the matmul peak.

    python benchmarks/editor_speed.py                       # tiny @128 and sd15 @256, CPU fp32
    python benchmarks/editor_speed.py --models tiny         # the quick part only
    python benchmarks/editor_speed.py --device cuda --dtype float16 --batch 16 --models sd15 --compile

Both pipelines run on the fast path users get from ``load_editor`` (channels-last UNet and
autoencoder, ``--no-channels-last`` to compare; ``--compile``: the compiled UNet, with CUDA graphs on
a GPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.editor.architectures import ARCHITECTURES, create_editor  # noqa: E402
from image_core.editor.loading import speed_up  # noqa: E402

RESOLUTION = {"tiny": 128, "sd15": 256}
WALL_OF_FLOP_TARGET, PEAK_FRACTION_TARGET = 0.8, 0.4


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    a @ a
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ a
    synchronize(device)
    return repeats * 2 * n**3 / (time.perf_counter() - start) / 1e9


def pipeline_flops(pipe, images: torch.Tensor, steps: int) -> tuple[float, float]:
    """(UNet FLOPs, VAE FLOPs) of one call, counted on the eager ops (compiled kernels escape the
    counter); the text encoder is not run (stored embeddings)."""
    with torch.compiler.set_stance("force_eager"), FlopCounterMode(display=False) as counter:
        pipe(image=images, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
    counts = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    unet = counts.get("UNet2DConditionModel", 0)
    return float(unet), float(counts["Global"] - unet)


def ms_per_image(pipe, images: torch.Tensor, steps: int, repeats: int, device: torch.device) -> float:
    # warm-up: kernels, allocator; a compiled UNet compiles, then records its CUDA graph on a later call
    pipe(image=images, num_inference_steps=min(steps, 3))
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        pipe(image=images, num_inference_steps=steps, generator=torch.Generator(device).manual_seed(0))
    synchronize(device)
    return (time.perf_counter() - start) / repeats / images.shape[0] * 1000


def unet_gflops(pipe, batch: int, size: int, device: torch.device, repeats: int = 3) -> tuple[float, float]:
    """(achieved GFLOP/s, FLOPs per forward) of the UNet alone at ``batch``."""
    unet = pipe.unet
    latent = size // pipe.vae_scale_factor
    sample = torch.randn(batch, unet.config.in_channels, latent, latent, device=device, dtype=unet.dtype)
    text = pipe.instruction_embeddings()[0].expand(batch, -1, -1)
    kwargs = {"encoder_hidden_states": text}
    if unet.config.time_cond_proj_dim:
        kwargs["timestep_cond"] = torch.zeros(batch, unet.config.time_cond_proj_dim, device=device, dtype=unet.dtype)
    with torch.no_grad():
        with torch.compiler.set_stance("force_eager"), FlopCounterMode(display=False) as counter:
            unet(sample, 500, **kwargs)  # compiled kernels escape the counter: count the eager ops
        flops = counter.get_total_flops()
        for _ in range(3):  # warm-up, as in ms_per_image
            unet(sample, 500, **kwargs)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            unet(sample, 500, **kwargs)
        synchronize(device)
    return flops * repeats / (time.perf_counter() - start) / 1e9, flops


def measure(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    size = RESOLUTION[name]
    images = torch.rand(args.images, 3, size, size, device=device)
    result = {"model": name, "size": size, "images_per_call": args.images, "unet_batch": args.batch}
    pipes = {kind: create_editor(name, cm=kind == "cm", dtype=dtype).to(device) for kind in ("dpm", "cm")}
    for pipe in pipes.values():
        speed_up(pipe, channels_last=args.channels_last, compile=args.compile)
    steps = {"dpm": args.dpm_steps, "cm": args.cm_steps}
    repeats = {"dpm": args.dpm_repeats, "cm": args.cm_repeats}
    # 1. Wall time first, both pipelines built and warm, before any FLOP counting.
    for kind, pipe in pipes.items():
        pipe.set_progress_bar_config(disable=True)
        result[f"{kind}_unet_evals"] = steps[kind] * (3 if kind == "dpm" else 1)
        result[f"{kind}_ms"] = ms_per_image(pipe, images, steps[kind], repeats[kind], device)
    result["images_per_s_cm"] = 1000 / result["cm_ms"]
    result["wall_ratio"] = result["dpm_ms"] / result["cm_ms"]
    result["unet_gflops_per_s"], _ = unet_gflops(pipes["cm"], args.batch, size, device)
    # 2. FLOPs per image: the UNet's share grows linearly with the steps, the VAE's does not.
    for kind, pipe in pipes.items():
        unet_1, vae = pipeline_flops(pipe, images[:1], 1)
        unet_2, _ = pipeline_flops(pipe, images[:1], 2)
        result[f"{kind}_unet_gflop"] = (unet_2 - unet_1) * steps[kind] / 1e9
        result["vae_gflop"] = vae / 1e9
    vae = result["vae_gflop"]
    result["flop_ratio"] = (result["dpm_unet_gflop"] + vae) / (result["cm_unet_gflop"] + vae)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,sd15", help=f"comma-separated, from {', '.join(ARCHITECTURES)}")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--images", type=int, default=1, help="images per pipeline call (1 on CPU)")
    parser.add_argument("--batch", type=int, default=8, help="UNet batch for the GFLOP/s figure (>= 8)")
    parser.add_argument("--dpm-steps", type=int, default=20)
    parser.add_argument("--cm-steps", type=int, default=4)
    parser.add_argument("--dpm-repeats", type=int, default=1)
    parser.add_argument("--cm-repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNets (CUDA graphs on a GPU)")
    parser.add_argument(
        "--no-channels-last", dest="channels_last", action="store_false", help="the contiguous memory format"
    )
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/editor_speed.json)")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.set_grad_enabled(False)

    peak = matmul_peak_gflops(device, dtype)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    path = ("channels-last" if args.channels_last else "contiguous") + (", compiled" if args.compile else "")
    print(f"device: {label}, {args.dtype}, {path}; matmul peak {peak:.0f} GFLOP/s\n")
    results = [measure(name, args, device, dtype) for name in args.models.split(",")]

    rows, passed = [], True
    for r in results:
        flop_ratio = r["flop_ratio"]
        wall_ok = r["wall_ratio"] >= WALL_OF_FLOP_TARGET * flop_ratio
        peak_ok = r["unet_gflops_per_s"] >= PEAK_FRACTION_TARGET * peak
        passed &= wall_ok and peak_ok
        rows.append(
            [
                f"{r['model']} @{r['size']}",
                r["dpm_ms"],
                r["cm_ms"],
                f"{r['dpm_unet_evals']} / {r['cm_unet_evals']}",
                f"{r['dpm_unet_gflop']:.1f} + {r['vae_gflop']:.1f}",
                f"{r['cm_unet_gflop']:.1f} + {r['vae_gflop']:.1f}",
                f"{r['wall_ratio']:.2f} ({100 * r['wall_ratio'] / flop_ratio:.0f}%)",
                f"{flop_ratio:.2f}",
                f"{r['unet_gflops_per_s']:.0f} ({100 * r['unet_gflops_per_s'] / peak:.0f}%)",
                f"{r['images_per_s_cm']:.2f}",
            ]
        )
    print(
        markdown_table(
            [
                "model",
                "DPM-20 ms/img",
                "CM-4 ms/img",
                "UNet evals DPM / CM",
                "DPM GFLOP UNet + VAE",
                "CM GFLOP UNet + VAE",
                "wall ratio (of FLOP ratio)",
                "FLOP ratio",
                f"UNet GFLOP/s @batch {args.batch} (of peak)",
                "CM img/s",
            ],
            rows,
        )
    )
    print(
        f"\ntargets: wall ratio >= {WALL_OF_FLOP_TARGET:.0%} of the FLOP ratio; UNet >= {PEAK_FRACTION_TARGET:.0%} "
        f"of the matmul peak\n{'PASS' if passed else 'FAIL'}"
    )
    save_json(
        "editor_speed",
        {
            "device": label,
            "dtype": args.dtype,
            "path": path,
            "matmul_peak_gflops": peak,
            "results": results,
            "pass": passed,
        },
        args.output,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
