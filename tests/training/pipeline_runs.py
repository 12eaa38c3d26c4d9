"""Running a family's fast pipeline once for a test module (the pipeline tests share this)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import get_settings


def train_fast(root: Path, family: str, params: Path | None = None) -> dict[str, object]:
    """Run `triage train <family> --profile fast` into `root/artifacts` (as user `ci`) and
    return what the pipeline tests share: root, environment, CLI output (and the params)."""
    from typer.testing import CliRunner

    from training.cli import app

    env = {"TRIAGE_ARTIFACTS_DIR": str(root / "artifacts"), "TRIAGE_USER": "ci"}
    args = ["train", family, "--profile", "fast"]
    if params is not None:
        args += ["--params", str(params)]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        result = CliRunner(env={"COLUMNS": "400"}).invoke(app, args)
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return {"root": root, "env": env, "output": result.output, "params": params}
