"""`triage train fraud` end to end, `triage predict fraud`, `triage fraud score-history`."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from pipeline_runs import train_fast
from typer.testing import CliRunner

from models.registry import Registry
from models.settings import Settings
from training.cli import app
from training.pipelines.fraud import eval_frame, evaluate, split_world
from training.real_history import PATTERNS, injection_benchmark, read_transactions, score_history
from training.simulation.world import World

runner = CliRunner(env={"COLUMNS": "400"})  # wide: error boxes do not wrap


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One small run (fast profile on smaller worlds) shared by the tests below."""
    root = tmp_path_factory.mktemp("fraud")
    params = yaml.safe_load(Path("training/conf/fraud.yml").read_text(encoding="utf-8"))
    params["profiles"]["fast"]["data"] = {"returns": 15000, "other_returns": 10000}
    params_file = root / "fraud.yml"
    params_file.write_text(yaml.safe_dump(params), encoding="utf-8")
    return train_fast(root, "fraud", params_file)


@pytest.mark.slow
def test_run_is_tracked_gated_and_promoted(
    trained: dict[str, object], env_settings: Settings
) -> None:
    assert "promoted to champion" in str(trained["output"])
    assert Registry(env_settings).champion("fraud") == "1"
    mlflow.set_tracking_uri(env_settings.tracking_uri())
    run = mlflow.search_runs(experiment_names=["fraud"], output_format="list")[0]
    metrics = run.data.metrics
    for variant in ("unsupervised", "supervised", "combined"):
        for key in ("sim_later.roc_auc", "sim_other_seed.precision_at_100",
                    "sim_other_seed.recall_at_1pct_fpr.RETURN_RING"):  # fmt: skip
            assert f"{variant}.{key}" in metrics
    assert metrics["combined.sim_other_seed.roc_auc"] > 0.9
    assert metrics["combined.sim_other_seed.alerts_with_factor"] == 1.0


@pytest.mark.slow
def test_predict_fraud_scores_cases_and_customers(
    trained: dict[str, object], env_settings: Settings, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.jsonl"
    lines = Path("data_samples/cases.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(app, ["predict", "fraud", "--input", str(cases), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5
    for row in rows:
        assert 0 <= row["risk_score"] <= 1 and row["risk_level"] in ("low", "medium", "high")
        assert row["factors"] and isinstance(row["linked_accounts"], list)
    everyone = tmp_path / "customers.jsonl"
    result = runner.invoke(app, ["predict", "fraud", "--all-customers", "--output", str(everyone)])
    assert result.exit_code == 0, result.output
    assert len(everyone.read_text(encoding="utf-8").splitlines()) > 1000
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"case": {"request": {}}}\n', encoding="utf-8")
    result = runner.invoke(app, ["predict", "fraud", "--input", str(bad), "--output", str(out)])
    assert result.exit_code != 0 and "line 1" in result.output


def test_score_history_with_a_column_map(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    rows = ["cust,when,total,qty,kind"]
    for c in range(40):
        for k in range(6):
            rows.append(f"K{c},2024-01-{k + 1:02d},{10 + c},{1},sale")
    for k in range(8):  # one customer returns nearly everything
        rows.append(f"K0,2024-01-{k + 10:02d},10,1,return")
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    args = ["fraud", "score-history", "--invoices", str(export), "--output", str(out)]
    mapping = ["customer_id=cust", "date=when", "amount=total", "quantity=qty"]
    result = runner.invoke(app, args + [f"--column-map={m}" for m in mapping])
    assert result.exit_code != 0 and "no returns found" in result.output
    mapping.append("is_return=kind")
    rows_text = (
        export.read_text(encoding="utf-8").replace(",return", ",true").replace(",sale", ",false")
    )
    export.write_text(rows_text, encoding="utf-8")
    result = runner.invoke(app, args + [f"--column-map={m}" for m in mapping])
    assert result.exit_code == 0, result.output
    scores = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(scores) == 40 and set(scores[0]) == {"customer_id", "risk_score", "risk_level",
                                                    "factors"}  # fmt: skip
    assert scores[0]["customer_id"] == "K0" and scores[0]["factors"]
    result = runner.invoke(app, [*args, "--column-map", "customer_id=nope"])
    assert result.exit_code != 0 and "customer_id" in result.output


def test_history_scoring_flags_a_return_spree_not_a_big_account() -> None:
    """Size is not abuse: wholesalers returning at an ordinary rate have the most return
    invoices and value; a small customer with a burst of returns is the outlier."""
    rng = np.random.default_rng(0)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for c in range(300):
        wholesaler = c < 10
        for _ in range(int(rng.integers(150, 200)) if wholesaler else int(rng.integers(5, 15))):
            day = start + pd.Timedelta(days=int(rng.integers(0, 360)))
            amount = float(rng.uniform(500, 900) if wholesaler else rng.uniform(20, 60))
            rows.append((f"C{c}", day, amount, 1.0, False))
            if rng.random() < 0.15:  # the ordinary return rate, big accounts included
                rows.append((f"C{c}", day + pd.Timedelta(days=5), amount, 1.0, True))
    for k in range(9):  # C10: nine returns within a week
        rows.append(("C10", start + pd.Timedelta(days=200, hours=16 * k), 40.0, 1.0, True))
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount", "quantity", "is_return"])
    scores, features = score_history(tx)
    big = [f"C{c}" for c in range(10)]
    assert set(features["return_value"].nlargest(10).index) == set(big)
    by_id = {s.customer_id: s for s in scores}
    assert scores[0].customer_id == "C10" and by_id["C10"].risk_level == "high"
    assert {"burst_share", "max_returns_30d"} & set(by_id["C10"].factor_features)
    assert any("30-day window" in f or "within 30 days" in f for f in by_id["C10"].factors)
    assert all(by_id[c].risk_level != "high" for c in big)


@pytest.mark.real_data
def test_real_invoices_with_injected_abuse(datasets_dir: Path, tmp_path: Path) -> None:
    path = datasets_dir / "retail-transactions" / "online_retail_invoices.csv"
    out = tmp_path / "real.jsonl"
    result = runner.invoke(
        app, ["fraud", "score-history", "--invoices", str(path), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5942
    figures = injection_benchmark(read_transactions(path), seed=0)
    assert figures["unsupervised.recall_at_1pct_fpr"] >= 0.80
    naive = figures["naive_return_value.recall_at_1pct_fpr"]
    assert figures["unsupervised.recall_at_1pct_fpr"] > 3 * naive
    assert figures["alerts_with_factor"] == 1.0
    for pattern in PATTERNS:  # each caught abuser's factors name what was planted
        assert figures[f"factor_matches_pattern.{pattern}"] >= 0.9, pattern


def test_the_service_serves_the_champion_with_its_customer_state(
    trained: dict[str, object], tmp_path: Path
) -> None:
    """The API loads `models:/fraud@champion` from this run's registry (the real loader) and
    scores a return and the flagged customers against the logged customer state."""
    import json

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServingSettings

    settings = ServingSettings(
        artifacts_dir=Path(str(trained["root"])) / "artifacts",
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        reason_model_uri=None,
        damage_model_uri=None,
        disposition_model_uri=None,
    )
    case = json.loads(Path("data_samples/cases.jsonl").read_text(encoding="utf-8").splitlines()[0])
    keys = {"X-API-Key": "dev-workflow-key"}
    with TestClient(create_app(settings)) as client:
        models = client.get("/v1/versions", headers=keys).json()["models"]
        assert models["fraud"]["available"], models["fraud"]
        assert models["fraud"]["version"] == "1" and models["fraud"]["library_mismatches"] == {}
        body = client.post("/v1/triage", json=case["case"], headers=keys).json()
        assert body["models"]["fraud"]["available"] and body["model_versions"]["fraud"] == "1"
        assert 0.0 <= body["fraud"]["risk_score"] <= 1.0
        flagged = client.get(
            "/v1/customers/flagged",
            params={"min_level": "high", "limit": 5},
            headers={"X-API-Key": "dev-fraud-analyst-key"},
        ).json()
    assert flagged["count"] > 0 and len(flagged["data"]) == 5
    assert all(c["factors"] for c in flagged["data"])  # every alert says why


def test_dormant_abusers_are_marked_and_left_out_of_recall(world_other_seed: World) -> None:
    """An abuser with no abusive return yet is `dormant`: not an abuser to find, not honest."""
    split = split_world(world_other_seed, holdout_days=120, gap_days=0)
    frame = eval_frame(world_other_seed, split["state"], split["heldout_ids"])
    abusive = world_other_seed.returns[world_other_seed.returns["abuse_scenario"] != "NONE"]
    acted = set(abusive["customer_id"].astype(str))
    expected = (frame["scenario"] != "NONE") & ~frame.index.isin(list(acted))
    assert frame["dormant"].tolist() == expected.tolist()
    assert (frame.loc[frame["scenario"] == "NONE", "abusive_returns"] == 0).all()
    assert (
        frame.loc[~frame["dormant"] & (frame["scenario"] != "NONE"), "abusive_returns"] > 0
    ).all()

    class Constant:  # scores every customer alike: nobody is above the threshold
        def detector_scores(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
            return {"combined": np.full(len(features), 0.5)}

    metrics = evaluate(Constant(), {"sim_other_seed": frame}).metrics  # type: ignore[arg-type]
    assert metrics["sim_other_seed.dormant_abusers"] == float(frame["dormant"].sum())
    assert metrics["sim_other_seed.abusers"] == float(
        ((frame["scenario"] != "NONE") & ~frame["dormant"]).sum()
    )
