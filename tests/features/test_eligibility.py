"""Eligibility: window, warranty, quantity, serials, delivery and expiry, with stable codes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.codes import ReasonCode
from features.eligibility import (
    SHORT_DATED_DAYS,
    EligibilityException,
    EligibilityFlag,
    check_eligibility,
)
from features.schema import ReturnCase

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "cases.jsonl"
RECORDS = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]

# the first sample: serialized electronics, window 15 days, warranty 730 days, delivered 2025-01-06
BASE: dict[str, Any] = RECORDS[0]["case"]
DELIVERED = date.fromisoformat(BASE["order_line"]["delivery_date"])
WINDOW = BASE["item"]["return_window_days"]
WARRANTY = BASE["item"]["warranty_days"]
SHIPPED_SERIAL = BASE["order_line"]["serial_numbers"][0]


def _case(
    days: int | None = None,
    *,
    request: dict[str, Any] | None = None,
    item: dict[str, Any] | None = None,
    order_line: dict[str, Any] | None = None,
) -> ReturnCase:
    """The base case with some fields changed; `days` sets the request `days` after delivery."""
    raw = copy.deepcopy(BASE)
    raw["request"].pop("received_at", None)
    if days is not None:
        raw["request"]["requested_at"] = f"{DELIVERED + timedelta(days=days)}T10:30:00"
    for part, changes in (("request", request), ("item", item), ("order_line", order_line)):
        raw[part].update(changes or {})
        for key in [k for k, v in raw[part].items() if v is None]:
            del raw[part][key]
    return ReturnCase.model_validate(raw)


def _day(record: dict[str, Any], key: str) -> date:
    return date.fromisoformat(record[key][:10])


# ------------------------------------------------------------------------- sample cases


def test_sample_cases_agree_with_the_simulator_truth() -> None:
    for record in RECORDS:
        case = ReturnCase.model_validate(record["case"])
        result = check_eligibility(case)
        request, line = record["case"]["request"], record["case"]["order_line"]
        assert result.serial_matches == record["truth"]["serial_match"], request["return_id"]
        assert (EligibilityException.SERIAL_MISMATCH in result.exceptions) == (
            record["truth"]["serial_match"] is False
        )
        assert (
            result.days_since_delivery
            == (_day(request, "requested_at") - _day(line, "delivery_date")).days
        )
        over = request["quantity"] > line["quantity_delivered"]
        assert result.quantity_ok is not over
        assert (EligibilityException.QUANTITY_ABOVE_DELIVERED in result.exceptions) is over
        assert len(result.reasons) == len(result.exceptions) + len(result.flags)
        assert result.eligible is (not result.exceptions)


def test_sample_has_each_kind_of_outcome() -> None:
    """The committed sample exercises late returns, warranty claims and serial swaps."""
    results = [check_eligibility(ReturnCase.model_validate(r["case"])) for r in RECORDS]
    seen = {code for r in results for code in [*r.exceptions, *r.flags]}
    assert {
        EligibilityException.OUTSIDE_WINDOW,
        EligibilityException.SERIAL_MISMATCH,
        EligibilityException.QUANTITY_ABOVE_DELIVERED,
        EligibilityFlag.WARRANTY_CLAIM,
        EligibilityFlag.RESTRICTED_ITEM,
    } <= seen
    # most returns are ordinary
    assert sum(r.eligible for r in results) / len(results) > 0.8


def test_check_is_deterministic_and_serializable() -> None:
    case = ReturnCase.model_validate(RECORDS[1]["case"])
    first, second = check_eligibility(case), check_eligibility(case)
    assert first == second
    dumped = json.loads(first.model_dump_json())
    assert all(isinstance(code, str) for code in dumped["exceptions"])


# --------------------------------------------------------------------- window, warranty


@pytest.mark.parametrize(("days", "inside"), [(0, True), (WINDOW, True), (WINDOW + 1, False)])
def test_return_window_is_inclusive(days: int, inside: bool) -> None:
    result = check_eligibility(_case(days, request={"customer_reason_code": "NO_LONGER_NEEDED"}))
    assert result.days_since_delivery == days
    assert result.within_return_window is inside
    assert (EligibilityException.OUTSIDE_WINDOW in result.exceptions) is not inside
    assert result.eligible is inside


def test_defect_outside_window_within_warranty_is_eligible_under_warranty() -> None:
    result = check_eligibility(_case(WINDOW + 10, request={"customer_reason_code": "DEFECTIVE"}))
    assert not result.within_return_window
    assert result.within_warranty
    assert result.warranty_claim
    assert result.eligible_under_warranty
    assert result.eligible
    assert result.flags == [EligibilityFlag.WARRANTY_CLAIM]
    assert "warranty" in result.reasons[0]


def test_non_defect_outside_window_is_not_covered_by_warranty() -> None:
    result = check_eligibility(_case(WINDOW + 10, request={"customer_reason_code": "SIZE_FIT"}))
    assert result.within_warranty  # the warranty runs, but it does not cover a change of mind
    assert not result.eligible_under_warranty
    assert result.exceptions == [EligibilityException.OUTSIDE_WINDOW]


@pytest.mark.parametrize(("days", "covered"), [(WARRANTY, True), (WARRANTY + 1, False)])
def test_warranty_boundary_is_inclusive(days: int, covered: bool) -> None:
    result = check_eligibility(_case(days, request={"customer_reason_code": "DEFECTIVE"}))
    assert result.within_warranty is covered
    assert result.eligible_under_warranty is covered
    expected = (
        []
        if covered
        else [EligibilityException.OUTSIDE_WINDOW, EligibilityException.OUTSIDE_WARRANTY]
    )
    assert result.exceptions == expected


def test_item_without_warranty_has_no_warranty_cover() -> None:
    result = check_eligibility(
        _case(WINDOW + 1, request={"customer_reason_code": "DEFECTIVE"}, item={"warranty_days": 0})
    )
    assert not result.within_warranty
    assert result.exceptions == [EligibilityException.OUTSIDE_WINDOW]


def test_warranty_cover_can_follow_the_model_reason() -> None:
    """The customer picked QUALITY; the note says it stopped working (the reason model)."""
    case = _case(WINDOW + 5, request={"customer_reason_code": "QUALITY"})
    assert not check_eligibility(case).eligible
    assert check_eligibility(case, reason_code=ReasonCode.DEFECTIVE).eligible_under_warranty


def test_as_of_moves_the_judgement_day() -> None:
    case = _case(WINDOW)
    later = datetime.combine(DELIVERED + timedelta(days=WINDOW + 1), datetime.min.time())
    assert check_eligibility(case).within_return_window
    result = check_eligibility(case, as_of=later)
    assert result.as_of == later.date()
    assert not result.within_return_window


def test_aware_moments_are_judged_in_utc() -> None:
    # 23:30 at UTC-5 on the last window day is already the next day in UTC
    local = timezone(timedelta(hours=-5))
    moment = datetime.combine(DELIVERED + timedelta(days=WINDOW), datetime.min.time()).replace(
        hour=23, minute=30, tzinfo=local
    )
    result = check_eligibility(_case(0), as_of=moment)
    assert result.as_of == (moment.astimezone(UTC)).date()
    assert not result.within_return_window


def test_final_sale_item_is_not_returnable() -> None:
    result = check_eligibility(_case(0, item={"return_window_days": 0, "warranty_days": 0}))
    assert not result.returnable
    assert result.exceptions == [EligibilityException.NOT_RETURNABLE]


# ----------------------------------------------------------------------------- quantity


def test_quantity_above_delivered() -> None:
    result = check_eligibility(_case(2, request={"quantity": 3, "value": 240.36}))
    assert not result.quantity_ok
    assert result.quantity_excess == 2
    assert EligibilityException.QUANTITY_ABOVE_DELIVERED in result.exceptions
    assert any("above 1 delivered" in reason for reason in result.reasons)


def test_not_received_claim_is_capped_by_ordered_quantity() -> None:
    line = {"quantity_ordered": 3, "quantity_delivered": 1}
    ok = _case(2, request={"quantity": 3, "claim_type": "NOT_RECEIVED"}, order_line=line)
    over = _case(2, request={"quantity": 4, "claim_type": "NOT_RECEIVED"}, order_line=line)
    assert check_eligibility(ok).quantity_ok
    assert check_eligibility(over).quantity_excess == 1


# ------------------------------------------------------------------------------ serials


def test_matching_serials() -> None:
    assert check_eligibility(_case(2)).serial_matches is True


def test_foreign_serial_is_a_mismatch() -> None:
    result = check_eligibility(_case(2, request={"serial_numbers": ["SN0000000001"]}))
    assert result.serial_matches is False
    assert result.unmatched_serials == ["SN0000000001"]
    assert result.exceptions == [EligibilityException.SERIAL_MISMATCH]


def test_partly_foreign_serials_are_a_mismatch() -> None:
    line = {"quantity_ordered": 2, "quantity_delivered": 2}
    serials = {"serial_numbers": [SHIPPED_SERIAL, "SN0000000002"]}
    result = check_eligibility(
        _case(2, request={**serials, "quantity": 2}, order_line={**line, "serial_numbers": []})
    )
    assert result.serial_matches is False
    assert set(result.unmatched_serials) == {SHIPPED_SERIAL, "SN0000000002"}


def test_repeated_serial_is_a_mismatch() -> None:
    request = {"serial_numbers": [SHIPPED_SERIAL, SHIPPED_SERIAL], "quantity": 2}
    line = {"quantity_ordered": 2, "quantity_delivered": 2}
    result = check_eligibility(_case(2, request=request, order_line=line))
    assert result.serial_matches is False
    assert result.unmatched_serials == []
    assert "repeated" in result.reasons[0]


def test_serials_do_not_apply_to_unserialized_items() -> None:
    result = check_eligibility(_case(2, item={"serialized": False}))
    assert result.serial_matches is None
    assert result.eligible


def test_serialized_item_without_serials_is_flagged_not_blocked() -> None:
    result = check_eligibility(_case(2, request={"serial_numbers": []}))
    assert result.serial_matches is None
    assert result.eligible
    assert result.flags == [EligibilityFlag.SERIAL_MISSING]


def test_lot_mismatch() -> None:
    result = check_eligibility(
        _case(2, request={"lot": "L0001-002"}, order_line={"lot": "L0001-001"})
    )
    assert result.lot_matches is False
    assert EligibilityException.LOT_MISMATCH in result.exceptions
    assert check_eligibility(_case(2)).lot_matches is None


# ----------------------------------------------------------------------------- delivery


def test_return_from_undelivered_line() -> None:
    result = check_eligibility(_case(2, order_line={"delivery_date": None}))
    assert not result.delivered
    assert result.days_since_delivery is None
    assert EligibilityException.NOT_DELIVERED in result.exceptions


def test_nothing_delivered_counts_as_not_delivered() -> None:
    case = _case(2, request={"claim_type": "NOT_RECEIVED"}, order_line={"quantity_delivered": 0})
    result = check_eligibility(case)
    assert not result.delivered
    assert result.days_since_delivery is None
    # "never arrived" is exactly what a not-received claim says: not an exception
    assert EligibilityException.NOT_DELIVERED not in result.exceptions
    assert result.quantity_ok


def test_undelivered_window_counts_from_shipment() -> None:
    ship = date.fromisoformat(BASE["order_line"]["ship_date"])
    requested = f"{ship + timedelta(days=WINDOW + 1)}T09:00:00"
    case = _case(
        request={"claim_type": "NOT_RECEIVED", "requested_at": requested},
        order_line={"delivery_date": None},
    )
    result = check_eligibility(case)
    assert not result.within_return_window
    assert "after shipment" in result.reasons[0]


# ------------------------------------------------------------------------------- expiry


def _expiring(days_left: int) -> ReturnCase:
    expiry = DELIVERED + timedelta(days=2 + days_left)
    return _case(2, order_line={"expiry_date": str(expiry)}, item={"expiry_controlled": True})


@pytest.mark.parametrize(
    ("days_left", "expired", "short"),
    [
        (-1, True, False),
        (0, False, True),  # usable through its expiry day
        (SHORT_DATED_DAYS - 1, False, True),
        (SHORT_DATED_DAYS, False, False),
    ],
)
def test_expiry_against_request_date(days_left: int, expired: bool, short: bool) -> None:
    result = check_eligibility(_expiring(days_left))
    assert result.days_to_expiry == days_left
    assert result.expired is expired
    assert result.short_dated is short
    assert (EligibilityFlag.EXPIRED in result.flags) is expired
    assert (EligibilityFlag.SHORT_DATED in result.flags) is short
    assert result.eligible  # expiry is flagged for the policy, not an eligibility exception


def test_reported_expiry_takes_precedence_over_shipped() -> None:
    case = _case(
        2,
        request={"expiry_date": str(DELIVERED)},
        order_line={"expiry_date": str(DELIVERED + timedelta(days=400))},
    )
    assert check_eligibility(case).expired


def test_no_expiry_date() -> None:
    result = check_eligibility(_case(2))
    assert result.days_to_expiry is None
    assert not result.expired
    assert not result.short_dated


def test_restricted_items_are_returnable_but_flagged() -> None:
    result = check_eligibility(_case(2, item={"regulated": True, "hazmat": True}))
    assert result.returnable
    assert result.restricted
    assert result.eligible
    assert result.flags == [EligibilityFlag.RESTRICTED_ITEM]
    assert result.reasons == ["regulated, hazmat item: returnable into quarantine only"]


# ----------------------------------------------------------------------------- property


@given(
    days=st.integers(min_value=0, max_value=800),
    window=st.integers(min_value=0, max_value=120),
    warranty=st.integers(min_value=0, max_value=800),
    reason=st.sampled_from(list(ReasonCode)),
)
def test_window_and_warranty_rules_hold_for_any_timing(
    days: int, window: int, warranty: int, reason: ReasonCode
) -> None:
    case = _case(
        days,
        request={"customer_reason_code": reason.value},
        item={"return_window_days": window, "warranty_days": warranty},
    )
    result = check_eligibility(case)
    assert result.within_return_window is (days <= window)
    assert result.within_warranty is (warranty > 0 and days <= warranty)
    covered = result.within_return_window or result.eligible_under_warranty
    if window == 0 and warranty == 0:
        assert result.exceptions == [EligibilityException.NOT_RETURNABLE]
    else:
        assert (EligibilityException.OUTSIDE_WINDOW in result.exceptions) is not covered
    if result.eligible_under_warranty:
        assert reason is ReasonCode.DEFECTIVE
