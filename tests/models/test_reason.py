"""Reason-text classifiers: contract, metric floors, behaviour (invariance, directional,
minimum functionality), empty notes, persistence, and the real dev labels when present."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import f1_score

from features.codes import ReasonCode
from models.metrics import expected_calibration_error
from models.reason import (
    CLASSES,
    CascadeReasonClassifier,
    MiniLMReasonClassifier,
    TfidfReasonClassifier,
    _mean_state,
    clean_note,
    split_sentences,
    training_device,
)
from training.real_text import (
    evaluate_on_dev,
    load_annotated_labels,
    load_reason_dev_labels,
    load_synthetic_labels,
    load_weak_labels,
    normalise_text,
    real_weak_labels,
    reason_training_data,
    rule_reason_code,
    simulated_reason_notes,
    weak_holdout_mask,
)
from training.simulation.config import WorldConfig
from training.simulation.world import build_world

R = ReasonCode

# minimum functionality: clear sentences of our own, three per code (not from any dataset)
MFT: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: (
        "The box arrived crushed and the glass panel inside was shattered.",
        "Delivered with a big dent in the housing, the carton was torn open by the courier.",
        "The bottle was leaking all over the package when the carrier dropped it off.",
    ),
    R.DEFECTIVE: (
        "It will not turn on at all, dead on arrival.",
        "Worked for two days and then stopped working completely.",
        "The motor keeps cutting out and the unit malfunctions constantly.",
    ),
    R.WRONG_ITEM: (
        "You sent the wrong part number, I ordered a different model.",
        "I ordered the blue one and received a red one instead.",
        "Wrong item shipped, this is not what is on my order.",
    ),
    R.NOT_AS_DESCRIBED: (
        "The listing says stainless steel but this is painted plastic.",
        "Looks nothing like the photos on the website.",
        "The description promised a backlit display, this one has none.",
    ),
    R.SIZE_FIT: (
        "Way too small, I need a larger size.",
        "The dress runs big, it is loose everywhere.",
        "The shoes are too tight and pinch my toes.",
    ),
    R.INCOMPATIBLE: (
        "This charger is not compatible with my laptop.",
        "The valve does not fit our existing pipe system, wrong thread for our machine.",
        "The software will not run on our platform.",
    ),
    R.QUALITY: (
        "The stitching came apart and the material feels cheap and flimsy.",
        "Poor quality, the fabric pilled after one wash.",
        "Badly made, the plastic clips feel cheap and thin.",
    ),
    R.MISSING_PARTS: (
        "The box was missing the power cable and the manual.",
        "Screws and mounting brackets were not included.",
        "Only two of the four legs were in the package.",
    ),
    R.NO_LONGER_NEEDED: (
        "I ordered this by mistake and no longer need it.",
        "Changed my mind, please take it back.",
        "We placed a duplicate order, returning the extra one unopened.",
    ),
    R.LATE_DELIVERY: (
        "It arrived two weeks late, after our event was over.",
        "The delivery took far too long, we had to buy one elsewhere.",
        "Shipment came after the deadline we needed it for.",
    ),
    R.EXPIRED: (
        "The product was already expired when it arrived.",
        "The use-by date is next week, far too close to expiry.",
        "These supplies are past their expiration date.",
    ),
    R.OTHER: (
        "Returning for a reason not listed here.",
        "Other reason, see attached form.",
        "Please process this return, reason other.",
    ),
}


@pytest.fixture(scope="module")
def notes(world_config: WorldConfig) -> pd.DataFrame:
    return simulated_reason_notes(build_world(4_000, 0, 3, world_config).returns)


@pytest.fixture(scope="module")
def split(notes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(notes) * 0.8)  # a later period is held out
    return notes.iloc[:cut], notes.iloc[cut:]


@pytest.fixture(scope="module")
def tfidf(split: tuple[pd.DataFrame, pd.DataFrame]) -> TfidfReasonClassifier:
    train, _ = split
    texts, codes, weights = reason_training_data(train)
    return TfidfReasonClassifier().fit(texts, codes, sample_weight=weights)


@pytest.fixture(scope="module")
def minilm(split: tuple[pd.DataFrame, pd.DataFrame]) -> MiniLMReasonClassifier:
    """Frozen-encoder variant (fast to fit); the fine-tuned one is checked in a slow test."""
    train, _ = split
    texts, codes, weights = reason_training_data(train)
    model = MiniLMReasonClassifier(fine_tune=False, max_train_texts=1_500, C=10.0)
    return model.fit(texts, codes, sample_weight=weights)


@pytest.fixture(scope="module")
def pooled(split: tuple[pd.DataFrame, pd.DataFrame]) -> MiniLMReasonClassifier:
    """Frozen-encoder variant whose head also reads the maximum over the note's sentences."""
    train, _ = split
    texts, codes, weights = reason_training_data(train)
    model = MiniLMReasonClassifier(
        fine_tune=False, max_train_texts=1_000, C=10.0, sentence_pooling=True
    )
    return model.fit(texts, codes, sample_weight=weights)


def _macro_f1(model: MiniLMReasonClassifier | TfidfReasonClassifier, data: pd.DataFrame) -> float:
    return float(f1_score(data["code"], model.predict(list(data["text"])), average="macro"))


# -- contract ------------------------------------------------------------------------------


def test_init_only_stores_params() -> None:
    model = MiniLMReasonClassifier(epochs=2.0, random_state=5)
    assert model.get_params()["epochs"] == 2.0
    assert not [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    assert clone(model).get_params() == model.get_params()


def test_classes_are_the_contract(
    tfidf: TfidfReasonClassifier, minilm: MiniLMReasonClassifier
) -> None:
    for model in (tfidf, minilm):
        assert list(model.classes_) == [c.value for c in ReasonCode]
        proba = model.predict_proba(["the item stopped working"])
        assert proba.shape == (1, len(CLASSES))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        top = model.top_k(["the item stopped working"], k=3)[0]
        assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]


def test_rejects_unknown_codes() -> None:
    with pytest.raises(ValueError, match="unknown reason codes"):
        TfidfReasonClassifier().fit(["a", "b", "c"], ["DEFECTIVE", "BROKEN", "OTHER"])


def test_clean_note_masks_identifiers() -> None:
    assert clean_note("PO 4580856801, line 6,  SN 67BUPAKNJD9") == "PO #, line 6, SN #"
    assert clean_note("used it for 12 days &#34;ok&#34;") == 'used it for 12 days "ok"'
    assert clean_note(None) == ""


def test_split_sentences() -> None:
    assert split_sentences("Too small. Sending it back!  Sorry?") == [
        "Too small.",
        "Sending it back!",
        "Sorry?",
    ]
    assert split_sentences("line one\nline two\r\n\r\n...") == ["line one", "line two"]
    assert split_sentences("v2.5 is broken") == ["v2.5 is broken"]
    assert split_sentences("") == [""]
    assert len(split_sentences("x. " * 100, max_sentences=12)) == 12


def test_sentence_pooling_features(pooled: MiniLMReasonClassifier) -> None:
    single, several = "It stopped working.", "We love the shop. It stopped working. Thanks!"
    features = pooled._features([single, several])
    assert features.shape == (2, 768)
    # one sentence: the sentence maximum is the note's own embedding
    np.testing.assert_allclose(features[0, :384], features[0, 384:])
    sentences = pooled.encoder_.encode(split_sentences(several))
    np.testing.assert_allclose(features[1, 384:], sentences.max(axis=0), atol=1e-6)


@pytest.mark.parametrize("spans", [False, True], ids=["separate-passes", "spans-of-one-pass"])
def test_fine_tuning_with_sentence_pooling_learns(spans: bool) -> None:
    """A few steps of joint fine-tuning through the sentence maximum fit separable notes,
    whether sentences are encoded alone or pooled from the note's own pass."""
    texts = [
        "Nice shop. It stopped working after a day. Thanks.",
        "Dead on arrival, will not turn on.",
        "Great seller. The dress is far too small for me.",
        "Runs small, I need a bigger size.",
    ] * 8
    codes = ["DEFECTIVE", "DEFECTIVE", "SIZE_FIT", "SIZE_FIT"] * 8
    model = MiniLMReasonClassifier(
        epochs=4.0,
        batch_size=8,
        sentence_pooling=True,
        sentence_spans=spans,
        validation_fraction=0.0,
        quantize=False,
    )
    model.fit(texts, codes)
    assert model.encoder_.sentence_spans == (12 if spans else 0)
    assert model.head_weight_.shape == (len(CLASSES), 768)
    predicted = model.predict(["Lovely packaging. Sadly it broke and died.", "It is too tight."])
    assert list(predicted) == ["DEFECTIVE", "SIZE_FIT"]


SEPARABLE_TEXTS = [
    "It stopped working after a day.",
    "Dead on arrival, will not turn on.",
    "The dress is far too small for me.",
    "Runs small, I need a bigger size.",
] * 8
SEPARABLE_CODES = ["DEFECTIVE", "DEFECTIVE", "SIZE_FIT", "SIZE_FIT"] * 8


def test_soup_averages_the_members_weights() -> None:
    """A soup of two members (same start, another seed for the second) is not the first
    member alone, and the mean of their weights still separates the codes."""

    def fitted(soup_size: int, random_state: int) -> MiniLMReasonClassifier:
        model = MiniLMReasonClassifier(
            epochs=4.0,
            batch_size=8,
            validation_fraction=0.0,
            quantize=False,
            num_layers=2,
            soup_size=soup_size,
            random_state=random_state,
        )
        return model.fit(SEPARABLE_TEXTS, SEPARABLE_CODES)

    single = fitted(1, 0)
    soup = fitted(2, 0)
    assert soup.head_weight_.shape == single.head_weight_.shape
    assert not np.allclose(soup.head_weight_, single.head_weight_)
    for model in (single, soup):
        assert list(model.predict(["It broke and died.", "It is too tight."])) == [
            "DEFECTIVE",
            "SIZE_FIT",
        ]


def test_mean_state_averages_floats_and_keeps_integer_buffers() -> None:
    import torch

    states = [
        {"w": torch.tensor([1.0, 3.0]), "ids": torch.tensor([0, 1])},
        {"w": torch.tensor([3.0, 5.0]), "ids": torch.tensor([0, 1])},
    ]
    mean = _mean_state(states)
    assert mean["w"].tolist() == [2.0, 4.0]
    assert mean["ids"].dtype == torch.int64
    assert mean["ids"].tolist() == [0, 1]


def test_training_device_choices() -> None:
    import torch

    assert training_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert training_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            training_device("cuda")
    with pytest.raises(ValueError, match="device"):
        training_device("tpu")


@pytest.mark.parametrize("kind", ["tfidf", "frozen-minilm"])
def test_models_trained_on_two_codes_score_both(kind: str) -> None:
    """With two codes in the training notes sklearn gives one score per note; both codes
    still get their probability (they sum to one) and unseen codes get none."""
    model = (
        TfidfReasonClassifier(validation_fraction=0.0)
        if kind == "tfidf"
        else MiniLMReasonClassifier(fine_tune=False, validation_fraction=0.0, num_layers=2)
    )
    model.fit(SEPARABLE_TEXTS, SEPARABLE_CODES)
    notes = ["It will not turn on, dead.", "Too small, runs small."]
    proba = model.predict_proba(notes)
    assert np.allclose(proba.sum(axis=1), 1.0)
    columns = [CLASSES.index("DEFECTIVE"), CLASSES.index("SIZE_FIT")]
    assert proba[:, columns].sum(axis=1).min() > 0.999
    assert list(model.predict(notes)) == ["DEFECTIVE", "SIZE_FIT"]


def test_tfidf_scores_equal_the_sklearn_pipeline(
    tfidf: TfidfReasonClassifier, split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """The direct path (union parts stacked, one matrix product) gives exactly the scores of
    FeatureUnion.transform + LogisticRegression.decision_function."""
    _, later = split
    texts = [clean_note(t) for t in later["text"].head(100)]
    expected = tfidf.logistic_.decision_function(tfidf.vectorizer_.transform(texts))
    got = tfidf._logits(texts)[:, tfidf.logistic_.classes_]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    single = tfidf._logits(texts[:1])[:, tfidf.logistic_.classes_]
    np.testing.assert_allclose(single, expected[:1], rtol=0, atol=1e-12)


# -- metric floors on a later period -------------------------------------------------------


def test_simulated_later_period_floors(
    tfidf: TfidfReasonClassifier,
    minilm: MiniLMReasonClassifier,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, later = split
    assert _macro_f1(tfidf, later) >= 0.80
    assert _macro_f1(minilm, later) >= 0.60
    proba = minilm.predict_proba(list(later["text"]))
    # a small frozen-encoder model: 0.080 once each note is scored alone (per_text; batched int8
    # activations gave just under 0.08). The production floor, 0.05, is the full run's gate.
    assert expected_calibration_error(later["code"], proba, minilm.classes_) <= 0.09


# -- empty notes ---------------------------------------------------------------------------


def test_empty_notes_get_a_low_confidence_prior(
    tfidf: TfidfReasonClassifier, minilm: MiniLMReasonClassifier
) -> None:
    for model in (tfidf, minilm):
        proba = model.predict_proba(["", "   \n", "the box arrived crushed"])
        np.testing.assert_allclose(proba[0], model.prior_)
        np.testing.assert_allclose(proba[1], model.prior_)
        assert proba[0].max() < 0.3
        assert proba[0].min() > 0.0
        assert model.predict(["the box arrived crushed"])[0] == R.DAMAGED_IN_TRANSIT


# -- behaviour -----------------------------------------------------------------------------

INVARIANCE_PAIRS = [
    (
        "Stopped working after 3 days. Order 4471123, thanks Maria",
        "Stopped working after 3 days. Order W-99017342, thanks Dmitri",
    ),
    (
        "The jacket is way too small for me, need a bigger size",
        "The jacket is way too smal for me, need a biger size",
    ),
    (
        "WRONG PART SHIPPED, ORDERED A DIFFERENT MODEL",
        "wrong part shipped, ordered a different model",
    ),
    (
        "Missing the power cable. Regards, John Smith",
        "Missing the power cable. Regards, Aisha Okafor",
    ),
]


@pytest.mark.parametrize("left,right", INVARIANCE_PAIRS)
def test_invariance(minilm: MiniLMReasonClassifier, left: str, right: str) -> None:
    assert minilm.predict([left])[0] == minilm.predict([right])[0]


def test_casing_and_identifiers_change_nothing(minilm: MiniLMReasonClassifier) -> None:
    proba = minilm.predict_proba(
        [
            "It does not work with my printer. PO 1234567",
            "IT DOES NOT WORK WITH MY PRINTER. PO 7654321",
        ]
    )
    np.testing.assert_allclose(proba[0], proba[1], atol=1e-6)


@pytest.mark.parametrize(
    "base",
    [
        "I would like to return this lamp.",
        "Returning the headset, please refund.",
        "The color is a bit darker than I expected.",
    ],
)
def test_directional_damage(minilm: MiniLMReasonClassifier, base: str) -> None:
    damaged = R.DAMAGED_IN_TRANSIT.value
    column = list(minilm.classes_).index(damaged)
    before, after = minilm.predict_proba([base, base + " It arrived smashed."])[:, column]
    assert after > before + 0.1


NEUTRAL = (
    "I bought this as a present for my sister.",
    "We have shopped here for years and always recommend it to friends.",
)


@pytest.mark.parametrize(
    "note",
    [
        "The jacket is way too small for me, need a bigger size.",
        "Stopped working after 3 days.",
        "This charger is not compatible with my laptop.",
    ],
)
def test_reason_buried_among_neutral_sentences_keeps_its_code(
    minilm: MiniLMReasonClassifier, note: str
) -> None:
    buried = f"{NEUTRAL[0]} {note} {NEUTRAL[1]}"
    assert minilm.predict([buried])[0] == minilm.predict([note])[0]


def test_sentence_pooling_round_trip(tmp_path: Path, pooled: MiniLMReasonClassifier) -> None:
    texts = ["Nice shop. Arrived dented. Thanks", "too tight", ""]
    loaded = MiniLMReasonClassifier.load(pooled.save(tmp_path / "pooled"))
    assert loaded.sentence_pooling and loaded.head_weight_.shape[1] == 768
    np.testing.assert_allclose(loaded.predict_proba(texts), pooled.predict_proba(texts), atol=1e-6)


def test_span_pooling_round_trip(tmp_path: Path) -> None:
    texts = ["Nice shop. Arrived dented. Thanks", "too tight", "Love it. Stopped working.", ""]
    codes = ["DAMAGED_IN_TRANSIT", "SIZE_FIT", "DEFECTIVE", "DEFECTIVE"] * 3
    model = MiniLMReasonClassifier(
        fine_tune=False, sentence_pooling=True, sentence_spans=True, validation_fraction=0.0
    ).fit(texts * 3, codes)
    features = model._features(texts[:2])
    assert features.shape == (2, 768)  # one pass: the encoder pools the sentences itself
    np.testing.assert_allclose(features[1, :384], features[1, 384:])  # one sentence
    model.encoder_.clear_cache()  # int8 activations are quantised per batch: same batches below
    loaded = MiniLMReasonClassifier.load(model.save(tmp_path / "spans"))
    assert loaded.sentence_spans and loaded.encoder_.sentence_spans == 12
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_minimum_functionality(
    tfidf: TfidfReasonClassifier, minilm: MiniLMReasonClassifier
) -> None:
    texts = [t for sentences in MFT.values() for t in sentences]
    truth = [code.value for code, sentences in MFT.items() for _ in sentences]
    for model, floor in ((minilm, 0.6), (tfidf, 0.5)):
        accuracy = float(np.mean(model.predict(texts) == np.array(truth)))
        assert accuracy >= floor, f"{type(model).__name__}: {accuracy:.2f}"


# -- persistence ---------------------------------------------------------------------------


def test_save_load_round_trip(
    tmp_path: Path, tfidf: TfidfReasonClassifier, minilm: MiniLMReasonClassifier
) -> None:
    texts = ["", "arrived dented", "too tight in the shoulders", "STOPPED WORKING"]
    for model in (tfidf, minilm):
        folder = model.save(tmp_path / type(model).__name__)
        loaded = type(model).load(folder)
        np.testing.assert_allclose(
            loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6
        )
    saved = {p.name for p in (tmp_path / "MiniLMReasonClassifier").iterdir()}
    assert {"encoder.onnx", "head.npz", "params.json", "tokenizer.json"} <= saved


# -- cascade -------------------------------------------------------------------------------


def test_cascade_keeps_confident_tfidf_answers_and_sends_the_rest_on(
    tfidf: TfidfReasonClassifier,
    minilm: MiniLMReasonClassifier,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, later = split
    texts = [*later["text"].head(200), "", "arrived dented"]
    cascade = CascadeReasonClassifier(tfidf, minilm, confident=0.98)
    first = tfidf.predict_proba(texts)
    second = minilm.predict_proba(texts)
    sure = first.max(axis=1) >= 0.98
    assert 0 < sure.sum() < len(texts)  # both paths are exercised
    proba = cascade.predict_proba(texts)
    np.testing.assert_allclose(proba[sure], first[sure])
    np.testing.assert_allclose(proba[~sure], second[~sure], atol=1e-6)
    assert np.array_equal(cascade.answered_by_first(texts), sure)
    routed, first_confidence = cascade.predict_with_route(texts)
    np.testing.assert_allclose(routed, proba)
    np.testing.assert_allclose(first_confidence, first.max(axis=1))
    sure_note = int(np.flatnonzero(sure)[0])
    unsure_note = int(np.flatnonzero(~sure)[0])
    assert "TF-IDF model (sure" in cascade.route_reason(float(first_confidence[sure_note]))
    assert "MiniLM transformer" in cascade.route_reason(float(first_confidence[unsure_note]))
    assert list(cascade.classes_) == list(CLASSES)
    top = cascade.top_k(texts[:3], k=3)
    assert [row[0][0] for row in top] == list(cascade.predict(texts[:3]))
    # a cascade that is never sure is the transformer alone
    never = CascadeReasonClassifier(tfidf, minilm, confident=1.0)
    never_sure = first.max(axis=1) >= 1.0
    np.testing.assert_allclose(never.predict_proba(texts)[~never_sure], second[~never_sure])


def test_cascade_blends_the_two_models_on_the_notes_tfidf_is_unsure_of(
    tfidf: TfidfReasonClassifier,
    minilm: MiniLMReasonClassifier,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, later = split
    texts = [*later["text"].head(200), "", "arrived dented"]
    first, second = tfidf.predict_proba(texts), minilm.predict_proba(texts)
    sure = first.max(axis=1) >= 0.98
    cascade = CascadeReasonClassifier(tfidf, minilm, confident=0.98, second_weight=0.3)
    proba, first_confidence = cascade.predict_with_route(texts)
    np.testing.assert_allclose(proba[sure], first[sure])
    np.testing.assert_allclose(proba[~sure], 0.3 * second[~sure] + 0.7 * first[~sure], atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    unsure_note = int(np.flatnonzero(~sure)[0])
    reason = cascade.route_reason(float(first_confidence[unsure_note]))
    assert "MiniLM transformer and the TF-IDF model together" in reason
    assert "0.30 / 0.70" in reason
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="second_weight"):
            CascadeReasonClassifier(tfidf, minilm, second_weight=bad)


def test_cascade_is_no_worse_than_the_transformer_on_a_later_period(
    tfidf: TfidfReasonClassifier,
    minilm: MiniLMReasonClassifier,
    split: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, later = split
    cascade = CascadeReasonClassifier(tfidf, minilm)
    assert _macro_f1(cascade, later) >= _macro_f1(minilm, later) - 0.01
    proba = cascade.predict_proba(list(later["text"]))
    assert expected_calibration_error(later["code"], proba, cascade.classes_) <= 0.08


def test_cascade_warm_up_runs_both_models(
    tfidf: TfidfReasonClassifier, minilm: MiniLMReasonClassifier
) -> None:
    """A note the TF-IDF model is sure of never reaches MiniLM, so warming the cascade with
    one note could leave the transformer cold; `warm_up` runs each model itself."""
    cascade = CascadeReasonClassifier(tfidf, minilm)
    with (
        mock.patch.object(tfidf, "predict_proba", wraps=tfidf.predict_proba) as first,
        mock.patch.object(minilm, "predict_proba", wraps=minilm.predict_proba) as second,
    ):
        cascade.warm_up()
    assert first.call_count == 1
    assert second.call_count == 1


def test_cascade_round_trip_and_bad_threshold(
    tmp_path: Path, tfidf: TfidfReasonClassifier, minilm: MiniLMReasonClassifier
) -> None:
    texts = ["", "arrived dented", "too tight in the shoulders", "STOPPED WORKING"]
    cascade = CascadeReasonClassifier(tfidf, minilm, confident=0.9, second_weight=0.5)
    loaded = CascadeReasonClassifier.load(cascade.save(tmp_path / "cascade"))
    assert (loaded.confident, loaded.second_weight) == (0.9, 0.5)
    np.testing.assert_allclose(loaded.predict_proba(texts), cascade.predict_proba(texts), atol=1e-6)
    with pytest.raises(ValueError, match="holds a minilm model"):
        CascadeReasonClassifier.load(tmp_path / "cascade" / "second")
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="confident"):
            CascadeReasonClassifier(tfidf, minilm, confident=bad)
    # a cascade saved before the blend existed reads back as MiniLM alone on unsure notes
    params = tmp_path / "cascade" / "params.json"
    meta = json.loads(params.read_text())
    del meta["second_weight"]
    params.write_text(json.dumps(meta))
    assert CascadeReasonClassifier.load(tmp_path / "cascade").second_weight == 1.0


def test_pickle_round_trip(minilm: MiniLMReasonClassifier) -> None:
    texts = ["the box was crushed", "changed my mind"]
    clone_ = pickle.loads(pickle.dumps(minilm))
    np.testing.assert_allclose(clone_.predict_proba(texts), minilm.predict_proba(texts), atol=1e-6)


def test_a_notes_code_does_not_depend_on_the_notes_batched_with_it(
    minilm: MiniLMReasonClassifier,
) -> None:
    notes = [
        "ok",
        "The jacket runs small, I had to send it back.",
        "It stopped working after two days and will not power on at all, even after a reset.",
    ]
    encoder = minilm.encoder_
    encoder.clear_cache()
    alone = np.vstack([minilm.predict_proba([note]) for note in notes])
    encoder.clear_cache()
    np.testing.assert_allclose(minilm.predict_proba(notes), alone, atol=1e-5)
    encoder.clear_cache()


def test_cache_answers_repeated_notes(minilm: MiniLMReasonClassifier) -> None:
    encoder = minilm.encoder_
    note = "The blender arrived with a cracked jug."
    minilm.predict([note])
    hits = encoder.cache_hits
    minilm.predict([note])
    assert encoder.cache_hits == hits + 1


# -- weak labelling functions (sentences of our own, not from any dataset) -----------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Stopped working after two weeks, will not even turn on now.", "DEFECTIVE"),
        ("The charger doesn't charge at all.", "DEFECTIVE"),
        ("Sound quality is terrible and it feels flimsy.", "QUALITY"),
        ("Runs very small, I had to size up twice.", "SIZE_FIT"),
        ("Did not work with my phone at all, not compatible.", "INCOMPATIBLE"),
        ("Looks nothing like the picture, colour was totally different.", "NOT_AS_DESCRIBED"),
        ("Changed my mind, returning it.", "NO_LONGER_NEEDED"),
        ("I am just not happy with it.", ""),  # no evidence: no label
    ],
)
def test_rule_reason_code(text: str, code: str) -> None:
    assert rule_reason_code(text) == code


def test_rule_reason_code_drops_ties() -> None:
    # one size pattern and one quality pattern: ambiguous, so no weak label
    assert rule_reason_code("Runs small and the fabric is itchy.") == ""


def test_weak_holdout_mask_is_stable_and_sized() -> None:
    texts = [f"complaint number {i} about the thing" for i in range(4_000)]
    mask = weak_holdout_mask(texts, 0.25)
    assert 0.22 < mask.mean() < 0.28
    # the same review, differently cased or spaced, lands on the same side
    again = weak_holdout_mask([t.upper() + "  " for t in texts], 0.25)
    assert (mask == again).all()
    assert not weak_holdout_mask(texts, 0.0).any()


# -- real data -----------------------------------------------------------------------------


def test_dev_labels_and_weak_labels_do_not_overlap(datasets_dir: Path) -> None:
    dev = load_reason_dev_labels(datasets_dir)
    assert len(dev) == 119
    assert dev["code"].value_counts().to_dict() == {
        "QUALITY": 39,
        "SIZE_FIT": 34,
        "DEFECTIVE": 28,
        "NOT_AS_DESCRIBED": 7,
        "INCOMPATIBLE": 6,
        "NO_LONGER_NEEDED": 5,
    }
    assert (dev["text"].str.len() > 0).all()
    weak = load_weak_labels(datasets_dir, dev["text"])
    assert set(weak["code"]) == {"SIZE_FIT", "QUALITY"}
    dev_norm = [normalise_text(t) for t in dev["text"]]
    long_dev = [d for d in dev_norm if len(d) >= 30]  # a short sentence may occur in any review
    for text in weak["text"].map(normalise_text):
        assert text not in dev_norm
        assert not any(text in d or d in text for d in long_dev)
    # without exclusion some dev reviews are in the aspect files: the exclusion is doing work
    assert len(load_weak_labels(datasets_dir, [])) > len(weak)


def test_evaluate_on_dev(datasets_dir: Path, minilm: MiniLMReasonClassifier) -> None:
    result = evaluate_on_dev(minilm, datasets_dir)
    assert result["n"] == 119
    assert len(result["labels"]) == 6
    assert set(result["per_source"]) == {
        "amazon_alexa",
        "amazon_cells_labelled",
        "womens_clothing_reviews",
    }
    assert result["accuracy"] >= 0.45


def test_real_weak_labels_cover_electronics_and_exclude_dev(datasets_dir: Path) -> None:
    dev = load_reason_dev_labels(datasets_dir)
    weak = real_weak_labels(datasets_dir, dev["text"])
    assert set(weak["source"]) == set(dev["source"])
    electronics = weak[weak["source"] != "womens_clothing_reviews"]
    assert {"DEFECTIVE", "QUALITY"} <= set(electronics["code"])
    assert not ((weak["source"] == "womens_clothing_reviews") & (weak["code"] == "DEFECTIVE")).any()
    assert weak["text"].map(normalise_text).is_unique
    dev_norm = set(dev["text"].map(normalise_text))
    assert not weak["text"].map(normalise_text).isin(dev_norm).any()
    aspects_only = real_weak_labels(datasets_dir, dev["text"], use_rules=False)
    assert len(weak) > len(aspects_only)


def test_annotated_labels_are_real_complaints_apart_from_dev(datasets_dir: Path) -> None:
    dev = load_reason_dev_labels(datasets_dir)
    annotated = load_annotated_labels(datasets_dir, dev["text"])
    # drawn without the dev reviews: the dev exclusion finds nothing to drop
    assert len(annotated) == len(load_annotated_labels(datasets_dir, []))
    assert len(annotated) >= 400
    assert set(annotated["source"]) == set(dev["source"])
    # the codes weak rules hardly ever give are there, and in real complaint language
    counts = annotated["code"].value_counts()
    for code in ("NOT_AS_DESCRIBED", "NO_LONGER_NEEDED", "INCOMPATIBLE"):
        assert counts.get(code, 0) >= 10, code
    norm = annotated["text"].map(normalise_text)
    assert norm.is_unique
    dev_norm = set(dev["text"].map(normalise_text))
    long_dev = [d for d in dev_norm if len(d) >= 30]  # a short sentence may occur in any review
    for text in norm:
        assert text not in dev_norm
        if len(text) >= 30:
            assert not any(text in d or d in text for d in long_dev)
    # the exclusion works on these labels as on the weak ones
    fewer = load_annotated_labels(datasets_dir, annotated["text"].head(5))
    assert len(fewer) == len(annotated) - 5


def test_annotator_answers_agree_with_the_kept_labels() -> None:
    """Every kept label from a batch with both answers recorded is a code both annotators gave;
    batch 4, not trained on (training/labels/README.md), adds nothing to the kept labels."""
    labels = Path(__file__).resolve().parents[2] / "training" / "labels"

    def rows(name: str) -> list[dict[str, object]]:
        return [json.loads(line) for line in (labels / name).read_text().splitlines() if line]

    kept = {(r["source"], r["row"]): r["code"] for r in rows("reason_annotated.jsonl")}
    assert len(kept) == len(rows("reason_annotated.jsonl"))  # one code a review row
    batch3 = {(r["source"], r["row"]): r for r in rows("batch3_answers.jsonl")}
    batch4 = {(r["source"], r["row"]): r for r in rows("batch4_answers.jsonl")}
    assert not set(batch3) & set(batch4)
    from_batch3 = set(kept) & set(batch3)
    assert len(from_batch3) >= 400
    for key in from_batch3:
        assert kept[key] == batch3[key]["a"] == batch3[key]["b"] != "NONE", key
    assert not set(kept) & set(batch4)
    codes = {c.value for c in ReasonCode} | {"NONE"}
    for answer in [*batch3.values(), *batch4.values()]:
        assert {answer["a"], answer["b"]} <= codes, answer


def test_synthetic_complaints_keep_only_three_way_agreement(datasets_dir: Path) -> None:
    """A synthetic complaint trains only where its writer and both blind annotators gave the
    same code (not NONE); none repeats a dev text, and the exclusion drops what it names."""
    path = Path(__file__).resolve().parents[2] / "training" / "labels" / "reason_synthetic.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    agreed = {r["text"]: r["a"] for r in rows if r["intended"] == r["a"] == r["b"] != "NONE"}
    assert len(rows) > len(agreed) >= 500  # some were dropped
    dev = load_reason_dev_labels(datasets_dir)
    synthetic = load_synthetic_labels(dev["text"])
    assert dict(zip(synthetic["text"], synthetic["code"], strict=True)) == agreed
    assert set(synthetic["source"]) == {"synthetic"}
    assert {"DEFECTIVE", "QUALITY"} <= set(synthetic["code"])
    dev_norm = set(dev["text"].map(normalise_text))
    assert not synthetic["text"].map(normalise_text).isin(dev_norm).any()
    fewer = load_synthetic_labels(synthetic["text"].head(3))
    assert len(fewer) == len(synthetic) - 3


def test_pipeline_trains_on_synthetic_complaints_when_asked(datasets_dir: Path) -> None:
    from models.settings import Settings
    from training.pipelines.reason import load_data, training_frame
    from training.pipelines.runner import load_params

    params = load_params("reason", "fast")
    assert not params["data"]["use_synthetic_labels"]  # off unless a run asks for them
    params["data"].update(returns=1_500, other_returns=500)
    settings = Settings(datasets_dir=datasets_dir)
    assert "synthetic" not in load_data(params, settings)
    params["data"].update(use_synthetic_labels=True, synthetic_weight=2.5)
    data = load_data(params, settings)
    frame = training_frame(data)
    written = frame["text"].isin(set(data["synthetic"]["text"]))
    assert written.sum() == len(data["synthetic"]) >= 500
    assert np.allclose(frame.loc[written, "weight"], 2.5)
    # they go before the simulated notes: the calibration split stays simulated
    assert written.to_numpy().nonzero()[0].max() < len(frame) - len(data["train"])


def test_pipeline_keeps_annotated_texts_out_of_weak_labels(datasets_dir: Path) -> None:
    from models.settings import Settings
    from training.pipelines.reason import load_data, training_frame
    from training.pipelines.runner import load_params

    params = load_params("reason", "fast")
    params["data"].update(returns=1_500, other_returns=500)
    data = load_data(params, Settings(datasets_dir=datasets_dir))
    held, trained = data["real_annotated_holdout"], data["annotated"]
    assert 0.2 < len(held) / (len(held) + len(trained)) < 0.4
    annotated = set(pd.concat([held, trained])["text"].map(normalise_text))
    weak = pd.concat([data["weak"], data["real_weak_holdout"]])
    assert not weak["text"].map(normalise_text).isin(annotated).any()
    frame = training_frame(data)
    assert not frame["text"].map(normalise_text).isin(set(held["text"].map(normalise_text))).any()
    # annotated labels weigh as configured; the latest rows stay simulated notes
    in_frame = frame["text"].isin(set(trained["text"]))
    assert np.allclose(frame.loc[in_frame, "weight"], params["data"]["annotated_weight"])
    assert frame["text"].iloc[-1] == data["train"]["text"].iloc[-1]


def test_full_profile_trains_on_every_annotation(datasets_dir: Path) -> None:
    """The production fit holds no annotation out (recipes were chosen with the holdout);
    the fast profile, which CI and recipe checks run, still holds 30% out."""
    from models.settings import Settings
    from training.pipelines.reason import load_data
    from training.pipelines.runner import load_params

    fast = load_params("reason", "fast")
    params = load_params("reason", "full")
    assert params["data"]["annotated_holdout"] == 0.0 < fast["data"]["annotated_holdout"]
    params["data"].update(returns=1_500, other_returns=500, max_sim_train=None)
    data = load_data(params, Settings(datasets_dir=datasets_dir))
    assert "real_annotated_holdout" not in data
    annotated = load_annotated_labels(datasets_dir, exclude_texts=data["real_dev"]["text"])
    assert len(data["annotated"]) == len(annotated) > 1_400
    assert "real_weak_holdout" in data  # the weak labels still keep their holdout
