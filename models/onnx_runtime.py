"""ONNX Runtime sessions for the served encoders (text and image), configured one way."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(model: Path | bytes, threads: int | None) -> Any:
    """A CPU `InferenceSession` of `model` (a file or the serialised graph) with every graph
    optimisation, `threads` intra-op threads (None: the library default) and idle pool
    threads that sleep instead of spinning: spinning burns the cores that concurrent requests
    (and the other models) need."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
