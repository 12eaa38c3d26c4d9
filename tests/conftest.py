"""Shared fixtures: small seeded worlds, and the real datasets when they are present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from training.simulation.config import WorldConfig, load_world_config
from training.simulation.world import World, build_world

ROOT = Path(__file__).resolve().parents[1]


def datasets_path() -> Path:
    """Where the real datasets live: $TRIAGE_DATASETS_DIR, else ../shared/datasets."""
    return Path(os.environ.get("TRIAGE_DATASETS_DIR", ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The real datasets folder; tests skip without it locally but fail loudly in CI."""
    path = datasets_path()
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real datasets expected in CI at {path}")
        pytest.skip(f"real datasets not found at {path}")
    return path


@pytest.fixture(scope="session")
def world_config() -> WorldConfig:
    return load_world_config()


@pytest.fixture(scope="session")
def world_20k(world_config: WorldConfig) -> World:
    """A 20k-return world (seed 11), shared by the world tests."""
    return build_world(20_000, 0, 11, world_config)


@pytest.fixture(scope="session")
def world_other_seed(world_config: WorldConfig) -> World:
    """A second, smaller world from another seed, for cross-seed checks."""
    return build_world(8_000, 0, 12, world_config)
