"""Draw an annotation batch (see README.md here): complaints not drawn before, dev texts excluded.

Run from the repository root: ``python training/labels/sample_batches.py BATCH OUT_DIR`` with
BATCH 3 or 4. Writes ``OUT_DIR/texts.jsonl`` (``{id, text}``, shown to the annotators; never
committed) and ``OUT_DIR/meta.jsonl`` (``{id, source, row, stratum}``) and prints the counts.
Batch 3 draws with numpy seed 9 from texts not kept in batches 1-2; batch 4 with seed 10 from
texts neither kept nor drawn in batch 3 (``batch3_answers.jsonl``), nor equal to one of those.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from training.real_text import (
    SOURCE_NAMES,
    _excluder,
    _read_jsonl,
    alexa_review_texts,
    cells_review_texts,
    load_reason_dev_labels,
    womens_review_texts,
)

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parents[2] / "shared" / "datasets"
KEPT = HERE / "reason_annotated.jsonl"
BATCH3_DRAWN = HERE / "batch3_answers.jsonl"
# 4-star Echo reviews that name a problem
COMPLAINT_CUES = re.compile(
    r"\b(?:but|however|wish|problem|issue|stopped|return|disappoint\w*|doesn.?t|don.?t|can.?t|"
    r"cannot|won.?t|wouldn.?t|isn.?t|not work\w*|broke\w*|defect\w*|static|connect\w*|wifi)\b",
    re.IGNORECASE,
)
# 5-star Echo reviews that still name a failure (batch 4: the 1-4 star pool is nearly spent)
FAILURE_CUES = re.compile(
    r"\b(?:stopped|stops|quit|dead|died|broke\w*|defect\w*|not work\w*|doesn.?t work|"
    r"won.?t (?:turn|connect|work)|replac\w*|return\w*|static|disconnect\w*|"
    r"keeps? (?:losing|dropping))\b",
    re.IGNORECASE,
)
# 3-star clothing reviews likely to hold NOT_AS_DESCRIBED / NO_LONGER_NEEDED (as batches 1-2)
DESCRIPTION_CUES = re.compile(
    r"\b(?:picture|photo|online|description|colou?r|style|not for me|need)\b", re.IGNORECASE
)

Pools = dict[str, pd.DataFrame]


def undrawn_pools(already: set[tuple[str, int]], drop_seen_texts: bool = False) -> Pools:
    """Non-empty review texts per source, minus `already` (source, row) pairs and dev texts.

    `drop_seen_texts` also drops a text equal, word for word, to one under an `already` row
    (the Echo file repeats reviews under several rows).
    """
    is_dev = _excluder(load_reason_dev_labels(DATASETS)["text"])
    seen: set[str] = set()

    def pool(frame: pd.DataFrame, short: str) -> pd.DataFrame:
        source = SOURCE_NAMES[short]
        frame = frame[frame["text"].str.len() > 0]
        drawn = np.array([(source, int(r)) in already for r in frame["row"]], dtype=bool)
        if drop_seen_texts:
            seen.update(frame.loc[drawn, "text"])
            drawn |= frame["text"].isin(seen).to_numpy()
        frame = frame[~drawn]
        frame = frame[~frame["text"].map(is_dev).astype(bool)]
        return frame.drop_duplicates("text").assign(source=source)

    return {
        "womens": pool(womens_review_texts(DATASETS), "womens"),
        "alexa": pool(alexa_review_texts(DATASETS), "alexa"),
        "cells": pool(cells_review_texts(DATASETS), "cells"),
    }


def _keys(path: Path) -> set[tuple[str, int]]:
    return {(label["source"], int(label["row"])) for label in _read_jsonl(path)}


def batch3_strata(pools: Pools, take: Callable[..., pd.DataFrame]) -> list[pd.DataFrame]:
    """Batch 3: electronics complaints, where most dev errors were, plus clothing."""
    alexa, cells, womens = pools["alexa"], pools["cells"], pools["womens"]
    return [
        take(alexa[alexa["rating"] <= 2], 200, "alexa_1_2"),
        take(alexa[alexa["rating"] == 3], 200, "alexa_3"),
        take(
            alexa[(alexa["rating"] == 4) & alexa["text"].str.contains(COMPLAINT_CUES)],
            120,
            "alexa_4_cue",
        ),
        take(cells[cells["sentiment"] == 0], 300, "cells_neg"),
        take(womens[womens["rating"] <= 2], 200, "womens_1_2"),
        take(
            womens[(womens["rating"] == 3) & womens["text"].str.contains(DESCRIPTION_CUES)],
            70,
            "womens_3_words",
        ),
    ]


def batch4_strata(pools: Pools, take: Callable[..., pd.DataFrame]) -> list[pd.DataFrame]:
    """Batch 4: the Echo complaints left (any rating) and more clothing complaints."""
    alexa, womens = pools["alexa"], pools["womens"]
    return [
        take(alexa[alexa["rating"] <= 3], 100, "alexa_1_3"),
        take(
            alexa[(alexa["rating"] == 4) & alexa["text"].str.contains(COMPLAINT_CUES)],
            100,
            "alexa_4_cue",
        ),
        take(
            alexa[(alexa["rating"] == 5) & alexa["text"].str.contains(FAILURE_CUES)],
            100,
            "alexa_5_failure",
        ),
        take(womens[womens["rating"] <= 2], 300, "womens_1_2"),
        take(
            womens[(womens["rating"] == 3) & womens["text"].str.contains(DESCRIPTION_CUES)],
            100,
            "womens_3_words",
        ),
    ]


BATCHES = {
    3: (9, lambda: _keys(KEPT), False, batch3_strata),
    4: (10, lambda: _keys(KEPT) | _keys(BATCH3_DRAWN), True, batch4_strata),
}


def main(batch_number: int, out_dir: Path) -> None:
    seed, already, drop_seen_texts, strata = BATCHES[batch_number]
    rng = np.random.default_rng(seed)
    pools = undrawn_pools(already(), drop_seen_texts)

    def take(frame: pd.DataFrame, n: int, stratum: str) -> pd.DataFrame:
        n = min(n, len(frame))
        picked = frame.iloc[rng.permutation(len(frame))[:n]]
        return picked.assign(stratum=stratum)

    batch = pd.concat(strata(pools, take), ignore_index=True).drop_duplicates("text")
    batch = batch.iloc[rng.permutation(len(batch))].reset_index(drop=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        (out_dir / "texts.jsonl").open("w", encoding="utf-8") as texts,
        (out_dir / "meta.jsonl").open("w", encoding="utf-8") as meta,
    ):
        for i, row in batch.iterrows():
            texts.write(json.dumps({"id": int(i), "text": row["text"]}) + "\n")
            meta.write(
                json.dumps(
                    {
                        "id": int(i),
                        "source": row["source"],
                        "row": int(row["row"]),
                        "stratum": row["stratum"],
                    }
                )
                + "\n"
            )
    print(batch["stratum"].value_counts().to_string(), f"\ntotal {len(batch)}")


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
