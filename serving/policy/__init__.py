"""Review policy: versioned rules as data decide who reviews a case and what is held.

`PolicyEngine.from_file()` loads the packaged default policy (`default_policy.yml`);
`PolicyFacts.from_case(case, eligibility, **model_outputs)` builds what the rules look at.
"""

from serving.policy.engine import (
    ConditionTrace,
    PolicyDecision,
    PolicyEngine,
    PolicyError,
    PolicyFacts,
    ReviewQueue,
    RuleExplanation,
    RuleHit,
    audit_draw,
    fact_kinds,
    policy_version,
)

__all__ = [
    "ConditionTrace",
    "PolicyDecision",
    "PolicyEngine",
    "PolicyError",
    "PolicyFacts",
    "ReviewQueue",
    "RuleExplanation",
    "RuleHit",
    "audit_draw",
    "fact_kinds",
    "policy_version",
]
