"""The quality gate: floors, ceilings, optional metrics, and the champion comparison."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from training.gate import GateConfig, check_gate

CONFIG = GateConfig.model_validate(
    {
        "floors": {
            "sim.macro_f1": {"min": 0.8},
            "sim.ece": {"max": 0.05},
            "real.accuracy": {"min": 0.8, "required": False},
        },
        "versus_champion": {"sim.macro_f1": 0.01, "sim.ece": 0.01},
    }
)


def test_first_model_only_needs_the_floors() -> None:
    result = check_gate({"sim.macro_f1": 0.85, "sim.ece": 0.02}, None, CONFIG)
    assert result.passed, result.failures
    assert any("real.accuracy skipped" in c for c in result.checks)


@pytest.mark.parametrize(
    ("metrics", "failure"),
    [
        ({"sim.macro_f1": 0.79, "sim.ece": 0.02}, "sim.macro_f1"),
        ({"sim.macro_f1": 0.90, "sim.ece": 0.06}, "sim.ece"),
        ({"sim.ece": 0.01}, "sim.macro_f1 was not measured"),
        ({"sim.macro_f1": 0.9, "sim.ece": 0.01, "real.accuracy": 0.5}, "real.accuracy"),
    ],
)
def test_floors_refuse(metrics: dict[str, float], failure: str) -> None:
    result = check_gate(metrics, None, CONFIG)
    assert not result.passed
    assert any(failure in f for f in result.failures), result.failures


def test_challenger_must_not_be_worse_than_champion_by_more_than_margin() -> None:
    champion = {"sim.macro_f1": 0.90, "sim.ece": 0.02}
    assert check_gate({"sim.macro_f1": 0.895, "sim.ece": 0.025}, champion, CONFIG).passed
    worse = check_gate({"sim.macro_f1": 0.85, "sim.ece": 0.02}, champion, CONFIG)
    assert not worse.passed and "worse than champion" in worse.failures[0]
    # lower is better for ECE: a rise beyond the margin fails
    worse_ece = check_gate({"sim.macro_f1": 0.91, "sim.ece": 0.04}, champion, CONFIG)
    assert not worse_ece.passed and "sim.ece" in worse_ece.failures[0]


def test_floor_needs_a_bound() -> None:
    with pytest.raises(ValidationError):
        GateConfig.model_validate({"floors": {"x": {"required": True}}})
