"""Training pairs per second from the corruption-modeling sampler, through a torch DataLoader.

Target: >= 100 pairs/s at 128x128 with 2 DataLoader workers, so the sampler keeps up with training
on this 2-core machine. Also prints the in-process (0 workers) rate and the per-case cost.

    python benchmarks/pair_sampler.py [--size 128] [--pairs 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.corruption_modeling import CorruptionPairDataset, MixingBank, PairSampler  # noqa: E402
from image_core.sources import CleanImageDataset  # noqa: E402

TARGET_PAIRS_PER_S = 100.0


def loader_rate(dataset: CorruptionPairDataset, workers: int, batch_size: int = 32) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0)
    iterator = iter(loader)
    next(iterator)  # start-up (worker spawn, bank memory map) is not part of the steady rate
    start, count = time.perf_counter(), 0
    for clean, _ in iterator:
        count += clean.shape[0]
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/pair_sampler.json)")
    args = parser.parse_args()

    bank = MixingBank()
    start = time.perf_counter()
    _ = bank.pictures  # generated on first use, then cached
    print(
        f"mixing bank: {len(bank)} pictures at {bank.size} px, "
        f"ready in {time.perf_counter() - start:.1f} s ({bank.path})"
    )
    dataset = CorruptionPairDataset(CleanImageDataset(size=args.size, length=args.pairs), PairSampler(bank))

    seconds_by_case: dict[str, list[float]] = defaultdict(list)
    for index in range(min(400, args.pairs)):
        start = time.perf_counter()
        pair = dataset.pair(index)
        seconds_by_case[pair.case].append(time.perf_counter() - start)
    case_rows = [[case, len(s), 1000 * float(np.mean(s))] for case, s in sorted(seconds_by_case.items())]
    print(
        f"\nper-pair cost by case at {args.size}x{args.size} "
        f"(in process, {sum(len(s) for s in seconds_by_case.values())} pairs)\n"
    )
    print(markdown_table(["case", "count", "ms/pair"], case_rows))

    serial = loader_rate(dataset, 0)
    parallel = loader_rate(dataset, args.workers)
    print(f"\n{'workers':>8} | pairs/s\n{0:>8} | {serial:.0f}\n{args.workers:>8} | {parallel:.0f}")
    passed = parallel >= TARGET_PAIRS_PER_S
    print(
        f"\n{args.workers} workers: {parallel:.0f} pairs/s "
        f"(target >= {TARGET_PAIRS_PER_S:.0f}) {'PASS' if passed else 'FAIL'}"
    )
    save_json(
        "pair_sampler",
        {
            "size": args.size,
            "pairs": args.pairs,
            "pairs_per_s": {"0": serial, str(args.workers): parallel},
            "ms_per_case": {row[0]: row[2] for row in case_rows},
            "pass": passed,
        },
        args.output,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
