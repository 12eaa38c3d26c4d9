"""Customer-level aggregates shared by the realism checks, training and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd


def return_invoice_share(
    customer_id: pd.Series, is_return: pd.Series, *, min_invoices: int = 5
) -> pd.Series:
    """Share of each customer's invoices that are returns, for customers with enough invoices.

    An invoice is one sale (an order) or one return event, as in a plain transaction export
    (Online Retail II counts a cancellation invoice as a return). Customers with fewer than
    `min_invoices` invoices are left out: their shares are too noisy to compare.
    """
    frame = pd.DataFrame({"customer_id": customer_id.to_numpy(), "ret": is_return.to_numpy(bool)})
    grouped = frame.groupby("customer_id")["ret"].agg(["size", "mean"])
    kept = grouped[grouped["size"] >= min_invoices]
    return kept["mean"].rename("return_share")


def share_quantiles(
    shares: pd.Series, quantiles: tuple[float, ...] = (0.25, 0.5, 0.9, 0.99)
) -> dict[str, float]:
    """Named quantiles of a return-share distribution, e.g. {"p50": 0.17}."""
    values = (
        np.quantile(shares.to_numpy(dtype=float), quantiles)
        if len(shares)
        else [np.nan] * len(quantiles)
    )
    return {f"p{round(q * 100)}": float(v) for q, v in zip(quantiles, values, strict=True)}
