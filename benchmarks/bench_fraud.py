"""Benchmark the fraud model's serving path on CPU.

Prints, for a simulated world (default 30k returns, seed 101):
- building the customer state from the world (s),
- scoring one return event with the incremental customer state: `score_case` (which looks at
  the state as if the return were added, without mutating it) followed by `update_from_case`
  (median and p95 ms per event over the last `--events` returns of the world, which are held
  out of the state first),
- the state update alone (median microseconds),
- a baseline from the same run: rebuilding the state from the history before each event, then
  scoring it (what a service without incremental aggregates would do per request),
- re-scoring every customer in batch with `score_customers` (customers/s), median of repeats.

    python benchmarks/bench_fraud.py [--returns 30000] [--events 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd


def main() -> None:
    """Run the benchmark and print the figures."""
    from features.customer_state import CustomerState
    from models.fraud import CombinedRiskModel, features_frame
    from training.simulation.cases import iter_cases
    from training.simulation.config import load_world_config
    from training.simulation.world import build_world

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=30_000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=101)
    args = parser.parse_args()

    world = build_world(args.returns, 0, args.seed, load_world_config())
    started = time.perf_counter()
    state = CustomerState.from_world(world)
    built = time.perf_counter() - started
    ids = state.customer_ids()
    frame = features_frame(state, ids)
    customers = world.customers.set_index("customer_id").reindex(ids)
    labels = pd.to_numeric(customers["analyst_label"], errors="coerce")
    model = CombinedRiskModel().fit(frame, labels, customers["segment"])

    # the last returns arrive one by one on a state that has not seen them
    cut = world.returns["requested_at"].iloc[-args.events - 1]
    serving = CustomerState.from_world(world, until=cut.to_pydatetime())
    cases = [case for case, _ in iter_cases(world)][-args.events :]
    per_event, per_update = [], []
    for case in cases:
        t0 = time.perf_counter()
        model.score_case(case, serving)
        t1 = time.perf_counter()
        serving.update_from_case(case)
        t2 = time.perf_counter()
        per_event.append((t2 - t0) * 1000)
        per_update.append((t2 - t1) * 1e6)

    # baseline, same run: no incremental state, so every request rebuilds the aggregates
    # from the history up to the event before scoring it
    recompute = []
    for case in cases[: args.repeats]:
        t0 = time.perf_counter()
        fresh = CustomerState.from_world(world, until=case.request.requested_at)
        model.score_case(case, fresh)
        recompute.append((time.perf_counter() - t0) * 1000)

    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        scores = model.score_customers(state)
        rates.append(len(scores) / (time.perf_counter() - t0))

    print(f"world: {args.returns:,} returns, {len(ids):,} customers (seed {args.seed})")
    print(f"state built from the world in {built:.2f} s")
    print(
        f"one return event (score_case + update_from_case): median "
        f"{statistics.median(per_event):.2f} ms, p95 {np.percentile(per_event, 95):.2f} ms "
        f"over {len(per_event)} events"
    )
    print(f"state update alone: median {statistics.median(per_update):.1f} us")
    ratio = statistics.median(recompute) / statistics.median(per_event)
    print(
        f"baseline, recompute the state per request then score: median "
        f"{statistics.median(recompute):,.0f} ms over {len(recompute)} events "
        f"({ratio:,.0f}x the incremental path)"
    )
    print(
        f"batch re-score of all customers: {statistics.median(rates):,.0f} customers/s "
        f"(median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
