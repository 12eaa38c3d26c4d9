"""Fraud detectors: the base-class contract, calibration, persistence, worded factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.customer_state import CustomerState
from features.fraud import CUSTOMER_FEATURES
from models.fraud import (
    SMALL_BATCH,
    CombinedRiskModel,
    ECODDetector,
    IsolationForestDetector,
    SupervisedDetector,
    features_frame,
    score_inspectors,
)
from models.pyfunc import load_estimator, save_estimator
from training.pipelines.fraud import EXPECTED_FACTORS, SCENARIOS, recall_at_fpr
from training.simulation.cases import iter_cases
from training.simulation.world import World


@pytest.fixture(scope="module")
def fitted(world_20k: World) -> dict[str, object]:
    """A combined model fitted on the 20k world's customers (analyst labels as given)."""
    state = CustomerState.from_world(world_20k)
    ids = state.customer_ids()
    frame = features_frame(state, ids)
    customers = world_20k.customers.set_index("customer_id").reindex(ids)
    labels = pd.to_numeric(customers["analyst_label"], errors="coerce")
    model = CombinedRiskModel(random_state=0).fit(frame, labels, customers["segment"])
    return {"state": state, "frame": frame, "customers": customers, "model": model}


def _blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, 4))
    y = np.zeros(n, dtype=int)
    y[:12] = 1
    X[:12] += 6  # a few far-away rows
    return X, y


@pytest.mark.parametrize("detector", [ECODDetector(directions=[0] * 4), IsolationForestDetector()])
def test_unsupervised_detectors_find_planted_outliers(detector) -> None:  # type: ignore[no-untyped-def]
    X, y = _blobs()
    assert detector.fit(X) is detector
    scores = detector.decision_function(X)
    assert scores[y == 1].min() > np.quantile(scores[y == 0], 0.95)
    proba = detector.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert detector.labels_.sum() == pytest.approx(len(X) * detector.contamination, abs=2)
    assert set(detector.predict(X)) <= {0, 1}


def test_ecod_max_keeps_the_strongest_tail_where_the_sum_rewards_being_high_everywhere() -> None:
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (500, 4))
    X[0] = [0.9, 0.9, 0.9, 0.9]  # somewhat high on every feature
    X[1] = [0.2, 0.3, 5.0, 0.4]  # far out on one
    total = ECODDetector(directions=[1] * 4).fit(X).decision_function(X)
    strongest = ECODDetector(directions=[1] * 4, aggregate="max").fit(X).decision_function(X)
    assert total[0] > total[1]
    assert strongest[1] > strongest[0] and strongest[1] == strongest.max()
    with pytest.raises(ValueError, match="aggregate"):
        ECODDetector(aggregate="mean")


def test_supervised_detector_needs_both_labels_and_ranks_well() -> None:
    X, y = _blobs()
    model = SupervisedDetector(n_estimators=50).fit(X, y)
    assert len(model.oof_scores_) == len(X)
    assert model.decision_function(X)[y == 1].mean() > model.decision_function(X)[y == 0].mean()
    with pytest.raises(ValueError, match="labels"):
        SupervisedDetector().fit(X, None)
    with pytest.raises(ValueError, match="both"):
        SupervisedDetector().fit(X, np.zeros(len(X)))


def test_unfitted_and_bad_input_give_clear_errors() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ECODDetector().predict(np.zeros((2, 3)))
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="missing or infinite"):
        ECODDetector().fit(bad)
    with pytest.raises(ValueError, match="missing feature column"):
        CombinedRiskModel().fit(pd.DataFrame({"x": [1.0]}), pd.Series([1.0]), pd.Series(["A"]))


def test_combined_risk_ranks_abusers_and_is_calibrated(fitted: dict[str, object]) -> None:
    model, frame, customers = fitted["model"], fitted["frame"], fitted["customers"]
    assert isinstance(model, CombinedRiskModel)
    assert isinstance(frame, pd.DataFrame) and isinstance(customers, pd.DataFrame)
    scores = model.detector_scores(frame)
    risk = scores["combined"]
    truth = (customers["abuse_scenario"] != "NONE").to_numpy()
    assert ((risk >= 0) & (risk <= 1)).all()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(truth, risk) > 0.95
    for name in ("ecod", "iforest"):  # unsupervised detectors find abuse without any label
        assert roc_auc_score(truth, scores[name]) > 0.75, name
    # calibrated to the abuse prevalence: mean risk near the true abuse rate
    assert abs(risk.mean() - truth.mean()) < 0.03
    assert model.risk_level(0.9) == "high" and model.risk_level(0.1) == "low"


def test_every_alert_has_a_factor_naming_its_planted_pattern(fitted: dict[str, object]) -> None:
    model, frame, customers = fitted["model"], fitted["frame"], fitted["customers"]
    state = fitted["state"]
    assert isinstance(model, CombinedRiskModel) and isinstance(state, CustomerState)
    assert isinstance(frame, pd.DataFrame) and isinstance(customers, pd.DataFrame)
    scenario = customers["abuse_scenario"].to_numpy()
    risk = model.detector_scores(frame)["combined"]
    threshold, _ = recall_at_fpr(risk, scenario)
    alerted = [c for c, r in zip(frame.index, risk, strict=True) if r > threshold]
    scores = {s.customer_id: s for s in model.score_customers(state, alerted)}
    assert all(scores[c].factors for c in alerted)
    for name in SCENARIOS:
        hits = [c for c in alerted if customers.at[c, "abuse_scenario"] == name]
        assert hits, f"no {name} customer alerted"
        matched = [c for c in hits if set(scores[c].factor_features) & set(EXPECTED_FACTORS[name])]
        assert len(matched) / len(hits) >= 0.8, (name, [scores[c].factors for c in hits[:3]])


def test_score_case_does_not_mutate_state_and_save_load_round_trips(
    fitted: dict[str, object], world_20k: World, tmp_path: Path
) -> None:
    model, state = fitted["model"], fitted["state"]
    assert isinstance(model, CombinedRiskModel) and isinstance(state, CustomerState)
    case, _ = next(iter_cases(world_20k, limit=1))
    before = state.snapshot(case.customer.customer_id)
    score = model.score_case(case, state)
    assert state.snapshot(case.customer.customer_id) == pytest.approx(before, nan_ok=True)
    assert 0 <= score.risk_score <= 1 and score.factors
    assert "event_value_vs_sku" in score.detector_scores
    loaded = load_estimator(save_estimator(model, tmp_path / "fraud"))
    frame = fitted["frame"]
    assert isinstance(frame, pd.DataFrame)
    head = frame.head(50)
    np.testing.assert_allclose(
        loaded.detector_scores(head)["combined"], model.detector_scores(head)["combined"]
    )
    assert list(frame.columns) == list(CUSTOMER_FEATURES)


def test_insider_inspector_ranks_first(fitted: dict[str, object], world_20k: World) -> None:
    state = fitted["state"]
    assert isinstance(state, CustomerState)
    ranking = score_inspectors(state)
    insider = world_20k.inspectors.loc[world_20k.inspectors["is_insider"], "inspector_id"].iloc[0]
    assert ranking["inspector_id"].iloc[0] == insider
    assert ranking["concentrated_customers"].iloc[0] >= 1
    # the threshold grows with the customers tested: fewer chance concentrations elsewhere
    fixed = score_inspectors(state, min_concentration=3.0)
    others = ranking[ranking["inspector_id"] != insider]["concentrated_customers"].sum()
    assert others < fixed[fixed["inspector_id"] != insider]["concentrated_customers"].sum()


def test_isolation_forest_fast_path_equals_sklearn() -> None:
    X, _ = _blobs()
    detector = IsolationForestDetector(n_estimators=30).fit(X)
    expected = -detector.forest_.score_samples(X)
    assert len(X) > SMALL_BATCH  # one call per tree
    np.testing.assert_allclose(detector.decision_function(X), expected, rtol=1e-12)
    # serving sizes walk all the trees at once: the same scores, row by row and in a batch
    np.testing.assert_allclose(detector.decision_function(X[:100]), expected[:100], rtol=1e-12)
    for i in (0, 5, 50, 399):
        np.testing.assert_allclose(detector.decision_function(X[i : i + 1]), expected[i : i + 1])
    ties = np.round(X[:64], 1)  # values on split thresholds go left, as in sklearn
    np.testing.assert_allclose(
        detector.decision_function(ties), -detector.forest_.score_samples(ties), rtol=1e-12
    )
    # a refit (other forest size and sample) drops the fast path's cached trees and constants
    detector.set_params(n_estimators=12, max_samples=64).fit(X[:300])
    np.testing.assert_allclose(
        detector.decision_function(X[:50]), -detector.forest_.score_samples(X[:50]), rtol=1e-12
    )


def test_score_case_for_an_unknown_customer_leaves_the_state_alone(
    fitted: dict[str, object], world_20k: World
) -> None:
    model, state = fitted["model"], fitted["state"]
    assert isinstance(model, CombinedRiskModel) and isinstance(state, CustomerState)
    case, _ = next(iter_cases(world_20k, limit=1))
    new = "NEW-CUSTOMER-1"
    case = case.model_copy(
        update={
            "customer": case.customer.model_copy(update={"customer_id": new}),
            "request": case.request.model_copy(update={"customer_id": new}),
            "order_line": case.order_line.model_copy(update={"customer_id": new}),
        }
    )
    sizes = (len(state.customers), len(state.profiles), len(state.token_owners), len(state.parent))
    score = model.score_case(case, state)
    assert score.customer_id == new and 0 <= score.risk_score <= 1
    # it shares the existing customer's tokens, so it is linked to that account
    assert case.customer.customer_id not in score.linked_accounts
    assert world_20k.returns["customer_id"].iloc[0] in score.linked_accounts
    assert new not in state
    after = (len(state.customers), len(state.profiles), len(state.token_owners), len(state.parent))
    assert after == sizes
    assert new not in state.linked_accounts(str(world_20k.returns["customer_id"].iloc[0]))


def test_combined_risk_is_the_stackers_own_probability(fitted: dict[str, object]) -> None:
    model = fitted["model"]
    assert isinstance(model, CombinedRiskModel)
    frame = fitted["frame"]
    assert isinstance(frame, pd.DataFrame)
    head = frame.head(200)
    matrix = head.to_numpy(float)
    ranks = {
        "ecod": model.ecod_.predict_proba(matrix)[:, 1],
        "iforest": model.iforest_.predict_proba(matrix)[:, 1],
    }
    stack = model._stack_from(ranks, model.supervised_.decision_function(matrix))
    np.testing.assert_allclose(
        model.detector_scores(head)["combined"],
        model.stacker_.predict_proba(stack)[:, 1],
        rtol=1e-9,
    )
