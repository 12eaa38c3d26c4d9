"""Readers for the real customer review texts: the reason dev labels and weak reason labels.

Everything is read from the datasets folder passed in (``../shared/datasets`` by convention,
never committed). Files used, under ``review-text/``:

- ``reason_dev_labels.jsonl``: return-reason codes two annotators agreed on, ``{source, row,
  code}``; the text is recovered from the source file as the datasets README describes.
- ``clothing_aspects.csv`` / ``clothing_aspects_train2.csv``: clothing reviews with hand
  annotated aspect polarity; a negative Fit is a size/fit signal, a negative Fabric a quality
  signal (weak labels).
- ``womens_clothing_reviews.csv.zip``, ``amazon_alexa.tsv``, ``amazon_cells_labelled.txt``:
  review texts with ratings or sentiment (negative ones are the unlabelled complaints).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.codes import ReasonCode

REVIEW_TEXT = Path("review-text")
DEV_LABELS = REVIEW_TEXT / "reason_dev_labels.jsonl"
WOMENS = REVIEW_TEXT / "womens_clothing_reviews.csv.zip"
ALEXA = REVIEW_TEXT / "amazon_alexa.tsv"
CELLS = REVIEW_TEXT / "amazon_cells_labelled.txt"
ASPECTS = (REVIEW_TEXT / "clothing_aspects.csv", REVIEW_TEXT / "clothing_aspects_train2.csv")
# committed annotations of real complaints (references into the files above, no texts)
ANNOTATED_LABELS = Path(__file__).parent / "labels" / "reason_annotated.jsonl"
# committed synthetic electronics complaints: texts written for training, not real reviews
SYNTHETIC_LABELS = Path(__file__).parent / "labels" / "reason_synthetic.jsonl"

# short source names (load_negative_reviews) -> the names the dev labels use
SOURCE_NAMES = {
    "womens": "womens_clothing_reviews",
    "alexa": "amazon_alexa",
    "cells": "amazon_cells_labelled",
}

# a weak text this close to a dev text (as a substring of it, or it of the weak text) counts as
# the same review: the aspect files hold the clothing reviews without their titles
_MIN_CONTAINED_CHARS = 30


def normalise_text(text: str) -> str:
    """Lower-case letters and digits separated by single spaces (for matching the same review)."""
    return " ".join(re.findall(r"[a-z0-9]+", str(text).lower()))


def womens_review_texts(datasets_dir: Path) -> pd.DataFrame:
    """Women's clothing reviews: `row, text, rating` (text = Title + '. ' + Review Text)."""
    with zipfile.ZipFile(datasets_dir / WOMENS) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv") and "MACOSX" not in n)
        with archive.open(name) as handle:
            raw = pd.read_csv(handle)
    title = raw["Title"].fillna("").astype(str).str.strip()
    body = raw["Review Text"].fillna("").astype(str).str.strip()
    text = np.where(title != "", title + ". " + body, body)
    return pd.DataFrame({"row": np.arange(len(raw)), "text": text, "rating": raw["Rating"]})


def alexa_review_texts(datasets_dir: Path) -> pd.DataFrame:
    """Amazon Echo reviews: `row, text, rating` (text = verified_reviews stripped)."""
    raw = pd.read_csv(datasets_dir / ALEXA, sep="\t", encoding="utf-8-sig")
    text = raw["verified_reviews"].fillna("").astype(str).str.strip()
    return pd.DataFrame({"row": np.arange(len(raw)), "text": text, "rating": raw["rating"]})


def cells_review_texts(datasets_dir: Path) -> pd.DataFrame:
    """Amazon phone-accessory sentences: `row, text, sentiment` (CR line endings, tab, 0/1)."""
    raw = (datasets_dir / CELLS).read_bytes().decode("utf-8", errors="replace")
    lines = [line for line in re.split(r"\r\n|\r|\n", raw) if line.strip()]
    texts: list[str] = []
    labels: list[int] = []
    for line in lines:
        sentence, _, label = line.rpartition("\t")
        texts.append(sentence.strip())
        labels.append(int(label.strip()) if label.strip().isdigit() else -1)
    return pd.DataFrame({"row": np.arange(len(lines)), "text": texts, "sentiment": labels})


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _labelled_texts(datasets_dir: Path, labels: list[dict[str, Any]]) -> pd.DataFrame:
    """`{source, row, code}` labels joined to their review texts: `source, row, text, code`.

    `row` maps to text per source as the datasets README says: women's clothing = row of the
    CSV in the zip (Title + '. ' + Review Text), alexa = row of the TSV, cells = index among
    non-empty lines.
    """
    sources = {
        "womens_clothing_reviews": womens_review_texts(datasets_dir)["text"].to_numpy(),
        "amazon_alexa": alexa_review_texts(datasets_dir)["text"].to_numpy(),
        "amazon_cells_labelled": cells_review_texts(datasets_dir)["text"].to_numpy(),
    }
    rows: list[dict[str, Any]] = []
    for label in labels:
        texts = sources[label["source"]]
        rows.append(
            {
                "source": label["source"],
                "row": int(label["row"]),
                "text": str(texts[int(label["row"])]),
                "code": ReasonCode(label["code"]).value,
            }
        )
    return pd.DataFrame(rows, columns=["source", "row", "text", "code"])


def load_reason_dev_labels(datasets_dir: Path) -> pd.DataFrame:
    """The real reason dev labels as `source, row, text, code` (119 rows, six codes present)."""
    datasets_dir = Path(datasets_dir)
    return _labelled_texts(datasets_dir, _read_jsonl(datasets_dir / DEV_LABELS))


def load_annotated_labels(
    datasets_dir: Path, exclude_texts: Iterable[str], path: Path = ANNOTATED_LABELS
) -> pd.DataFrame:
    """Our own annotations of real complaints (training data): `source, row, text, code`.

    `path` (committed, `training/labels/`) holds `{source, row, code}` references into the
    review files, never their texts: the codes two independent annotators agreed on, for a
    sample of complaints drawn without the dev labels (see `training/labels/README.md`).
    Texts equal to, inside or containing one of `exclude_texts` are dropped all the same.
    """
    frame = _labelled_texts(Path(datasets_dir), _read_jsonl(path))
    is_excluded = _excluder(exclude_texts)
    keep = ~frame["text"].map(is_excluded).astype(bool)
    return frame.loc[keep].reset_index(drop=True)


def load_synthetic_labels(
    exclude_texts: Iterable[str], path: Path = SYNTHETIC_LABELS
) -> pd.DataFrame:
    """Synthetic electronics complaints (training data only): `source, text, code`.

    `path` (committed, `training/labels/`) holds every written complaint as `{id, text,
    product, intended, a, b}`: the code its writer (an AI-assistant session, in review voice)
    meant, and the codes two blind annotators gave. A complaint is kept only where all three
    agree on a code other than NONE (see `training/labels/README.md`). `source` is
    `synthetic`. Texts equal to, inside or containing one of `exclude_texts` are dropped, as
    for the annotations.
    """
    rows = _read_jsonl(path)
    codes = {code.value for code in ReasonCode}
    kept = []
    for row in rows:
        answers = {row["intended"], row["a"], row["b"]}
        unknown = answers - codes - {"NONE"}
        if unknown:
            raise ValueError(f"{path}: {row['id']}: unknown codes {sorted(unknown)}")
        if len(answers) == 1 and row["intended"] in codes:
            kept.append({"source": "synthetic", "text": str(row["text"]), "code": row["a"]})
    frame = pd.DataFrame(kept, columns=["source", "text", "code"])
    is_excluded = _excluder(exclude_texts)
    keep = ~frame["text"].map(is_excluded).astype(bool)
    return frame.loc[keep].reset_index(drop=True)


def _excluder(exclude_texts: Iterable[str]) -> Any:
    """A predicate: is this text (after normalising) one of, or inside one of, the excluded."""
    excluded = [normalise_text(t) for t in exclude_texts]
    exact = set(excluded)

    def is_excluded(text: str) -> bool:
        norm = normalise_text(text)
        if norm in exact:
            return True
        if len(norm) < _MIN_CONTAINED_CHARS:
            return False
        return any(
            norm in other or (len(other) >= _MIN_CONTAINED_CHARS and other in norm)
            for other in excluded
        )

    return is_excluded


def load_weak_labels(datasets_dir: Path, exclude_texts: Iterable[str]) -> pd.DataFrame:
    """Weak reason labels from the clothing aspect annotations: `text, code, source`.

    A review with a negative Fit (and no negative Fabric) is labelled SIZE_FIT; one with a
    negative Fabric (and no negative Fit) QUALITY; reviews negative on both are ambiguous and
    dropped. Both aspect files are read and de-duplicated by normalised text. Every text equal
    to, contained in, or containing one of `exclude_texts` (normalised) is dropped: pass the dev
    texts so evaluation never sees its own reviews in training.
    """
    datasets_dir = Path(datasets_dir)
    frames = []
    for path in ASPECTS:
        frame = pd.read_csv(datasets_dir / path, encoding="utf-8-sig")
        frame["source"] = path.stem
        frames.append(frame)
    aspects = pd.concat(frames, ignore_index=True)
    aspects["text"] = aspects["Review Text"].fillna("").astype(str).str.strip()
    aspects = aspects[aspects["text"] != ""]
    aspects["norm"] = aspects["text"].map(normalise_text)
    aspects = aspects.drop_duplicates("norm")
    # one file stores Fabric as text (with a stray '`'): read every aspect as a number
    fit_bad = pd.to_numeric(aspects["Fit"], errors="coerce") == -1
    fabric_bad = pd.to_numeric(aspects["Fabric"], errors="coerce") == -1
    code = np.select(
        [fit_bad & ~fabric_bad, fabric_bad & ~fit_bad],
        [ReasonCode.SIZE_FIT.value, ReasonCode.QUALITY.value],
        default="",
    )
    aspects = aspects.assign(code=code)
    aspects = aspects[aspects["code"] != ""]
    is_excluded = _excluder(exclude_texts)
    keep = ~aspects["text"].map(is_excluded).astype(bool)
    return aspects.loc[keep, ["text", "code", "source"]].reset_index(drop=True)


def load_negative_reviews(datasets_dir: Path, exclude_texts: Iterable[str]) -> pd.DataFrame:
    """Unlabelled complaints from all three review sources: `text, source`.

    Women's clothing and Echo reviews rated 1-2 and phone-accessory sentences with sentiment 0,
    minus any text matching `exclude_texts` (as in `load_weak_labels`). Useful for
    self-training or for measuring how a model behaves on real complaint language.
    """
    datasets_dir = Path(datasets_dir)
    womens = womens_review_texts(datasets_dir)
    alexa = alexa_review_texts(datasets_dir)
    cells = cells_review_texts(datasets_dir)
    frame = pd.concat(
        [
            pd.DataFrame({"text": womens.loc[womens["rating"] <= 2, "text"], "source": "womens"}),
            pd.DataFrame({"text": alexa.loc[alexa["rating"] <= 2, "text"], "source": "alexa"}),
            pd.DataFrame({"text": cells.loc[cells["sentiment"] == 0, "text"], "source": "cells"}),
        ],
        ignore_index=True,
    )
    frame = frame[frame["text"].str.len() > 0]
    frame = frame.drop_duplicates("text")
    is_excluded = _excluder(exclude_texts)
    keep = ~frame["text"].map(is_excluded).astype(bool)
    return frame.loc[keep].reset_index(drop=True)


def simulated_reason_notes(returns: pd.DataFrame) -> pd.DataFrame:
    """Training notes from a simulated world's returns table: `text, code, requested_at`.

    Keeps returns whose note is non-empty and labelled (`note_reason`), sorted by
    `requested_at`, so a later period can be held out and calibration sees the latest notes.
    """
    notes = returns.loc[returns["note_reason"].notna(), ["note", "note_reason", "requested_at"]]
    notes = notes[notes["note"].fillna("").astype(str).str.strip() != ""]
    notes = notes.sort_values("requested_at", kind="stable")
    return pd.DataFrame(
        {
            "text": notes["note"].astype(str).to_numpy(),
            "code": notes["note_reason"].astype(str).to_numpy(),
            "requested_at": notes["requested_at"].to_numpy(),
        }
    )


def reason_training_data(
    notes: pd.DataFrame,
    weak: pd.DataFrame | None = None,
    weak_weight: float = 1.0,
    balance_weak: bool = False,
) -> tuple[list[str], list[str], np.ndarray]:
    """Texts, codes and sample weights for a reason classifier's `fit`.

    `notes` (from `simulated_reason_notes`) keep their time order; `weak` labels (from
    `load_weak_labels`), weighted `weak_weight` on average, go first, so the calibration split
    (the last notes) stays purely simulated and late. `balance_weak` gives each weak code the
    same total weight (the aspect labels are three-quarters SIZE_FIT).
    """
    texts = list(notes["text"])
    codes = list(notes["code"])
    weights = np.ones(len(texts))
    if weak is not None and len(weak):
        weak_weights = np.full(len(weak), weak_weight)
        if balance_weak:
            counts = weak["code"].map(weak["code"].value_counts()).to_numpy(dtype=float)
            weak_weights = weak_weight * len(weak) / (weak["code"].nunique() * counts)
        texts = list(weak["text"]) + texts
        codes = list(weak["code"]) + codes
        weights = np.concatenate([weak_weights, weights])
    return texts, codes, weights


def evaluate_on_dev(model: Any, datasets_dir: Path) -> dict[str, Any]:
    """Score a fitted reason classifier on the real dev labels.

    Returns `accuracy`, `macro_f1` (over the codes present in the dev labels), `ece`,
    `per_class` (precision/recall/f1/support), `per_source` accuracy and `n`. Predictions are
    over all 12 codes; only the metric's macro average is restricted to the present codes.
    """
    from models.metrics import classification_summary, expected_calibration_error

    dev = load_reason_dev_labels(datasets_dir)
    proba = model.predict_proba(list(dev["text"]))
    classes = np.asarray(model.classes_)
    predicted = classes[proba.argmax(axis=1)]
    present = [c.value for c in ReasonCode if c.value in set(dev["code"])]
    summary = classification_summary(dev["code"], predicted, labels=present)
    summary["ece"] = expected_calibration_error(dev["code"], proba, classes)
    correct = predicted == dev["code"].to_numpy()
    summary["per_source"] = {
        str(source): float(correct[(dev["source"] == source).to_numpy()].mean())
        for source in sorted(dev["source"].unique())
    }
    summary["labels"] = present
    return summary


# words that name a return reason: a context sentence holding one is not neutral
_REASON_WORDS = re.compile(
    r"\b(size[sd]?|sizing|small|smaller|large|larger|big|bigger|tight|loose|fit|fits|fitted|"
    r"fitting|long|short|petite|broke|broken|break|defect\w*|work|works|worked|working|stopp?\w*|"
    r"cheap|quality|fabric|material|thin|sheer|itchy|compatib\w*|return\w*|refund|wrong|"
    r"missing|damage\w*|late|expir\w*|color|colour|picture|photo|described|disappoint\w*|"
    r"exchange|ship\w*|deliver\w*|arriv\w*|sz\w*|length|waist|hips?|bust|usually|normally)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def review_context_sentences(
    datasets_dir: Path, exclude_texts: Iterable[str], max_sentences: int = 5_000, seed: int = 0
) -> list[str]:
    """Neutral real review sentences (praise, narrative) to mix into simulated notes.

    Taken from 5-star women's clothing and Echo reviews and positive phone-accessory
    sentences, minus any review matching `exclude_texts`; a sentence is kept when it has 4-30
    words and names no return reason (no size, fit, fault, quality, colour, delivery... word).
    Real complaints bury the reason among such sentences; simulated notes rarely do.
    """
    datasets_dir = Path(datasets_dir)
    womens = womens_review_texts(datasets_dir)
    alexa = alexa_review_texts(datasets_dir)
    cells = cells_review_texts(datasets_dir)
    reviews = pd.concat(
        [
            womens.loc[womens["rating"] == 5, "text"],
            alexa.loc[alexa["rating"] == 5, "text"],
            cells.loc[cells["sentiment"] == 1, "text"],
        ],
        ignore_index=True,
    )
    is_excluded = _excluder(exclude_texts)
    sentences: list[str] = []
    for review in reviews:
        if not review or is_excluded(review):
            continue
        for sentence in _SENTENCE_END.split(str(review).replace("\r", " ").replace("\n", " ")):
            words = sentence.split()
            if 4 <= len(words) <= 30 and not _REASON_WORDS.search(sentence):
                sentences.append(sentence.strip())
    unique = list(dict.fromkeys(sentences))
    rng = np.random.default_rng(seed)
    if len(unique) > max_sentences:
        unique = [unique[i] for i in np.sort(rng.choice(len(unique), max_sentences, replace=False))]
    return unique


def augment_with_context(
    texts: list[str], context: list[str], rate: float = 0.5, max_added: int = 3, seed: int = 0
) -> list[str]:
    """Copies of `texts` where a share `rate` get 1..`max_added` `context` sentences inserted
    before, between or after their sentences (labels unchanged: the context is neutral)."""
    if not context or rate <= 0:
        return list(texts)
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for text in texts:
        if rng.random() >= rate:
            out.append(text)
            continue
        parts = _SENTENCE_END.split(text)
        for _ in range(int(rng.integers(1, max_added + 1))):
            parts.insert(int(rng.integers(0, len(parts) + 1)), context[rng.integers(len(context))])
        out.append(" ".join(parts))
    return out


# labelling functions over real complaints: each pattern names evidence for one reason code in
# consumer-review language. A complaint is labelled only when exactly one code's evidence is
# strongest (ties are dropped as ambiguous); they were written from the sources' own language
# and PRODUCT.md's code definitions, never from the dev labels.
_RULES: dict[str, list[str]] = {
    ReasonCode.DEFECTIVE.value: [
        r"(stopp?ed|stops|quit|quits|ceased) (working|charging|responding|pairing|turning on)",
        r"(does ?n[o']?t|did ?n[o']?t|wo ?n[o']?t|would ?n[o']?t|will not|can ?n[o']?t|"
        r"could ?n[o']?t|never) (work|charge|turn on|power|hold a charge|come on|respond|boot)",
        r"\bnot (working|charging|turning on|responding)\b",
        r"\bno longer (works?|charges?|turns? on)\b",
        r"\b(broke|broken|defective|faulty|malfunction\w*|dead on arrival|doa|died|dead)\b",
        r"\b(freez\w*|froze|crash\w*|reboot\w*|restart\w*|unresponsive|glitch\w*)\b",
        r"\b(drops?|dropped|dropping) (calls?|the call|connection|signal)\b",
        r"\b(keeps?|kept) (disconnecting|dropping|turning off|shutting off|cutting out|"
        r"losing)\b",
        r"\b(disconnects?|cuts? out|shuts? off|turns? off by itself)\b",
        r"\bwent (dead|black|out)\b|\bgoing dead\b|\b(screen|it) went\b",
        r"\bonly (worked|works) (once|for)\b|\bworked for (a|about|only)\b",
    ],
    ReasonCode.QUALITY.value: [
        r"\b(poor|bad|cheap|low|terrible|horrible|awful|lousy) (quality|material|construction|"
        r"workmanship|sound|audio|reception|signal|battery life|picture)\b",
        r"\b(sound|audio|call|voice|build|print) quality\b",
        r"\bquality (is|was) (poor|bad|terrible|awful|lacking|not)\b",
        r"\b(cheap(ly)?( made| feeling| looking)?|flimsy|tinny|static|muffled|crackl\w*|"
        r"scratchy|itchy|pill\w*|snag\w*|ripped|tore|torn|fray\w*|unravel\w*|fell apart|"
        r"falling apart|see[- ]through|sheer|thin|wrinkl\w*|shrank|shrunk|faded|"
        r"uncomfortable|overpriced)\b",
        r"\b(volume|battery life|reception) (is|was) (too |very |quite |a little |so )?"
        r"(low|poor|bad|weak|short|terrible|unacceptable)\b",
        r"\b(hole|holes|loose threads?|seams?|stitching)\b",
        r"\b(fabric|material) (is|was|felt|feels) (cheap|thin|scratchy|rough|stiff|poor)\b",
    ],
    ReasonCode.SIZE_FIT.value: [
        r"\bruns? (very |really |so |way |a bit |a little |extremely )?(small|large|big|"
        r"short|long|narrow|wide)\b",
        r"\btoo (small|big|large|tight|loose|short|long|wide|narrow|baggy|boxy|snug)\b",
        r"\b(size|sizes|sized|sizing) (up|down|smaller|larger|bigger)\b",
        r"\b(did ?n[o']?t|does ?n[o']?t|would ?n[o']?t|not) fit\b",
        r"\b(ordered|bought|got|tried|wear|wore) (an?|the|my usual)? ?(xxs|xs|s|m|l|xl|"
        r"small|medium|large|petite|\d{1,2})\b",
        r"\b(tight|baggy|boxy|huge|tent|swallowed me|drowned me) (in|across|around|through)\b",
        r"\b(fit|fits|fitted) (poorly|weird\w*|strange\w*|awkward\w*|terribl\w*|horribl\w*)\b",
        r"\b(bust|waist|hips|shoulders|arms|length|torso|chest|inseam)\b",
    ],
    ReasonCode.INCOMPATIBLE.value: [
        r"\b(not|isn[o']?t|wasn[o']?t) compatible\b|\bincompatib\w*\b",
        r"\b(does ?n[o']?t|did ?n[o']?t|wo ?n[o']?t|will not|would ?n[o']?t|can ?n[o']?t) "
        r"(work|fit|connect|pair|sync|link) (with|to|on|in) (my|the|our|an?)\b",
        r"\b(not|only) (work|works) with\b",
        r"\b(does ?n[o']?t|did ?n[o']?t|wo ?n[o']?t) (support|recogni[sz]e)\b",
    ],
    ReasonCode.NOT_AS_DESCRIBED.value: [
        r"\bnot (as|like) (pictured|shown|described|advertised|in the (picture|photo)s?)\b",
        r"\b(looks?|looked) nothing like\b|\bnothing like the (picture|photo|description)\b",
        r"\b(different|differs?) (from|than) (the )?(picture|photo|description|listing|ad)\b",
        r"\b(colou?r) (is|was) (not|nothing|different|off|way off|totally different)\b",
        r"\b(did ?n[o']?t|does ?n[o']?t) (match|look like) (the )?(photo|picture|description|"
        r"ad|listing|image)\b",
        r"\bmisleading\b|\bfalse advertis\w*\b|\bcounterfeit\b|\bfake\b",
    ],
    ReasonCode.NO_LONGER_NEEDED.value: [
        r"\bchanged my mind\b|\bno longer need\w*\b|\b(do ?n[o']?t|did ?n[o']?t) need\b",
        r"\bordered (it )?by mistake\b|\bduplicate order\b|\bnot my style\b",
        r"\b(did ?n[o']?t|do ?n[o']?t) (like|love) (the )?(style|look|color|colour|pattern)\b",
    ],
}
_COMPILED_RULES = {
    code: [re.compile(p, re.IGNORECASE) for p in patterns] for code, patterns in _RULES.items()
}


def rule_reason_code(text: str) -> str:
    """The reason code the labelling functions agree on for a complaint, or '' when none or
    several codes tie (the number of distinct patterns matched decides)."""
    text = html_unescape(str(text)).replace("’", "'")
    votes = {
        code: sum(1 for pattern in patterns if pattern.search(text))
        for code, patterns in _COMPILED_RULES.items()
    }
    best = max(votes.values())
    if best == 0:
        return ""
    winners = [code for code, count in votes.items() if count == best]
    return winners[0] if len(winners) == 1 else ""


def html_unescape(text: str) -> str:
    """HTML entities decoded (the Echo reviews hold `&#34;`)."""
    import html

    return html.unescape(text)


def load_rule_weak_labels(datasets_dir: Path, exclude_texts: Iterable[str]) -> pd.DataFrame:
    """Weak reason labels for real complaints from the labelling functions: `text, code, source`.

    The complaints are `load_negative_reviews` (1-2 star clothing and Echo reviews, negative
    phone-accessory sentences, minus `exclude_texts`); each is labelled by `rule_reason_code`
    and kept when one code wins.
    """
    frame = load_negative_reviews(datasets_dir, exclude_texts)
    frame = frame.assign(code=frame["text"].map(rule_reason_code))
    frame = frame[frame["code"] != ""]
    return frame[["text", "code", "source"]].reset_index(drop=True)


def weak_holdout_mask(texts: Iterable[str], fraction: float, salt: str = "reason") -> np.ndarray:
    """A stable pseudo-random mask choosing `fraction` of texts (by a hash of the normalised
    text, so the same review always lands on the same side): the weak labels held out for
    model selection, in place of the dev labels."""
    import hashlib

    values = [
        int(hashlib.sha1(f"{salt}:{normalise_text(t)}".encode()).hexdigest()[:8], 16) / 16**8
        for t in texts
    ]
    return np.asarray(values) < fraction


def real_weak_labels(
    datasets_dir: Path, exclude_texts: Iterable[str], use_rules: bool = True
) -> pd.DataFrame:
    """All weak reason labels for real texts: `text, code, source` (source named as in the dev
    labels: womens_clothing_reviews, amazon_alexa, amazon_cells_labelled).

    The clothing aspect labels (`load_weak_labels`) come first; with `use_rules`, the
    labelling-function labels of real complaints (`load_rule_weak_labels`) are added for texts
    the aspects do not cover. A clothing complaint the rules call DEFECTIVE is dropped (apparel
    does not "stop working"; such reviews are a broken zip or a torn seam, ambiguous with
    QUALITY).
    """
    exclude = list(exclude_texts)
    aspect = load_weak_labels(datasets_dir, exclude).assign(source="womens")
    frames = [aspect[["text", "code", "source"]]]
    if use_rules:
        rule = load_rule_weak_labels(datasets_dir, exclude)
        rule = rule[~((rule["source"] == "womens") & (rule["code"] == "DEFECTIVE"))]
        seen = set(aspect["text"].map(normalise_text))
        frames.append(rule[~rule["text"].map(normalise_text).isin(seen)])
    weak = pd.concat(frames, ignore_index=True)
    weak["source"] = weak["source"].map(SOURCE_NAMES)
    weak = weak.assign(norm=weak["text"].map(normalise_text)).drop_duplicates("norm")
    return weak[["text", "code", "source"]].reset_index(drop=True)
