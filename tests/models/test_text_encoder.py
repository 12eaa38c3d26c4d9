"""MiniLM encoder: shapes, torch vs ONNX agreement, int8 closeness, cache, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from models.text_encoder import ONNX_FILE, MiniLMEncoder

TEXTS = [
    "The jacket runs small, I had to send it back.",
    "arrived smashed, the box was crushed",
    "Stopped working after two days, will not power on at all anymore.",
    "ok",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("encoder")
    torch_encoder = MiniLMEncoder(backend="torch", cache_size=0)
    return {
        "fp32": torch_encoder.export_onnx(folder / "fp32" / ONNX_FILE),
        "int8": torch_encoder.export_onnx(folder / "int8" / ONNX_FILE, quantize=True),
    }


@pytest.fixture(scope="module")
def torch_embeddings() -> np.ndarray:
    return MiniLMEncoder(backend="torch", cache_size=0).encode(TEXTS)


def test_embeddings_are_unit_float32(torch_embeddings: np.ndarray) -> None:
    assert torch_embeddings.shape == (len(TEXTS), 384)
    assert torch_embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(torch_embeddings, axis=1), 1.0, atol=1e-5)


def test_onnx_fp32_equals_torch(exported: dict[str, Path], torch_embeddings: np.ndarray) -> None:
    onnx = MiniLMEncoder(backend="onnx", onnx_path=exported["fp32"], cache_size=0).encode(TEXTS)
    np.testing.assert_allclose(onnx, torch_embeddings, atol=1e-4)


def test_exported_graphs_use_the_fused_transformer_ops(exported: dict[str, Path]) -> None:
    import onnx

    for path in exported.values():
        ops = [node.op_type for node in onnx.load(str(path)).graph.node]
        attention = ops.count("Attention") + ops.count("QAttention")  # int8: quantised
        assert attention == 6 and "SkipLayerNormalization" in ops


def test_onnx_int8_close_to_fp32(exported: dict[str, Path], torch_embeddings: np.ndarray) -> None:
    int8 = MiniLMEncoder(backend="onnx", onnx_path=exported["int8"], cache_size=0).encode(TEXTS)
    cosine = (int8 * torch_embeddings).sum(axis=1)
    assert cosine.min() > 0.95
    assert np.abs(int8 - torch_embeddings).max() < 0.1


def test_batching_and_padding_do_not_change_embeddings(exported: dict[str, Path]) -> None:
    batched = MiniLMEncoder(onnx_path=exported["fp32"], cache_size=0, batch_size=3).encode(TEXTS)
    single = np.vstack(
        [MiniLMEncoder(onnx_path=exported["fp32"], cache_size=0).encode([t]) for t in TEXTS]
    )
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_cache_answers_identical_texts(exported: dict[str, Path]) -> None:
    encoder = MiniLMEncoder(onnx_path=exported["int8"], cache_size=2)
    first = encoder.encode(TEXTS[:2])
    assert (encoder.cache_hits, encoder.cache_misses) == (0, 2)
    again = encoder.encode([TEXTS[1], TEXTS[0], TEXTS[1]])
    assert encoder.cache_hits == 3
    np.testing.assert_array_equal(again[[1, 0]], first)
    encoder.encode([TEXTS[2]])  # evicts the least recently used entry (TEXTS[0])
    encoder.encode([TEXTS[0]])
    assert encoder.cache_misses == 4


def test_pickle_drops_sessions_and_reloads(exported: dict[str, Path]) -> None:
    encoder = MiniLMEncoder(onnx_path=exported["int8"])
    before = encoder.encode(TEXTS)
    clone = pickle.loads(pickle.dumps(encoder))
    assert clone._session is None
    np.testing.assert_allclose(clone.encode(TEXTS), before, atol=1e-6)


def test_truncates_long_texts(exported: dict[str, Path]) -> None:
    long_text = "the fabric is thin and pills after one wash " * 200
    encoder = MiniLMEncoder(onnx_path=exported["int8"], max_length=32, cache_size=0)
    assert encoder.encode([long_text]).shape == (1, 384)
