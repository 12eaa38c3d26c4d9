"""Disposition case features: complete, deterministic, missing side inputs never fail,
bad side inputs fail naming the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from features.disposition import (
    FEATURE_NAMES,
    MISSING,
    disposition_feature_rows,
    disposition_features,
)
from features.schema import ReturnCase

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "cases.jsonl"


def _cases(n: int = 5) -> list[ReturnCase]:
    with SAMPLE.open(encoding="utf-8") as handle:
        lines = [json.loads(next(handle)) for _ in range(n)]
    return [ReturnCase.model_validate(line["case"]) for line in lines]


def _full_inputs() -> dict[str, Any]:
    return {
        "reason_probabilities": {"DAMAGED_IN_TRANSIT": 0.7, "DEFECTIVE": 0.2, "OTHER": 0.1},
        "damage": {"damage_type": "CRACK_BREAK", "damage_probability": 0.9, "severity": 0.6},
        "inspection_condition": "DAMAGED",
        "customer_history": {"returns_count": 2, "orders_count": 10, "return_value": 150.0},
    }


def test_every_feature_is_present_and_deterministic() -> None:
    case = _cases(1)[0]
    first = disposition_features(case, **_full_inputs())
    second = disposition_features(case, **_full_inputs())
    assert set(FEATURE_NAMES) <= set(first)
    assert first["sku"] == case.item.sku
    assert json.dumps(first, sort_keys=True, default=str) == json.dumps(
        second, sort_keys=True, default=str
    )


def test_side_inputs_reach_the_features() -> None:
    row = disposition_features(_cases(1)[0], **_full_inputs())
    assert row["note_reason"] == "DAMAGED_IN_TRANSIT"
    assert row["reason_p_damaged_in_transit"] == pytest.approx(0.7)
    assert row["reason_p_size_fit"] == 0.0  # absent codes count as 0
    assert row["damage_type"] == "CRACK_BREAK"
    assert row["damage_probability"] == pytest.approx(0.9)
    assert row["damage_severity"] == pytest.approx(0.6)
    assert row["inspection_condition"] == "DAMAGED"
    assert row["history_return_rate"] == pytest.approx(0.2)


def test_missing_side_inputs_give_missing_features_not_errors() -> None:
    row = disposition_features(_cases(1)[0])
    assert row["note_reason"] == MISSING
    assert row["damage_type"] == MISSING
    assert row["inspection_condition"] == MISSING
    for name in ("damage_probability", "reason_confidence", "history_returns_count"):
        assert math.isnan(row[name])


def test_case_features_follow_the_case() -> None:
    case = _cases(1)[0]
    row = disposition_features(case)
    assert row["category"] == case.item.category
    assert row["unit_price"] == case.item.unit_price
    assert row["warehouse"] == case.request.warehouse
    if case.order_line.delivery_date is not None:
        days = (case.request.requested_at.date() - case.order_line.delivery_date).days
        assert row["days_since_delivery"] == days
        assert row["in_window"] == float(days <= case.item.return_window_days)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"damage": {"damage_type": "SMASHED", "damage_probability": 0.5}}, "damage.damage_type"),
        ({"damage": {"damage_type": "NONE", "damage_probability": 1.5}}, "damage_probability"),
        ({"damage": {"damage_probability": 0.5}}, "damage.damage_type"),
        ({"reason_probabilities": {"BROKEN": 0.9}}, "reason_probabilities"),
        ({"reason_probabilities": {"DEFECTIVE": -0.1}}, "reason_probabilities.DEFECTIVE"),
        ({"inspection_condition": "MINT"}, "inspection_condition"),
        ({"customer_history": {"returns_count": 1}}, "customer_history"),
        (
            {"customer_history": {"returns_count": -1, "orders_count": 1, "return_value": 0}},
            "customer_history.returns_count",
        ),
    ],
)
def test_bad_side_inputs_name_the_field(override: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        disposition_features(_cases(1)[0], **override)


def test_batch_matches_single_and_checks_lengths() -> None:
    cases = _cases(3)
    damage = [None, {"damage_type": "NONE", "damage_probability": 0.1}, None]
    rows = disposition_feature_rows(cases, damage=damage)
    for case, side, row in zip(cases, damage, rows, strict=True):
        single = disposition_features(case, damage=side)
        assert json.dumps(row, default=str) == json.dumps(single, default=str)
    with pytest.raises(ValueError, match="inspection_condition: 1 entries for 3 cases"):
        disposition_feature_rows(cases, inspection_condition=["NEW"])
