"""Review queues as an index over the audit trail, caught up incrementally.

The audit records are the truth; `queue_entries` is a projection of them: one row per (case,
queue) of each case's latest triage, closed by the records that take a case out of that queue
(`QUEUE_CLOSED_BY`). `catch_up` applies only the records appended since the last call
(remembered in `projections`), so a queue read costs the new records plus an indexed query,
not a scan of the whole trail. The projection can be dropped and rebuilt at any time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from serving.audit import AuditStore, RecordKind
from serving.audit.store import audit_records
from serving.policy import ReviewQueue
from serving.schemas import QueueItem

PROJECTION = "review_queues"
BATCH = 2_000

_metadata = sa.MetaData()
projections = sa.Table(
    "projections",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_record", sa.BigInteger(), nullable=False),
)
queue_entries = sa.Table(
    "queue_entries",
    _metadata,
    sa.Column("case_id", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(32), primary_key=True),
    sa.Column("audit_id", sa.String(36), nullable=False),
    sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("warehouse", sa.String(64), nullable=False),
    sa.Column("credit_value", sa.Float(), nullable=False),
    sa.Column("is_open", sa.Boolean(), nullable=False),
    sa.Column("item", sa.Text(), nullable=False),
)

QUEUE_CLOSED_BY: dict[ReviewQueue, frozenset[str]] = {
    ReviewQueue.INSPECTION: frozenset({RecordKind.DECISION.value}),
    ReviewQueue.ELIGIBILITY: frozenset({RecordKind.DECISION.value}),
    ReviewQueue.FRAUD: frozenset({RecordKind.DECISION.value, RecordKind.FRAUD_LABEL.value}),
    ReviewQueue.FINANCE: frozenset({RecordKind.APPROVAL.value}),
}
"""Which later records take a case out of each queue."""

_KINDS = sorted({RecordKind.TRIAGE.value}.union(*QUEUE_CLOSED_BY.values()))


def catch_up(store: AuditStore) -> int:
    """Apply the audit records appended since the last call; returns how many were read."""
    applied = 0
    while True:
        with store.locked_transaction(PROJECTION) as connection:
            last = connection.execute(
                sa.select(projections.c.last_record).where(projections.c.name == PROJECTION)
            ).scalar_one_or_none()
            rows = connection.execute(
                sa.select(
                    audit_records.c.id,
                    audit_records.c.case_id,
                    audit_records.c.kind,
                    audit_records.c.record_id,
                    audit_records.c.created_at,
                    audit_records.c.payload,
                )
                .where(audit_records.c.id > (last or 0))
                .order_by(audit_records.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                return applied
            for _id, case_id, kind, record_id, created_at, payload in rows:
                if kind in _KINDS:
                    _apply(connection, case_id, kind, record_id, created_at, payload)
            newest = int(rows[-1][0])
            if last is None:
                connection.execute(
                    sa.insert(projections).values(name=PROJECTION, last_record=newest)
                )
            else:
                connection.execute(
                    sa.update(projections)
                    .where(projections.c.name == PROJECTION)
                    .values(last_record=newest)
                )
            applied += len(rows)


def _apply(
    connection: sa.Connection,
    case_id: str,
    kind: str,
    record_id: str,
    created_at: datetime,
    payload_text: str,
) -> None:
    if kind == RecordKind.TRIAGE.value:
        # re-triaged: the latest triage decides the case's queues
        connection.execute(sa.delete(queue_entries).where(queue_entries.c.case_id == case_id))
        item = queue_item(record_id, created_at, json.loads(payload_text))
        rows = [
            {
                "case_id": case_id,
                "queue": queue.value,
                "audit_id": record_id,
                "triaged_at": item.triaged_at,
                "warehouse": item.warehouse,
                "credit_value": item.credit_value,
                "is_open": True,
                "item": item.model_dump_json(),
            }
            for queue in item.queues
        ]
        if rows:
            connection.execute(sa.insert(queue_entries), rows)
        return
    closed = [queue.value for queue, kinds in QUEUE_CLOSED_BY.items() if kind in kinds]
    connection.execute(
        sa.update(queue_entries)
        .where(queue_entries.c.case_id == case_id, queue_entries.c.queue.in_(closed))
        .values(is_open=False)
    )


def open_cases(
    store: AuditStore,
    queue: ReviewQueue,
    *,
    warehouse: str | None = None,
    min_credit_value: float | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[QueueItem], int]:
    """A page of the cases open in `queue` (oldest first) and how many match in all."""
    catch_up(store)
    conditions = [queue_entries.c.queue == queue.value, queue_entries.c.is_open.is_(True)]
    if warehouse is not None:
        conditions.append(queue_entries.c.warehouse == warehouse)
    if min_credit_value is not None:
        conditions.append(queue_entries.c.credit_value >= min_credit_value)
    if since is not None:
        conditions.append(queue_entries.c.triaged_at >= _aware(since))
    query = (
        sa.select(queue_entries.c.item)
        .where(*conditions)
        .order_by(queue_entries.c.triaged_at, queue_entries.c.case_id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    count_query = sa.select(sa.func.count()).select_from(queue_entries).where(*conditions)
    with store.engine.connect() as connection:
        items = [
            QueueItem.model_validate_json(text) for text in connection.execute(query).scalars()
        ]
        total = int(connection.execute(count_query).scalar_one())
    return items, total


def queue_item(record_id: str, created_at: datetime, payload: dict[str, Any]) -> QueueItem:
    """The queue view of a triage record."""
    request = payload["case"]["request"]
    response = payload["response"]
    review = response["review"]
    return QueueItem(
        case_id=response["case_id"],
        audit_id=record_id,
        triaged_at=_aware(created_at),
        warehouse=request["warehouse"],
        customer_id=request["customer_id"],
        sku=request["sku"],
        category=payload["case"]["item"]["category"],
        credit_value=float(request["value"]),
        currency=request["currency"],
        recommended_disposition=response["recommended_disposition"]["code"],
        credit_hold=review["credit_hold"],
        queues=review["queues"] if review["required"] else [],
        rules_fired=review["rules_fired"],
    )


def _aware(moment: datetime) -> datetime:
    """Naive datetimes (SQLite, query strings without a zone) are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
