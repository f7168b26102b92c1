"""Shared output for the benchmark scripts: a Markdown table on stdout and a JSON file."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header]] + [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def save_json(name: str, payload: dict[str, Any], output: Path | None = None) -> Path:
    """Write ``payload`` plus a description of the machine to ``output`` (default results/NAME.json), and say where."""
    path = output or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}
    path.write_text(json.dumps({"benchmark": name, "machine": machine, **payload}, indent=2) + "\n")
    print(f"saved {path}")
    return path
