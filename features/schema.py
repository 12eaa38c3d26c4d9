"""Canonical return case: the one shape every workflow system, model and audit record shares.

Pydantic v2 models with validation that names the offending field. Workflow systems send a
`ReturnCase` (the return request plus the master data the service needs: customer, item and the
order line it came from). Unknown fields are refused so clients cannot smuggle in values that
belong to the service (scores, flags, versions).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from features.codes import Channel, ClaimType, CustomerSegment, ReasonCode

MAX_NOTE_CHARS = 5_000
MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_SERIALS = 500
PHOTO_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")

Identifier = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
    ),
]
"""An external identifier: letters, digits and . _ : / - (no spaces), at most 64 characters."""

Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$"),
]
"""A lower-case snake-case code such as a category key or a region."""

TokenHash = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=128, pattern=r"^[0-9a-f]+$"),
]
"""Hex digest of an identity token (address, phone, payment, email); never the raw value."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 alphabetic currency code, e.g. USD."""

Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class CanonicalModel(BaseModel):
    """Base for the canonical schema: strict about unknown fields, whitespace-trimmed strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Customer(CanonicalModel):
    """A buying account. B2B accounts may belong to a parent account (account hierarchy)."""

    customer_id: Identifier
    segment: CustomerSegment
    region: Code
    account_opened: date
    parent_account_id: Identifier | None = None
    address_hash: TokenHash | None = None
    phone_hash: TokenHash | None = None
    payment_hash: TokenHash | None = None
    email_hash: TokenHash | None = None


class Item(CanonicalModel):
    """SKU master data: the attributes that drive eligibility, policy and disposition."""

    sku: Identifier
    category: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    unit_price: Money
    unit_cost: Money
    serialized: bool = False
    lot_controlled: bool = False
    expiry_controlled: bool = False
    regulated: bool = False
    hazmat: bool = False
    refurbishable: bool = False
    vendor_return_agreement: bool = False
    return_window_days: Annotated[int, Field(ge=0, le=3650)] = 30
    warranty_days: Annotated[int, Field(ge=0, le=36500)] = 0
    vendor_id: Identifier | None = None


class OrderLine(CanonicalModel):
    """The order line being returned, as shipped."""

    order_id: Identifier
    order_line_id: Identifier
    customer_id: Identifier
    sku: Identifier
    quantity_ordered: Annotated[int, Field(gt=0, le=1_000_000)]
    # 0 is legal: a line that was never delivered (an "item not received" claim refers to it)
    quantity_delivered: Annotated[int, Field(ge=0, le=1_000_000)]
    unit_price: Money
    currency: CurrencyCode = "USD"
    order_date: date
    ship_date: date | None = None
    delivery_date: date | None = None
    serial_numbers: Annotated[list[Identifier], Field(max_length=MAX_SERIALS)] = []
    lot: Identifier | None = None
    expiry_date: date | None = None
    channel: Channel
    warehouse: Identifier

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.ship_date is not None and self.ship_date < self.order_date:
            raise ValueError("ship_date must not be before order_date")
        if self.delivery_date is not None:
            shipped = self.ship_date or self.order_date
            if self.delivery_date < shipped:
                raise ValueError("delivery_date must not be before ship_date/order_date")
        if self.quantity_delivered > self.quantity_ordered:
            raise ValueError("quantity_delivered must not exceed quantity_ordered")
        return self


class Photo(CanonicalModel):
    """A photo attached to a return: inline base64 content or a reference (path or URI)."""

    photo_id: Identifier
    content_type: Literal["image/jpeg", "image/png", "image/webp"]
    uri: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    content_base64: str | None = Field(default=None, repr=False)
    size_bytes: Annotated[int, Field(gt=0, le=MAX_PHOTO_BYTES)] | None = None

    @field_validator("content_base64")
    @classmethod
    def _bounded_base64(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # check the size before decoding so an oversized upload costs no memory
        if len(value) > (MAX_PHOTO_BYTES * 4) // 3 + 4:
            raise ValueError(f"photo larger than {MAX_PHOTO_BYTES} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("content_base64 is not valid base64") from exc
        if not raw:
            raise ValueError("photo content is empty")
        if len(raw) > MAX_PHOTO_BYTES:
            raise ValueError(f"photo larger than {MAX_PHOTO_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _content_or_uri(self) -> Self:
        if (self.uri is None) == (self.content_base64 is None):
            raise ValueError("give exactly one of uri or content_base64")
        return self

    def content(self) -> bytes | None:
        """Decoded inline bytes, or None when the photo is a reference."""
        return None if self.content_base64 is None else base64.b64decode(self.content_base64)


class ReturnRequest(CanonicalModel):
    """What the customer asked for, as the workflow system received it."""

    return_id: Identifier
    event_id: Identifier = Field(
        description="Unique id of this event at the sender; retries reuse it"
    )
    customer_id: Identifier
    order_line_id: Identifier
    sku: Identifier
    claim_type: ClaimType = ClaimType.RETURN
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    customer_reason_code: ReasonCode
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)] = ""
    photos: Annotated[list[Photo], Field(max_length=MAX_PHOTOS)] = []
    serial_numbers: Annotated[list[Identifier], Field(max_length=MAX_SERIALS)] = []
    lot: Identifier | None = None
    expiry_date: date | None = None
    channel: Channel
    warehouse: Identifier
    requested_at: datetime
    received_at: datetime | None = None
    value: Money = Field(description="Credit the customer asks for, in `currency`")
    currency: CurrencyCode = "USD"
    refund_method: Literal["original_payment", "store_credit", "account_credit", "replacement"] = (
        "original_payment"
    )

    @model_validator(mode="after")
    def _received_after_requested(self) -> Self:
        if self.received_at is not None and _naive(self.received_at) < _naive(self.requested_at):
            raise ValueError("received_at must not be before requested_at")
        return self


class ReturnCase(CanonicalModel):
    """One return event with the master data needed to triage it."""

    request: ReturnRequest
    customer: Customer
    item: Item
    order_line: OrderLine

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        request, line = self.request, self.order_line
        if request.customer_id != self.customer.customer_id:
            raise ValueError("request.customer_id does not match customer.customer_id")
        if line.customer_id != self.customer.customer_id:
            raise ValueError("order_line.customer_id does not match customer.customer_id")
        if request.sku != self.item.sku:
            raise ValueError("request.sku does not match item.sku")
        if line.sku != self.item.sku:
            raise ValueError("order_line.sku does not match item.sku")
        if request.order_line_id != line.order_line_id:
            raise ValueError("request.order_line_id does not match order_line.order_line_id")
        if request.currency != line.currency:
            raise ValueError("request.currency does not match order_line.currency")
        if request.requested_at.date() < line.order_date:
            raise ValueError("request.requested_at must not be before order_line.order_date")
        return self


def _naive(moment: datetime) -> datetime:
    """Compare aware and naive datetimes safely (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
