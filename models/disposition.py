"""Disposition models: LightGBM with explanations, an ERP-style rules baseline, and the cost model.

Inputs are feature rows from `features.disposition.disposition_features` (the same code in
training and serving), one dict per case.

- `DispositionClassifier` (scikit-learn contract): two LightGBM multiclass heads on the same
  features: the *disposition* head learns what the business decides (its probabilities are the
  calibrated `predict_proba`), the *condition* head learns the true ConditionGrade of the goods.
  Both are calibrated by temperature scaling on the last `calibration_fraction` of the training
  rows (pass rows in time order, so calibration looks at a later period). Per-SKU history
  (how often the SKU came back and what was done with it) is learned at fit time, out of fold;
  a SKU with no history is predicted as the average over known SKUs of its category
  (`sku_draws`), so its unknown SKU effect lowers the confidence. With `decision="value"` the
  recommendation is the disposition with the highest expected recovery value (condition
  probabilities x the cost model); with `decision="argmax"` it is the most probable business
  decision. Confidence of a value decision = P(it is the best disposition for the goods' true
  condition). Training adds copies of the rows with one side input removed
  (`missing_input_augmentation`), because side inputs are missing not at random (damaged goods
  come with photos more often): the copies teach the model that an absent damage assessment,
  note or grade means less evidence.
  `explain()` turns path attributions (one `pred_leaf` pass and a table lookup per tree, see
  `PathTables`) into short sentences; `contributions()` gives TreeSHAP values for analysis
  (about 1 ms per class and case for 150 rounds, too slow to serve).
- `RulesBaseline`: the rule table an ERP return module is configured with (customer reason code
  + inspection condition + category -> disposition), each cell chosen on the training period by
  the best mean realised recovery value (`objective="value"`) or by majority; sparse cells fall
  back to (condition, category), (condition) and the overall choice. Usable alone as the serving
  fallback: `predict_cases` returns the same `DispositionPrediction`.
- `CostModel`: `models/conf/recovery.yml`; recovery value of each disposition given the true
  condition and the item, and expected recovery value given condition probabilities.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from mlflow.pyfunc import PythonModel
from sklearn.base import BaseEstimator

from features.codes import Disposition
from features.disposition import CATEGORICAL, CONDITIONS, FEATURE_NAMES, MISSING, NUMERIC

DISPOSITIONS: tuple[str, ...] = tuple(d.value for d in Disposition)
SKU_FEATURES: tuple[str, ...] = (
    "sku_log_returns",
    *(f"sku_share_{d.lower()}" for d in DISPOSITIONS),
)
MODEL_FEATURES: tuple[str, ...] = (*FEATURE_NAMES, *SKU_FEATURES)
META_FILE = "disposition.json"
TOP_REASONS = 3


# --------------------------------------------------------------------------- cost model


VALUE_INPUTS = (
    "unit_price",
    "unit_cost",
    "quantity",
    "refurbishable",
    "vendor_return_agreement",
    "regulated",
    "in_warranty",
    "expired",
    "category",
)
"""The feature columns `CostModel.values` reads."""


@dataclass(frozen=True)
class CostModel:
    """Recovery value of each disposition given the true condition (config: recovery.yml)."""

    config: dict[str, Any]
    version: str

    @classmethod
    def from_text(cls, text: str) -> CostModel:
        """Parse and check recovery YAML text; errors name the field."""
        config = yaml.safe_load(text)
        for key in ("basis", "recovery_fraction", "handling_cost"):
            table = config.get(key)
            if not isinstance(table, dict) or set(table) != set(DISPOSITIONS):
                raise ValueError(f"recovery.{key}: needs exactly the dispositions {DISPOSITIONS}")
        for disposition, row in config["recovery_fraction"].items():
            if set(row) != set(CONDITIONS):
                raise ValueError(f"recovery.recovery_fraction.{disposition}: needs {CONDITIONS}")
        for disposition, basis in config["basis"].items():
            if basis not in ("unit_price", "unit_cost"):
                raise ValueError(f"recovery.basis.{disposition}: unit_price or unit_cost")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return cls(config=config, version=f"recovery-{digest}")

    def values(self, frame: Any, condition: Sequence[str] | np.ndarray) -> np.ndarray:
        """Recovery value (currency) of each disposition, shape (n, 6) in `DISPOSITIONS` order,
        for cases whose goods are in the given true `condition`. `frame` is a DataFrame of
        feature rows, or any mapping of feature name -> array."""
        cfg = self.config
        cond = np.asarray(condition, dtype=object)
        unknown = sorted(set(cond) - set(CONDITIONS))
        if unknown:
            raise ValueError(f"condition: unknown grades {unknown}")

        def column(name: str) -> np.ndarray:
            return np.asarray(frame[name], dtype=float)

        price, cost, quantity = column("unit_price"), column("unit_cost"), column("quantity")
        refurbishable = column("refurbishable") > 0.5
        vendor = column("vendor_return_agreement") > 0.5
        regulated = column("regulated") > 0.5
        in_warranty = np.nan_to_num(column("in_warranty")) > 0.5
        expired = np.nan_to_num(column("expired")) > 0.5
        category = np.asarray(frame["category"]).astype(str)
        food = np.isin(category, list(cfg.get("food_categories", [])))
        opened = cond != "NEW"

        def by_condition(table: Mapping[str, float]) -> np.ndarray:
            return np.array([float(table[c]) for c in cond], dtype=float)

        out = np.zeros((len(cond), len(DISPOSITIONS)))
        for k, disposition in enumerate(DISPOSITIONS):
            basis = price if cfg["basis"][disposition] == "unit_price" else cost
            fraction = by_condition(cfg["recovery_fraction"][disposition])
            out[:, k] = fraction * basis - float(cfg["handling_cost"][disposition])
        restock = DISPOSITIONS.index("RESTOCK")
        resale = DISPOSITIONS.index("RESALE_DISCOUNTED")
        for index, key in ((restock, "re_return"), (resale, "resale_re_return")):
            spec = cfg.get(key)
            if spec:
                probability = by_condition(spec["probability"])
                kept = by_condition(cfg["recovery_fraction"][DISPOSITIONS[index]])
                loss = probability * (
                    (kept + float(spec["cost_fraction"])) * price + float(spec["fixed_cost"])
                )
                out[:, index] -= loss
        refurb = DISPOSITIONS.index("REFURBISH")
        out[:, refurb] -= float(cfg.get("refurbish_cost_fraction", 0.0)) * price
        eligibility = cfg.get("eligibility", {})
        if eligibility.get("refurbish_needs_refurbishable", True):
            # not repairable: the unit comes back from repair and is scrapped, costs paid twice
            scrap = DISPOSITIONS.index("SCRAP")
            fallback = out[:, scrap] - float(cfg["handling_cost"]["REFURBISH"])
            out[:, refurb] = np.where(refurbishable, out[:, refurb], fallback)
        rtv = DISPOSITIONS.index("RETURN_TO_VENDOR")
        accepted = np.ones(len(cond), dtype=bool)
        if eligibility.get("vendor_needs_agreement", True):
            accepted &= vendor
        if eligibility.get("vendor_defect_needs_warranty", True):
            defect = np.isin(cond, ["DAMAGED", "NON_FUNCTIONAL"])
            accepted &= ~defect | in_warranty
        refused = float(eligibility.get("refused_vendor_claim_fraction", 0.0)) * cost - float(
            cfg["handling_cost"]["RETURN_TO_VENDOR"]
        )
        out[:, rtv] = np.where(accepted, out[:, rtv], refused)
        regulated_table = cfg.get("regulated_quarantine_fraction")
        if regulated_table:
            quarantine = DISPOSITIONS.index("QUARANTINE")
            value = by_condition(regulated_table) * price - float(
                cfg["handling_cost"]["QUARANTINE"]
            )
            out[:, quarantine] = np.where(regulated, value, out[:, quarantine])
        penalty = cfg.get("compliance_penalty")
        if penalty:
            breach = np.zeros(len(cond), dtype=bool)
            if penalty.get("opened_regulated", True):
                breach |= regulated & opened
            if penalty.get("opened_food", True):
                breach |= food & opened
            if penalty.get("expired", True):
                breach |= expired
            amount = float(penalty["fraction"]) * price + float(penalty["fixed"])
            for disposition in penalty.get("dispositions", []):
                out[:, DISPOSITIONS.index(disposition)] -= np.where(breach, amount, 0.0)
        return out * quantity[:, None]

    def value_table(self, frame: Any) -> np.ndarray:
        """Recovery values for every possible condition: shape (n, len(CONDITIONS), 6).

        One `values` call over every row repeated once per condition (one call per condition
        cost five times the fixed numpy overhead, which dominates for a single case)."""
        n = len(np.asarray(frame["unit_price"]))
        repeated = {
            name: np.repeat(np.asarray(frame[name]), len(CONDITIONS)) for name in VALUE_INPUTS
        }
        values = self.values(repeated, np.tile(np.asarray(CONDITIONS, dtype=object), n))
        return values.reshape(n, len(CONDITIONS), len(DISPOSITIONS))

    def expected_values(self, frame: Any, condition_proba: np.ndarray) -> np.ndarray:
        """Expected recovery value of each disposition, (n, 6), given P(condition) (n, 5)."""
        return np.einsum("nc,ncd->nd", np.asarray(condition_proba, float), self.value_table(frame))


def load_cost_model(path: Path | None = None) -> CostModel:
    """The cost model from `path`, or the packaged `models/conf/recovery.yml`."""
    if path is not None:
        return CostModel.from_text(Path(path).read_text(encoding="utf-8"))
    return _packaged_cost_model()


@lru_cache(maxsize=1)
def _packaged_cost_model() -> CostModel:

    text = (Path(__file__).parent / "conf" / "recovery.yml").read_text(encoding="utf-8")
    return CostModel.from_text(text)


# --------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class DispositionPrediction:
    """One recommendation: the disposition, its confidence, the calibrated probabilities of
    each disposition, the expected recovery value of the recommendation (currency) and short
    human-readable reasons."""

    disposition: str
    confidence: float
    probabilities: dict[str, float]
    expected_recovery_value: float
    reasons: list[str] = field(default_factory=list)
    expected_values: dict[str, float] = field(default_factory=dict)


def feature_frame(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Feature rows as a frame with every feature column (checked: a missing column is named)."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if len(frame) == 0:
        return pd.DataFrame(columns=[*FEATURE_NAMES, "sku"])
    missing = [name for name in (*FEATURE_NAMES, "sku") if name not in frame.columns]
    if missing:
        raise ValueError(f"feature rows lack {missing} (build them with disposition_features)")
    for name in NUMERIC:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    for name in CATEGORICAL:
        frame[name] = frame[name].fillna(MISSING).astype(str)
    frame["sku"] = frame["sku"].astype(str)
    return frame.reset_index(drop=True)


def feature_columns(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> dict[str, np.ndarray]:
    """Feature rows as numpy columns (the fast serving path; a missing key is named)."""
    if isinstance(rows, pd.DataFrame):
        frame = feature_frame(rows)
        return {name: frame[name].to_numpy() for name in (*FEATURE_NAMES, "sku")}
    records = list(rows)
    for i, row in enumerate(records):
        missing = [name for name in (*FEATURE_NAMES, "sku") if name not in row]
        if missing:
            raise ValueError(
                f"feature row {i} lacks {missing} (build it with disposition_features)"
            )
    columns: dict[str, np.ndarray] = {}
    for name in NUMERIC:
        try:
            columns[name] = np.array([row[name] for row in records], dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"feature {name}: not a number ({exc})") from exc
    for name in CATEGORICAL:
        columns[name] = np.array(
            [MISSING if row[name] is None else str(row[name]) for row in records], dtype=object
        )
    columns["sku"] = np.array([str(row["sku"]) for row in records], dtype=object)
    return columns


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def _fit_temperature(logits: np.ndarray, y_index: np.ndarray) -> float:
    from models.reason import fit_temperature

    return fit_temperature(logits, y_index)


# --------------------------------------------------------------------------- LightGBM model


@dataclass(frozen=True)
class PathTables:
    """Per-leaf path attributions of a LightGBM model, for `pred_leaf` lookups.

    `values[t, l]` is leaf `l`'s output in tree `t`; `contrib[t, l]` splits it along the
    decision path from the root: each split adds E[child] - E[node] (cover-weighted mean
    leaf values of the subtrees) to its feature's group, so a tree's row sums to the leaf value
    minus `bias[t]` (= E[root]). Summed over one class's trees, a row's attributions plus the
    bias add up to that class's raw score exactly (Saabas' path attribution: a leaf lookup per
    tree instead of TreeSHAP's walk over every path; measured here for two classes of a
    150-round model, ~0.2 ms a case with the `pred_leaf` pass against ~2.7 ms).
    """

    values: np.ndarray
    contrib: np.ndarray
    bias: np.ndarray

    def attributions(self, leaves: np.ndarray, trees: np.ndarray) -> np.ndarray:
        """Group attributions of rows whose leaf indices are `leaves` (n, T), summed over the
        tree indices in the last axis of `trees` (n, ..., k): shape (n, ..., n_groups)."""
        rows = np.arange(len(leaves)).reshape((-1,) + (1,) * (trees.ndim - 1))
        return self.contrib[trees, leaves[rows, trees]].sum(axis=-2)


def path_tables(booster: Any, groups: np.ndarray) -> PathTables:
    """`PathTables` of `booster`, attributions summed by `groups` ((n_features, n_groups),
    one-hot: feature -> its group). Reads the model text (`dump_model` JSON costs ~1 s)."""
    trees = [_tree_arrays(block) for block in booster.model_to_string().split("\nTree=")[1:]]
    n_leaves = max(len(tree["leaf_value"]) for tree in trees)
    group_of = groups.argmax(axis=1)
    values = np.zeros((len(trees), n_leaves))
    contrib = np.zeros((len(trees), n_leaves, groups.shape[1]))
    bias = np.zeros(len(trees))
    for t, tree in enumerate(trees):
        leaf_value, leaf_count = tree["leaf_value"], tree["leaf_count"]
        values[t, : len(leaf_value)] = leaf_value
        if "split_feature" not in tree:  # a single leaf
            bias[t] = leaf_value[0]
            continue
        left, right = tree["left_child"].astype(int), tree["right_child"].astype(int)
        # children: n >= 0 is internal node n, n < 0 is leaf ~n; internal nodes are numbered
        # so that each parent comes before its children
        count = np.zeros(len(left))
        total = np.zeros(len(left))
        for node in range(len(left) - 1, -1, -1):
            for child in (left[node], right[node]):
                if child < 0:
                    count[node] += leaf_count[~child]
                    total[node] += leaf_count[~child] * leaf_value[~child]
                else:
                    count[node] += count[child]
                    total[node] += total[child]
        node_mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        bias[t] = node_mean[0]
        group = group_of[tree["split_feature"].astype(int)]
        paths: list[np.ndarray] = [np.zeros(groups.shape[1])] * len(left)
        for node in range(len(left)):
            for child in (left[node], right[node]):
                step = paths[node].copy()
                child_mean = leaf_value[~child] if child < 0 else node_mean[child]
                step[group[node]] += child_mean - node_mean[node]
                if child < 0:
                    contrib[t, ~child] = step
                else:
                    paths[child] = step
    return PathTables(values=values, contrib=contrib, bias=bias)


def _tree_arrays(block: str) -> dict[str, np.ndarray]:
    """The numeric arrays of one tree in LightGBM's model text (`key=v1 v2 ...` lines)."""
    out = {}
    for line in block.split("\nend of trees")[0].splitlines()[1:]:
        key, sep, text = line.partition("=")
        if sep and key in _TREE_KEYS:
            out[key] = np.array(text.split(), dtype=float)
    return out


_TREE_KEYS = frozenset({"split_feature", "left_child", "right_child", "leaf_value", "leaf_count"})


_PATH_TABLES_LOCK = threading.Lock()


class DispositionClassifier(BaseEstimator):
    """LightGBM disposition + condition heads, temperature-calibrated, with explanations."""

    _path_tables: PathTables | None = None

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        reg_lambda: float = 1.0,
        colsample_bytree: float = 0.8,
        calibration_fraction: float = 0.2,
        sku_smoothing: float = 5.0,
        sku_folds: int = 5,
        sku_draws: int = 32,
        missing_input_augmentation: float = 1.0,
        decision: str = "value",
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.calibration_fraction = calibration_fraction
        self.sku_smoothing = sku_smoothing
        self.sku_folds = sku_folds
        self.sku_draws = sku_draws
        self.missing_input_augmentation = missing_input_augmentation
        self.decision = decision
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        y: Sequence[str],
        condition: Sequence[str],
    ) -> DispositionClassifier:
        """Fit on feature rows in time order, their dispositions and the true condition grades.

        The last `calibration_fraction` of the rows calibrates both heads; returns self.
        """
        if self.decision not in ("value", "argmax"):
            raise ValueError(f"decision: {self.decision!r} is not 'value' or 'argmax'")
        started = time.perf_counter()
        self._path_tables = None
        frame = feature_frame(rows)
        labels = np.asarray([str(v) for v in y], dtype=object)
        grades = np.asarray([str(v) for v in condition], dtype=object)
        if not len(frame) == len(labels) == len(grades):
            raise ValueError(f"{len(frame)} rows, {len(labels)} labels, {len(grades)} conditions")
        bad = sorted(set(labels) - set(DISPOSITIONS))
        if bad:
            raise ValueError(f"y: unknown dispositions {bad}")
        bad = sorted(set(grades) - set(CONDITIONS))
        if bad:
            raise ValueError(f"condition: unknown grades {bad}")
        n_cal = round(self.calibration_fraction * len(frame))
        n_fit = len(frame) - n_cal
        if n_fit < 50:
            raise ValueError(f"need at least 50 rows to fit on, got {n_fit}")
        y_index = np.array([DISPOSITIONS.index(v) for v in labels])
        c_index = np.array([CONDITIONS.index(v) for v in grades])
        self.vocabularies_ = {
            name: list(values) if values is not None else sorted(set(frame[name][:n_fit]))
            for name, values in CATEGORICAL.items()
        }
        for values in self.vocabularies_.values():
            if MISSING not in values:
                values.append(MISSING)
        self._vocab_index_cache: dict[str, dict[str, int]] | None = None
        fit_part = frame.iloc[:n_fit].reset_index(drop=True)
        self.prior_ = np.bincount(y_index[:n_fit], minlength=len(DISPOSITIONS)) / n_fit
        oof = self._sku_oof(fit_part, y_index[:n_fit])
        self._learn_sku_stats(fit_part["sku"].to_numpy(), y_index[:n_fit])
        self.sku_category_ = dict(zip(fit_part["sku"], fit_part["category"], strict=True))
        self._draw_cache: dict[str, np.ndarray] = {}
        rows, groups = self._masked_copies(fit_part)
        x_own = self._matrix(fit_part, oof)
        x_extra = x_own[rows].copy()
        for group, masked in _SIDE_INPUT_MASK.items():
            hit = np.flatnonzero(groups == group)
            for column, value in masked.items():
                j = MODEL_FEATURES.index(column)
                x_extra[hit, j] = self._code(column, value) if column in CATEGORICAL else value
        x_fit = np.vstack([x_own, x_extra])
        y_fit = np.concatenate([y_index[:n_fit], y_index[:n_fit][rows]])
        c_fit = np.concatenate([c_index[:n_fit], c_index[:n_fit][rows]])
        self.disposition_booster_ = self._train(x_fit, y_fit, len(DISPOSITIONS))
        self.condition_booster_ = self._train(x_fit, c_fit, len(CONDITIONS))
        if n_cal > 0:
            x_cal = self._matrix(frame.iloc[n_fit:].reset_index(drop=True))
            self.temperature_ = _fit_temperature(
                self._raw(self.disposition_booster_, x_cal), y_index[n_fit:]
            )
            self.condition_temperature_ = _fit_temperature(
                self._raw(self.condition_booster_, x_cal), c_index[n_fit:]
            )
        else:
            self.temperature_ = self.condition_temperature_ = 1.0
        self.classes_ = np.array(DISPOSITIONS)
        self.n_train_, self.n_calibration_ = n_fit, n_cal
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _train(self, x: np.ndarray, y_index: np.ndarray, n_classes: int) -> Any:
        import lightgbm as lgb

        params = {
            "objective": "multiclass",
            "num_class": n_classes,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "feature_fraction": self.colsample_bytree,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": 1,
            "verbosity": -1,
        }
        dataset = lgb.Dataset(
            x,
            label=y_index,
            feature_name=list(MODEL_FEATURES),
            categorical_feature=[MODEL_FEATURES.index(name) for name in CATEGORICAL],
        )
        return lgb.train(params, dataset, num_boost_round=self.n_estimators)

    def _masked_copies(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Rows to copy with one present side input removed (photo, note, inspection grade or
        customer history), a random `missing_input_augmentation` share; returns (row index,
        removed group) arrays.

        Side inputs are missing not at random (damaged goods come with photos more often), so
        without these copies the model reads "no photo" as "no damage" and grows *more* sure
        when evidence is removed; with them, a missing input means less evidence."""
        rng = np.random.default_rng([self.random_state, 0x5EED])
        present = {
            group: (frame[column] != MISSING).to_numpy()
            if column in CATEGORICAL
            else frame[column].notna().to_numpy()
            for group, column in _SIDE_INPUT_PRESENT.items()
        }
        rows: list[int] = []
        groups: list[str] = []
        for i in np.flatnonzero(rng.random(len(frame)) < self.missing_input_augmentation):
            available = [group for group, mask in present.items() if mask[i]]
            if available:
                rows.append(int(i))
                groups.append(available[int(rng.integers(len(available)))])
        return np.asarray(rows, dtype=int), np.asarray(groups, dtype=object)

    def _sku_oof(self, frame: pd.DataFrame, y_index: np.ndarray) -> np.ndarray:
        """Per-SKU history features for training rows, each computed without its own fold."""
        n = len(frame)
        folds = np.arange(n) % max(self.sku_folds, 2)
        rng = np.random.default_rng(self.random_state)
        rng.shuffle(folds)
        skus = frame["sku"].to_numpy()
        out = np.zeros((n, len(SKU_FEATURES)))
        for fold in np.unique(folds):
            held = folds == fold
            counts, shares = _sku_table(
                skus[~held], y_index[~held], self.prior_, self.sku_smoothing
            )
            out[held] = _sku_lookup(skus[held], counts, shares, self.prior_)
        return out

    def _learn_sku_stats(self, skus: np.ndarray, y_index: np.ndarray) -> None:
        counts, shares = _sku_table(skus, y_index, self.prior_, self.sku_smoothing)
        self.sku_counts_ = counts
        self.sku_shares_ = shares

    def _code(self, name: str, value: str) -> float:
        """The category code LightGBM sees (NaN, i.e. missing, for an unseen value)."""
        index = self._vocab_index[name].get(value)
        return float("nan") if index is None else float(index)

    @property
    def _vocab_index(self) -> dict[str, dict[str, int]]:
        cached: dict[str, dict[str, int]] | None = getattr(self, "_vocab_index_cache", None)
        if cached is None:
            cached = {
                name: {value: i for i, value in enumerate(values)}
                for name, values in self.vocabularies_.items()
            }
            self._vocab_index_cache = cached
        return cached

    def _matrix(self, columns: Any, sku: np.ndarray | None = None) -> np.ndarray:
        """The model matrix (float, `MODEL_FEATURES` order): category codes from the fitted
        vocabularies, numbers, SKU history; `columns` is a DataFrame or `feature_columns`."""
        n = len(np.asarray(columns["sku"]))
        x = np.empty((n, len(MODEL_FEATURES)))
        j = 0
        for name in CATEGORICAL:
            index = self._vocab_index[name]
            x[:, j] = [index.get(v, np.nan) for v in np.asarray(columns[name])]
            j += 1
        for name in NUMERIC:
            x[:, j] = np.asarray(columns[name], dtype=float)
            j += 1
        if sku is None:
            sku = _sku_lookup(
                np.asarray(columns["sku"]), self.sku_counts_, self.sku_shares_, self.prior_
            )
        x[:, j:] = sku
        return x

    @staticmethod
    def _raw(booster: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(x, raw_score=True, num_threads=1))

    # -- predicting ----------------------------------------------------------------------------
    def predict_proba(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """Calibrated disposition probabilities, (n, 6), columns in `classes_` order."""
        frame = feature_columns(rows)
        return self._heads(frame, self._matrix(frame))[0]

    def condition_proba(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities of the goods' true condition, (n, 5), in CONDITIONS order."""
        frame = feature_columns(rows)
        return self._heads(frame, self._matrix(frame))[1]

    def _heads(self, frame: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Disposition and condition probabilities of the model matrix `x`.

        A SKU with no return history has an unknown SKU effect (a recall, a lemon): its
        rows are predicted as the average over `sku_draws` known SKUs of the same category (the
        predictive distribution over what the new SKU may turn out to be), not with a point
        guess, so the answer carries that uncertainty."""
        proba = _softmax(self._raw(self.disposition_booster_, x) / self.temperature_)
        cond = _softmax(self._raw(self.condition_booster_, x) / self.condition_temperature_)
        if self.sku_draws <= 0:
            return proba, cond
        skus = np.asarray(frame["sku"])
        new = np.flatnonzero([sku not in self.sku_counts_ for sku in skus])
        if len(new) == 0:
            return proba, cond
        categories = np.asarray(frame["category"])[new]
        draws = [self._sku_draws_for(str(c)) for c in categories]
        sizes = np.array([len(d) for d in draws])
        expanded = np.repeat(x[new], sizes, axis=0)
        expanded[:, len(FEATURE_NAMES) :] = np.vstack(draws)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        for out, booster, temperature in (
            (proba, self.disposition_booster_, self.temperature_),
            (cond, self.condition_booster_, self.condition_temperature_),
        ):
            each = _softmax(self._raw(booster, expanded) / temperature)
            out[new] = np.add.reduceat(each, starts, axis=0) / sizes[:, None]
        return proba, cond

    def _sku_draws_for(self, category: str) -> np.ndarray:
        """SKU-history feature rows of `sku_draws` known SKUs of `category` (of all categories
        for an unknown one), drawn in proportion to their returns: a case is a return, and a
        return more likely comes from a SKU that comes back often (lemons); stratified (even
        quantiles of the cumulative return counts over the sorted SKU ids), so deterministic."""
        cache = self.__dict__.setdefault("_draw_cache", {})
        if category not in cache:
            cache[category] = _sku_lookup(
                self.sku_draw_ids(category), self.sku_counts_, self.sku_shares_, self.prior_
            )
        return np.asarray(cache[category])

    def sku_draw_ids(self, category: str) -> np.ndarray:
        """The SKU ids an unseen SKU of `category` is averaged over (see `_sku_draws_for`)."""
        known = sorted(s for s, c in self.sku_category_.items() if c == category)
        if not known:
            known = sorted(self.sku_category_)
        cumulative = np.cumsum([self.sku_counts_[s] for s in known])
        targets = (np.arange(self.sku_draws) + 0.5) / self.sku_draws * cumulative[-1]
        return np.asarray(known, dtype=object)[np.searchsorted(cumulative, targets)]

    def decide(
        self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame, cost_model: CostModel | None = None
    ) -> dict[str, np.ndarray]:
        """Probabilities, condition probabilities, expected values, the chosen disposition index
        per row (the value-maximising one, or the most probable with decision="argmax") and its
        confidence (see `predict_cases`)."""
        frame = feature_columns(rows)
        x = self._matrix(frame)
        proba, cond = self._heads(frame, x)
        table = (cost_model or load_cost_model()).value_table(frame)
        values = np.einsum("nc,ncd->nd", cond, table)
        rows_index = np.arange(len(x))
        if self.decision == "value":
            choice = values.argmax(axis=1)
            # P(the recommendation is the best disposition for the goods' true condition)
            best = table.argmax(axis=2)
            confidence = (cond * (best == choice[:, None])).sum(axis=1)
        else:
            choice = proba.argmax(axis=1)
            confidence = proba[rows_index, choice]
        return {
            "proba": proba,
            "condition": cond,
            "values": values,
            "choice": choice,
            "confidence": confidence,
            "x": x,
        }

    def predict(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """The recommended disposition per row (see `decision`)."""
        return np.asarray(self.classes_[self.decide(rows)["choice"]])

    def predict_cases(
        self,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        cost_model: CostModel | None = None,
        explain: bool = True,
    ) -> list[DispositionPrediction]:
        """One `DispositionPrediction` per feature row: disposition, confidence, calibrated
        disposition probabilities, expected recovery value of the recommendation and, with
        `explain`, the top reasons.

        Confidence: with decision="value", the probability (over the condition head) that the
        recommended disposition is the best one for the goods' true condition; with
        decision="argmax", the calibrated probability of the recommended disposition."""
        decided = self.decide(rows, cost_model)
        proba, values, choice = decided["proba"], decided["values"], decided["choice"]
        reasons = (
            self._reasons(decided["x"], choice, proba=decided["proba"])
            if explain
            else [[] for _ in choice]
        )
        out = []
        for i, k in enumerate(choice):
            why = list(reasons[i])
            if self.decision == "value":
                why.append(_value_sentence(values[i], int(k)))
            out.append(
                DispositionPrediction(
                    disposition=DISPOSITIONS[k],
                    confidence=float(decided["confidence"][i]),
                    probabilities={
                        d: float(p) for d, p in zip(DISPOSITIONS, proba[i], strict=True)
                    },
                    expected_recovery_value=round(float(values[i, k]), 2),
                    reasons=why,
                    expected_values={
                        d: round(float(v), 2) for d, v in zip(DISPOSITIONS, values[i], strict=True)
                    },
                )
            )
        return out

    def contributions(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """LightGBM contributions of the disposition head: (n, 6, n_features + 1), last = bias."""
        x = self._matrix(feature_columns(rows))
        return self._contrib(x)

    def _contrib(self, x: np.ndarray) -> np.ndarray:
        raw = np.asarray(self.disposition_booster_.predict(x, pred_contrib=True, num_threads=1))
        return raw.reshape(len(x), len(DISPOSITIONS), len(MODEL_FEATURES) + 1)

    def explain(
        self,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        dispositions: Sequence[str] | None = None,
        top: int = TOP_REASONS,
    ) -> list[list[str]]:
        """Top factors per row that push towards its disposition (the recommended one unless
        `dispositions` names one per row), as short sentences for inspectors."""
        frame = feature_columns(rows)
        x = self._matrix(frame)
        if dispositions is None:
            choice = self.decide(frame)["choice"]
        else:
            if len(dispositions) != len(x):
                raise ValueError(f"{len(dispositions)} dispositions for {len(x)} rows")
            unknown = sorted(set(dispositions) - set(DISPOSITIONS))
            if unknown:
                raise ValueError(f"dispositions: unknown {unknown}")
            choice = np.array([DISPOSITIONS.index(d) for d in dispositions])
        return self._reasons(x, choice, top)

    def _reasons(
        self,
        x: np.ndarray,
        choice: np.ndarray,
        top: int = TOP_REASONS,
        proba: np.ndarray | None = None,
    ) -> list[list[str]]:
        """Feature groups that push the chosen disposition's logit above the runner-up's (the
        next most probable disposition): path attributions (`PathTables`) of those two classes'
        trees, from one `pred_leaf` pass."""
        if proba is None:
            proba = _softmax(self._raw(self.disposition_booster_, x) / self.temperature_)
        masked = proba.copy()
        masked[np.arange(len(x)), choice] = -np.inf
        runner_up = masked.argmax(axis=1)
        both = self.attributions(x, np.stack([choice, runner_up], axis=1))
        grouped = both[:, 0] - both[:, 1]
        out = []
        for i, k in enumerate(choice):
            ranked = np.argsort(-grouped[i])[:top]
            row = self._row(x[i])
            out.append(
                [
                    f"{_describe(REASON_GROUPS[g], row)} (favours {DISPOSITIONS[k]})"
                    for g in ranked
                    if grouped[i, g] > 0
                ]
            )
        return out

    def path_tables(self) -> PathTables:
        """The disposition head's `PathTables` (built once, on first use or at `load`)."""
        tables = self._path_tables
        if tables is None:  # a cache, not a fitted attribute
            with _PATH_TABLES_LOCK:
                tables = self._path_tables
                if tables is None:
                    tables = path_tables(self.disposition_booster_, _GROUP_MATRIX)
                    self._path_tables = tables
        return tables

    def attributions(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Path attributions of the model matrix `x` to the logits of the disposition classes
        `classes` names per row ((n,) or (n, m) class indices), summed by reason group:
        (n, len(REASON_GROUPS)) or (n, m, len(REASON_GROUPS)). With the class's bias they add
        up to its raw score (see `PathTables`)."""
        tables = self.path_tables()
        leaves = np.asarray(
            self.disposition_booster_.predict(x, pred_leaf=True, num_threads=1), dtype=np.intp
        ).reshape(len(x), -1)
        n_classes = len(DISPOSITIONS)
        per_class = leaves.shape[1] // n_classes
        # a multiclass booster stores its trees round-robin by class
        trees = np.asarray(classes, dtype=np.intp)[..., None] + n_classes * np.arange(per_class)
        return tables.attributions(leaves, trees)

    def _row(self, values: np.ndarray) -> dict[str, Any]:
        """One model-matrix row as {feature: value}, categories decoded."""
        row: dict[str, Any] = dict(zip(MODEL_FEATURES, values.tolist(), strict=True))
        for name in CATEGORICAL:
            code = row[name]
            row[name] = MISSING if math.isnan(code) else self.vocabularies_[name][int(code)]
        return row

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write the fitted model into `directory` (self-contained); returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.disposition_booster_.save_model(str(directory / "disposition.lgb"))
        self.condition_booster_.save_model(str(directory / "condition.lgb"))
        meta = {
            "kind": "lightgbm",
            "params": self.get_params(),
            "vocabularies": self.vocabularies_,
            "prior": [float(p) for p in self.prior_],
            "temperature": self.temperature_,
            "condition_temperature": self.condition_temperature_,
            "sku_counts": {k: int(v) for k, v in self.sku_counts_.items()},
            "sku_shares": {k: [float(p) for p in v] for k, v in self.sku_shares_.items()},
            "sku_category": self.sku_category_,
            "n_train": self.n_train_,
            "n_calibration": self.n_calibration_,
            "fit_seconds": self.fit_seconds_,
            "features": list(MODEL_FEATURES),
        }
        (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path) -> DispositionClassifier:
        """A fitted model read back from a folder written by `save`."""
        import lightgbm as lgb

        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != "lightgbm":
            raise ValueError(f"{directory} holds a {meta.get('kind')} model, not lightgbm")
        if meta["features"] != list(MODEL_FEATURES):
            raise ValueError("saved features differ from features.disposition: retrain the model")
        model = cls(**meta["params"])
        model.disposition_booster_ = lgb.Booster(model_file=str(directory / "disposition.lgb"))
        model.condition_booster_ = lgb.Booster(model_file=str(directory / "condition.lgb"))
        model.vocabularies_ = meta["vocabularies"]
        model.prior_ = np.asarray(meta["prior"], dtype=float)
        model.temperature_ = float(meta["temperature"])
        model.condition_temperature_ = float(meta["condition_temperature"])
        model.sku_counts_ = {k: int(v) for k, v in meta["sku_counts"].items()}
        model.sku_shares_ = {k: np.asarray(v, float) for k, v in meta["sku_shares"].items()}
        model.sku_category_ = {str(k): str(v) for k, v in meta["sku_category"].items()}
        model.classes_ = np.array(DISPOSITIONS)
        model.n_train_ = int(meta["n_train"])
        model.n_calibration_ = int(meta["n_calibration"])
        model.fit_seconds_ = float(meta["fit_seconds"])
        model.path_tables()  # a loaded model serves: explanations must not wait for it
        return model


# side-input group -> the column telling whether it is present, and the values when absent
_SIDE_INPUT_PRESENT: dict[str, str] = {
    "photo": "damage_type",
    "note": "note_reason",
    "inspection": "inspection_condition",
    "history": "history_orders_count",
}
_NAN = float("nan")
_SIDE_INPUT_MASK: dict[str, dict[str, Any]] = {
    "photo": {
        "damage_type": MISSING,
        "damage_probability": _NAN,
        "damage_severity": _NAN,
    },  # photos were sent but no damage assessment came (model down, unusable photos)
    "note": {
        "note_reason": MISSING,
        "reason_confidence": _NAN,
        "reason_agrees_with_code": _NAN,
        "note_length": 0.0,
        **{name: _NAN for name in NUMERIC if name.startswith("reason_p_")},
    },
    "inspection": {"inspection_condition": MISSING},
    "history": {name: _NAN for name in NUMERIC if name.startswith("history_")},
}


def _sku_table(
    skus: np.ndarray, y_index: np.ndarray, prior: np.ndarray, smoothing: float
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    counts: dict[str, int] = {}
    sums: dict[str, np.ndarray] = {}
    for sku, k in zip(skus, y_index, strict=True):
        counts[sku] = counts.get(sku, 0) + 1
        sums.setdefault(sku, np.zeros(len(DISPOSITIONS)))[k] += 1.0
    shares = {sku: (sums[sku] + smoothing * prior) / (counts[sku] + smoothing) for sku in counts}
    return counts, shares


def _sku_lookup(
    skus: np.ndarray,
    counts: Mapping[str, int],
    shares: Mapping[str, np.ndarray],
    prior: np.ndarray,
) -> np.ndarray:
    out = np.empty((len(skus), len(SKU_FEATURES)))
    for i, sku in enumerate(skus):
        out[i, 0] = math.log1p(counts.get(sku, 0))
        out[i, 1:] = shares.get(sku, prior)
    return out


# feature -> explanation group (several features tell one story)
_GROUP: dict[str, str] = {
    **{f"reason_p_{c.lower()}": "note" for c in CATEGORICAL["customer_reason_code"] or ()},
    "note_reason": "note",
    "reason_confidence": "note",
    "reason_agrees_with_code": "note",
    "note_length": "note",
    "damage_type": "damage",
    "damage_probability": "damage",
    "damage_severity": "damage",
    "photo_count": "damage",
    "days_since_delivery": "timing",
    "window_position": "timing",
    "in_window": "timing",
    "in_warranty": "warranty",
    "warranty_days": "warranty",
    "return_window_days": "timing",
    "days_to_expiry": "expiry",
    "expired": "expiry",
    "expiry_controlled": "expiry",
    "unit_price": "value",
    "unit_cost": "value",
    "log_value": "value",
    "quantity": "value",
    "quantity_share": "value",
    "history_returns_count": "history",
    "history_orders_count": "history",
    "history_return_value": "history",
    "history_return_rate": "history",
    "account_age_days": "history",
    "has_parent_account": "history",
    **dict.fromkeys(SKU_FEATURES, "sku"),
    "serial_count": "serial",
    "serials_match_shipped": "serial",
    "has_lot": "serial",
    "lot_controlled": "serial",
    "serialized": "serial",
}


REASON_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(_GROUP.get(f, f) for f in MODEL_FEATURES))
_GROUP_MATRIX = np.array(
    [[float(_GROUP.get(f, f) == g) for g in REASON_GROUPS] for f in MODEL_FEATURES]
)


def _describe(group: str, row: Mapping[str, Any]) -> str:
    """A short sentence for one explanation group of one decoded model-matrix row."""

    def num(name: str) -> float:
        value = row[name]
        return float("nan") if value is None else float(value)

    def cat(name: str) -> str:
        value = row[name]
        return MISSING if value is None else str(value)

    if group == "damage":
        damage = cat("damage_type")
        if damage == MISSING:
            return "no photo damage assessment"
        probability = num("damage_probability")
        text = (
            "photos show no damage" if damage == "NONE" else f"photos show {damage.lower()} damage"
        )
        if not math.isnan(probability):
            text += f" (damage probability {probability:.0%}"
            severity = num("damage_severity")
            text += f", severity {severity:.2f})" if not math.isnan(severity) else ")"
        return text
    if group == "inspection_condition":
        grade = cat("inspection_condition")
        return (
            "not graded by an inspector yet" if grade == MISSING else f"inspector graded it {grade}"
        )
    if group == "note":
        reason = cat("note_reason")
        if reason == MISSING:
            return "no note to read"
        return f"the note reads as {reason} ({num('reason_confidence'):.0%})"
    if group == "customer_reason_code":
        return f"customer picked {cat('customer_reason_code')}"
    if group == "category":
        return f"category {cat('category')}"
    if group == "warehouse":
        return f"site {cat('warehouse')}'s usual practice"
    if group == "channel":
        return f"came through {cat('channel')}"
    if group == "segment":
        return f"{cat('segment').lower()} customer"
    if group == "timing":
        days = num("days_since_delivery")
        return "no delivery date" if math.isnan(days) else f"{days:.0f} days after delivery"
    if group == "warranty":
        flag = num("in_warranty")
        if math.isnan(flag):
            return "warranty position unknown"
        return "within warranty" if flag > 0.5 else "out of warranty"
    if group == "expiry":
        days = num("days_to_expiry")
        if math.isnan(days):
            return "not expiry-dated"
        return "expired" if days <= 0 else f"expires in {days:.0f} days"
    if group == "value":
        return f"unit price {num('unit_price'):.2f}, quantity {num('quantity'):.0f}"
    if group == "history":
        returns, orders = num("history_returns_count"), num("history_orders_count")
        if math.isnan(returns):
            return "no customer history"
        return f"customer returned {returns:.0f} of {orders:.0f} earlier orders"
    if group == "sku":
        count = math.expm1(num("sku_log_returns"))
        if count < 0.5:
            return "SKU not seen in returns before"
        return f"how this SKU's {count:.0f} earlier returns were handled"
    if group == "serial":
        match = num("serials_match_shipped")
        if math.isnan(match):
            return "no serials or lot given" if num("has_lot") < 0.5 else "lot-controlled item"
        return "serials match the shipment" if match > 0.5 else "serials do not match the shipment"
    flag_words = {
        "regulated": ("regulated item", "not a regulated item"),
        "hazmat": ("hazmat item", "not hazmat"),
        "refurbishable": ("refurbishable item", "item not refurbishable"),
        "vendor_return_agreement": ("vendor return agreement", "no vendor return agreement"),
    }
    if group in flag_words:
        present, absent = flag_words[group]
        return present if num(group) > 0.5 else absent
    return group.replace("_", " ")


def _value_sentence(values: np.ndarray, k: int) -> str:
    order = np.argsort(-values)
    runner_up = int(order[1] if order[0] == k else order[0])
    return (
        f"highest expected recovery: {values[k]:.2f} vs {values[runner_up]:.2f} "
        f"for {DISPOSITIONS[runner_up]}"
    )


# --------------------------------------------------------------------------- rules baseline


class RulesBaseline(BaseEstimator):
    """ERP-style rule table: (customer reason code, inspection condition, category) ->
    disposition, chosen per cell on the training period (best mean recovery value, or majority)."""

    def __init__(self, objective: str = "value", min_support: int = 5) -> None:
        self.objective = objective
        self.min_support = min_support

    def fit(
        self,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        y: Sequence[str],
        condition: Sequence[str],
        cost_model: CostModel | None = None,
    ) -> RulesBaseline:
        """Tune the table on training rows, their dispositions and true conditions; returns self."""
        if self.objective not in ("value", "majority"):
            raise ValueError(f"objective: {self.objective!r} is not 'value' or 'majority'")
        frame = feature_frame(rows)
        labels = np.asarray([str(v) for v in y], dtype=object)
        grades = np.asarray([str(v) for v in condition], dtype=object)
        if not len(frame) == len(labels) == len(grades):
            raise ValueError(f"{len(frame)} rows, {len(labels)} labels, {len(grades)} conditions")
        cost = cost_model or load_cost_model()
        realised = cost.values(frame, grades)
        y_index = np.array([DISPOSITIONS.index(v) for v in labels])
        c_index = np.array([CONDITIONS.index(v) for v in grades])
        keys = self._keys(frame)
        self.tables_: list[dict[str, dict[str, Any]]] = []
        for level in range(len(keys)):
            table: dict[str, dict[str, Any]] = {}
            for key, index in pd.Series(range(len(frame))).groupby(keys[level]).groups.items():
                idx = np.asarray(index)
                if len(idx) < self.min_support and level < len(keys) - 1:
                    continue
                label_mix = np.bincount(y_index[idx], minlength=len(DISPOSITIONS)) / len(idx)
                cond_mix = np.bincount(c_index[idx], minlength=len(CONDITIONS)) / len(idx)
                if self.objective == "value":
                    # scale-free: mean recovery per unit of list price, so dear items do not rule
                    scale = np.maximum(
                        frame["unit_price"].to_numpy()[idx] * frame["quantity"].to_numpy()[idx], 1.0
                    )
                    choice = int((realised[idx] / scale[:, None]).mean(axis=0).argmax())
                else:
                    choice = int(label_mix.argmax())
                table[str(key)] = {
                    "disposition": DISPOSITIONS[choice],
                    "support": len(idx),
                    "label_mix": [float(p) for p in label_mix],
                    "condition_mix": [float(p) for p in cond_mix],
                }
            self.tables_.append(table)
        self.classes_ = np.array(DISPOSITIONS)
        return self

    @staticmethod
    def _keys(frame: pd.DataFrame) -> list[pd.Series]:
        reason = frame["customer_reason_code"].astype(str)
        cond = frame["inspection_condition"].astype(str)
        cat = frame["category"].astype(str)
        everything = pd.Series(["*"] * len(frame), index=frame.index)
        return [reason + "|" + cond + "|" + cat, cond + "|" + cat, cond, everything]

    def _cells(self, frame: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
        keys = self._keys(frame)
        out = []
        for i in range(len(frame)):
            for level, table in enumerate(self.tables_):
                key = str(keys[level].iloc[i])
                if key in table:
                    out.append((key, table[key]))
                    break
            else:
                out.append(("*", self.tables_[-1]["*"]))
        return out

    def predict(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """The table's disposition per row."""
        frame = feature_frame(rows)
        return np.array([cell["disposition"] for _, cell in self._cells(frame)], dtype=object)

    def predict_proba(self, rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> np.ndarray:
        """The training label mix of each row's cell (what the table's cell has seen), (n, 6)."""
        frame = feature_frame(rows)
        return np.array([cell["label_mix"] for _, cell in self._cells(frame)], dtype=float)

    def predict_cases(
        self,
        rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
        cost_model: CostModel | None = None,
    ) -> list[DispositionPrediction]:
        """The serving fallback: the same `DispositionPrediction` as the model, reasons naming
        the rule; expected recovery from the graded condition, or the cell's condition mix."""
        frame = feature_frame(rows)
        cells = self._cells(frame)
        condition = np.array([cell["condition_mix"] for _, cell in cells], dtype=float)
        graded = frame["inspection_condition"].to_numpy()
        for i, grade in enumerate(graded):
            if grade in CONDITIONS:
                condition[i] = np.eye(len(CONDITIONS))[CONDITIONS.index(grade)]
        values = (cost_model or load_cost_model()).expected_values(frame, condition)
        out = []
        for i, (key, cell) in enumerate(cells):
            k = DISPOSITIONS.index(cell["disposition"])
            mix = cell["label_mix"]
            out.append(
                DispositionPrediction(
                    disposition=cell["disposition"],
                    confidence=float(mix[k]),
                    probabilities={d: float(p) for d, p in zip(DISPOSITIONS, mix, strict=True)},
                    expected_recovery_value=round(float(values[i, k]), 2),
                    reasons=[
                        f"rule {key.replace('|', ' + ')} -> {cell['disposition']} "
                        f"({cell['support']} training cases)"
                    ],
                    expected_values={
                        d: round(float(v), 2) for d, v in zip(DISPOSITIONS, values[i], strict=True)
                    },
                )
            )
        return out

    def save(self, directory: Path) -> Path:
        """Write the rule table into `directory`; returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"kind": "rules", "params": self.get_params(), "tables": self.tables_}
        (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path) -> RulesBaseline:
        """A fitted table read back from a folder written by `save`."""
        meta = json.loads((Path(directory) / META_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != "rules":
            raise ValueError(f"{directory} holds a {meta.get('kind')} model, not rules")
        model = cls(**meta["params"])
        model.tables_ = meta["tables"]
        model.classes_ = np.array(DISPOSITIONS)
        return model


# --------------------------------------------------------------------------- pyfunc


class DispositionModel(PythonModel):
    """Feature rows in (columns of `disposition_features`), recommendations out; serving takes
    `unwrap_python_model().estimator` and calls `predict_cases` for the full answer."""

    def __init__(self) -> None:
        self.estimator: Any = None

    def load_context(self, context: Any) -> None:
        """Load the estimator from the model's artifacts."""
        from models.pyfunc import load_estimator

        self.estimator = load_estimator(Path(context.artifacts["estimator"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """One row per case: disposition, confidence, expected recovery value, probabilities
        and reasons (both JSON)."""
        predictions = self.estimator.predict_cases(model_input)
        return prediction_frame(predictions)


def prediction_frame(predictions: Sequence[DispositionPrediction]) -> pd.DataFrame:
    """Predictions as the pyfunc output frame."""
    return pd.DataFrame(
        {
            "disposition": [p.disposition for p in predictions],
            "confidence": [p.confidence for p in predictions],
            "expected_recovery_value": [p.expected_recovery_value for p in predictions],
            "probabilities": [json.dumps(p.probabilities) for p in predictions],
            "reasons": [json.dumps(p.reasons) for p in predictions],
        }
    )
