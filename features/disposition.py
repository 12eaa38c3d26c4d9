"""Case features for the disposition model, computed identically in training and serving.

`disposition_features(case, ...)` turns one validated `ReturnCase` plus optional side inputs into
a flat dict of named features; `disposition_feature_frame` does the same for many cases. Side
inputs are optional by design: a return without photos has no damage assessment, one without a
note has no reason probabilities, inspectors have not always graded the goods at triage time, and
a new customer has no history. Each missing input gives NaN (numbers) or "missing" (categories),
never an error, so the model still answers, with the confidence it learned for such cases.

Side inputs (all optional):

- `reason_probabilities`: reason-model probabilities per ReasonCode (codes absent from the
  mapping count as 0; values must lie in [0, 1]).
- `damage`: the damage model's output for the case's photos: `damage_probability` (float in
  [0, 1]), `damage_type` (a DamageType value) and optionally `severity` (float in [0, 1]).
- `inspection_condition`: the inspector's ConditionGrade, when graded.
- `customer_history`: the customer's earlier events, keys exactly `returns_count`,
  `orders_count`, `return_value` (the fraud work exposes the same keys at serving time).

Pure functions: no I/O, no models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from features.codes import ConditionGrade, DamageType, ReasonCode
from features.schema import ReturnCase

MISSING = "missing"
REASON_CODES: tuple[str, ...] = tuple(code.value for code in ReasonCode)
DAMAGE_TYPES: tuple[str, ...] = tuple(d.value for d in DamageType)
CONDITIONS: tuple[str, ...] = tuple(c.value for c in ConditionGrade)
HISTORY_KEYS: tuple[str, ...] = ("returns_count", "orders_count", "return_value")

# categorical features and, where the vocabulary is a contract, their fixed values
CATEGORICAL: dict[str, tuple[str, ...] | None] = {
    "category": None,
    "channel": None,
    "warehouse": None,
    "segment": None,
    "customer_reason_code": REASON_CODES,
    "note_reason": (*REASON_CODES, MISSING),
    "damage_type": (*DAMAGE_TYPES, MISSING),
    "inspection_condition": (*CONDITIONS, MISSING),
}
NUMERIC: tuple[str, ...] = (
    "unit_price",
    "unit_cost",
    "log_value",
    "quantity",
    "quantity_share",
    "serialized",
    "lot_controlled",
    "expiry_controlled",
    "regulated",
    "hazmat",
    "refurbishable",
    "vendor_return_agreement",
    "days_since_delivery",
    "return_window_days",
    "warranty_days",
    "window_position",
    "in_window",
    "in_warranty",
    "serial_count",
    "serials_match_shipped",
    "has_lot",
    "days_to_expiry",
    "expired",
    "photo_count",
    "note_length",
    "account_age_days",
    "has_parent_account",
    *(f"reason_p_{code.lower()}" for code in REASON_CODES),
    "reason_confidence",
    "reason_agrees_with_code",
    "damage_probability",
    "damage_severity",
    "history_returns_count",
    "history_orders_count",
    "history_return_value",
    "history_return_rate",
)
FEATURE_NAMES: tuple[str, ...] = (*CATEGORICAL, *NUMERIC)

_NAN = float("nan")


def disposition_features(
    case: ReturnCase,
    *,
    reason_probabilities: Mapping[str, float] | None = None,
    damage: Mapping[str, Any] | None = None,
    inspection_condition: str | None = None,
    customer_history: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The disposition features of one case (keys: `FEATURE_NAMES`, plus `sku` for the model's
    per-SKU history); missing side inputs give NaN or "missing"; bad side inputs raise
    ValueError naming the field."""
    request, item, line, customer = case.request, case.item, case.order_line, case.customer
    requested = request.requested_at.date()
    features: dict[str, Any] = {
        "sku": item.sku,
        "category": item.category,
        "channel": request.channel.value,
        "warehouse": request.warehouse,
        "segment": customer.segment.value,
        "customer_reason_code": request.customer_reason_code.value,
        "unit_price": float(item.unit_price),
        "unit_cost": float(item.unit_cost),
        "log_value": math.log1p(float(request.value)),
        "quantity": float(request.quantity),
        "quantity_share": request.quantity / max(line.quantity_delivered, 1),
        "serialized": float(item.serialized),
        "lot_controlled": float(item.lot_controlled),
        "expiry_controlled": float(item.expiry_controlled),
        "regulated": float(item.regulated),
        "hazmat": float(item.hazmat),
        "refurbishable": float(item.refurbishable),
        "vendor_return_agreement": float(item.vendor_return_agreement),
        "return_window_days": float(item.return_window_days),
        "warranty_days": float(item.warranty_days),
        "serial_count": float(len(request.serial_numbers)),
        "has_lot": float(request.lot is not None or line.lot is not None),
        "photo_count": float(len(request.photos)),
        "note_length": float(len(request.note.strip())),
        "account_age_days": float((requested - customer.account_opened).days),
        "has_parent_account": float(customer.parent_account_id is not None),
    }
    if line.delivery_date is None:
        days = _NAN
        features.update(window_position=_NAN, in_window=_NAN, in_warranty=_NAN)
    else:
        days = float((requested - line.delivery_date).days)
        window = max(item.return_window_days, 1)
        features["window_position"] = days / window
        features["in_window"] = float(days <= item.return_window_days)
        features["in_warranty"] = float(days <= item.warranty_days)
    features["days_since_delivery"] = days
    if request.serial_numbers:
        shipped = set(line.serial_numbers)
        features["serials_match_shipped"] = float(set(request.serial_numbers) <= shipped)
    else:
        features["serials_match_shipped"] = _NAN
    expiry = request.expiry_date or line.expiry_date
    if expiry is None:
        features["days_to_expiry"] = _NAN
        features["expired"] = _NAN
    else:
        features["days_to_expiry"] = float((expiry - requested).days)
        features["expired"] = float(expiry <= requested)
    features.update(_reason_features(reason_probabilities, request.customer_reason_code.value))
    features.update(_damage_features(damage))
    features["inspection_condition"] = _condition(inspection_condition)
    features.update(_history_features(customer_history))
    return features


def disposition_feature_rows(
    cases: Sequence[ReturnCase],
    *,
    reason_probabilities: Sequence[Mapping[str, float] | None] | None = None,
    damage: Sequence[Mapping[str, Any] | None] | None = None,
    inspection_condition: Sequence[str | None] | None = None,
    customer_history: Sequence[Mapping[str, float] | None] | None = None,
) -> list[dict[str, Any]]:
    """`disposition_features` for many cases; each side input is None or one entry per case."""
    n = len(cases)
    sides = {
        "reason_probabilities": reason_probabilities,
        "damage": damage,
        "inspection_condition": inspection_condition,
        "customer_history": customer_history,
    }
    for name, values in sides.items():
        if values is not None and len(values) != n:
            raise ValueError(f"{name}: {len(values)} entries for {n} cases")
    rows = []
    for i, case in enumerate(cases):
        rows.append(
            disposition_features(
                case,
                reason_probabilities=None
                if reason_probabilities is None
                else reason_probabilities[i],
                damage=None if damage is None else damage[i],
                inspection_condition=(
                    None if inspection_condition is None else inspection_condition[i]
                ),
                customer_history=None if customer_history is None else customer_history[i],
            )
        )
    return rows


def _reason_features(probabilities: Mapping[str, float] | None, picked: str) -> dict[str, Any]:
    if probabilities is None:
        out: dict[str, Any] = {f"reason_p_{c.lower()}": _NAN for c in REASON_CODES}
        out.update(note_reason=MISSING, reason_confidence=_NAN, reason_agrees_with_code=_NAN)
        return out
    unknown = sorted(set(probabilities) - set(REASON_CODES))
    if unknown:
        raise ValueError(f"reason_probabilities: unknown reason codes {unknown}")
    values = {}
    for code in REASON_CODES:
        value = float(probabilities.get(code, 0.0))
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"reason_probabilities.{code}: {value} is not in [0, 1]")
        values[code] = value
    top = max(REASON_CODES, key=lambda c: values[c])
    out = {f"reason_p_{c.lower()}": values[c] for c in REASON_CODES}
    out.update(
        note_reason=top,
        reason_confidence=values[top],
        reason_agrees_with_code=float(top == picked),
    )
    return out


def _damage_features(damage: Mapping[str, Any] | None) -> dict[str, Any]:
    if damage is None:
        return {"damage_type": MISSING, "damage_probability": _NAN, "damage_severity": _NAN}
    damage_type = damage.get("damage_type")
    if damage_type is None:
        raise ValueError("damage.damage_type is required when damage is given")
    if str(damage_type) not in DAMAGE_TYPES:
        raise ValueError(f"damage.damage_type: {damage_type!r} is not one of {DAMAGE_TYPES}")
    probability = _unit(damage.get("damage_probability"), "damage.damage_probability")
    severity = _unit(damage.get("severity"), "damage.severity")
    return {
        "damage_type": str(damage_type),
        "damage_probability": probability,
        "damage_severity": severity,
    }


def _unit(value: Any, field: str) -> float:
    if value is None:
        return _NAN
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field}: {value!r} is not a number") from exc
    if math.isnan(number):
        return _NAN
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{field}: {number} is not in [0, 1]")
    return number


def _condition(value: str | None) -> str:
    if value is None:
        return MISSING
    if str(value) not in CONDITIONS:
        raise ValueError(f"inspection_condition: {value!r} is not one of {CONDITIONS}")
    return str(value)


def _history_features(history: Mapping[str, float] | None) -> dict[str, float]:
    if history is None:
        return {
            "history_returns_count": _NAN,
            "history_orders_count": _NAN,
            "history_return_value": _NAN,
            "history_return_rate": _NAN,
        }
    missing = [key for key in HISTORY_KEYS if key not in history]
    if missing:
        raise ValueError(f"customer_history: missing keys {missing}")
    values = {}
    for key in HISTORY_KEYS:
        try:
            values[key] = float(history[key])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"customer_history.{key}: {history[key]!r} is not a number") from exc
        if values[key] < 0 or math.isnan(values[key]):
            raise ValueError(f"customer_history.{key}: must be a non-negative number")
    return {
        "history_returns_count": values["returns_count"],
        "history_orders_count": values["orders_count"],
        "history_return_value": values["return_value"],
        "history_return_rate": values["returns_count"] / max(values["orders_count"], 1.0),
    }
