"""Tests of the simulated return-note generator (training/simulation/notes.py)."""

from __future__ import annotations

import random
import re
import time
import warnings
from statistics import median

import pytest

from features.codes import ReasonCode
from training.simulation.notes import (
    CATEGORIES,
    PRODUCT_NOUNS,
    VOICES,
    NoteSpec,
    _Fill,
    _iter_templates,
    generate_note,
    generate_notes,
)

REASONS = tuple(ReasonCode)


def _mixed_specs(n: int, seed: int) -> tuple[list[NoteSpec], list[str]]:
    """Specs like the world simulation makes: uniform reasons, voices 60/25/15, ~25% secondary."""
    rng = random.Random(seed)
    specs: list[NoteSpec] = []
    labels: list[str] = []
    for _ in range(n):
        reason = rng.choice(REASONS)
        voice = rng.choices(VOICES, weights=(60, 25, 15))[0]
        category = rng.choice(CATEGORIES)
        secondary = rng.choice([r for r in REASONS if r != reason]) if rng.random() < 0.25 else None
        customer_code = reason if rng.random() < 0.7 else rng.choice(REASONS)
        used_days = rng.randint(1, 120) if rng.random() < 0.3 else None
        specs.append(
            NoteSpec(
                reason=reason,
                voice=voice,
                category=category,
                product=rng.choice(PRODUCT_NOUNS[category]),
                secondary=secondary,
                customer_code=customer_code,
                used_days=used_days,
            )
        )
        labels.append(reason.value)
    return specs, labels


def _specs_of(
    reason: ReasonCode,
    voice: str,
    n: int,
    seed: int,
    category: str | None = None,
    secondary: ReasonCode | None = None,
    customer_code: ReasonCode | None = None,
    used_days: int | None = None,
) -> list[NoteSpec]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        cat = category or rng.choice(CATEGORIES)
        product = rng.choice(PRODUCT_NOUNS[cat])
        out.append(NoteSpec(reason, voice, cat, product, secondary, customer_code, used_days))
    return out


def test_interface_constants() -> None:
    assert VOICES == ("consumer", "b2b", "edi")
    assert set(PRODUCT_NOUNS) == set(CATEGORIES)
    for category, nouns in PRODUCT_NOUNS.items():
        assert len(set(nouns)) >= 8, category


def test_same_seed_same_notes() -> None:
    specs, _ = _mixed_specs(300, seed=3)
    assert generate_notes(specs, seed=7) == generate_notes(specs, seed=7)


def test_different_seed_different_notes() -> None:
    specs, _ = _mixed_specs(300, seed=3)
    a = generate_notes(specs, seed=7)
    b = generate_notes(specs, seed=8)
    assert sum(x != y for x, y in zip(a, b, strict=True)) / len(a) > 0.9


def test_every_reason_voice_category_gives_text() -> None:
    rng = random.Random(0)
    for reason in REASONS:
        for voice in VOICES:
            for category in CATEGORIES:
                for product in PRODUCT_NOUNS[category][:3]:
                    spec = NoteSpec(reason, voice, category, product)
                    note = generate_note(spec, rng)
                    assert note.strip(), spec
                    assert "{" not in note and "}" not in note, note


def test_every_template_formats() -> None:
    """No template refers to a placeholder the filler does not know."""
    for category in CATEGORIES:
        for voice in VOICES:
            spec = NoteSpec(ReasonCode.OTHER, voice, category, PRODUCT_NOUNS[category][0])
            for template in _iter_templates():
                template.format_map(_Fill(random.Random(1), spec))


def test_unknown_voice_or_category_rejected() -> None:
    with pytest.raises(ValueError):
        generate_note(NoteSpec(ReasonCode.OTHER, "fax", "apparel", "dress"), random.Random(0))
    with pytest.raises(ValueError):
        generate_note(NoteSpec(ReasonCode.OTHER, "b2b", "toys", "yo-yo"), random.Random(0))


@pytest.mark.parametrize("reason", REASONS)
def test_consumer_notes_are_varied(reason: ReasonCode) -> None:
    notes = generate_notes(_specs_of(reason, "consumer", 500, seed=11), seed=5)
    assert len(set(notes)) / len(notes) >= 0.9
    vocabulary = {w for note in notes for w in re.findall(r"[a-z']+", note.lower())}
    assert len(vocabulary) >= 350, (reason, len(vocabulary))


def test_b2b_and_edi_are_varied() -> None:
    for voice, floor in (("b2b", 0.9), ("edi", 0.8)):
        for reason in REASONS:
            notes = generate_notes(_specs_of(reason, voice, 300, seed=2), seed=9)
            assert len(set(notes)) / len(notes) >= floor, (voice, reason)


def test_voices_differ_in_register() -> None:
    consumer = generate_notes(_specs_of(ReasonCode.DEFECTIVE, "consumer", 400, 1), seed=1)
    b2b = generate_notes(_specs_of(ReasonCode.DEFECTIVE, "b2b", 400, 1), seed=1)
    edi = generate_notes(_specs_of(ReasonCode.DEFECTIVE, "edi", 400, 1), seed=1)
    assert median(len(n) for n in edi) < median(len(n) for n in consumer)
    assert sum(n == n.upper() for n in edi) / len(edi) > 0.7
    business = re.compile(r"\b(po|rma|credit|invoice|qty|part|item|order|account)\b", re.I)
    assert sum(bool(business.search(n)) for n in b2b) / len(b2b) > 0.6
    first_person = re.compile(r"\b(i|my|me|i'm|i've)\b", re.I)
    assert sum(bool(first_person.search(n)) for n in consumer) / len(consumer) > 0.3
    assert sum(bool(first_person.search(n)) for n in edi) / len(edi) < 0.05


_DAMAGE_WORDS = re.compile(
    r"damag|dent|crush|crack|broke|smash|torn|tore|shatter|pieces|wet|chip|bent|scratch|leak|"
    r"bang|bust|destroy|drop|tire|rain|ruin|mail|beat|punctur|soak|thaw|dirty|stain|scuff|cave|"
    r"rattl|dmg|soil|transit|shipping|carrier",
    re.I,
)
_MISSING_WORDS = re.compile(
    r"missing|without|no |not in|wasn't|weren't|incomplete|included|never came|left out|"
    r"only three|only half|except|everything but|nowhere",
    re.I,
)


@pytest.mark.parametrize("voice", VOICES)
def test_secondary_reason_is_mentioned(voice: str) -> None:
    base = _specs_of(ReasonCode.SIZE_FIT, voice, 300, seed=4, category="apparel")
    with_sec = [
        NoteSpec(s.reason, s.voice, s.category, s.product, ReasonCode.DAMAGED_IN_TRANSIT)
        for s in base
    ]
    plain = generate_notes(base, seed=6)
    mentioned = generate_notes(with_sec, seed=6)
    hit = sum(bool(_DAMAGE_WORDS.search(n)) for n in mentioned) / len(mentioned)
    baseline = sum(bool(_DAMAGE_WORDS.search(n)) for n in plain) / len(plain)
    assert hit >= 0.9, hit
    assert baseline <= 0.35, baseline

    base = _specs_of(ReasonCode.DEFECTIVE, voice, 300, seed=4, category="electronics")
    with_sec = [
        NoteSpec(s.reason, s.voice, s.category, s.product, ReasonCode.MISSING_PARTS) for s in base
    ]
    mentioned = generate_notes(with_sec, seed=6)
    hit = sum(bool(_MISSING_WORDS.search(n)) for n in mentioned) / len(mentioned)
    assert hit >= 0.9, hit


def test_customer_code_is_sometimes_referenced() -> None:
    specs = _specs_of(
        ReasonCode.DEFECTIVE, "consumer", 400, seed=3, customer_code=ReasonCode.WRONG_ITEM
    )
    notes = generate_notes(specs, seed=3)
    share = sum("wrong item" in n.lower() or "incorrect item" in n.lower() for n in notes) / 400
    assert 0.1 <= share <= 0.5


def test_used_days_is_used() -> None:
    specs = _specs_of(ReasonCode.DEFECTIVE, "consumer", 300, seed=3, used_days=21)
    notes = generate_notes(specs, seed=3)
    share = sum(bool(re.search(r"3 weeks|21 days", n, re.I)) for n in notes) / len(notes)
    assert share >= 0.2


def test_generation_is_fast() -> None:
    specs, _ = _mixed_specs(20_000, seed=1)
    start = time.perf_counter()
    generate_notes(specs, seed=1)
    # the world budget is 100k notes in 8 s; 20k notes get a fifth of that
    assert time.perf_counter() - start < 1.6


def test_learnable_but_not_trivial() -> None:
    """A TF-IDF model learns the reasons across seeds, but the notes are not too regular."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    train_specs, y_train = _mixed_specs(6000, seed=101)
    test_specs, y_test = _mixed_specs(3000, seed=202)
    x_train = generate_notes(train_specs, seed=1)
    x_test = generate_notes(test_specs, seed=2)
    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        # saga with a loose tolerance: same model as lbfgs here, a few times faster
        LogisticRegression(C=10.0, solver="saga", tol=1e-3, max_iter=200),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    accuracy = sum(p == t for p, t in zip(model.predict(x_test), y_test, strict=True)) / 3000
    assert 0.70 <= accuracy <= 0.97, accuracy
