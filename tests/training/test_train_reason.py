"""`triage train reason` end to end: MLflow run, gate, champion alias, batch predictions."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import yaml
from pipeline_runs import train_fast
from typer.testing import CliRunner

from models.registry import Registry
from models.settings import Settings
from training.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One fast-profile run shared by the tests below (it is the expensive part)."""
    return train_fast(tmp_path_factory.mktemp("reason"), "reason")


@pytest.mark.slow
def test_fast_run_is_tracked_and_promoted(
    trained: dict[str, object], env_settings: Settings
) -> None:
    assert "promoted to champion" in str(trained["output"])
    registry = Registry(env_settings)
    assert registry.champion("reason") == "1"
    mlflow.set_tracking_uri(env_settings.tracking_uri())
    run = mlflow.search_runs(experiment_names=["reason"], output_format="list")[0]
    metrics = run.data.metrics
    for name in ("baseline", "transformer", "cascade"):
        for key in ("sim_later.macro_f1", "sim_other_seed.macro_f1", "sim_later.ece"):
            assert f"{name}.{key}" in metrics
    # the registered candidate is the cascade; TF-IDF answers part of the notes, not all
    assert 0.2 < metrics["cascade.sim_other_seed.first_share"] < 1.0
    assert metrics["cascade.sim_other_seed.macro_f1"] >= 0.60
    # the fast profile is a smoke run: its own gate floors hold, not the production ones
    assert metrics["transformer.sim_other_seed.ece"] <= 0.10
    assert metrics["transformer.sim_other_seed.macro_f1"] >= 0.60
    assert run.data.tags["data_fingerprint"]
    assert run.data.tags["torch"] == "2.13.0" or run.data.tags["torch"].startswith("2.13.0")
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "figures")}
    assert "figures/transformer" in artifacts


@pytest.mark.slow
def test_worse_challenger_is_refused(
    trained: dict[str, object], env_settings: Settings, tmp_path: Path
) -> None:
    from importlib import resources

    params = yaml.safe_load(resources.files("training").joinpath("conf/reason.yml").read_text())
    # deliberately worse: a frozen encoder whose head sees only a handful of notes, and a
    # cascade that sends it every note
    params["profiles"]["fast"]["transformer"] = {"fine_tune": False, "max_train_texts": 40}
    params["cascade"] = {"confident": 1.0}
    path = tmp_path / "worse.yml"
    path.write_text(yaml.safe_dump(params))
    result = runner.invoke(app, ["train", "reason", "--profile", "fast", "--params", str(path)])
    assert result.exit_code == 0, result.output
    assert "not promoted" in result.output
    registry = Registry(env_settings)
    assert registry.champion("reason") == "1"
    newest = registry.versions("reason")[0]
    assert newest.tags["gate"].startswith("failed")

    # a person may still promote it by hand, with a reason, and roll back
    promoted = runner.invoke(
        app, ["models", "promote", "reason", newest.version, "--reason", "trial"]
    )
    assert promoted.exit_code == 0, promoted.output
    assert registry.champion("reason") == newest.version
    rolled = runner.invoke(app, ["models", "rollback", "reason", "--reason", "trial over"])
    assert rolled.exit_code == 0, rolled.output
    assert registry.champion("reason") == "1"
    actions = [(e.action, e.version) for e in registry.history("reason")]
    assert actions == [("promote", "1"), ("promote", newest.version), ("rollback", "1")]


@pytest.mark.slow
def test_batch_predictions(
    trained: dict[str, object], env_settings: Settings, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.jsonl"
    rows = [
        {"id": "a", "text": "Box arrived crushed and the lamp inside was shattered."},
        {"id": "b", "text": "Runs two sizes small, could not even zip it up."},
        {"id": "c", "text": "", "customer_reason_code": "DEFECTIVE"},
    ]
    notes.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "preds.jsonl"
    result = runner.invoke(app, ["predict", "reason", "--input", str(notes), "--output", str(out)])
    assert result.exit_code == 0, result.output
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in preds] == ["a", "b", "c"]
    assert preds[0]["code"] == "DAMAGED_IN_TRANSIT"
    assert preds[1]["code"] == "SIZE_FIT"
    for pred in preds:
        assert 0.0 < pred["confidence"] <= 1.0
        assert len(pred["top"]) == 3 and pred["top"][0][0] == pred["code"]
    assert preds[2]["confidence"] < 0.5  # an empty note is no evidence


def test_predict_refuses_bad_input(tmp_path: Path, settings: Settings) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    result = runner.invoke(
        app, ["predict", "reason", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2
    assert "line 1" in result.output and "text" in result.output
    bad.write_text("not json\n")
    result = runner.invoke(
        app, ["predict", "reason", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2 and "not JSON" in result.output
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "x", "text": "broken"}\n')
    result = runner.invoke(
        app, ["predict", "reason", "--input", str(good), "--output", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2 and "cannot load" in result.output
