"""Draw annotation batch 3 (see README.md here): complaints not already kept, dev texts excluded.

Run from the repository root: ``python training/labels/sample_batch3.py OUT_DIR``. Writes
``OUT_DIR/texts.jsonl`` (``{id, text}``, shown to the annotators; never committed) and
``OUT_DIR/meta.jsonl`` (``{id, source, row, stratum}``). Numpy seed 9.
"""

from __future__ import annotations

import json
import re
import sys
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

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
KEPT = Path(__file__).resolve().parent / "reason_annotated.jsonl"
SEED = 9
# 4-star Echo reviews that name a problem
COMPLAINT_CUES = re.compile(
    r"\b(?:but|however|wish|problem|issue|stopped|return|disappoint\w*|doesn.?t|don.?t|can.?t|"
    r"cannot|won.?t|wouldn.?t|isn.?t|not work\w*|broke\w*|defect\w*|static|connect\w*|wifi)\b",
    re.IGNORECASE,
)
# 3-star clothing reviews likely to hold NOT_AS_DESCRIBED / NO_LONGER_NEEDED (as batches 1-2)
DESCRIPTION_CUES = re.compile(
    r"\b(?:picture|photo|online|description|colou?r|style|not for me|need)\b", re.IGNORECASE
)


def main(out_dir: Path) -> None:
    rng = np.random.default_rng(SEED)
    dev = load_reason_dev_labels(DATASETS)
    is_dev = _excluder(dev["text"])
    kept = {(label["source"], int(label["row"])) for label in _read_jsonl(KEPT)}

    def pool(frame: pd.DataFrame, short: str) -> pd.DataFrame:
        source = SOURCE_NAMES[short]
        frame = frame[frame["text"].str.len() > 0]
        frame = frame[[(source, int(r)) not in kept for r in frame["row"]]]
        frame = frame[~frame["text"].map(is_dev).astype(bool)]
        return frame.drop_duplicates("text").assign(source=source)

    womens = pool(womens_review_texts(DATASETS), "womens")
    alexa = pool(alexa_review_texts(DATASETS), "alexa")
    cells = pool(cells_review_texts(DATASETS), "cells")

    def take(frame: pd.DataFrame, n: int, stratum: str) -> pd.DataFrame:
        n = min(n, len(frame))
        picked = frame.iloc[rng.permutation(len(frame))[:n]]
        return picked.assign(stratum=stratum)

    strata = [
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
    batch = pd.concat(strata, ignore_index=True).drop_duplicates("text")
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
    main(Path(sys.argv[1]))
