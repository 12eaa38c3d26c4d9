"""Benchmark `triage simulate`: 100k returns without photos, and the extra cost of 2,000 photos.

Runs the real command in a fresh process each time (imports, simulation, Parquet, JPEG files)
and prints medians; the machine is shared and noisy, so look at medians, not single runs.

    python benchmarks/bench_simulate.py [--returns 100000] [--photos 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIAGE = [sys.executable, "-m", "training.cli"]


def _time_simulate(returns: int, photos: int, seed: int, out: Path) -> float:
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    subprocess.run(
        [
            *TRIAGE,
            "simulate",
            "--returns",
            str(returns),
            "--photos",
            str(photos),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    without: list[float] = []
    with_photos: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "world"
        for repeat in range(args.repeats):
            # interleave the two variants so drift on a shared machine hits both alike
            without.append(_time_simulate(args.returns, 0, repeat, out))
            with_photos.append(_time_simulate(args.returns, args.photos, repeat, out))
    base = statistics.median(without)
    full = statistics.median(with_photos)
    print(f"triage simulate --returns {args.returns:,} (median of {args.repeats})")
    print(f"  --photos 0          {base:6.1f} s   runs: {', '.join(f'{t:.1f}' for t in without)}")
    runs = ", ".join(f"{t:.1f}" for t in with_photos)
    print(f"  --photos {args.photos:<10,} {full:6.1f} s   runs: {runs}")
    per_photo = (full - base) / max(args.photos, 1) * 1000
    print(f"  photos add          {full - base:6.1f} s   ({per_photo:.1f} ms/photo)")
    print(f"  ratio with/without  {full / base:6.2f}x")


if __name__ == "__main__":
    main()
