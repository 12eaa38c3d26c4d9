"""Several worker processes of one service: their Prometheus metrics are summed.

(The customer state they share through the audit store is tested in test_models_api.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# one "worker": start the app, answer /health `n` times, print what /metrics says
WORKER = """
import sys
from fastapi.testclient import TestClient
from serving.app import create_app

with TestClient(create_app()) as client:
    for _ in range(int(sys.argv[1])):
        assert client.get("/health").status_code == 200
    print(client.get("/metrics").text)
"""


def _worker(n: int, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(n)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_metrics_of_several_workers_are_summed(tmp_path: Path, api_keys_file: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "TRIAGE_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "TRIAGE_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "TRIAGE_API_KEYS_FILE": str(api_keys_file),
        "TRIAGE_GC_FREEZE": "false",
        **{f"TRIAGE_{name}_MODEL_URI": "" for name in ("REASON", "DAMAGE", "DISPOSITION", "FRAUD")},
    }
    health = 'triage_http_requests_total{method="GET",route="/health",status="200"}'
    first = _worker(2, env)
    assert f"{health} 2.0" in first
    second = _worker(3, env)  # another process, same folder: the scrape sums both
    assert f"{health} 5.0" in second
    assert 'triage_model_available{model="reason"} 0.0' in second
    assert len(list(metrics_dir.glob("*.db"))) >= 2
