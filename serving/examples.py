"""Request examples shown in the OpenAPI document (`/docs`): literal data, no I/O."""

from __future__ import annotations

from typing import Any

RETURN_CASE: dict[str, Any] = {
    "request": {
        "return_id": "R00000007",
        "event_id": "EV-f1abd670358e-15",
        "customer_id": "C0000079",
        "order_line_id": "SO00001134-1",
        "sku": "ELE-100039",
        "claim_type": "RETURN",
        "quantity": 1,
        "customer_reason_code": "QUALITY",
        "note": "Bought it 3 days ago. Unfortunately the speaker crackles and then cuts out "
        "completely. Reset it like the instructions say, nothing. Please send a working one.",
        "photos": [],
        "serial_numbers": ["SN5817471119"],
        "channel": "MARKETPLACE",
        "warehouse": "WH-SEA",
        "requested_at": "2025-01-09T15:59:44",
        "received_at": "2025-01-13T15:59:44",
        "value": 80.12,
        "currency": "USD",
        "refund_method": "original_payment",
    },
    "customer": {
        "customer_id": "C0000079",
        "segment": "MARKETPLACE",
        "region": "northwest",
        "account_opened": "2021-07-26",
        "address_hash": "4ff37a5382bc18b0317c92e4f40f861e",
        "phone_hash": "77c3522c68583f5620118e8a0115e9e1",
        "payment_hash": "660d1e5681e451aa3aa9b66d6e08ae8a",
        "email_hash": "2442ea607671094712953a637c42ac0f",
    },
    "item": {
        "sku": "ELE-100039",
        "category": "electronics",
        "name": "Smart Watch ELE3063",
        "unit_price": 80.12,
        "unit_cost": 67.61,
        "serialized": True,
        "refurbishable": False,
        "vendor_return_agreement": True,
        "return_window_days": 15,
        "warranty_days": 730,
        "vendor_id": "V-027",
    },
    "order_line": {
        "order_id": "SO00001134",
        "order_line_id": "SO00001134-1",
        "customer_id": "C0000079",
        "sku": "ELE-100039",
        "quantity_ordered": 1,
        "quantity_delivered": 1,
        "unit_price": 80.12,
        "currency": "USD",
        "order_date": "2025-01-03",
        "ship_date": "2025-01-05",
        "delivery_date": "2025-01-06",
        "serial_numbers": ["SN5817471119"],
        "channel": "MARKETPLACE",
        "warehouse": "WH-SEA",
    },
}
"""A consumer's return of a smart watch with a defect note (from the committed data sample)."""

TRIAGE_EXAMPLES = {
    "defect_note": {"summary": "Smart watch, defect described in the note", "value": RETURN_CASE}
}
NOTES_EXAMPLES = {
    "two_notes": {
        "summary": "Two notes, one with the code the customer picked",
        "value": {
            "notes": [
                {
                    "id": "n1",
                    "text": "Box was crushed and the screen is cracked",
                    "customer_reason_code": "DEFECTIVE",
                },
                {"id": "n2", "text": "Ordered two by mistake, only need one"},
            ]
        },
    }
}
DECISION_EXAMPLES = {
    "inspection": {
        "summary": "Inspector agrees with the recommendation",
        "value": {"kind": "inspection", "disposition": "RESTOCK", "condition_grade": "LIKE_NEW"},
    },
    "override": {
        "summary": "Inspector overrides (needs a reason)",
        "value": {
            "kind": "inspection",
            "disposition": "SCRAP",
            "condition_grade": "NON_FUNCTIONAL",
            "override_reason": "Board burnt; not repairable",
        },
    },
    "approval": {"summary": "Finance approval", "value": {"kind": "approval", "approved": True}},
}
LABEL_EXAMPLES = {
    "abusive": {
        "summary": "Analyst confirms abuse after reviewing a case",
        "value": {"abusive": True, "case_id": "R00000007", "note": "Empty box, third time"},
    }
}
