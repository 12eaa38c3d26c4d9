"""Eligibility of a return case: window, warranty, quantity, serials, expiry (PRODUCT.md flow 2).

Pure and deterministic: a `ReturnCase` (and optionally the moment to judge it at) in, an
`Eligibility` out; no I/O, no models. The policy engine turns the outcome into review queues;
this module only states the facts, with stable exception codes and human-readable reasons.

Conventions
- Days are counted in calendar days from the delivery date to the request date (or `as_of`);
  the window is inclusive: a request on day `return_window_days` is still inside it.
- A line that was never delivered (no delivery date, or nothing delivered) counts its window
  from the ship date, else the order date, and has `days_since_delivery = None`.
- A defect claim outside the return window but inside the warranty is eligible *under
  warranty* (`eligible_under_warranty`), not an exception.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from features.codes import ClaimType, ReasonCode
from features.schema import ReturnCase

SHORT_DATED_DAYS = 45
"""Goods with fewer days than this left before expiry (at the request date) are short-dated."""

WARRANTY_REASONS: frozenset[ReasonCode] = frozenset({ReasonCode.DEFECTIVE})
"""Reasons a warranty covers: the product does not work or stopped working."""


class EligibilityException(StrEnum):
    """Stable codes of what makes a case ineligible as requested (they need an eligibility review).

    The names are a contract with workflow systems and audit records: never rename a member.
    """

    NOT_DELIVERED = "NOT_DELIVERED"  # goods returned from a line with no recorded delivery
    OUTSIDE_WINDOW = "OUTSIDE_WINDOW"  # after the return window, and no warranty cover
    OUTSIDE_WARRANTY = "OUTSIDE_WARRANTY"  # a defect claim after window and warranty ended
    QUANTITY_ABOVE_DELIVERED = "QUANTITY_ABOVE_DELIVERED"
    SERIAL_MISMATCH = "SERIAL_MISMATCH"  # returned serials not (all) shipped on this line
    LOT_MISMATCH = "LOT_MISMATCH"  # returned lot differs from the lot shipped
    NOT_RETURNABLE = "NOT_RETURNABLE"  # final-sale item: no return window and no warranty


class EligibilityFlag(StrEnum):
    """Stable codes of facts worth knowing that do not by themselves block the return."""

    WARRANTY_CLAIM = "WARRANTY_CLAIM"  # eligible only because the warranty covers the defect
    RESTRICTED_ITEM = "RESTRICTED_ITEM"  # regulated/hazmat/lot/expiry-controlled: quarantine
    EXPIRED = "EXPIRED"
    SHORT_DATED = "SHORT_DATED"
    SERIAL_MISSING = "SERIAL_MISSING"  # serialized item returned without serial numbers


class Eligibility(BaseModel):
    """The eligibility facts of one return case, with codes and reasons for each problem."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date = Field(description="Day the window and warranty were judged at")
    days_since_delivery: int | None = Field(
        description="Calendar days from delivery to `as_of`; None when not delivered"
    )
    delivered: bool = Field(description="The order line has a delivery date and quantity")
    within_return_window: bool
    within_warranty: bool = Field(description="The item has a warranty and it has not ended")
    warranty_claim: bool = Field(description="The claimed reason is one a warranty covers")
    eligible_under_warranty: bool = Field(
        description="Outside the return window but a warranty claim within warranty"
    )
    quantity_ok: bool = Field(description="Claimed quantity not above delivered (ordered for INR)")
    quantity_excess: int = Field(ge=0, description="Units claimed above the allowed quantity")
    serial_matches: bool | None = Field(
        description="None when not serialized or no serials given; else returned <= shipped"
    )
    unmatched_serials: list[str] = Field(description="Returned serials not shipped on the line")
    lot_matches: bool | None = Field(description="None when either lot is unknown")
    returnable: bool = Field(description="The SKU accepts returns at all (not final sale)")
    restricted: bool = Field(
        description="Returnable only into quarantine: regulated, hazmat, lot or expiry controlled"
    )
    days_to_expiry: int | None = Field(description="Expiry date minus request date; None if none")
    expired: bool = Field(description="Expiry date before the request date")
    short_dated: bool = Field(description="Not expired, but under the short-dated margin")
    exceptions: list[EligibilityException] = Field(description="Problems, in a stable order")
    flags: list[EligibilityFlag] = Field(description="Notable facts that do not block the return")
    reasons: list[str] = Field(description="One human-readable sentence per exception and flag")

    @property
    def eligible(self) -> bool:
        """True when there is no eligibility exception."""
        return not self.exceptions


def check_eligibility(
    case: ReturnCase,
    as_of: datetime | None = None,
    *,
    reason_code: ReasonCode | None = None,
    short_dated_days: int = SHORT_DATED_DAYS,
) -> Eligibility:
    """Judge a return case's eligibility.

    `as_of` is the moment the return window and warranty are judged at; it defaults to the
    request time (what return policies count). Expiry is always judged at the request date.
    `reason_code` is the reason warranty cover is judged by (e.g. the reason model's answer);
    it defaults to the code the customer picked.
    """
    request, line, item = case.request, case.order_line, case.item
    moment = request.requested_at if as_of is None else as_of
    today = _utc_day(moment)
    request_day = _utc_day(request.requested_at)
    reason = request.customer_reason_code if reason_code is None else reason_code
    exceptions: list[EligibilityException] = []
    flags: list[EligibilityFlag] = []
    reasons: list[str] = []

    # -- delivery and windows
    delivered_on = line.delivery_date if line.quantity_delivered > 0 else None
    delivered = delivered_on is not None
    is_return = request.claim_type == ClaimType.RETURN
    start = delivered_on or line.ship_date or line.order_date
    elapsed = (today - start).days
    days_since_delivery = elapsed if delivered else None
    within_window = elapsed <= item.return_window_days
    within_warranty = item.warranty_days > 0 and elapsed <= item.warranty_days
    warranty_claim = reason in WARRANTY_REASONS
    under_warranty = not within_window and warranty_claim and within_warranty
    returnable = item.return_window_days > 0 or item.warranty_days > 0
    since = "delivery" if delivered else "shipment"

    if is_return and not delivered:
        exceptions.append(EligibilityException.NOT_DELIVERED)
        reasons.append("goods returned from an order line with no recorded delivery")
    if not returnable:
        exceptions.append(EligibilityException.NOT_RETURNABLE)
        reasons.append(f"item {item.sku} is final sale: no return window and no warranty")
    elif not within_window and not under_warranty:
        exceptions.append(EligibilityException.OUTSIDE_WINDOW)
        reasons.append(
            f"requested {elapsed} days after {since}; return window is "
            f"{item.return_window_days} days"
        )
        if warranty_claim and item.warranty_days > 0:
            exceptions.append(EligibilityException.OUTSIDE_WARRANTY)
            reasons.append(
                f"{reason.value} claim {elapsed} days after {since}; warranty is "
                f"{item.warranty_days} days"
            )
    if under_warranty:
        flags.append(EligibilityFlag.WARRANTY_CLAIM)
        reasons.append(
            f"outside the {item.return_window_days}-day return window but a {reason.value} "
            f"claim within the {item.warranty_days}-day warranty"
        )

    # -- quantity: goods back are capped by what was delivered; "not received" by what was ordered
    allowed = line.quantity_delivered if is_return else line.quantity_ordered
    excess = max(0, request.quantity - allowed)
    if excess:
        exceptions.append(EligibilityException.QUANTITY_ABOVE_DELIVERED)
        what = "delivered" if is_return else "ordered"
        reasons.append(f"quantity {request.quantity} above {allowed} {what}")

    # -- serials: every returned serial must have shipped on this line, once
    serial_matches: bool | None = None
    unmatched: list[str] = []
    if item.serialized and request.serial_numbers:
        shipped = set(line.serial_numbers)
        counts = Counter(request.serial_numbers)
        unmatched = sorted(s for s in counts if s not in shipped)
        repeated = sorted(s for s, n in counts.items() if n > 1)
        serial_matches = not unmatched and not repeated
        if not serial_matches:
            exceptions.append(EligibilityException.SERIAL_MISMATCH)
            detail = []
            if unmatched:
                detail.append(f"{len(unmatched)} not shipped on this line ({', '.join(unmatched)})")
            if repeated:
                detail.append(f"repeated ({', '.join(repeated)})")
            reasons.append("returned serial numbers " + "; ".join(detail))
    elif item.serialized and is_return:
        flags.append(EligibilityFlag.SERIAL_MISSING)
        reasons.append("serialized item returned without serial numbers")

    # -- lot traceability
    lot_matches: bool | None = None
    if request.lot is not None and line.lot is not None:
        lot_matches = request.lot == line.lot
        if not lot_matches:
            exceptions.append(EligibilityException.LOT_MISMATCH)
            reasons.append(f"returned lot {request.lot} differs from shipped lot {line.lot}")

    # -- restricted goods are returnable, but only into quarantine
    restricted = item.regulated or item.hazmat or item.lot_controlled or item.expiry_controlled
    if restricted:
        flags.append(EligibilityFlag.RESTRICTED_ITEM)
        kinds = [
            name
            for name, on in (
                ("regulated", item.regulated),
                ("hazmat", item.hazmat),
                ("lot-controlled", item.lot_controlled),
                ("expiry-controlled", item.expiry_controlled),
            )
            if on
        ]
        reasons.append(f"{', '.join(kinds)} item: returnable into quarantine only")

    # -- expiry, at the request date (the goods' expiry if reported, else the shipped one)
    expiry = request.expiry_date or line.expiry_date
    days_to_expiry = None if expiry is None else (expiry - request_day).days
    expired = days_to_expiry is not None and days_to_expiry < 0
    short_dated = days_to_expiry is not None and 0 <= days_to_expiry < short_dated_days
    if expired:
        flags.append(EligibilityFlag.EXPIRED)
        reasons.append(f"expired on {expiry}, before the request date")
    elif short_dated:
        flags.append(EligibilityFlag.SHORT_DATED)
        reasons.append(f"{days_to_expiry} days to expiry at the request (< {short_dated_days})")

    return Eligibility(
        as_of=today,
        days_since_delivery=days_since_delivery,
        delivered=delivered,
        within_return_window=within_window,
        within_warranty=within_warranty,
        warranty_claim=warranty_claim,
        eligible_under_warranty=under_warranty,
        quantity_ok=excess == 0,
        quantity_excess=excess,
        serial_matches=serial_matches,
        unmatched_serials=unmatched,
        lot_matches=lot_matches,
        returnable=returnable,
        restricted=restricted,
        days_to_expiry=days_to_expiry,
        expired=expired,
        short_dated=short_dated,
        exceptions=exceptions,
        flags=flags,
        reasons=reasons,
    )


def _utc_day(moment: datetime) -> date:
    """The calendar day of a moment; aware moments are taken in UTC, naive ones as given."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()
