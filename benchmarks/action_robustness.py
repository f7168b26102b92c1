"""How much the video corruptions hurt the embedded action model (no adaptation).

Held-out synthetic action clips, clean and under each UCF-101C corruption at one severity:
top-1 accuracy of TinyActionNet. This is the "source" column that test-time adaptation has to
improve on.

    python benchmarks/action_robustness.py [--clips 200] [--severity 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from video_decorruptor.benchmark.corruptions import UCF101C_CORRUPTIONS, corrupt_frames  # noqa: E402
from video_decorruptor.recognition.action_net import load_action_model  # noqa: E402
from video_decorruptor.recognition.synthetic_actions import SyntheticActions  # noqa: E402


@torch.no_grad()
def accuracy(model, clips, labels: torch.Tensor) -> float:
    batch = torch.stack([torch.from_numpy(c).permute(3, 0, 1, 2).float() / 255 for c in clips])
    predictions = torch.cat([model(batch[i : i + 50]).argmax(dim=1) for i in range(0, len(batch), 50)])
    return float((predictions == labels).float().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--severity", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/action_robustness.json)")
    args = parser.parse_args()

    model = load_action_model()
    dataset = SyntheticActions("test", args.clips, seed=args.seed)
    items = [dataset.clip(i) for i in range(args.clips)]
    clean = [frames for frames, _ in items]
    labels = torch.tensor([label for _, label in items])
    results = {"clean": accuracy(model, clean, labels)}
    for name in UCF101C_CORRUPTIONS:
        results[name] = accuracy(
            model, [corrupt_frames(f, name, args.severity, rng=i) for i, f in enumerate(clean)], labels
        )
    corrupted = [v for k, v in results.items() if k != "clean"]
    print(f"TinyActionNet top-1 on {args.clips} held-out clips, severity {args.severity}\n")
    print(markdown_table(["input", "accuracy %"], [[k, 100 * v] for k, v in results.items()]))
    print(f"\nmean over the 12 UCF-101C corruptions: {100 * sum(corrupted) / len(corrupted):.1f}%")
    save_json("action_robustness", {"clips": args.clips, "severity": args.severity, "accuracy": results}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
