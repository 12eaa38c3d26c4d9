"""Human decisions about a case: inspections (final disposition) and finance approvals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from serving.config import Role
from serving.deps import AuditDep, DeciderCaller
from serving.examples import DECISION_EXAMPLES
from serving.routers.triage import AUTH_ERRORS
from serving.schemas import CaseId, DecisionCreate, DecisionPublic, Message
from serving.triage import DecisionRefused, record_decision

router = APIRouter(prefix="/cases", tags=["decisions"])

ROLE_FOR_KIND = {"inspection": Role.INSPECTOR, "approval": Role.APPROVER}


@router.post(
    "/{case_id}/decisions",
    operation_id="record_decision",
    summary="Record an inspection decision or a finance approval",
    status_code=status.HTTP_201_CREATED,
    response_model=DecisionPublic,
    responses={
        **AUTH_ERRORS,
        404: {"model": Message, "description": "The case was never triaged"},
        409: {"model": Message, "description": "Already decided, or not in the finance queue"},
        422: {"description": "Invalid body, or an override without override_reason"},
    },
)
def create_decision(
    case_id: CaseId,
    decision: Annotated[DecisionCreate, Body(openapi_examples=DECISION_EXAMPLES)],
    caller: DeciderCaller,
    store: AuditDep,
) -> Response:
    """Inspectors record the final disposition and condition grade (an override of the
    recommendation needs `override_reason`); approvers approve finance-queued cases. The
    approver of a case is never its inspector (403). Each is a new audit record; one of each
    kind per triage (409 after that, unless it is an identical retry)."""
    needed = ROLE_FOR_KIND[decision.kind]
    if needed not in caller.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{caller.name} lacks the {needed.value} role needed to record an {decision.kind}",
        )
    try:
        public, replayed = record_decision(store, case_id, decision, caller)
    except DecisionRefused as exc:
        if exc.loc is not None:
            raise RequestValidationError(
                [{"loc": list(exc.loc), "msg": str(exc), "type": "missing"}]
            ) from None
        raise HTTPException(exc.status, str(exc)) from None
    return JSONResponse(
        public.model_dump(mode="json"),
        status_code=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED,
        headers={"Idempotent-Replay": "true" if replayed else "false"},
    )
