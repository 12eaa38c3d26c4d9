"""Small deterministic stand-ins for the four model families, with the real interfaces.

They let the API tests (and the fuzzing) run the full triage path - reason, damage,
disposition, fraud, postings, customer state - in milliseconds, without trained models. The real
models are exercised by their own tests and by the pipeline tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.customer_state import CustomerState
from features.images import load_rgb
from features.schema import ReturnCase
from models.damage import PhotoAssessment
from models.disposition import DispositionPrediction
from models.fraud import FraudScore

DAMAGE_TYPES = (
    "NONE",
    "SCRATCH_SCUFF",
    "DENT_DEFORMATION",
    "CRACK_BREAK",
    "STAIN_CONTAMINATION",
    "PACKAGING_ONLY",
)
DISPOSITIONS = (
    "RESTOCK",
    "RESALE_DISCOUNTED",
    "REFURBISH",
    "RETURN_TO_VENDOR",
    "SCRAP",
    "QUARANTINE",
)


class StubReason:
    """A pyfunc-like reason model: DEFECTIVE when the note says broken, else NO_LONGER_NEEDED."""

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for text in frame["text"]:
            code = "DEFECTIVE" if "broken" in str(text).lower() else "NO_LONGER_NEEDED"
            other = "QUALITY" if code == "DEFECTIVE" else "OTHER"
            rows.append(
                {
                    "code": code,
                    "confidence": 0.9,
                    "top": json.dumps([[code, 0.9], [other, 0.07]]),
                    "disagrees_with_customer": False,
                }
            )
        return pd.DataFrame(rows)


class StubDamage:
    """Decodes each photo with the real intake; darker photos look more damaged."""

    @property
    def product_lines(self) -> list[str]:
        """One product line with its own heads: they call damage a scratch."""
        return ["tiles"]

    def assess(
        self, images: Sequence[bytes], product_line: str | None = None
    ) -> list[PhotoAssessment]:
        out = []
        for image in images:
            pixels = load_rgb(image, 32)
            probability = float(np.clip(1.0 - pixels.mean() / 255.0, 0.0, 1.0))
            damaged = "SCRATCH_SCUFF" if product_line == "tiles" else "CRACK_BREAK"
            kind = damaged if probability >= 0.5 else "NONE"
            types = {t: (0.8 if t == kind else 0.04) for t in DAMAGE_TYPES}
            out.append(PhotoAssessment(probability, kind, types))
        return out


class StubDisposition:
    """SCRAP for damaged goods (by the damage feature), RESTOCK otherwise."""

    def predict_cases(self, rows: Sequence[Mapping[str, Any]]) -> list[DispositionPrediction]:
        out = []
        for row in rows:
            damage = row.get("damage_probability")
            damaged = damage is not None and not np.isnan(damage) and damage >= 0.5
            code = "SCRAP" if damaged else "RESTOCK"
            probabilities = {d: (0.75 if d == code else 0.05) for d in DISPOSITIONS}
            reasons = ["photos show damage"] if damaged else ["goods look sound"]
            out.append(DispositionPrediction(code, 0.75, probabilities, 42.0, reasons))
        return out


class StubFraud:
    """Risk grows with the customer's returns in the state; factors say so."""

    def _score(self, customer_id: str, state: CustomerState) -> FraudScore:
        returns = float(state.snapshot(customer_id)["returns_count"])
        risk = min(0.99, 0.05 + 0.3 * returns)
        level = "high" if risk >= 0.8 else "medium" if risk >= 0.5 else "low"
        factors = [f"{returns:.0f} returns on record"]
        links = state.linked_accounts(customer_id)
        return FraudScore(customer_id, risk, level, factors, links, {"stub": risk})

    def score_case(self, case: ReturnCase, state: CustomerState) -> FraudScore:
        view = state.copy_for(case.customer.customer_id, case.request.sku)
        view.update_from_case(case)
        return self._score(case.customer.customer_id, view)

    def score_customers(
        self, state: CustomerState, customer_ids: Sequence[str] | None = None
    ) -> list[FraudScore]:
        ids = state.customer_ids() if customer_ids is None else list(customer_ids)
        return [self._score(c, state) for c in ids]


class StubFraudPyfunc:
    """What `mlflow.pyfunc.load_model` gives for the fraud family: a python model with the
    estimator and the customer state it was trained on."""

    def __init__(self) -> None:
        self.estimator = StubFraud()
        self.state = CustomerState()

    def unwrap_python_model(self) -> StubFraudPyfunc:
        return self


STUB_URIS = {
    "reason_model_uri": "models:/reason/1",
    "damage_model_uri": "models:/damage/1",
    "disposition_model_uri": "models:/disposition/1",
    "fraud_model_uri": "models:/fraud/1",
}


def stub_loader(uri: str) -> Any:
    """Load a stub by its pinned URI (`models:/<family>/1`)."""
    family = uri.split("/")[1]
    return {
        "reason": StubReason,
        "damage": StubDamage,
        "disposition": StubDisposition,
        "fraud": StubFraudPyfunc,
    }[family]()


class StubCascadeEstimator:
    """Cascade-like reason estimator: sure (0.99) of DEFECTIVE when a note says broken, else
    routed on with 0.40 and answered SIZE_FIT by the "second" model."""

    confident = 0.98

    def __init__(self) -> None:
        from features.codes import ReasonCode

        self.classes_ = np.array([code.value for code in ReasonCode])
        self.warm_ups = 0

    def warm_up(self) -> None:
        self.warm_ups += 1

    def _row(self, code: str, p: float) -> np.ndarray:
        row = np.full(len(self.classes_), (1.0 - p) / (len(self.classes_) - 1))
        row[list(self.classes_).index(code)] = p
        return row

    def predict_with_route(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        sure = ["broken" in str(t).lower() for t in texts]
        proba = np.array(
            [self._row("DEFECTIVE", 0.99) if s else self._row("SIZE_FIT", 0.8) for s in sure]
        )
        return proba, np.array([0.99 if s else 0.40 for s in sure])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_with_route(texts)[0]

    def route_reason(self, first_confidence: float) -> str:
        return "first" if first_confidence >= self.confident else "second"


class StubCascadePyfunc:
    """A pyfunc wrapper around `StubCascadeEstimator` (the service unwraps it)."""

    def __init__(self) -> None:
        self.estimator = StubCascadeEstimator()

    def unwrap_python_model(self) -> Any:
        return type("Wrapped", (), {"estimator": self.estimator})()
