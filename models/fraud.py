"""Fraud and anomaly detectors behind one base class, combined into a calibrated risk score.

- `BaseDetector` (template method, after pyod's `BaseDetector`): subclasses write `fit` and
  `decision_function` (higher = more anomalous) and end `fit` with
  `self._process_decision_scores(scores)`; the base derives the threshold, training labels,
  outlier probabilities (rank among the training scores) and labels for new data.
- `ECODDetector` and `IsolationForestDetector`: unsupervised, need no labels.
- `SupervisedDetector`: LightGBM on analyst labels (partial and noisy), with out-of-fold
  training scores so a model stacked on top never sees in-sample scores.
- `CombinedRiskModel`: stacks the three into a calibrated 0..1 risk (logistic regression on
  out-of-fold scores, reweighted to an assumed abuse prevalence), a level, and the top factors
  in words. `score_case` and `score_customers` are the serving API.
- `FraudModel`: the MLflow pyfunc wrapper (keeps `self.estimator` and `self.state`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec
from sklearn.base import BaseEstimator

from features.customer_state import CustomerState, ReturnEvent
from features.fraud import (
    CUSTOMER_FEATURES,
    DIRECTIONS,
    customer_features,
    describe,
    event_features,
)
from features.schema import ReturnCase

RISK_LEVELS = ("low", "medium", "high")
DETECTORS = ("ecod", "iforest", "supervised")


def _as_matrix(X: Any, n_features: int | None = None) -> np.ndarray:
    """Features as a finite float matrix; clear errors for bad shapes or values."""
    if isinstance(X, pd.DataFrame):
        missing = [c for c in CUSTOMER_FEATURES if c not in X.columns]
        if n_features == len(CUSTOMER_FEATURES) and missing:
            raise ValueError(f"missing feature column(s): {', '.join(missing)}")
        if not missing:
            X = X[list(CUSTOMER_FEATURES)]
    matrix = np.asarray(X, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-d feature matrix, got shape {matrix.shape}")
    if n_features is not None and matrix.shape[1] != n_features:
        raise ValueError(f"expected {n_features} features, got {matrix.shape[1]}")
    if not np.isfinite(matrix).all():
        bad = int(np.flatnonzero(~np.isfinite(matrix).all(axis=0))[0])
        name = CUSTOMER_FEATURES[bad] if matrix.shape[1] == len(CUSTOMER_FEATURES) else str(bad)
        raise ValueError(f"feature {name!r} has missing or infinite values")
    return matrix


class BaseDetector(BaseEstimator):
    """Template for every detector: higher `decision_function` = more anomalous.

    Subclasses implement `fit(X, y=None)` (ending with `self._process_decision_scores(scores)`
    on the training scores) and `decision_function(X)`. The base then provides `threshold_`
    (the training-score quantile at 1 - `contamination`), `labels_`, `predict` (1 = alert) and
    `predict_proba` (the share of training scores below a score: an outlier probability that is
    comparable across detectors).
    """

    def __init__(self, contamination: float = 0.01) -> None:
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> BaseDetector:  # pragma: no cover - abstract
        """Fit on features `X` (and labels `y` where the detector uses them)."""
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:  # pragma: no cover - abstract
        """Anomaly score per row; higher is more anomalous."""
        raise NotImplementedError

    def _process_decision_scores(self, scores: np.ndarray) -> BaseDetector:
        if not 0 < self.contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {self.contamination}")
        self.decision_scores_ = np.asarray(scores, dtype=float)
        self.sorted_scores_ = np.sort(self.decision_scores_)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1 - self.contamination))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first")

    def predict(self, X: Any) -> np.ndarray:
        """1 for rows scoring above the training threshold, else 0."""
        self._check_fitted()
        return (self.decision_function(X) > self.threshold_).astype(int)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns [normal, outlier]: outlier = share of training scores below this score."""
        self._check_fitted()
        scores = self.decision_function(X)
        rank = np.searchsorted(self.sorted_scores_, scores, side="left")
        outlier = (rank + 0.5) / (len(self.sorted_scores_) + 1.0)
        return np.column_stack([1 - outlier, outlier])


class ECODDetector(BaseDetector):
    """Empirical-CDF outlier detection (ECOD-style): -log tail probabilities per feature.

    Each feature has a suspicious tail (`directions`: +1 high, -1 low, 0 both); a value's tail
    probability is read off the training data's empirical distribution. No labels, and each
    feature's share of the score says why a row is unusual. `aggregate="sum"` (ECOD's own)
    adds the features' tail scores; `"max"` keeps the strongest one, for features that each
    carry a different pattern and are correlated enough that a sum rewards being moderately
    high on all of them.
    """

    def __init__(
        self,
        contamination: float = 0.01,
        directions: Sequence[int] | None = None,
        aggregate: str = "sum",
    ) -> None:
        super().__init__(contamination)
        if aggregate not in ("sum", "max"):
            raise ValueError(f"aggregate must be 'sum' or 'max', got {aggregate!r}")
        self.directions = directions
        self.aggregate = aggregate

    def fit(self, X: Any, y: Any = None) -> ECODDetector:
        """Remember each feature's sorted training values."""
        matrix = _as_matrix(X)
        self.n_features_in_ = matrix.shape[1]
        directions = self.directions
        if directions is None:
            directions = (
                [DIRECTIONS[n] for n in CUSTOMER_FEATURES]
                if matrix.shape[1] == len(CUSTOMER_FEATURES)
                else [1] * matrix.shape[1]
            )
        if len(directions) != matrix.shape[1]:
            raise ValueError(f"directions has {len(directions)} entries for {matrix.shape[1]}")
        self.directions_ = np.asarray(directions, dtype=int)
        self.sorted_ = np.sort(matrix, axis=0)
        return self._process_decision_scores(self.decision_function(matrix))

    def tail_scores(self, X: Any) -> np.ndarray:
        """-log tail probability of every value (rows x features); 0 = not unusual at all."""
        matrix = _as_matrix(X, getattr(self, "n_features_in_", None))
        n = self.sorted_.shape[0]
        out = np.zeros_like(matrix)
        for j in range(matrix.shape[1]):
            column = self.sorted_[:, j]
            above = n - np.searchsorted(column, matrix[:, j], side="left")  # train >= x
            below = np.searchsorted(column, matrix[:, j], side="right")  # train <= x
            right = (above + 1) / (n + 1)
            left = (below + 1) / (n + 1)
            if self.directions_[j] > 0:
                p = right
            elif self.directions_[j] < 0:
                p = left
            else:
                p = np.minimum(right, left)
            out[:, j] = -np.log(np.minimum(p, 1.0))
        return out

    def decision_function(self, X: Any) -> np.ndarray:
        """Sum (or maximum, see `aggregate`) of the per-feature tail scores."""
        tails = self.tail_scores(X)
        if getattr(self, "aggregate", "sum") == "max":  # detectors pickled before the option
            return tails.max(axis=1)
        return tails.sum(axis=1)


class IsolationForestDetector(BaseDetector):
    """scikit-learn's isolation forest: anomalies are isolated by few random splits."""

    def __init__(
        self,
        contamination: float = 0.01,
        n_estimators: int = 100,
        max_samples: int | str = 256,
        random_state: int = 0,
    ) -> None:
        super().__init__(contamination)
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> IsolationForestDetector:
        """Grow the forest on `X` (labels ignored)."""
        from sklearn.ensemble import IsolationForest

        matrix = _as_matrix(X)
        self.n_features_in_ = matrix.shape[1]
        self.flat_: dict[str, Any] | None = None  # caches of an earlier fit
        self.denominator_: float | None = None
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(matrix)
        return self._process_decision_scores(self.decision_function(matrix))

    def decision_function(self, X: Any) -> np.ndarray:
        """Negated sklearn score_samples (higher = more anomalous).

        Walks the trees directly (sklearn's own formula, without its per-tree joblib dispatch,
        which costs ~40 ms for a single row); a test checks it equals `score_samples`.
        """
        from sklearn.ensemble._iforest import _average_path_length

        matrix = np.ascontiguousarray(_as_matrix(X, self.n_features_in_), dtype=np.float32)
        forest = self.forest_
        if len(matrix) <= SMALL_BATCH:
            depths = self._walk_all_trees(matrix)
        else:
            depths = np.zeros(len(matrix))
            for i, (tree, features) in enumerate(
                zip(forest.estimators_, forest.estimators_features_, strict=True)
            ):
                subset = matrix if forest._max_features == matrix.shape[1] else matrix[:, features]
                leaves = tree.tree_.apply(np.ascontiguousarray(subset))
                depths += (
                    forest._decision_path_lengths[i][leaves]
                    + forest._average_path_length_per_tree[i][leaves]
                    - 1.0
                )
        denominator = getattr(self, "denominator_", None)
        if denominator is None:  # sklearn's helper validates its input: ~0.4 ms a call
            denominator = len(forest.estimators_) * float(
                _average_path_length([forest._max_samples])[0]
            )
            self.denominator_ = denominator
        return np.asarray(2 ** (-depths / denominator), dtype=float)

    def _walk_all_trees(self, matrix: np.ndarray) -> np.ndarray:
        """Path lengths summed over the trees, walking every tree at once (a few numpy steps
        per level instead of one call per tree: ~2 ms -> ~0.2 ms for one row)."""
        flat = getattr(self, "flat_", None)
        if flat is None:
            flat = self.flat_ = _flatten_forest(self.forest_)
        nodes = np.broadcast_to(flat["roots"], (len(matrix), len(flat["roots"])))
        for _ in range(flat["depth"]):
            values = np.take_along_axis(matrix, flat["feature"][nodes], axis=1)
            nodes = np.where(
                values <= flat["threshold"][nodes], flat["left"][nodes], flat["right"][nodes]
            )
        return np.asarray(flat["value"][nodes].sum(axis=1), dtype=float)


SMALL_BATCH = 256
"""Up to this many rows the isolation forest walks all its trees at once (serving sizes)."""


def _flatten_forest(forest: Any) -> dict[str, Any]:
    """Every tree's nodes in shared arrays: global feature index, threshold, children (a leaf
    points to itself, so walking `depth` levels always ends on the row's leaf) and the leaf's
    path length as sklearn's `score_samples` counts it."""
    left, right, feature, threshold, value, roots = [], [], [], [], [], []
    offset, depth = 0, 0
    for i, (tree, features) in enumerate(
        zip(forest.estimators_, forest.estimators_features_, strict=True)
    ):
        t = tree.tree_
        own = np.arange(t.node_count)
        leaf = t.children_left == -1
        left.append(np.where(leaf, own, t.children_left) + offset)
        right.append(np.where(leaf, own, t.children_right) + offset)
        feature.append(np.where(leaf, 0, np.asarray(features)[np.maximum(t.feature, 0)]))
        threshold.append(np.where(leaf, np.inf, t.threshold))
        value.append(
            forest._decision_path_lengths[i] + forest._average_path_length_per_tree[i] - 1.0
        )
        roots.append(offset)
        offset += t.node_count
        depth = max(depth, int(t.max_depth))
    return {
        "left": np.concatenate(left),
        "right": np.concatenate(right),
        "feature": np.concatenate(feature).astype(np.intp),
        "threshold": np.concatenate(threshold),
        "value": np.concatenate(value).astype(float),
        "roots": np.asarray(roots, dtype=np.intp),
        "depth": depth,
    }


class SupervisedDetector(BaseDetector):
    """LightGBM on analyst labels; the score is the model's log-odds of abuse.

    `oof_scores_` holds out-of-fold scores of the training rows (for stacking and honest
    training-set diagnostics).
    """

    def __init__(
        self,
        contamination: float = 0.01,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 10,
        n_folds: int = 5,
        random_state: int = 0,
    ) -> None:
        super().__init__(contamination)
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_folds = n_folds
        self.random_state = random_state

    def _model(self) -> Any:
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.random_state,
            n_jobs=1,
            verbose=-1,
        )

    def fit(self, X: Any, y: Any = None) -> SupervisedDetector:
        """Fit on labelled rows; `y` holds 0/1 analyst verdicts (no missing values)."""
        from sklearn.model_selection import StratifiedKFold

        matrix = _as_matrix(X)
        if y is None:
            raise ValueError("SupervisedDetector needs analyst labels y")
        labels = np.asarray(y, dtype=float)
        if len(labels) != len(matrix) or np.isnan(labels).any():
            raise ValueError("y must be one 0/1 label per row, without missing values")
        labels = labels.astype(int)
        if len(set(labels.tolist())) < 2:
            raise ValueError("y must hold both abusive (1) and honest (0) labels")
        self.n_features_in_ = matrix.shape[1]
        oof = np.zeros(len(matrix))
        folds = min(self.n_folds, int(np.bincount(labels).min()))
        if folds >= 2:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            for train, test in splitter.split(matrix, labels):
                model = self._model().fit(matrix[train], labels[train])
                oof[test] = model.predict(matrix[test], raw_score=True)
        self.model_ = self._model().fit(matrix, labels)
        if folds < 2:
            oof = self.model_.predict(matrix, raw_score=True)
        self.oof_scores_ = oof
        return self._process_decision_scores(oof)

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of abuse."""
        matrix = _as_matrix(X, self.n_features_in_)
        # the booster directly, one thread: the scikit-learn wrapper's checks and OpenMP
        # start-up cost more than the trees for the one-row calls of serving
        return np.asarray(
            self.model_.booster_.predict(matrix, raw_score=True, num_threads=1), dtype=float
        )


@dataclass(frozen=True)
class FraudScore:
    """A customer's (or a return's) fraud risk as serving returns it."""

    customer_id: str
    risk_score: float
    risk_level: str
    factors: list[str]
    linked_accounts: list[str]
    detector_scores: dict[str, float]
    factor_features: list[str] = field(default_factory=list)
    """The feature behind each factor, in the same order (for tests and analytics)."""


class CombinedRiskModel(BaseEstimator):
    """Unsupervised + supervised detectors stacked into a calibrated risk with worded factors.

    Parameters: `prior` is the abuse prevalence the calibrated risk assumes (analyst labels
    over-sample abusers; the stacker is reweighted to this prevalence); `medium` / `high` are
    the risk cut-offs of the levels; `n_factors` the factors reported; `factor_tail` the
    training-population tail probability below which a feature counts as a factor.
    """

    def __init__(
        self,
        prior: float = 0.04,
        medium: float = 0.3,
        high: float = 0.7,
        n_factors: int = 3,
        factor_tail: float = 0.05,
        contamination: float = 0.01,
        iforest: dict[str, Any] | None = None,
        supervised: dict[str, Any] | None = None,
        detectors: Sequence[str] = DETECTORS,
        random_state: int = 0,
    ) -> None:
        self.prior = prior
        self.medium = medium
        self.high = high
        self.n_factors = n_factors
        self.factor_tail = factor_tail
        self.contamination = contamination
        self.iforest = iforest
        self.supervised = supervised
        self.detectors = detectors
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def fit(self, X: pd.DataFrame, labels: pd.Series, segments: pd.Series) -> CombinedRiskModel:
        """Fit on all customers' features; `labels` is 1/0/NaN (NaN = never reviewed)."""
        from sklearn.linear_model import LogisticRegression

        if not 0 < self.prior < 1:
            raise ValueError(f"prior must be in (0, 1), got {self.prior}")
        if not 0 < self.medium < self.high < 1:
            raise ValueError("need 0 < medium < high < 1")
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown or not self.detectors:
            raise ValueError(f"detectors must be a non-empty subset of {DETECTORS}")
        matrix = _as_matrix(X, len(CUSTOMER_FEATURES))
        y = pd.to_numeric(pd.Series(labels).reset_index(drop=True), errors="coerce").to_numpy(float)
        seg = pd.Series(segments).astype(str).reset_index(drop=True)
        if len(y) != len(matrix) or len(seg) != len(matrix):
            raise ValueError("X, labels and segments must have the same length")
        self.ecod_ = ECODDetector(self.contamination).fit(matrix)
        self.iforest_ = IsolationForestDetector(
            self.contamination, random_state=self.random_state, **(self.iforest or {})
        ).fit(matrix)
        labelled = ~np.isnan(y)
        self.supervised_ = SupervisedDetector(
            self.contamination, random_state=self.random_state, **(self.supervised or {})
        ).fit(matrix[labelled], y[labelled])
        # stack on out-of-fold supervised scores (unsupervised ones never saw the labels)
        stack = self._stack(matrix[labelled], oof=self.supervised_.oof_scores_)
        target = y[labelled].astype(int)
        positives = max(int(target.sum()), 1)
        negatives = max(int((1 - target).sum()), 1)
        # reweight so the labelled set looks like a population with `prior` abusers
        weights = np.where(target == 1, self.prior / positives, (1 - self.prior) / negatives)
        weights = weights * len(target)
        self.stacker_ = LogisticRegression(C=1.0, max_iter=1000).fit(
            stack, target, sample_weight=weights
        )
        # reference values for the factors: per-feature tails and per-segment medians
        frame = pd.DataFrame(matrix, columns=list(CUSTOMER_FEATURES))
        self.reference_ = np.sort(matrix, axis=0)
        medians = frame.groupby(seg.to_numpy()).median()
        self.segment_medians_ = {
            str(s): {k: float(v) for k, v in row.items()} for s, row in medians.iterrows()
        }
        self.overall_medians_ = {k: float(v) for k, v in frame.median().items()}
        return self

    def _stack(self, matrix: np.ndarray, oof: np.ndarray | None = None) -> np.ndarray:
        """Stacker inputs: logit of each unsupervised rank, the supervised log-odds."""
        ranks = {
            name: (self.ecod_ if name == "ecod" else self.iforest_).predict_proba(matrix)[:, 1]
            for name in self.detectors
            if name != "supervised"
        }
        raw = None
        if "supervised" in self.detectors:
            raw = oof if oof is not None else self.supervised_.decision_function(matrix)
        return self._stack_from(ranks, raw)

    def _stack_from(self, ranks: dict[str, np.ndarray], raw: np.ndarray | None) -> np.ndarray:
        columns = []
        for name in self.detectors:
            if name == "supervised":
                assert raw is not None
                columns.append(np.clip(raw, -12, 12))
            else:
                p = np.clip(ranks[name], 1e-4, 1 - 1e-4)
                columns.append(np.log(p / (1 - p)))
        return np.column_stack(columns)

    # ------------------------------------------------------------------ scoring frames

    def _check_fitted(self) -> None:
        if not hasattr(self, "stacker_"):
            raise RuntimeError("CombinedRiskModel is not fitted; call fit first")

    def detector_scores(self, X: Any) -> dict[str, np.ndarray]:
        """Every detector's outlier probability (0..1, rank-based) and the combined risk."""
        self._check_fitted()
        matrix = _as_matrix(X, len(CUSTOMER_FEATURES))
        sup = self.supervised_.decision_function(matrix)
        ranks = {
            "ecod": self.ecod_.predict_proba(matrix)[:, 1],
            "iforest": self.iforest_.predict_proba(matrix)[:, 1],
        }
        # the binary logistic stacker by hand: sklearn's input checks cost more than the sum
        stacker = self.stacker_
        logit = self._stack_from(ranks, sup) @ stacker.coef_[0] + stacker.intercept_[0]
        combined = 1 / (1 + np.exp(-np.clip(logit, -30, 30)))
        return {
            **ranks,
            "supervised": 1 / (1 + np.exp(-np.clip(sup, -30, 30))),
            "combined": combined,
        }

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns [honest, abusive]: the calibrated risk."""
        risk = self.detector_scores(X)["combined"]
        return np.column_stack([1 - risk, risk])

    def risk_level(self, risk: float) -> str:
        """low / medium / high by the configured cut-offs."""
        if risk >= self.high:
            return "high"
        if risk >= self.medium:
            return "medium"
        return "low"

    def explain(
        self,
        features: dict[str, float],
        segment: str,
        snapshot: dict[str, float] | None = None,
    ) -> list[tuple[str, str]]:
        """Top factors as (feature, words): the rarest values in the training population.

        A feature counts when its value is in the suspicious tail (probability below
        `factor_tail`); at least one factor is always given (the rarest value).
        """
        self._check_fitted()
        n = self.reference_.shape[0]
        rarity: list[tuple[float, str]] = []
        for j, name in enumerate(CUSTOMER_FEATURES):
            value = float(features[name])
            column = self.reference_[:, j]
            if DIRECTIONS[name] > 0:
                if value <= 0:
                    continue
                tail = (n - np.searchsorted(column, value, side="left") + 1) / (n + 1)
            else:
                tail = (np.searchsorted(column, value, side="right") + 1) / (n + 1)
            rarity.append((float(tail), name))
        rarity.sort()
        chosen = [r for r in rarity if r[0] <= self.factor_tail][: self.n_factors]
        if not chosen and rarity:
            chosen = rarity[:1]
        medians = self.segment_medians_.get(segment, self.overall_medians_)
        return [
            (name, describe(name, float(features[name]), medians.get(name, 0.0), snapshot))
            for _, name in chosen
        ]

    # ------------------------------------------------------------------ serving API

    def score_customers(
        self, state: CustomerState, customer_ids: Sequence[str] | None = None
    ) -> list[FraudScore]:
        """Score customers of `state` (all of them by default) in one batch."""
        ids = list(state.customer_ids() if customer_ids is None else customer_ids)
        if not ids:
            return []
        snapshots = [state.snapshot(c) for c in ids]
        frame = pd.DataFrame([customer_features(s) for s in snapshots], columns=CUSTOMER_FEATURES)
        scores = self.detector_scores(frame)
        out = []
        for i, cid in enumerate(ids):
            out.append(
                self._score(
                    cid,
                    frame.iloc[i].to_dict(),
                    snapshots[i],
                    state,
                    {k: float(v[i]) for k, v in scores.items()},
                )
            )
        return out

    def _score(
        self,
        customer_id: str,
        features: dict[str, float],
        snapshot: dict[str, float],
        state: CustomerState,
        scores: dict[str, float],
        extra: list[tuple[str, str]] | None = None,
    ) -> FraudScore:
        risk = float(scores["combined"])
        factors = self.explain(features, state.segment(customer_id), snapshot)
        factors = factors + (extra or [])
        return FraudScore(
            customer_id=customer_id,
            risk_score=risk,
            risk_level=self.risk_level(risk),
            factors=[text for _, text in factors],
            linked_accounts=sorted(state.linked_accounts(customer_id)),
            detector_scores={k: round(v, 6) for k, v in scores.items()},
            factor_features=[name for name, _ in factors],
        )

    def score_case(self, case: ReturnCase, state: CustomerState) -> FraudScore:
        """Risk of a return request: its customer as if this return were added (state untouched).

        Event factors (credit far above the SKU's or the customer's usual, a request at the end
        of the window, a not-received claim on a delivered line) are added to the customer's.
        """
        customer_id = case.customer.customer_id
        before = state.snapshot(customer_id)
        returns_before = before["returns_count"]
        mean_before = before["return_value"] / returns_before if returns_before else 0.0
        _, sku_mean = state.sku_norm(case.request.sku)
        view = state.copy_for(customer_id, case.request.sku)
        view.update_from_case(case)
        event = ReturnEvent.from_case(case)
        snapshot = view.snapshot(customer_id)
        features = customer_features(snapshot)
        row = np.array([[features[name] for name in CUSTOMER_FEATURES]], dtype=float)
        scores = {k: float(v[0]) for k, v in self.detector_scores(row).items()}
        ev = event_features(
            event.value,
            mean_before,
            sku_mean,
            event.days_since_delivery,
            event.return_window_days,
            event.claim_type == "NOT_RECEIVED" and event.delivery_confirmed,
        )
        extra: list[tuple[str, str]] = []
        if ev["value_vs_sku"] >= 3.0:
            extra.append(("value_vs_sku", describe("value_vs_sku", ev["value_vs_sku"], 0.0)))
        if returns_before >= 3 and ev["value_vs_customer"] >= 3.0:
            extra.append(
                ("value_vs_customer", describe("value_vs_customer", ev["value_vs_customer"], 0.0))
            )
        if ev["window_used"] >= 0.9 and event.claim_type == "RETURN":
            extra.append(("window_used", describe("window_used", ev["window_used"], 0.0)))
        scores.update({f"event_{k}": v for k, v in ev.items()})
        return self._score(customer_id, features, snapshot, view, scores, extra)

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> Path:
        """Write the fitted model (parameters as JSON, fitted parts with joblib)."""
        import joblib

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params["detectors"] = list(params["detectors"])
        (directory / "params.json").write_text(
            json.dumps({"kind": "fraud-combined", "features": list(CUSTOMER_FEATURES), **params}),
            encoding="utf-8",
        )
        joblib.dump(
            {
                "ecod": self.ecod_,
                "iforest": self.iforest_,
                "supervised": self.supervised_,
                "stacker": self.stacker_,
                "reference": self.reference_,
                "segment_medians": self.segment_medians_,
                "overall_medians": self.overall_medians_,
            },
            directory / "fitted.joblib",
        )
        return directory

    @classmethod
    def load(cls, directory: Path) -> CombinedRiskModel:
        """A fitted model read back from a folder written by `save`."""
        import joblib

        directory = Path(directory)
        meta = json.loads((directory / "params.json").read_text(encoding="utf-8"))
        if meta.pop("kind", None) != "fraud-combined":
            raise ValueError(f"{directory} does not hold a combined fraud model")
        if meta.pop("features") != list(CUSTOMER_FEATURES):
            raise ValueError("saved model was trained on a different feature list")
        model = cls(**meta)
        parts = joblib.load(directory / "fitted.joblib")
        model.ecod_ = parts["ecod"]
        model.iforest_ = parts["iforest"]
        model.supervised_ = parts["supervised"]
        model.stacker_ = parts["stacker"]
        model.reference_ = parts["reference"]
        model.segment_medians_ = parts["segment_medians"]
        model.overall_medians_ = parts["overall_medians"]
        return model


def features_frame(state: CustomerState, customer_ids: Sequence[str]) -> pd.DataFrame:
    """Feature rows (CUSTOMER_FEATURES columns) of customers, indexed by customer id."""
    rows = [customer_features(state.snapshot(c)) for c in customer_ids]
    return pd.DataFrame(rows, index=pd.Index(list(customer_ids), name="customer_id"),
                        columns=list(CUSTOMER_FEATURES))  # fmt: skip


def score_inspectors(
    state: CustomerState, min_concentration: float | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Inspector-level view of the insider pattern, most suspicious first.

    For each inspector: cases, share graded new/like-new against the site's other inspectors
    (a binomial z-score: lenient grading), and the customers whose returns pile onto this
    inspector beyond chance (`inspector_concentration` >= `min_concentration`). The score is
    the count of such customers plus the positive leniency z.

    The default threshold grows with the number of customers tested (Bonferroni at `alpha`,
    at least 3): with a fixed z of 3, a world of 36,000 customers has hundreds of chance
    concentrations, spread over every inspector, that bury an insider's few accomplices.
    """
    if min_concentration is None:
        tested = max(len(state.inspector_counts), 1)
        min_concentration = max(3.0, NormalDist().inv_cdf(1 - alpha / tested))
    rows = []
    for site, staff in state.site_inspectors.items():
        for inspector in staff:
            agg = state.inspectors.get(inspector)
            if not agg or not agg["cases"]:
                continue
            peers = [state.inspectors[i] for i in staff if i != inspector and i in state.inspectors]
            peer_cases = sum(p["cases"] for p in peers)
            peer_good = sum(p["graded_good"] for p in peers) / peer_cases if peer_cases else 0.5
            peer_good = min(max(peer_good, 1e-3), 1 - 1e-3)
            share = agg["graded_good"] / agg["cases"]
            z = (share - peer_good) / math.sqrt(peer_good * (1 - peer_good) / agg["cases"])
            rows.append(
                {
                    "inspector_id": inspector,
                    "warehouse": site,
                    "cases": agg["cases"],
                    "graded_good_share": share,
                    "site_graded_good_share": peer_good,
                    "leniency_z": z,
                    "concentrated_customers": 0,
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    counts: dict[str, int] = {}
    for customer_id, per in state.inspector_counts.items():
        snap = state.snapshot(customer_id)
        z = customer_features(snap)["inspector_concentration"]
        if z >= min_concentration and per:
            top = max(per, key=lambda k: per[k])
            counts[top] = counts.get(top, 0) + 1
    frame["concentrated_customers"] = frame["inspector_id"].map(counts).fillna(0).astype(int)
    frame["score"] = frame["concentrated_customers"] + frame["leniency_z"].clip(lower=0)
    return frame.sort_values("score", ascending=False).reset_index(drop=True)


class FraudModel(PythonModel):
    """Feature rows in (`customer_id`, `segment`, the CUSTOMER_FEATURES), risk out.

    Keeps `self.estimator` (the `CombinedRiskModel`, for `score_case` / `score_customers`) and
    `self.state` (the training world's `CustomerState`, when logged) after `load_context`.
    """

    def __init__(self) -> None:
        self.estimator: Any = None
        self.state: CustomerState | None = None

    def load_context(self, context: Any) -> None:
        """Load the estimator (and the customer state when present) from the artifacts."""
        from models.pyfunc import load_estimator

        self.estimator = load_estimator(Path(context.artifacts["estimator"]))
        state_path = context.artifacts.get("customer_state")
        self.state = CustomerState.load(Path(state_path)) if state_path else None

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """One row per customer: risk_score, risk_level, factors (JSON list of strings)."""
        return fraud_frame(self.estimator, model_input)


def fraud_frame(estimator: CombinedRiskModel, model_input: pd.DataFrame) -> pd.DataFrame:
    """Score feature rows: `customer_id`, `risk_score`, `risk_level`, `factors` (JSON)."""
    missing = [c for c in ("customer_id", *CUSTOMER_FEATURES) if c not in model_input.columns]
    if missing:
        raise ValueError(f"missing input column(s): {', '.join(missing)}")
    features = model_input[list(CUSTOMER_FEATURES)].astype(float)
    risk = estimator.detector_scores(features)["combined"]
    segments = (
        model_input["segment"].astype(str)
        if "segment" in model_input
        else pd.Series("UNKNOWN", index=model_input.index)
    )
    factors = [
        json.dumps([text for _, text in estimator.explain(row, seg)])
        for row, seg in zip(features.to_dict("records"), segments, strict=True)
    ]
    return pd.DataFrame(
        {
            "customer_id": model_input["customer_id"].astype(str).to_numpy(),
            "risk_score": risk.astype(float),
            "risk_level": [estimator.risk_level(float(r)) for r in risk],
            "factors": factors,
        }
    )


_INPUTS: list[ColSpec | TensorSpec] = [
    ColSpec("string", "customer_id"),
    ColSpec("string", "segment", required=False),
]
_INPUTS += [ColSpec("double", name) for name in CUSTOMER_FEATURES]
FRAUD_SIGNATURE = ModelSignature(
    inputs=Schema(_INPUTS),
    outputs=Schema(
        [
            ColSpec("string", "customer_id"),
            ColSpec("double", "risk_score"),
            ColSpec("string", "risk_level"),
            ColSpec("string", "factors"),
        ]
    ),
)
