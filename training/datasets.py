"""Readers for the real public datasets (never committed; read from a path given by the user)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ONLINE_RETAIL_INVOICES = Path("retail-transactions/online_retail_invoices.csv")


def load_online_retail_invoices(path: Path) -> pd.DataFrame:
    """Online Retail II invoices as `customer_id, invoice_date, is_return, quantity, amount`.

    `path` is the CSV itself or the datasets folder that holds it. Invoices without a customer
    are dropped; an invoice id starting with 'C' is a cancellation, i.e. a return.
    """
    if path.is_dir():
        path = path / ONLINE_RETAIL_INVOICES
    raw = pd.read_csv(path, dtype={"invoice_id": str, "customer_id": str})
    raw = raw.dropna(subset=["customer_id"])
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].str.replace(r"\.0$", "", regex=True).to_numpy(),
            "invoice_date": pd.to_datetime(raw["invoice_date"], format="%m/%d/%y %H:%M").to_numpy(),
            "is_return": raw["invoice_id"].str.startswith("C").to_numpy(),
            "quantity": raw["total_quantity"].to_numpy(),
            "amount": raw["total_price"].to_numpy(),
        }
    )
