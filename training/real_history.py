"""Fraud scores for real customers from a plain transaction export, and abuse injection.

A transaction export has one row per invoice: customer id, date, amount, quantity and whether it
is a return. `read_transactions` reads the Online Retail II invoices as they are (invoice ids
starting with 'C' are returns) or any export through a column map. `history_features` turns the
history into per-customer features (return rate by count and value, return bursts against the
customer's own volume, full refunds of recent purchases, returns late after the purchase);
`score_history` fits the unsupervised detectors (ECOD and an isolation forest) on the behaviour
features of those customers (not on their size: a wholesaler returning a lot in absolute terms
is not abusing the policy) and returns a `FraudScore` per customer with worded factors.

`inject_abuse` plants synthetic abuse into some real customers' histories (serial returning,
wardrobing-like late full refunds, a return spree) so the scorer can be measured on real
backgrounds: `injection_benchmark` reports recall at a 1% false-positive rate among the
untouched customers, against a naive ranking by total return value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.fraud import ECODDetector, FraudScore, IsolationForestDetector

STANDARD_COLUMNS = ("customer_id", "date", "amount", "quantity", "is_return")
ONLINE_RETAIL_COLUMNS = (
    "invoice_id",
    "invoice_date",
    "customer_id",
    "total_quantity",
    "total_price",
)
HISTORY_FEATURES = (
    "return_rate_count",
    "return_rate_value",
    "returns_count",
    "return_value",
    "max_returns_30d",
    "full_refund_share",
    "late_return_share",
    "refunded_purchase_share",
    "burst_share",
)
# what the detectors score: behaviour, not size (returns_count and return_value stay in the
# features for the naive ranking and for analysts, but a big honest account is not an outlier)
SCORED_FEATURES = tuple(f for f in HISTORY_FEATURES if f not in ("returns_count", "return_value"))
BURST_PRIOR = 5.0
PATTERNS = ("SERIAL_RETURNER", "LATE_FULL_REFUND", "RETURN_SPREE")
# the factors an alert on each planted pattern should name (one of them)
PATTERN_FACTORS = {
    "SERIAL_RETURNER": ("refunded_purchase_share", "return_rate_count"),
    "LATE_FULL_REFUND": ("late_return_share",),
    "RETURN_SPREE": ("burst_share", "max_returns_30d"),
}
PRIOR_RATE, PRIOR_WEIGHT = 0.15, 5.0
TRUE_VALUES = {"true", "1", "yes", "y", "t", "return", "r"}


def parse_column_map(items: Sequence[str]) -> dict[str, str]:
    """`["customer_id=CustomerID", ...]` -> {standard field: file column}; errors name the item."""
    mapping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"column map item {item!r} is not of the form field=column")
        if key not in (*STANDARD_COLUMNS, "invoice_id"):
            raise ValueError(
                f"unknown field {key!r} in column map; expected one of "
                f"{', '.join((*STANDARD_COLUMNS, 'invoice_id'))}"
            )
        mapping[key] = value
    return mapping


def read_transactions(path: Path, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A transaction export as `customer_id, date, amount, quantity, is_return` (one row each).

    Without a map, the Online Retail II invoice columns are recognised; otherwise the file must
    have the standard columns or `column_map` must name them. `is_return` may be absent: then an
    `invoice_id` starting with 'C', or a negative amount or quantity, marks a return. Amounts and
    quantities are made positive. Rows without a customer are dropped. A file without any
    return is refused (the map is probably missing `is_return`).
    """
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    raw = pd.read_csv(path, dtype=str)
    mapping = dict(column_map or {})
    if not mapping and all(c in raw.columns for c in ONLINE_RETAIL_COLUMNS):
        mapping = {"customer_id": "customer_id", "date": "invoice_date", "invoice_id": "invoice_id",
                   "amount": "total_price", "quantity": "total_quantity"}  # fmt: skip
    for field in STANDARD_COLUMNS:
        mapping.setdefault(field, field)
    missing = [
        f"{field} (column {mapping[field]!r})"
        for field in ("customer_id", "date", "amount")
        if mapping[field] not in raw.columns
    ]
    if missing:
        raise ValueError(
            f"{path}: missing field(s) {', '.join(missing)}; map them with --column-map"
        )
    customer = raw[mapping["customer_id"]].str.strip().str.replace(r"\.0$", "", regex=True)
    keep = customer.notna() & (customer != "")
    raw, customer = raw[keep], customer[keep]
    amount = pd.to_numeric(raw[mapping["amount"]], errors="coerce")
    if amount.isna().any():
        row = int(np.flatnonzero(amount.isna().to_numpy())[0])
        raise ValueError(
            f"field amount (column {mapping['amount']!r}) is not a number at row {row}"
        )
    date = pd.to_datetime(raw[mapping["date"]], errors="coerce", format="mixed")
    if date.isna().any():
        row = int(np.flatnonzero(date.isna().to_numpy())[0])
        raise ValueError(f"field date (column {mapping['date']!r}) is not a date at row {row}")
    quantity = (
        pd.to_numeric(raw[mapping["quantity"]], errors="coerce").fillna(0)
        if mapping["quantity"] in raw.columns
        else pd.Series(0.0, index=raw.index)
    )
    if mapping["is_return"] in raw.columns:
        is_return = raw[mapping["is_return"]].str.strip().str.lower().isin(TRUE_VALUES)
    elif mapping.get("invoice_id", "invoice_id") in raw.columns:
        is_return = raw[mapping.get("invoice_id", "invoice_id")].str.upper().str.startswith("C")
        is_return = is_return | (amount < 0)
    else:
        is_return = (amount < 0) | (quantity < 0)
    if not is_return.any():
        raise ValueError(
            f"{path}: no returns found (no is_return column, 'C' invoice ids or negative "
            "amounts); map the field with --column-map is_return=COLUMN"
        )
    frame = pd.DataFrame(
        {
            "customer_id": customer.to_numpy(),
            "date": date.to_numpy(),
            "amount": amount.abs().to_numpy(float),
            "quantity": quantity.abs().to_numpy(float),
            "is_return": is_return.to_numpy(bool),
        }
    )
    return frame.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


def history_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Per-customer features of a standard transaction frame (index: customer_id).

    `refunded_purchase_share`: purchases of which 50-100% came back within 30 days;
    `full_refund_share`: returns whose amount matches (within 1%) a purchase of the same customer
    in the 60 days before; `late_return_share`: returns whose latest such purchase is 21-60 days
    old. A return is matched to one purchase, the latest that fits.
    `burst_share`: the returns of the busiest 30 days against all the customer's returns
    (plus 5, so that two returns in a week are not a spree): a spike against the customer's
    own volume, where `max_returns_30d` alone grows with the size of the account.
    Rates are shrunk towards 15% over 5 invoices so short histories do not look extreme.
    """
    missing = [c for c in STANDARD_COLUMNS if c not in tx.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    sales = tx[~tx["is_return"]]
    returns = tx[tx["is_return"]]
    ids = pd.Index(sorted(tx["customer_id"].astype(str).unique()), name="customer_id")
    n_sales = sales.groupby("customer_id").size().reindex(ids, fill_value=0)
    v_sales = sales.groupby("customer_id")["amount"].sum().reindex(ids, fill_value=0.0)
    n_ret = returns.groupby("customer_id").size().reindex(ids, fill_value=0)
    v_ret = returns.groupby("customer_id")["amount"].sum().reindex(ids, fill_value=0.0)
    invoices = n_sales + n_ret
    mean_sale = (v_sales / n_sales.replace(0, np.nan)).fillna(0.0)
    out = pd.DataFrame(index=ids)
    out["return_rate_count"] = (n_ret + PRIOR_WEIGHT * PRIOR_RATE) / (invoices + PRIOR_WEIGHT)
    # value returned per value bought (can exceed 1 when old purchases come back)
    out["return_rate_value"] = (v_ret + PRIOR_WEIGHT * PRIOR_RATE * mean_sale) / (
        v_sales + PRIOR_WEIGHT * mean_sale
    ).replace(0, np.nan)
    out["return_rate_value"] = out["return_rate_value"].fillna(PRIOR_RATE)
    out["returns_count"] = n_ret.astype(float)
    out["return_value"] = v_ret.astype(float)
    # most returns in any 30-day window
    burst = pd.Series(0.0, index=ids)
    if len(returns):
        r = returns[["customer_id", "date"]].sort_values("date", kind="stable")
        r = r.assign(one=1.0)
        rolled = (
            r.set_index("date")
            .groupby("customer_id")["one"]
            .rolling("30D")
            .sum()
            .groupby(level=0)
            .max()
        )
        burst = rolled.reindex(ids, fill_value=0.0)
    out["max_returns_30d"] = burst.astype(float)
    # returns matching an earlier purchase's amount (full refund), and how old that purchase was
    full = pd.Series(0.0, index=ids)
    late = pd.Series(0.0, index=ids)
    refunded_count = pd.Series(0, index=ids)
    if len(returns) and len(sales):
        pairs = (
            returns[["customer_id", "date", "amount"]]
            .reset_index()
            .merge(
                sales[["customer_id", "date", "amount"]], on="customer_id", suffixes=("", "_sale")
            )
        )
        lag = (pairs["date"] - pairs["date_sale"]).dt.total_seconds() / 86400
        same = (pairs["amount"] - pairs["amount_sale"]).abs() <= 0.01 * pairs["amount_sale"]
        # purchases most of which came back within 30 days ("buy and return")
        most = (pairs["amount"] >= 0.5 * pairs["amount_sale"]) & (
            pairs["amount"] <= 1.01 * pairs["amount_sale"]
        )
        # each return refunds one purchase: the latest one it fits (a big account has many
        # purchases of similar value, and one return must not count for all of them)
        bought = pairs[most & (lag >= 0) & (lag <= 30)].assign(lag=lag).sort_values("lag")
        bought = bought.drop_duplicates("index")
        refunded = bought.drop_duplicates(["customer_id", "date_sale", "amount_sale"])
        refunded_count = refunded.groupby("customer_id").size().reindex(ids, fill_value=0)
        pairs = pairs[same & (lag >= 0) & (lag <= 60)].assign(lag=lag)
        best = pairs.groupby("index").agg(customer_id=("customer_id", "first"), lag=("lag", "min"))
        full = best.groupby("customer_id").size().reindex(ids, fill_value=0).astype(float)
        late = (
            best[best["lag"] >= 21].groupby("customer_id").size().reindex(ids, fill_value=0)
        ).astype(float)
    out["full_refund_share"] = full / (n_ret + 2.0)
    out["late_return_share"] = late / (n_ret + 2.0)
    out["refunded_purchase_share"] = refunded_count.astype(float) / (n_sales + 2.0)
    out["burst_share"] = out["max_returns_30d"] / (out["returns_count"] + BURST_PRIOR)
    return out[list(HISTORY_FEATURES)]


def describe_history(
    feature: str, value: float, median: float, row: Mapping[str, float] | None = None
) -> str:
    """Words for one suspicious history feature (`row`: the customer's other features)."""
    if feature == "burst_share" and row is not None:
        return (
            f"{row['max_returns_30d']:.0f} of {row['returns_count']:.0f} returns within one "
            "30-day window"
        )
    ratio = f", {value / median:.1f}x the median customer" if median > 0 and value > 0 else ""
    texts = {
        "return_rate_count": f"returns on {value:.0%} of invoices{ratio}",
        "return_rate_value": f"returns {value:.0%} of the value bought{ratio}",
        "returns_count": f"{value:.0f} return invoices{ratio}",
        "return_value": f"returned goods worth {value:,.0f} in total{ratio}",
        "max_returns_30d": f"{value:.0f} returns within 30 days{ratio}",
        "full_refund_share": f"{value:.0%} of returns refund a recent purchase in full",
        "late_return_share": f"{value:.0%} of returns refund in full a purchase 3 to 8 weeks old",
        "refunded_purchase_share": f"{value:.0%} of purchases were mostly returned within 30 days",
        "burst_share": f"return spike: {value:.0%} of returns (shrunk) within one 30-day window",
    }
    return texts[feature]


def score_history(
    tx: pd.DataFrame, n_factors: int = 3, factor_tail: float = 0.02, random_state: int = 0
) -> tuple[list[FraudScore], pd.DataFrame]:
    """Score every customer of a transaction history with unsupervised detectors fitted on it.

    Both detectors see the behaviour features (`SCORED_FEATURES`), not the account's size.
    ECOD keeps each customer's strongest tail (each abuse pattern shows in one behaviour; a sum
    over these correlated rates rewards being merely somewhat high on all of them) and the
    isolation forest catches unusual combinations; `risk_score` is the customer's percentile
    under the mean of the two ranks (the share of this history's customers that score lower;
    not a calibrated probability of abuse: there are no labels). Levels: high for the top 1%,
    medium for the next 4%. Factors come from ECOD's per-feature tails. Returns the scores
    (highest first) and all the features.
    """
    features = history_features(tx)
    if features.empty:
        return [], features
    matrix = features[list(SCORED_FEATURES)].to_numpy(float)
    detector = ECODDetector(directions=[1] * matrix.shape[1], aggregate="max").fit(matrix)
    # the forest splits uniformly between a feature's min and max: log1p tames heavy tails
    forest = IsolationForestDetector(n_estimators=200, random_state=random_state).fit(
        np.log1p(matrix)
    )
    ecod = detector.predict_proba(matrix)[:, 1]
    iforest = forest.predict_proba(np.log1p(matrix))[:, 1]
    mean_rank = (ecod + iforest) / 2
    # the share of customers scoring lower: the top 1% have risk >= 0.99
    # (ties share a risk: no customer outranks another on the order of the file)
    lower = np.searchsorted(np.sort(mean_rank), mean_rank, side="left")
    risk = (lower + 0.5) / len(mean_rank)
    tails = detector.tail_scores(matrix)
    medians = features.median()
    scores = []
    for i in np.argsort(-risk, kind="stable"):
        row = features.iloc[int(i)]
        order = np.argsort(-tails[i])
        chosen = [j for j in order if np.exp(-tails[i, j]) <= factor_tail][:n_factors]
        if not chosen:
            chosen = [int(order[0])]
        names = [SCORED_FEATURES[j] for j in chosen]
        level = "high" if risk[i] >= 0.99 else "medium" if risk[i] >= 0.95 else "low"
        scores.append(
            FraudScore(
                customer_id=str(features.index[i]),
                risk_score=float(risk[i]),
                risk_level=level,
                factors=[describe_history(n, float(row[n]), float(medians[n]), row) for n in names],
                linked_accounts=[],
                detector_scores={"ecod": float(ecod[i]), "iforest": float(iforest[i])},
                factor_features=names,
            )
        )
    return scores, features


def inject_abuse(
    tx: pd.DataFrame, share: float = 0.03, min_invoices: int = 5, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Plant synthetic abuse into `share` of the customers with >= `min_invoices` invoices.

    Patterns, assigned round-robin to randomly chosen customers:
    - SERIAL_RETURNER: 60-90% of their purchases come back, 60-100% of the amount, 2-20 days on;
    - LATE_FULL_REFUND (wardrobing-like): their 3-6 largest purchases refunded in full 21-35
      days after purchase;
    - RETURN_SPREE: 6-12 returns within 10 days, each 50-150% of their median purchase.
    Returns the history with the planted returns added and the pattern per planted customer.
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    rng = np.random.default_rng(seed)
    counts = tx.groupby("customer_id").size()
    eligible = counts[counts >= min_invoices].index.to_numpy()
    n = max(len(PATTERNS), round(share * len(eligible)))
    chosen = rng.choice(eligible, min(n, len(eligible)), replace=False)
    planted = pd.Series(
        [PATTERNS[i % len(PATTERNS)] for i in range(len(chosen))], index=chosen, name="pattern"
    )
    sales = tx[~tx["is_return"]]
    by_customer = {str(key): group for key, group in sales.groupby("customer_id")}
    rows: list[dict[str, Any]] = []
    end = tx["date"].max()
    for customer, pattern in planted.items():
        own = by_customer.get(customer)
        if own is None or own.empty:
            continue
        if pattern == "SERIAL_RETURNER":
            picked = own[rng.random(len(own)) < rng.uniform(0.6, 0.9)]
            for sale in picked.itertuples():
                rows.append(_ret(customer, sale.date + pd.Timedelta(days=int(rng.integers(2, 21))),
                                 sale.amount * rng.uniform(0.6, 1.0), sale.quantity))  # fmt: skip
        elif pattern == "LATE_FULL_REFUND":
            picked = own.nlargest(int(rng.integers(3, 7)), "amount")
            for sale in picked.itertuples():
                rows.append(_ret(customer, sale.date + pd.Timedelta(days=int(rng.integers(21, 36))),
                                 sale.amount, sale.quantity))  # fmt: skip
        else:
            start = own["date"].iloc[int(rng.integers(0, len(own)))]
            median = float(own["amount"].median())
            for _ in range(int(rng.integers(6, 13))):
                when = start + pd.Timedelta(hours=float(rng.uniform(0, 240)))
                rows.append(_ret(customer, when, median * rng.uniform(0.5, 1.5), 1.0))
    added = pd.DataFrame(rows)
    if not added.empty:
        added["date"] = added["date"].clip(upper=end)
    injected = pd.concat([tx, added], ignore_index=True)
    injected = injected.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)
    return injected, planted


def _ret(customer: Any, when: pd.Timestamp, amount: float, quantity: float) -> dict[str, Any]:
    return {"customer_id": customer, "date": when, "amount": round(float(amount), 2),
            "quantity": abs(float(quantity)), "is_return": True}  # fmt: skip


def injection_benchmark(
    tx: pd.DataFrame, share: float = 0.03, seed: int = 0, fpr: float = 0.01
) -> dict[str, Any]:
    """Inject abuse, score, and compare with a naive ranking (total return value).

    Recall at `fpr` among the untouched customers with >= 5 invoices (the injected ones were
    drawn from those), overall and per pattern, for both rankings; for the scorer's alerts on
    planted customers, the share with a factor, and per pattern the share whose factors name
    that pattern's behaviour (`PATTERN_FACTORS`).
    """
    injected, planted = inject_abuse(tx, share=share, seed=seed)
    scores, features = score_history(injected)
    risk = pd.Series({s.customer_id: s.risk_score for s in scores})
    counts = injected.groupby("customer_id").size()
    population = counts[counts >= 5].index
    naive = features["return_value"]
    result: dict[str, Any] = {"planted": len(planted), "customers": len(population)}
    factor_ok = 0
    by_id = {s.customer_id: s for s in scores}
    for name, ranking in (("unsupervised", risk), ("naive_return_value", naive)):
        values = ranking.reindex(population).to_numpy(float)
        is_planted = population.isin(planted.index)
        threshold = float(np.quantile(values[~is_planted], 1 - fpr))
        hit = values > threshold
        result[f"{name}.recall_at_1pct_fpr"] = float(hit[is_planted].mean())
        for pattern in PATTERNS:
            mask = np.asarray(population.isin(planted.index[planted == pattern]))
            result[f"{name}.recall_at_1pct_fpr.{pattern}"] = float(hit[mask].mean())
        if name == "unsupervised":
            detected = population[is_planted & hit]
            factor_ok = sum(bool(by_id[c].factors) for c in detected)
            result["alerts_with_factor"] = factor_ok / len(detected) if len(detected) else 1.0
            for pattern, names in PATTERN_FACTORS.items():
                caught = [c for c in detected if planted[c] == pattern]
                named = sum(bool(set(names) & set(by_id[c].factor_features)) for c in caught)
                result[f"factor_matches_pattern.{pattern}"] = named / len(caught) if caught else 1.0
    return result
