"""Review policy: every default rule fires when it should and not just below its threshold;
the audit sample, the model fallback, versioning and validation of policy files."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from features.codes import Disposition
from features.eligibility import check_eligibility
from features.schema import ReturnCase
from serving.policy import (
    PolicyEngine,
    PolicyError,
    PolicyFacts,
    ReviewQueue,
    audit_draw,
    fact_kinds,
    policy_version,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "cases.jsonl"
DEFAULT_BYTES = resources.files("serving.policy").joinpath("default_policy.yml").read_bytes()
DEFAULT_TEXT = DEFAULT_BYTES.decode("utf-8")
ENGINE = PolicyEngine.from_file()
PARAMS: Mapping[str, Any] = ENGINE.params

# a case every model is sure about, well inside every threshold: auto-approved
CLEAN: dict[str, Any] = {
    "case_id": "R-CLEAN-0001",
    "category": "home_goods",
    "item_value": 100.0,
    "credit_value": 100.0,
    "quantity": 1,
    "quantity_delivered": 1,
    "customer_reason_code": "DEFECTIVE",
    "predicted_reason": "DEFECTIVE",
    "reason_confidence": 0.95,
    "recommended_disposition": "REFURBISH",
    "disposition_confidence": 0.95,
    "fraud_score": 0.05,
    "days_since_delivery": 3,
    "return_window_days": 30,
    "warranty_days": 365,
}


def _facts(**changes: Any) -> PolicyFacts:
    return PolicyFacts.model_validate({**CLEAN, **changes})


def _engine_with(**params: Any) -> PolicyEngine:
    raw = yaml.safe_load(DEFAULT_BYTES)
    raw["params"].update(params)
    return PolicyEngine.from_bytes(yaml.safe_dump(raw, sort_keys=False).encode())


def _fired(decision_facts: PolicyFacts, engine: PolicyEngine = ENGINE) -> list[str]:
    return [hit.id for hit in engine.evaluate(decision_facts).rules_fired]


def test_clean_case_is_auto_approved() -> None:
    decision = ENGINE.evaluate(_facts())
    assert decision.auto_approved
    assert not decision.review_required
    assert decision.queues == []
    assert decision.rules_fired == []
    assert not decision.credit_hold
    assert decision.forced_disposition is None
    assert decision.policy_version == ENGINE.version
    assert decision.policy_name == "default"


# ------------------------------------------------------------------- every default rule

Changes = Callable[[Mapping[str, Any]], dict[str, Any]]

# (rule id, facts that make it fire, queue, credit hold, forced disposition)
FIRES: list[tuple[str, Changes, ReviewQueue, bool, Disposition | None]] = [
    ("finance_high_value", lambda p: {"credit_value": p["finance_credit_threshold"] + 0.01},
     ReviewQueue.FINANCE, False, None),
    ("finance_high_value", lambda p: {"item_value": p["finance_item_value_threshold"] + 0.01},
     ReviewQueue.FINANCE, False, None),
    ("finance_write_off",
     lambda p: {"recommended_disposition": "SCRAP",
                "write_off_value": p["scrap_value_threshold"] + 0.01},
     ReviewQueue.FINANCE, False, None),
    ("finance_write_off",
     lambda p: {"recommended_disposition": "RESALE_DISCOUNTED",
                "write_off_value": p["write_off_threshold"] + 0.01},
     ReviewQueue.FINANCE, False, None),
    ("regulated_item", lambda p: {"regulated": True},
     ReviewQueue.INSPECTION, False, Disposition.QUARANTINE),
    ("regulated_item", lambda p: {"hazmat": True},
     ReviewQueue.INSPECTION, False, Disposition.QUARANTINE),
    ("regulated_item", lambda p: {"category": p["regulated_categories"][0]},
     ReviewQueue.INSPECTION, False, Disposition.QUARANTINE),
    ("traceable_item", lambda p: {"lot_controlled": True},
     ReviewQueue.INSPECTION, False, Disposition.QUARANTINE),
    ("traceable_item", lambda p: {"expiry_controlled": True},
     ReviewQueue.INSPECTION, False, Disposition.QUARANTINE),
    ("low_model_confidence", lambda p: {"reason_confidence": p["min_model_confidence"] - 0.01},
     ReviewQueue.INSPECTION, False, None),
    ("low_model_confidence",
     lambda p: {"disposition_confidence": p["min_model_confidence"] - 0.01},
     ReviewQueue.INSPECTION, False, None),
    ("low_model_confidence",
     lambda p: {"photo_count": 1, "damage_probability": 0.5,
                "damage_confidence": p["min_model_confidence"] - 0.01},
     ReviewQueue.INSPECTION, False, None),
    ("reason_disagreement", lambda p: {"predicted_reason": "NOT_AS_DESCRIBED"},
     ReviewQueue.INSPECTION, False, None),
    ("damage_disagreement",
     lambda p: {"customer_reason_code": "DAMAGED_IN_TRANSIT",
                "predicted_reason": "DAMAGED_IN_TRANSIT", "photo_count": 2,
                "damage_confidence": 0.9,
                "damage_probability": p["damage_claim_max_probability"] - 0.01},
     ReviewQueue.INSPECTION, False, None),
    ("damage_disagreement",
     lambda p: {"customer_reason_code": p["no_fault_reason_codes"][0],
                "predicted_reason": p["no_fault_reason_codes"][0], "photo_count": 1,
                "damage_confidence": 0.9,
                "damage_probability": p["undisclosed_damage_probability"] + 0.01},
     ReviewQueue.INSPECTION, False, None),
    ("fraud_score_high", lambda p: {"fraud_score": p["fraud_score_threshold"] + 0.01},
     ReviewQueue.FRAUD, True, Disposition.QUARANTINE),
    ("fraud_score_high", lambda p: {"customer_risk_score": p["customer_risk_threshold"] + 0.01},
     ReviewQueue.FRAUD, True, Disposition.QUARANTINE),
    ("linked_flagged_accounts",
     lambda p: {"linked_flagged_accounts": p["max_linked_flagged_accounts"] + 1},
     ReviewQueue.FRAUD, True, None),
    ("serial_mismatch", lambda p: {"serial_mismatch": True},
     ReviewQueue.FRAUD, True, Disposition.QUARANTINE),
    ("outside_return_window",
     lambda p: {"within_return_window": False, "days_since_delivery": 31,
                "customer_reason_code": "SIZE_FIT", "predicted_reason": "SIZE_FIT"},
     ReviewQueue.ELIGIBILITY, False, None),
    ("outside_warranty",
     lambda p: {"within_return_window": False, "warranty_claim": True,
                "within_warranty": False, "days_since_delivery": 366},
     ReviewQueue.ELIGIBILITY, False, None),
    ("quantity_above_delivered", lambda p: {"quantity_above_delivered": True, "quantity": 2},
     ReviewQueue.ELIGIBILITY, False, None),
    ("not_delivered", lambda p: {"not_delivered": True},
     ReviewQueue.ELIGIBILITY, False, None),
    ("not_returnable", lambda p: {"returnable": False},
     ReviewQueue.ELIGIBILITY, False, None),
    ("not_returnable", lambda p: {"lot_mismatch": True},
     ReviewQueue.ELIGIBILITY, False, None),
    ("model_fallback", lambda p: {"models_unavailable": ["fraud"]},
     ReviewQueue.INSPECTION, False, None),
    ("model_fallback", lambda p: {"fraud_score": None},
     ReviewQueue.INSPECTION, False, None),
    ("model_fallback", lambda p: {"photo_count": 1},  # photos but no damage assessment
     ReviewQueue.INSPECTION, False, None),
    ("audit_sample", lambda p: {"case_id": _audited_id(p)},
     ReviewQueue.INSPECTION, False, None),
]  # fmt: skip

# (rule id, facts just short of firing it)
NEAR_MISSES: list[tuple[str, Changes]] = [
    ("finance_high_value",
     lambda p: {"credit_value": p["finance_credit_threshold"],
                "item_value": p["finance_item_value_threshold"]}),
    ("finance_write_off",
     lambda p: {"recommended_disposition": "SCRAP", "write_off_value": p["scrap_value_threshold"]}),
    ("finance_write_off",  # above the scrap threshold, but it is no scrap
     lambda p: {"recommended_disposition": "RESALE_DISCOUNTED",
                "write_off_value": p["write_off_threshold"]}),
    ("regulated_item", lambda p: {"category": "industrial_parts", "lot_controlled": True}),
    ("traceable_item", lambda p: {"regulated": True}),
    ("low_model_confidence",
     lambda p: {"reason_confidence": p["min_model_confidence"],
                "disposition_confidence": p["min_model_confidence"], "photo_count": 1,
                "damage_probability": 0.5, "damage_confidence": p["min_model_confidence"]}),
    ("reason_disagreement",  # the customer picked OTHER: nothing to disagree with
     lambda p: {"customer_reason_code": p["reason_codes_without_claim"][0]}),
    ("damage_disagreement",
     lambda p: {"customer_reason_code": "DAMAGED_IN_TRANSIT",
                "predicted_reason": "DAMAGED_IN_TRANSIT", "photo_count": 2,
                "damage_confidence": 0.9,
                "damage_probability": p["damage_claim_max_probability"]}),
    ("damage_disagreement",
     lambda p: {"customer_reason_code": p["no_fault_reason_codes"][0],
                "predicted_reason": p["no_fault_reason_codes"][0], "photo_count": 1,
                "damage_confidence": 0.9,
                "damage_probability": p["undisclosed_damage_probability"]}),
    ("damage_disagreement",  # no photos, no damage assessment: nothing contradicts the claim
     lambda p: {"customer_reason_code": "DAMAGED_IN_TRANSIT",
                "predicted_reason": "DAMAGED_IN_TRANSIT"}),
    ("fraud_score_high",
     lambda p: {"fraud_score": p["fraud_score_threshold"],
                "customer_risk_score": p["customer_risk_threshold"]}),
    ("linked_flagged_accounts",
     lambda p: {"linked_flagged_accounts": p["max_linked_flagged_accounts"]}),
    ("serial_mismatch", lambda p: {"serialized": True, "serial_mismatch": False}),
    ("outside_return_window",  # a defect after the window, inside the warranty
     lambda p: {"within_return_window": False, "warranty_claim": True, "within_warranty": True,
                "eligible_under_warranty": True}),
    ("outside_return_window", lambda p: {"days_since_delivery": 30}),  # last day of the window
    ("outside_warranty",
     lambda p: {"within_return_window": False, "warranty_claim": True, "within_warranty": True,
                "eligible_under_warranty": True}),
    ("quantity_above_delivered", lambda p: {"quantity": 1, "quantity_delivered": 1}),
    ("not_delivered", lambda p: {"not_delivered": True, "claim_type": "NOT_RECEIVED"}),
    ("not_returnable", lambda p: {"returnable": True, "lot_mismatch": False}),
    ("model_fallback",
     lambda p: {"photo_count": 1, "damage_probability": 0.1, "damage_confidence": 0.9}),
    ("audit_sample", lambda p: {"case_id": _audited_id(p), "credit_value": 5000.0}),
    ("audit_sample", lambda p: {"case_id": _not_audited_id(p)}),
]  # fmt: skip


def _audited_id(params: Mapping[str, Any]) -> str:
    """A case id the default audit sample draws."""
    return next(
        f"R{i:08d}"
        for i in range(100_000)
        if audit_draw(f"R{i:08d}", params["audit_salt"]) < params["audit_sample_rate"]
    )


def _not_audited_id(params: Mapping[str, Any]) -> str:
    """A case id just outside the default audit sample."""
    return next(
        f"R{i:08d}"
        for i in range(100_000)
        if audit_draw(f"R{i:08d}", params["audit_salt"]) >= params["audit_sample_rate"]
    )


def test_every_default_rule_has_a_firing_case_and_a_near_miss() -> None:
    rule_ids = {rule.id for rule in ENGINE.policy.rules}
    assert {rule_id for rule_id, *_ in FIRES} == rule_ids
    assert {rule_id for rule_id, _ in NEAR_MISSES} == rule_ids


@pytest.mark.parametrize(
    ("rule_id", "changes", "queue", "hold", "disposition"),
    FIRES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(FIRES)],
)
def test_rule_fires(
    rule_id: str,
    changes: Changes,
    queue: ReviewQueue,
    hold: bool,
    disposition: Disposition | None,
) -> None:
    decision = ENGINE.evaluate(_facts(**changes(PARAMS)))
    hits = {hit.id: hit for hit in decision.rules_fired}
    assert rule_id in hits
    assert hits[rule_id].queues == [queue]
    assert hits[rule_id].credit_hold is hold
    assert hits[rule_id].force_disposition == disposition
    assert queue in decision.queues
    assert decision.review_required
    assert not decision.auto_approved
    assert decision.credit_hold is hold  # each firing case trips only this kind of rule
    assert decision.forced_disposition == disposition
    assert hits[rule_id].reason and "{" not in hits[rule_id].reason


@pytest.mark.parametrize(
    ("rule_id", "changes"),
    NEAR_MISSES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(NEAR_MISSES)],
)
def test_rule_near_miss_does_not_fire(rule_id: str, changes: Changes) -> None:
    assert rule_id not in _fired(_facts(**changes(PARAMS)))


def test_reasons_render_facts_and_thresholds() -> None:
    credit = _facts(credit_value=1250.0)
    [hit] = ENGINE.evaluate(credit).rules_fired
    assert "credit 1,250.00" in hit.reason
    assert f"{PARAMS['finance_credit_threshold']:,.2f}" in hit.reason
    missing = ENGINE.evaluate(_facts(fraud_score=None, reason_confidence=None))
    assert "fraud, reason" in missing.rules_fired[0].reason


def test_outcomes_combine_sorted_with_quarantine_winning() -> None:
    decision = ENGINE.evaluate(
        _facts(credit_value=5000.0, regulated=True, serial_mismatch=True, not_delivered=True)
    )
    assert decision.queues == sorted(decision.queues)
    assert set(decision.queues) == {"eligibility", "finance", "fraud", "inspection"}
    assert decision.credit_hold
    assert decision.forced_disposition is Disposition.QUARANTINE
    # rules_fired keeps policy order
    order = [rule.id for rule in ENGINE.policy.rules]
    fired = [hit.id for hit in decision.rules_fired]
    assert fired == sorted(fired, key=order.index)


# ------------------------------------------------------------------------- audit sample

IDS = [f"R{i:08d}" for i in range(4000)]


def test_audit_rate_zero_never_samples() -> None:
    engine = _engine_with(audit_sample_rate=0.0)
    assert not any(engine.evaluate(_facts(case_id=i)).audit_sampled for i in IDS[:500])


def test_audit_rate_one_samples_every_auto_approved_case() -> None:
    engine = _engine_with(audit_sample_rate=1.0)
    for case_id in IDS[:200]:
        decision = engine.evaluate(_facts(case_id=case_id))
        assert decision.audit_sampled
        assert [hit.id for hit in decision.rules_fired] == ["audit_sample"]
        assert decision.queues == [ReviewQueue.INSPECTION]
        assert decision.review_required
        assert not decision.auto_approved


def test_audit_rate_is_met_over_many_cases() -> None:
    engine = _engine_with(audit_sample_rate=0.1)
    share = sum(engine.evaluate(_facts(case_id=i)).audit_sampled for i in IDS) / len(IDS)
    assert 0.08 < share < 0.12


def test_audit_draw_is_deterministic_per_case_and_salt() -> None:
    engine = _engine_with(audit_sample_rate=0.3)
    again = _engine_with(audit_sample_rate=0.3)
    first = [engine.evaluate(_facts(case_id=i)).audit_sampled for i in IDS[:300]]
    assert first == [engine.evaluate(_facts(case_id=i)).audit_sampled for i in IDS[:300]]
    assert first == [again.evaluate(_facts(case_id=i)).audit_sampled for i in IDS[:300]]
    other_salt = _engine_with(audit_sample_rate=0.3, audit_salt="another-salt")
    assert first != [other_salt.evaluate(_facts(case_id=i)).audit_sampled for i in IDS[:300]]


def test_audit_never_adds_to_reviewed_or_fallback_cases() -> None:
    engine = _engine_with(audit_sample_rate=1.0)
    reviewed = engine.evaluate(_facts(credit_value=5000.0))
    assert [hit.id for hit in reviewed.rules_fired] == ["finance_high_value"]
    assert not reviewed.audit_sampled
    fallback = engine.evaluate(_facts(models_unavailable=["reason"]))
    assert [hit.id for hit in fallback.rules_fired] == ["model_fallback"]
    assert not fallback.audit_sampled
    explained = {e.id: e for e in engine.explain(_facts(credit_value=5000.0))}
    assert not explained["audit_sample"].fired
    assert explained["audit_sample"].skipped


# ---------------------------------------------------------------------- model fallback

ALWAYS_AUDIT = _engine_with(audit_sample_rate=1.0)  # would sample every auto-approved case


@given(
    missing=st.lists(st.sampled_from(["reason", "damage", "disposition", "fraud"]), min_size=1),
    credit=st.floats(min_value=0, max_value=5000),
    fraud=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
)
def test_fallback_never_auto_approves(
    missing: list[str], credit: float, fraud: float | None
) -> None:
    decision = ALWAYS_AUDIT.evaluate(
        _facts(models_unavailable=missing, credit_value=credit, fraud_score=fraud)
    )
    assert decision.model_fallback
    assert decision.review_required
    assert not decision.auto_approved
    assert "model_fallback" in [hit.id for hit in decision.rules_fired]
    assert ReviewQueue.INSPECTION in decision.queues


def test_facts_cannot_claim_a_model_is_fine() -> None:
    """Derived facts are computed, never accepted from the caller."""
    with pytest.raises(ValueError, match="model_fallback"):
        PolicyFacts.model_validate({**CLEAN, "model_fallback": False})


# ------------------------------------------------------------------------------ explain


def test_explain_lists_every_rule_with_actual_values() -> None:
    facts = _facts(credit_value=1250.0)
    explained = ENGINE.explain(facts)
    assert [e.id for e in explained] == [rule.id for rule in ENGINE.policy.rules]
    fired = {hit.id for hit in ENGINE.evaluate(facts).rules_fired}
    assert {e.id for e in explained if e.fired} == fired
    finance = explained[0]
    assert finance.reason is not None
    trace = {t.fact: t for t in finance.conditions}
    assert trace["credit_value"].actual == 1250.0
    assert trace["credit_value"].expected == PARAMS["finance_credit_threshold"]
    assert trace["credit_value"].param == "finance_credit_threshold"
    assert trace["credit_value"].result
    assert not trace["item_value"].result  # every leaf is traced, not only the deciding one
    quiet = next(e for e in explained if e.id == "fraud_score_high")
    assert not quiet.fired
    assert quiet.reason is None
    assert [t.actual for t in quiet.conditions] == [CLEAN["fraud_score"], None]
    json.dumps([e.model_dump(mode="json") for e in explained])  # ready for an endpoint


# ------------------------------------------------------------------- versions and files


def test_default_version_is_the_content_hash() -> None:
    assert ENGINE.version == policy_version(DEFAULT_BYTES)
    assert ENGINE.version.startswith("sha256:")
    assert len(ENGINE.version) == len("sha256:") + 12


def test_version_changes_with_the_file_and_only_then(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_bytes(DEFAULT_BYTES)
    assert PolicyEngine.from_file(path).version == ENGINE.version
    assert PolicyEngine.from_file(path).version == PolicyEngine.from_file(path).version
    path.write_text(
        DEFAULT_TEXT.replace("fraud_score_threshold: 0.8", "fraud_score_threshold: 0.7")
    )
    changed = PolicyEngine.from_file(path)
    assert changed.version != ENGINE.version
    assert changed.params["fraud_score_threshold"] == 0.7
    path.write_text(DEFAULT_TEXT + "# a comment is a change too\n")
    assert PolicyEngine.from_file(path).version != ENGINE.version


def test_thresholds_come_from_the_file() -> None:
    strict = _engine_with(finance_credit_threshold=50.0)
    assert "finance_high_value" in _fired(_facts(credit_value=60.0), strict)
    assert "finance_high_value" not in _fired(_facts(credit_value=60.0))


def _replace(old: str, new: str) -> str:
    assert old in DEFAULT_TEXT, old
    return DEFAULT_TEXT.replace(old, new, 1)


INVALID: list[tuple[str, str, list[str]]] = [
    ("unknown fact", _replace("fact: credit_value,", "fact: credit_valu,"),
     ["finance_high_value", "when.any[1].fact", "unknown fact 'credit_valu'"]),
    ("unknown param", _replace("param: fraud_score_threshold", "param: fraud_threshold"),
     ["fraud_score_high", "unknown param 'fraud_threshold'"]),
    ("bad op", _replace('op: ">", param: max_linked', 'op: "=>", param: max_linked'),
     ["linked_flagged_accounts", "when.op"]),
    ("order op on a yes/no fact", _replace("{fact: serial_mismatch, op: is_true}",
                                           "{fact: serial_mismatch, op: '<', value: 1}"),
     ["serial_mismatch", "needs a number fact"]),
    ("is_true on a number", _replace("{fact: linked_flagged_accounts, op: \">\", "
                                     "param: max_linked_flagged_accounts}",
                                     "{fact: linked_flagged_accounts, op: is_true}"),
     ["linked_flagged_accounts", "needs a yes/no fact"]),
    ("missing operand", _replace("{fact: serial_mismatch, op: is_true}",
                                 "{fact: serial_mismatch, op: '=='}"),
     ["serial_mismatch", "exactly one of value or param"]),
    ("in without a list", _replace("{fact: category, op: in, param: regulated_categories}",
                                   "{fact: category, op: in, value: food_service}"),
     ["regulated_item", "needs a list"]),
    ("text param for <", _replace("fraud_score_threshold: 0.8", "fraud_score_threshold: high"),
     ["fraud_score_high", "needs a number param"]),
    ("unknown code", _replace("op: \"==\", value: SCRAP}", "op: \"==\", value: SCRAPP}"),
     ["finance_write_off", "takes one of", "'SCRAPP'"]),
    ("unknown code in a param list", _replace("no_fault_reason_codes: [NO_LONGER_NEEDED,",
                                              "no_fault_reason_codes: [NO_LONGER_NEDED,"),
     ["damage_disagreement", "no_fault_reason_codes", "'NO_LONGER_NEDED'"]),
    ("number compared with text", _replace("{fact: serial_mismatch, op: is_true}",
                                           "{fact: credit_value, op: '==', value: high}"),
     ["serial_mismatch", "is a number"]),
    ("unknown queue", _replace("queues: [finance]", "queues: [finanse]"),
     ["finance_high_value", "queues[0]"]),
    ("no queue", _replace("queues: [finance]", "queues: []"),
     ["finance_high_value", "queues"]),
    ("unknown disposition", _replace("force_disposition: QUARANTINE", "force_disposition: HOLD"),
     ["regulated_item", "force_disposition"]),
    ("not a condition", _replace("- {fact: hazmat, op: is_true}", "- 3"),
     ["regulated_item", "when.any[1]"]),
    ("misspelt key", _replace("- {fact: hazmat, op: is_true}", "- {facts: hazmat, op: is_true}"),
     ["regulated_item", "facts"]),
    ("unknown placeholder", _replace("{category}", "{categroy}"),
     ["regulated_item", "{categroy}"]),
    ("attribute access", _replace("{category}", "{category.__class__}"),
     ["regulated_item", "plain name"]),
    ("duplicate id", _replace("id: finance_write_off", "id: finance_high_value"),
     ["finance_high_value", "duplicate"]),
    ("audit without salt", _replace("audit_salt: default-2025", "audit_seed: 1"),
     ["audit_sample", "audit_salt"]),
    ("unknown top-level key", DEFAULT_TEXT + "thresholds: {}\n", ["thresholds"]),
    ("not a mapping", "- just a list\n", ["mapping"]),
    ("not yaml", "rules: [\n", ["not valid YAML"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_policy_is_refused_naming_the_rule(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        PolicyEngine.from_file(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


def test_every_fact_is_documented() -> None:
    for name, field in PolicyFacts.model_fields.items():
        assert field.description, name
    for name, computed in PolicyFacts.model_computed_fields.items():
        assert computed.description, name
    assert fact_kinds()["credit_value"] == "number"
    assert fact_kinds()["model_fallback"] == "bool"
    assert fact_kinds()["models_unavailable"] == "list"
    assert fact_kinds()["recommended_disposition"] == "text"


# -------------------------------------------------------------------- from real cases


def test_facts_from_sample_cases_drive_the_rules() -> None:
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    for record in records:
        case = ReturnCase.model_validate(record["case"])
        eligibility = check_eligibility(case)
        facts = PolicyFacts.from_case(
            case,
            eligibility,
            predicted_reason=record["truth"]["true_reason"],
            reason_confidence=0.9,
            recommended_disposition=record["truth"]["disposition"],
            disposition_confidence=0.9,
            fraud_score=0.1,
            damage_probability=0.5 if case.request.photos else None,
            damage_confidence=0.9 if case.request.photos else None,
        )
        assert facts.item_value == round(case.order_line.unit_price * case.request.quantity, 2)
        decision = ENGINE.evaluate(facts)
        fired = {hit.id for hit in decision.rules_fired}
        assert not decision.model_fallback
        assert ("serial_mismatch" in fired) is (record["truth"]["serial_match"] is False)
        if "serial_mismatch" in fired:
            assert decision.credit_hold
        if case.item.regulated or case.item.lot_controlled:
            assert decision.forced_disposition is Disposition.QUARANTINE
        if not eligibility.quantity_ok:
            assert ReviewQueue.ELIGIBILITY in decision.queues
        if eligibility.eligible_under_warranty:
            assert not fired & {"outside_return_window", "outside_warranty"}
        if facts.recommended_disposition is Disposition.SCRAP:
            assert facts.write_off_value == round(case.item.unit_cost * case.request.quantity, 2)
        assert decision.auto_approved is (not decision.rules_fired)


# ------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    credit=st.floats(min_value=0, max_value=10_000, allow_nan=False),
    raise_by=st.floats(min_value=0, max_value=10_000, allow_nan=False),
    fraud=st.floats(min_value=0, max_value=1),
    confidence=st.floats(min_value=0, max_value=1),
)
def test_raising_risk_never_removes_a_queue(
    credit: float, raise_by: float, fraud: float, confidence: float
) -> None:
    base = _facts(credit_value=credit, fraud_score=fraud, reason_confidence=confidence)
    riskier = _facts(
        credit_value=credit + raise_by,
        fraud_score=min(1.0, fraud + 0.1),
        reason_confidence=confidence / 2,
    )
    before, after = ENGINE.evaluate(base), ENGINE.evaluate(riskier)
    if ReviewQueue.FINANCE in before.queues:
        assert ReviewQueue.FINANCE in after.queues
    if ReviewQueue.FRAUD in before.queues:
        assert ReviewQueue.FRAUD in after.queues
        assert after.credit_hold
    if "low_model_confidence" in [hit.id for hit in before.rules_fired]:
        assert ReviewQueue.INSPECTION in after.queues
    assert after.queues == sorted(after.queues)
    assert ENGINE.evaluate(base) == before  # deterministic


def test_not_received_claims_need_no_disposition_model() -> None:
    facts = _facts(claim_type="NOT_RECEIVED", recommended_disposition=None,
                   disposition_confidence=None)  # fmt: skip
    assert facts.unavailable_models == []
    assert _facts(recommended_disposition=None).unavailable_models == ["disposition"]
