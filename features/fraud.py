"""Fraud features: customer behaviour, identity graph, the return event against its norms.

Pure functions of the raw aggregates a `CustomerState` snapshot holds (or of a return event and
the norms it is compared with). Training and serving call the same functions, so a customer gets
the same feature vector wherever it is scored. `describe` turns a feature and its reference
values into the words an analyst reads ("returns 46% of order lines, 4.1x the segment median").
"""

from __future__ import annotations

import math
from collections.abc import Mapping

PRIOR_RETURN_RATE = 0.15
"""Return rate a customer with no history is assumed to have (shrinkage target)."""
PRIOR_WEIGHT = 5.0
"""Order lines' worth of weight the prior carries: 1 return in 1 line is not a 100% returner."""

CUSTOMER_FEATURES = (
    "return_rate_count",
    "return_rate_value",
    "returns_count",
    "recent_returns",
    "late_window_share",
    "defective_pick_share",
    "original_payment_share",
    "not_received_confirmed",
    "inspection_mismatch_share",
    "serial_mismatch",
    "cheaper_item",
    "graded_good_share",
    "inspector_concentration",
    "account_age_days",
    "linked_accounts",
    "linked_new_accounts",
    "linked_flagged",
    "linked_return_rate",
    "shared_token_kinds",
)
"""Feature names, in the column order every detector sees."""

DIRECTIONS: dict[str, int] = dict.fromkeys(CUSTOMER_FEATURES, 1) | {"account_age_days": -1}
"""Which tail is suspicious: +1 high values, -1 low values (a young account)."""

NEW_ACCOUNT_FILL_DAYS = 3650.0
"""Account age assumed when unknown (an old account: unknown age is no evidence of a ring)."""


def _share(count: float, total: float, pseudo: float = 2.0) -> float:
    """A share with a small pseudo-count so one event out of one is not 100%."""
    return float(count) / (float(total) + pseudo) if total > 0 else 0.0


def customer_features(snapshot: Mapping[str, float]) -> dict[str, float]:
    """Feature vector of one customer from its `CustomerState.snapshot`.

    Rates are shrunk towards `PRIOR_RETURN_RATE` so short histories do not look extreme.
    Raises KeyError naming the missing aggregate when the snapshot is incomplete.
    """
    s = snapshot
    returns = float(s["returns_count"])
    lines = float(s["order_lines"])
    rate = (returns + PRIOR_WEIGHT * PRIOR_RETURN_RATE) / (lines + PRIOR_WEIGHT)
    order_value = float(s["order_value"])
    mean_line_value = order_value / lines if lines > 0 else 0.0
    value_rate = (
        (float(s["return_value"]) + PRIOR_WEIGHT * PRIOR_RETURN_RATE * mean_line_value)
        / (order_value + PRIOR_WEIGHT * mean_line_value)
        if order_value > 0
        else rate
    )
    inspected = float(s["inspected_count"])
    age = float(s["account_age_days"])
    linked = float(s["linked_accounts"])
    linked_rate = 0.0
    if linked > 0:
        all_returns = returns + float(s["linked_returns"])
        all_lines = lines + float(s["linked_order_lines"])
        linked_rate = (all_returns + PRIOR_WEIGHT * PRIOR_RETURN_RATE) / (all_lines + PRIOR_WEIGHT)
    return {
        "return_rate_count": rate,
        "return_rate_value": value_rate,
        "returns_count": returns,
        "recent_returns": float(s["recent_returns"]),
        "late_window_share": _share(s["returns_late_window"], returns),
        "defective_pick_share": _share(s["returns_defective_pick"], returns),
        "original_payment_share": _share(s["returns_original_payment"], returns),
        "not_received_confirmed": float(s["not_received_confirmed"]),
        "inspection_mismatch_share": _share(s["inspection_mismatch"], inspected),
        "serial_mismatch": float(s["serial_mismatch"]),
        "cheaper_item": float(s["cheaper_item"]),
        "graded_good_share": _share(s["graded_good"], inspected),
        "inspector_concentration": inspector_concentration(
            s["inspector_top_count"], s["inspector_site_returns"], s["inspector_site_staff"]
        ),
        "account_age_days": NEW_ACCOUNT_FILL_DAYS if math.isnan(age) else max(age, 0.0),
        "linked_accounts": linked,
        "linked_new_accounts": float(s["linked_new_accounts"]),
        "linked_flagged": float(s["linked_flagged"]),
        "linked_return_rate": linked_rate,
        "shared_token_kinds": float(s["shared_token_kinds"]),
    }


def inspector_concentration(top_count: float, site_returns: float, staff: float) -> float:
    """How far a customer's returns pile onto one inspector beyond chance (a binomial z-score).

    With `staff` inspectors at the site, each return goes to a given one with probability
    1/staff; `top_count` of `site_returns` went to the busiest. 0 when there is nothing to see.
    """
    if staff <= 1 or site_returns <= 0:
        return 0.0
    p = 1.0 / staff
    expected = site_returns * p
    return max(0.0, (top_count - expected) / math.sqrt(site_returns * p * (1 - p)))


def event_features(
    value: float,
    customer_mean_return_value: float,
    sku_mean_return_value: float,
    days_since_delivery: float | None,
    return_window_days: float | None,
    not_received_confirmed: bool,
) -> dict[str, float]:
    """One return event against its customer's and its SKU's norms.

    Ratios are 1.0 when there is no norm yet (a first return, an unseen SKU).
    """
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"value must be a finite amount >= 0, got {value!r}")
    late = 0.0
    if days_since_delivery is not None and return_window_days:
        late = float(days_since_delivery) / float(return_window_days)
    return {
        "value_vs_customer": value / customer_mean_return_value
        if customer_mean_return_value > 0
        else 1.0,
        "value_vs_sku": value / sku_mean_return_value if sku_mean_return_value > 0 else 1.0,
        "window_used": late,
        "not_received_confirmed": float(not_received_confirmed),
    }


def describe(
    feature: str,
    value: float,
    segment_median: float,
    snapshot: Mapping[str, float] | None = None,
) -> str:
    """The words an analyst reads for one suspicious feature value.

    `segment_median` is the feature's median among the customer's segment (ratios are given
    against it when it is positive). Raises KeyError for an unknown feature name.
    """
    ratio = ""
    if segment_median > 0 and value > 0:
        ratio = f", {value / segment_median:.1f}x the segment median"
    snap = snapshot or {}
    texts = {
        "return_rate_count": f"returns {value:.0%} of order lines{ratio}",
        "return_rate_value": f"returns {value:.0%} of order value{ratio}",
        "returns_count": f"{value:.0f} returns so far{ratio}",
        "recent_returns": f"{value:.1f} returns in the last month or so (velocity){ratio}",
        "late_window_share": f"{value:.0%} of returns come in the last quarter of the return "
        "window",
        "defective_pick_share": f"claims 'defective' on {value:.0%} of returns{ratio}",
        "original_payment_share": f"asks for a refund to the original payment on {value:.0%} "
        "of returns",
        "not_received_confirmed": f"{value:.0f} 'item not received' claim(s) on deliveries the "
        "carrier confirmed",
        "inspection_mismatch_share": f"inspection contradicted the claim on {value:.0%} of "
        "returns (signs of use, no fault found)",
        "serial_mismatch": f"{value:.0f} return(s) came back with another serial number, an "
        "empty box or the wrong item",
        "cheaper_item": f"{value:.0f} return(s) came back as a cheaper look-alike of the item "
        "credited",
        "graded_good_share": f"{value:.0%} of returns graded new or like-new{ratio}",
        "inspector_concentration": (
            f"{snap.get('inspector_top_count', 0):.0f} of "
            f"{snap.get('inspector_site_returns', 0):.0f} returns at one site went to the same "
            f"inspector (chance would give "
            f"{_expected(snap):.1f}; z = {value:.1f})"
        ),
        "account_age_days": f"account opened only {value:.0f} days ago",
        "linked_accounts": f"shares identity tokens with {value:.0f} other account(s)",
        "linked_new_accounts": f"linked through shared tokens to {value:.0f} account(s) opened "
        "in the last year",
        "linked_flagged": f"shares an identity token with {value:.0f} flagged account(s)",
        "linked_return_rate": f"its linked accounts together return {value:.0%} of order "
        f"lines{ratio}",
        "shared_token_kinds": f"shares {value:.0f} kind(s) of identity token (address, phone, "
        "payment, email) with other accounts",
        "value_vs_customer": f"asks {value:.1f}x this customer's usual return value",
        "value_vs_sku": f"asks {value:.1f}x the usual credit for this SKU",
        "window_used": f"asked after {value:.0%} of the return window",
    }
    return texts[feature]


def _expected(snapshot: Mapping[str, float]) -> float:
    staff = float(snapshot.get("inspector_site_staff", 0) or 0)
    return float(snapshot.get("inspector_site_returns", 0)) / staff if staff else 0.0
