"""The HTTP API: triage, idempotency, roles, decisions, queues, audit, operations, fuzzing.

Every test runs the app through its lifespan on a temporary SQLite audit store with the packaged
default policy and no MLflow model, so every triage takes the rules-only fallback path.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from model_stubs import STUB_URIS, stub_loader

from serving.app import create_app
from serving.audit import AuditEntry, AuditStore, Outcome, RecordKind, verify_export
from serving.config import ServingSettings

ROLES = [
    "workflow",
    "inspector",
    "approver",
    "fraud_analyst",
    "data_scientist",
    "admin",
    "supervisor",
]
"""The principals of the `api_keys_file` fixture (conftest); supervisor = inspector + approver."""


def headers(role: str = "workflow", **extra: str) -> dict[str, str]:
    """Request headers with the API key of principal `test-<role>`."""
    return {"X-API-Key": f"test-{role}-key", **extra}


def store_of(client: TestClient) -> AuditStore:
    """The app's audit store."""
    store = client.app.state.service.store  # type: ignore[attr-defined]
    assert isinstance(store, AuditStore)
    return store


def record_count(client: TestClient) -> int:
    """Records in the audit store (the policy-change record of the start included)."""
    head = store_of(client).head()
    return 0 if head is None else head[0]


def triage_records(client: TestClient, case_id: str) -> list[Any]:
    """The triage records of a case."""
    return [r for r in store_of(client).records_for_case(case_id) if r.kind == "triage"]


def with_changes(case: dict[str, Any], **request: Any) -> dict[str, Any]:
    """A deep copy of `case` with request fields replaced."""
    changed = copy.deepcopy(case)
    changed["request"].update(request)
    return changed


@pytest.fixture
def case(sample_cases: list[dict[str, Any]]) -> dict[str, Any]:
    """A plain sample case (eligible, electronics, low value)."""
    return copy.deepcopy(sample_cases[0])


@pytest.fixture
def finance_case(case: dict[str, Any]) -> dict[str, Any]:
    """A case whose credit is above the finance threshold."""
    return with_changes(case, value=5000.0, event_id="EV-finance-1", return_id="R-FIN-1")


# ------------------------------------------------------------------------------- triage


def test_triage_happy_path_records_everything(client: TestClient, case: dict[str, Any]) -> None:
    response = client.post("/v1/triage", json=case, headers=headers())
    assert response.status_code == 200, response.text
    assert response.headers["Idempotent-Replay"] == "false"
    body = response.json()
    assert body["case_id"] == case["request"]["return_id"]
    assert body["eligibility"]["result"] in {"eligible", "eligible_under_warranty", "ineligible"}
    assert set(body["models"]) == {"reason", "damage", "disposition", "fraud"}
    assert all(not answer["available"] for answer in body["models"].values())
    assert body["model_versions"] == dict.fromkeys(("reason", "damage", "disposition", "fraud"))
    assert body["recommended_disposition"]["source"] in {"rules", "policy"}
    assert body["recommended_disposition"]["code"] is not None
    review = body["review"]
    assert review["required"] and review["fallback"] and not review["auto_approved"]
    assert "model_fallback" in {rule["id"] for rule in review["rules_fired"]}
    assert body["policy_version"].startswith("sha256:")

    (record,) = triage_records(client, body["case_id"])
    assert record.record_id == body["audit_id"]
    assert record.actor == "test-workflow"
    payload = record.payload
    assert payload["response"] == body
    assert payload["decision"]["policy_version"] == body["policy_version"]
    assert payload["response"]["model_versions"] == body["model_versions"]
    assert payload["decision"]["model_fallback"] is True
    assert [hit["id"] for hit in payload["decision"]["rules_fired"]] == [
        rule["id"] for rule in review["rules_fired"]
    ]
    assert set(payload["models_unavailable"]) == {"reason", "damage", "disposition", "fraud"}

    again = client.get(f"/v1/triage/{body['case_id']}", headers=headers("inspector"))
    assert again.status_code == 200
    assert again.json() == body


def test_without_models_no_case_is_auto_approved(
    client: TestClient, sample_cases: list[dict[str, Any]]
) -> None:
    for case in sample_cases[:25]:
        body = client.post("/v1/triage", json=case, headers=headers()).json()
        assert body["review"]["required"], body["case_id"]
        assert not body["review"]["auto_approved"]
        assert body["review"]["fallback"]
        assert "inspection" in body["review"]["queues"]


def test_regulated_item_is_quarantined_by_policy(client: TestClient, case: dict[str, Any]) -> None:
    regulated = copy.deepcopy(case)
    regulated["item"]["regulated"] = True
    body = client.post("/v1/triage", json=regulated, headers=headers()).json()
    assert body["recommended_disposition"]["code"] == "QUARANTINE"
    assert body["review"]["forced_disposition"] == "QUARANTINE"


def test_request_path_dependencies_stay_on_the_event_loop(client: TestClient) -> None:
    # any dependency override makes FastAPI re-inspect every dependency signature on every
    # request, and a plain `def` dependency costs a thread-pool hop: both cost the API its
    # throughput under load (measured: benchmarks/bench_serving.py)
    import importlib
    import inspect
    import pkgutil

    from fastapi.routing import APIRoute

    import serving.routers

    assert not client.app.dependency_overrides  # type: ignore[attr-defined]
    blocking, checked = [], 0
    for module_info in pkgutil.iter_modules(serving.routers.__path__):
        module = importlib.import_module(f"serving.routers.{module_info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if not isinstance(route, APIRoute):
                continue
            stack = list(route.dependant.dependencies)
            while stack:
                dependant = stack.pop()
                stack += dependant.dependencies
                checked += 1
                call = dependant.call
                if call is None or inspect.iscoroutinefunction(call):
                    continue
                if not inspect.iscoroutinefunction(getattr(call, "__call__", None)):  # noqa: B004
                    blocking.append(f"{route.path}: {call}")
    assert checked >= 20
    assert not blocking, blocking


def test_get_triage_of_unknown_case_is_404(client: TestClient) -> None:
    response = client.get("/v1/triage/R-NOPE", headers=headers())
    assert response.status_code == 404
    assert "R-NOPE" in response.json()["detail"]


def test_explain_shows_why_the_policy_flagged_a_case(
    serving_settings: ServingSettings, finance_case: dict[str, Any], tmp_path: Path
) -> None:
    """The policy's explain mode for a recorded triage: every rule, fired or not, with each
    condition's actual value; after a policy change it says the triage was decided by
    another version."""
    case_id = finance_case["request"]["return_id"]
    with TestClient(create_app(serving_settings)) as client:
        store = store_of(client)
        triaged = client.post("/v1/triage", json=finance_case, headers=headers()).json()
        head = store.head()
        response = client.get(f"/v1/triage/{case_id}/explain", headers=headers("inspector"))
        assert response.status_code == 200, response.text
        explained = response.json()
        assert store.head() == head  # records nothing
        assert explained["audit_id"] == triaged["audit_id"]
        assert explained["recorded_policy_version"] == explained["policy"]["version"]
        assert explained["recorded_policy_version"] == triaged["policy_version"]
        fired = {rule["id"] for rule in explained["rules"] if rule["fired"]}
        assert fired == {rule["id"] for rule in triaged["review"]["rules_fired"]}
        assert len(explained["rules"]) > len(fired)  # the rules that did not fire are there too
        finance = [r for r in explained["rules"] if "finance" in r["queues"] and r["fired"]]
        assert finance, explained["rules"]
        values = [c["actual"] for c in finance[0]["conditions"]]
        assert any(v == 5000.0 for v in values), finance[0]["conditions"]
        assert explained["facts"]["credit_value"] == 5000.0
        unknown = client.get("/v1/triage/R-NOPE/explain", headers=headers())
        assert unknown.status_code == 404
        # a record whose facts this engine cannot read (an older schema) is a 409, not a 500
        old_id = str(uuid.uuid4())
        old = {**triaged, "audit_id": old_id}
        payload = {"facts": {"credit_value": "lots"}, "response": old, "decision": {}}
        entry = AuditEntry(RecordKind.TRIAGE, "R-OLD", "test", payload, old_id)
        store.idempotent("old", "h-old", lambda: Outcome(old, [entry]))
        conflict = client.get("/v1/triage/R-OLD/explain", headers=headers())
        assert conflict.status_code == 409, conflict.text
        assert client.get(f"/v1/triage/{case_id}/explain").status_code == 401

    # a new policy version (here only a comment differs: the version is the content's hash)
    policy = tmp_path / "policy.yml"
    default = Path(__file__).resolve().parents[2] / "serving" / "policy" / "default_policy.yml"
    policy.write_text(default.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    changed = serving_settings.model_copy(update={"policy_file": policy})
    with TestClient(create_app(changed)) as client:
        explained = client.get(f"/v1/triage/{case_id}/explain", headers=headers()).json()
        assert explained["recorded_policy_version"] == triaged["policy_version"]
        assert explained["policy"]["version"] != triaged["policy_version"]


def test_reason_model_answers_and_is_versioned(
    serving_settings: ServingSettings, case: dict[str, Any], tmp_path: Path
) -> None:
    class StubReason:
        def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
            top = json.dumps([["DEFECTIVE", 0.9], ["QUALITY", 0.08], ["OTHER", 0.02]])
            return pd.DataFrame(
                {
                    "code": ["DEFECTIVE"],
                    "confidence": [0.9],
                    "top": [top],
                    "disagrees_with_customer": [True],
                }
            )

    loaded: list[str] = []

    def loader(uri: str) -> StubReason:
        loaded.append(uri)
        return StubReason()

    settings_ = serving_settings.model_copy(
        update={"reason_model_uri": "models:/reason/3", "mlflow_tracking_uri": tmp_path.as_uri()}
    )
    with TestClient(create_app(settings_, model_loader=loader)) as client:
        body = client.post("/v1/triage", json=case, headers=headers()).json()
    assert loaded == ["models:/reason/3"]
    reason = body["models"]["reason"]
    assert reason["available"] and reason["version"] == "3"
    assert reason["value"] == "DEFECTIVE" and reason["confidence"] == 0.9
    assert [a["code"] for a in reason["alternatives"]] == ["QUALITY", "OTHER"]
    assert reason["disagrees_with_customer"] is True  # the sample customer picked QUALITY
    assert body["model_versions"]["reason"] == "3"
    assert "reason" not in body["review"]["unavailable_models"]
    assert body["review"]["fallback"]  # damage/disposition/fraud are still missing


def test_failing_reason_model_falls_back(
    serving_settings: ServingSettings, case: dict[str, Any], tmp_path: Path
) -> None:
    class Broken:
        def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
            raise RuntimeError("boom")

    settings_ = serving_settings.model_copy(
        update={"reason_model_uri": "models:/reason/2", "mlflow_tracking_uri": tmp_path.as_uri()}
    )
    with TestClient(create_app(settings_, model_loader=lambda uri: Broken())) as client:
        response = client.post("/v1/triage", json=case, headers=headers())
    assert response.status_code == 200
    body = response.json()
    assert not body["models"]["reason"]["available"]
    assert "boom" in body["models"]["reason"]["detail"]
    assert "reason" in body["review"]["unavailable_models"]
    assert not body["review"]["auto_approved"]


def test_missing_mlflow_database_is_a_fallback_not_a_failed_start(
    serving_settings: ServingSettings, case: dict[str, Any]
) -> None:
    settings_ = serving_settings.model_copy(update={"reason_model_uri": "models:/reason@champion"})
    with TestClient(create_app(settings_)) as client:
        ready = client.get("/ready").json()
        assert ready["ready"]
        assert not ready["models"]["reason"]["available"]
        assert "no MLflow database" in ready["models"]["reason"]["detail"]
    assert not (settings_.artifacts_dir / "mlflow.db").exists()


def test_lifespan_freezes_the_heap_while_serving(serving_settings: ServingSettings) -> None:
    """By default the loaded models and state are moved out of the garbage collector's reach
    while the app serves (full collections over them stalled requests), and back at shutdown."""
    import gc

    assert ServingSettings.model_fields["gc_freeze"].default is True
    settings_ = serving_settings.model_copy(update={"gc_freeze": True})
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings_)) as client:
        assert gc.get_freeze_count() > 10_000
        assert client.get("/health").status_code == 200
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(serving_settings)):
        assert gc.get_freeze_count() == 0


# -------------------------------------------------------------------------- idempotency


def test_replay_same_key_same_body(client: TestClient, case: dict[str, Any]) -> None:
    first = client.post("/v1/triage", json=case, headers=headers(**{"Idempotency-Key": "k-1"}))
    second = client.post("/v1/triage", json=case, headers=headers(**{"Idempotency-Key": "k-1"}))
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replay"] == "true"
    assert first.json() == second.json()
    assert len(triage_records(client, case["request"]["return_id"])) == 1


def test_replay_by_event_id(client: TestClient, case: dict[str, Any]) -> None:
    first = client.post("/v1/triage", json=case, headers=headers())
    second = client.post("/v1/triage", json=case, headers=headers())
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replay"] == "true"
    assert len(triage_records(client, case["request"]["return_id"])) == 1


def test_same_key_other_body_is_422(client: TestClient, case: dict[str, Any]) -> None:
    key = {"Idempotency-Key": "k-2"}
    assert client.post("/v1/triage", json=case, headers=headers(**key)).status_code == 200
    before = record_count(client)
    other = with_changes(case, note="a different note", event_id="EV-other")
    response = client.post("/v1/triage", json=other, headers=headers(**key))
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert error["type"] == "idempotency_conflict"
    assert "k-2" in error["msg"]
    # the event id is the key when no header is sent
    assert client.post("/v1/triage", json=case, headers=headers()).status_code == 200
    before = record_count(client)
    response = client.post("/v1/triage", json=with_changes(case, note="changed"), headers=headers())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "request", "event_id"]
    assert record_count(client) == before


def test_concurrent_duplicates_store_exactly_one(client: TestClient, case: dict[str, Any]) -> None:
    def post(_: int) -> tuple[int, dict[str, Any]]:
        response = client.post("/v1/triage", json=case, headers=headers())
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, range(50)))
    assert {code for code, _ in results} == {200}
    bodies = {json.dumps(body, sort_keys=True) for _, body in results}
    assert len(bodies) == 1
    assert len(triage_records(client, case["request"]["return_id"])) == 1


def test_batch_per_item_results(client: TestClient, sample_cases: list[dict[str, Any]]) -> None:
    good, other = sample_cases[1], sample_cases[2]
    bad = with_changes(other, quantity=-1)
    response = client.post(
        "/v1/triage/batch", json={"cases": [good, bad, good, other]}, headers=headers()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 4 and body["succeeded"] == 3 and body["failed"] == 1
    first, invalid, replay, last = body["data"]
    assert first["status_code"] == 200 and not first["replayed"]
    assert invalid["status_code"] == 422 and invalid["result"] is None
    assert invalid["errors"][0]["loc"] == ["body", "cases", 1, "request", "quantity"]
    assert replay["replayed"] and replay["result"] == first["result"]
    assert last["status_code"] == 200
    assert len(triage_records(client, good["request"]["return_id"])) == 1
    assert triage_records(client, other["request"]["return_id"]) != []


def test_batch_is_bounded(client: TestClient, case: dict[str, Any]) -> None:
    response = client.post("/v1/triage/batch", json={"cases": [case] * 101}, headers=headers())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "cases"]


# -------------------------------------------------------------------------------- roles

ENDPOINTS: list[tuple[str, str, set[str], str]] = [
    ("POST", "/v1/triage", {"workflow", "admin"}, "case"),
    ("POST", "/v1/triage/batch", {"workflow", "admin"}, "batch"),
    ("GET", "/v1/triage/R00000007", set(ROLES), ""),
    ("GET", "/v1/triage/R00000007/explain", set(ROLES), ""),
    ("POST", "/v1/cases/R00000007/decisions", {"inspector", "supervisor"}, "inspection"),
    ("GET", "/v1/queues/inspection", {"inspector", "admin", "supervisor"}, ""),
    ("GET", "/v1/queues/fraud", {"fraud_analyst", "admin"}, ""),
    ("GET", "/v1/queues/finance", {"approver", "admin", "supervisor"}, ""),
    ("GET", "/v1/queues/eligibility", {"inspector", "workflow", "admin", "supervisor"}, ""),
    ("GET", "/v1/audit/cases/R00000007", {"admin", "data_scientist"}, ""),
    ("GET", "/v1/audit/verify", {"admin"}, ""),
    ("GET", "/v1/audit/export", {"admin"}, ""),
    ("GET", "/v1/versions", set(ROLES), ""),
]


@pytest.mark.parametrize(
    ("method", "path", "allowed", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS]
)
def test_roles(
    client: TestClient,
    case: dict[str, Any],
    method: str,
    path: str,
    allowed: set[str],
    body: str,
) -> None:
    payloads: dict[str, Any] = {
        "case": case,
        "batch": {"cases": [case]},
        "inspection": {
            "kind": "inspection",
            "disposition": "RESTOCK",
            "condition_grade": "NEW",
            "override_reason": "test",
        },
        "": None,
    }
    client.post("/v1/triage", json=case, headers=headers())  # so the case exists
    payload = payloads[body]
    for key_headers in ({}, {"X-API-Key": "not-a-key"}):
        response = client.request(method, path, json=payload, headers=key_headers)
        assert response.status_code == 401, (key_headers, response.text)
    for role in ROLES:
        response = client.request(method, path, json=payload, headers=headers(role))
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert "test-" + role in response.json()["detail"]


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
def test_operations_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


# ---------------------------------------------------------------------------- decisions


def test_segregation_of_duties(client: TestClient, finance_case: dict[str, Any]) -> None:
    triaged = client.post("/v1/triage", json=finance_case, headers=headers()).json()
    assert "finance" in triaged["review"]["queues"]
    case_id = triaged["case_id"]
    recommended = triaged["recommended_disposition"]["code"]
    inspection = {"kind": "inspection", "disposition": recommended, "condition_grade": "USED"}
    url = f"/v1/cases/{case_id}/decisions"
    response = client.post(url, json=inspection, headers=headers("supervisor"))
    assert response.status_code == 201, response.text
    assert response.json()["override"] is False

    approval = {"kind": "approval", "approved": True}
    before = record_count(client)
    refused = client.post(url, json=approval, headers=headers("supervisor"))
    assert refused.status_code == 403
    assert "segregation of duties" in refused.json()["detail"]
    assert record_count(client) == before

    approved = client.post(url, json=approval, headers=headers("approver"))
    assert approved.status_code == 201, approved.text
    assert approved.json()["actor"] == "test-approver"
    kinds = [r.kind for r in store_of(client).records_for_case(case_id)]
    assert kinds == ["triage", "decision", "approval"]
    # an approver who approved may not inspect it either (another inspection is also a 409)
    refused = client.post(url, json=inspection, headers=headers("approver"))
    assert refused.status_code == 403


def test_segregation_of_duties_holds_under_concurrent_requests(
    client: TestClient, finance_case: dict[str, Any]
) -> None:
    """One person sending the inspection and the approval at the same moment: the check runs
    under the audit chain's write lock, so at most one of the two is recorded."""
    triaged = client.post("/v1/triage", json=finance_case, headers=headers()).json()
    case_id = triaged["case_id"]
    url = f"/v1/cases/{case_id}/decisions"
    inspection = {
        "kind": "inspection",
        "disposition": triaged["recommended_disposition"]["code"],
        "condition_grade": "USED",
    }
    approval = {"kind": "approval", "approved": True}
    for _ in range(5):
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(
                pool.map(
                    lambda body: client.post(url, json=body, headers=headers("supervisor")),
                    [inspection, approval],
                )
            )
        kinds = {r.kind for r in store_of(client).records_for_case(case_id)}
        assert not {"decision", "approval"} <= kinds, kinds
        assert sorted(a.status_code for a in answers)[-1] in (403, 409)


def test_override_needs_a_reason(client: TestClient, case: dict[str, Any]) -> None:
    triaged = client.post("/v1/triage", json=case, headers=headers()).json()
    recommended = triaged["recommended_disposition"]["code"]
    other = "SCRAP" if recommended != "SCRAP" else "RESTOCK"
    url = f"/v1/cases/{triaged['case_id']}/decisions"
    body = {"kind": "inspection", "disposition": other, "condition_grade": "DAMAGED"}
    before = record_count(client)
    response = client.post(url, json=body, headers=headers("inspector"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "override_reason"]
    assert record_count(client) == before

    body["override_reason"] = "casing cracked, not repairable"
    response = client.post(url, json=body, headers=headers("inspector"))
    assert response.status_code == 201, response.text
    decided = response.json()
    assert decided["override"] is True
    assert decided["recommended_disposition"] == recommended
    assert decided["triage_audit_id"] == triaged["audit_id"]
    # one final decision per triage; an identical retry replays it
    retry = client.post(url, json=body, headers=headers("inspector"))
    assert retry.status_code == 200 and retry.json() == decided
    changed = {**body, "condition_grade": "USED"}
    assert client.post(url, json=changed, headers=headers("inspector")).status_code == 409


def test_approval_outside_finance_queue_and_unknown_case(
    client: TestClient, case: dict[str, Any]
) -> None:
    triaged = client.post("/v1/triage", json=case, headers=headers()).json()
    url = f"/v1/cases/{triaged['case_id']}/decisions"
    response = client.post(
        url, json={"kind": "approval", "approved": True}, headers=headers("approver")
    )
    assert response.status_code == 409
    response = client.post(
        "/v1/cases/R-NOPE/decisions",
        json={"kind": "approval", "approved": True},
        headers=headers("approver"),
    )
    assert response.status_code == 404
    # an approver may not record an inspection
    inspection = {"kind": "inspection", "disposition": "SCRAP", "condition_grade": "USED"}
    assert client.post(url, json=inspection, headers=headers("approver")).status_code == 403


# ------------------------------------------------------------------------------- queues


def test_queues_list_open_cases(client: TestClient, sample_cases: list[dict[str, Any]]) -> None:
    cases = sample_cases[:6]
    for case in cases:
        assert client.post("/v1/triage", json=case, headers=headers()).status_code == 200
    listed = client.get("/v1/queues/inspection", headers=headers("inspector")).json()
    assert listed["count"] == len({c["request"]["return_id"] for c in cases})
    first = listed["data"][0]
    assert first["case_id"] == cases[0]["request"]["return_id"]

    page = client.get(
        "/v1/queues/inspection", params={"limit": 2, "offset": 1}, headers=headers("inspector")
    ).json()
    assert page["count"] == listed["count"]
    assert [i["case_id"] for i in page["data"]] == [i["case_id"] for i in listed["data"][1:3]]

    warehouse = first["warehouse"]
    filtered = client.get(
        "/v1/queues/inspection", params={"warehouse": warehouse}, headers=headers("inspector")
    ).json()
    assert filtered["count"] >= 1
    assert all(item["warehouse"] == warehouse for item in filtered["data"])
    rich = client.get(
        "/v1/queues/inspection", params={"min_credit_value": 1e8}, headers=headers("inspector")
    ).json()
    assert rich["count"] == 0
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        client.get(
            "/v1/queues/inspection", params={"since": later}, headers=headers("inspector")
        ).json()["count"]
        == 0
    )

    # a final decision takes the case out of the queue
    recommended = first["recommended_disposition"]
    decision = {"kind": "inspection", "disposition": recommended, "condition_grade": "USED"}
    url = f"/v1/cases/{first['case_id']}/decisions"
    assert client.post(url, json=decision, headers=headers("inspector")).status_code == 201
    after = client.get("/v1/queues/inspection", headers=headers("inspector")).json()
    assert after["count"] == listed["count"] - 1
    assert first["case_id"] not in {item["case_id"] for item in after["data"]}


def test_unknown_queue_is_422(client: TestClient) -> None:
    response = client.get("/v1/queues/kitchen", headers=headers("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "queue"]


# ---------------------------------------------------------------------------- bad input


def _photo(content_base64: str) -> dict[str, Any]:
    return {"photo_id": "P1", "content_type": "image/jpeg", "content_base64": content_base64}


BAD_INPUTS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], list[str | int]]] = [
    (
        "unknown reason code",
        lambda c: with_changes(c, customer_reason_code="BROKEN"),
        ["body", "request", "customer_reason_code"],
    ),
    ("negative quantity", lambda c: with_changes(c, quantity=-3), ["body", "request", "quantity"]),
    ("10 MB note", lambda c: with_changes(c, note="x" * 10_000_000), ["body", "request", "note"]),
    (
        "broken base64 photo",
        lambda c: with_changes(c, photos=[_photo("not base64 !!")]),
        ["body", "request", "photos", 0, "content_base64"],
    ),
    ("wrong type", lambda c: with_changes(c, quantity="three"), ["body", "request", "quantity"]),
    ("unknown field", lambda c: {**c, "fraud_score": 0.0}, ["body", "fraud_score"]),
    (
        "client sets a score",
        lambda c: with_changes(c, fraud_score=0.0),
        ["body", "request", "fraud_score"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "loc"), [(m, loc) for _, m, loc in BAD_INPUTS], ids=[n for n, *_ in BAD_INPUTS]
)
def test_bad_input_names_the_field_and_writes_nothing(
    client: TestClient,
    case: dict[str, Any],
    mutate: Callable[[dict[str, Any]], dict[str, Any]],
    loc: list[str | int],
) -> None:
    before = record_count(client)
    response = client.post("/v1/triage", json=mutate(case), headers=headers())
    assert response.status_code == 422, response.text[:500]
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert len(response.content) < 10_000  # the input is not echoed back
    assert record_count(client) == before
    assert triage_records(client, case["request"]["return_id"]) == []


def test_oversized_body_is_413_and_writes_nothing(
    serving_settings: ServingSettings, case: dict[str, Any]
) -> None:
    small = serving_settings.model_copy(update={"max_body_bytes": 100_000})
    with TestClient(create_app(small)) as client:
        before = record_count(client)
        big = with_changes(case, note="x" * 200_000)
        response = client.post("/v1/triage", json=big, headers=headers())
        assert response.status_code == 413
        assert "100,000" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            data = json.dumps(big).encode()
            for start in range(0, len(data), 16_384):
                yield data[start : start + 16_384]

        response = client.post(
            "/v1/triage",
            content=chunks(),
            headers=headers(**{"Content-Type": "application/json"}),
        )
        assert response.status_code == 413
        assert record_count(client) == before


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/triage",
        content=b"{not json",
        headers=headers(**{"Content-Type": "application/json"}),
    )
    assert response.status_code == 422


def test_valid_photo_is_recorded_by_hash_not_bytes(
    client: TestClient, case: dict[str, Any]
) -> None:
    content = base64.b64encode(b"\xff\xd8\xff" + b"jpeg" * 100).decode()
    body = client.post(
        "/v1/triage", json=with_changes(case, photos=[_photo(content)]), headers=headers()
    ).json()
    (record,) = triage_records(client, body["case_id"])
    (photo,) = record.payload["case"]["request"]["photos"]
    assert "content_base64" not in photo and len(photo["content_sha256"]) == 64
    assert "damage" in body["review"]["unavailable_models"]


# -------------------------------------------------------------------------------- audit


def test_audit_verify_and_export(client: TestClient, sample_cases: list[dict[str, Any]]) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    for case in sample_cases[:3]:
        client.post("/v1/triage", json=case, headers=headers())
    verdict = client.get("/v1/audit/verify", headers=headers("admin")).json()
    assert verdict["ok"] and verdict["checked"] == record_count(client)

    end = datetime.now(UTC) + timedelta(seconds=1)
    params = {"start": start.isoformat(), "end": end.isoformat(), "format": "jsonl"}
    response = client.get("/v1/audit/export", params=params, headers=headers("admin"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    exported = [json.loads(line) for line in lines]
    assert len(exported) == record_count(client)  # everything was written in the range
    triaged = {r["case_id"] for r in exported if r["kind"] == "triage"}
    assert triaged == {c["request"]["return_id"] for c in sample_cases[:3]}
    assert verify_export(lines).ok

    csv_response = client.get(
        "/v1/audit/export", params={**params, "format": "csv"}, headers=headers("admin")
    )
    assert csv_response.status_code == 200
    assert verify_export(io.StringIO(csv_response.text, newline=""), fmt="csv").ok

    empty = client.get(
        "/v1/audit/export", params={"start": end.isoformat()}, headers=headers("admin")
    )
    assert empty.text == ""
    backwards = client.get(
        "/v1/audit/export",
        params={"start": end.isoformat(), "end": start.isoformat()},
        headers=headers("admin"),
    )
    assert backwards.status_code == 422

    case_id = sample_cases[0]["request"]["return_id"]
    trail = client.get(f"/v1/audit/cases/{case_id}", headers=headers("data_scientist")).json()
    assert trail["count"] == 1 and trail["data"][0]["kind"] == "triage"


# ---------------------------------------------------------------------------- operations


def test_health_ready_metrics_versions(client: TestClient, case: dict[str, Any]) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] and ready["checks"]["audit_store"]["ok"]
    assert ready["models"]["reason"]["available"] is False

    client.post("/v1/triage", json=case, headers=headers())
    client.post("/v1/triage", json=case, headers=headers())
    text = client.get("/metrics").text
    assert 'triage_http_requests_total{method="POST",route="/v1/triage",status="200"} 2.0' in text
    assert 'triage_outcomes_total{outcome="review_required"} 1.0' in text
    assert 'triage_model_fallbacks_total{model="reason"} 1.0' in text
    assert "triage_idempotent_replays_total 1.0" in text
    assert 'triage_model_available{model="reason"} 0.0' in text

    versions = client.get("/v1/versions", headers=headers("data_scientist")).json()
    assert versions["policy"]["version"].startswith("sha256:")
    assert versions["models"]["reason"]["available"] is False
    assert versions["libraries"]["fastapi"]


def test_policy_change_is_recorded_once(serving_settings: ServingSettings) -> None:
    for _ in range(2):
        with TestClient(create_app(serving_settings)) as client:
            records = store_of(client).records_for_case("policy:default")
    assert [r.kind for r in records] == ["policy_change"]


def test_openapi_has_stable_operation_ids(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "triage_case",
        "triage_batch",
        "get_triage",
        "record_decision",
        "list_queue",
        "get_case_audit",
        "verify_audit",
        "export_audit",
        "health",
        "ready",
        "metrics",
        "versions",
    } <= ids


# ------------------------------------------------------------------------------ fuzzing


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app's OpenAPI schema for schemathesis, on its own store; every role in one key."""
    tmp = tmp_path_factory.mktemp("fuzz")
    keys = tmp / "keys.yml"
    keys.write_text(
        "principals:\n  - name: fuzz-all\n    key: fuzz-all-roles-key\n    roles: "
        "[workflow, inspector, approver, fraud_analyst, data_scientist, admin]\n",
        encoding="utf-8",
    )
    # every model answers (deterministic stubs), so every endpoint is live: no 503s
    app_settings = ServingSettings(
        artifacts_dir=tmp / "artifacts",
        audit_url=f"sqlite:///{tmp / 'audit.db'}",
        api_keys_file=keys,
        mlflow_tracking_uri=tmp.as_uri(),
        **STUB_URIS,
    )
    app = create_app(app_settings, model_loader=stub_loader)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_fuzz_no_server_errors(fuzz_schema: Any, mode: schemathesis.GenerationMode) -> None:
    """Generated requests to every operation (valid and invalid) never get a 5xx."""
    strategy = fuzz_schema.as_strategy(generation_mode=mode)

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def no_server_error(case: Any) -> None:
        response = case.call(headers={"X-API-Key": "fuzz-all-roles-key"})
        assert response.status_code < 500, (case.method, case.path, response.text[:500])

    no_server_error()
