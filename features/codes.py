"""Standard codes shared by every part of the service (the contract in PRODUCT.md).

The names are the public contract with workflow systems: never rename a member.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Primary return reason of a note (one per note)."""

    DAMAGED_IN_TRANSIT = "DAMAGED_IN_TRANSIT"
    DEFECTIVE = "DEFECTIVE"
    WRONG_ITEM = "WRONG_ITEM"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    SIZE_FIT = "SIZE_FIT"
    INCOMPATIBLE = "INCOMPATIBLE"
    QUALITY = "QUALITY"
    MISSING_PARTS = "MISSING_PARTS"
    NO_LONGER_NEEDED = "NO_LONGER_NEEDED"
    LATE_DELIVERY = "LATE_DELIVERY"
    EXPIRED = "EXPIRED"
    OTHER = "OTHER"


class Disposition(StrEnum):
    """What happens to the returned goods; postings per disposition live in config."""

    RESTOCK = "RESTOCK"
    RESALE_DISCOUNTED = "RESALE_DISCOUNTED"
    REFURBISH = "REFURBISH"
    RETURN_TO_VENDOR = "RETURN_TO_VENDOR"
    SCRAP = "SCRAP"
    QUARANTINE = "QUARANTINE"


class DamageType(StrEnum):
    """Damage type seen on a photo (PRODUCT.md: damage assessment)."""

    NONE = "NONE"
    SCRATCH_SCUFF = "SCRATCH_SCUFF"
    DENT_DEFORMATION = "DENT_DEFORMATION"
    CRACK_BREAK = "CRACK_BREAK"
    STAIN_CONTAMINATION = "STAIN_CONTAMINATION"
    PACKAGING_ONLY = "PACKAGING_ONLY"


class ConditionGrade(StrEnum):
    """Inspector's condition grade of a returned unit."""

    NEW = "NEW"  # unopened / sealed
    LIKE_NEW = "LIKE_NEW"  # opened, no signs of use
    USED = "USED"  # signs of use, fully functional
    DAMAGED = "DAMAGED"  # physical damage, may be repairable
    NON_FUNCTIONAL = "NON_FUNCTIONAL"  # does not work / unusable


class Channel(StrEnum):
    """Sales channel the order (and usually the return) came through."""

    EDI = "EDI"
    B2B_PORTAL = "B2B_PORTAL"
    SALES_REP = "SALES_REP"
    ECOMMERCE = "ECOMMERCE"
    MARKETPLACE = "MARKETPLACE"
    CALL_CENTER = "CALL_CENTER"


class CustomerSegment(StrEnum):
    """Kind of buyer; B2B accounts may have a parent account."""

    DEALER = "DEALER"
    CONTRACTOR = "CONTRACTOR"
    INSTITUTION = "INSTITUTION"  # hospitals, restaurants, schools
    CONSUMER = "CONSUMER"
    MARKETPLACE = "MARKETPLACE"


class ClaimType(StrEnum):
    """What the customer claims: the goods come back, or they never arrived."""

    RETURN = "RETURN"
    NOT_RECEIVED = "NOT_RECEIVED"


class AbuseScenario(StrEnum):
    """Ground-truth abuse pattern planted by the simulator (NONE for honest cases)."""

    NONE = "NONE"
    SERIAL_RETURNER = "SERIAL_RETURNER"
    WARDROBING = "WARDROBING"
    ITEM_SWAP = "ITEM_SWAP"  # empty box / wrong item sent back (serial mismatch)
    RETURN_RING = "RETURN_RING"  # accounts sharing identity tokens
    PRICE_SWITCH = "PRICE_SWITCH"  # cheaper item returned under a dearer SKU's credit
    ITEM_NOT_RECEIVED = "ITEM_NOT_RECEIVED"  # false "never arrived" claim
    INSIDER = "INSIDER"  # one inspector approving anomalous credits


REASON_DESCRIPTIONS: dict[ReasonCode, str] = {
    ReasonCode.DAMAGED_IN_TRANSIT: (
        "arrived physically damaged by shipping or handling: crushed, dented, cracked, leaking"
    ),
    ReasonCode.DEFECTIVE: (
        "does not work or stopped working: dead on arrival, malfunctions, fails after some use"
    ),
    ReasonCode.WRONG_ITEM: (
        "a different item, model, part number, size, colour or quantity was shipped than ordered"
    ),
    ReasonCode.NOT_AS_DESCRIBED: (
        "works but differs from the listing, photos or specs; features absent; counterfeit"
    ),
    ReasonCode.SIZE_FIT: (
        "physical size or fit wrong for the customer: too small, too large, cut, dimensions"
    ),
    ReasonCode.INCOMPATIBLE: (
        "does not work with the customer's other equipment, system, platform or machine"
    ),
    ReasonCode.QUALITY: (
        "works and is as described, but poor material, workmanship or performance"
    ),
    ReasonCode.MISSING_PARTS: (
        "contents incomplete: accessories, parts, manuals or cables missing"
    ),
    ReasonCode.NO_LONGER_NEEDED: (
        "change of mind, ordered by mistake, duplicate order, dislikes the style"
    ),
    ReasonCode.LATE_DELIVERY: "arrived too late for the need",
    ReasonCode.EXPIRED: "expired or too close to the expiry or use-by date",
    ReasonCode.OTHER: "return-relevant but none of the other reasons",
}
