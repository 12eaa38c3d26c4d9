"""Benchmark the disposition model's serving path on CPU, beside raw LightGBM in the same run.

Prints, for a model fitted on a simulated world (time-ordered, as in the pipeline):
- single-case latency, median over cases: features (`disposition_features` from a validated
  `ReturnCase` with side inputs) + model (`predict_cases`: both heads, cost model, explanations);
  also without explanations, and for a SKU never returned before (averaged over its category);
- batch throughput (rows/s) of `predict_cases` over the held-out rows, with and without
  explanations, and of the features alone;
- the raw LightGBM figure from the same run: `Booster.predict` of the disposition head on the
  prepared matrix, one row per call (median) and the whole batch (rows/s).
Medians over repeats, because the machine is shared and noisy.

    python benchmarks/bench_disposition.py [--returns 5000] [--single 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _median_ms(call: Callable[[int], object], n: int) -> float:
    timings = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _rate(call: Callable[[], object], rows: int, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return rows / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--returns", type=int, default=5_000, help="returns in the world")
    parser.add_argument("--single", type=int, default=200, help="cases timed one at a time")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from features.disposition import disposition_features
    from models.disposition import DispositionClassifier, feature_frame, load_cost_model
    from training.pipelines import disposition as pipeline
    from training.pipelines.runner import load_params
    from training.simulation.cases import iter_cases
    from training.simulation.config import load_world_config
    from training.simulation.world import build_world

    conf = Path(pipeline.__file__).parents[1] / "conf" / "disposition.yml"
    params = load_params("disposition", "fast", conf)
    params["data"]["returns"] = args.returns
    frame = pipeline.world_cases(params)
    train, holdout = pipeline.split_by_time(frame, 0.2)
    model = DispositionClassifier(**params["model"]).fit(
        train, train["disposition"], train["true_condition"]
    )
    cost = load_cost_model()
    cases = [case for case, _ in iter_cases(build_world(600, 0, 99, load_world_config()))]
    cases = cases[: args.single]
    side: dict[str, Any] = {
        "reason_probabilities": {"DAMAGED_IN_TRANSIT": 0.8, "DEFECTIVE": 0.15, "OTHER": 0.05},
        "damage": {"damage_type": "DENT_DEFORMATION", "damage_probability": 0.9, "severity": 0.5},
        "inspection_condition": None,
        "customer_history": {"returns_count": 2, "orders_count": 11, "return_value": 240.0},
    }
    rows = holdout.drop(columns=["return_id", "requested_at", "disposition", "true_condition"])
    matrix = model._matrix(feature_frame(rows))
    booster = model.disposition_booster_

    with threadpool_limits(1):
        single = _median_ms(
            lambda i: model.predict_cases(
                [disposition_features(cases[i], **side)], cost_model=cost
            ),
            len(cases),
        )
        single_plain = _median_ms(
            lambda i: model.predict_cases(
                [disposition_features(cases[i], **side)], cost_model=cost, explain=False
            ),
            len(cases),
        )
        unseen_sku = _median_ms(
            lambda i: model.predict_cases(
                [{**disposition_features(cases[i], **side), "sku": "NEVER-RETURNED"}],
                cost_model=cost,
                explain=False,
            ),
            len(cases),
        )
        features_only = _median_ms(lambda i: disposition_features(cases[i], **side), len(cases))
        raw_single = _median_ms(
            lambda i: booster.predict(matrix[[i % len(matrix)]], num_threads=1), 200
        )
        batch = _rate(lambda: model.predict_cases(rows, cost_model=cost), len(rows), args.repeats)
        batch_plain = _rate(
            lambda: model.predict_cases(rows, cost_model=cost, explain=False),
            len(rows),
            args.repeats,
        )
        raw_batch = _rate(lambda: booster.predict(matrix, num_threads=1), len(matrix), args.repeats)

    print(f"model fitted on {len(train):,} returns; batch = {len(rows):,} held-out rows; 1 thread")
    print(f"single case, features + model + explanations   median {single:8.2f} ms")
    print(f"single case, features + model (no explanation) median {single_plain:8.2f} ms")
    print(f"single case, unseen SKU (no explanation)       median {unseen_sku:8.2f} ms")
    print(f"single case, features only                     median {features_only:8.2f} ms")
    print(f"raw LightGBM Booster.predict, one row          median {raw_single:8.2f} ms")
    print(f"batch predict_cases with explanations          {batch:10.0f} rows/s")
    print(f"batch predict_cases without explanations       {batch_plain:10.0f} rows/s")
    print(f"raw LightGBM Booster.predict batch             {raw_batch:10.0f} rows/s")


if __name__ == "__main__":
    main()
