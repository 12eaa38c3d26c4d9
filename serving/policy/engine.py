"""Review-policy engine: versioned rules as data decide who reviews a case (PRODUCT.md flow 4).

A policy is one YAML file: a `name`, a `revision`, `params` (every threshold) and `rules`.
Each rule has a condition in a small, safe language (no eval) over `PolicyFacts` and an
outcome: review queues, a credit hold, a forced disposition and a reason template. The policy
version is the content hash of the file bytes, so an audit record names exactly what ran.

Condition language (a YAML mapping, nested freely)::

    {all: [cond, ...]}   every condition holds (an empty list holds)
    {any: [cond, ...]}   at least one holds (an empty list does not)
    {not: cond}
    {fact: NAME, op: OP, value: LITERAL}  or  {fact: NAME, op: OP, param: PARAM_NAME}

OPs: ``== != < <= > >= in not_in`` take a value or a param; ``is_true is_false is_null
not_null`` take neither. A missing fact (None) never satisfies a comparison: test it with
``is_null`` / ``not_null``.

Rules run in two stages. `review` rules (the default) are all evaluated; `audit` rules only
run for cases the review stage would auto-approve, so the random audit sample measures the
automatic path and never piles onto a case that is already reviewed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import string
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

from features.codes import ClaimType, Disposition, ReasonCode
from features.eligibility import Eligibility
from features.schema import ReturnCase

DEFAULT_POLICY_FILE = "default_policy.yml"
AUDIT_DRAW_FACT = "audit_draw"
AUDIT_SALT_PARAM = "audit_salt"

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the rule id and field."""


class ReviewQueue(StrEnum):
    """Who reviews a case (PRODUCT.md users)."""

    INSPECTION = "inspection"  # warehouse inspectors
    FRAUD = "fraud"  # fraud analysts
    FINANCE = "finance"  # finance approvers
    ELIGIBILITY = "eligibility"  # returns desk: window, warranty, quantity exceptions


# ----------------------------------------------------------------------------------- facts


class PolicyFacts(BaseModel):
    """Everything a rule may look at, filled by the serving layer from the case, its
    eligibility and the model outputs (`from_case` does the case and eligibility part).

    Model outputs are None when the model did not answer; such a model counts as unavailable
    (see `unavailable_models`), which forces review and forbids auto-approval. Required
    outputs: reason and fraud always, disposition for goods coming back (RETURN claims),
    damage when photos are attached.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- the case
    case_id: str = Field(description="Return id; also seeds the deterministic audit draw")
    claim_type: ClaimType = Field(default=ClaimType.RETURN, description="RETURN or NOT_RECEIVED")
    category: str = Field(description="Item category key, e.g. medical_supplies")
    customer_segment: str | None = Field(default=None, description="DEALER, CONSUMER, ...")
    channel: str | None = Field(default=None, description="Sales channel of the return")
    regulated: bool = Field(default=False, description="Item is regulated (medical, food, ...)")
    hazmat: bool = Field(default=False, description="Item is hazardous material")
    lot_controlled: bool = Field(default=False, description="Item is traced by lot")
    expiry_controlled: bool = Field(default=False, description="Item has an expiry date")
    serialized: bool = Field(default=False, description="Item is traced by serial number")
    quantity: int = Field(default=1, ge=0, description="Units claimed")
    quantity_delivered: int | None = Field(default=None, ge=0, description="Units delivered")
    item_value: Amount = Field(description="Unit price on the order line x quantity claimed")
    credit_value: Amount = Field(description="Credit the customer asks for")
    photo_count: int = Field(default=0, ge=0, description="Photos attached (damage is expected)")
    customer_reason_code: ReasonCode = Field(description="Reason code the customer picked")
    # -- eligibility (features.eligibility)
    days_since_delivery: int | None = Field(default=None, description="None when not delivered")
    return_window_days: int | None = Field(default=None, description="Item's return window")
    warranty_days: int | None = Field(default=None, description="Item's warranty (0 = none)")
    within_return_window: bool = Field(default=True, description="Inside the return window")
    within_warranty: bool = Field(default=False, description="Inside the item's warranty")
    warranty_claim: bool = Field(default=False, description="Claim is a warranty (defect) claim")
    eligible_under_warranty: bool = Field(
        default=False, description="Outside the window but a warranty claim within warranty"
    )
    quantity_above_delivered: bool = Field(default=False, description="More claimed than allowed")
    not_delivered: bool = Field(default=False, description="The line has no recorded delivery")
    serial_mismatch: bool = Field(default=False, description="Returned serials were not shipped")
    lot_mismatch: bool = Field(default=False, description="Returned lot differs from shipped")
    returnable: bool = Field(default=True, description="SKU accepts returns (not final sale)")
    expired: bool = Field(default=False, description="Expired before the request date")
    short_dated: bool = Field(default=False, description="Close to expiry at the request date")
    eligibility_exceptions: list[str] = Field(default=[], description="Eligibility codes")
    # -- models
    predicted_reason: ReasonCode | None = Field(default=None, description="Reason model's code")
    reason_confidence: Probability | None = Field(default=None, description="Its probability")
    damage_probability: Probability | None = Field(
        default=None, description="Damage model: probability the goods are damaged (photos)"
    )
    damage_confidence: Probability | None = Field(default=None, description="Its confidence")
    recommended_disposition: Disposition | None = Field(
        default=None, description="Disposition model's recommendation"
    )
    disposition_confidence: Probability | None = Field(default=None, description="Its probability")
    write_off_value: Amount = Field(
        default=0.0, description="Value lost under the recommended disposition (SCRAP, discount)"
    )
    fraud_score: Probability | None = Field(default=None, description="Fraud score of the return")
    customer_risk_score: Probability | None = Field(
        default=None, description="Anomaly/risk score of the customer (optional model)"
    )
    linked_flagged_accounts: int = Field(
        default=0, ge=0, description="Accounts sharing identity tokens that are flagged for fraud"
    )
    models_unavailable: list[str] = Field(
        default=[], description="Models that failed or are missing (reported by the caller)"
    )

    @computed_field(description="Predicted reason differs from the customer's code")  # type: ignore[prop-decorator]
    @property
    def reason_disagrees(self) -> bool:
        """True when the reason model answered and differs from the customer's code."""
        return self.predicted_reason is not None and self.predicted_reason != (
            self.customer_reason_code
        )

    @computed_field(description="Reported unavailable models plus those with missing outputs")  # type: ignore[prop-decorator]
    @property
    def unavailable_models(self) -> list[str]:
        """Models that failed: those reported, plus any required output left empty."""
        missing = set(self.models_unavailable)
        if self.predicted_reason is None or self.reason_confidence is None:
            missing.add("reason")
        goods_back = self.claim_type == ClaimType.RETURN  # "not received": nothing to dispose of
        if goods_back and (
            self.recommended_disposition is None or self.disposition_confidence is None
        ):
            missing.add("disposition")
        if self.fraud_score is None:
            missing.add("fraud")
        if self.photo_count > 0 and self.damage_probability is None:
            missing.add("damage")
        return sorted(missing)

    @computed_field(description="A model is unavailable: rules only, forced review")  # type: ignore[prop-decorator]
    @property
    def model_fallback(self) -> bool:
        """True when any model is unavailable, so the decision rests on rules alone."""
        return bool(self.unavailable_models)

    @classmethod
    def from_case(cls, case: ReturnCase, eligibility: Eligibility, **model_outputs: Any) -> Self:
        """Facts from a case and its eligibility, plus model outputs given as keywords.

        `write_off_value` defaults to the goods at cost when the recommended disposition is
        SCRAP (0 otherwise); pass it explicitly for discounted resale write-downs.
        """
        request, item, line = case.request, case.item, case.order_line
        facts: dict[str, Any] = {
            "case_id": request.return_id,
            "claim_type": request.claim_type,
            "category": item.category,
            "customer_segment": case.customer.segment.value,
            "channel": request.channel.value,
            "regulated": item.regulated,
            "hazmat": item.hazmat,
            "lot_controlled": item.lot_controlled,
            "expiry_controlled": item.expiry_controlled,
            "serialized": item.serialized,
            "quantity": request.quantity,
            "quantity_delivered": line.quantity_delivered,
            "item_value": round(line.unit_price * request.quantity, 2),
            "credit_value": request.value,
            "photo_count": len(request.photos),
            "customer_reason_code": request.customer_reason_code,
            "days_since_delivery": eligibility.days_since_delivery,
            "return_window_days": item.return_window_days,
            "warranty_days": item.warranty_days,
            "within_return_window": eligibility.within_return_window,
            "within_warranty": eligibility.within_warranty,
            "warranty_claim": eligibility.warranty_claim,
            "eligible_under_warranty": eligibility.eligible_under_warranty,
            "quantity_above_delivered": not eligibility.quantity_ok,
            "not_delivered": not eligibility.delivered,
            "serial_mismatch": eligibility.serial_matches is False,
            "lot_mismatch": eligibility.lot_matches is False,
            "returnable": eligibility.returnable,
            "expired": eligibility.expired,
            "short_dated": eligibility.short_dated,
            "eligibility_exceptions": [code.value for code in eligibility.exceptions],
        }
        facts.update(model_outputs)
        if "write_off_value" not in model_outputs:
            scrap = facts.get("recommended_disposition") == Disposition.SCRAP
            facts["write_off_value"] = round(item.unit_cost * request.quantity, 2) if scrap else 0.0
        return cls.model_validate(facts)


FactKind = Literal["number", "bool", "text", "list"]


def _fact_kind(annotation: Any) -> FactKind:
    """Classify a fact's type annotation for checking which operators apply to it."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _fact_kind(args[0])
    if origin is typing.Annotated:
        return _fact_kind(args[0])
    if origin is list or annotation is list:
        return "list"
    if annotation is bool:
        return "bool"
    if isinstance(annotation, type) and issubclass(annotation, int | float):
        return "number"
    return "text"


def _fact_choices(annotation: Any) -> frozenset[str] | None:
    """The allowed values of an enum-typed fact (None for any other type)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _fact_choices(args[0])
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return frozenset(member.value for member in annotation)
    return None


@functools.cache
def fact_choices() -> Mapping[str, frozenset[str]]:
    """Facts that take one of a fixed set of codes (reason codes, dispositions, claim types)."""
    return types.MappingProxyType(
        {
            name: choices
            for name, field in PolicyFacts.model_fields.items()
            if (choices := _fact_choices(field.annotation)) is not None
        }
    )


@functools.cache
def fact_kinds() -> Mapping[str, FactKind]:
    """Every fact a rule may name, with its kind (fields, computed facts, engine facts)."""
    kinds: dict[str, FactKind] = {
        name: _fact_kind(field.annotation) for name, field in PolicyFacts.model_fields.items()
    }
    for name, computed in PolicyFacts.model_computed_fields.items():
        kinds[name] = _fact_kind(computed.return_type)
    kinds[AUDIT_DRAW_FACT] = "number"
    return types.MappingProxyType(kinds)


# ---------------------------------------------------------------------------- the language

Op = Literal[
    "==", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_true", "is_false", "is_null", "not_null"
]
UNARY_OPS = frozenset({"is_true", "is_false", "is_null", "not_null"})
ORDER_OPS = frozenset({"<", "<=", ">", ">="})
MEMBER_OPS = frozenset({"in", "not_in"})
Scalar = str | int | float | bool
Operand = Scalar | list[Scalar] | None


class Leaf(BaseModel):
    """A comparison of one fact with a literal `value` or a named `param`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fact: str
    op: Op
    value: Operand = None
    param: str | None = None

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, fact: str) -> str:
        if fact not in fact_kinds():
            raise ValueError(f"unknown fact {fact!r}")
        return fact

    @model_validator(mode="after")
    def _operand_fits(self) -> Self:
        kind = fact_kinds()[self.fact]
        given = ("value" in self.model_fields_set) + (self.param is not None)
        if self.op in UNARY_OPS:
            if given:
                raise ValueError(f"op {self.op!r} takes no value or param")
            if self.op in ("is_true", "is_false") and kind != "bool":
                raise ValueError(f"op {self.op!r} needs a yes/no fact; {self.fact!r} is {kind}")
            return self
        if given != 1:
            raise ValueError(f"op {self.op!r} needs exactly one of value or param")
        if self.op in ORDER_OPS and kind != "number":
            raise ValueError(f"op {self.op!r} needs a number fact; {self.fact!r} is {kind}")
        if kind == "list":
            raise ValueError(f"fact {self.fact!r} is a list; only is_null/not_null apply")
        if self.param is None:
            _check_operand(self.fact, self.op, self.value, "value")
        return self


class AllOf(BaseModel):
    """Every condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    all: list[Condition]


class AnyOf(BaseModel):
    """At least one condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    any: list[Condition]


class NotOf(BaseModel):
    """The condition does not hold."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    not_: Condition = Field(alias="not")


def _condition_tag(node: Any) -> str | None:
    """Which node a raw condition is, by its key; None (an error) when it is no mapping."""
    if isinstance(node, dict):
        for key, tag in (("all", "AllOf"), ("any", "AnyOf"), ("not", "NotOf")):
            if key in node:
                return tag
        return "Leaf"
    if isinstance(node, AllOf | AnyOf | NotOf | Leaf):
        return type(node).__name__
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("AllOf")]
    | Annotated[AnyOf, Tag("AnyOf")]
    | Annotated[NotOf, Tag("NotOf")]
    | Annotated[Leaf, Tag("Leaf")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="a condition is a mapping with all, any, not or fact",
    ),
]
"""A node of the condition tree: the key (all / any / not / fact) says which."""

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()


def _check_operand(fact: str, op: str, operand: Any, where: str) -> None:
    """Refuse an operand that cannot work with `op` and the fact's type (a number for <, a
    list for in, a known code for a code-valued fact) so typos fail on load, not silently."""
    if op in ORDER_OPS and not _is_number(operand):
        raise ValueError(f"op {op!r} needs a number {where}, got {operand!r}")
    if op in MEMBER_OPS and not isinstance(operand, list):
        raise ValueError(f"op {op!r} needs a list {where}, got {operand!r}")
    if op in ("==", "!=") and isinstance(operand, list):
        raise ValueError(f"op {op!r} needs a single {where}, got a list")
    kind = fact_kinds()[fact]
    choices = fact_choices().get(fact)
    for item in operand if isinstance(operand, list) else [operand]:
        if kind == "number" and not _is_number(item):
            raise ValueError(f"fact {fact!r} is a number; {where} has {item!r}")
        if kind == "bool" and not isinstance(item, bool):
            raise ValueError(f"fact {fact!r} is yes/no; {where} has {item!r}")
        if kind == "text" and not isinstance(item, str):
            raise ValueError(f"fact {fact!r} is text; {where} has {item!r}")
        if choices is not None and item not in choices:
            raise ValueError(
                f"fact {fact!r} takes one of {', '.join(sorted(choices))}; {where} has {item!r}"
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


# ------------------------------------------------------------------------------- the file


class Stage(StrEnum):
    """When a rule runs: with every case, or only on cases the review stage would approve."""

    REVIEW = "review"
    AUDIT = "audit"


class Rule(BaseModel):
    """One rule: a condition and what happens when it holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    description: str = ""
    stage: Stage = Stage.REVIEW
    when: Condition
    queues: Annotated[list[ReviewQueue], Field(min_length=1)]
    credit_hold: bool = False
    force_disposition: Disposition | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    @field_validator("reason")
    @classmethod
    def _plain_template(cls, reason: str) -> str:
        for name in _template_fields(reason):
            if not name.isidentifier():
                raise ValueError(f"reason placeholder {{{name}}} must be a plain name")
        return reason


class PolicyFile(BaseModel):
    """The whole policy file, validated on load (names, operators, params, templates)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    revision: int | str
    description: str = ""
    params: dict[str, Scalar | list[Scalar]] = {}
    rules: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        seen: set[str] = set()
        kinds = fact_kinds()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule {rule.id!r}: duplicate rule id")
            seen.add(rule.id)
            for path, leaf in _leaves(rule.when, "when"):
                if leaf.param is None:
                    continue
                if leaf.param not in self.params:
                    raise ValueError(
                        f"rule {rule.id!r}: {path}.param: unknown param {leaf.param!r}"
                    )
                try:
                    _check_operand(
                        leaf.fact, leaf.op, self.params[leaf.param], f"param {leaf.param!r}"
                    )
                except ValueError as exc:
                    raise ValueError(f"rule {rule.id!r}: {path}.param: {exc}") from None
                if leaf.fact == AUDIT_DRAW_FACT and not isinstance(
                    self.params.get(AUDIT_SALT_PARAM), str
                ):
                    raise ValueError(
                        f"rule {rule.id!r}: {path}: fact {AUDIT_DRAW_FACT!r} needs a text "
                        f"param {AUDIT_SALT_PARAM!r}"
                    )
            for name in _template_fields(rule.reason):
                if name not in kinds and name not in self.params:
                    raise ValueError(
                        f"rule {rule.id!r}: reason: {{{name}}} is neither a fact nor a param"
                    )
        return self


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Leaf]]:
    """Each leaf of a condition tree with its path, e.g. ``when.all[1].any[0]``."""
    if isinstance(node, Leaf):
        yield path, node
    elif isinstance(node, AllOf):
        for i, child in enumerate(node.all):
            yield from _leaves(child, f"{path}.all[{i}]")
    elif isinstance(node, AnyOf):
        for i, child in enumerate(node.any):
            yield from _leaves(child, f"{path}.any[{i}]")
    elif isinstance(node, NotOf):
        yield from _leaves(node.not_, f"{path}.not")


def _template_fields(template: str) -> list[str]:
    """Placeholder names of a reason template (refusing malformed ones)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"reason template is malformed: {exc}") from None
    names = []
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if not name or (spec and "{" in spec):
            raise ValueError("reason placeholders must be named, without nested fields")
        names.append(name)
    return names


class _SafeFormatter(string.Formatter):
    """str.format without attribute or index access; None shows as n/a, lists joined."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"placeholder {field_name!r} must be a plain name")
        return kwargs.get(field_name), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value) or "none"
        try:
            return format(value, format_spec)
        except (TypeError, ValueError):
            return str(value)


_FORMATTER = _SafeFormatter()


# -------------------------------------------------------------------------- the decisions


class RuleHit(BaseModel):
    """A rule that fired, with its rendered reason."""

    model_config = ConfigDict(frozen=True)

    id: str
    reason: str
    queues: list[ReviewQueue]
    credit_hold: bool = False
    force_disposition: Disposition | None = None


class PolicyDecision(BaseModel):
    """What the policy decided for one case; recorded in the audit trail with its version."""

    model_config = ConfigDict(frozen=True)

    review_required: bool
    queues: list[ReviewQueue] = Field(description="Review queues, sorted")
    rules_fired: list[RuleHit] = Field(description="In policy order")
    credit_hold: bool
    forced_disposition: Disposition | None
    auto_approved: bool = Field(description="No review needed and every model answered")
    model_fallback: bool = Field(description="A model was unavailable: rules only")
    audit_sampled: bool = Field(description="Picked by the random audit of the automatic path")
    policy_version: str
    policy_name: str
    policy_revision: int | str


class ConditionTrace(BaseModel):
    """One leaf comparison: the fact's actual value against the expected one."""

    model_config = ConfigDict(frozen=True)

    path: str
    fact: str
    op: str
    actual: Any
    expected: Any = None
    param: str | None = None
    result: bool


class RuleExplanation(BaseModel):
    """How one rule came out for a case, whether it fired or not."""

    model_config = ConfigDict(frozen=True)

    id: str
    description: str
    stage: Stage
    fired: bool
    skipped: str | None = Field(default=None, description="Why an audit rule did not run")
    queues: list[ReviewQueue]
    credit_hold: bool
    force_disposition: Disposition | None
    reason: str | None = Field(description="Rendered reason when fired")
    conditions: list[ConditionTrace]


# ------------------------------------------------------------------------------ the engine


class PolicyEngine:
    """Evaluates a validated policy against `PolicyFacts`; immutable once loaded."""

    def __init__(self, policy: PolicyFile, version: str) -> None:
        self.policy = policy
        self.version = version

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> PolicyEngine:
        """Load a policy YAML file; None loads the packaged default policy."""
        if path is None:
            data = resources.files(__package__).joinpath(DEFAULT_POLICY_FILE).read_bytes()
            return cls.from_bytes(data, source=f"{__package__}/{DEFAULT_POLICY_FILE}")
        return cls.from_bytes(Path(path).read_bytes(), source=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<policy>") -> PolicyEngine:
        """Load a policy from the bytes of a YAML file; the version is their content hash."""
        try:
            raw = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{source}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise PolicyError(f"{source}: a policy file must be a mapping")
        try:
            policy = PolicyFile.model_validate(raw)
        except ValidationError as exc:
            raise PolicyError(f"{source}: invalid policy\n{_describe(exc, raw)}") from None
        return cls(policy, policy_version(data))

    @property
    def name(self) -> str:
        """Human name of the policy (from the file)."""
        return self.policy.name

    @property
    def revision(self) -> int | str:
        """Human revision of the policy (from the file)."""
        return self.policy.revision

    @property
    def params(self) -> Mapping[str, Any]:
        """The policy's parameters (thresholds, rates, lists)."""
        return types.MappingProxyType(self.policy.params)

    def evaluate(self, facts: PolicyFacts) -> PolicyDecision:
        """Decide review queues, credit hold and forced disposition for one case."""
        values = self._values(facts)
        hits = [
            self._hit(rule, values)
            for rule in self.policy.rules
            if rule.stage is Stage.REVIEW and _holds(rule.when, values, self.policy.params)
        ]
        fallback = facts.model_fallback
        audit_sampled = False
        if not hits and not fallback:
            audit_hits = [
                self._hit(rule, values)
                for rule in self.policy.rules
                if rule.stage is Stage.AUDIT and _holds(rule.when, values, self.policy.params)
            ]
            audit_sampled = bool(audit_hits)
            hits.extend(audit_hits)
        queues = sorted({q for hit in hits for q in hit.queues})
        forced = [hit.force_disposition for hit in hits if hit.force_disposition is not None]
        # quarantine wins: goods on quality hold stay there until someone releases them
        forced_disposition = (
            Disposition.QUARANTINE if Disposition.QUARANTINE in forced else next(iter(forced), None)
        )
        review = bool(hits)
        return PolicyDecision(
            review_required=review,
            queues=queues,
            rules_fired=hits,
            credit_hold=any(hit.credit_hold for hit in hits),
            forced_disposition=forced_disposition,
            auto_approved=not review and not fallback,
            model_fallback=fallback,
            audit_sampled=audit_sampled,
            policy_version=self.version,
            policy_name=self.policy.name,
            policy_revision=self.policy.revision,
        )

    def explain(self, facts: PolicyFacts) -> list[RuleExplanation]:
        """Every rule with whether it fired and each leaf's actual value vs its threshold."""
        values = self._values(facts)
        params = self.policy.params
        review_fired = any(
            _holds(rule.when, values, params)
            for rule in self.policy.rules
            if rule.stage is Stage.REVIEW
        )
        explanations = []
        for rule in self.policy.rules:
            traces: list[ConditionTrace] = []
            holds = _trace(rule.when, values, params, "when", traces)
            skipped = None
            if rule.stage is Stage.AUDIT and (review_fired or facts.model_fallback):
                skipped = "case already requires review; the audit samples auto-approved cases"
            fired = holds and skipped is None
            explanations.append(
                RuleExplanation(
                    id=rule.id,
                    description=rule.description,
                    stage=rule.stage,
                    fired=fired,
                    skipped=skipped,
                    queues=rule.queues,
                    credit_hold=rule.credit_hold,
                    force_disposition=rule.force_disposition,
                    reason=self._render(rule, values) if fired else None,
                    conditions=traces,
                )
            )
        return explanations

    # -- internals

    def _values(self, facts: PolicyFacts) -> dict[str, Any]:
        """Plain (JSON-mode) fact values plus the engine's own facts."""
        values = facts.model_dump(mode="json")
        salt = self.policy.params.get(AUDIT_SALT_PARAM, "")
        values[AUDIT_DRAW_FACT] = audit_draw(facts.case_id, str(salt))
        return values

    def _hit(self, rule: Rule, values: Mapping[str, Any]) -> RuleHit:
        return RuleHit(
            id=rule.id,
            reason=self._render(rule, values),
            queues=rule.queues,
            credit_hold=rule.credit_hold,
            force_disposition=rule.force_disposition,
        )

    def _render(self, rule: Rule, values: Mapping[str, Any]) -> str:
        return _FORMATTER.vformat(rule.reason, (), {**self.policy.params, **values})


def policy_version(data: bytes) -> str:
    """Content hash of a policy file: ``sha256:`` and the first 12 hex digits."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:12]


def audit_draw(case_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by case id and salt, so retries draw the same."""
    digest = hashlib.sha256(f"{salt}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# ------------------------------------------------------------------------ evaluation helpers


def _operand(leaf: Leaf, params: Mapping[str, Any]) -> Any:
    return params[leaf.param] if leaf.param is not None else leaf.value


def _compare(leaf: Leaf, actual: Any, expected: Any) -> bool:
    op = leaf.op
    if op == "is_null":
        return actual is None
    if op == "not_null":
        return actual is not None
    if actual is None:
        return False  # a missing fact never satisfies a comparison
    if op == "is_true":
        return actual is True
    if op == "is_false":
        return actual is False
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    if op == ">":
        return bool(actual > expected)
    return bool(actual >= expected)


def _holds(node: Any, values: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    if isinstance(node, Leaf):
        return _compare(node, values[node.fact], _operand(node, params))
    if isinstance(node, AllOf):
        return all(_holds(child, values, params) for child in node.all)
    if isinstance(node, AnyOf):
        return any(_holds(child, values, params) for child in node.any)
    return not _holds(node.not_, values, params)


def _trace(
    node: Any,
    values: Mapping[str, Any],
    params: Mapping[str, Any],
    path: str,
    out: list[ConditionTrace],
) -> bool:
    """Like `_holds`, but visits every leaf (no short-circuit) and records each comparison."""
    if isinstance(node, Leaf):
        expected = _operand(node, params)
        result = _compare(node, values[node.fact], expected)
        out.append(
            ConditionTrace(
                path=path,
                fact=node.fact,
                op=node.op,
                actual=values[node.fact],
                expected=expected,
                param=node.param,
                result=result,
            )
        )
        return result
    if isinstance(node, AllOf):
        results = [
            _trace(child, values, params, f"{path}.all[{i}]", out)
            for i, child in enumerate(node.all)
        ]
        return all(results)
    if isinstance(node, AnyOf):
        results = [
            _trace(child, values, params, f"{path}.any[{i}]", out)
            for i, child in enumerate(node.any)
        ]
        return any(results)
    return not _trace(node.not_, values, params, f"{path}.not", out)


def _describe(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    """Validation errors as lines naming the rule id (not its index) and the field path."""
    rules = raw.get("rules")
    lines = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
            rule_id = rule.get("id") if isinstance(rule, dict) else None
            where = f"rule {rule_id!r}" if rule_id else f"rule #{index + 1}"
            loc = loc[2:]
        field = _path(loc)
        message = error["msg"].removeprefix("Value error, ")
        lines.append("  " + ": ".join(part for part in (where, field, message) if part))
    # a tree of unions reports every branch; keep each line once, in order
    return "\n".join(dict.fromkeys(lines))


def _path(loc: Sequence[Any]) -> str:
    """A pydantic location as a dotted path, dropping union-branch tags (AllOf, Leaf, ...)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("AllOf", "AnyOf", "NotOf", "Leaf"):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)
