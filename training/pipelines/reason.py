"""Reason-text pipeline: simulated notes (+ weak and annotated real labels) -> baseline, MiniLM
and their cascade -> evaluation.

Steps are plain functions; `ReasonFamily` wires them for the runner (`triage train reason`).
Evaluation sets: a later period of the training world (time-ordered split), a world from another
seed, and, when ../shared/datasets is present, held-out shares of the weak labels
(`real_weak_holdout`) and of our annotated complaints (`real_annotated_holdout`) on real
reviews, which model selection looks at, and the real dev labels (`real_dev`: reported, never
tuned on).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.codes import ReasonCode
from models.metrics import (
    classification_summary,
    confusion_matrix_figure,
    expected_calibration_error,
)
from models.pyfunc import REASON_SIGNATURE, ReasonModel, save_estimator
from models.reason import (
    CascadeReasonClassifier,
    MiniLMReasonClassifier,
    TfidfReasonClassifier,
)
from models.settings import Settings
from training.pipelines.runner import Evaluation, LoggableModel, frame_fingerprint
from training.real_text import (
    load_annotated_labels,
    load_reason_dev_labels,
    load_synthetic_labels,
    real_weak_labels,
    weak_holdout_mask,
)
from training.simulation.config import load_world_config
from training.simulation.world import build_world

CODES = [c.value for c in ReasonCode]
EVAL_SETS = (
    "sim_later",
    "sim_other_seed",
    "real_weak_holdout",
    "real_annotated_holdout",
    "real_dev",
)
# sets scored per text source as well (real texts come from three review sources)
PER_SOURCE_SETS = ("real_weak_holdout", "real_annotated_holdout", "real_dev")


def world_notes(n_returns: int, seed: int) -> pd.DataFrame:
    """Non-empty notes of a simulated world with their labels, in request order."""
    returns = build_world(n_returns, 0, seed, load_world_config()).returns
    notes = returns[returns["note_reason"].notna() & (returns["note"].str.strip() != "")]
    return pd.DataFrame(
        {
            "text": notes["note"].to_numpy(),
            "code": notes["note_reason"].astype(str).to_numpy(),
            "customer_reason_code": notes["customer_reason_code"].astype(str).to_numpy(),
            "requested_at": notes["requested_at"].to_numpy(),
            "source": "simulated",
        }
    ).reset_index(drop=True)


def split_by_time(notes: pd.DataFrame, holdout_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training period and the later held-out period (the last `holdout_days` of requests)."""
    cut = notes["requested_at"].max() - pd.Timedelta(days=holdout_days)
    earlier = notes[notes["requested_at"] <= cut].reset_index(drop=True)
    later = notes[notes["requested_at"] > cut].reset_index(drop=True)
    return earlier, later


def load_data(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Training notes (time-ordered), evaluation sets, and real texts when present."""
    data_params = params["data"]
    notes = world_notes(int(data_params["returns"]), int(data_params["world_seed"]))
    train, later = split_by_time(notes, int(data_params["holdout_days"]))
    max_sim = data_params.get("max_sim_train")
    if max_sim is not None and len(train) > int(max_sim):
        # simulated notes are many and alike: a time-ordered random sample keeps the real weak
        # labels from drowning and the fine-tuning time bounded
        rng = np.random.default_rng(int(data_params["world_seed"]))
        chosen = np.sort(rng.choice(len(train), int(max_sim), replace=False))
        train = train.iloc[chosen].reset_index(drop=True)
    other = world_notes(int(data_params["other_returns"]), int(data_params["other_seed"]))
    data: dict[str, Any] = {"train": train, "sim_later": later, "sim_other_seed": other}
    datasets = settings.datasets_dir
    if (datasets / "review-text").is_dir():
        dev = load_reason_dev_labels(datasets)
        data["real_dev"] = dev
        exclude = dev["text"].tolist()
        if data_params.get("use_annotated_labels", False):
            annotated = load_annotated_labels(datasets, exclude_texts=exclude)
            held = weak_holdout_mask(
                annotated["text"], float(data_params.get("annotated_holdout", 0.0)), "annotated"
            )
            weight = float(data_params.get("annotated_weight", 1.0))
            data["annotated"] = annotated[~held].assign(weight=weight).reset_index(drop=True)
            if held.any():
                data["real_annotated_holdout"] = annotated[held].reset_index(drop=True)
            # an annotated complaint is never a weak label as well (nor, held out, trained on)
            exclude = exclude + annotated["text"].tolist()
        if data_params.get("use_synthetic_labels", False):
            synthetic = load_synthetic_labels(exclude_texts=exclude)
            weight = float(data_params.get("synthetic_weight", 1.0))
            data["synthetic"] = synthetic.assign(weight=weight)
        if data_params.get("use_weak_labels", False):
            weak = real_weak_labels(
                datasets,
                exclude_texts=exclude,
                use_rules=bool(data_params.get("use_rule_labels", True)),
            )
            held = weak_holdout_mask(weak["text"], float(data_params.get("weak_holdout", 0.0)))
            weak = weak.assign(weight=weak_weights(weak, data_params))
            data["weak"] = weak[~held].reset_index(drop=True)
            if held.any():
                data["real_weak_holdout"] = weak[held].reset_index(drop=True)
    return data


def weak_weights(weak: pd.DataFrame, data_params: dict[str, Any]) -> np.ndarray:
    """Training weight of each weak label: `weak_weight`, times `electronics_weight` for the
    Echo and phone-accessory complaints (a few hundred beside two thousand clothing reviews)."""
    weights = np.full(len(weak), float(data_params.get("weak_weight", 1.0)))
    electronics = (weak["source"] != "womens_clothing_reviews").to_numpy()
    weights[electronics] *= float(data_params.get("electronics_weight", 1.0))
    return weights


def training_frame(data: dict[str, Any]) -> pd.DataFrame:
    """Simulated training notes with the real labels (weak, synthetic complaints, then
    annotated) placed first (oldest), so the model's time-ordered calibration split stays on
    simulated notes from the latest period."""
    frames = []
    for name in ("weak", "synthetic", "annotated"):
        if name in data and len(data[name]):
            real = data[name]
            frames.append(
                pd.DataFrame(
                    {
                        "text": real["text"],
                        "code": real["code"],
                        "weight": real.get("weight", pd.Series(1.0, index=real.index)),
                    }
                )
            )
    train = data["train"]
    frames.append(pd.DataFrame({"text": train["text"], "code": train["code"], "weight": 1.0}))
    return pd.concat(frames, ignore_index=True)


def fit_models(
    data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
) -> dict[str, Any]:
    """Fit the TF-IDF baseline and the MiniLM model on the same training notes, and chain
    them into the cascade (TF-IDF answers the notes it is sure of, MiniLM the rest)."""
    frame = training_frame(data)
    texts, codes, weights = (
        frame["text"].tolist(),
        frame["code"].tolist(),
        frame["weight"].to_numpy(),
    )
    progress(f"fitting TF-IDF baseline on {len(frame):,} notes")
    baseline = TfidfReasonClassifier(**(params.get("baseline") or {}))
    baseline.fit(texts, codes, sample_weight=weights)
    progress(f"fitting MiniLM model on {len(frame):,} notes")
    transformer = MiniLMReasonClassifier(**(params.get("transformer") or {}))
    transformer.fit(texts, codes, sample_weight=weights)
    cascade = CascadeReasonClassifier(baseline, transformer, **(params.get("cascade") or {}))
    return {"baseline": baseline, "transformer": transformer, "cascade": cascade}


def evaluate(estimator: Any, data: dict[str, Any]) -> Evaluation:
    """Accuracy, macro-F1, per-class report, ECE and confusion matrix on every evaluation set."""
    evaluation = Evaluation(metrics={})
    for name in EVAL_SETS:
        if name not in data:
            continue
        frame = data[name]
        texts = frame["text"].tolist()
        first_confidence = None
        if isinstance(estimator, CascadeReasonClassifier):
            proba, first_confidence = estimator.predict_with_route(texts)
        else:
            proba = np.asarray(estimator.predict_proba(texts))
        predicted = [CODES[i] for i in proba.argmax(axis=1)]
        truth = frame["code"].astype(str).tolist()
        present = sorted(set(truth))
        summary = classification_summary(truth, predicted, labels=present)
        evaluation.metrics[f"{name}.accuracy"] = float(summary["accuracy"])
        evaluation.metrics[f"{name}.macro_f1"] = float(summary["macro_f1"])
        evaluation.metrics[f"{name}.ece"] = float(expected_calibration_error(truth, proba, CODES))
        if isinstance(estimator, CascadeReasonClassifier) and first_confidence is not None:
            # the share of notes the cheap first model answered (the rest ran the transformer)
            first = first_confidence >= estimator.confident
            evaluation.metrics[f"{name}.first_share"] = float(np.mean(first))
        if name == "real_dev":
            # the six codes present in the real labels (the others are too rare there)
            evaluation.metrics[f"{name}.macro_f1_six"] = float(summary["macro_f1"])
        if name in PER_SOURCE_SETS:
            for source, group in frame.assign(pred=predicted).groupby("source"):
                correct = (group["pred"] == group["code"]).mean()
                evaluation.metrics[f"{name}.{source}.accuracy"] = float(correct)
        evaluation.reports[name] = summary
        evaluation.figures[f"confusion_{name}"] = confusion_matrix_figure(
            truth, predicted, labels=present, title=f"{name}"
        )
    return evaluation


class ReasonFamily:
    """The reason-text model family for the pipeline runner."""

    name = "reason"

    def load_data(self, params: dict[str, Any], settings: Settings) -> dict[str, Any]:
        """See `load_data`."""
        return load_data(params, settings)

    def fingerprint(self, data: dict[str, Any]) -> str:
        """Content hash of the training and evaluation texts and labels."""
        keys = ("train", "weak", "synthetic", "annotated", *EVAL_SETS)
        frames = [data[k][["text", "code"]] for k in keys if k in data]
        return frame_fingerprint(*frames)

    def fit(
        self, data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
    ) -> dict[str, Any]:
        """See `fit_models`."""
        return fit_models(data, params, progress)

    def evaluate(self, estimator: Any, data: dict[str, Any], settings: Settings) -> Evaluation:
        """See `evaluate`."""
        return evaluate(estimator, data)

    def loggable(self, estimator: Any, workdir: Path) -> LoggableModel:
        """The estimator saved as a directory artifact behind the `ReasonModel` pyfunc."""
        directory = save_estimator(estimator, workdir / "estimator")
        example = pd.DataFrame(
            {
                "text": ["The box was crushed and the unit inside is cracked."],
                "customer_reason_code": ["DEFECTIVE"],
            }
        )
        return LoggableModel(
            python_model=ReasonModel(),
            artifacts={"estimator": str(directory)},
            input_example=example,
            signature=REASON_SIGNATURE,
        )

    def load_estimator(self, model_uri: str) -> Any:
        """The fitted estimator inside a logged reason model."""
        wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
        return wrapper.estimator
