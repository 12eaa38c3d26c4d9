"""Audit store fixtures: a migrated store on a SQLite file and on PostgreSQL.

PostgreSQL tests run in a database created for the test session (dropped afterwards) and a fresh
schema per test; the server comes from $TRIAGE_TEST_POSTGRES_URL (default: local, user postgres).
They skip when no server answers locally, and fail when $CI is set.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.audit import AuditStore
from serving.config import ServingSettings

DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[sa.URL]:
    """URL of a database made for this test session (dropped at the end)."""
    admin_url = sa.make_url(os.environ.get("TRIAGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _postgres_schema_url(database: sa.URL) -> sa.URL:
    """A fresh schema in the session database, selected through search_path."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return database.update_query_dict({"options": f"-csearch_path={schema}"})


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> sa.URL:
    """URL of an empty database (not migrated) for each backend."""
    if request.param == "sqlite":
        return sa.make_url(f"sqlite:///{tmp_path / 'audit.db'}")
    return _postgres_schema_url(request.getfixturevalue("postgres_database"))


@pytest.fixture
def make_store(store_url: sa.URL) -> Iterator[Callable[[], AuditStore]]:
    """Factory of migrated stores on one database (several stores = several processes)."""
    stores: list[AuditStore] = []

    def make() -> AuditStore:
        store = AuditStore(store_url)
        store.upgrade()
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], AuditStore]) -> AuditStore:
    """A migrated, empty audit store (SQLite file or PostgreSQL schema)."""
    return make_store()


# ------------------------------------------------------------------------------ API fixtures

TEST_PRINCIPALS = {
    "workflow": "[workflow]",
    "inspector": "[inspector]",
    "approver": "[approver]",
    "fraud_analyst": "[fraud_analyst]",
    "data_scientist": "[data_scientist]",
    "admin": "[admin]",
    "supervisor": "[inspector, approver]",  # may do both, never on the same case
}
"""Principal `test-<name>` with API key `test-<name>-key` -> its roles."""


@pytest.fixture
def api_keys_file(tmp_path: Path) -> Path:
    """An API keys file of `TEST_PRINCIPALS`: one per role plus a supervisor."""
    lines = ["principals:"]
    for name, roles in TEST_PRINCIPALS.items():
        lines += [f"  - name: test-{name}", f"    key: test-{name}-key", f"    roles: {roles}"]
    path = tmp_path / "api_keys.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def serving_settings(tmp_path: Path, api_keys_file: Path) -> ServingSettings:
    """Serving settings on a temporary SQLite audit store, the default policy, no MLflow, and
    no garbage-collector freeze (hundreds of app starts; `test_lifespan_freezes_the_heap`
    checks the default)."""
    return ServingSettings(
        artifacts_dir=tmp_path / "artifacts",
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        api_keys_file=api_keys_file,
        policy_file=None,
        reason_model_uri=None,
        gc_freeze=False,
    )


@pytest.fixture
def client(serving_settings: ServingSettings) -> Iterator[TestClient]:
    """A started app (lifespan run) with the test settings; no models (rules-only fallback)."""
    with TestClient(create_app(serving_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def sample_cases() -> list[dict[str, Any]]:
    """The committed sample return cases (JSON, as a workflow system would send them)."""
    path = Path(__file__).resolve().parents[2] / "data_samples" / "cases.jsonl"
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["case"] for line in handle if line.strip()]


@pytest.fixture
def models_settings(serving_settings: ServingSettings, tmp_path: Path) -> ServingSettings:
    """Serving settings with all four families configured (pinned versions, stub loader)."""
    from model_stubs import STUB_URIS

    return serving_settings.model_copy(
        update={**STUB_URIS, "mlflow_tracking_uri": tmp_path.as_uri()}
    )


@pytest.fixture
def models_client(models_settings: ServingSettings) -> Iterator[TestClient]:
    """A started app whose four models are the deterministic stubs of `model_stubs.py`."""
    from model_stubs import stub_loader

    with TestClient(create_app(models_settings, model_loader=stub_loader)) as test_client:
        yield test_client
