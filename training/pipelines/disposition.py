"""Disposition pipeline: simulated world -> case features -> rules and LightGBM -> evaluation.

Steps are plain functions; `DispositionFamily` wires them for the runner
(`triage train disposition`). Parameters: `training/conf/disposition.yml`.

Data. `build_world(...)` gives the returns; only claims of type RETURN have a disposition (the
label: what the business did, with keying noise). Cases go through
`training.simulation.cases.iter_cases` and `features.disposition.disposition_features`, exactly
the serving code. Returns are split by `requested_at`: the latest `holdout_fraction` of them form
the held-out later period; the rest trains the models (the classifier calibrates on the
latest part of it).

Side inputs, as they would reach the model at triage time:

- reason probabilities: out-of-fold probabilities of the TF-IDF reason model
  (`models.reason.TfidfReasonClassifier`) on the notes, cross-fitted over `reason_folds` folds so
  no note is scored by a model that saw it; empty notes get none (missing note).
- damage outputs: only for returns that have photos in the world's photo plan (`plan_photos`:
  damaged goods and damage claims get photos more often); missing otherwise. A documented noise
  model of the damage model stands in for it: the predicted type is the true damage type with
  probability `damage_type_accuracy`, otherwise another type drawn uniformly; the damage
  probability is Beta(a, b) with (a, b) = `damage_probability_beta_damaged` when the goods are
  damaged (any type but NONE) and `..._undamaged` otherwise; the severity is the true severity
  plus Normal(0, `damage_severity_noise`) noise, clipped to [0, 1].
- inspection condition: the world's recorded `inspection_condition` (inspectors' grades, with
  their misses) for a random `inspection_share` of returns; missing for the rest (not graded at
  triage time).
- customer history: for each return, the customer's earlier events only (time-ordered):
  `returns_count` (earlier return requests), `orders_count` (orders placed before the request
  day), `return_value` (credit asked on the earlier returns).

Evaluation on the held-out period, same cases for every estimator: accuracy against the recorded
disposition, macro-F1, per-class report, top-label ECE, and the realised recovery value of each
recommendation under the true condition (cost model `models/conf/recovery.yml`), totalled and
compared with the rules baseline fitted in the same run; slices per category and warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from features.codes import ClaimType, DamageType
from features.disposition import CONDITIONS, disposition_feature_rows
from models.disposition import (
    DISPOSITIONS,
    DispositionClassifier,
    DispositionModel,
    RulesBaseline,
    feature_frame,
    load_cost_model,
)
from models.metrics import (
    classification_summary,
    confusion_matrix_figure,
    expected_calibration_error,
)
from models.pyfunc import save_estimator
from models.reason import TfidfReasonClassifier
from models.settings import Settings
from training.pipelines.runner import Evaluation, LoggableModel, frame_fingerprint
from training.simulation.cases import iter_cases
from training.simulation.config import load_world_config
from training.simulation.world import World, build_world

DAMAGE_TYPES = [d.value for d in DamageType]
RULES_KEY = "rules"  # the baseline every other estimator is compared with


# --------------------------------------------------------------------------- side inputs


def reason_side_input(
    notes: list[str], labels: list[str | None], folds: int, seed: int, params: dict[str, Any]
) -> list[dict[str, float] | None]:
    """Out-of-fold TF-IDF reason probabilities per note (None for empty notes)."""
    out: list[dict[str, float] | None] = [None] * len(notes)
    index = np.array([i for i, t in enumerate(notes) if t.strip() and labels[i] is not None])
    if len(index) < folds * 10:
        return out
    rng = np.random.default_rng(seed)
    fold_of = np.arange(len(index)) % folds
    rng.shuffle(fold_of)
    for fold in range(folds):
        train, held = index[fold_of != fold], index[fold_of == fold]
        model = TfidfReasonClassifier(**params)
        # one BLAS thread: threaded L-BFGS on a small shared machine is 10x slower, not faster
        with threadpool_limits(1):
            model.fit([notes[i] for i in train], [str(labels[i]) for i in train])
        proba = model.predict_proba([notes[i] for i in held])
        for row, i in zip(proba, held, strict=True):
            out[i] = {str(c): float(p) for c, p in zip(model.classes_, row, strict=True)}
    return out


def damage_side_input(
    returns: pd.DataFrame, with_photos: set[str], params: dict[str, Any], seed: int
) -> list[dict[str, Any] | None]:
    """The damage-model noise model (see module docstring); None for returns without photos."""
    rng = np.random.default_rng([seed, 0xDA])
    accuracy = float(params["damage_type_accuracy"])
    a_dmg, b_dmg = params["damage_probability_beta_damaged"]
    a_ok, b_ok = params["damage_probability_beta_undamaged"]
    noise = float(params["damage_severity_noise"])
    out: list[dict[str, Any] | None] = []
    for row in returns.itertuples(index=False):
        if row.return_id not in with_photos:
            out.append(None)
            continue
        true_type = str(row.true_damage_type)
        if rng.random() < accuracy:
            predicted = true_type
        else:
            predicted = str(rng.choice([d for d in DAMAGE_TYPES if d != true_type]))
        damaged = true_type != DamageType.NONE.value
        probability = rng.beta(a_dmg, b_dmg) if damaged else rng.beta(a_ok, b_ok)
        severity = float(np.nan_to_num(row.damage_severity)) + rng.normal(0.0, noise)
        out.append(
            {
                "damage_type": predicted,
                "damage_probability": float(probability),
                "severity": float(np.clip(severity, 0.0, 1.0)),
            }
        )
    return out


def customer_history(world: World, returns: pd.DataFrame) -> list[dict[str, float]]:
    """Time-ordered aggregates of each customer's earlier events (keys: returns_count,
    orders_count, return_value)."""
    all_returns = world.returns.sort_values("requested_at")
    orders = world.orders.drop_duplicates("order_id")
    order_days: dict[str, np.ndarray] = {
        str(c): np.sort(pd.to_datetime(g["order_date"]).to_numpy())
        for c, g in orders.groupby("customer_id")
    }
    earlier: dict[str, tuple[np.ndarray, np.ndarray]] = {
        str(c): (
            pd.to_datetime(g["requested_at"]).to_numpy(),
            np.concatenate([[0.0], np.cumsum(g["value"].to_numpy(dtype=float))]),
        )
        for c, g in all_returns.groupby("customer_id")
    }
    out = []
    for row in returns.itertuples(index=False):
        moment = pd.Timestamp(row.requested_at).to_datetime64()
        day = pd.Timestamp(row.requested_at).normalize().to_datetime64()
        times, cumulative = earlier[str(row.customer_id)]
        n_returns = int(np.searchsorted(times, moment, side="left"))
        days = order_days.get(str(row.customer_id), np.array([], dtype="datetime64[ns]"))
        out.append(
            {
                "returns_count": float(n_returns),
                "orders_count": float(np.searchsorted(days, day, side="right")),
                "return_value": float(cumulative[n_returns]),
            }
        )
    return out


# --------------------------------------------------------------------------- data


def world_cases(params: dict[str, Any]) -> pd.DataFrame:
    """Feature rows of a world's returns (claim type RETURN) with label, truth and time."""
    data_params = params["data"]
    n_returns = int(data_params["returns"])
    seed = int(data_params["world_seed"])
    n_photos = round(float(data_params["photos_per_return"]) * n_returns)
    world = build_world(n_returns, n_photos, seed, load_world_config())
    returns = world.returns
    keep = (returns["claim_type"] == ClaimType.RETURN.value).to_numpy()
    cases = [case for (case, _), k in zip(iter_cases(world), keep, strict=True) if k]
    kept = returns[keep].reset_index(drop=True)
    side = params["side_inputs"]
    reasons = reason_side_input(
        kept["note"].fillna("").astype(str).tolist(),
        [None if pd.isna(v) else str(v) for v in kept["note_reason"]],
        int(side["reason_folds"]),
        seed,
        side.get("reason_model") or {},
    )
    damage = damage_side_input(kept, set(world.photos["return_id"].astype(str)), side, seed)
    rng = np.random.default_rng([seed, 0x1E])
    graded = rng.random(len(kept)) < float(side["inspection_share"])
    inspection = [
        str(c) if g else None for c, g in zip(kept["inspection_condition"], graded, strict=True)
    ]
    history = customer_history(world, kept)
    rows = disposition_feature_rows(
        cases,
        reason_probabilities=reasons,
        damage=damage,
        inspection_condition=inspection,
        customer_history=history,
    )
    frame = feature_frame(rows)
    frame["return_id"] = kept["return_id"].to_numpy()
    frame["requested_at"] = pd.to_datetime(kept["requested_at"]).to_numpy()
    frame["disposition"] = kept["disposition"].astype(str).to_numpy()
    frame["true_condition"] = kept["true_condition"].astype(str).to_numpy()
    return frame.sort_values("requested_at", kind="stable").reset_index(drop=True)


def split_by_time(
    frame: pd.DataFrame, holdout_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training period and the later held-out period: the requests after the time that leaves
    `holdout_fraction` of the returns for later (a time cut, not a random split)."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"data.holdout_fraction: {holdout_fraction} is not in (0, 1)")
    cut = frame["requested_at"].quantile(1.0 - holdout_fraction)
    earlier = frame[frame["requested_at"] <= cut].reset_index(drop=True)
    later = frame[frame["requested_at"] > cut].reset_index(drop=True)
    return earlier, later


def load_data(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Time-ordered training cases and the held-out later period."""
    frame = world_cases(params)
    train, holdout = split_by_time(frame, float(params["data"]["holdout_fraction"]))
    if len(holdout) == 0 or len(train) == 0:
        raise ValueError("the time split left an empty training or held-out period")
    return {"train": train, "holdout": holdout}


# --------------------------------------------------------------------------- fit


def fit_models(
    data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
) -> dict[str, Any]:
    """Fit the rules baselines (best value, majority) and the LightGBM model on the same cases."""
    train = data["train"]
    labels, condition = train["disposition"].tolist(), train["true_condition"].tolist()
    cost = load_cost_model()
    progress(f"tuning the ERP rule tables on {len(train):,} returns")
    rules_params = params.get("rules") or {}
    rules = RulesBaseline(objective="value", **rules_params).fit(train, labels, condition, cost)
    majority = RulesBaseline(objective="majority", **rules_params).fit(
        train, labels, condition, cost
    )
    data[RULES_KEY] = rules  # the reference every estimator is compared with, same run
    progress(f"fitting LightGBM on {len(train):,} returns")
    model = DispositionClassifier(**(params.get("model") or {})).fit(train, labels, condition)
    return {"rules": rules, "rules_majority": majority, "lightgbm": model}


# --------------------------------------------------------------------------- evaluate


def _decisions(estimator: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, recommended disposition) of an estimator on feature rows."""
    if isinstance(estimator, DispositionClassifier):
        decided = estimator.decide(frame)
        return decided["proba"], np.array(DISPOSITIONS, dtype=object)[decided["choice"]]
    return np.asarray(estimator.predict_proba(frame)), np.asarray(estimator.predict(frame))


def realised_values(frame: pd.DataFrame, chosen: np.ndarray) -> np.ndarray:
    """Recovery value of each chosen disposition under the case's true condition."""
    values = load_cost_model().values(frame, frame["true_condition"].to_numpy())
    index = np.array([DISPOSITIONS.index(str(d)) for d in chosen])
    return values[np.arange(len(frame)), index]


def evaluate(estimator: Any, data: dict[str, Any]) -> Evaluation:
    """Accuracy, macro-F1, ECE, recovery value vs the rules baseline, per class and slices."""
    frame = data["holdout"]
    evaluation = Evaluation(metrics={})
    proba, chosen = _decisions(estimator, frame)
    truth = frame["disposition"].to_numpy()
    most_probable = np.array(DISPOSITIONS, dtype=object)[proba.argmax(axis=1)]
    summary = classification_summary(truth, most_probable, labels=list(DISPOSITIONS))
    decided = classification_summary(truth, chosen, labels=list(DISPOSITIONS))
    value = realised_values(frame, chosen)
    business = realised_values(frame, truth)
    best = load_cost_model().values(frame, frame["true_condition"].to_numpy()).max(axis=1)
    m = evaluation.metrics
    m["holdout.n"] = float(len(frame))
    m["holdout.accuracy"] = float(summary["accuracy"])
    m["holdout.macro_f1"] = float(summary["macro_f1"])
    m["holdout.decision_accuracy"] = float(decided["accuracy"])
    m["holdout.ece"] = expected_calibration_error(truth, proba, list(DISPOSITIONS))
    m["holdout.recovery_value"] = float(value.sum())
    m["holdout.recovery_per_case"] = float(value.mean())
    m["holdout.business_recovery_value"] = float(business.sum())
    m["holdout.oracle_recovery_value"] = float(best.sum())
    m["holdout.recovery_lift_vs_business"] = _lift(value.sum(), business.sum())
    if RULES_KEY in data:
        _, rules_chosen = _decisions(data[RULES_KEY], frame)
        rules_value = realised_values(frame, rules_chosen)
        m["holdout.rules_recovery_value"] = float(rules_value.sum())
        m["holdout.recovery_lift_vs_rules"] = _lift(value.sum(), rules_value.sum())
    if isinstance(estimator, DispositionClassifier):
        argmax_value = realised_values(frame, most_probable)
        m["holdout.argmax_recovery_value"] = float(argmax_value.sum())
        if RULES_KEY in data:
            m["holdout.argmax_recovery_lift_vs_rules"] = _lift(
                argmax_value.sum(), rules_value.sum()
            )
    evaluation.reports["holdout"] = {"most_probable": summary, "recommended": decided}
    evaluation.reports["slices"] = _slices(frame, truth, most_probable, proba, value)
    for kind, slice_report in evaluation.reports["slices"].items():
        for key, row in slice_report.items():
            m[f"slice.{kind}.{key}.accuracy"] = row["accuracy"]
            m[f"slice.{kind}.{key}.recovery_per_case"] = row["recovery_per_case"]
    evaluation.figures["confusion_holdout"] = confusion_matrix_figure(
        truth, most_probable, labels=list(DISPOSITIONS), title="held-out period"
    )
    return evaluation


def _lift(mine: float, reference: float) -> float:
    return float((mine - reference) / abs(reference)) if reference else 0.0


def _slices(
    frame: pd.DataFrame,
    truth: np.ndarray,
    predicted: np.ndarray,
    proba: np.ndarray,
    value: np.ndarray,
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for column in ("category", "warehouse", "inspection_condition"):
        groups: dict[str, dict[str, float]] = {}
        for key, index in frame.groupby(column).indices.items():
            groups[str(key)] = {
                "n": float(len(index)),
                "accuracy": float((truth[index] == predicted[index]).mean()),
                "ece": expected_calibration_error(truth[index], proba[index], list(DISPOSITIONS)),
                "recovery_per_case": float(value[index].mean()),
            }
        out[column] = groups
    out["class"] = {}
    for k, disposition in enumerate(DISPOSITIONS):
        index = np.flatnonzero(truth == disposition)
        if len(index):
            out["class"][disposition] = {
                "n": float(len(index)),
                "accuracy": float((predicted[index] == disposition).mean()),
                "ece": expected_calibration_error(truth[index], proba[index], list(DISPOSITIONS)),
                "recovery_per_case": float(value[index].mean()),
                "mean_probability": float(proba[index, k].mean()),
            }
    return out


# --------------------------------------------------------------------------- family


INPUT_EXAMPLE_COLUMNS = ("sku", "category", "unit_price")


class DispositionFamily:
    """The disposition model family for the pipeline runner."""

    name = "disposition"

    def load_data(self, params: dict[str, Any], settings: Settings) -> dict[str, Any]:
        """See `load_data`."""
        return load_data(params, settings)

    def fingerprint(self, data: dict[str, Any]) -> str:
        """Content hash of the training and held-out cases and labels."""
        columns = ["return_id", "disposition", "true_condition"]
        return frame_fingerprint(data["train"][columns], data["holdout"][columns])

    def fit(
        self, data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
    ) -> dict[str, Any]:
        """See `fit_models`."""
        return fit_models(data, params, progress)

    def evaluate(self, estimator: Any, data: dict[str, Any], settings: Settings) -> Evaluation:
        """See `evaluate`."""
        return evaluate(estimator, data)

    def loggable(self, estimator: Any, workdir: Path) -> LoggableModel:
        """The estimator saved as a directory artifact behind the `DispositionModel` pyfunc."""
        directory = save_estimator(estimator, workdir / "estimator")
        example = _example_rows()
        return LoggableModel(
            python_model=DispositionModel(),
            artifacts={"estimator": str(directory)},
            input_example=example,
        )

    def load_estimator(self, model_uri: str) -> Any:
        """The fitted estimator inside a logged disposition model."""
        wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
        return wrapper.estimator


def _example_rows() -> pd.DataFrame:
    """A two-row feature example from the packaged sample world (no side inputs on the second)."""
    world = build_world(60, 0, 7, load_world_config())
    cases = [case for case, _ in iter_cases(world, limit=2)]
    rows = disposition_feature_rows(
        cases,
        damage=[
            {"damage_type": "CRACK_BREAK", "damage_probability": 0.9, "severity": 0.7},
            None,
        ],
        inspection_condition=[CONDITIONS[3], None],
    )
    return feature_frame(rows)
