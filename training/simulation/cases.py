"""Turn simulated world rows into canonical `ReturnCase` objects (what a workflow system sends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.schema import Customer, Item, OrderLine, Photo, ReturnCase, ReturnRequest
from training.simulation.world import World

# ground-truth columns written beside each case in cases.jsonl (never part of the request)
TRUTH_COLUMNS = (
    "true_reason",
    "note_reason",
    "secondary_reason",
    "true_damage_type",
    "damage_severity",
    "true_condition",
    "inspection_condition",
    "inspection_damage_type",
    "inspection_finding",
    "serial_match",
    "returned_sku",
    "inspector_id",
    "disposition",
    "credit_amount",
    "abuse_scenario",
)


def iter_cases(
    world: World, limit: int | None = None
) -> Iterator[tuple[ReturnCase, dict[str, Any]]]:
    """Yield each return as a validated `ReturnCase` with its ground truth, in request order."""
    customers = world.customers.set_index("customer_id")
    items = world.items.set_index("sku")
    lines = world.orders.set_index("order_line_id")
    photos_by_return: dict[str, list[Photo]] = {}
    for row in world.photos.itertuples(index=False):
        photos_by_return.setdefault(str(row.return_id), []).append(
            Photo(photo_id=str(row.photo_id), content_type="image/jpeg", uri=str(row.path))
        )
    returns = world.returns if limit is None else world.returns.head(limit)
    for ret in returns.to_dict("records"):
        customer = customers.loc[ret["customer_id"]]
        item = items.loc[ret["sku"]]
        line = lines.loc[ret["order_line_id"]]
        case = ReturnCase(
            request=ReturnRequest(
                return_id=ret["return_id"],
                event_id=ret["event_id"],
                customer_id=ret["customer_id"],
                order_line_id=ret["order_line_id"],
                sku=ret["sku"],
                claim_type=ret["claim_type"],
                quantity=int(ret["quantity"]),
                customer_reason_code=ret["customer_reason_code"],
                note=ret["note"],
                photos=photos_by_return.get(ret["return_id"], []),
                serial_numbers=list(ret["serial_numbers"]),
                lot=_opt(ret["lot"]),
                expiry_date=_day(ret["expiry_date"]),
                channel=ret["channel"],
                warehouse=ret["warehouse"],
                requested_at=_moment(ret["requested_at"]),
                received_at=_moment(ret["received_at"]),
                value=float(ret["value"]),
                currency=ret["currency"],
                refund_method=ret["refund_method"],
            ),
            customer=Customer(
                customer_id=ret["customer_id"],
                segment=customer["segment"],
                region=customer["region"],
                account_opened=_day(customer["account_opened"]),
                parent_account_id=_opt(customer["parent_account_id"]),
                address_hash=customer["address_hash"],
                phone_hash=customer["phone_hash"],
                payment_hash=customer["payment_hash"],
                email_hash=customer["email_hash"],
            ),
            item=Item(
                sku=ret["sku"],
                category=item["category"],
                name=item["name"],
                unit_price=float(item["unit_price"]),
                unit_cost=float(item["unit_cost"]),
                serialized=bool(item["serialized"]),
                lot_controlled=bool(item["lot_controlled"]),
                expiry_controlled=bool(item["expiry_controlled"]),
                regulated=bool(item["regulated"]),
                hazmat=bool(item["hazmat"]),
                refurbishable=bool(item["refurbishable"]),
                vendor_return_agreement=bool(item["vendor_return_agreement"]),
                return_window_days=int(item["return_window_days"]),
                warranty_days=int(item["warranty_days"]),
                vendor_id=item["vendor_id"],
            ),
            order_line=OrderLine(
                order_id=line["order_id"],
                order_line_id=ret["order_line_id"],
                customer_id=line["customer_id"],
                sku=line["sku"],
                quantity_ordered=int(line["quantity_ordered"]),
                quantity_delivered=int(line["quantity_delivered"]),
                unit_price=float(line["unit_price"]),
                currency=line["currency"],
                order_date=_day(line["order_date"]),
                ship_date=_day(line["ship_date"]),
                delivery_date=_day(line["delivery_date"]),
                serial_numbers=list(line["serial_numbers"]),
                lot=_opt(line["lot"]),
                expiry_date=_day(line["expiry_date"]),
                channel=line["channel"],
                warehouse=line["warehouse"],
            ),
        )
        truth = {key: _plain(ret[key]) for key in TRUTH_COLUMNS}
        yield case, truth


def write_cases_jsonl(world: World, path: Path, limit: int | None = None) -> int:
    """Write `{"case": ..., "truth": ...}` lines; returns the number written."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for case, truth in iter_cases(world, limit):
            record = {"case": case.model_dump(mode="json", exclude_none=True), "truth": truth}
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            count += 1
    return count


def _opt(value: Any) -> Any:
    return (
        None if value is None or (not isinstance(value, list | tuple) and pd.isna(value)) else value
    )


def _day(value: Any) -> date | None:
    value = _opt(value)
    return None if value is None else pd.Timestamp(value).date()


def _moment(value: Any) -> datetime | None:
    value = _opt(value)
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def _plain(value: Any) -> Any:
    value = _opt(value)
    if hasattr(value, "item"):
        return value.item()
    return value
