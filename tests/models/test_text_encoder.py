"""MiniLM encoder: shapes, torch vs ONNX agreement, int8 closeness, cache, pickling."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
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
    """Each note encoded alone (the served path) stays within 0.95 cosine of fp32 torch. In one
    padded batch, activations are quantised over the whole batch, so a 3-token note beside
    15-token ones is coarser: on an AVX-512 VNNI CPU (2026-12-04) "ok" fell to 0.942 in the
    batch against 0.978 alone; the batch floor is 0.93."""
    encoder = MiniLMEncoder(backend="onnx", onnx_path=exported["int8"], cache_size=0)
    alone = np.vstack([encoder.encode([text]) for text in TEXTS])
    assert (alone * torch_embeddings).sum(axis=1).min() > 0.95
    batch = encoder.encode(TEXTS)
    assert (batch * torch_embeddings).sum(axis=1).min() > 0.93
    assert np.abs(batch - torch_embeddings).max() < 0.1


def test_per_text_int8_embeddings_do_not_depend_on_the_batch(exported: dict[str, Path]) -> None:
    """int8 activations are scaled over the whole input tensor, so batched, a note's embedding
    depends on the notes beside it; with `per_text` it is the note's own, in any batch."""
    plain = MiniLMEncoder(onnx_path=exported["int8"], cache_size=0)
    alone = np.vstack([plain.encode([text]) for text in TEXTS])
    assert np.abs(plain.encode(TEXTS) - alone).max() > 1e-3  # what per_text is for
    each = MiniLMEncoder(onnx_path=exported["int8"], cache_size=0, per_text=True)
    np.testing.assert_allclose(each.encode(TEXTS), alone, atol=1e-5)
    np.testing.assert_allclose(each.encode(TEXTS[::-1])[::-1], alone, atol=1e-5)
    assert each._single_session is not None  # several texts ran on single-threaded sessions


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


def test_overlapping_calls_run_single_threaded_with_the_same_embeddings(
    exported: dict[str, Path],
) -> None:
    encoder = MiniLMEncoder(onnx_path=exported["int8"], cache_size=0, num_threads=2)
    alone = encoder.encode(TEXTS)
    assert encoder._single_session is None
    encoder._calls = 1  # as if another request's note were being encoded right now
    try:
        overlapped = encoder.encode(TEXTS)
    finally:
        encoder._calls = 0
    assert encoder._single_session is not None
    np.testing.assert_allclose(overlapped, alone, atol=1e-5)
    # and from real threads at once: every call answers, the counter returns to zero (one
    # text a call: int8 activations are quantised per batch, so compare like with like)
    each = np.stack([encoder.encode([t])[0] for t in TEXTS])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: encoder.encode([t])[0], TEXTS * 3))
    np.testing.assert_allclose(np.stack(results), np.concatenate([each] * 3), atol=1e-5)
    assert encoder._calls == 0


def test_open_sessions_loads_both_sessions_before_the_first_call(
    exported: dict[str, Path],
) -> None:
    """A service opens them at start: the first overlapping request would otherwise load the
    calling-thread session (seconds) while it waits."""
    encoder = MiniLMEncoder(onnx_path=exported["int8"], cache_size=0, num_threads=2)
    encoder.open_sessions()
    assert encoder._session is not None
    assert encoder._single_session is not None
    assert encoder._tokenizer is not None
    single_threaded = MiniLMEncoder(onnx_path=exported["int8"], num_threads=1)
    single_threaded.open_sessions()
    assert single_threaded._single_session is None  # never used with one thread


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


def test_sentence_spans_are_stripped_character_ranges() -> None:
    from models.text_encoder import sentence_spans

    text = "Too small.  Sending it back!\n\n... v2.5 is broken"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Too small.",
        "Sending it back!",
        "v2.5 is broken",
    ]
    assert sentence_spans("") == []
    assert len(sentence_spans("x. " * 100, max_sentences=12)) == 12


def test_token_span_ids_follow_sentences() -> None:
    from models.text_encoder import sentence_spans, token_span_ids

    encoder = MiniLMEncoder(sentence_spans=12)
    text = "Runs small. The zipper broke!"
    ids, spans = encoder.tokenize([text])
    assert spans is not None
    tokens = encoder.tokenizer.convert_ids_to_tokens(ids[0])
    by_token = dict(zip(tokens, spans[0], strict=True))
    assert by_token["[CLS]"] == -1 and by_token["[SEP]"] == -1
    assert by_token["small"] == 0 and by_token["zipper"] == 1
    assert token_span_ids([(0, 0), (0, 4), (4, 5), (6, 10)], sentence_spans("Runs. well")) == [
        -1,
        0,
        0,
        1,
    ]


SPAN_TEXTS = [
    "I love the colour and the shipping was quick. But it stopped charging after a week.",
    "arrived smashed, the box was crushed",
    "Great price! Nice look. Zipper broke on day one.",
]


def test_span_pooling_appends_the_max_over_sentence_means() -> None:
    import torch

    from models.text_encoder import sentence_spans

    encoder = MiniLMEncoder(backend="torch", cache_size=0, sentence_spans=12)
    features = encoder.encode(SPAN_TEXTS)
    assert features.shape == (len(SPAN_TEXTS), 768)
    plain = MiniLMEncoder(backend="torch", cache_size=0).encode(SPAN_TEXTS)
    np.testing.assert_allclose(features[:, :384], plain, atol=1e-5)  # note part unchanged
    # a one-sentence note repeats its embedding
    np.testing.assert_allclose(features[1, 384:], features[1, :384], atol=1e-6)
    # the rest by hand: each sentence's tokens averaged from the note's own pass
    text = SPAN_TEXTS[2]
    ids, spans = encoder.tokenize([text])
    assert spans is not None and len(sentence_spans(text)) == 3
    with torch.inference_mode():
        hidden = (
            encoder.torch_model()(
                input_ids=torch.tensor(ids),
                attention_mask=torch.ones(1, len(ids[0]), dtype=torch.long),
            )
            .last_hidden_state[0]
            .numpy()
        )
    span = np.asarray(spans[0])
    means = [hidden[span == s].mean(axis=0) for s in range(3)]
    expected = np.max([m / np.linalg.norm(m) for m in means], axis=0)
    np.testing.assert_allclose(features[2, 384:], expected, atol=1e-5)


def test_span_pooling_onnx_equals_torch_and_batches(tmp_path: Path) -> None:
    torch_encoder = MiniLMEncoder(backend="torch", cache_size=0, sentence_spans=12)
    expected = torch_encoder.encode(SPAN_TEXTS)
    path = torch_encoder.export_onnx(tmp_path / ONNX_FILE)
    onnx = MiniLMEncoder(onnx_path=path, cache_size=0, sentence_spans=12, batch_size=2)
    np.testing.assert_allclose(onnx.encode(SPAN_TEXTS), expected, atol=1e-4)
    single = np.vstack([onnx.encode([text]) for text in SPAN_TEXTS])
    np.testing.assert_allclose(single, expected, atol=1e-4)


def test_num_layers_cuts_the_encoder_and_exports_what_is_left(tmp_path: Path) -> None:
    """A cut encoder keeps its first layers (the same weights) and exports as it is."""
    full = MiniLMEncoder(backend="torch", cache_size=0)
    cut = MiniLMEncoder(backend="torch", cache_size=0, num_layers=2)
    assert len(cut.torch_model().encoder.layer) == 2
    assert cut.torch_model().config.num_hidden_layers == 2
    first_full = full.torch_model().encoder.layer[0].attention.self.query.weight
    first_cut = cut.torch_model().encoder.layer[0].attention.self.query.weight
    assert np.array_equal(first_full.detach().numpy(), first_cut.detach().numpy())
    cut_embeddings = cut.encode(TEXTS)
    # two of six layers give different (but still unit-length) vectors
    assert not np.allclose(cut_embeddings, full.encode(TEXTS), atol=1e-2)
    path = cut.export_onnx(tmp_path / ONNX_FILE)
    served = MiniLMEncoder(backend="onnx", onnx_path=path, cache_size=0)
    assert np.allclose(served.encode(TEXTS), cut_embeddings, atol=1e-4)


def test_num_layers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="num_layers"):
        MiniLMEncoder(num_layers=0)
