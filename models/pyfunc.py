"""MLflow pyfunc wrappers: the serving boundary of every model family.

A fitted estimator is saved into a directory with `estimator.json` naming its class; the wrapper
loads it back in `load_context`, so serving needs only `models:/<name>@champion`.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

ESTIMATOR_FILE = "estimator.json"
TOP_K = 3


def save_estimator(estimator: Any, directory: Path) -> Path:
    """Save an estimator that has `save(dir)` / `load(dir)` plus a pointer to its class."""
    directory.mkdir(parents=True, exist_ok=True)
    cls = type(estimator)
    (directory / ESTIMATOR_FILE).write_text(
        json.dumps({"module": cls.__module__, "class": cls.__qualname__}), encoding="utf-8"
    )
    estimator.save(directory / "model")
    return directory


def load_estimator(directory: Path) -> Any:
    """Load an estimator saved by `save_estimator` (only classes from this project's `models`)."""
    pointer = json.loads((directory / ESTIMATOR_FILE).read_text(encoding="utf-8"))
    module = pointer["module"]
    if module != "models" and not module.startswith("models."):
        raise ValueError(f"refusing to load an estimator from module {module!r}")
    cls = getattr(importlib.import_module(module), pointer["class"])
    return cls.load(directory / "model")


class ReasonModel(PythonModel):
    """Notes in (`text`, optional `customer_reason_code`), reason codes with confidences out."""

    def __init__(self) -> None:
        self.estimator: Any = None

    def load_context(self, context: Any) -> None:
        """Load the estimator from the model's artifacts."""
        self.estimator = load_estimator(Path(context.artifacts["estimator"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """One row per note: code, confidence, top-k as JSON, disagreement with the picked code."""
        texts = model_input["text"].fillna("").astype(str).tolist()
        proba = np.asarray(self.estimator.predict_proba(texts))
        return reason_frame(proba, list(self.estimator.classes_), model_input)


def reason_frame(proba: np.ndarray, classes: list[str], model_input: pd.DataFrame) -> pd.DataFrame:
    """Turn class probabilities into the reason model's output frame."""
    order = np.argsort(-proba, axis=1)[:, :TOP_K]
    codes = [classes[i] for i in order[:, 0]]
    confidence = proba[np.arange(len(proba)), order[:, 0]]
    top = [
        json.dumps([[classes[j], round(float(proba[i, j]), 4)] for j in row])
        for i, row in enumerate(order)
    ]
    frame = pd.DataFrame({"code": codes, "confidence": confidence.astype(float), "top": top})
    if "customer_reason_code" in model_input:
        picked = model_input["customer_reason_code"].fillna("").astype(str).to_numpy()
        frame["disagrees_with_customer"] = (picked != "") & (picked != np.asarray(codes))
    else:
        frame["disagrees_with_customer"] = False
    return frame


REASON_SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("string", "text"), ColSpec("string", "customer_reason_code", required=False)]
    ),
    outputs=Schema(
        [
            ColSpec("string", "code"),
            ColSpec("double", "confidence"),
            ColSpec("string", "top"),
            ColSpec("boolean", "disagrees_with_customer"),
        ]
    ),
)
