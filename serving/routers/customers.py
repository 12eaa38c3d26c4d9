"""Customers for fraud analysts: flagged customers with their factors and linked accounts, one
customer's risk, and analysts' labels (recorded in the audit trail, fed to the customer state).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from serving.audit import AuditEntry, Outcome, RecordKind, request_hash
from serving.config import Principal, Role
from serving.deps import AuditDep, PredictorsDep, require_roles
from serving.examples import LABEL_EXAMPLES
from serving.predictors import Predictors
from serving.routers.triage import AUTH_ERRORS
from serving.schemas import (
    CaseId,
    CustomerRiskPublic,
    CustomersPublic,
    FraudLabelCreate,
    FraudLabelPublic,
    Message,
)
from serving.triage import sync_customer_state

router = APIRouter(prefix="/customers", tags=["customers"])

AnalystCaller = Annotated[Principal, Depends(require_roles(Role.FRAUD_ANALYST, Role.ADMIN))]
"""Fraud analysts (and admins) read flagged customers."""
RiskCaller = Annotated[
    Principal, Depends(require_roles(Role.FRAUD_ANALYST, Role.WORKFLOW, Role.ADMIN))
]
"""A customer's risk: analysts, and workflow systems before releasing a credit."""
LabelCaller = Annotated[Principal, Depends(require_roles(Role.FRAUD_ANALYST))]
"""Only fraud analysts label customers (a label is a personal, audited judgement)."""

LEVELS = ("low", "medium", "high")
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Message, "description": "The fraud model is not loaded"}
}


def _risk(predictors: Predictors, score: Any) -> CustomerRiskPublic:
    labels = getattr(predictors.customer_state, "labels", {}) or {}
    return CustomerRiskPublic(
        customer_id=str(score.customer_id),
        risk_score=round(float(score.risk_score), 6),
        risk_level=str(score.risk_level),
        factors=list(score.factors),
        linked_accounts=list(score.linked_accounts),
        labelled_abusive=labels.get(str(score.customer_id)),
    )


def _scores(predictors: Predictors, customer_ids: list[str] | None = None) -> list[Any]:
    try:
        return predictors.score_customers(customer_ids)
    except LookupError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"fraud model unavailable: {exc}"
        ) from None


@router.get(
    "/flagged",
    operation_id="list_flagged_customers",
    summary="Customers at or above a risk level, highest risk first",
    response_model=CustomersPublic,
    responses={**AUTH_ERRORS, **UNAVAILABLE},
)
def list_flagged(
    caller: AnalystCaller,
    predictors: PredictorsDep,
    store: AuditDep,
    min_level: Annotated[str, Query(pattern="^(low|medium|high)$")] = "high",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CustomersPublic:
    """Every known customer scored against the current customer state (returns triaged so
    far included), kept at `min_level` or above, with factors in words and linked accounts."""
    sync_customer_state(store, predictors)
    floor = LEVELS.index(min_level)
    scores = [s for s in _scores(predictors) if _level_index(s.risk_level) >= floor]
    scores.sort(key=lambda s: -float(s.risk_score))
    page = [_risk(predictors, s) for s in scores[offset : offset + limit]]
    return CustomersPublic(
        data=page, count=len(scores), model_version=predictors.versions()["fraud"]
    )


def _level_index(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


@router.get(
    "/{customer_id}/risk",
    operation_id="score_customer",
    summary="One customer's fraud risk",
    response_model=CustomerRiskPublic,
    responses={
        **AUTH_ERRORS,
        **UNAVAILABLE,
        404: {"model": Message, "description": "Unknown customer"},
    },
)
def score_customer(
    customer_id: CaseId, caller: RiskCaller, predictors: PredictorsDep, store: AuditDep
) -> CustomerRiskPublic:
    """Risk score, level, factors and linked accounts of a known customer."""
    sync_customer_state(store, predictors)
    state = predictors.customer_state
    if state is not None and customer_id not in set(state.customer_ids()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id} is not known")
    scores = _scores(predictors, [customer_id])
    if not scores:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id} is not known")
    return _risk(predictors, scores[0])


@router.post(
    "/{customer_id}/labels",
    operation_id="label_customer",
    summary="Record a fraud analyst's label of a customer",
    status_code=status.HTTP_201_CREATED,
    response_model=FraudLabelPublic,
    responses={**AUTH_ERRORS},
)
def label_customer(
    customer_id: CaseId,
    body: Annotated[FraudLabelCreate, Body(openapi_examples=LABEL_EXAMPLES)],
    caller: LabelCaller,
    store: AuditDep,
    predictors: PredictorsDep,
) -> Response:
    """An audited verdict (abusive or not). With `case_id` it also closes that case's fraud
    queue. Labels feed the customer state (linked-account factors) and the next training.
    An identical retry (same analyst, customer and body) records nothing new."""
    subject = body.case_id or f"customer:{customer_id}"
    body_json = body.model_dump(mode="json")
    key = f"fraud_label:{customer_id}:{caller.name}:{request_hash(body_json)}"

    def produce() -> Outcome:
        audit_id = str(uuid.uuid4())
        public = FraudLabelPublic(
            audit_id=audit_id,
            customer_id=customer_id,
            case_id=body.case_id,
            abusive=body.abusive,
            actor=caller.name,
            recorded_at=datetime.now(UTC),
        )
        payload = {"label": public.model_dump(mode="json"), "request": body_json}
        entry = AuditEntry(RecordKind.FRAUD_LABEL, subject, caller.name, payload, audit_id)
        return Outcome(payload["label"], [entry])

    result = store.idempotent(key, request_hash({"actor": caller.name, "body": body_json}), produce)
    predictors.label_customer(customer_id, body.abusive)
    return JSONResponse(
        result.response,
        status_code=status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED,
        headers={"Idempotent-Replay": "true" if result.replayed else "false"},
    )
