"""The review-queue index: incremental, equal to a rebuild from the audit trail."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.audit import AuditStore
from serving.config import ServingSettings
from serving.policy import ReviewQueue
from serving.queue_index import catch_up, open_cases, projections, queue_entries


def headers(role: str = "workflow") -> dict[str, str]:
    return {"X-API-Key": f"test-{role}-key"}


def store_of(client: TestClient) -> AuditStore:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    assert isinstance(store, AuditStore)
    return store


def snapshot(store: AuditStore) -> dict[str, list[str]]:
    return {
        queue.value: [item.case_id for item in open_cases(store, queue)[0]] for queue in ReviewQueue
    }


@pytest.fixture
def client(serving_settings: ServingSettings, store_url: sa.URL) -> Iterator[TestClient]:
    """The API on each audit backend (SQLite file, PostgreSQL)."""
    url = store_url.render_as_string(hide_password=False)
    with TestClient(create_app(serving_settings.model_copy(update={"audit_url": url}))) as c:
        yield c


def test_index_is_incremental_and_equals_a_rebuild(
    client: TestClient, sample_cases: list[dict[str, Any]]
) -> None:
    store = store_of(client)
    for case in sample_cases[:12]:
        assert client.post("/v1/triage", json=case, headers=headers()).status_code == 200
    before = snapshot(store)
    assert sum(len(ids) for ids in before.values()) >= 12
    assert catch_up(store) == 0  # reading caught up; nothing new to apply

    # one decision, then one re-triage that changes a case's queues: only new records applied
    first = before["inspection"][0]
    recommended = client.get(f"/v1/triage/{first}", headers=headers()).json()[
        "recommended_disposition"
    ]["code"]
    decision = {"kind": "inspection", "disposition": recommended, "condition_grade": "USED"}
    assert (
        client.post(
            f"/v1/cases/{first}/decisions", json=decision, headers=headers("inspector")
        ).status_code
        == 201
    )
    assert catch_up(store) == 1
    assert first not in snapshot(store)["inspection"]
    again = copy.deepcopy(sample_cases[1])
    again["request"]["event_id"] += "-retriage"
    assert client.post("/v1/triage", json=again, headers=headers()).status_code == 200
    after = snapshot(store)

    # drop the projection: the next read rebuilds it from the audit records, identically
    with store.engine.begin() as connection:
        connection.execute(sa.delete(queue_entries))
        connection.execute(sa.delete(projections))
    assert snapshot(store) == after
