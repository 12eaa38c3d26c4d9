"""Request and response models of the API (the template's XBase -> XCreate / XPublic families).

The request body of a triage is `features.schema.ReturnCase` itself: the canonical case refuses
unknown fields, so a client cannot set scores, flags or versions. Every triage response carries
the policy version and the model versions it was made with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from features.codes import ConditionGrade, DamageType, Disposition, ReasonCode
from features.eligibility import EligibilityException, EligibilityFlag
from features.schema import MAX_NOTE_CHARS, MAX_PHOTOS, Photo
from serving.policy import ReviewQueue, RuleExplanation

MAX_BATCH = 100
"""Most cases in one batch call."""

CaseId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"),
]
"""A return id (the case id of audit records), as `features.schema.Identifier`."""


class PublicModel(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(frozen=True)


# ------------------------------------------------------------------------------- triage


class EligibilityPublic(PublicModel):
    """Eligibility of the case (features.eligibility), with codes and a sentence per problem."""

    result: Literal["eligible", "eligible_under_warranty", "ineligible"]
    exceptions: list[EligibilityException]
    flags: list[EligibilityFlag]
    reasons: list[str]
    days_since_delivery: int | None


class Alternative(PublicModel):
    """A runner-up answer of a model."""

    code: str
    confidence: float


class ModelAnswer(PublicModel):
    """One model's answer; `available` is False (and the values null) when it did not answer."""

    available: bool
    version: str | None = Field(description="Registered model version that answered")
    value: str | None = Field(default=None, description="The model's answer (a code)")
    confidence: float | None = None
    alternatives: list[Alternative] = []
    reasons: list[str] = Field(default=[], description="Why, in words (where the model says)")
    disagrees_with_customer: bool | None = Field(
        default=None, description="Reason model: its code differs from the customer's"
    )
    detail: str | None = Field(default=None, description="Why the model is unavailable")


class ModelsPublic(PublicModel):
    """Every triage model's answer."""

    reason: ModelAnswer
    damage: ModelAnswer
    disposition: ModelAnswer
    fraud: ModelAnswer


class DispositionRecommendation(PublicModel):
    """The recommended disposition and where it came from.

    `source` is `model` (disposition model), `rules` (fallback rule table; no calibrated
    confidence, so `confidence` is null) or `policy` (a policy rule forced it, e.g. QUARANTINE).
    `code` is null for "not received" claims: no goods come back.
    """

    code: Disposition | None
    confidence: float | None
    source: Literal["model", "rules", "policy"]
    rule: str | None = Field(default=None, description="Rule that chose it (rules / policy)")
    reasons: list[str] = Field(
        default=[], description="Why, in words (the disposition model's top factors)"
    )
    expected_recovery_value: float | None = Field(
        default=None, description="Expected recovery value of this disposition (model only)"
    )
    postings: PostingsPublic | None = Field(
        default=None, description="Inventory movement, GL impact and downstream action"
    )


class PostingLine(PublicModel):
    """One GL posting a disposition implies."""

    debit: str
    credit: str
    amount_basis: str = Field(description="cost, recoverable, write_down or none")
    amount: float


class PostingsPublic(PublicModel):
    """What a disposition sets in motion, from the versioned postings configuration."""

    version: str = Field(description="Content hash of the postings configuration")
    disposition: Disposition
    inventory: dict[str, str] = Field(description="Movement: `from` and `to` locations")
    gl: list[PostingLine]
    action: dict[str, str] = Field(description="Downstream action: `type` and `description`")


class PhotoDamagePublic(PublicModel):
    """The damage assessment of one photo."""

    photo_id: str
    damage_probability: float
    damage_type: DamageType
    type_probabilities: dict[str, float]


class DamagePublic(PublicModel):
    """The damage assessment of the case's photos (the case takes the most damaged photo)."""

    damage_probability: float
    damage_type: DamageType
    damaged_photos: int
    heads: str = Field(
        default="general",
        description="Which heads of the damage model answered: a product line's own (see "
        "`TRIAGE_DAMAGE_LINES`, or `product_line` of the photo endpoint), or general",
    )
    photos: list[PhotoDamagePublic]


class FraudPublic(PublicModel):
    """The fraud risk of the return's customer, with the factors behind it."""

    risk_score: float = Field(description="Calibrated risk 0..1")
    risk_level: str = Field(description="low, medium or high")
    factors: list[str] = Field(description="Why, in words an analyst can check")
    linked_accounts: list[str] = Field(description="Accounts sharing identity tokens")
    linked_flagged_accounts: int = Field(description="Linked accounts labelled as abusive")


class FiredRule(PublicModel):
    """A policy rule that fired, with its reason."""

    id: str
    reason: str
    queues: list[ReviewQueue]


class ReviewPublic(PublicModel):
    """What the review policy decided."""

    required: bool
    queues: list[ReviewQueue]
    rules_fired: list[FiredRule]
    credit_hold: bool
    forced_disposition: Disposition | None
    auto_approved: bool
    fallback: bool = Field(description="A model was unavailable: rules only, review forced")
    unavailable_models: list[str]
    audit_sampled: bool


class PolicyRef(PublicModel):
    """The policy that decided: its content-hash version and its human name and revision."""

    name: str
    revision: int | str
    version: str


class PolicyExplanationPublic(PublicModel):
    """Every rule of the policy in force, evaluated on the facts recorded with a case's latest
    triage: whether it fired (or why an audit rule was skipped), and each condition's actual
    value against its threshold."""

    case_id: str
    audit_id: str = Field(description="The triage record whose facts are explained")
    policy: PolicyRef = Field(description="The policy the rules below come from (in force now)")
    recorded_policy_version: str = Field(
        description="The policy version that decided the triage; when it differs from "
        "`policy.version` the policy changed since, and the rules may come out differently"
    )
    facts: dict[str, Any] = Field(description="What the rules looked at, as recorded")
    rules: list[RuleExplanation]


class TriagePublic(PublicModel):
    """The answer to one return case; the same body is stored in its audit record."""

    audit_id: str = Field(description="record_id of the triage audit record")
    case_id: str = Field(description="The return id")
    event_id: str
    triaged_at: datetime
    eligibility: EligibilityPublic
    models: ModelsPublic
    recommended_disposition: DispositionRecommendation
    damage: DamagePublic | None = Field(default=None, description="Photo damage assessment")
    fraud: FraudPublic | None = Field(default=None, description="Fraud risk of the customer")
    review: ReviewPublic
    policy_version: str
    policy: PolicyRef
    model_versions: dict[str, str | None]


class ErrorItem(PublicModel):
    """One error, in FastAPI's validation-error shape (`loc` names the field)."""

    loc: list[str | int]
    msg: str
    type: str


class TriageBatchCreate(BaseModel):
    """Several return cases; each is validated, triaged and audited on its own."""

    model_config = ConfigDict(extra="forbid")

    cases: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            json_schema_extra={"items": {"$ref": "#/components/schemas/ReturnCase"}},
            description="ReturnCase objects (at most 100); an invalid one fails alone",
        ),
    ]


class TriageBatchItem(PublicModel):
    """The result of one case of a batch: a triage, or the errors that stopped it."""

    index: int
    status_code: int = Field(description="200 triaged, 422 invalid or idempotency conflict")
    replayed: bool = False
    result: TriagePublic | None = None
    errors: list[ErrorItem] | None = None


class TriageBatchPublic(PublicModel):
    """Per-case results in request order."""

    data: list[TriageBatchItem]
    count: int
    succeeded: int
    failed: int


# ----------------------------------------------------------------------------- decisions


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class DecisionBase(BaseModel):
    """Common to every human decision about a case."""

    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(default=None, description="Free-text remark")


class InspectionCreate(DecisionBase):
    """An inspector's final disposition and condition grade.

    `override_reason` is required when the disposition differs from the recommended one.
    """

    kind: Literal["inspection"]
    disposition: Disposition
    condition_grade: ConditionGrade
    override_reason: Text | None = None
    observed_reason: ReasonCode | None = Field(
        default=None, description="Reason the inspector found (a training label)"
    )


class ApprovalCreate(DecisionBase):
    """A finance approver's approval (or rejection) of a finance-queued case."""

    kind: Literal["approval"]
    approved: bool


DecisionCreate = Annotated[InspectionCreate | ApprovalCreate, Field(discriminator="kind")]


class DecisionPublic(PublicModel):
    """A recorded decision or approval (a new audit record about the case)."""

    audit_id: str
    case_id: str
    kind: Literal["inspection", "approval"]
    actor: str
    recorded_at: datetime
    triage_audit_id: str = Field(description="The triage record this decision answers")
    recommended_disposition: Disposition | None
    disposition: Disposition | None = None
    condition_grade: ConditionGrade | None = None
    override: bool = False
    override_reason: str | None = None
    observed_reason: ReasonCode | None = None
    approved: bool | None = None
    note: str | None = None


# -------------------------------------------------------------------------------- queues


class QueueItem(PublicModel):
    """An open case in a review queue."""

    case_id: str
    audit_id: str = Field(description="The triage record that queued it")
    triaged_at: datetime
    warehouse: str
    customer_id: str
    sku: str
    category: str
    credit_value: float
    currency: str
    recommended_disposition: Disposition | None
    credit_hold: bool
    queues: list[ReviewQueue]
    rules_fired: list[FiredRule]


class QueuePublic(PublicModel):
    """A page of open cases (`count` is the total matching, before paging)."""

    data: list[QueueItem]
    count: int


# --------------------------------------------------------------------------------- audit


class AuditRecordPublic(PublicModel):
    """A stored audit record, as exported."""

    id: int
    record_id: str
    case_id: str
    kind: str
    created_at: datetime
    actor: str
    prev_hash: str
    record_hash: str
    payload: dict[str, Any]


class AuditRecordsPublic(PublicModel):
    """Audit records, oldest first."""

    data: list[AuditRecordPublic]
    count: int


class VerificationPublic(PublicModel):
    """Outcome of re-hashing the whole audit chain."""

    ok: bool
    checked: int
    first_broken_id: int | None
    reason: str | None
    detail: str
    head_hash: str | None


# ---------------------------------------------------------------------------------- meta


class HealthPublic(PublicModel):
    """Liveness."""

    status: Literal["ok"]


class ModelStatusPublic(PublicModel):
    """Whether a model is loaded (a missing model means rules-only fallback, not "not ready")."""

    available: bool
    uri: str | None
    version: str | None
    detail: str
    library_mismatches: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Libraries installed at another version than the model was trained with",
    )
    product_lines: list[str] = Field(
        default_factory=list,
        description="Damage model: the product lines with their own heads",
    )


class CheckPublic(PublicModel):
    """One readiness check."""

    ok: bool
    detail: str


class ReadyPublic(PublicModel):
    """Readiness: policy loaded and audit store reachable; models reported."""

    ready: bool
    checks: dict[str, CheckPublic]
    models: dict[str, ModelStatusPublic]


class VersionsPublic(PublicModel):
    """What is running: the policy, the models and the libraries."""

    service: str
    policy: PolicyRef
    models: dict[str, ModelStatusPublic]
    libraries: dict[str, str | None]


class Message(PublicModel):
    """An error message (401, 403, 404, 409, 413)."""

    detail: str


# ---------------------------------------------------------------------------- components


class NoteIn(BaseModel):
    """One free-text note to classify."""

    model_config = ConfigDict(extra="forbid")

    id: CaseId
    text: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)]
    customer_reason_code: ReasonCode | None = None


class NotesCreate(BaseModel):
    """Notes to classify into reason codes (at most 256 per call)."""

    model_config = ConfigDict(extra="forbid")

    notes: Annotated[list[NoteIn], Field(min_length=1, max_length=256)]


class NoteReasonPublic(PublicModel):
    """The reason model's answer for one note."""

    id: str
    code: ReasonCode
    confidence: float
    alternatives: list[Alternative]
    disagrees_with_customer: bool | None
    reasons: list[str] = Field(
        default_factory=list,
        description="How the answer was made, in words (a cascade: which of its models answered)",
    )


class NotesPublic(PublicModel):
    """Reason codes for the notes, in request order."""

    data: list[NoteReasonPublic]
    count: int
    model_version: str | None


class PhotosCreate(BaseModel):
    """Photos to assess for damage (inline base64 or `uri` under the service's photo root)."""

    model_config = ConfigDict(extra="forbid")

    photos: Annotated[list[Photo], Field(min_length=1, max_length=MAX_PHOTOS)]
    product_line: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The product line the photos show. When the damage model has its own heads "
        "for it (`GET /v1/versions`: models.damage.product_lines) they assess the photos; "
        "otherwise, or when omitted, the general heads do (`damage.heads` says which)",
    )


class PhotosPublic(PublicModel):
    """Per-photo damage assessments and the aggregate over them."""

    damage: DamagePublic
    model_version: str | None


# ----------------------------------------------------------------------------- customers


class CustomerRiskPublic(PublicModel):
    """A customer's fraud risk with the factors behind it and the accounts linked to it."""

    customer_id: str
    risk_score: float
    risk_level: str
    factors: list[str]
    linked_accounts: list[str]
    labelled_abusive: bool | None = Field(description="The latest analyst label, if any")


class CustomersPublic(PublicModel):
    """A page of customers, highest risk first (`count` is the total before paging)."""

    data: list[CustomerRiskPublic]
    count: int
    model_version: str | None


class FraudLabelCreate(BaseModel):
    """An analyst's verdict on a customer, optionally about one case (closes its fraud queue)."""

    model_config = ConfigDict(extra="forbid")

    abusive: bool
    case_id: CaseId | None = Field(default=None, description="The case that prompted it")
    note: Text | None = None


class FraudLabelPublic(PublicModel):
    """A recorded fraud label."""

    audit_id: str
    customer_id: str
    case_id: str | None
    abusive: bool
    actor: str
    recorded_at: datetime
