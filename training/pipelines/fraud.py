"""Fraud pipeline: simulated world -> customer state -> detectors -> per-scenario evaluation.

Steps are plain functions; `FraudFamily` wires them for the runner (`triage train fraud`).

Time-ordered split with a label-delay gap: the models learn from the state of the training
world as it stood `gap_days` before the held-out period began (analyst labels as known then);
they are judged on customers who returned goods in the held-out period, with features as of
its end. `sim_later` leaves out customers an analyst had labelled (their labels were training
targets); `sim_other_seed` is a world from another seed (all its returning customers).
Acceptance per abuse scenario: recall at a 1% false-positive rate among honest customers of the
same population, and precision among the top 100 alerts. The insider is also scored at the
inspector level (`score_inspectors`): the rank of the true insider among all inspectors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.codes import AbuseScenario
from features.customer_state import CustomerState
from features.fraud import CUSTOMER_FEATURES
from models.fraud import (
    FRAUD_SIGNATURE,
    CombinedRiskModel,
    FraudModel,
    features_frame,
    score_inspectors,
)
from models.metrics import expected_calibration_error
from models.pyfunc import save_estimator
from models.settings import Settings
from training.pipelines.runner import Evaluation, LoggableModel, frame_fingerprint
from training.simulation.config import load_world_config
from training.simulation.world import World, build_world

SCENARIOS = [s.value for s in AbuseScenario if s is not AbuseScenario.NONE]
EVAL_SETS = ("sim_later", "sim_other_seed")
VARIANTS = {
    "unsupervised": ("ecod", "iforest"),
    "supervised": ("supervised",),
    "combined": ("ecod", "iforest", "supervised"),
}
"""The estimators fitted in one run (all calibrated the same way), by the detectors they use."""

EXPECTED_FACTORS: dict[str, tuple[str, ...]] = {
    "SERIAL_RETURNER": ("return_rate_count", "return_rate_value", "recent_returns",
                        "returns_count", "defective_pick_share"),
    "WARDROBING": ("late_window_share", "inspection_mismatch_share", "return_rate_count",
                   "return_rate_value"),
    "ITEM_SWAP": ("serial_mismatch",),
    "RETURN_RING": ("linked_accounts", "linked_new_accounts", "linked_flagged",
                    "linked_return_rate", "shared_token_kinds"),
    "PRICE_SWITCH": ("cheaper_item",),
    "ITEM_NOT_RECEIVED": ("not_received_confirmed",),
    "INSIDER": ("inspector_concentration", "graded_good_share"),
}  # fmt: skip
"""Features whose factor names each planted pattern (a factor test checks alerts carry one)."""


def world(n_returns: int, seed: int) -> World:
    """A simulated world without photos."""
    return build_world(n_returns, 0, seed, load_world_config())


def split_world(sim: World, holdout_days: int, gap_days: int) -> dict[str, Any]:
    """Training state (before the gap), full state, and the held-out population.

    Returns `train_state`, `state`, `train_ids` (accounts with an order or return before the
    training cut), `heldout_ids` (customers with a return in the held-out period), `cut` and
    `train_cut`.
    """
    end = sim.returns["requested_at"].max()
    cut = end - pd.Timedelta(days=holdout_days)
    train_cut = cut - pd.Timedelta(days=gap_days)
    train_state = CustomerState.from_world(sim, until=train_cut.to_pydatetime())
    state = CustomerState.from_world(sim)
    train_ids = [
        c
        for c in train_state.customer_ids()
        if train_state.customers[c]["order_lines"] + train_state.customers[c]["returns_count"] > 0
    ]
    later = sim.returns[sim.returns["requested_at"] > cut]
    heldout_ids = sorted(set(later["customer_id"].astype(str)))
    return {
        "train_state": train_state,
        "state": state,
        "train_ids": train_ids,
        "heldout_ids": heldout_ids,
        "cut": cut,
        "train_cut": train_cut,
    }


def eval_frame(
    sim: World, state: CustomerState, ids: list[str], until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Features of `ids` with `segment`, the ground-truth `scenario` and `abusive_returns`.

    `abusive_returns` counts the customer's returns that carried the scheme (the world marks
    each event) up to `until` (default: all; pass the state's cut-off): an abuser with none
    (`dormant`) has done nothing any detector could see.
    """
    frame = features_frame(state, ids)
    customers = sim.customers.set_index("customer_id")
    frame["segment"] = customers["segment"].reindex(frame.index).astype(str).to_numpy()
    frame["scenario"] = customers["abuse_scenario"].reindex(frame.index).astype(str).to_numpy()
    returns = sim.returns
    if until is not None:
        returns = returns[returns["requested_at"] < until]
    abusive = returns[returns["abuse_scenario"].astype(str) != "NONE"]
    counts = abusive.groupby(abusive["customer_id"].astype(str)).size()
    frame["abusive_returns"] = counts.reindex(frame.index, fill_value=0).to_numpy(int)
    frame["dormant"] = (frame["scenario"] != "NONE").to_numpy() & (
        frame["abusive_returns"].to_numpy() == 0
    )
    return frame


def load_data(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Training world split in time, plus a world from another seed for evaluation."""
    p = params["data"]
    sim = world(int(p["returns"]), int(p["world_seed"]))
    split = split_world(sim, int(p["holdout_days"]), int(p["gap_days"]))
    train = eval_frame(sim, split["train_state"], split["train_ids"], until=split["train_cut"])
    labels = sim.customers.set_index("customer_id")["analyst_label"]
    train["label"] = pd.to_numeric(labels.reindex(train.index), errors="coerce").to_numpy(float)
    later = eval_frame(sim, split["state"], split["heldout_ids"])
    later = later[labels.reindex(later.index).isna().to_numpy()]
    other = world(int(p["other_returns"]), int(p["other_seed"]))
    other_split = split_world(other, int(p["holdout_days"]), 0)
    return {
        "train": train,
        "sim_later": later,
        "sim_other_seed": eval_frame(other, other_split["state"], other_split["heldout_ids"]),
        "states": {"sim_later": split["state"], "sim_other_seed": other_split["state"]},
        "insiders": {
            "sim_later": _insider(sim),
            "sim_other_seed": _insider(other),
        },
        "serving_state": split["state"],
    }


def _insider(sim: World) -> str:
    return str(sim.inspectors.loc[sim.inspectors["is_insider"], "inspector_id"].iloc[0])


def fit_models(
    data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
) -> dict[str, Any]:
    """Fit the unsupervised, supervised and combined variants on the same training customers."""
    train = data["train"]
    labelled = int(train["label"].notna().sum())
    models: dict[str, Any] = {}
    for name, detectors in VARIANTS.items():
        progress(f"fitting {name} on {len(train):,} customers ({labelled:,} labelled)")
        model = CombinedRiskModel(detectors=detectors, **(params.get("model") or {}))
        models[name] = model.fit(train[list(CUSTOMER_FEATURES)], train["label"], train["segment"])
    return models


def recall_at_fpr(
    scores: np.ndarray, scenario: np.ndarray, fpr: float = 0.01
) -> tuple[float, dict[str, float]]:
    """Threshold at the (1 - fpr) quantile of honest scores; recall per scenario above it."""
    honest = scores[scenario == "NONE"]
    threshold = float(np.quantile(honest, 1 - fpr)) if len(honest) else float("inf")
    recalls = {}
    for name in SCENARIOS:
        mask = scenario == name
        if mask.any():
            recalls[name] = float((scores[mask] > threshold).mean())
    return threshold, recalls


def evaluate(estimator: CombinedRiskModel, data: dict[str, Any], top_k: int = 100) -> Evaluation:
    """Per scenario recall at 1% FPR, precision in the top alerts, AUC, ECE, factor match."""
    from sklearn.metrics import roc_auc_score

    evaluation = Evaluation(metrics={})
    for set_name in EVAL_SETS:
        if set_name not in data:
            continue
        frame = data[set_name]
        # abusers who have not yet returned anything abusive count neither as abusers to find
        # nor as honest customers (logged as `dormant_abusers`)
        dormant = (
            frame["dormant"].to_numpy(bool) if "dormant" in frame else np.zeros(len(frame), bool)
        )
        evaluation.metrics[f"{set_name}.dormant_abusers"] = float(dormant.sum())
        frame = frame[~dormant]
        scenario = frame["scenario"].to_numpy()
        truth = (scenario != "NONE").astype(int)
        risk = estimator.detector_scores(frame[list(CUSTOMER_FEATURES)])["combined"]
        m = evaluation.metrics
        threshold, recalls = recall_at_fpr(risk, scenario)
        for name, value in recalls.items():
            m[f"{set_name}.recall_at_1pct_fpr.{name}"] = value
        m[f"{set_name}.min_recall_at_1pct_fpr"] = min(recalls.values()) if recalls else 0.0
        top = np.argsort(-risk, kind="stable")[:top_k]
        m[f"{set_name}.precision_at_{top_k}"] = float(truth[top].mean())
        m[f"{set_name}.roc_auc"] = float(roc_auc_score(truth, risk)) if truth.sum() > 0 else 0.0
        m[f"{set_name}.ece"] = float(
            expected_calibration_error(truth.tolist(), np.column_stack([1 - risk, risk]), [0, 1])
        )
        m[f"{set_name}.abusers"] = float(truth.sum())
        m[f"{set_name}.customers"] = float(len(truth))
        # every alert carries a factor; alerted abusers' factors name their planted pattern
        alerts = np.flatnonzero(risk > threshold)
        matched = with_factor = 0
        abusive_alerts = 0
        for i in alerts:
            row = frame.iloc[int(i)]
            factors = estimator.explain(row[list(CUSTOMER_FEATURES)].to_dict(), row["segment"])
            with_factor += bool(factors)
            if row["scenario"] != "NONE":
                abusive_alerts += 1
                names = {f for f, _ in factors}
                matched += bool(names & set(EXPECTED_FACTORS[row["scenario"]]))
        m[f"{set_name}.alerts_with_factor"] = with_factor / len(alerts) if len(alerts) else 1.0
        m[f"{set_name}.factor_match"] = matched / abusive_alerts if abusive_alerts else 0.0
        # insider at the inspector level (does not depend on the estimator; logged for the note)
        states = data.get("states", {})
        if set_name in states:
            ranking = score_inspectors(states[set_name])
            insider = data["insiders"][set_name]
            hits = np.flatnonzero(ranking["inspector_id"].to_numpy() == insider)
            m[f"{set_name}.insider_inspector_rank"] = float(hits[0] + 1) if len(hits) else -1.0
            evaluation.reports[f"{set_name}_inspectors"] = ranking.head(10).to_dict("records")
        evaluation.reports[f"{set_name}_recall"] = recalls
    return evaluation


class FraudFamily:
    """The fraud-detection model family for the pipeline runner."""

    name = "fraud"

    def load_data(self, params: dict[str, Any], settings: Settings) -> dict[str, Any]:
        """See `load_data`."""
        return load_data(params, settings)

    def fingerprint(self, data: dict[str, Any]) -> str:
        """Content hash of the training and evaluation feature frames and labels."""
        frames = [data[k].reset_index() for k in ("train", *EVAL_SETS) if k in data]
        return frame_fingerprint(*frames)

    def fit(
        self, data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
    ) -> dict[str, Any]:
        """See `fit_models`."""
        self._serving_state = data.get("serving_state")
        return fit_models(data, params, progress)

    def evaluate(self, estimator: Any, data: dict[str, Any], settings: Settings) -> Evaluation:
        """See `evaluate`."""
        return evaluate(estimator, data)

    def loggable(self, estimator: Any, workdir: Path) -> LoggableModel:
        """The estimator (and the training world's customer state) behind `FraudModel`."""
        directory = save_estimator(estimator, workdir / "estimator")
        artifacts = {"estimator": str(directory)}
        state = getattr(self, "_serving_state", None)
        if state is not None:
            artifacts["customer_state"] = str(state.save(workdir / "customer_state.json.gz"))
        example = pd.DataFrame(
            [
                {
                    "customer_id": "C0000001",
                    "segment": "CONSUMER",
                    **dict.fromkeys(CUSTOMER_FEATURES, 0.0),
                }
            ]
        )
        return LoggableModel(
            python_model=FraudModel(),
            artifacts=artifacts,
            input_example=example,
            signature=FRAUD_SIGNATURE,
        )

    def load_estimator(self, model_uri: str) -> Any:
        """The fitted estimator inside a logged fraud model."""
        wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
        return wrapper.estimator
