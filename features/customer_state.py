"""Incremental customer, identity-graph, SKU and site aggregates for fraud features.

`CustomerState` keeps running counters per customer (orders, returns, reasons, findings,
refund methods, a decayed return velocity, returns per inspector), an identity graph (accounts
linked through shared token hashes, kept as a union-find so a new account joins its component in
near-constant time), per-SKU return norms and per-inspector aggregates. Every update is O(1)-ish:
serving updates the state per request instead of recomputing it from the history.

The state is plain data (dicts of numbers and strings) and saves to one JSON file, so serving can
start from the training world's state. Pure: no I/O beyond `save` / `load` of a path it is given.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from features.schema import ReturnCase

TOKEN_KINDS = ("address_hash", "phone_hash", "payment_hash", "email_hash")
VELOCITY_HALF_LIFE_DAYS = 30.0
LATE_IN_WINDOW = 0.75
"""A return asked for after this share of the item's return window counts as late."""
NEW_ACCOUNT_DAYS = 365
MAX_COMPONENT = 200
"""Component members summed at most (a token shared by thousands would be a data error)."""

FINDINGS_MISMATCH = ("SIGNS_OF_USE", "NO_FAULT_FOUND")
FINDINGS_SWAP = ("SERIAL_MISMATCH", "EMPTY_BOX", "WRONG_ITEM_RETURNED")
GRADES_GOOD = ("NEW", "LIKE_NEW")

# per-customer counters; every one is a float so the state serialises as numbers
COUNTERS = (
    "orders_count",
    "order_lines",
    "order_value",
    "returns_count",
    "return_value",
    "returns_late_window",
    "returns_defective_pick",
    "returns_other_pick",
    "returns_original_payment",
    "not_received_count",
    "not_received_confirmed",
    "inspected_count",
    "inspection_mismatch",
    "serial_mismatch",
    "cheaper_item",
    "graded_good",
    "recent_returns",
    "last_return_day",
    "first_return_day",
)


def _day_number(moment: date | datetime | str | float | int | None) -> float | None:
    """Days since 1970-01-01 as a float (fractions kept), None for missing values."""
    if moment is None:
        return None
    if isinstance(moment, float | int):
        return None if math.isnan(moment) else float(moment)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.replace(tzinfo=None) - (
                moment.utcoffset() or datetime.min - datetime.min
            )
        return (moment - datetime(1970, 1, 1)).total_seconds() / 86400.0
    return float((moment - date(1970, 1, 1)).days)


@dataclass(frozen=True)
class ReturnEvent:
    """One return as the state sees it: request fields plus what inspection recorded (if yet).

    Inspection fields stay None for a request that has not been inspected (serving time).
    """

    customer_id: str
    requested_day: float
    value: float
    sku: str = ""
    warehouse: str = ""
    claim_type: str = "RETURN"
    customer_reason_code: str = ""
    refund_method: str = ""
    days_since_delivery: float | None = None
    return_window_days: float | None = None
    delivery_confirmed: bool = True
    order_id: str | None = None
    order_value: float = 0.0
    order_lines: int = 1
    inspector_id: str | None = None
    inspection_condition: str | None = None
    inspection_finding: str | None = None
    serial_match: bool | None = None

    @classmethod
    def from_case(cls, case: ReturnCase) -> ReturnEvent:
        """The event a `ReturnCase` describes (not yet inspected)."""
        request, line = case.request, case.order_line
        delivered = line.delivery_date
        days = None
        if delivered is not None:
            days = float((request.requested_at.date() - delivered).days)
        requested = _day_number(request.requested_at)
        assert requested is not None
        return cls(
            customer_id=request.customer_id,
            requested_day=requested,
            value=float(request.value),
            sku=request.sku,
            warehouse=request.warehouse,
            claim_type=request.claim_type.value,
            customer_reason_code=request.customer_reason_code.value,
            refund_method=request.refund_method,
            days_since_delivery=days,
            return_window_days=float(case.item.return_window_days),
            delivery_confirmed=delivered is not None and line.quantity_delivered > 0,
            order_id=line.order_id,
            order_value=float(line.unit_price * line.quantity_ordered),
            order_lines=1,
        )


class CustomerState:
    """Running aggregates per customer, identity component, SKU and inspector.

    `update(event)` folds one return in; `add_order(...)` one order; `add_customer(...)` one
    account (and links it through its token hashes). `snapshot(customer_id)` returns the raw
    aggregates the fraud features are computed from, always including `returns_count`,
    `orders_count` and `return_value`.
    """

    def __init__(self) -> None:
        self.clock: float = 0.0
        self.customers: MutableMapping[str, dict[str, float]] = {}
        self.profiles: MutableMapping[str, dict[str, Any]] = {}
        self.order_ids: MutableMapping[str, set[str]] = {}
        self.inspector_counts: dict[str, dict[str, float]] = {}
        self.site_counts: MutableMapping[str, dict[str, float]] = {}
        self.labels: dict[str, bool] = {}
        self.token_owners: MutableMapping[str, list[str]] = {}
        self.parent: MutableMapping[str, str] = {}
        self.members: MutableMapping[str, list[str]] = {}
        self.skus: MutableMapping[str, dict[str, float]] = {}
        self.inspectors: dict[str, dict[str, float]] = {}
        self.site_inspectors: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ accounts and graph

    def add_customer(
        self,
        customer_id: str,
        *,
        segment: str = "UNKNOWN",
        region: str = "",
        account_opened: date | datetime | str | float | None = None,
        tokens: Mapping[str, str | None] | None = None,
    ) -> None:
        """Register an account (idempotent) and link it to accounts sharing a token hash."""
        if not customer_id:
            raise ValueError("customer_id must not be empty")
        self._counters(customer_id)
        profile = self.profiles.setdefault(customer_id, {})
        profile["segment"] = str(segment)
        profile["region"] = str(region)
        profile["account_opened"] = _day_number(account_opened)
        for kind, value in (tokens or {}).items():
            if kind not in TOKEN_KINDS:
                raise ValueError(f"unknown token kind {kind!r}; expected one of {TOKEN_KINDS}")
            if not value:
                continue
            profile[kind] = str(value)
            key = f"{kind}:{value}"
            owners = self.token_owners.get(key, [])
            if customer_id in owners:
                continue
            for other in owners[:MAX_COMPONENT]:
                self._union(customer_id, other)
            # a new list, never an in-place append: copies made by `copy_for` share the lists
            self.token_owners[key] = [*owners, customer_id]

    def set_label(self, customer_id: str, abusive: bool) -> None:
        """Record an analyst's verdict on an account (used for 'linked to flagged accounts')."""
        self.labels[customer_id] = bool(abusive)

    def _find(self, customer_id: str) -> str:
        root = customer_id
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(customer_id, customer_id) != root:  # path compression
            self.parent[customer_id], customer_id = root, self.parent[customer_id]
        return root

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        ma = self.members.get(ra, [ra])
        mb = self.members.get(rb, [rb])
        if len(ma) < len(mb):
            ra, rb, ma, mb = rb, ra, mb, ma
        self.parent[rb] = ra
        self.members[ra] = ma + mb
        self.members.pop(rb, None)

    def linked_accounts(self, customer_id: str) -> list[str]:
        """Other accounts in the customer's identity component (shared tokens, transitively)."""
        root = self._find(customer_id)
        return [m for m in self.members.get(root, [root]) if m != customer_id]

    # ------------------------------------------------------------------ orders and returns

    def _counters(self, customer_id: str) -> dict[str, float]:
        counters = self.customers.get(customer_id)
        if counters is None:
            counters = dict.fromkeys(COUNTERS, 0.0)
            counters["last_return_day"] = math.nan
            counters["first_return_day"] = math.nan
            self.customers[customer_id] = counters
        return counters

    def add_order(
        self,
        customer_id: str,
        order_id: str,
        order_day: date | datetime | str | float,
        value: float,
        lines: int = 1,
    ) -> None:
        """Fold in one order (once per `order_id`; a repeat is ignored)."""
        seen = self.order_ids.setdefault(customer_id, set())
        if order_id in seen:
            return
        seen.add(order_id)
        counters = self._counters(customer_id)
        counters["orders_count"] += 1
        counters["order_lines"] += lines
        counters["order_value"] += float(value)
        day = _day_number(order_day)
        if day is not None:
            self.clock = max(self.clock, day)

    def update(self, event: ReturnEvent) -> None:
        """Fold in one return event: customer counters, SKU norms, inspector aggregates."""
        if event.value < 0 or not math.isfinite(event.value):
            raise ValueError(f"value must be a finite amount >= 0, got {event.value!r}")
        c = self._counters(event.customer_id)
        if event.order_id is not None and event.order_id not in self.order_ids.get(
            event.customer_id, set()
        ):
            self.add_order(
                event.customer_id,
                event.order_id,
                event.requested_day,
                event.order_value,
                event.order_lines,
            )
        day = event.requested_day
        if not math.isnan(c["last_return_day"]):
            elapsed = max(0.0, day - c["last_return_day"])
            c["recent_returns"] *= 0.5 ** (elapsed / VELOCITY_HALF_LIFE_DAYS)
        c["recent_returns"] += 1.0
        c["last_return_day"] = (
            day if math.isnan(c["last_return_day"]) else max(day, c["last_return_day"])
        )
        if math.isnan(c["first_return_day"]):
            c["first_return_day"] = day
        self.clock = max(self.clock, day)
        c["returns_count"] += 1
        c["return_value"] += event.value
        if (
            event.days_since_delivery is not None
            and event.return_window_days
            and event.days_since_delivery >= LATE_IN_WINDOW * event.return_window_days
        ):
            c["returns_late_window"] += 1
        c["returns_defective_pick"] += event.customer_reason_code == "DEFECTIVE"
        c["returns_other_pick"] += event.customer_reason_code == "OTHER"
        c["returns_original_payment"] += event.refund_method == "original_payment"
        if event.claim_type == "NOT_RECEIVED":
            c["not_received_count"] += 1
            c["not_received_confirmed"] += bool(event.delivery_confirmed)
        if event.sku:
            sku = self.skus.setdefault(event.sku, {"returns": 0.0, "value": 0.0})
            sku["returns"] += 1
            sku["value"] += event.value
        if event.warehouse:
            sites = self.site_counts.setdefault(event.customer_id, {})
            sites[event.warehouse] = sites.get(event.warehouse, 0.0) + 1
        if event.inspector_id is not None:
            self._inspected(event, c)

    def _inspected(self, event: ReturnEvent, c: dict[str, float]) -> None:
        inspector = str(event.inspector_id)
        c["inspected_count"] += 1
        finding = event.inspection_finding or ""
        c["inspection_mismatch"] += finding in FINDINGS_MISMATCH
        c["serial_mismatch"] += finding in FINDINGS_SWAP or event.serial_match is False
        c["cheaper_item"] += finding == "CHEAPER_ITEM_RETURNED"
        good = (event.inspection_condition or "") in GRADES_GOOD
        c["graded_good"] += good
        per = self.inspector_counts.setdefault(event.customer_id, {})
        per[inspector] = per.get(inspector, 0.0) + 1
        agg = self.inspectors.setdefault(
            inspector, {"cases": 0.0, "graded_good": 0.0, "value": 0.0, "good_value": 0.0}
        )
        agg["cases"] += 1
        agg["graded_good"] += good
        agg["value"] += event.value
        agg["good_value"] += event.value if good else 0.0
        if event.warehouse:
            staff = self.site_inspectors.setdefault(event.warehouse, [])
            if inspector not in staff:
                staff.append(inspector)

    def update_from_case(self, case: ReturnCase) -> None:
        """Fold in a return request as serving receives it (account registered if new)."""
        customer = case.customer
        if customer.customer_id not in self.profiles:
            self.add_customer(
                customer.customer_id,
                segment=customer.segment.value,
                region=customer.region,
                account_opened=customer.account_opened,
                tokens={kind: getattr(customer, kind) for kind in TOKEN_KINDS},
            )
        self.update(ReturnEvent.from_case(case))

    # ------------------------------------------------------------------ reading

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self.customers

    def customer_ids(self) -> list[str]:
        """Every customer with an account, order or return, in insertion order."""
        return list(self.customers)

    def snapshot(self, customer_id: str) -> dict[str, float]:
        """Raw aggregates of one customer as of the state's clock (zeros for an unknown one).

        Keys: every counter in `COUNTERS` (velocity decayed to the clock), plus
        `account_age_days`, `inspector_top_count`, `inspector_site_returns`,
        `inspector_site_staff`, `linked_accounts`, `linked_new_accounts`, `linked_flagged`,
        `linked_returns`, `linked_order_lines`, `linked_return_value`, `shared_token_kinds`.
        """
        counters = self.customers.get(customer_id)
        snap = dict(counters) if counters is not None else dict.fromkeys(COUNTERS, 0.0)
        last = snap.get("last_return_day", math.nan)
        if counters is not None and not math.isnan(last):
            snap["recent_returns"] = counters["recent_returns"] * 0.5 ** (
                max(0.0, self.clock - last) / VELOCITY_HALF_LIFE_DAYS
            )
        snap["days_since_last_return"] = self.clock - last if not math.isnan(last) else math.nan
        snap.pop("last_return_day", None)
        snap.pop("first_return_day", None)
        profile = self.profiles.get(customer_id, {})
        opened = profile.get("account_opened")
        snap["account_age_days"] = self.clock - opened if opened is not None else math.nan
        # returns concentrated on one inspector (the insider pattern seen from the customer)
        per = self.inspector_counts.get(customer_id, {})
        top_count, top_site_returns, staff = 0.0, 0.0, 0.0
        if per:
            top = max(per, key=lambda k: per[k])
            top_count = per[top]
            site = next((s for s, st in self.site_inspectors.items() if top in st), "")
            staff = float(len(self.site_inspectors.get(site, [])))
            top_site_returns = sum(per.get(i, 0.0) for i in self.site_inspectors.get(site, []))
        snap["inspector_top_count"] = top_count
        snap["inspector_site_returns"] = top_site_returns
        snap["inspector_site_staff"] = staff
        linked = self.linked_accounts(customer_id)[:MAX_COMPONENT]
        snap["linked_accounts"] = float(len(linked))
        snap["linked_flagged"] = float(sum(self.labels.get(m, False) for m in linked))
        new = 0.0
        returns = lines = value = 0.0
        for member in linked:
            m_opened = self.profiles.get(member, {}).get("account_opened")
            if m_opened is not None and self.clock - m_opened <= NEW_ACCOUNT_DAYS:
                new += 1
            mc = self.customers.get(member)
            if mc is not None:
                returns += mc["returns_count"]
                lines += mc["order_lines"]
                value += mc["return_value"]
        snap["linked_new_accounts"] = new
        snap["linked_returns"] = returns
        snap["linked_order_lines"] = lines
        snap["linked_return_value"] = value
        snap["shared_token_kinds"] = float(self._shared_kinds(customer_id))
        return snap

    def _shared_kinds(self, customer_id: str) -> int:
        profile = self.profiles.get(customer_id, {})
        return sum(
            1
            for kind in TOKEN_KINDS
            if (value := profile.get(kind))
            and len(self.token_owners.get(f"{kind}:{value}", [])) > 1
        )

    def segment(self, customer_id: str) -> str:
        """The account's segment ('UNKNOWN' when never registered)."""
        return str(self.profiles.get(customer_id, {}).get("segment", "UNKNOWN"))

    def sku_norm(self, sku: str) -> tuple[float, float]:
        """Returns seen for a SKU and their mean value (0, 0 for an unseen SKU)."""
        stats = self.skus.get(sku)
        if not stats or not stats["returns"]:
            return 0.0, 0.0
        return stats["returns"], stats["value"] / stats["returns"]

    def copy_for(self, customer_id: str, sku: str = "") -> CustomerState:
        """A shallow state that shares everything but this customer's mutable aggregates.

        `score_case` uses it to look at "the state after this return" without mutating.
        """
        clone = CustomerState.__new__(CustomerState)
        clone.__dict__.update(self.__dict__)
        # overlays, not copies: a copy of every top-level dict cost O(customers) per request
        clone.customers = _Overlay(self.customers)
        if customer_id in self.customers:
            clone.customers[customer_id] = dict(self.customers[customer_id])
        clone.order_ids = _Overlay(self.order_ids)
        clone.order_ids[customer_id] = set(self.order_ids.get(customer_id, set()))
        clone.site_counts = _Overlay(self.site_counts)
        clone.site_counts[customer_id] = dict(self.site_counts.get(customer_id, {}))
        clone.skus = _Overlay(self.skus)
        if sku in self.skus:
            clone.skus[sku] = dict(self.skus[sku])
        clone.profiles = _Overlay(self.profiles)
        if customer_id in self.profiles:
            clone.profiles[customer_id] = dict(self.profiles[customer_id])
        clone.token_owners = _Overlay(self.token_owners)
        clone.parent = _Overlay(self.parent)
        clone.members = _Overlay(self.members)
        # an inspected event changes these nested in place (any customer's, any inspector's)
        clone.inspector_counts = _CopyOnRead(self.inspector_counts)  # type: ignore[assignment]
        clone.inspectors = _CopyOnRead(self.inspectors)  # type: ignore[assignment]
        clone.site_inspectors = _CopyOnRead(self.site_inspectors)  # type: ignore[assignment]
        return clone

    # ------------------------------------------------------------------ building and saving

    @classmethod
    def from_world(cls, world: Any, until: datetime | None = None) -> CustomerState:
        """State of a simulated world (see DATASHEET.md) from everything before `until`.

        Orders count from their order date, returns from their request date; inspection results
        count only once the goods were received before `until`. Analyst labels are loaded too.
        """
        import pandas as pd

        state = cls()
        cut = None if until is None else pd.Timestamp(until)
        customers = world.customers
        opened = pd.to_datetime(customers["account_opened"])
        for row, when in zip(customers.to_dict("records"), opened, strict=True):
            if cut is not None and when > cut:
                continue
            state.add_customer(
                str(row["customer_id"]),
                segment=str(row["segment"]),
                region=str(row["region"]),
                account_opened=when.to_pydatetime(),
                tokens={k: row[k] for k in TOKEN_KINDS if isinstance(row[k], str)},
            )
            label = row.get("analyst_label")
            if label is not None and not pd.isna(label):
                state.set_label(str(row["customer_id"]), bool(label))
        orders = world.orders
        if cut is not None:
            orders = orders[orders["order_date"] <= cut]
        lines = orders.assign(_value=orders["unit_price"] * orders["quantity_ordered"])
        per_order = lines.groupby("order_id", sort=False).agg(
            customer_id=("customer_id", "first"),
            order_date=("order_date", "first"),
            lines=("order_line_id", "size"),
            value=("_value", "sum"),
        )
        per_order = per_order.sort_values("order_date", kind="stable")
        days = (per_order["order_date"] - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400
        for oid, cid, day, n, value in zip(
            per_order.index,
            per_order["customer_id"],
            days,
            per_order["lines"],
            per_order["value"],
            strict=True,
        ):
            state.add_order(str(cid), str(oid), float(day), float(value), int(n))
        state.ingest_returns(world.returns, world.items, until=until)
        return state

    def ingest_returns(self, returns: Any, items: Any, until: datetime | None = None) -> None:
        """Fold in the rows of a simulated `returns` table (request order), up to `until`."""
        import pandas as pd

        frame = returns
        if until is not None:
            frame = frame[frame["requested_at"] <= pd.Timestamp(until)]
        window = items.set_index("sku")["return_window_days"]
        windows = window.reindex(frame["sku"]).to_numpy(dtype=float)
        epoch = pd.Timestamp("1970-01-01")
        requested = ((frame["requested_at"] - epoch).dt.total_seconds() / 86400).to_numpy()
        received = frame["received_at"]
        inspected = received.notna().to_numpy().copy()
        if until is not None:
            inspected &= (received <= pd.Timestamp(until)).fillna(False).to_numpy()
        columns = [
            "customer_id", "sku", "warehouse", "claim_type", "customer_reason_code",
            "refund_method", "days_since_delivery", "delivery_confirmed", "value",
            "inspector_id", "inspection_condition", "inspection_finding", "serial_match",
        ]  # fmt: skip
        for i, row in enumerate(frame[columns].itertuples(index=False, name=None)):
            (cid, sku, wh, claim, reason, refund, days, confirmed, value,
             inspector, condition, finding, match) = row  # fmt: skip
            seen = bool(inspected[i]) and isinstance(inspector, str)
            self.update(
                ReturnEvent(
                    customer_id=str(cid),
                    requested_day=float(requested[i]),
                    value=float(value),
                    sku=str(sku),
                    warehouse=str(wh),
                    claim_type=str(claim),
                    customer_reason_code=str(reason),
                    refund_method=str(refund),
                    days_since_delivery=float(days),
                    return_window_days=float(windows[i]),
                    delivery_confirmed=bool(confirmed),
                    inspector_id=str(inspector) if seen else None,
                    inspection_condition=condition if seen and isinstance(condition, str) else None,
                    inspection_finding=finding if seen and isinstance(finding, str) else None,
                    serial_match=match if seen and isinstance(match, bool) else None,
                )
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able content of the state."""
        return {
            "version": 1,
            "clock": self.clock,
            "customers": self.customers,
            "profiles": self.profiles,
            "order_ids": {k: sorted(v) for k, v in self.order_ids.items()},
            "inspector_counts": self.inspector_counts,
            "site_counts": self.site_counts,
            "labels": self.labels,
            "token_owners": self.token_owners,
            "parent": self.parent,
            "members": self.members,
            "skus": self.skus,
            "inspectors": self.inspectors,
            "site_inspectors": self.site_inspectors,
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> CustomerState:
        """Inverse of `to_dict`."""
        if content.get("version") != 1:
            raise ValueError(f"unsupported customer state version {content.get('version')!r}")
        state = cls()
        state.clock = float(content["clock"])
        state.customers = {k: dict(v) for k, v in content["customers"].items()}
        state.profiles = dict(content["profiles"])
        state.order_ids = {k: set(v) for k, v in content["order_ids"].items()}
        state.inspector_counts = dict(content["inspector_counts"])
        state.site_counts = dict(content["site_counts"])
        state.labels = dict(content["labels"])
        state.token_owners = {k: list(v) for k, v in content["token_owners"].items()}
        state.parent = dict(content["parent"])
        state.members = {k: list(v) for k, v in content["members"].items()}
        state.skus = dict(content["skus"])
        state.inspectors = dict(content["inspectors"])
        state.site_inspectors = {k: list(v) for k, v in content["site_inspectors"].items()}
        return state

    def save(self, path: Path) -> Path:
        """Write the state as gzipped JSON (NaN kept as JSON NaN)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle)
        return path

    @classmethod
    def load(cls, path: Path) -> CustomerState:
        """Read a state written by `save`."""
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))


def ingest_events(state: CustomerState, events: Iterable[ReturnEvent]) -> CustomerState:
    """Fold many events into `state` in order; returns the state for chaining."""
    for event in events:
        state.update(event)
    return state


class _Overlay(MutableMapping[str, Any]):
    """A dict view that records writes and deletions in front of a base it never changes.

    Reads fall through to the base unless the key was written or deleted here. Values are
    shared with the base, as in a shallow copy (`copy_for` copies what an update mutates).
    """

    def __init__(self, base: Mapping[str, Any]) -> None:
        self._base = base
        self._front: dict[str, Any] = {}
        self._deleted: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key in self._front:
            return self._front[key]
        if key in self._deleted:
            raise KeyError(key)
        return self._base[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._front[key] = value
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._front.pop(key, None)
        self._deleted.add(key)

    def __contains__(self, key: object) -> bool:
        if key in self._front:
            return True
        return key not in self._deleted and key in self._base

    def __iter__(self) -> Iterator[str]:
        for key in self._base:
            if key not in self._deleted and key not in self._front:
                yield key
        yield from self._front

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _CopyOnRead(_Overlay):
    """An `_Overlay` that copies a base value into its front when it is first read, so changes
    made in place to the value (nested counters, lists) stay in the overlay too."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._front and key not in self._deleted and key in self._base:
            self._front[key] = copy.copy(self._base[key])
        return super().__getitem__(key)
