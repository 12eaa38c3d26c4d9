"""Review queues: open cases per queue, for the people who work them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from serving.config import Role
from serving.deps import AuditDep, QueueCaller
from serving.policy import ReviewQueue
from serving.queue_index import open_cases
from serving.routers.triage import AUTH_ERRORS
from serving.schemas import QueuePublic

router = APIRouter(prefix="/queues", tags=["queues"])

QUEUE_ROLES: dict[ReviewQueue, frozenset[Role]] = {
    ReviewQueue.INSPECTION: frozenset({Role.INSPECTOR, Role.ADMIN}),
    ReviewQueue.FRAUD: frozenset({Role.FRAUD_ANALYST, Role.ADMIN}),
    ReviewQueue.FINANCE: frozenset({Role.APPROVER, Role.ADMIN}),
    ReviewQueue.ELIGIBILITY: frozenset({Role.INSPECTOR, Role.WORKFLOW, Role.ADMIN}),
}
"""Who may read each queue."""


@router.get(
    "/{queue}",
    operation_id="list_queue",
    summary="Open cases in a review queue",
    response_model=QueuePublic,
    responses={**AUTH_ERRORS},
)
def list_queue(
    queue: ReviewQueue,
    caller: QueueCaller,
    store: AuditDep,
    warehouse: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    min_credit_value: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    since: Annotated[datetime | None, Query(description="Triaged at or after (UTC if naive)")] = (
        None
    ),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QueuePublic:
    """Cases triaged into `queue` with review required and no closing decision yet (inspection,
    eligibility: a final decision; fraud: a decision or fraud label; finance: an approval),
    oldest first, filtered and paged; `count` is the total before paging."""
    allowed = QUEUE_ROLES[queue]
    if not caller.roles & allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{caller.name} may not read the {queue.value} queue (needs one of: {names})",
        )
    items, count = open_cases(
        store,
        queue,
        warehouse=warehouse,
        min_credit_value=min_credit_value,
        since=since,
        limit=limit,
        offset=offset,
    )
    return QueuePublic(data=items, count=count)
