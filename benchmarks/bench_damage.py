"""Benchmark the damage model's serving path on CPU: one photo end to end (decode + preprocess +
model) with ONNX Runtime, beside eager PyTorch, in the same run; and batch throughput.

Photos are simulated return photos (256x256 JPEG, the renderer's output) plus, to show the
draft-mode decode, phone-sized 3000x4000 JPEGs. The model is a `DamageClassifier` with the
production parameters from `training/conf/damage.yml` (a fine-tuned branch beside the ImageNet
stages, tuned here for one epoch on a few renders: speed does not depend on the heads' quality
or on how long the branch was tuned).
Medians over repeats, because the machine is shared and noisy. The served path is timed with
the general heads (the renders' line reads the same single pass), beside the same model without
the tuned branch, and with the tiles' product-line heads (2x2 crops over 4 turned/mirrored
copies: 20 encoder passes per photo).

    python benchmarks/bench_damage.py [--photos 256] [--single 100] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _single_latency_ms(assess: Callable[[Sequence[bytes]], object], photos: list[bytes]) -> float:
    timings = []
    for photo in photos:
        started = time.perf_counter()
        assess([photo])
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _throughput(assess: Callable[[Sequence[bytes]], object], photos: list[bytes]) -> float:
    started = time.perf_counter()
    assess(photos)
    return len(photos) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=256, help="batch size for throughput")
    parser.add_argument("--single", type=int, default=100, help="photos timed one at a time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()

    import torch
    from PIL import Image

    from features.codes import DamageType
    from models.damage import DamageClassifier
    from training.pipelines.runner import load_params
    from training.simulation.photos import SHAPES, PhotoSpec, render_photo_jpeg

    torch.set_num_threads(args.threads)
    types = list(DamageType)
    rng = np.random.default_rng(5)
    specs = [
        PhotoSpec(
            SHAPES[i % len(SHAPES)],
            tuple(int(c) for c in rng.integers(30, 230, 3)),  # type: ignore[arg-type]
            types[i % len(types)],
            0.0 if types[i % len(types)] is DamageType.NONE else 0.8,
            seed=i,
        )
        for i in range(max(args.photos, args.single) + 120)
    ]
    photos = [render_photo_jpeg(s) for s in specs]
    train, batch, single = photos[:120], photos[120 : 120 + args.photos], photos[-args.single :]
    big = []
    for photo in single[:20]:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(photo)).resize((4000, 3000)).save(buffer, "JPEG", quality=90)
        big.append(buffer.getvalue())

    labels = [s.damage_type.value for s in specs[:120]]
    # the production candidate's parameters (tuned branch from the same block, same feature
    # set), its branch tuned for one epoch only
    candidate: dict[str, Any] = load_params("damage", "full")["efficientnet"]
    params = {**candidate, "image_size": args.image_size, "num_threads": args.threads}
    eager = DamageClassifier(**{**params, "finetune_epochs": 1}, backend="torch").fit(train, labels)
    plain = DamageClassifier(**{**params, "finetune_epochs": 0, "feature_set": "all"})
    plain.fit(train, labels)
    with tempfile.TemporaryDirectory() as tmp:
        served = DamageClassifier.load(eager.save(Path(tmp) / "damage"))
        # the tiles' product-line heads as the full profile fits them (2x2 crops on the
        # ImageNet features, answered over 4 turned/mirrored copies)
        served.fit_line("tiles", train, labels, crops=2, views=4, test_views=4, feature_set="all")
        paths: dict[str, Callable[[Sequence[bytes]], object]] = {
            "eager torch": eager.assess,
            "onnx runtime (served)": served.assess,
            "  without tuned branch": plain.assess,
            "  line, crops x 4 copies": lambda photos: served.assess(photos, "tiles"),
        }
        for assess in paths.values():  # warm up: sessions, first-call allocations
            assess(batch[:32])
        latency: dict[str, list[float]] = {name: [] for name in paths}
        latency_big: dict[str, list[float]] = {name: [] for name in paths}
        throughput: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.repeats):
            for name, assess in paths.items():  # interleaved: drift hits both alike
                latency[name].append(_single_latency_ms(assess, single))
                latency_big[name].append(_single_latency_ms(assess, big))
                throughput[name].append(_throughput(assess, batch))

    print(
        f"damage model serving path (decode + preprocess + model), {args.threads} threads, "
        f"input {args.image_size}px; medians of {args.repeats} repeats"
    )
    print(
        f"{'path':24s} {'1 photo 256px (ms)':>19s} {'1 photo 12MP (ms)':>18s} "
        f"{'batch photos/s':>15s}"
    )
    for name in paths:
        print(
            f"{name:24s} {statistics.median(latency[name]):19.2f} "
            f"{statistics.median(latency_big[name]):18.2f} "
            f"{statistics.median(throughput[name]):15.0f}"
        )


if __name__ == "__main__":
    main()
