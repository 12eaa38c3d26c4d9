"""`triage simulate` from the command line: output files, a summary, clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.schema import ReturnCase
from training.cli import app

runner = CliRunner()


def test_simulate_writes_a_world(tmp_path: Path) -> None:
    out = tmp_path / "world"
    args = ["simulate", "--returns", "400", "--photos", "6", "--seed", "4", "--out", str(out)]
    result = runner.invoke(app, [*args, "--cases-jsonl", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "returns" in result.output and "400" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["summary"]["returns"] == 400
    assert set(manifest["files"]) == {
        f"{t}.parquet"
        for t in ("customers", "items", "warehouses", "inspectors", "orders", "returns", "photos")
    }
    assert len(list((out / "photos").glob("*.jpg"))) == 6
    assert len(pd.read_parquet(out / "returns.parquet")) == 400
    lines = (out / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 400
    ReturnCase.model_validate(json.loads(lines[0])["case"])


def test_bad_options_are_refused_naming_the_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--returns", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--returns" in result.output
    result = runner.invoke(app, ["simulate", "--photos", "-1", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--photos" in result.output


def test_bad_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "world.yml"
    config.write_text("start_date: 2025-01-01\n")
    result = runner.invoke(app, ["simulate", "--config", str(config), "--out", str(tmp_path / "w")])
    assert result.exit_code != 0
    assert "segments" in str(result.exception) or "segments" in result.output


def test_run_simulates_into_the_artifacts_folder_and_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`triage run` = simulate + train every family + serve; here training is skipped and the
    server start is captured, so the wiring is checked in seconds."""
    import uvicorn

    from models.settings import get_settings

    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append({"app": app, **kw}))
    monkeypatch.delenv("TRIAGE_ARTIFACTS_DIR", raising=False)
    artifacts = tmp_path / "artifacts"
    args = ["run", "--artifacts", str(artifacts), "--returns", "300", "--photos", "0"]
    result = runner.invoke(app, [*args, "--no-train", "--port", "8123"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert (artifacts / "world" / "returns.parquet").exists()
    # every later step (training, the API) sees the same artifacts folder
    assert started == [
        {
            "app": "serving.app:create_app",
            "factory": True,
            "host": "127.0.0.1",
            "port": 8123,
            "workers": 1,
            "reload": False,
        }
    ]


def test_serve_with_workers_sums_their_metrics_in_a_fresh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several workers get one Prometheus multiprocess folder, emptied of a previous run's
    counts; one worker needs none."""
    import uvicorn

    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append({"app": app, **kw}))
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    result = runner.invoke(app, ["serve", "--workers", "2", "--port", "8124"])
    assert result.exit_code == 0, result.output
    assert started[0]["workers"] == 2
    assert list(metrics_dir.iterdir()) == []

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert runner.invoke(app, ["serve", "--workers", "2"]).exit_code == 0
    fresh = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])  # the command set it for its workers
    assert fresh.is_dir() and fresh != metrics_dir
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
