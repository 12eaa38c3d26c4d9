"""The triage path with all four model families answering (deterministic stubs with the real
interfaces): responses, postings, damage and fraud blocks, component and customer endpoints,
the customer state, and clean 4xx for unreadable photos."""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from serving.audit import AuditStore


def headers(role: str = "workflow") -> dict[str, str]:
    return {"X-API-Key": f"test-{role}-key"}


def store_of(client: TestClient) -> AuditStore:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    assert isinstance(store, AuditStore)
    return store


def jpeg(shade: int) -> str:
    """A small uniform JPEG, base64: dark shades look damaged to the stub damage model."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, shade, shade)).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture
def return_case(sample_cases: list[dict[str, Any]]) -> dict[str, Any]:
    """A plain RETURN sample case without photos."""
    chosen = next(
        c
        for c in sample_cases
        if c["request"]["claim_type"] == "RETURN" and not c["request"]["photos"]
    )
    return copy.deepcopy(chosen)


def with_photo(case: dict[str, Any], shade: int, photo_id: str = "P-1") -> dict[str, Any]:
    body = copy.deepcopy(case)
    body["request"]["photos"] = [
        {"photo_id": photo_id, "content_type": "image/jpeg", "content_base64": jpeg(shade)}
    ]
    return body


def test_every_model_answers_with_versions_postings_and_factors(
    models_client: TestClient, return_case: dict[str, Any]
) -> None:
    body = models_client.post(
        "/v1/triage", json=with_photo(return_case, 20), headers=headers()
    ).json()
    models = body["models"]
    assert all(models[name]["available"] for name in ("reason", "damage", "disposition", "fraud"))
    assert body["model_versions"] == {
        "reason": "1",
        "damage": "1",
        "disposition": "1",
        "fraud": "1",
    }
    assert body["damage"]["damage_type"] == "CRACK_BREAK"
    assert body["damage"]["photos"][0]["photo_id"] == "P-1"
    recommendation = body["recommended_disposition"]
    if recommendation["source"] == "model":  # a policy rule may force another disposition
        assert recommendation["code"] == "SCRAP"
        assert recommendation["reasons"] == ["photos show damage"]
        assert recommendation["expected_recovery_value"] == 42.0
    postings = recommendation["postings"]
    assert postings["disposition"] == recommendation["code"]
    assert postings["version"].startswith("postings-")
    assert postings["inventory"]["from"] and postings["action"]["type"]
    assert body["fraud"]["risk_level"] in ("low", "medium", "high")
    assert body["fraud"]["factors"] and models["fraud"]["reasons"] == body["fraud"]["factors"]
    assert "fraud" not in body["review"]["unavailable_models"]
    assert not body["review"]["fallback"]


def test_sound_goods_are_restocked_by_the_model(
    models_client: TestClient, return_case: dict[str, Any]
) -> None:
    body = models_client.post(
        "/v1/triage", json=with_photo(return_case, 240), headers=headers()
    ).json()
    assert body["damage"]["damage_type"] == "NONE"
    assert body["models"]["disposition"]["value"] == "RESTOCK"


def test_a_disposition_without_model_still_returns_postings(
    client: TestClient, return_case: dict[str, Any]
) -> None:
    body = client.post("/v1/triage", json=return_case, headers=headers()).json()
    recommendation = body["recommended_disposition"]
    assert recommendation["source"] in ("rules", "policy")
    assert recommendation["postings"]["disposition"] == recommendation["code"]
    assert body["review"]["fallback"] and not body["review"]["auto_approved"]


@pytest.mark.parametrize(
    "content",
    [
        base64.b64encode(b"this is a text file renamed .jpg").decode(),
        base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 64).decode(),  # JPEG magic, no image
    ],
    ids=["text", "corrupt-jpeg"],
)
def test_unreadable_photo_is_422_naming_it_and_records_nothing(
    models_client: TestClient, return_case: dict[str, Any], content: str
) -> None:
    body = with_photo(return_case, 100)
    body["request"]["photos"].insert(
        0, {"photo_id": "P-0", "content_type": "image/jpeg", "content_base64": jpeg(200)}
    )
    body["request"]["photos"][1]["content_base64"] = content
    before = store_of(models_client).head()
    response = models_client.post("/v1/triage", json=body, headers=headers())
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][:4] == ["body", "request", "photos", 1]
    assert store_of(models_client).head() == before


def test_customer_state_counts_each_return_once(
    models_client: TestClient, return_case: dict[str, Any]
) -> None:
    customer = return_case["customer"]["customer_id"]
    predictors = models_client.app.state.service.predictors  # type: ignore[attr-defined]
    before = predictors.customer_history(customer)["returns_count"]
    first = models_client.post("/v1/triage", json=return_case, headers=headers())
    retry = models_client.post("/v1/triage", json=return_case, headers=headers())
    assert retry.headers["Idempotent-Replay"] == "true"
    assert predictors.customer_history(customer)["returns_count"] == before + 1
    second = copy.deepcopy(return_case)
    second["request"]["return_id"] += "-2"
    second["request"]["event_id"] += "-2"
    later = models_client.post("/v1/triage", json=second, headers=headers()).json()
    assert predictors.customer_history(customer)["returns_count"] == before + 2
    # the stub's risk grows with returns on record: the state feeds the score
    assert later["fraud"]["risk_score"] > first.json()["fraud"]["risk_score"]


def test_components_classify_notes_and_assess_photos(models_client: TestClient) -> None:
    notes = {
        "notes": [
            {"id": "n1", "text": "arrived broken", "customer_reason_code": "SIZE_FIT"},
            {"id": "n2", "text": "do not need it any more"},
        ]
    }
    answer = models_client.post("/v1/components/reason", json=notes, headers=headers()).json()
    assert [(n["id"], n["code"]) for n in answer["data"]] == [
        ("n1", "DEFECTIVE"),
        ("n2", "NO_LONGER_NEEDED"),
    ]
    assert answer["data"][0]["disagrees_with_customer"] is True
    assert answer["data"][1]["disagrees_with_customer"] is None
    photos = {
        "photos": [
            {"photo_id": "a", "content_type": "image/jpeg", "content_base64": jpeg(10)},
            {"photo_id": "b", "content_type": "image/jpeg", "content_base64": jpeg(250)},
        ]
    }
    damage = models_client.post("/v1/components/damage", json=photos, headers=headers()).json()
    assert [p["damage_type"] for p in damage["damage"]["photos"]] == ["CRACK_BREAK", "NONE"]
    assert damage["damage"]["damaged_photos"] == 1
    bad = {"photos": [{"photo_id": "x", "content_type": "image/png", "content_base64": "aGk="}]}
    refused = models_client.post("/v1/components/damage", json=bad, headers=headers())
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][:3] == ["body", "photos", 0]


def test_photos_of_a_product_line_are_assessed_by_its_own_heads(
    models_client: TestClient,
) -> None:
    photos = [{"photo_id": "a", "content_type": "image/jpeg", "content_base64": jpeg(10)}]
    versions = models_client.get("/v1/versions", headers=headers()).json()
    assert versions["models"]["damage"]["product_lines"] == ["tiles"]
    assert versions["models"]["reason"]["product_lines"] == []

    def assess(**extra: Any) -> Any:
        return models_client.post(
            "/v1/components/damage", json={"photos": photos, **extra}, headers=headers()
        )

    general = assess().json()
    assert general["damage"]["heads"] == "general"
    assert general["damage"]["damage_type"] == "CRACK_BREAK"
    tiles = assess(product_line="tiles").json()
    assert tiles["damage"]["heads"] == "tiles"
    assert tiles["damage"]["damage_type"] == "SCRATCH_SCUFF"
    # a line without its own heads is answered by the general heads, and says so
    other = assess(product_line="ceramics").json()
    assert other["damage"]["heads"] == "general"
    assert other["damage"] == general["damage"]
    refused = assess(product_line="tiles; drop table")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "product_line"]


def test_triage_assesses_photos_by_the_line_its_category_maps_to(
    models_settings: Any, return_case: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from model_stubs import stub_loader

    from serving.app import create_app

    category = return_case["item"]["category"]
    lines = {category: "tiles", "flooring": "tile"}  # "tile": a typo the service warns about
    settings = models_settings.model_copy(update={"damage_lines": lines})
    with (
        caplog.at_level(logging.WARNING, logger="serving.predictors"),
        TestClient(create_app(settings, model_loader=stub_loader)) as client,
    ):
        assert "no heads for: tile (" in caplog.text
        body = client.post("/v1/triage", json=with_photo(return_case, 20), headers=headers())
        damage = body.json()["damage"]
        assert damage["heads"] == "tiles"
        assert damage["damage_type"] == "SCRATCH_SCUFF"
        other = copy.deepcopy(return_case)
        other["item"]["category"] = category + "_other"
        other["request"]["event_id"] += "-other"
        other["request"]["return_id"] += "-other"
        answer = client.post("/v1/triage", json=with_photo(other, 20), headers=headers()).json()
        assert answer["damage"]["heads"] == "general"
        assert answer["damage"]["damage_type"] == "CRACK_BREAK"
        # the audit record keeps which heads answered
        record = store_of(client).records_for_case(return_case["request"]["return_id"])[-1]
        assert record.payload["response"]["damage"]["heads"] == "tiles"


def test_components_without_models_answer_503(client: TestClient) -> None:
    notes = {"notes": [{"id": "n1", "text": "broken"}]}
    response = client.post("/v1/components/reason", json=notes, headers=headers())
    assert response.status_code == 503
    assert "reason model unavailable" in response.json()["detail"]


def test_flagged_customers_risk_and_labels(
    models_client: TestClient, return_case: dict[str, Any]
) -> None:
    customer = return_case["customer"]["customer_id"]
    for i in range(3):  # three returns make the stub rate this customer high
        body = copy.deepcopy(return_case)
        body["request"]["return_id"] += f"-{i}"
        body["request"]["event_id"] += f"-{i}"
        assert models_client.post("/v1/triage", json=body, headers=headers()).status_code == 200
    flagged = models_client.get(
        "/v1/customers/flagged?min_level=high", headers=headers("fraud_analyst")
    ).json()
    assert [c["customer_id"] for c in flagged["data"]] == [customer]
    assert flagged["data"][0]["factors"] == ["3 returns on record"]
    assert models_client.get("/v1/customers/flagged", headers=headers()).status_code == 403
    risk = models_client.get(f"/v1/customers/{customer}/risk", headers=headers())
    assert risk.status_code == 200 and risk.json()["risk_level"] == "high"
    unknown = models_client.get("/v1/customers/C-NOBODY/risk", headers=headers())
    assert unknown.status_code == 404

    label = {"abusive": True, "case_id": return_case["request"]["return_id"] + "-0"}
    url = f"/v1/customers/{customer}/labels"
    assert models_client.post(url, json=label, headers=headers("workflow")).status_code == 403
    recorded = models_client.post(url, json=label, headers=headers("fraud_analyst"))
    assert recorded.status_code == 201, recorded.text
    again = models_client.post(url, json=label, headers=headers("fraud_analyst"))
    assert again.status_code == 200 and again.json() == recorded.json()
    records = store_of(models_client).records_for_case(label["case_id"])
    assert [r.kind for r in records] == ["triage", "fraud_label"]
    after = models_client.get(f"/v1/customers/{customer}/risk", headers=headers()).json()
    assert after["labelled_abusive"] is True


def test_a_restarted_service_replays_triaged_returns_into_the_customer_state(
    models_settings: Any, return_case: dict[str, Any]
) -> None:
    from model_stubs import stub_loader

    from serving.app import create_app

    customer = return_case["customer"]["customer_id"]
    with TestClient(create_app(models_settings, model_loader=stub_loader)) as first:
        assert first.post("/v1/triage", json=return_case, headers=headers()).status_code == 200
        seen = first.app.state.service.predictors.customer_history(customer)  # type: ignore[attr-defined]
    with TestClient(create_app(models_settings, model_loader=stub_loader)) as restarted:
        predictors = restarted.app.state.service.predictors  # type: ignore[attr-defined]
        assert predictors.customer_history(customer) == seen
        assert seen["returns_count"] >= 1


def test_workers_sharing_an_audit_store_share_the_customer_state(
    models_settings: Any, return_case: dict[str, Any], store_url: Any
) -> None:
    """Two worker processes of one service (two apps on one audit store, SQLite or
    PostgreSQL): each scores a customer with the returns and labels the other recorded, they
    list the same review queues, and a restarted service keeps the labels as well as the
    returns."""
    from model_stubs import stub_loader

    from serving.app import create_app

    models_settings = models_settings.model_copy(
        update={"audit_url": store_url.render_as_string(hide_password=False)}
    )

    customer = return_case["customer"]["customer_id"]

    def history(client: TestClient) -> dict[str, Any]:
        return client.app.state.service.predictors.customer_history(customer)  # type: ignore[attr-defined]

    def case(i: int) -> dict[str, Any]:
        body = copy.deepcopy(return_case)
        body["request"]["return_id"] += f"-w{i}"
        body["request"]["event_id"] += f"-w{i}"
        return body

    with (
        TestClient(create_app(models_settings, model_loader=stub_loader)) as one,
        TestClient(create_app(models_settings, model_loader=stub_loader)) as two,
    ):
        start = history(two)["returns_count"]
        first = one.post("/v1/triage", json=case(0), headers=headers())
        assert first.status_code == 200, first.text
        assert history(two)["returns_count"] == start  # not yet: nothing asked worker two
        second = two.post("/v1/triage", json=case(1), headers=headers()).json()
        # worker two caught up before scoring: both returns, each counted once
        assert history(two)["returns_count"] == start + 2
        assert second["fraud"]["risk_score"] > first.json()["fraud"]["risk_score"]
        assert one.post("/v1/triage", json=case(2), headers=headers()).status_code == 200
        assert history(one)["returns_count"] == start + 3
        # the review queues are one index in the shared store: a case triaged by one worker
        # is in the queue another worker lists, and leaves it when decided through the first
        queued = two.get("/v1/queues/inspection", headers=headers("inspector")).json()
        ids = {item["case_id"] for item in queued["data"]}
        assert {case(i)["request"]["return_id"] for i in range(3)} <= ids
        decided = case(0)["request"]["return_id"]
        decision = {
            "kind": "inspection",
            "disposition": first.json()["recommended_disposition"]["code"],
            "condition_grade": "USED",
        }
        url = f"/v1/cases/{decided}/decisions"
        assert one.post(url, json=decision, headers=headers("inspector")).status_code == 201
        after = two.get("/v1/queues/inspection", headers=headers("inspector")).json()
        assert decided not in {item["case_id"] for item in after["data"]}
        # an analyst's label recorded through one worker is read through the other
        label = {"abusive": True}
        url = f"/v1/customers/{customer}/labels"
        assert one.post(url, json=label, headers=headers("fraud_analyst")).status_code == 201
        risk = two.get(f"/v1/customers/{customer}/risk", headers=headers()).json()
        assert risk["labelled_abusive"] is True
        flagged = two.get("/v1/customers/flagged?min_level=low", headers=headers("fraud_analyst"))
        assert customer in [c["customer_id"] for c in flagged.json()["data"]]
        seen = history(one)
    with TestClient(create_app(models_settings, model_loader=stub_loader)) as restarted:
        assert history(restarted) == seen
        risk = restarted.get(f"/v1/customers/{customer}/risk", headers=headers()).json()
        assert risk["labelled_abusive"] is True


def test_replay_reads_the_trail_in_pages(
    models_settings: Any, return_case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start replays a trail longer than one page (here pages of 2 records): every return
    and label counts once, in record order (the later label wins)."""
    from model_stubs import stub_loader

    import serving.triage
    from serving.app import create_app

    monkeypatch.setattr(serving.triage, "_SYNC_CHUNK", 2)
    customer = return_case["customer"]["customer_id"]
    url = f"/v1/customers/{customer}/labels"
    with TestClient(create_app(models_settings, model_loader=stub_loader)) as first:
        for i in range(5):
            body = copy.deepcopy(return_case)
            body["request"]["return_id"] += f"-p{i}"
            body["request"]["event_id"] += f"-p{i}"
            assert first.post("/v1/triage", json=body, headers=headers()).status_code == 200
        for abusive in (True, False):
            label = {"abusive": abusive}
            assert first.post(url, json=label, headers=headers("fraud_analyst")).status_code == 201
        seen = first.app.state.service.predictors.customer_history(customer)  # type: ignore[attr-defined]
    with TestClient(create_app(models_settings, model_loader=stub_loader)) as restarted:
        predictors = restarted.app.state.service.predictors  # type: ignore[attr-defined]
        assert predictors.customer_history(customer) == seen
        assert predictors.state_cursor > 0
        risk = restarted.get(f"/v1/customers/{customer}/risk", headers=headers()).json()
        assert risk["labelled_abusive"] is False


def test_single_note_fast_path_answers_what_the_pyfunc_frame_answers() -> None:
    """The service reads one note's probabilities directly; the answer equals the reason
    pyfunc's output frame (code, confidence, top-k alternatives, disagreement)."""
    import numpy as np
    import pandas as pd

    from features.codes import ReasonCode
    from models.pyfunc import reason_frame
    from serving.predictors import _reason_from_proba, _reason_prediction

    classes = [c.value for c in ReasonCode]
    rng = np.random.default_rng(0)
    for i in range(50):
        proba = rng.dirichlet(np.full(len(classes), 0.3))
        picked = ReasonCode(classes[i % len(classes)])
        frame = reason_frame(
            proba[None, :], classes, pd.DataFrame({"customer_reason_code": [picked.value]})
        )
        expected = _reason_prediction(frame, picked)
        got = _reason_from_proba(proba, classes, picked)
        assert (got.code, got.confidence, got.disagrees_with_customer) == (
            expected.code,
            expected.confidence,
            expected.disagrees_with_customer,
        )
        assert got.alternatives == expected.alternatives
        assert got.probabilities == dict(zip(classes, proba.tolist(), strict=True))


def test_cascade_reason_model_says_which_model_answered(
    models_settings: Any, return_case: dict[str, Any]
) -> None:
    """With a cascade as the reason model, the triage answer's reason `reasons` say which of
    its models answered the note (and so the audit record does)."""
    from model_stubs import StubCascadePyfunc, stub_loader

    from serving.app import create_app

    cascade = StubCascadePyfunc()

    def loader(uri: str) -> Any:
        return cascade if uri.split("/")[1] == "reason" else stub_loader(uri)

    with TestClient(create_app(models_settings, model_loader=loader)) as client:
        # the start warmed every part of the model, not only the one a sample note reaches
        assert cascade.estimator.warm_ups == 1
        for note, code, route in (
            ("It arrived broken.", "DEFECTIVE", "first"),
            ("Does not fit me.", "SIZE_FIT", "second"),
        ):
            case = copy.deepcopy(return_case)
            case["request"]["note"] = note
            case["request"]["event_id"] += f"-{route}"
            case["request"]["return_id"] += f"-{route}"
            answer = client.post("/v1/triage", json=case, headers=headers())
            assert answer.status_code == 200, answer.text
            reason = answer.json()["models"]["reason"]
            assert (reason["value"], reason["reasons"]) == (code, [route])
            audit = client.get(
                f"/v1/audit/cases/{case['request']['return_id']}", headers=headers("admin")
            )
            assert route in json.dumps(audit.json())
        # the component endpoint says it too
        notes = {"notes": [{"id": "a", "text": "It arrived broken."}, {"id": "b", "text": "Meh."}]}
        answer = client.post("/v1/components/reason", json=notes, headers=headers()).json()
        assert [n["reasons"] for n in answer["data"]] == [["first"], ["second"]]
