"""The triage service: case -> eligibility -> models -> policy facts -> policy -> response -> audit.

Also the human side of a case (decisions and approvals, with segregation of duties) and the
review queues. Framework-free: the routers translate the exceptions here into HTTP answers.

Queues are computed by scanning the audit store's triage, decision, approval and fraud-label
records on each call: correct and simple, but O(records). Past some hundred thousand records a
queue table (or a materialised view) maintained on append is needed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from features.codes import Disposition
from features.eligibility import Eligibility, check_eligibility
from features.schema import ReturnCase
from serving.audit import (
    AuditEntry,
    AuditRecord,
    AuditStore,
    IdempotencyConflict,
    Outcome,
    RecordKind,
    request_hash,
)
from serving.audit.store import audit_records
from serving.config import Principal
from serving.policy import PolicyDecision, PolicyEngine, PolicyFacts, ReviewQueue
from serving.predictors import MODEL_NAMES, ModelCall, Predictors, rules_disposition
from serving.schemas import (
    Alternative,
    ApprovalCreate,
    DecisionPublic,
    DispositionRecommendation,
    EligibilityPublic,
    FiredRule,
    InspectionCreate,
    ModelAnswer,
    ModelsPublic,
    PolicyRef,
    QueueItem,
    ReviewPublic,
    TriagePublic,
)

TRIAGE_KEY_PREFIX = "triage:"
DECISION_KEY_PREFIX = "decision:"


class CaseNotFound(LookupError):
    """No triage record exists for the case."""


class DecisionRefused(Exception):
    """A decision that may not be recorded; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, loc: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.loc = loc


@dataclass(frozen=True)
class TriageResult:
    """A triage response (as stored) and whether it replays an earlier identical request."""

    response: dict[str, Any]
    replayed: bool


# ------------------------------------------------------------------------------- triage


def evaluate_case(
    case: ReturnCase,
    policy: PolicyEngine,
    predictors: Predictors,
    *,
    audit_id: str,
    now: datetime | None = None,
) -> tuple[TriagePublic, dict[str, Any]]:
    """Triage one case: the response, and the audit payload that records how it was made."""
    moment = now or datetime.now(UTC)
    request = case.request
    eligibility = check_eligibility(case)
    reason_call = predictors.predict_reason(request.note, request.customer_reason_code)
    reason = reason_call.output
    # damage is not trained yet: no photo assessment, so the rule table sees "unknown"
    effective_reason = reason.code if reason is not None else request.customer_reason_code
    proposed = rules_disposition(case, effective_reason, damaged=None)

    unavailable = {
        name: status.detail or "unavailable"
        for name, status in predictors.statuses.items()
        if not status.available and name != "reason"
    }
    if reason is None:
        unavailable["reason"] = reason_call.error or predictors.statuses["reason"].detail
    facts = PolicyFacts.from_case(
        case,
        eligibility,
        predicted_reason=reason.code if reason else None,
        reason_confidence=reason.confidence if reason else None,
        # the rule table's proposal feeds the write-off rules, but with no confidence the
        # disposition still counts as unavailable (fallback, forced review)
        recommended_disposition=proposed[0] if proposed else None,
        disposition_confidence=None,
        models_unavailable=sorted(unavailable),
    )
    decision = policy.evaluate(facts)
    response = TriagePublic(
        audit_id=audit_id,
        case_id=request.return_id,
        event_id=request.event_id,
        triaged_at=moment,
        eligibility=_eligibility_public(eligibility),
        models=_models_public(predictors, reason_call, unavailable),
        recommended_disposition=_recommendation(proposed, decision),
        review=_review_public(decision, facts),
        policy_version=decision.policy_version,
        policy=PolicyRef(name=policy.name, revision=policy.revision, version=policy.version),
        model_versions=predictors.versions(),
    )
    payload = {
        "case": redacted_case(case),
        "eligibility": eligibility.model_dump(mode="json"),
        "facts": facts.model_dump(mode="json"),
        "decision": decision.model_dump(mode="json"),
        "models_unavailable": unavailable,
        "response": response.model_dump(mode="json"),
    }
    return response, payload


def triage(
    case: ReturnCase,
    policy: PolicyEngine,
    predictors: Predictors,
    store: AuditStore,
    caller: Principal,
    idempotency_key: str | None = None,
) -> TriageResult:
    """Triage a case once per idempotency key (default: the case's event id) and audit it.

    The same key with the same body answers the stored response and writes nothing; with a
    different body it raises `IdempotencyConflict`. Concurrent duplicates store exactly one.
    """
    key = TRIAGE_KEY_PREFIX + (idempotency_key or case.request.event_id)
    body_hash = request_hash(case.model_dump(mode="json"))

    def produce() -> Outcome:
        audit_id = str(uuid.uuid4())
        _response, payload = evaluate_case(case, policy, predictors, audit_id=audit_id)
        payload = {**payload, "request_hash": body_hash, "idempotency_key": key}
        entry = AuditEntry(
            RecordKind.TRIAGE, case.request.return_id, caller.name, payload, audit_id
        )
        return Outcome(response=payload["response"], entries=[entry])

    result = store.idempotent(key, body_hash, produce)
    return TriageResult(response=result.response, replayed=result.replayed)


def latest_triage(store: AuditStore, case_id: str) -> AuditRecord:
    """The latest triage record of a case (CaseNotFound when it was never triaged)."""
    for record in reversed(store.records_for_case(case_id)):
        if record.kind == RecordKind.TRIAGE:
            return record
    raise CaseNotFound(case_id)


def redacted_case(case: ReturnCase) -> dict[str, Any]:
    """The case as recorded: inline photo bytes replaced by their SHA-256 and size."""
    data = case.model_dump(mode="json")
    for photo, model in zip(data["request"]["photos"], case.request.photos, strict=True):
        content = model.content()
        if content is not None:
            photo.pop("content_base64", None)
            photo["content_sha256"] = hashlib.sha256(content).hexdigest()
            photo["content_bytes"] = len(content)
    return data


def _eligibility_public(eligibility: Eligibility) -> EligibilityPublic:
    if eligibility.exceptions:
        result = "ineligible"
    elif eligibility.eligible_under_warranty:
        result = "eligible_under_warranty"
    else:
        result = "eligible"
    return EligibilityPublic(
        result=result,
        exceptions=list(eligibility.exceptions),
        flags=list(eligibility.flags),
        reasons=list(eligibility.reasons),
        days_since_delivery=eligibility.days_since_delivery,
    )


def _models_public(
    predictors: Predictors, reason_call: ModelCall, unavailable: Mapping[str, str]
) -> ModelsPublic:
    answers = {
        name: ModelAnswer(available=False, version=None, detail=unavailable.get(name))
        for name in MODEL_NAMES
    }
    reason = reason_call.output
    if reason is not None:
        answers["reason"] = ModelAnswer(
            available=True,
            version=predictors.statuses["reason"].version,
            value=reason.code.value,
            confidence=round(reason.confidence, 6),
            alternatives=[
                Alternative(code=code.value, confidence=round(p, 6))
                for code, p in reason.alternatives
            ],
            disagrees_with_customer=reason.disagrees_with_customer,
        )
    return ModelsPublic(**answers)


def _recommendation(
    proposed: tuple[Disposition, str] | None, decision: PolicyDecision
) -> DispositionRecommendation:
    forced = decision.forced_disposition
    if forced is not None and (proposed is None or proposed[0] != forced):
        rule = next(hit.id for hit in decision.rules_fired if hit.force_disposition == forced)
        return DispositionRecommendation(code=forced, confidence=None, source="policy", rule=rule)
    if proposed is None:
        return DispositionRecommendation(code=None, confidence=None, source="rules")
    return DispositionRecommendation(
        code=proposed[0], confidence=None, source="rules", rule=proposed[1]
    )


def _review_public(decision: PolicyDecision, facts: PolicyFacts) -> ReviewPublic:
    return ReviewPublic(
        required=decision.review_required,
        queues=decision.queues,
        rules_fired=[
            FiredRule(id=hit.id, reason=hit.reason, queues=hit.queues)
            for hit in decision.rules_fired
        ],
        credit_hold=decision.credit_hold,
        forced_disposition=decision.forced_disposition,
        auto_approved=decision.auto_approved,
        fallback=decision.model_fallback,
        unavailable_models=facts.unavailable_models,
        audit_sampled=decision.audit_sampled,
    )


# ----------------------------------------------------------------------------- decisions


def record_decision(
    store: AuditStore,
    case_id: str,
    body: InspectionCreate | ApprovalCreate,
    caller: Principal,
) -> tuple[DecisionPublic, bool]:
    """Record an inspection decision or a finance approval as a new audit record.

    Refuses (DecisionRefused): 404 never triaged; 403 segregation of duties (the approver of a
    case is never its inspector, either way round); 409 already decided, or an approval of a
    case not in the finance queue; 422 an override without `override_reason`. Exactly one
    decision of each kind is recorded per triage, also under concurrent calls (idempotency
    key per case, triage and kind); an identical retry answers the stored decision.
    Returns the decision and whether it is a replay.
    """
    records = store.records_for_case(case_id)
    triages = [r for r in records if r.kind == RecordKind.TRIAGE]
    if not triages:
        raise DecisionRefused(404, f"case {case_id} has not been triaged")
    triage_record = triages[-1]
    response = triage_record.payload.get("response", {})
    recommended_code = (response.get("recommended_disposition") or {}).get("code")
    recommended = Disposition(recommended_code) if recommended_code else None
    queues = (response.get("review") or {}).get("queues", [])
    other_kind = RecordKind.APPROVAL if body.kind == "inspection" else RecordKind.DECISION

    def segregation_of_duties(case_records: list[AuditRecord]) -> None:
        for record in case_records:
            if record.kind == other_kind and record.actor == caller.name:
                done, doing = (
                    ("approved", "inspect")
                    if body.kind == "inspection"
                    else ("inspected", "approve")
                )
                raise DecisionRefused(
                    403,
                    f"segregation of duties: {caller.name} {done} case {case_id} and may not "
                    f"{doing} it; another person must",
                )

    segregation_of_duties(records)  # fail fast; checked again under the write lock below
    kind = RecordKind.DECISION if body.kind == "inspection" else RecordKind.APPROVAL
    override = False
    if isinstance(body, InspectionCreate):
        override = recommended is not None and body.disposition != recommended
        if override and body.override_reason is None:
            raise DecisionRefused(
                422,
                f"override_reason is required: {body.disposition.value} differs from the "
                f"recommended {recommended.value if recommended else None}",
                loc=("body", "override_reason"),
            )
    elif ReviewQueue.FINANCE.value not in queues:
        raise DecisionRefused(409, f"case {case_id} is not in the finance queue")

    key = f"{DECISION_KEY_PREFIX}{kind.value}:{triage_record.record_id}"
    body_json = body.model_dump(mode="json")
    body_hash = request_hash({"actor": caller.name, "body": body_json})

    def produce() -> Outcome:
        audit_id = str(uuid.uuid4())
        public = DecisionPublic(
            audit_id=audit_id,
            case_id=case_id,
            kind=body.kind,
            actor=caller.name,
            recorded_at=datetime.now(UTC),
            triage_audit_id=triage_record.record_id,
            recommended_disposition=recommended,
            disposition=getattr(body, "disposition", None),
            condition_grade=getattr(body, "condition_grade", None),
            override=override,
            override_reason=getattr(body, "override_reason", None),
            observed_reason=getattr(body, "observed_reason", None),
            approved=getattr(body, "approved", None),
            note=body.note,
        )
        public_json = public.model_dump(mode="json")
        payload = {
            "decision": public_json,
            "request": body_json,
            "triage_audit_id": triage_record.record_id,
            "policy_version": response.get("policy_version"),
            "model_versions": response.get("model_versions"),
            "idempotency_key": key,
        }
        return Outcome(public_json, [AuditEntry(kind, case_id, caller.name, payload, audit_id)])

    try:
        result = store.idempotent(
            key, body_hash, produce, precondition=segregation_of_duties, precondition_case=case_id
        )
    except IdempotencyConflict:
        what = "an inspection decision" if kind == RecordKind.DECISION else "an approval"
        raise DecisionRefused(
            409, f"{what} is already recorded for case {case_id} (triage {triage_record.record_id})"
        ) from None
    return DecisionPublic.model_validate(result.response), result.replayed


# -------------------------------------------------------------------------------- queues

QUEUE_CLOSED_BY: dict[ReviewQueue, frozenset[str]] = {
    ReviewQueue.INSPECTION: frozenset({RecordKind.DECISION.value}),
    ReviewQueue.ELIGIBILITY: frozenset({RecordKind.DECISION.value}),
    ReviewQueue.FRAUD: frozenset({RecordKind.DECISION.value, RecordKind.FRAUD_LABEL.value}),
    ReviewQueue.FINANCE: frozenset({RecordKind.APPROVAL.value}),
}
"""Which later records take a case out of each queue."""


def open_cases(
    store: AuditStore,
    queue: ReviewQueue,
    *,
    warehouse: str | None = None,
    min_credit_value: float | None = None,
    since: datetime | None = None,
) -> list[QueueItem]:
    """Cases whose latest triage put them in `queue` and that no later record closed; oldest
    first. A full scan of the audit records (see the module docstring for the limit)."""
    kinds = [RecordKind.TRIAGE.value, *QUEUE_CLOSED_BY[queue]]
    query = (
        sa.select(
            audit_records.c.case_id,
            audit_records.c.kind,
            audit_records.c.record_id,
            audit_records.c.created_at,
            audit_records.c.payload,
        )
        .where(audit_records.c.kind.in_(kinds))
        .order_by(audit_records.c.id)
    )
    latest: dict[str, QueueItem | None] = {}
    with store.engine.connect() as connection:
        rows = connection.execution_options(yield_per=1000).execute(query)
        for case_id, kind, record_id, created_at, payload_text in rows:
            if kind == RecordKind.TRIAGE.value:
                latest.pop(case_id, None)  # re-triaged: its latest triage decides
                latest[case_id] = _queue_item(record_id, created_at, json.loads(payload_text))
            elif case_id in latest:
                latest[case_id] = None
    since_utc = None if since is None else _aware(since)
    items = []
    for item in latest.values():
        if item is None or queue not in item.queues:
            continue
        if warehouse is not None and item.warehouse != warehouse:
            continue
        if min_credit_value is not None and item.credit_value < min_credit_value:
            continue
        if since_utc is not None and item.triaged_at < since_utc:
            continue
        items.append(item)
    items.sort(key=lambda item: item.triaged_at)
    return items


def _queue_item(record_id: str, created_at: datetime, payload: dict[str, Any]) -> QueueItem:
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
