"""The quality gate: a challenger moves the champion alias only if it passes every rule.

Rules come from the family's YAML parameters:

    gate:
      floors:                      # absolute: metric >= min (or <= max)
        sim_later.macro_f1: {min: 0.80}
        sim_later.ece: {max: 0.05}
        real_dev.accuracy: {min: 0.80, required: false}   # skipped when not computed
      versus_champion:             # challenger may be worse than the champion by at most margin,
        sim_other_seed.macro_f1: 0.01                     # both measured on the same data
      lower_is_better: [ece]       # metric name suffixes where smaller is better
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Floor(BaseModel):
    """An absolute bound on one metric."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    required: bool = True

    @model_validator(mode="after")
    def _one_bound(self) -> Floor:
        if self.min is None and self.max is None:
            raise ValueError("a floor needs min or max")
        return self


class GateConfig(BaseModel):
    """Gate rules of one model family."""

    model_config = ConfigDict(extra="forbid")

    floors: dict[str, Floor] = Field(default_factory=dict)
    versus_champion: dict[str, float] = Field(default_factory=dict)
    lower_is_better: list[str] = Field(default_factory=lambda: ["ece", "loss", "error"])

    def smaller_is_better(self, metric: str) -> bool:
        """Whether a lower value of `metric` is the better one."""
        return any(metric.endswith(suffix) for suffix in self.lower_is_better)


@dataclass
class GateResult:
    """Outcome of the gate, with one line per rule checked."""

    passed: bool
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and registry tags."""
        if self.passed:
            return f"passed {len(self.checks)} checks"
        return "failed: " + "; ".join(self.failures)


def check_gate(
    challenger: dict[str, float], champion: dict[str, float] | None, config: GateConfig
) -> GateResult:
    """Check a challenger's metrics against the floors and against the champion's metrics.

    `champion` must have been measured on the same evaluation data as `challenger`; pass None
    when there is no champion yet (the first model only has to clear the floors).
    """
    result = GateResult(passed=True)
    for metric, floor in sorted(config.floors.items()):
        value = challenger.get(metric)
        if value is None:
            if floor.required:
                result.failures.append(f"{metric} was not measured")
            else:
                result.checks.append(f"{metric} skipped (not measured)")
            continue
        if floor.min is not None and value < floor.min:
            result.failures.append(f"{metric} {value:.4f} < floor {floor.min}")
        elif floor.max is not None and value > floor.max:
            result.failures.append(f"{metric} {value:.4f} > ceiling {floor.max}")
        else:
            result.checks.append(f"{metric} {value:.4f} within bounds")
    if champion is not None:
        for metric, margin in sorted(config.versus_champion.items()):
            mine, theirs = challenger.get(metric), champion.get(metric)
            if mine is None or theirs is None:
                result.failures.append(f"{metric} missing for the champion comparison")
                continue
            worse_by = (mine - theirs) if config.smaller_is_better(metric) else (theirs - mine)
            if worse_by > margin:
                result.failures.append(
                    f"{metric} {mine:.4f} worse than champion {theirs:.4f} by more than {margin}"
                )
            else:
                result.checks.append(f"{metric} {mine:.4f} vs champion {theirs:.4f}")
    result.passed = not result.failures
    return result
