"""Model access for serving: load the champions from the MLflow registry, or record why not.

`load_predictors(settings)` runs in the FastAPI lifespan (never at import). A model that is not
configured, not registered, or fails to load or to predict is *unavailable*: the service then
falls back to rules, forces human review and records the fallback (PRODUCT.md review policy).
Only the reason model is trained so far; damage, disposition and fraud are always unavailable,
so every recommended disposition today comes from the explicit rule table `DISPOSITION_RULES`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.codes import ClaimType, Disposition, ReasonCode
from features.schema import ReturnCase
from models.versions import version_mismatches
from serving.config import ServingSettings

logger = logging.getLogger(__name__)

MODEL_NAMES = ("reason", "damage", "disposition", "fraud")
"""Every model the triage uses, in the order responses list them."""

NOT_TRAINED = "not trained yet: no registered model for this family"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ModelStatus:
    """Whether a model is loaded, which version, and why not when it is not."""

    name: str
    available: bool
    uri: str | None = None
    version: str | None = None
    detail: str = ""
    library_mismatches: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonPrediction:
    """The reason model's answer for one note."""

    code: ReasonCode
    confidence: float
    alternatives: list[tuple[ReasonCode, float]]
    disagrees_with_customer: bool


@dataclass(frozen=True)
class ModelCall:
    """The result of calling a model: its output, or the error that made it unavailable."""

    output: ReasonPrediction | None
    error: str | None = None


class Predictors:
    """The loaded models (None where unavailable) with their status."""

    def __init__(self, reason: Any | None, statuses: dict[str, ModelStatus]) -> None:
        missing = set(MODEL_NAMES) - set(statuses)
        if missing:
            raise ValueError(f"statuses: missing {sorted(missing)}")
        self.reason = reason
        self.statuses = dict(statuses)

    @classmethod
    def unavailable(cls, detail: str = "not loaded") -> Predictors:
        """Predictors with every model unavailable (rules only)."""
        return cls(None, {name: ModelStatus(name, False, detail=detail) for name in MODEL_NAMES})

    def versions(self) -> dict[str, str | None]:
        """Model name -> loaded version (None when unavailable)."""
        return {
            name: status.version if status.available else None
            for name, status in self.statuses.items()
        }

    def predict_reason(self, note: str, customer_reason_code: ReasonCode) -> ModelCall:
        """Run the reason model on one note; any failure is returned, never raised."""
        if self.reason is None:
            return ModelCall(None, self.statuses["reason"].detail or "unavailable")
        frame = pd.DataFrame({"text": [note], "customer_reason_code": [customer_reason_code.value]})
        try:
            result = self.reason.predict(frame)
            return ModelCall(_reason_prediction(result, customer_reason_code))
        except Exception as exc:  # any model failure means: fall back, never fail the request
            logger.exception("reason model failed")
            return ModelCall(None, f"{type(exc).__name__}: {exc}"[:300])


def _reason_prediction(result: Any, customer: ReasonCode) -> ReasonPrediction:
    """Check and convert the reason pyfunc's first output row (code, confidence, top JSON)."""
    row = pd.DataFrame(result).iloc[0]
    code = ReasonCode(str(row["code"]))
    confidence = float(row["confidence"])
    if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence {confidence!r} is not a probability")
    alternatives: list[tuple[ReasonCode, float]] = []
    top = row.get("top")
    if isinstance(top, str) and top:
        for other, probability in json.loads(top):
            value = float(probability)
            if ReasonCode(other) != code and math.isfinite(value) and 0.0 <= value <= 1.0:
                alternatives.append((ReasonCode(other), value))
    return ReasonPrediction(code, confidence, alternatives, code != customer)


def load_predictors(
    settings: ServingSettings, loader: Callable[[str], Any] | None = None
) -> Predictors:
    """Load every configured model; failures make that model unavailable (logged, recorded).

    `loader` loads a pinned model URI (default: `mlflow.pyfunc.load_model`); tests pass a stub.
    """
    reason, reason_status = _load_registered("reason", settings.reason_model_uri, settings, loader)
    statuses = {"reason": reason_status}
    for name in MODEL_NAMES[1:]:
        statuses[name] = ModelStatus(name, False, detail=NOT_TRAINED)
    for status in statuses.values():
        if not status.available:
            logger.warning(
                "model %s unavailable: %s (rules-only fallback)", status.name, status.detail
            )
    return Predictors(reason, statuses)


def _load_registered(
    name: str,
    uri: str | None,
    settings: ServingSettings,
    loader: Callable[[str], Any] | None,
) -> tuple[Any | None, ModelStatus]:
    if not uri:
        return None, ModelStatus(name, False, detail="not configured")
    tracking = settings.tracking_uri()
    if tracking.startswith("sqlite:///") and not Path(tracking.removeprefix("sqlite:///")).exists():
        # do not let MLflow create an empty tracking database as a side effect of serving
        return None, ModelStatus(name, False, uri, detail=f"no MLflow database at {tracking}")
    try:
        pinned, version, run_id = _pin(uri, tracking)
        model = (loader or _mlflow_load)(pinned)
    except Exception as exc:  # a missing or broken model is a fallback, not a failed start
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return None, ModelStatus(name, False, uri, detail=detail)
    mismatches = _library_mismatches(run_id, tracking)
    if mismatches:
        logger.warning("model %s %s was trained with other library versions: %s",
                       name, pinned, mismatches)  # fmt: skip
    status = ModelStatus(name, True, uri, version, f"loaded {pinned}", mismatches)
    return model, status


def _pin(uri: str, tracking: str) -> tuple[str, str | None, str | None]:
    """Resolve an alias URI to the exact version it points at, so the audit names what ran;
    also the MLflow run that produced it when the registry says (for the library check)."""
    match = _MODELS_URI.match(uri)
    if match is None:
        return uri, None, None
    if match["version"]:
        return uri, match["version"], None
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    found = client.get_model_version_by_alias(match["name"], match["alias"])
    return f"models:/{match['name']}/{found.version}", str(found.version), found.run_id


def _library_mismatches(run_id: str | None, tracking: str) -> dict[str, dict[str, str]]:
    """Compare the library versions logged with the model's run against the installed ones."""
    if not run_id:
        return {}
    try:
        from mlflow import MlflowClient

        tags = MlflowClient(tracking_uri=tracking).get_run(run_id).data.tags
    except Exception:  # the check must never stop a model from loading
        logger.warning("could not read the training run %s to check library versions", run_id)
        return {}
    return version_mismatches(tags)


def _mlflow_load(uri: str) -> Any:
    import mlflow
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


# ------------------------------------------------------------------ rules-only disposition


@dataclass(frozen=True)
class DispositionRule:
    """One row of the fallback disposition table; `None` criteria match anything."""

    id: str
    disposition: Disposition
    reasons: frozenset[ReasonCode] | None = None
    damaged: bool | None = None
    categories: frozenset[str] | None = None
    item_flag: str | None = None  # "restricted", "refurbishable", "vendor_return_agreement"


_R = ReasonCode
DISPOSITION_RULES: tuple[DispositionRule, ...] = (
    DispositionRule("restricted_goods", Disposition.QUARANTINE, item_flag="restricted"),
    DispositionRule(
        "regulated_category",
        Disposition.QUARANTINE,
        categories=frozenset({"medical_supplies", "food_service"}),
    ),
    DispositionRule("expired", Disposition.SCRAP, reasons=frozenset({_R.EXPIRED})),
    DispositionRule(
        "defect_to_vendor",
        Disposition.RETURN_TO_VENDOR,
        reasons=frozenset({_R.DEFECTIVE, _R.QUALITY, _R.NOT_AS_DESCRIBED}),
        item_flag="vendor_return_agreement",
    ),
    DispositionRule(
        "repairable",
        Disposition.REFURBISH,
        reasons=frozenset({_R.DEFECTIVE, _R.DAMAGED_IN_TRANSIT, _R.MISSING_PARTS}),
        item_flag="refurbishable",
    ),
    DispositionRule("damage_seen", Disposition.RESALE_DISCOUNTED, damaged=True),
    DispositionRule("defect_scrap", Disposition.SCRAP, reasons=frozenset({_R.DEFECTIVE})),
    DispositionRule(
        "impaired_goods",
        Disposition.RESALE_DISCOUNTED,
        reasons=frozenset(
            {_R.DAMAGED_IN_TRANSIT, _R.QUALITY, _R.NOT_AS_DESCRIBED, _R.MISSING_PARTS}
        ),
    ),
    DispositionRule(
        "sound_goods",
        Disposition.RESTOCK,
        reasons=frozenset(
            {_R.WRONG_ITEM, _R.SIZE_FIT, _R.INCOMPATIBLE, _R.NO_LONGER_NEEDED, _R.LATE_DELIVERY}
        ),
    ),
    DispositionRule("unclear", Disposition.QUARANTINE),  # OTHER: hold until inspected
)
"""Fallback disposition table, first match wins: reason, damage seen on photos, category and
item attributes -> disposition. Used while no disposition model answers; review is forced."""


def rules_disposition(
    case: ReturnCase, reason: ReasonCode, damaged: bool | None = None
) -> tuple[Disposition, str] | None:
    """The fallback disposition of a case and the id of the rule that chose it.

    None for "not received" claims: no goods come back, so there is nothing to dispose of.
    """
    if case.request.claim_type != ClaimType.RETURN:
        return None
    item = case.item
    flags = {
        "restricted": item.regulated
        or item.hazmat
        or item.lot_controlled
        or item.expiry_controlled,
        "refurbishable": item.refurbishable,
        "vendor_return_agreement": item.vendor_return_agreement,
    }
    for rule in DISPOSITION_RULES:
        if rule.reasons is not None and reason not in rule.reasons:
            continue
        if rule.damaged is not None and damaged is not rule.damaged:
            continue
        if rule.categories is not None and item.category not in rule.categories:
            continue
        if rule.item_flag is not None and not flags[rule.item_flag]:
            continue
        return rule.disposition, rule.id
    raise AssertionError("DISPOSITION_RULES ends with a catch-all rule")  # pragma: no cover
