"""The canonical return case: valid cases pass, invalid ones fail naming the field."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from features.codes import Disposition, ReasonCode
from features.schema import MAX_NOTE_CHARS, MAX_PHOTO_BYTES, MAX_PHOTOS, ReturnCase

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "cases.jsonl"


def _valid() -> dict[str, Any]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return json.loads(handle.readline())["case"]


def _errors(payload: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as info:
        ReturnCase.model_validate(payload)
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


def test_sample_cases_are_valid() -> None:
    with SAMPLE.open(encoding="utf-8") as handle:
        cases = [ReturnCase.model_validate(json.loads(line)["case"]) for line in handle]
    assert len(cases) >= 200


def test_codes_match_the_product_contract() -> None:
    assert [c.value for c in ReasonCode] == [
        "DAMAGED_IN_TRANSIT", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "SIZE_FIT",
        "INCOMPATIBLE", "QUALITY", "MISSING_PARTS", "NO_LONGER_NEEDED", "LATE_DELIVERY",
        "EXPIRED", "OTHER",
    ]  # fmt: skip
    assert [d.value for d in Disposition] == [
        "RESTOCK", "RESALE_DISCOUNTED", "REFURBISH", "RETURN_TO_VENDOR", "SCRAP", "QUARANTINE",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("request", "quantity"), 0, "quantity"),
        (("request", "quantity"), -3, "quantity"),
        (("request", "quantity"), "three", "quantity"),
        (("request", "customer_reason_code"), "BROKEN", "customer_reason_code"),
        (("request", "channel"), "FAX", "channel"),
        (("request", "note"), "x" * (MAX_NOTE_CHARS + 1), "note"),
        (("request", "value"), -1.0, "value"),
        (("request", "currency"), "usd", "currency"),
        (("request", "return_id"), "", "return_id"),
        (("request", "return_id"), "has space", "return_id"),
        (("order_line", "quantity_ordered"), 0, "quantity_ordered"),
        (("customer", "segment"), "VIP", "segment"),
        (("item", "unit_price"), float("nan"), "unit_price"),
    ],
)
def test_invalid_field_is_named(path: tuple[str, str], value: Any, field: str) -> None:
    payload = _valid()
    payload[path[0]][path[1]] = value
    errors = _errors(payload)
    assert any(field in loc for loc, _ in errors), errors


def test_unknown_fields_are_refused() -> None:
    payload = _valid()
    payload["request"]["fraud_score"] = 0.01  # belongs to the service, never to the client
    errors = _errors(payload)
    assert any("fraud_score" in loc for loc, _ in errors)


def test_dates_must_be_in_order() -> None:
    payload = _valid()
    payload["order_line"]["ship_date"] = "2020-01-01"
    errors = _errors(payload)
    assert any("ship_date" in msg for _, msg in errors), errors

    payload = _valid()
    payload["request"]["requested_at"] = "2001-01-01T00:00:00"
    payload["request"].pop("received_at", None)
    errors = _errors(payload)
    assert any("requested_at" in msg for _, msg in errors), errors

    payload = _valid()
    payload["request"]["received_at"] = "2001-01-01T00:00:00"
    errors = _errors(payload)
    assert any("received_at" in msg for _, msg in errors), errors


def test_mismatched_references_are_refused() -> None:
    payload = _valid()
    payload["request"]["sku"] = "OTHER-SKU"
    errors = _errors(payload)
    assert any("sku" in msg for _, msg in errors), errors


def _photo(content: bytes | None = None, uri: str | None = None) -> dict[str, Any]:
    photo: dict[str, Any] = {"photo_id": "P1", "content_type": "image/jpeg"}
    if content is not None:
        photo["content_base64"] = base64.b64encode(content).decode()
    if uri is not None:
        photo["uri"] = uri
    return photo


def test_photo_limits() -> None:
    payload = _valid()
    payload["request"]["photos"] = [_photo(uri=f"photos/{i}.jpg") for i in range(MAX_PHOTOS + 1)]
    assert any("photos" in loc for loc, _ in _errors(payload))

    payload = _valid()
    payload["request"]["photos"] = [_photo(content=b"\xff" * (MAX_PHOTO_BYTES + 1))]
    errors = _errors(payload)
    assert any("content_base64" in loc and "larger" in msg for loc, msg in errors), errors

    payload = _valid()
    payload["request"]["photos"] = [{"photo_id": "P1", "content_type": "image/jpeg",
                                     "content_base64": "not base64!!"}]  # fmt: skip
    assert any("content_base64" in loc for loc, _ in _errors(payload))

    payload = _valid()
    payload["request"]["photos"] = [_photo()]  # neither content nor uri
    assert any("uri" in msg for _, msg in _errors(payload))

    payload = _valid()
    payload["request"]["photos"] = [{**_photo(uri="a.jpg"), "content_type": "text/plain"}]
    assert any("content_type" in loc for loc, _ in _errors(payload))


def test_photo_content_round_trips() -> None:
    payload = _valid()
    payload["request"]["photos"] = [_photo(content=b"\xff\xd8\xff jpeg bytes")]
    case = ReturnCase.model_validate(payload)
    assert case.request.photos[0].content() == b"\xff\xd8\xff jpeg bytes"


@given(quantity=st.integers(min_value=-(10**6), max_value=10**6))
def test_quantity_must_be_positive(quantity: int) -> None:
    payload = _valid()
    payload["request"]["quantity"] = quantity
    if quantity > 0:
        assert ReturnCase.model_validate(payload).request.quantity == quantity
    else:
        assert any("quantity" in loc for loc, _ in _errors(payload))
