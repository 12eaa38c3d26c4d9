"""Disposition -> postings: inventory movement, GL impact and downstream action, from config.

The mapping lives in `models/conf/postings.yml` (versioned by its content hash, never in code);
every disposition recommendation returns `Postings.postings_for(disposition, value)` together with
`Postings.version`, so the audit record ties a recommendation to the exact mapping used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from features.codes import Disposition

AMOUNT_BASES = ("cost", "recoverable", "write_down", "none")
ACTION_TYPES = (
    "CREDIT",
    "SERVICE_ORDER",
    "SUPPLIER_CLAIM",
    "DISPOSAL_RECORD",
    "QUALITY_HOLD",
)


@dataclass(frozen=True)
class Postings:
    """The validated disposition -> postings mapping and its content-hash version."""

    version: str
    dispositions: dict[str, dict[str, Any]]

    def postings_for(self, disposition: str, value: float) -> dict[str, Any]:
        """The postings a disposition implies for goods worth `value` (cost basis, >= 0).

        Returns ``{"version", "disposition", "inventory": {"from", "to"}, "gl": [{"debit",
        "credit", "amount_basis", "amount"}], "action": {"type", "description"}}``.
        """
        if disposition not in self.dispositions:
            raise ValueError(
                f"disposition: {disposition!r} is not one of {sorted(self.dispositions)}"
            )
        amount = float(value)
        if not amount >= 0:  # also refuses NaN
            raise ValueError(f"value: {value!r} must be a non-negative number")
        entry = self.dispositions[disposition]
        recoverable = float(entry.get("recoverable_fraction", 1.0))
        amounts = {
            "cost": amount,
            "recoverable": amount * recoverable,
            "write_down": amount * (1.0 - recoverable),
            "none": 0.0,
        }
        gl = [
            {
                "debit": line["debit"],
                "credit": line["credit"],
                "amount_basis": line["amount_basis"],
                "amount": round(amounts[line["amount_basis"]], 2),
            }
            for line in entry["gl"]
        ]
        return {
            "version": self.version,
            "disposition": disposition,
            "inventory": dict(entry["inventory"]),
            "gl": gl,
            "action": dict(entry["action"]),
        }


def parse_postings(text: str) -> Postings:
    """Validate postings YAML text; errors name the disposition and field."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("dispositions"), dict):
        raise ValueError("postings: expected a mapping with a 'dispositions' mapping")
    entries: dict[str, dict[str, Any]] = raw["dispositions"]
    expected = {d.value for d in Disposition}
    if set(entries) != expected:
        missing, extra = sorted(expected - set(entries)), sorted(set(entries) - expected)
        raise ValueError(f"postings.dispositions: missing {missing}, unknown {extra}")
    for name, entry in entries.items():
        where = f"postings.dispositions.{name}"
        inventory = entry.get("inventory")
        if not isinstance(inventory, dict) or not {"from", "to"} <= set(inventory):
            raise ValueError(f"{where}.inventory: needs 'from' and 'to'")
        if not isinstance(entry.get("gl"), list):
            raise ValueError(f"{where}.gl: expected a list")
        for i, line in enumerate(entry["gl"]):
            if not {"debit", "credit", "amount_basis"} <= set(line):
                raise ValueError(f"{where}.gl[{i}]: needs debit, credit and amount_basis")
            if line["amount_basis"] not in AMOUNT_BASES:
                raise ValueError(f"{where}.gl[{i}].amount_basis: not one of {AMOUNT_BASES}")
        action = entry.get("action")
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            raise ValueError(f"{where}.action.type: not one of {ACTION_TYPES}")
        fraction = float(entry.get("recoverable_fraction", 1.0))
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"{where}.recoverable_fraction: must lie in [0, 1]")
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Postings(version=f"postings-{version}", dispositions=entries)


def load_postings(path: Path | None = None) -> Postings:
    """The postings mapping from `path`, or the packaged `models/conf/postings.yml`."""
    if path is not None:
        return parse_postings(Path(path).read_text(encoding="utf-8"))
    return _packaged_postings()


@lru_cache(maxsize=1)
def _packaged_postings() -> Postings:

    return parse_postings(
        (Path(__file__).parent / "conf" / "postings.yml").read_text(encoding="utf-8")
    )
