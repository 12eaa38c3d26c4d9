"""Triage of return cases: one call per return event, and batches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from features.schema import ReturnCase
from serving.audit import AuditRecord, AuditStore, IdempotencyConflict
from serving.deps import (
    AuditDep,
    CallerDep,
    MetricsDep,
    PolicyDep,
    PredictorsDep,
    ServiceMetrics,
    WorkflowCaller,
)
from serving.examples import TRIAGE_EXAMPLES
from serving.policy import PolicyFacts
from serving.predictors import PhotoRejected
from serving.schemas import (
    CaseId,
    ErrorItem,
    Message,
    PolicyExplanationPublic,
    PolicyRef,
    TriageBatchCreate,
    TriageBatchItem,
    TriageBatchPublic,
    TriagePublic,
)
from serving.triage import CaseNotFound, TriageResult, latest_triage, triage

router = APIRouter(prefix="/triage", tags=["triage"])

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "Missing or unknown API key"},
    403: {"model": Message, "description": "The caller's roles do not allow this"},
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries reuse it; default: the case's request.event_id",
    ),
]


def record_outcome(metrics: ServiceMetrics, result: TriageResult) -> None:
    """Count a triage in the metrics (replays only as replays)."""
    if result.replayed:
        metrics.replays.inc()
        return
    review = result.response["review"]
    metrics.outcomes.labels("review_required" if review["required"] else "auto_approved").inc()
    for queue in review["queues"]:
        metrics.queued.labels(queue).inc()
    for model in review["unavailable_models"]:
        metrics.fallbacks.labels(model).inc()


def _photo_error(exc: PhotoRejected, prefix: list[str | int]) -> list[dict[str, Any]]:
    loc = [*prefix, "request", "photos", exc.index, "content_base64"]
    return [{"loc": loc, "msg": f"not a readable image: {exc}", "type": "image_rejected"}]


def _conflict(exc: IdempotencyConflict, header_key: str | None) -> list[dict[str, Any]]:
    loc = ["header", "Idempotency-Key"] if header_key else ["body", "request", "event_id"]
    return [{"loc": loc, "msg": str(exc), "type": "idempotency_conflict"}]


@router.post(
    "",
    operation_id="triage_case",
    summary="Triage one return case",
    response_model=TriagePublic,
    responses={
        **AUTH_ERRORS,
        422: {"description": "Invalid case, or idempotency key reused for another body"},
    },
)
def triage_case(
    case: Annotated[ReturnCase, Body(openapi_examples=TRIAGE_EXAMPLES)],
    caller: WorkflowCaller,
    policy: PolicyDep,
    predictors: PredictorsDep,
    store: AuditDep,
    metrics: MetricsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Eligibility, model answers, policy decision and recommended disposition for one case,
    recorded in the audit trail. Idempotent per `Idempotency-Key` (default: the event id): a
    retry with the same body answers the same response (`Idempotent-Replay: true`) and records
    nothing new; the same key with another body is refused (422)."""
    try:
        result = triage(case, policy, predictors, store, caller, idempotency_key)
    except IdempotencyConflict as exc:
        raise RequestValidationError(_conflict(exc, idempotency_key)) from None
    except PhotoRejected as exc:
        raise RequestValidationError(_photo_error(exc, ["body"])) from None
    record_outcome(metrics, result)
    return JSONResponse(
        result.response, headers={"Idempotent-Replay": "true" if result.replayed else "false"}
    )


@router.post(
    "/batch",
    operation_id="triage_batch",
    summary="Triage several return cases",
    response_model=TriageBatchPublic,
    responses={**AUTH_ERRORS},
)
def triage_batch(
    batch: TriageBatchCreate,
    caller: WorkflowCaller,
    policy: PolicyDep,
    predictors: PredictorsDep,
    store: AuditDep,
    metrics: MetricsDep,
) -> TriageBatchPublic:
    """Each case is validated, triaged and audited on its own, idempotent by its event id; an
    invalid case or a conflict fails alone (per-item `status_code` and `errors`)."""
    items: list[TriageBatchItem] = []
    for index, raw in enumerate(batch.cases):
        prefix: list[str | int] = ["body", "cases", index]
        try:
            case = ReturnCase.model_validate(raw)
        except ValidationError as exc:
            errors = [
                ErrorItem(loc=[*prefix, *error["loc"]], msg=error["msg"], type=error["type"])
                for error in exc.errors(include_url=False)
            ]
            items.append(TriageBatchItem(index=index, status_code=422, errors=errors))
            continue
        try:
            result = triage(case, policy, predictors, store, caller)
        except IdempotencyConflict as exc:
            error = ErrorItem(
                loc=[*prefix, "request", "event_id"], msg=str(exc), type="idempotency_conflict"
            )
            items.append(TriageBatchItem(index=index, status_code=422, errors=[error]))
            continue
        except PhotoRejected as exc:
            errors = [ErrorItem.model_validate(e) for e in _photo_error(exc, prefix)]
            items.append(TriageBatchItem(index=index, status_code=422, errors=errors))
            continue
        record_outcome(metrics, result)
        items.append(
            TriageBatchItem(
                index=index,
                status_code=200,
                replayed=result.replayed,
                result=TriagePublic.model_validate(result.response),
            )
        )
    failed = sum(item.status_code != 200 for item in items)
    return TriageBatchPublic(
        data=items, count=len(items), succeeded=len(items) - failed, failed=failed
    )


def _latest_or_404(store: AuditStore, case_id: str) -> AuditRecord:
    try:
        return latest_triage(store, case_id)
    except CaseNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"case {case_id} was never triaged"
        ) from None


@router.get(
    "/{case_id}/explain",
    operation_id="explain_triage",
    summary="Why the policy flagged a case, or did not",
    response_model=PolicyExplanationPublic,
    responses={
        **AUTH_ERRORS,
        404: {"model": Message, "description": "Never triaged"},
        409: {"model": Message, "description": "Recorded facts this engine cannot read"},
    },
)
def explain_triage(
    case_id: CaseId, caller: CallerDep, store: AuditDep, policy: PolicyDep
) -> PolicyExplanationPublic:
    """Every rule of the policy in force, run on the facts recorded with the case's latest
    triage: fired or not, and each condition's actual value against its threshold (the
    policy's explain mode). Records nothing."""
    record = _latest_or_404(store, case_id)
    recorded = record.payload.get("facts")  # as dumped: with the derived (computed) facts
    response = record.payload.get("response") or {}
    try:
        if not isinstance(recorded, dict):
            raise ValueError("no facts recorded")
        facts = PolicyFacts.model_validate(
            {name: value for name, value in recorded.items() if name in PolicyFacts.model_fields}
        )
    except ValueError:  # pydantic's ValidationError included
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the facts recorded with case {case_id}'s triage do not fit this version of the "
            "policy engine: triage the case again to explain it",
        ) from None
    return PolicyExplanationPublic(
        case_id=case_id,
        audit_id=record.record_id,
        policy=PolicyRef(name=policy.name, revision=policy.revision, version=policy.version),
        recorded_policy_version=str(response.get("policy_version", "unknown")),
        facts=recorded,
        rules=policy.explain(facts),
    )


@router.get(
    "/{case_id}",
    operation_id="get_triage",
    summary="The latest triage of a case",
    response_model=TriagePublic,
    responses={**AUTH_ERRORS, 404: {"model": Message, "description": "Never triaged"}},
)
def get_triage(case_id: CaseId, caller: CallerDep, store: AuditDep) -> Response:
    """The response of the case's latest triage, as recorded."""
    record = _latest_or_404(store, case_id)
    return JSONResponse(record.payload["response"])
