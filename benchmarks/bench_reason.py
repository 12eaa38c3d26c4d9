"""Benchmark the reason-text classifier's serving path on CPU: ONNX Runtime encoder + head,
beside eager PyTorch, in the same run.

Prints the median single-note latency (one note per call, cache off) and the batch throughput
(notes/s over a batch of distinct notes) for: eager torch fp32, ONNX fp32, ONNX int8, and the
ONNX int8 path through a fitted `MiniLMReasonClassifier` (cleaning, encoder, head, softmax)
with the pooling the pipeline trains (`training/conf/reason.yml`), each other pooling variant
(note only; sentences encoded alone; sentence spans pooled from the note's one pass), the
served path answering repeated notes from its LRU cache, and the cascade the pipeline
registers (a TF-IDF model trained on another simulated world answers the notes it is sure
of, the MiniLM path the rest; its speed depends on how many it answers, which is printed).
With `--champion`, the registered `models:/reason@champion` (what the API serves) is timed
too. Notes are simulated return notes (the service's traffic); with the real review texts
present (../shared/datasets), the cascade and the MiniLM path are also timed on real
complaints, where TF-IDF is sure of fewer notes. Medians over repeats, because the machine is
shared and noisy.

    python benchmarks/bench_reason.py [--notes 1000] [--single 200] [--repeats 3] [--threads 2]
        [--champion]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _single_latency_ms(encode: Callable[[Sequence[str]], object], notes: list[str]) -> float:
    timings = []
    for note in notes:
        started = time.perf_counter()
        encode([note])
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _throughput(encode: Callable[[Sequence[str]], object], notes: list[str]) -> float:
    started = time.perf_counter()
    encode(notes)
    return len(notes) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1_000, help="batch size for throughput")
    parser.add_argument("--single", type=int, default=200, help="notes timed one at a time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--champion",
        action="store_true",
        help="also time the registered reason champion (TRIAGE_* settings locate MLflow)",
    )
    args = parser.parse_args()

    import torch

    from models.reason import CascadeReasonClassifier, MiniLMReasonClassifier, TfidfReasonClassifier
    from models.settings import get_settings
    from models.text_encoder import ONNX_FILE, MiniLMEncoder
    from training.pipelines.runner import load_params
    from training.real_text import load_negative_reviews, simulated_reason_notes
    from training.simulation.config import load_world_config
    from training.simulation.world import build_world

    torch.set_num_threads(args.threads)
    notes = simulated_reason_notes(build_world(3_000, 0, 99, load_world_config()).returns)
    texts = list(dict.fromkeys(notes["text"]))  # distinct notes: no cache effects
    batch = texts[: args.notes]
    single = texts[-args.single :]
    params = load_params("reason", "full")
    # the cascade's first model, trained as the pipeline trains it but on another world's notes
    world_seed = int(params["data"]["world_seed"])
    train_notes = simulated_reason_notes(
        build_world(6_000, 0, world_seed, load_world_config()).returns
    )
    tfidf = TfidfReasonClassifier(**(params.get("baseline") or {}))
    tfidf.fit(list(train_notes["text"]), list(train_notes["code"]))
    settings = get_settings()
    real: dict[str, list[str]] = {}
    if (settings.datasets_dir / "review-text").is_dir():
        complaints = list(dict.fromkeys(load_negative_reviews(settings.datasets_dir, [])["text"]))
        rng = np.random.default_rng(0)
        picked = [complaints[i] for i in rng.permutation(len(complaints))]
        real = {"batch": picked[: args.notes], "single": picked[-args.single :]}

    with tempfile.TemporaryDirectory() as tmp:
        exporter = MiniLMEncoder(backend="torch", cache_size=0)
        fp32 = exporter.export_onnx(Path(tmp) / "fp32" / ONNX_FILE)
        int8 = exporter.export_onnx(Path(tmp) / "int8" / ONNX_FILE, quantize=True)

        def encoder(backend: str, onnx: Path | None) -> MiniLMEncoder:
            return MiniLMEncoder(
                backend="torch" if backend == "torch" else "onnx",
                onnx_path=onnx,
                cache_size=0,
                num_threads=args.threads,
                max_length=args.max_length,
            )

        # the classifier path: frozen-head models fitted on a few notes (speed does not depend
        # on the head's quality), int8 ONNX encoder; the pipeline's recipe (pooling as in
        # training/conf/reason.yml) and each pooling variant beside it
        candidate = params["transformer"]
        variants: dict[str, dict[str, Any]] = {
            "note only": {"sentence_pooling": False, "sentence_spans": False},
            "sentences encoded alone": {"sentence_pooling": True, "sentence_spans": False},
            "sentence spans, one pass": {"sentence_pooling": True, "sentence_spans": True},
        }
        served_variant = next(
            name
            for name, pooling in variants.items()
            if all(bool(candidate.get(key, False)) == value for key, value in pooling.items())
        )
        fitted = {}
        for name, pooling in variants.items():
            model = MiniLMReasonClassifier(
                fine_tune=False, max_train_texts=300, cache_size=0, **pooling
            )
            fitted[name] = model.fit(list(notes["text"][:400]), list(notes["code"][:400]))
        classifier = fitted[served_variant]

        paths: dict[str, Callable[[Sequence[str]], object]] = {
            "eager torch fp32": encoder("torch", None).encode,
            "onnx fp32": encoder("onnx", fp32).encode,
            "onnx int8": encoder("onnx", int8).encode,
            f"served ({served_variant})": classifier.predict_proba,
        }
        for name, model in fitted.items():
            if name != served_variant:
                paths[f"  {name}"] = model.predict_proba
        cascade = CascadeReasonClassifier(tfidf, classifier, **(params.get("cascade") or {}))
        paths["cascade (TF-IDF, then served)"] = cascade.predict_proba
        paths["  TF-IDF alone"] = tfidf.predict_proba
        if args.champion:
            paths["registered champion"] = _champion(settings).predict_proba
        cached = MiniLMReasonClassifier.load(classifier.save(Path(tmp) / "served"))
        cached.encoder_.cache_size = 4096
        cached.predict_proba(single)  # every timed note is now a cache hit
        paths["served, cache hit"] = cached.predict_proba
        for encode in paths.values():  # warm up: load sessions, first-call allocations
            encode(batch[:64])
        latency: dict[str, list[float]] = {name: [] for name in paths}
        throughput: dict[str, list[float]] = {name: [] for name in paths}
        real_paths = {
            name: paths[name]
            for name in (
                f"served ({served_variant})",
                "cascade (TF-IDF, then served)",
                "registered champion",
            )
            if name in paths and real
        }
        real_latency: dict[str, list[float]] = {name: [] for name in real_paths}
        real_throughput: dict[str, list[float]] = {name: [] for name in real_paths}
        for _ in range(args.repeats):
            # interleave the variants so drift on a shared machine hits all alike
            for name, encode in paths.items():
                latency[name].append(_single_latency_ms(encode, single))
                throughput[name].append(_throughput(encode, batch))
            for name, encode in real_paths.items():
                real_latency[name].append(_single_latency_ms(encode, real["single"]))
                real_throughput[name].append(_throughput(encode, real["batch"]))
        shares = {"simulated": float(cascade.answered_by_first(batch + single).mean())}
        if real:
            shares["real"] = float(cascade.answered_by_first(real["batch"] + real["single"]).mean())

    tokens = exporter.tokenizer(batch, truncation=True, max_length=args.max_length)["input_ids"]
    lengths = [len(ids) for ids in tokens]
    print(
        f"reason classifier serving path, {args.threads} threads, max_length {args.max_length}; "
        f"notes: median {np.median(lengths):.0f} tokens (p90 {np.percentile(lengths, 90):.0f}); "
        f"medians of {args.repeats} repeats"
    )
    _table("simulated return notes", paths, latency, throughput)
    if real:
        _table("real complaints (1-2 star reviews)", real_paths, real_latency, real_throughput)
    answered = ", ".join(f"{share:.0%} of the {kind} notes" for kind, share in shares.items())
    print(f"cascade: TF-IDF answered {answered} (threshold {cascade.confident})")


def _table(
    title: str,
    paths: dict[str, Callable[[Sequence[str]], object]],
    latency: dict[str, list[float]],
    throughput: dict[str, list[float]],
) -> None:
    print(f"\n{title}")
    print(f"{'path':36s} {'single note (ms)':>17s} {'batch notes/s':>14s}")
    for name in paths:
        print(
            f"{name:36s} {statistics.median(latency[name]):17.2f} "
            f"{statistics.median(throughput[name]):14.0f}"
        )


def _champion(settings: Any) -> Any:
    """The registered reason champion's estimator, as the API loads it, with the MiniLM
    encoder's cache of identical notes turned off (the repeats would time cache hits)."""
    import mlflow

    from training.pipelines.reason import ReasonFamily

    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    estimator = ReasonFamily().load_estimator("models:/reason@champion")
    minilm = getattr(estimator, "second", estimator)  # a cascade's transformer, or the model
    if hasattr(minilm, "encoder_"):
        minilm.encoder_.cache_size = 0
        minilm.encoder_.clear_cache()
    return estimator


if __name__ == "__main__":
    main()
