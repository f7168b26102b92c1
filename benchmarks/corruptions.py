"""Milliseconds per 224x224 image for every ImageNet-C corruption and severity.

Target (this project's 2-core CPU): median over the 19 corruptions <= 20 ms, none above 150 ms.
Each cell is the median of ``--repeats`` timed calls after one warm-up call.

    python benchmarks/corruptions.py [--repeats 5] [--size 224] [--output results.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import markdown_table, save_json  # noqa: E402

from image_core.corruptions import SEVERITIES, corrupt, corruption_names  # noqa: E402
from image_core.sources import sample_photo  # noqa: E402

MEDIAN_TARGET_MS, MAX_TARGET_MS = 20.0, 150.0


def time_ms(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/corruptions.json)")
    args = parser.parse_args()

    image = sample_photo(args.size)
    table = {}
    for name in corruption_names():
        table[name] = [time_ms(lambda name=name, s=s: corrupt(image, name, s, rng=0), args.repeats) for s in SEVERITIES]
    per_corruption = {name: statistics.mean(ms) for name, ms in table.items()}
    median = statistics.median(per_corruption.values())
    slowest_name, slowest = max(((n, max(ms)) for n, ms in table.items()), key=lambda item: item[1])

    rows = [[name, *ms, per_corruption[name]] for name, ms in table.items()]
    print(f"ms per {args.size}x{args.size} image (median of {args.repeats}), OpenCV threads {cv2.getNumThreads()}\n")
    print(markdown_table(["corruption", *[f"s{s}" for s in SEVERITIES], "mean"], rows))
    passed = median <= MEDIAN_TARGET_MS and slowest <= MAX_TARGET_MS
    print(
        f"\nmedian over corruptions (of each one's mean over severities): {median:.1f} ms "
        f"(target <= {MEDIAN_TARGET_MS:.0f})\nslowest cell: {slowest_name} {slowest:.1f} ms "
        f"(target <= {MAX_TARGET_MS:.0f})\n{'PASS' if passed else 'FAIL'}"
    )
    save_json(
        "corruptions",
        {
            "size": args.size,
            "repeats": args.repeats,
            "ms": table,
            "median_ms": median,
            "slowest": {"name": slowest_name, "ms": slowest},
            "pass": passed,
        },
        args.output,
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
