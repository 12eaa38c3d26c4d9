"""`triage train disposition` end to end: MLflow run with slices, gate, champion alias, and
`triage predict disposition` with postings."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from pipeline_runs import train_fast
from typer.testing import CliRunner

from models.postings import load_postings
from models.registry import Registry
from models.settings import Settings
from training.cli import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "cases.jsonl"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One fast-profile run shared by the tests below (it is the expensive part)."""
    return train_fast(tmp_path_factory.mktemp("disposition"), "disposition")


@pytest.mark.slow
def test_fast_run_is_tracked_sliced_and_promoted(
    trained: dict[str, object], env_settings: Settings
) -> None:
    assert "promoted to champion" in str(trained["output"])
    assert Registry(env_settings).champion("disposition") == "1"
    mlflow.set_tracking_uri(env_settings.tracking_uri())
    run = mlflow.search_runs(experiment_names=["disposition"], output_format="list")[0]
    metrics = run.data.metrics
    for name in ("rules", "rules_majority", "lightgbm"):
        for key in ("accuracy", "ece", "recovery_value", "recovery_lift_vs_rules"):
            assert f"{name}.holdout.{key}" in metrics
    # same cases, same run: the model recovers more than the tuned rule table
    assert metrics["lightgbm.holdout.recovery_lift_vs_rules"] > 0.0
    assert metrics["lightgbm.holdout.ece"] <= 0.08
    assert metrics["lightgbm.holdout.accuracy"] > metrics["rules_majority.holdout.accuracy"]
    sliced = [k for k in metrics if k.startswith("lightgbm.slice.")]
    assert any(".category." in k for k in sliced) and any(".warehouse." in k for k in sliced)
    assert any(".class.SCRAP." in k for k in sliced)
    client = mlflow.MlflowClient()
    reports = {a.path for a in client.list_artifacts(run.info.run_id, "reports/lightgbm")}
    assert "reports/lightgbm/slices.json" in reports
    assert run.data.tags["data_fingerprint"]


@pytest.mark.slow
def test_batch_recommendations_with_postings(
    trained: dict[str, object], env_settings: Settings, tmp_path: Path
) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:20]
    records = [json.loads(line) for line in lines]
    records[0]["damage"] = {"damage_type": "CRACK_BREAK", "damage_probability": 0.95}
    records[0]["inspection_condition"] = "DAMAGED"
    records[1]["customer_history"] = {"returns_count": 3, "orders_count": 9, "return_value": 80}
    source = tmp_path / "cases.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "recommendations.jsonl"
    result = runner.invoke(
        app, ["predict", "disposition", "--input", str(source), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    predictions = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in predictions] == [r["case"]["request"]["return_id"] for r in records]
    version = load_postings().version
    for pred in predictions:
        assert 0.0 <= pred["confidence"] <= 1.0
        assert sum(pred["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        assert pred["reasons"]
        assert pred["postings"]["version"] == version
        assert pred["postings"]["disposition"] == pred["disposition"]
    assert predictions[0]["disposition"] != "RESTOCK"  # cracked and graded damaged


def test_predict_disposition_refuses_bad_input(tmp_path: Path, settings: Settings) -> None:
    bad = tmp_path / "bad.jsonl"
    out = str(tmp_path / "o.jsonl")
    bad.write_text('{"id": "x"}\n')
    result = runner.invoke(app, ["predict", "disposition", "--input", str(bad), "--output", out])
    assert result.exit_code == 2
    assert "line 1" in result.output and "case" in result.output
    record = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    record["inspection_condition"] = "MINT"
    bad.write_text(json.dumps(record) + "\n")
    result = runner.invoke(app, ["predict", "disposition", "--input", str(bad), "--output", out])
    assert result.exit_code == 2
    assert "record 1" in result.output and "inspection_condition" in result.output


def test_the_service_recommends_with_the_champion(
    trained: dict[str, object], tmp_path: Path
) -> None:
    """The API loads `models:/disposition@champion` from this run's registry (the real loader):
    recommendations come from the model, with reasons and postings."""
    import json

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServingSettings

    settings = ServingSettings(
        artifacts_dir=Path(str(trained["root"])) / "artifacts",
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        reason_model_uri=None,
        damage_model_uri=None,
        fraud_model_uri=None,
    )
    lines = Path("data_samples/cases.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line)["case"] for line in lines[:40]]
    keys = {"X-API-Key": "dev-workflow-key"}
    sources = []
    with TestClient(create_app(settings)) as client:
        for case in cases:
            body = client.post("/v1/triage", json=case, headers=keys).json()
            if case["request"]["claim_type"] != "RETURN":
                continue
            assert body["models"]["disposition"]["available"], body["models"]["disposition"]
            recommendation = body["recommended_disposition"]
            sources.append(recommendation["source"])
            assert recommendation["postings"]["disposition"] == recommendation["code"]
            if recommendation["source"] == "model":
                assert recommendation["reasons"]
                assert recommendation["expected_recovery_value"] is not None
    assert sources.count("model") >= len(sources) // 2  # policy rules force the others
