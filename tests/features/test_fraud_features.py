"""Fraud features and the incremental customer state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from features.customer_state import CustomerState, ReturnEvent
from features.fraud import (
    CUSTOMER_FEATURES,
    customer_features,
    describe,
    event_features,
    inspector_concentration,
)
from training.simulation.cases import iter_cases
from training.simulation.config import load_world_config
from training.simulation.world import build_world


@pytest.fixture(scope="module")
def small_world():  # type: ignore[no-untyped-def]
    return build_world(1500, 0, 5, load_world_config())


def _event(customer: str, day: float, value: float = 10.0, **kw: object) -> ReturnEvent:
    return ReturnEvent(customer_id=customer, requested_day=day, value=value, **kw)  # type: ignore[arg-type]


def test_snapshot_has_the_keys_the_disposition_model_uses() -> None:
    state = CustomerState()
    state.add_customer("A", segment="CONSUMER", account_opened=0.0)
    state.add_order("A", "O1", 1.0, 100.0, lines=2)
    state.update(_event("A", 5.0, 40.0))
    snap = state.snapshot("A")
    assert snap["returns_count"] == 1 and snap["orders_count"] == 1 and snap["return_value"] == 40
    unknown = state.snapshot("nobody")
    assert unknown["returns_count"] == 0 and unknown["orders_count"] == 0


def test_incremental_updates_match_a_rebuild_from_scratch(small_world) -> None:  # type: ignore[no-untyped-def]
    full = CustomerState.from_world(small_world)
    cut = small_world.returns["requested_at"].iloc[len(small_world.returns) // 2]
    partial = CustomerState.from_world(small_world, until=cut.to_pydatetime())
    # fold the remaining orders and returns in one by one, as serving would
    later_orders = small_world.orders[small_world.orders["order_date"] > cut]
    for oid, group in later_orders.groupby("order_id", sort=False):
        day = (group["order_date"].iloc[0] - pd.Timestamp("1970-01-01")).days
        value = float((group["unit_price"] * group["quantity_ordered"]).sum())
        partial.add_order(str(group["customer_id"].iloc[0]), str(oid), day, value, len(group))
    later = small_world.returns[small_world.returns["requested_at"] > cut]
    partial.ingest_returns(later, small_world.items)
    for customer in list(full.customer_ids())[:300]:
        a, b = full.snapshot(customer), partial.snapshot(customer)
        for key in ("returns_count", "orders_count", "return_value", "serial_mismatch"):
            assert a[key] == pytest.approx(b[key]), (customer, key)


def test_identity_graph_links_accounts_through_shared_tokens() -> None:
    state = CustomerState()
    state.add_customer("A", tokens={"payment_hash": "aa11bb22", "email_hash": "e1e1e1e1"})
    state.add_customer("B", tokens={"payment_hash": "aa11bb22"})
    state.add_customer("C", tokens={"email_hash": "e1e1e1e1"})
    state.add_customer("D", tokens={"payment_hash": "ffffffff"})
    state.set_label("B", True)
    assert sorted(state.linked_accounts("C")) == ["A", "B"]  # transitively through A
    assert state.linked_accounts("D") == []
    snap = state.snapshot("A")
    assert snap["linked_accounts"] == 2 and snap["linked_flagged"] == 1
    assert snap["shared_token_kinds"] == 2
    with pytest.raises(ValueError, match="unknown token kind"):
        state.add_customer("E", tokens={"iban": "x"})


def test_velocity_decays_and_state_round_trips(tmp_path: Path) -> None:
    state = CustomerState()
    state.add_customer("A", account_opened=0.0)
    state.update(_event("A", 100.0))
    state.update(_event("A", 100.0))
    assert state.snapshot("A")["recent_returns"] == pytest.approx(2.0)
    state.add_order("B", "OB", 130.0, 5.0)  # the clock moves 30 days: one half-life
    assert state.snapshot("A")["recent_returns"] == pytest.approx(1.0)
    loaded = CustomerState.load(state.save(tmp_path / "state.json.gz"))
    assert loaded.snapshot("A") == pytest.approx(state.snapshot("A"), nan_ok=True)


def test_update_from_case_and_copy_for_do_not_leak(small_world) -> None:  # type: ignore[no-untyped-def]
    state = CustomerState.from_world(small_world)
    case, _ = next(iter_cases(small_world, limit=1))
    customer = case.customer.customer_id
    before = state.snapshot(customer)
    view = state.copy_for(customer, case.request.sku)
    view.update_from_case(case)
    assert view.snapshot(customer)["returns_count"] == before["returns_count"] + 1
    assert state.snapshot(customer) == pytest.approx(before, nan_ok=True)
    state.update_from_case(case)
    assert state.snapshot(customer)["returns_count"] == before["returns_count"] + 1


def test_a_view_links_accounts_without_touching_the_state() -> None:
    """`copy_for` views record writes and deletions (a union drops a component's root) in
    front of the state; the state keeps its graph, profiles and counters."""
    state = CustomerState()
    state.add_customer("A", segment="SMB", tokens={"payment_hash": "aa11bb22"})
    state.add_customer("B", tokens={"payment_hash": "aa11bb22"})
    state.add_customer("C", tokens={"email_hash": "c3c3c3c3"})
    state.add_customer("D", tokens={"email_hash": "c3c3c3c3"})
    assert len(state.members) == 2  # {A, B} and {C, D}
    before = {
        name: json.dumps(getattr(state, name), sort_keys=True, default=sorted)
        for name in ("customers", "profiles", "token_owners", "parent", "members")
    }
    view = state.copy_for("C")
    view.add_customer("C", segment="CONSUMER", tokens={"payment_hash": "aa11bb22"})
    assert sorted(view.linked_accounts("C")) == ["A", "B", "D"]
    assert view.profiles["C"]["segment"] == "CONSUMER"
    assert len(view.members) == len(list(view.members)) == 1  # one root deleted in the view
    assert state.linked_accounts("C") == ["D"] and state.profiles["C"]["segment"] == "UNKNOWN"
    after = {
        name: json.dumps(getattr(state, name), sort_keys=True, default=sorted) for name in before
    }
    assert after == before
    with pytest.raises(KeyError):
        del view.members["nobody"]


def test_a_view_keeps_inspection_aggregates_to_itself() -> None:
    """An inspected event folded into a `copy_for` view changes the view's per-customer and
    per-inspector aggregates (nested in place), never the state's."""

    def inspected(customer: str, inspector: str, site: str) -> ReturnEvent:
        return ReturnEvent(
            customer, 10.0, 50.0, warehouse=site, inspector_id=inspector,
            inspection_condition="NEW", inspection_finding="OK",
        )  # fmt: skip

    state = CustomerState()
    state.update(inspected("A", "I1", "W1"))
    state.update(inspected("B", "I1", "W1"))
    names = ("inspector_counts", "inspectors", "site_inspectors")
    before = {name: json.dumps(getattr(state, name), sort_keys=True) for name in names}
    view = state.copy_for("A")
    view.update(inspected("A", "I1", "W1"))
    view.update(inspected("A", "I2", "W1"))  # a new inspector on the same site
    view.update(inspected("B", "I1", "W2"))  # another customer, another site
    assert view.inspector_counts["A"] == {"I1": 2.0, "I2": 1.0}
    assert view.inspectors["I1"]["cases"] == 4.0
    assert view.site_inspectors["W1"] == ["I1", "I2"]
    assert view.snapshot("A")["inspected_count"] == 3.0
    after = {name: json.dumps(getattr(state, name), sort_keys=True) for name in names}
    assert after == before
    assert state.snapshot("A")["inspected_count"] == 1.0


def test_bad_events_are_refused() -> None:
    with pytest.raises(ValueError, match="value"):
        CustomerState().update(_event("A", 1.0, -5.0))
    with pytest.raises(ValueError, match="customer_id"):
        CustomerState().add_customer("")
    with pytest.raises(KeyError, match="returns_count"):
        customer_features({})


def test_features_shrink_short_histories_and_flag_patterns() -> None:
    state = CustomerState()
    state.add_customer("new", account_opened=0.0)
    state.update(_event("new", 1.0))
    one = customer_features(state.snapshot("new"))
    assert set(one) == set(CUSTOMER_FEATURES)
    assert one["return_rate_count"] < 0.5  # 1 return, no known lines: not a 100% returner
    state.add_customer("inr", account_opened=0.0)
    for day in range(3):
        state.update(_event("inr", float(day), claim_type="NOT_RECEIVED", delivery_confirmed=True))
    assert customer_features(state.snapshot("inr"))["not_received_confirmed"] == 3
    assert all(math.isfinite(v) for v in one.values())


def test_inspector_concentration_and_event_norms() -> None:
    assert inspector_concentration(3, 12, 4) == 0.0  # exactly chance
    assert inspector_concentration(12, 12, 4) > 5  # every return to one of four inspectors
    assert inspector_concentration(5, 5, 1) == 0.0  # a one-inspector site says nothing
    ev = event_features(300.0, 100.0, 50.0, 28, 30, False)
    assert ev["value_vs_customer"] == 3 and ev["value_vs_sku"] == 6
    assert ev["window_used"] == pytest.approx(28 / 30)
    with pytest.raises(ValueError, match="value"):
        event_features(-1.0, 1.0, 1.0, None, None, False)
    text = describe("return_rate_count", 0.46, 0.115)
    assert text == "returns 46% of order lines, 4.0x the segment median"
    assert "3 flagged" in describe("linked_flagged", 3, 0)
