"""Learning curves of training runs: the loss each stage logged (``log.csv``), as a plot and a table.

A benchmark that misses a target says what the model does; the curves say whether more steps would
help (still falling) or not (flat), which is the first question before another training run.

    python -m image_core.training.curves runs/tiny-cpu/editor runs/tiny-cpu/distill -o curves.png
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from image_core.io import atomic_path
from image_core.training.common import LogRow, read_log

__all__ = ["curve_table", "plot_curves", "smoothed", "main"]

MILESTONES = (0.1, 0.25, 0.5, 0.75, 1.0)  # shares of a run's steps the table reports


def smoothed(losses: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` logged values: (N,) -> (N,); the first values average
    what there is, so the curve starts where the run started."""
    values = np.asarray(losses, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def curve_table(runs: dict[str, list[LogRow]], window: int) -> str:
    """A markdown table: per run its steps, minutes and smoothed loss at 10 / 25 / 50 / 75 / 100% of its steps."""
    header = ["run", "steps", "minutes", *(f"loss at {share:.0%}" for share in MILESTONES)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, rows in runs.items():
        losses = smoothed([row.loss for row in rows], window)
        at = [losses[max(0, int(np.ceil(share * len(rows))) - 1)] for share in MILESTONES]
        lines.append(
            f"| {name} | {rows[-1].step} | {rows[-1].minutes:.1f} | " + " | ".join(f"{v:.4f}" for v in at) + " |"
        )
    return "\n".join(lines)


def plot_curves(path: str | Path, runs: dict[str, list[LogRow]], window: int) -> None:
    """Loss (log scale, smoothed; the raw log faint behind it) and learning rate against step, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axes, lr_axes) = plt.subplots(2, 1, figsize=(8.0, 6.0), sharex=True, height_ratios=(3, 1))
    for name, rows in runs.items():
        steps = [row.step for row in rows]
        raw = [row.loss for row in rows]
        (line,) = loss_axes.plot(steps, smoothed(raw, window), label=f"{name} ({rows[-1].minutes:.0f} min)")
        loss_axes.plot(steps, raw, color=line.get_color(), alpha=0.2, linewidth=0.8)
        lr_axes.plot(steps, [row.learning_rate for row in rows], color=line.get_color())
    loss_axes.set_yscale("log")
    loss_axes.set_ylabel(f"loss (mean of {window} log rows)")
    loss_axes.grid(alpha=0.3, which="both")
    loss_axes.legend(fontsize="small")
    lr_axes.set_ylabel("learning rate")
    lr_axes.set_xlabel("step")
    lr_axes.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m image_core.training.curves",
        description="Plot and tabulate the learning curves of training runs (each folder's log.csv).",
        epilog="example: python -m image_core.training.curves runs/tiny-cpu/editor runs/tiny-cpu/distill -o curves.png",
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="a stage's output folder (holding log.csv)")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="OUT.png", help="write the plot here (default: table only)"
    )
    parser.add_argument("--window", type=int, default=20, help="log rows averaged per point (default 20)")
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error(f"--window must be >= 1, got {args.window}")
    runs = {}
    for folder in args.runs:
        rows = read_log(folder)
        if not rows:
            parser.error(f"{folder} has no log.csv with rows (expected a training stage's output folder)")
        runs[str(folder)] = rows
    print(curve_table(runs, args.window))
    if args.output:
        plot_curves(args.output, runs, args.window)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
