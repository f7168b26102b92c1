"""The evaluation's outputs: a Markdown table, a CSV file and a bar chart of accuracy per stream and mode."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from image_core.io import atomic_path

if TYPE_CHECKING:
    from video_decorruptor.benchmark.evaluate import EvaluationResult

__all__ = ["markdown_table", "plot_accuracy", "write_csv"]


def markdown_table(result: EvaluationResult) -> str:
    """Per-stream accuracy (%) with a mean row: one column per mode."""
    modes = list(result.accuracy)
    streams = list(next(iter(result.accuracy.values())))
    lines = ["| corruption | " + " | ".join(modes) + " |", "|---|" + "---:|" * len(modes)]
    for stream in streams:
        lines.append(f"| {stream} | " + " | ".join(f"{result.accuracy[m][stream]:.1f}" for m in modes) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{result.mean[m]:.1f}**" for m in modes) + " |")
    return "\n".join(lines)


def write_csv(path: Path, result: EvaluationResult) -> None:
    modes = list(result.accuracy)
    with atomic_path(path, clear_stale=True) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["corruption", "severity", *modes])
        for stream in next(iter(result.accuracy.values())):
            corruption, severity = stream.rsplit("-", 1)
            writer.writerow([corruption, severity, *(f"{result.accuracy[m][stream]:.2f}" for m in modes)])
        writer.writerow(["mean", "", *(f"{result.mean[m]:.2f}" for m in modes)])


def plot_accuracy(path: Path, result: EvaluationResult, title: str) -> None:
    """Grouped bars: one group per stream plus the mean, one bar per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(result.accuracy)
    groups = list(next(iter(result.accuracy.values()))) + ["mean"]
    rows = {m: {**result.accuracy[m], "mean": result.mean[m]} for m in modes}
    values = np.array([[rows[m][g] for g in groups] for m in modes])
    width = 0.8 / len(modes)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(modes) / 3)), 4.0))
    for k, mode in enumerate(modes):
        axes.bar(np.arange(len(groups)) + (k - (len(modes) - 1) / 2) * width, values[k], width, label=mode)
    axes.set_xticks(np.arange(len(groups)), groups, rotation=45, ha="right")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 100)
    axes.set_title(title)
    axes.legend(ncols=min(len(modes), 5), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.35))
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path, clear_stale=True) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
