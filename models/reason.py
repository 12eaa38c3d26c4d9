"""Reason-text classifiers: free-text return note -> one of the 12 standard ReasonCodes.

Two estimators behind one interface (scikit-learn's contract: `__init__` stores parameters,
fitted attributes end with `_`, `fit` returns self):

- `TfidfReasonClassifier`: the baseline, word and character TF-IDF + logistic regression.
- `MiniLMReasonClassifier`: all-MiniLM-L6-v2 fine-tuned on the notes with a linear head (or,
  with `fine_tune=False`, frozen embeddings + logistic regression); served through ONNX Runtime
  (int8-quantised by default) with an LRU cache of identical notes.

Both calibrate their probabilities by temperature scaling on the last `validation_fraction` of
the training notes (pass notes in time order, so calibration looks at the latest period), and
both answer an empty note with a flat-ish prior (low confidence) instead of failing.
`predict_proba` columns follow `classes_`, which is always every ReasonCode in contract order.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from features.codes import ReasonCode
from models.text_encoder import (
    EMBEDDING_DIM,
    ONNX_FILE,
    MiniLMEncoder,
    pad_tokens,
    pooled_encoder,
    sentence_spans,
)

CLASSES: tuple[str, ...] = tuple(code.value for code in ReasonCode)
HEAD_FILE = "head.npz"
PARAMS_FILE = "params.json"

# tokens with three or more digits (order, invoice, part, lot, serial numbers) carry no reason:
# replacing them makes the models invariant to them and keeps vocabularies small
_IDENTIFIER = re.compile(r"(?<![\w-])[\w-]*\d[\w-]*\d[\w-]*\d[\w-]*")
_SPACES = re.compile(r"\s+")
# training profiles for the pipeline: `full` fits in ~5 min on 2 cores on a 20k-return world plus
# the weak labels; `fast` subsamples the training notes to stay near 1-2 min
PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"max_train_texts": 2_500},
    "full": {},
}
# the share of the empty-note answer that is uniform (the rest is the training label mix)
_EMPTY_NOTE_FLATNESS = 0.5


def clean_note(text: object) -> str:
    """The note as both models see it: HTML entities decoded (web forms send `&#34;`),
    identifiers masked as '#', whitespace collapsed."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return _SPACES.sub(" ", _IDENTIFIER.sub("#", html.unescape(str(text)))).strip()


def split_sentences(text: str, max_sentences: int = 12) -> list[str]:
    """The sentences of a (cleaned) note, at most `max_sentences` (the first ones); pieces with
    no letter or digit are dropped. A note with no break is one sentence: itself."""
    return [text[start:end] for start, end in sentence_spans(text, max_sentences)] or [text]


def _class_scores(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """A logistic regression's scores with one column per class. With two classes sklearn
    gives one score s per row (for the second class): this returns (-s/2, s/2), whose softmax
    is the same sigmoid(s). With more classes the scores are returned as they are."""
    if n_classes != 2:
        return scores
    half = np.reshape(scores, (-1, 1)) / 2.0
    return np.hstack([-half, half])


def _read_meta(directory: Path, kind: str) -> dict[str, Any]:
    """The saved model's params file, checked to hold a model of `kind`."""
    meta: dict[str, Any] = json.loads((directory / PARAMS_FILE).read_text(encoding="utf-8"))
    if meta["kind"] != kind:
        raise ValueError(f"{directory} holds a {meta['kind']} model, not {kind}")
    return meta


def _top_k(proba: np.ndarray, classes: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """The `k` most probable classes per row of `proba`, as (class, probability)."""
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return [
        [(str(classes[j]), float(row[j])) for j in ranks]
        for row, ranks in zip(proba, order, strict=True)
    ]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def fit_temperature(
    logits: np.ndarray, y_index: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """The temperature T minimising the (weighted) NLL of softmax(logits / T) (T in [0.05, 20])."""
    from scipy.optimize import minimize_scalar

    weights = np.ones(len(y_index)) if sample_weight is None else np.asarray(sample_weight, float)

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        picked = scaled[np.arange(len(y_index)), y_index]
        return float(np.sum(weights * (log_norm - picked)) / weights.sum())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


class _CodePredictions:
    """`predict` and `top_k` for a model with `classes_` and `predict_proba`."""

    classes_: np.ndarray

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable ReasonCode value per note."""
        return np.asarray(self.classes_[self.predict_proba(texts).argmax(axis=1)])

    def top_k(self, texts: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """The `k` most probable codes per note, as (code, probability), most probable first."""
        return _top_k(self.predict_proba(texts), self.classes_, k)

    def warm_up(self) -> None:
        """Score one note, so lazy loading (tokenizer, ONNX session, first buffers) happens
        before the first real note does."""
        self.predict_proba([WARM_UP_NOTE])


WARM_UP_NOTE = "The zip broke on the second day and it runs a size small."


class _ReasonClassifier(_CodePredictions, BaseEstimator):
    """Template: subclasses fit a scorer (`_fit_scorer`) and give raw logits (`_logits`);
    this base adds cleaning, the validation split, temperature scaling, the empty-note prior,
    `predict_proba`, `predict`, `top_k`, and the save/load plumbing."""

    validation_fraction: float
    random_state: int
    _kind: ClassVar[str] = ""

    # -- to implement --------------------------------------------------------------------------
    def _fit_scorer(self, texts: list[str], y_index: np.ndarray, weights: np.ndarray) -> None:
        raise NotImplementedError

    def _logits(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _save_scorer(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_scorer(self, directory: Path) -> None:
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[str],
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> _ReasonClassifier:
        """Fit on notes (in time order) and their ReasonCode labels; returns self.

        Empty notes are ignored. The last `validation_fraction` of the remaining notes is held
        out to fit the temperature; the scorer is trained on the rest.
        """
        started = time.perf_counter()
        cleaned = [clean_note(t) for t in texts]
        labels = np.asarray([str(label) for label in y])
        if len(labels) != len(cleaned):
            raise ValueError(f"{len(cleaned)} texts but {len(labels)} labels")
        unknown = sorted(set(labels) - set(CLASSES))
        if unknown:
            raise ValueError(f"unknown reason codes: {unknown}")
        weights = (
            np.ones(len(labels)) if sample_weight is None else np.asarray(sample_weight, float)
        )
        keep = np.array([bool(t) for t in cleaned], dtype=bool)
        kept_texts = [t for t, k in zip(cleaned, keep, strict=True) if k]
        y_index = np.array([CLASSES.index(label) for label in labels[keep]], dtype=np.int64)
        kept_weights = weights[keep]
        n_val = round(self.validation_fraction * len(kept_texts))
        n_train = len(kept_texts) - n_val
        if n_train < 2:
            raise ValueError("need at least two non-empty notes to train on")
        self.classes_ = np.array(CLASSES)
        self._fit_scorer(kept_texts[:n_train], y_index[:n_train], kept_weights[:n_train])
        if n_val > 0:
            val_logits = self._logits(kept_texts[n_train:])
            self.temperature_ = fit_temperature(
                val_logits, y_index[n_train:], kept_weights[n_train:]
            )
        else:
            self.temperature_ = 1.0
        counts = np.bincount(y_index, weights=kept_weights, minlength=len(CLASSES))
        mix = counts / counts.sum()
        self.prior_ = _EMPTY_NOTE_FLATNESS / len(CLASSES) + (1 - _EMPTY_NOTE_FLATNESS) * mix
        self.n_train_ = n_train
        self.n_validation_ = n_val
        self.fit_seconds_ = time.perf_counter() - started
        return self

    # -- predicting ----------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape (n, 12), columns in `classes_` order.

        Empty or whitespace-only notes get `prior_` (a flat-ish distribution).
        """
        cleaned = [clean_note(t) for t in texts]
        proba = np.tile(self.prior_, (len(cleaned), 1))
        index = [i for i, t in enumerate(cleaned) if t]
        if index:
            logits = self._logits([cleaned[i] for i in index])
            proba[index] = _softmax(logits / self.temperature_)
        return proba

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write the fitted model into `directory` (self-contained: nothing outside is read
        by `load`); returns the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.get_params().items()}
        meta = {
            "kind": self._kind,
            "params": params,
            "classes": list(self.classes_),
            "temperature": self.temperature_,
            "prior": [float(p) for p in self.prior_],
            "n_train": self.n_train_,
            "n_validation": self.n_validation_,
            "fit_seconds": self.fit_seconds_,
        }
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        self._save_scorer(directory)
        return directory

    @classmethod
    def load(cls, directory: Path) -> Any:
        """A fitted model read back from a folder written by `save`."""
        directory = Path(directory)
        meta = _read_meta(directory, cls._kind)
        if list(meta["classes"]) != list(CLASSES):
            raise ValueError("saved classes differ from the ReasonCode contract")
        params = dict(meta["params"])
        if "model_path" in params:
            params["model_path"] = None
        model = cls(**params)
        model.classes_ = np.array(CLASSES)
        model.temperature_ = float(meta["temperature"])
        model.prior_ = np.asarray(meta["prior"], dtype=float)
        model.n_train_ = int(meta["n_train"])
        model.n_validation_ = int(meta["n_validation"])
        model.fit_seconds_ = float(meta["fit_seconds"])
        model._load_scorer(directory)
        return model


@dataclass(frozen=True)
class _TfidfPart:
    """One fitted TfidfVectorizer of the union, reduced to what scoring needs."""

    analyzer: Any  # text -> features (preprocessing, tokenising and n-grams, as fitted)
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear: bool
    weights: np.ndarray  # (n_features, n_scores): the regression's coefficients, this part


@dataclass(frozen=True)
class _TfidfScorer:
    """TF-IDF features and the logistic regression's scores in one pass over each text.

    The numbers are those of `FeatureUnion.transform` followed by `decision_function` (a test
    holds them to 1e-12): per part, the counts of the text's known features, `1 + log` when
    sublinear, times the idf, L2-normalised, dotted with that part's coefficients. It skips
    what sklearn spends per call on input checks, sparse matrices and joblib, which on a single
    note cost more than the scoring itself (the cascade scores every note with it).
    """

    source: Any  # the FeatureUnion it was built from
    parts: tuple[_TfidfPart, ...]
    intercept: np.ndarray

    @classmethod
    def from_fitted(cls, union: Any, logistic: Any) -> _TfidfScorer:
        """Reduce a fitted FeatureUnion of TfidfVectorizers and a fitted LogisticRegression."""
        coef_t = np.ascontiguousarray(logistic.coef_.T, dtype=float)
        parts: list[_TfidfPart] = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            if vectorizer.norm != "l2" or not vectorizer.use_idf or vectorizer.binary:
                raise ValueError("the direct TF-IDF scorer expects l2, idf-weighted counts")
            size = len(vectorizer.vocabulary_)
            parts.append(
                _TfidfPart(
                    analyzer=vectorizer.build_analyzer(),
                    vocabulary=dict(vectorizer.vocabulary_),
                    idf=np.asarray(vectorizer.idf_, dtype=float),
                    sublinear=bool(vectorizer.sublinear_tf),
                    weights=coef_t[offset : offset + size],
                )
            )
            offset += size
        if offset != coef_t.shape[0]:
            raise ValueError(f"union gives {offset} features, the regression has {coef_t.shape[0]}")
        return cls(union, tuple(parts), np.asarray(logistic.intercept_, dtype=float))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Decision scores, one row per text (`(n, n_scores)`)."""
        out = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            for part in self.parts:
                counts = Counter(part.analyzer(text))
                vocabulary = part.vocabulary
                index = [vocabulary.get(feature, -1) for feature in counts]
                known = [i for i, j in enumerate(index) if j >= 0]
                if not known:
                    continue
                columns = np.asarray([index[i] for i in known])
                tf = np.fromiter(counts.values(), dtype=float, count=len(counts))[known]
                if part.sublinear:
                    tf = np.log(tf) + 1.0
                values = tf * part.idf[columns]
                values /= np.sqrt(values @ values)
                out[row] += values @ part.weights[columns]
        return out


class TfidfReasonClassifier(_ReasonClassifier):
    """Baseline: word 1-2-gram and character 2-5-gram TF-IDF, multinomial logistic regression,
    temperature-calibrated."""

    _kind: ClassVar[str] = "tfidf"

    def __init__(
        self,
        C: float = 10.0,
        char_ngrams: bool = True,
        validation_fraction: float = 0.15,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.char_ngrams = char_ngrams
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _fit_scorer(self, texts: list[str], y_index: np.ndarray, weights: np.ndarray) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        parts: list[tuple[str, Any]] = [
            ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True))
        ]
        if self.char_ngrams:
            parts.append(
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True
                    ),
                )
            )
        self.vectorizer_ = FeatureUnion(parts)
        features = self.vectorizer_.fit_transform(texts)
        self.logistic_ = LogisticRegression(C=self.C, max_iter=3000, random_state=self.random_state)
        self.logistic_.fit(features, y_index, sample_weight=weights)

    def _logits(self, texts: list[str]) -> np.ndarray:
        scores = self._scorer().scores(texts)
        if scores.shape[1] == 1:
            scores = scores[:, 0]  # two codes: one score column, as decision_function gives
        # classes never seen in training get a very low score
        logits = np.full((len(texts), len(CLASSES)), -1e4)
        logits[:, self.logistic_.classes_] = _class_scores(scores, len(self.logistic_.classes_))
        return logits

    def _scorer(self) -> _TfidfScorer:
        """The fitted union and regression as one direct scorer (built once, not saved)."""
        scorer = self.__dict__.get("_direct_scorer")
        if scorer is None or scorer.source is not self.vectorizer_:
            scorer = _TfidfScorer.from_fitted(self.vectorizer_, self.logistic_)
            self.__dict__["_direct_scorer"] = scorer
        return scorer

    def _save_scorer(self, directory: Path) -> None:
        import joblib

        joblib.dump(
            {"vectorizer": self.vectorizer_, "logistic": self.logistic_}, directory / "tfidf.joblib"
        )

    def _load_scorer(self, directory: Path) -> None:
        import joblib

        parts = joblib.load(directory / "tfidf.joblib")
        self.vectorizer_ = parts["vectorizer"]
        self.logistic_ = parts["logistic"]


class MiniLMReasonClassifier(_ReasonClassifier):
    """all-MiniLM-L6-v2 + linear head over the mean-pooled, L2-normalised note embedding.

    With `fine_tune=True` (default) the encoder and head are trained together for `epochs`
    passes (AdamW, linear warm-up and decay, length-bucketed batches); otherwise the encoder
    stays frozen and a logistic regression (`C`) is fitted on its embeddings. `label_smoothing`
    softens the fine-tuning targets (weak labels on real text are noisy). The trained
    encoder is exported to ONNX (`quantize`: dynamic int8) and every prediction, including the
    calibration split, goes through that served path.

    With `sentence_pooling=True` the head reads the note's embedding beside the element-wise
    maximum of its sentences' embeddings (each sentence encoded alone). Real complaints bury
    the one sentence that names the reason among praise and narrative, which the whole-note
    mean dilutes; the maximum keeps it. A one-sentence note uses its own embedding for both.
    With `sentence_spans=True` as well, each sentence is pooled from its tokens in the note's
    own encoder pass instead of being encoded alone: one pass per note, as without pooling.

    `num_layers` keeps only the encoder's first layers (fewer layers, cheaper notes; the cut
    encoder is fine-tuned and exported as it is). `soup_size` > 1 fine-tunes that many
    members from the same start with different seeds and serves the mean of their weights.
    `device` is where fine-tuning runs: "cpu", "cuda", or "auto" (a GPU when torch sees one);
    serving is always ONNX Runtime on the CPU.
    """

    _kind: ClassVar[str] = "minilm"
    _LOGIT_SCALE: ClassVar[float] = 20.0  # cosine-style head: unit embeddings times a scale

    def __init__(
        self,
        fine_tune: bool = True,
        epochs: float = 1.0,
        batch_size: int = 32,
        learning_rate: float = 5e-5,
        head_learning_rate: float = 2e-3,
        max_length: int = 128,
        max_train_texts: int | None = None,
        label_smoothing: float = 0.0,
        C: float = 10.0,
        sentence_pooling: bool = False,
        sentence_spans: bool = False,
        max_sentences: int = 12,
        num_layers: int | None = None,
        soup_size: int = 1,
        device: str = "cpu",
        quantize: bool = True,
        validation_fraction: float = 0.15,
        num_threads: int = 2,
        cache_size: int = 4096,
        model_path: Path | None = None,
        random_state: int = 0,
    ) -> None:
        self.fine_tune = fine_tune
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.max_length = max_length
        self.max_train_texts = max_train_texts
        self.label_smoothing = label_smoothing
        self.C = C
        self.sentence_pooling = sentence_pooling
        self.sentence_spans = sentence_spans
        self.max_sentences = max_sentences
        self.num_layers = num_layers
        self.soup_size = soup_size
        self.device = device
        self.quantize = quantize
        self.validation_fraction = validation_fraction
        self.num_threads = num_threads
        self.cache_size = cache_size
        self.model_path = model_path
        self.random_state = random_state

    # -- training ------------------------------------------------------------------------------
    def _fit_scorer(self, texts: list[str], y_index: np.ndarray, weights: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        if self.max_train_texts is not None and len(texts) > self.max_train_texts:
            chosen = np.sort(rng.choice(len(texts), self.max_train_texts, replace=False))
            texts = [texts[i] for i in chosen]
            y_index, weights = y_index[chosen], weights[chosen]
        trainer = MiniLMEncoder(
            model_path=self.model_path,
            backend="torch",
            max_length=self.max_length,
            num_threads=self.num_threads,
            cache_size=0,
            sentence_spans=self._span_count,
            num_layers=self.num_layers,
        )
        if self.fine_tune:
            self._fine_tune(trainer, texts, y_index, weights, rng)
        self.encoder_onnx_ = self._export(trainer)
        self.encoder_ = self._served_encoder(self.encoder_onnx_, self.model_path)
        if not self.fine_tune:
            from sklearn.linear_model import LogisticRegression

            features = self._features(texts)
            logistic = LogisticRegression(C=self.C, max_iter=3000, random_state=self.random_state)
            logistic.fit(features, y_index, sample_weight=weights)
            weight = np.zeros((len(CLASSES), features.shape[1]), dtype=np.float32)
            bias = np.full(len(CLASSES), -1e4, dtype=np.float32)
            n_seen = len(logistic.classes_)
            weight[logistic.classes_] = _class_scores(logistic.coef_.T, n_seen).T
            bias[logistic.classes_] = _class_scores(logistic.intercept_, n_seen).ravel()
            self.head_weight_, self.head_bias_ = weight, bias
        self.encoder_.clear_cache()

    def _fine_tune(
        self,
        trainer: MiniLMEncoder,
        texts: list[str],
        y_index: np.ndarray,
        weights: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        """Fine-tune the trainer's encoder and a head in place; with `soup_size` > 1, train
        that many members from the same start (seeds `random_state`, +1, ...) and keep the
        element-wise mean of their weights (a uniform model soup: one model's serving cost)."""
        import torch

        torch.set_num_threads(self.num_threads)
        device = training_device(self.device)
        model = trainer.torch_model().to(device)
        encoded, spans = trainer.tokenize(texts)
        lengths = np.array([len(ids) for ids in encoded])
        # sentences of the notes that have several (token ids, owner note), for sentence pooling
        # by separate passes
        sentence_ids: list[list[list[int]]] = [[] for _ in texts]
        if self.sentence_pooling and not self.sentence_spans:
            for i, text in enumerate(texts):
                sentences = split_sentences(text, self.max_sentences)
                if len(sentences) > 1:
                    sentence_ids[i] = trainer.tokenize(sentences)[0]
        batch = _Batches(
            encoded=encoded,
            spans=spans,
            sentence_ids=sentence_ids,
            cost=lengths + np.array([sum(len(ids) for ids in sent) for sent in sentence_ids]),
            y=torch.from_numpy(y_index).to(device),
            weights=torch.from_numpy(weights.astype(np.float32)).to(device),
            device=device,
        )
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        encoder_states: list[dict[str, Any]] = []
        heads: list[tuple[Any, Any]] = []
        for member in range(max(1, self.soup_size)):
            # every member starts from the same encoder and head; the seed then changes the
            # batch order and dropout. The first member continues the caller's generator, so a
            # soup of one is the plain fine-tune.
            torch.manual_seed(self.random_state)
            head = torch.nn.Linear(self._feature_dim, len(CLASSES)).to(device)
            if member:
                model.load_state_dict(start)
                torch.manual_seed(self.random_state + member)
            member_rng = rng if member == 0 else np.random.default_rng(self.random_state + member)
            self._train_member(model, head, batch, member_rng)
            if self.soup_size > 1:
                encoder_states.append(
                    {k: v.detach().clone() for k, v in model.state_dict().items()}
                )
            heads.append((head.weight.detach().cpu(), head.bias.detach().cpu()))
        if encoder_states:
            model.load_state_dict(_mean_state(encoder_states))
        model.to("cpu").eval()  # exported and served on the CPU
        with torch.no_grad():
            weight = torch.stack([w for w, _ in heads]).mean(dim=0)
            bias = torch.stack([b for _, b in heads]).mean(dim=0)
            self.head_weight_ = (self._LOGIT_SCALE * weight).numpy().astype(np.float32)
            self.head_bias_ = (self._LOGIT_SCALE * bias).numpy().astype(np.float32)

    def _train_member(
        self, model: Any, head: Any, batch: _Batches, rng: np.random.Generator
    ) -> None:
        """One fine-tuning run of `model` and `head` over the notes in `batch` (AdamW, linear
        warm-up and decay, length-bucketed batches shuffled by `rng`)."""
        import torch

        model.train()
        pooled_model = pooled_encoder(model, self._span_count)
        encoded, spans, sentence_ids, device = (
            batch.encoded,
            batch.spans,
            batch.sentence_ids,
            batch.device,
        )
        cost, y_tensor, w_tensor = batch.cost, batch.y, batch.weights
        n_steps_per_epoch = int(np.ceil(len(encoded) / self.batch_size))
        total_steps = max(1, round(self.epochs * n_steps_per_epoch))
        optimiser = torch.optim.AdamW(
            [
                {"params": model.parameters(), "lr": self.learning_rate},
                {"params": head.parameters(), "lr": self.head_learning_rate},
            ],
            weight_decay=0.01,
        )
        warmup = max(1, total_steps // 10)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser,
            lambda step: min(
                (step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup + 1))
            ),
        )
        step = 0
        while step < total_steps:
            # length buckets: sort by (jittered) length, cut into batches, shuffle the batches
            jitter = cost + rng.uniform(0, 8, size=len(cost))
            order = np.argsort(jitter)
            batches = [
                order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)
            ]
            for b in rng.permutation(len(batches)):
                if step >= total_steps:
                    break
                index = batches[b]
                pooled = _torch_pooled(
                    pooled_model,
                    [encoded[i] for i in index],
                    spans and [spans[i] for i in index],
                    device=device,
                )
                if self.sentence_pooling and not self.sentence_spans:
                    owners = [row for row, i in enumerate(index) for _ in sentence_ids[i]]
                    flat = [ids for i in index for ids in sentence_ids[i]]
                    sentence_max = pooled.clone()
                    if flat:
                        per_sentence = _torch_pooled(pooled_model, flat, device=device)
                        owner = torch.tensor(owners, device=device)
                        owner = owner.unsqueeze(1).expand_as(per_sentence)
                        # rows with several sentences take their sentences' maximum
                        multi = torch.tensor(sorted(set(owners)), device=device)
                        sentence_max[multi] = -torch.inf
                        sentence_max = sentence_max.scatter_reduce(
                            0, owner, per_sentence, reduce="amax", include_self=True
                        )
                    pooled = torch.cat([pooled, sentence_max], dim=1)
                logits = self._LOGIT_SCALE * head(pooled)
                loss_each = torch.nn.functional.cross_entropy(
                    logits,
                    y_tensor[index],
                    reduction="none",
                    label_smoothing=self.label_smoothing,
                )
                w = w_tensor[index]
                loss = (loss_each * w).sum() / w.sum()
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [*model.parameters(), *head.parameters()], max_norm=1.0
                )
                optimiser.step()
                scheduler.step()
                step += 1
        model.eval()

    def _export(self, trainer: MiniLMEncoder) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="reason-onnx-") as tmp:
            path = trainer.export_onnx(Path(tmp) / ONNX_FILE, quantize=self.quantize)
            return path.read_bytes()

    def _served_encoder(self, onnx: Path | bytes, model_path: Path | None) -> MiniLMEncoder:
        return MiniLMEncoder(
            model_path=model_path,
            backend="onnx",
            onnx_path=onnx,
            max_length=self.max_length,
            num_threads=self.num_threads,
            cache_size=self.cache_size,
            sentence_spans=self._span_count,
            # int8 activations are scaled per input tensor: alone, a note's code does not
            # depend on the notes it is batched with
            per_text=self.quantize,
        )

    # -- scoring -------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Served-path embeddings of already-cleaned texts (n, 384)."""
        return self.encoder_.encode(list(texts))

    @property
    def _span_count(self) -> int:
        """Sentences pooled inside the encoder's pass (0: none, or separate passes)."""
        return self.max_sentences if self.sentence_pooling and self.sentence_spans else 0

    @property
    def _feature_dim(self) -> int:
        return EMBEDDING_DIM * (2 if self.sentence_pooling else 1)

    def warm_up(self) -> None:
        """Open every ONNX session the served encoder may use, then score one note."""
        self.encoder_.open_sessions()
        super().warm_up()

    def _features(self, texts: list[str]) -> np.ndarray:
        """The head's input per cleaned note: its embedding, and with `sentence_pooling` the
        element-wise maximum of its sentences' embeddings beside it, shape (n, feature dim)."""
        embeddings = self.encoder_.encode(texts)
        if not self.sentence_pooling or self.sentence_spans:
            return embeddings  # with spans the encoder pools the sentences itself
        sentence_max = embeddings.copy()
        owners: list[int] = []
        flat: list[str] = []
        for i, text in enumerate(texts):
            sentences = split_sentences(text, self.max_sentences)
            if len(sentences) > 1:
                owners.extend([i] * len(sentences))
                flat.extend(sentences)
        if flat:
            owner = np.asarray(owners)
            sentence_max[np.unique(owner)] = -np.inf
            np.maximum.at(sentence_max, owner, self.encoder_.encode(flat))
        return np.hstack([embeddings, sentence_max])

    def _logits(self, texts: list[str]) -> np.ndarray:
        features = self._features(texts)
        return np.asarray(features @ self.head_weight_.T + self.head_bias_, dtype=np.float64)

    # -- persistence ---------------------------------------------------------------------------
    def _save_scorer(self, directory: Path) -> None:
        self.encoder_.save(directory)
        np.savez(directory / HEAD_FILE, weight=self.head_weight_, bias=self.head_bias_)

    def _load_scorer(self, directory: Path) -> None:
        head = np.load(directory / HEAD_FILE)
        self.head_weight_ = head["weight"].astype(np.float32)
        self.head_bias_ = head["bias"].astype(np.float32)
        self.encoder_onnx_ = (directory / ONNX_FILE).read_bytes()
        self.encoder_ = self._served_encoder(directory / ONNX_FILE, directory)


class CascadeReasonClassifier(_CodePredictions):
    """Two reason models in a cascade: `first` (cheap: the TF-IDF model) answers the notes it
    is at least `confident` about, `second` (MiniLM) the rest.

    Both are calibrated, so a confident TF-IDF answer is kept as it is. A note `first` is
    unsure of gets `second_weight` x `second`'s probabilities + the rest x `first`'s (already
    computed, so the blend costs nothing): 1.0 is MiniLM alone, 0.5 the plain mean of the two
    calibrated models. On simulated return notes TF-IDF is confident about two thirds of them
    (99%+ right on those), so most notes skip the transformer; on real reviews it is about
    half. Full profile, 2026-12-05 (README, Reason text): with the mean, real complaints
    scored better than with MiniLM alone on unsure notes (annotated holdout macro-F1 0.590 ->
    0.622, ECE 0.144 -> 0.084), the later simulated period a little worse (0.972 -> 0.952).
    """

    _kind: ClassVar[str] = "cascade"

    def __init__(
        self,
        first: TfidfReasonClassifier,
        second: MiniLMReasonClassifier,
        confident: float = 0.98,
        second_weight: float = 1.0,
    ) -> None:
        if not 0.0 < confident <= 1.0:
            raise ValueError(f"confident must be in (0, 1], got {confident}")
        if not 0.0 < second_weight <= 1.0:
            raise ValueError(f"second_weight must be in (0, 1], got {second_weight}")
        self.first = first
        self.second = second
        self.confident = confident
        self.second_weight = second_weight
        self.classes_ = np.array(CLASSES)  # both models answer in the contract's order

    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[str],
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> CascadeReasonClassifier:
        """Fit both models on the same notes; returns self."""
        self.first.fit(texts, y, sample_weight=sample_weight)
        self.second.fit(texts, y, sample_weight=sample_weight)
        return self

    def answered_by_first(self, texts: Sequence[str]) -> np.ndarray:
        """Per note, whether `first` answers it (boolean array)."""
        return np.asarray(self.first.predict_proba(list(texts)).max(axis=1) >= self.confident)

    def predict_with_route(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`predict_proba` and, per note, `first`'s top probability (the note went on to
        `second` where it is below `confident`)."""
        texts = list(texts)
        proba = np.asarray(self.first.predict_proba(texts), dtype=float)
        first_confidence = proba.max(axis=1)
        rest = np.flatnonzero(first_confidence < self.confident)
        if rest.size:
            second = np.asarray(self.second.predict_proba([texts[i] for i in rest]), dtype=float)
            weight = self.second_weight
            proba[rest] = weight * second + (1.0 - weight) * proba[rest]
        return proba, first_confidence

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape (n, 12): `first`'s where it is confident, else
        `second`'s blended with `first`'s (`second_weight`)."""
        return self.predict_with_route(texts)[0]

    def warm_up(self) -> None:
        """Warm both models: a served note `first` is sure of never reaches `second`, so one
        note through the cascade may leave the transformer cold (its first note then pays for
        loading the ONNX session: ~2 s measured)."""
        self.first.warm_up()
        self.second.warm_up()

    def route_reason(self, first_confidence: float) -> str:
        """Which model answered a note, in words, from `first`'s top probability for it."""
        if first_confidence >= self.confident:
            return (
                f"answered by the TF-IDF model (sure at {first_confidence:.2f} >= "
                f"{self.confident:.2f}); the transformer was not run"
            )
        unsure = f"the TF-IDF model was unsure: {first_confidence:.2f} < {self.confident:.2f}"
        if self.second_weight < 1.0:
            return (
                f"answered by the MiniLM transformer and the TF-IDF model together (weights "
                f"{self.second_weight:.2f} / {1.0 - self.second_weight:.2f}; {unsure})"
            )
        return f"answered by the MiniLM transformer ({unsure})"

    def save(self, directory: Path) -> Path:
        """Write both models (`first/`, `second/`) and the threshold into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self._kind,
            "confident": self.confident,
            "second_weight": self.second_weight,
        }
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        self.first.save(directory / "first")
        self.second.save(directory / "second")
        return directory

    @classmethod
    def load(cls, directory: Path) -> CascadeReasonClassifier:
        """A cascade read back from a folder written by `save`."""
        directory = Path(directory)
        meta = _read_meta(directory, cls._kind)
        return cls(
            TfidfReasonClassifier.load(directory / "first"),
            MiniLMReasonClassifier.load(directory / "second"),
            confident=float(meta["confident"]),
            # cascades saved before the blend answered unsure notes by MiniLM alone
            second_weight=float(meta.get("second_weight", 1.0)),
        )


@dataclass(frozen=True)
class _Batches:
    """Tokenised training notes and their targets, shared by the members of a fine-tune."""

    encoded: list[list[int]]
    spans: list[list[int]] | None
    sentence_ids: list[list[list[int]]]
    cost: np.ndarray
    y: Any
    weights: Any
    device: Any


def _mean_state(states: list[dict[str, Any]]) -> dict[str, Any]:
    """Element-wise mean of torch state dicts with the same keys (integer buffers, such as
    position ids, are taken from the first)."""
    import torch

    mean: dict[str, Any] = {}
    for key, first in states[0].items():
        if torch.is_floating_point(first):
            mean[key] = torch.stack([state[key] for state in states]).mean(dim=0)
        else:
            mean[key] = first
    return mean


def training_device(name: str) -> Any:
    """The torch device fine-tuning runs on: "cpu", "cuda" (an error without a GPU), or
    "auto" (the GPU when torch sees one, else the CPU)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no GPU")
    return torch.device(name)


def _torch_pooled(
    model: Any,
    token_ids: list[list[int]],
    span_ids: list[list[int]] | None = None,
    device: Any = None,
) -> Any:
    """Pooled features of tokenised texts through a torch `pooled_encoder` (with gradients),
    padded to the longest in the list, computed on `device` (None: the CPU)."""
    import torch

    input_ids, mask, spans = pad_tokens(token_ids, span_ids)
    tensors = [torch.from_numpy(input_ids), torch.from_numpy(mask)]
    if spans is not None:
        tensors.append(torch.from_numpy(spans))
    if device is not None:
        tensors = [t.to(device) for t in tensors]
    return model(*tensors)
