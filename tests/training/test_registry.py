"""Promote and roll back move the champion alias and are recorded (who, when, why)."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel
from typer.testing import CliRunner

from models.registry import Registry, RegistryError
from models.settings import Settings
from training.cli import app
from training.pipelines.runner import use_experiment


class _Echo(PythonModel):
    def predict(
        self, context: object, model_input: pd.DataFrame, params: object = None
    ) -> pd.DataFrame:
        return model_input


def _register(settings: Settings, name: str, count: int) -> None:
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    use_experiment("registry-test", settings)
    for _ in range(count):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="model",
                python_model=_Echo(),
                registered_model_name=name,
                pip_requirements=["pandas"],
            )


def test_promote_and_rollback_are_recorded(settings: Settings) -> None:
    _register(settings, "toy", 3)
    registry = Registry(settings)
    assert registry.champion("toy") is None
    registry.promote("toy", "1", reason="first release", actor="ana")
    registry.promote("toy", "3", reason="better on holdout", actor="ben")
    assert registry.champion("toy") == "3"

    event = registry.rollback("toy", reason="regression reported", actor="cy")
    assert (event.action, event.version, event.previous_version) == ("rollback", "1", "3")
    assert registry.champion("toy") == "1"
    history = registry.history("toy")
    assert [(e.action, e.version, e.actor, e.reason) for e in history] == [
        ("promote", "1", "ana", "first release"),
        ("promote", "3", "ben", "better on holdout"),
        ("rollback", "1", "cy", "regression reported"),
    ]
    assert all(e.at is not None for e in history)
    tags = {v.version: v.tags for v in registry.versions("toy")}
    assert tags["1"]["champion_reason"] == "regression reported"


def test_registry_refuses_what_it_cannot_do(settings: Settings) -> None:
    _register(settings, "toy", 1)
    registry = Registry(settings)
    with pytest.raises(RegistryError, match="no version 9"):
        registry.promote("toy", "9", reason="typo")
    with pytest.raises(RegistryError, match="reason"):
        registry.promote("toy", "1", reason="  ")
    with pytest.raises(RegistryError, match="no champion"):
        registry.rollback("toy", reason="nothing yet")
    registry.promote("toy", "1", reason="only one")
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback("toy", reason="nothing earlier")


def test_models_commands(settings: Settings) -> None:
    _register(settings, "toy", 2)
    runner = CliRunner()
    result = runner.invoke(app, ["models", "promote", "toy", "2", "--reason", "manual check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["models", "promote", "toy", "7", "--reason", "x"])
    assert result.exit_code == 2 and "no version 7" in result.output
    result = runner.invoke(app, ["models", "promote", "toy", "1", "--reason", "older is safer"])
    assert result.exit_code == 0
    result = runner.invoke(app, ["models", "rollback", "toy", "--reason", "undo"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["models", "list", "toy"])
    assert result.exit_code == 0
    assert "manual check" in result.output and "rollback" in result.output
    assert Registry(settings).champion("toy") == "2"
