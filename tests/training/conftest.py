"""Fixtures for training tests: isolated settings (artifacts, MLflow, registry history)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at a fresh artifacts folder, also seen by the CLI through the env."""
    monkeypatch.setenv("TRIAGE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("TRIAGE_USER", "test-runner")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def env_settings(trained: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (and environment) of the module's `trained` run, for the tests that read it."""
    for key, value in trained["env"].items():  # type: ignore[attr-defined]
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return get_settings()
