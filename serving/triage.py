"""The triage service: case -> eligibility -> models -> policy facts -> policy -> response -> audit.

Also the human side of a case (decisions and approvals, with segregation of duties) and the
review queues. Framework-free: the routers translate the exceptions here into HTTP answers.

Review queues are an index over the audit records (`serving.queue_index`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from features.codes import ClaimType, DamageType, Disposition
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
from serving.predictors import (
    MODEL_NAMES,
    DamageResult,
    DispositionResult,
    FraudResult,
    ModelCall,
    Predictors,
    ReasonPrediction,
    rules_disposition,
)
from serving.schemas import (
    Alternative,
    ApprovalCreate,
    DamagePublic,
    DecisionPublic,
    DispositionRecommendation,
    EligibilityPublic,
    FiredRule,
    FraudPublic,
    InspectionCreate,
    ModelAnswer,
    ModelsPublic,
    PhotoDamagePublic,
    PolicyRef,
    PostingsPublic,
    ReviewPublic,
    TriagePublic,
)

logger = logging.getLogger(__name__)

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
    """Triage one case: the response, and the audit payload that records how it was made.

    Models run in order reason -> damage -> disposition (which uses both) and fraud; one that
    is missing or fails leaves its output empty, which the policy treats as a fallback (rules
    only, review forced, never auto-approved). Raises `PhotoRejected` for an unreadable photo.
    """
    moment = now or datetime.now(UTC)
    request = case.request
    eligibility = check_eligibility(case)
    reason_call = predictors.predict_reason(request.note, request.customer_reason_code)
    reason = reason_call.output
    damage_call = predictors.assess_damage(case)
    damage = damage_call.output if damage_call is not None else None
    goods_back = request.claim_type == ClaimType.RETURN
    disposition_call = predictors.predict_disposition(case, reason, damage) if goods_back else None
    disposition = disposition_call.output if disposition_call is not None else None
    fraud_call = predictors.score_fraud(case)
    fraud = fraud_call.output

    effective_reason = reason.code if reason is not None else request.customer_reason_code
    proposed: tuple[Disposition, str] | None
    if disposition is not None:
        proposed = (disposition.disposition, "disposition_model")
    else:
        damaged = None if damage is None else damage.damage_probability >= DAMAGE_THRESHOLD
        proposed = rules_disposition(case, effective_reason, damaged=damaged)

    unavailable: dict[str, str] = {}
    calls: dict[str, ModelCall[Any] | None] = {
        "reason": reason_call,
        "damage": damage_call,
        "disposition": disposition_call,
        "fraud": fraud_call,
    }
    for name, call in calls.items():
        if call is not None and call.output is None:
            unavailable[name] = call.error or predictors.statuses[name].detail or "unavailable"
    if not goods_back and not predictors.statuses["disposition"].available:
        unavailable["disposition"] = predictors.statuses["disposition"].detail or "unavailable"
    if damage_call is None and not predictors.statuses["damage"].available:
        unavailable["damage"] = predictors.statuses["damage"].detail or "unavailable"

    facts = PolicyFacts.from_case(
        case,
        eligibility,
        predicted_reason=reason.code if reason else None,
        reason_confidence=reason.confidence if reason else None,
        damage_probability=damage.damage_probability if damage else None,
        damage_confidence=_damage_confidence(damage) if damage else None,
        # the rule table's proposal feeds the write-off rules, but with no confidence the
        # disposition still counts as unavailable (fallback, forced review)
        recommended_disposition=proposed[0] if proposed else None,
        disposition_confidence=disposition.confidence if disposition else None,
        write_off_value=_write_off(case, proposed[0] if proposed else None, predictors),
        fraud_score=fraud.risk_score if fraud else None,
        linked_flagged_accounts=fraud.linked_flagged_accounts if fraud else 0,
        models_unavailable=sorted(unavailable),
    )
    decision = policy.evaluate(facts)
    response = TriagePublic(
        audit_id=audit_id,
        case_id=request.return_id,
        event_id=request.event_id,
        triaged_at=moment,
        eligibility=_eligibility_public(eligibility),
        models=_models_public(predictors, calls, unavailable),
        recommended_disposition=_recommendation(case, proposed, disposition, decision, predictors),
        damage=damage_public(damage),
        fraud=_fraud_public(fraud),
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
        "postings_version": predictors.postings.version,
        "response": response.model_dump(mode="json"),
    }
    return response, payload


DAMAGE_THRESHOLD = 0.5
"""A case whose most damaged photo reaches this probability counts as damaged (rule table)."""


def _damage_confidence(damage: DamageResult) -> float:
    """Confidence of the damaged / undamaged call (the probability of the side it falls on)."""
    p = damage.damage_probability
    return round(max(p, 1.0 - p), 6)


def _write_off(case: ReturnCase, disposition: Disposition | None, predictors: Predictors) -> float:
    """Value written off under the disposition: goods at cost x (1 - recoverable fraction)."""
    if disposition is None:
        return 0.0
    cost = case.item.unit_cost * case.request.quantity
    entry = predictors.postings.dispositions.get(disposition.value, {})
    if disposition == Disposition.SCRAP:
        return round(cost, 2)
    fraction = float(entry.get("recoverable_fraction", 1.0))
    return round(cost * (1.0 - fraction), 2)


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
    sync_customer_state(store, predictors)  # returns other workers triaged meanwhile

    def produce() -> Outcome:
        audit_id = str(uuid.uuid4())
        _response, payload = evaluate_case(case, policy, predictors, audit_id=audit_id)
        payload = {**payload, "request_hash": body_hash, "idempotency_key": key}
        entry = AuditEntry(
            RecordKind.TRIAGE, case.request.return_id, caller.name, payload, audit_id
        )
        return Outcome(response=payload["response"], entries=[entry])

    result = store.idempotent(key, body_hash, produce)
    if not result.replayed:
        predictors.observe(case)  # the customer's history now includes this return
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
    predictors: Predictors,
    calls: Mapping[str, ModelCall[Any] | None],
    unavailable: Mapping[str, str],
) -> ModelsPublic:
    answers = {
        name: ModelAnswer(
            available=False,
            version=None,
            detail=unavailable.get(name) or _not_needed(name, calls, predictors),
        )
        for name in MODEL_NAMES
    }
    versions = predictors.versions()
    reason = calls["reason"].output if calls["reason"] is not None else None
    if isinstance(reason, ReasonPrediction):
        answers["reason"] = ModelAnswer(
            available=True,
            version=versions["reason"],
            value=reason.code.value,
            confidence=round(reason.confidence, 6),
            alternatives=[
                Alternative(code=code.value, confidence=round(p, 6))
                for code, p in reason.alternatives
            ],
            reasons=list(reason.reasons),
            disagrees_with_customer=reason.disagrees_with_customer,
        )
    damage = calls["damage"].output if calls["damage"] is not None else None
    if isinstance(damage, DamageResult):
        answers["damage"] = ModelAnswer(
            available=True,
            version=versions["damage"],
            value=damage.damage_type,
            confidence=_damage_confidence(damage),
            reasons=[
                f"{damage.damaged_photos} of {len(damage.photos)} photo(s) look damaged; "
                f"highest damage probability {damage.damage_probability:.2f}"
            ],
        )
    disposition = calls["disposition"].output if calls["disposition"] is not None else None
    if isinstance(disposition, DispositionResult):
        ranked = sorted(disposition.probabilities.items(), key=lambda kv: -kv[1])
        answers["disposition"] = ModelAnswer(
            available=True,
            version=versions["disposition"],
            value=disposition.disposition.value,
            confidence=round(disposition.confidence, 6),
            alternatives=[
                Alternative(code=code, confidence=round(p, 6))
                for code, p in ranked
                if code != disposition.disposition.value
            ][:3],
            reasons=disposition.reasons,
        )
    fraud = calls["fraud"].output if calls["fraud"] is not None else None
    if isinstance(fraud, FraudResult):
        answers["fraud"] = ModelAnswer(
            available=True,
            version=versions["fraud"],
            value=fraud.risk_level,
            confidence=fraud.risk_score,
            reasons=fraud.factors,
        )
    return ModelsPublic(**answers)


def _not_needed(
    name: str, calls: Mapping[str, ModelCall[Any] | None], predictors: Predictors
) -> str | None:
    """Why a model that is available gave no answer: the case did not need it."""
    if calls.get(name) is None and predictors.statuses[name].available:
        return "not needed for this case" if name != "damage" else "no photos attached"
    return None


def _recommendation(
    case: ReturnCase,
    proposed: tuple[Disposition, str] | None,
    model: DispositionResult | None,
    decision: PolicyDecision,
    predictors: Predictors,
) -> DispositionRecommendation:
    forced = decision.forced_disposition
    if forced is not None and (proposed is None or proposed[0] != forced):
        rule = next(hit.id for hit in decision.rules_fired if hit.force_disposition == forced)
        return DispositionRecommendation(
            code=forced,
            confidence=None,
            source="policy",
            rule=rule,
            reasons=[hit.reason for hit in decision.rules_fired if hit.id == rule],
            postings=_postings(case, forced, predictors),
        )
    if proposed is None:
        return DispositionRecommendation(code=None, confidence=None, source="rules")
    if model is not None and proposed[0] == model.disposition:
        return DispositionRecommendation(
            code=model.disposition,
            confidence=round(model.confidence, 6),
            source="model",
            reasons=model.reasons,
            expected_recovery_value=model.expected_recovery_value,
            postings=_postings(case, model.disposition, predictors),
        )
    return DispositionRecommendation(
        code=proposed[0],
        confidence=None,
        source="rules",
        rule=proposed[1],
        postings=_postings(case, proposed[0], predictors),
    )


def _postings(case: ReturnCase, disposition: Disposition, predictors: Predictors) -> PostingsPublic:
    cost = case.item.unit_cost * case.request.quantity
    return PostingsPublic.model_validate(predictors.postings.postings_for(disposition.value, cost))


def damage_public(damage: DamageResult | None) -> DamagePublic | None:
    """The API shape of a damage assessment (None stays None)."""
    if damage is None:
        return None
    return DamagePublic(
        damage_probability=damage.damage_probability,
        damage_type=DamageType(damage.damage_type),
        damaged_photos=damage.damaged_photos,
        heads=damage.heads,
        photos=[
            PhotoDamagePublic(
                photo_id=p.photo_id,
                damage_probability=p.damage_probability,
                damage_type=DamageType(p.damage_type),
                type_probabilities=p.type_probabilities,
            )
            for p in damage.photos
        ],
    )


def _fraud_public(fraud: FraudResult | None) -> FraudPublic | None:
    if fraud is None:
        return None
    return FraudPublic(
        risk_score=fraud.risk_score,
        risk_level=fraud.risk_level,
        factors=fraud.factors,
        linked_accounts=fraud.linked_accounts,
        linked_flagged_accounts=fraud.linked_flagged_accounts,
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


STATE_RECORDS = (RecordKind.TRIAGE.value, RecordKind.FRAUD_LABEL.value)
"""The audit records the customer state is built from: triaged returns and analysts' labels."""


def sync_customer_state(store: AuditStore, predictors: Predictors) -> int:
    """Fold into the fraud model's customer state, in record order, the triaged returns and
    fraud labels recorded since the last call, whichever process recorded them.

    The audit trail is the customer state's event log: at start the whole trail is replayed
    (a restarted service scores customers with every return and label it has seen), and each
    triage catches up first, so the worker processes of one service, sharing the audit store,
    score a customer with the returns the others triaged. A worker's own returns are folded
    when triaged and skipped here. Returns how many records were applied.
    """
    if predictors.customer_state is None:
        return 0
    applied = 0
    with predictors.state_sync_lock, store.engine.connect() as connection:
        while True:  # in pages: a start replays the whole trail
            chunk = connection.execute(
                _NEW_STATE_RECORDS, {"cursor": predictors.state_cursor, "limit": _SYNC_CHUNK}
            ).all()
            wanted = [
                int(row.id)
                for row in chunk
                if row.kind == RecordKind.FRAUD_LABEL.value or not predictors.observed(row.case_id)
            ]
            payloads: dict[int, str] = {}
            if wanted:
                query = sa.select(audit_records.c.id, audit_records.c.payload).where(
                    audit_records.c.id.in_(wanted)
                )
                payloads = {int(r.id): r.payload for r in connection.execute(query)}
            for row in chunk:
                predictors.state_cursor = int(row.id)
                payload = payloads.get(int(row.id))
                if payload is not None:
                    applied += _fold_record(predictors, row.kind, payload, int(row.id))
            if len(chunk) < _SYNC_CHUNK:
                break
    return applied


_SYNC_CHUNK = 1_000
"""Records `sync_customer_state` reads (and holds the payloads of) at once."""

_NEW_STATE_RECORDS = (
    sa.select(audit_records.c.id, audit_records.c.kind, audit_records.c.case_id)
    .where(audit_records.c.id > sa.bindparam("cursor"))
    .where(sa.or_(*(audit_records.c.kind == kind for kind in STATE_RECORDS)))
    .order_by(audit_records.c.id)
    .limit(sa.bindparam("limit"))
)
"""The state records after a cursor, without payloads: a worker's own returns (all of them
with one worker) are skipped without reading their payloads. Built once: it runs before
every triage."""


def _fold_record(predictors: Predictors, kind: str, payload: str, record_id: int) -> int:
    """Apply one triage or fraud-label record to the customer state; 1 if applied."""
    if kind == RecordKind.FRAUD_LABEL.value:
        label = json.loads(payload)["label"]
        predictors.label_customer(str(label["customer_id"]), bool(label["abusive"]))
        return 1
    data = json.loads(payload)["case"]
    data["request"]["photos"] = []  # recorded without their bytes; not needed here
    try:
        case = ReturnCase.model_validate(data)
    except ValueError:
        logger.warning("skipping an unreadable triage record (id %s)", record_id)
        return 0
    predictors.observe(case)
    return 1
