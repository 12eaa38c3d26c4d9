"""Benchmark the reason-text classifier's serving path on CPU: ONNX Runtime encoder + head,
beside eager PyTorch, in the same run.

Prints the median single-note latency (one note per call, cache off) and the batch throughput
(notes/s over a batch of distinct notes) for: eager torch fp32, ONNX fp32, ONNX int8, and the
ONNX int8 path through a fitted `MiniLMReasonClassifier` (cleaning, encoder, head, softmax)
with the pooling the pipeline trains (`training/conf/reason.yml`), each other pooling variant
(note only; sentences encoded alone; sentence spans pooled from the note's one pass), and the
served path answering repeated notes from its LRU cache.
Notes are simulated return notes (the service's traffic); medians over repeats, because the
machine is shared and noisy.

    python benchmarks/bench_reason.py [--notes 1000] [--single 200] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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
    args = parser.parse_args()

    import torch

    from models.reason import MiniLMReasonClassifier
    from models.text_encoder import ONNX_FILE, MiniLMEncoder
    from training.pipelines.runner import load_params
    from training.real_text import simulated_reason_notes
    from training.simulation.config import load_world_config
    from training.simulation.world import build_world

    torch.set_num_threads(args.threads)
    notes = simulated_reason_notes(build_world(3_000, 0, 99, load_world_config()).returns)
    texts = list(dict.fromkeys(notes["text"]))  # distinct notes: no cache effects
    batch = texts[: args.notes]
    single = texts[-args.single :]

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
        candidate = load_params("reason", "full")["transformer"]
        variants = {
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
        cached = MiniLMReasonClassifier.load(classifier.save(Path(tmp) / "served"))
        cached.encoder_.cache_size = 4096
        cached.predict_proba(single)  # every timed note is now a cache hit
        paths["served, cache hit"] = cached.predict_proba
        for encode in paths.values():  # warm up: load sessions, first-call allocations
            encode(batch[:64])
        latency: dict[str, list[float]] = {name: [] for name in paths}
        throughput: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.repeats):
            # interleave the variants so drift on a shared machine hits all alike
            for name, encode in paths.items():
                latency[name].append(_single_latency_ms(encode, single))
                throughput[name].append(_throughput(encode, batch))

    tokens = exporter.tokenizer(batch, truncation=True, max_length=args.max_length)["input_ids"]
    lengths = [len(ids) for ids in tokens]
    print(
        f"reason classifier serving path, {args.threads} threads, max_length {args.max_length}; "
        f"notes: median {np.median(lengths):.0f} tokens (p90 {np.percentile(lengths, 90):.0f}); "
        f"medians of {args.repeats} repeats"
    )
    print(f"{'path':36s} {'single note (ms)':>17s} {'batch notes/s':>14s}")
    for name in paths:
        print(
            f"{name:36s} {statistics.median(latency[name]):17.2f} "
            f"{statistics.median(throughput[name]):14.0f}"
        )


if __name__ == "__main__":
    main()
