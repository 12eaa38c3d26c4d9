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
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from features.codes import ClaimType, Disposition, ReasonCode
from features.schema import MAX_PHOTO_BYTES, Photo, ReturnCase
from models.postings import load_postings
from models.pyfunc import TOP_K
from models.versions import version_mismatches
from serving.config import ServingSettings

logger = logging.getLogger(__name__)

MODEL_NAMES = ("reason", "damage", "disposition", "fraud")
"""Every model the triage uses, in the order responses list them."""

NOT_TRAINED = "not trained yet: no registered model for this family"
T = TypeVar("T")
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
    probabilities: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # e.g. which model of a cascade answered


@dataclass(frozen=True)
class PhotoDamage:
    """One photo's damage assessment."""

    photo_id: str
    damage_probability: float
    damage_type: str
    type_probabilities: dict[str, float]


@dataclass(frozen=True)
class DamageResult:
    """The damage model's answer for a case: per photo and aggregated."""

    photos: list[PhotoDamage]
    damage_probability: float
    damage_type: str
    damaged_photos: int
    heads: str = "general"
    """Which heads answered: a product line's own, or "general"."""

    def as_features(self) -> dict[str, Any]:
        """The side input the disposition features expect."""
        return {
            "damage_type": self.damage_type,
            "damage_probability": self.damage_probability,
        }


@dataclass(frozen=True)
class DispositionResult:
    """The disposition model's answer: code, confidence, probabilities, value and reasons."""

    disposition: Disposition
    confidence: float
    probabilities: dict[str, float]
    expected_recovery_value: float
    reasons: list[str]


@dataclass(frozen=True)
class FraudResult:
    """The fraud model's answer for the return's customer."""

    risk_score: float
    risk_level: str
    factors: list[str]
    linked_accounts: list[str]
    linked_flagged_accounts: int


@dataclass(frozen=True)
class ModelCall(Generic[T]):
    """The result of calling a model: its output, or the error that made it unavailable."""

    output: T | None
    error: str | None = None


class PhotoRejected(ValueError):
    """A photo that cannot be read as an image (HTTP 422 naming `request.photos[index]`)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class Predictors:
    """The loaded models (None where unavailable) with their status, and the customer state
    the fraud model scores against (updated as triaged returns arrive)."""

    def __init__(
        self,
        reason: Any | None,
        statuses: dict[str, ModelStatus],
        *,
        damage: Any | None = None,
        disposition: Any | None = None,
        fraud: Any | None = None,
        customer_state: Any | None = None,
        photo_root: Path | None = None,
        postings: Any | None = None,
        damage_lines: Mapping[str, str] | None = None,
    ) -> None:
        missing = set(MODEL_NAMES) - set(statuses)
        if missing:
            raise ValueError(f"statuses: missing {sorted(missing)}")
        self.reason = reason
        self.damage = damage
        self.disposition = disposition
        self.fraud = fraud
        self.customer_state = customer_state
        self.photo_root = photo_root.resolve() if photo_root is not None else None
        self.damage_lines = dict(damage_lines or {})
        self.statuses = dict(statuses)
        self.postings = postings if postings is not None else load_postings()
        self._reason_estimator = _estimator_of(reason)
        self._state_lock = threading.Lock()
        self._seen_returns: set[str] = set()
        self.state_sync_lock = threading.Lock()
        self.state_cursor = 0
        """Id of the last audit record folded into the customer state (`sync_customer_state`)."""

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

    def warm_up(self) -> None:
        """Run each loaded model once on a small input (lazy imports, ONNX sessions, caches)
        while the service starts, single-threaded; a model that fails here is unavailable."""
        checks: dict[str, Callable[[], object]] = {}
        if self.reason is not None:
            checks["reason"] = self._warm_up_reason
        damage = self.damage
        if damage is not None:
            checks["damage"] = lambda: damage.assess([_warm_up_photo()])
        for name, check in checks.items():
            try:
                check()
            except Exception as exc:
                logger.exception("model %s failed its warm-up", name)
                setattr(self, name, None)
                if name == "reason":
                    self._reason_estimator = None
                self.statuses[name] = replace(
                    self.statuses[name], available=False, detail=f"warm-up failed: {_error(exc)}"
                )

    def _warm_up_reason(self) -> None:
        self._raise_on_error(self.predict_reason("The screen arrived cracked.", ReasonCode.OTHER))
        warm_up = getattr(self._reason_estimator, "warm_up", None)
        if warm_up is not None:
            warm_up()  # every part of the model: a cascade's note above may not reach MiniLM

    @staticmethod
    def _raise_on_error(call: ModelCall[Any]) -> None:
        if call.output is None:
            raise RuntimeError(call.error or "no answer")

    def _unavailable(self, name: str) -> str:
        return self.statuses[name].detail or "unavailable"

    # ------------------------------------------------------------------------ reason

    def predict_reason(
        self, note: str, customer_reason_code: ReasonCode
    ) -> ModelCall[ReasonPrediction]:
        """Run the reason model on one note; any failure is returned, never raised."""
        if self.reason is None:
            return ModelCall(None, self._unavailable("reason"))
        try:
            if self._reason_estimator is not None:
                # the estimator directly: every class probability, without pyfunc overhead
                estimator = self._reason_estimator
                classes = [str(c) for c in estimator.classes_]
                if hasattr(estimator, "predict_with_route"):  # a cascade says who answered
                    proba, first = estimator.predict_with_route([note])
                    answer = _reason_from_proba(np.asarray(proba[0]), classes, customer_reason_code)
                    route = estimator.route_reason(float(first[0]))
                    return ModelCall(replace(answer, reasons=[route]))
                proba = np.asarray(estimator.predict_proba([note]), dtype=float)
                return ModelCall(_reason_from_proba(proba[0], classes, customer_reason_code))
            frame = pd.DataFrame(
                {"text": [note], "customer_reason_code": [customer_reason_code.value]}
            )
            return ModelCall(_reason_prediction(self.reason.predict(frame), customer_reason_code))
        except Exception as exc:  # any model failure means: fall back, never fail the request
            logger.exception("reason model failed")
            return ModelCall(None, _error(exc))

    # ------------------------------------------------------------------------ damage

    def photo_bytes(self, photos: Sequence[Photo]) -> list[tuple[str, bytes] | None]:
        """Each photo's bytes: inline content, or the file a `uri` names under `photo_root`
        (None where it cannot be fetched: no root configured, outside the root, missing)."""
        out: list[tuple[str, bytes] | None] = []
        for photo in photos:
            content = photo.content()
            if content is None and photo.uri is not None:
                content = self._fetch(photo.uri)
            out.append(None if content is None else (photo.photo_id, content))
        return out

    def _fetch(self, uri: str) -> bytes | None:
        if self.photo_root is None or "://" in uri:
            return None
        path = (self.photo_root / uri).resolve()
        if not path.is_relative_to(self.photo_root) or not path.is_file():
            return None
        if path.stat().st_size > MAX_PHOTO_BYTES:
            return None
        return path.read_bytes()

    def assess_damage(self, case: ReturnCase) -> ModelCall[DamageResult] | None:
        """Assess the case's photos (None when it has none), by the product line its item's
        category maps to (`damage_lines`) when there is one; see `assess_photos`."""
        if not case.request.photos:
            return None
        return self.assess_photos(case.request.photos, self.damage_lines.get(case.item.category))

    def damage_product_lines(self) -> list[str]:
        """The product lines the damage model has its own heads for (none without a model)."""
        return list(getattr(self.damage, "product_lines", None) or [])

    def assess_photos(
        self, photos: Sequence[Photo], product_line: str | None = None
    ) -> ModelCall[DamageResult]:
        """Damage per photo and aggregated, by `product_line`'s own heads when the model has
        them (else the general heads). A photo that is not a readable image raises
        `PhotoRejected` (the client's error, with its index); model failures are returned."""
        if self.damage is None:
            return ModelCall(None, self._unavailable("damage"))
        fetched = self.photo_bytes(photos)
        readable = [p for p in fetched if p is not None]
        if not readable:
            return ModelCall(None, "no photo could be fetched (photo uris need TRIAGE_PHOTO_ROOT)")
        from features.images import ImageRejected, open_image

        for index, photo in enumerate(fetched):
            if photo is None:
                continue
            try:
                open_image(photo[1])  # header and limits only: cheap, and names the photo
            except ImageRejected as exc:
                raise PhotoRejected(index, str(exc)) from None
        contents = [content for _, content in readable]
        heads = product_line if product_line in self.damage_product_lines() else "general"
        try:
            if heads == "general":
                assessments = self.damage.assess(contents)
            else:
                assessments = self.damage.assess(contents, product_line=heads)
        except ImageRejected as exc:  # failed on full decode (truncated data, say): which one?
            from features.images import load_rgb

            for index, photo in enumerate(fetched):
                if photo is None:
                    continue
                try:
                    load_rgb(photo[1], 32)
                except ImageRejected as inner:
                    raise PhotoRejected(index, str(inner)) from None
            raise PhotoRejected(0, str(exc)) from None
        except Exception as exc:
            logger.exception("damage model failed")
            return ModelCall(None, _error(exc))
        from models.damage import aggregate

        per_photo = [
            PhotoDamage(
                photo_id,
                round(float(a.damage_probability), 6),
                str(a.damage_type),
                {k: round(float(v), 6) for k, v in a.type_probabilities.items()},
            )
            for (photo_id, _), a in zip(readable, assessments, strict=True)
        ]
        case_damage = aggregate(assessments)
        return ModelCall(
            DamageResult(
                per_photo,
                round(float(case_damage.damage_probability), 6),
                str(case_damage.damage_type),
                int(case_damage.damaged_photos),
                heads,
            )
        )

    # ------------------------------------------------------------------- disposition

    def predict_disposition(
        self,
        case: ReturnCase,
        reason: ReasonPrediction | None,
        damage: DamageResult | None,
        inspection_condition: str | None = None,
    ) -> ModelCall[DispositionResult]:
        """The disposition model's recommendation for a RETURN case (features from
        `features.disposition`, the same code training used)."""
        if self.disposition is None:
            return ModelCall(None, self._unavailable("disposition"))
        try:
            from features.disposition import disposition_features

            row = disposition_features(
                case,
                reason_probabilities=reason.probabilities
                if reason and reason.probabilities
                else None,
                damage=damage.as_features() if damage is not None else None,
                inspection_condition=inspection_condition,
                customer_history=self.customer_history(case.customer.customer_id),
            )
            prediction = self.disposition.predict_cases([row])[0]
            result = DispositionResult(
                Disposition(prediction.disposition),
                float(prediction.confidence),
                {k: round(float(v), 6) for k, v in prediction.probabilities.items()},
                float(prediction.expected_recovery_value),
                list(prediction.reasons),
            )
            if not 0.0 <= result.confidence <= 1.0:
                raise ValueError(f"confidence {result.confidence!r} is not a probability")
            return ModelCall(result)
        except Exception as exc:
            logger.exception("disposition model failed")
            return ModelCall(None, _error(exc))

    # ------------------------------------------------------------------------- fraud

    def customer_history(self, customer_id: str) -> dict[str, float] | None:
        """Aggregates of the customer's earlier events (None without a customer state)."""
        if self.customer_state is None:
            return None
        with self._state_lock:
            return dict(self.customer_state.snapshot(customer_id))

    def score_fraud(self, case: ReturnCase) -> ModelCall[FraudResult]:
        """The fraud risk of the return's customer, as if this return were added."""
        if self.fraud is None or self.customer_state is None:
            detail = self._unavailable("fraud") if self.fraud is None else "no customer state"
            return ModelCall(None, detail)
        try:
            with self._state_lock:
                score = self.fraud.score_case(case, self.customer_state)
                flagged = self._flagged_links(score.linked_accounts)
            risk = float(score.risk_score)
            if not math.isfinite(risk) or not 0.0 <= risk <= 1.0:
                raise ValueError(f"risk_score {risk!r} is not a probability")
            return ModelCall(
                FraudResult(
                    round(risk, 6),
                    str(score.risk_level),
                    list(score.factors),
                    list(score.linked_accounts),
                    flagged,
                )
            )
        except Exception as exc:
            logger.exception("fraud model failed")
            return ModelCall(None, _error(exc))

    def _flagged_links(self, accounts: list[str]) -> int:
        labels = getattr(self.customer_state, "labels", {}) or {}
        return sum(1 for account in accounts if labels.get(account))

    def observe(self, case: ReturnCase) -> None:
        """Fold a triaged return into the customer state once (retries and re-triage of the
        same return do not count twice). Failures are logged, never raised."""
        if self.customer_state is None:
            return
        with self._state_lock:
            if case.request.return_id in self._seen_returns:
                return
            try:
                self.customer_state.update_from_case(case)
            except Exception:
                logger.exception("could not update the customer state")
                return
            self._seen_returns.add(case.request.return_id)

    def observed(self, return_id: str) -> bool:
        """Whether this return is already in the customer state."""
        return return_id in self._seen_returns

    def label_customer(self, customer_id: str, abusive: bool) -> None:
        """Record an analyst's label in the customer state (linked-account factors use it)."""
        if self.customer_state is None:
            return
        with self._state_lock:
            self.customer_state.set_label(customer_id, abusive)

    def score_customers(self, customer_ids: list[str] | None = None) -> list[Any]:
        """Fraud scores of known customers (all when `customer_ids` is None)."""
        if self.fraud is None or self.customer_state is None:
            raise LookupError(self._unavailable("fraud"))
        with self._state_lock:
            return list(self.fraud.score_customers(self.customer_state, customer_ids))


_INTERFACE = {
    "reason": "predict",
    "damage": "assess",
    "disposition": "predict_cases",
    "fraud": "score_case",
}
"""The method serving calls on each family's estimator."""


def _customer_state(model: Any) -> Any | None:
    """The customer state a fraud pyfunc model carries (`state` on its python model)."""
    holder = model
    if hasattr(model, "unwrap_python_model"):
        try:
            holder = model.unwrap_python_model()
        except Exception:
            return None
    return getattr(holder, "state", None)


def _warm_up_photo() -> bytes:
    """A small JPEG made here (nothing read from disk) for the damage model's warm-up."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (128, 120, 110)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _estimator_of(model: Any | None) -> Any | None:
    """The estimator inside a loaded pyfunc model (None for other objects, e.g. test stubs)."""
    if model is None or not hasattr(model, "unwrap_python_model"):
        return None
    try:
        return getattr(model.unwrap_python_model(), "estimator", None)
    except Exception:
        return None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _reason_from_proba(
    proba: np.ndarray, classes: list[str], customer: ReasonCode
) -> ReasonPrediction:
    """One note's class probabilities as a checked `ReasonPrediction`: the pyfunc's answer
    (`reason_frame`: code, confidence, top-k rounded to 4 places) without building frames,
    which cost more than the classifier's head on a single note."""
    order = np.argsort(-proba, kind="stable")[:TOP_K]
    code = ReasonCode(classes[int(order[0])])
    confidence = float(proba[order[0]])
    if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence {confidence!r} is not a probability")
    alternatives = [
        (ReasonCode(classes[int(j)]), round(float(proba[j]), 4))
        for j in order[1:]
        if math.isfinite(float(proba[j])) and 0.0 <= float(proba[j]) <= 1.0
    ]
    probabilities = {c: float(p) for c, p in zip(classes, proba, strict=True)}
    return ReasonPrediction(code, confidence, alternatives, code != customer, probabilities)


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
    Damage, disposition and fraud are used through the estimators inside their pyfunc models
    (`unwrap_python_model().estimator`); the fraud model also carries the customer state of
    its training world, which the service then updates as returns are triaged.
    """
    uris = {
        "reason": settings.reason_model_uri,
        "damage": settings.damage_model_uri,
        "disposition": settings.disposition_model_uri,
        "fraud": settings.fraud_model_uri,
    }
    loaded: dict[str, Any] = {}
    statuses: dict[str, ModelStatus] = {}
    customer_state = None
    for name in MODEL_NAMES:
        model, status = _load_registered(name, uris[name], settings, loader)
        if model is not None and name != "reason":
            estimator = _estimator_of(model)
            if estimator is None and hasattr(model, _INTERFACE[name]):
                estimator = model  # already the estimator (tests, custom loaders)
            if estimator is None or not hasattr(estimator, _INTERFACE[name]):
                detail = f"{status.detail}: not a {name} model (no {_INTERFACE[name]})"
                model, status = None, replace(status, available=False, detail=detail)
            elif name == "fraud":
                customer_state = _customer_state(model)
                if customer_state is None:
                    detail = f"{status.detail}: the fraud model carries no customer state"
                    model, status = None, replace(status, available=False, detail=detail)
                else:
                    model = estimator
            else:
                model = estimator
        loaded[name] = model
        statuses[name] = status
    for status in statuses.values():
        if not status.available:
            logger.warning(
                "model %s unavailable: %s (rules-only fallback)", status.name, status.detail
            )
    predictors = Predictors(
        loaded["reason"],
        statuses,
        damage=loaded["damage"],
        disposition=loaded["disposition"],
        fraud=loaded["fraud"],
        customer_state=customer_state,
        photo_root=settings.photo_root,
        postings=load_postings(settings.postings_file),
        damage_lines=settings.damage_lines,
    )
    predictors.warm_up()
    lines = predictors.damage_product_lines()
    unknown = sorted({line for line in settings.damage_lines.values() if line not in lines})
    if predictors.damage is not None and unknown:
        logger.warning(
            "TRIAGE_DAMAGE_LINES names product lines the damage model has no heads for: %s "
            "(their cases get the general heads; the model has: %s)",
            ", ".join(unknown),
            ", ".join(lines) or "none",
        )
    return predictors


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
        model = loader(pinned) if loader is not None else _mlflow_load(pinned, tracking)
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


def _mlflow_load(uri: str, tracking: str) -> Any:
    """Load a pinned model from *our* registry (MLflow's default would be ./mlflow.db)."""
    import mlflow
    import mlflow.pyfunc

    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
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
