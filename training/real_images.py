"""Real defect photos (../shared/datasets) with fixed, seeded held-out splits.

Two sets, each read from the datasets folder (never copied into the repo):

- `casting-impellers/{def_front,ok_front}`: top views of cast pump impellers, defective or good.
  The defects (blowholes, burrs, shrinkage, edge damage) are not labelled by kind, so a defective
  photo is "damaged, type unknown" (`DAMAGED_UNTYPED`): it trains the damage/no-damage head only.
- `magnetic-tiles/{Blowhole,Break,Crack,Fray,Uneven,Free}`: greyscale tile photos, five defect
  kinds (each with a pixel mask, unused here) and intact tiles. Kinds map to damage types by what
  an inspector would call them (`TILE_DAMAGE_TYPES`).

Each set is split once per class with a fixed seed (sorted file names, then a seeded
permutation): the `holdout` rows are for evaluation only and training code must drop them.
The split does not depend on anything but the file names and the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.codes import DamageType

CASTING = "casting-impellers"
TILES = "magnetic-tiles"
DAMAGED_UNTYPED = "DAMAGED"
"""Label of a damaged photo whose damage type is not known (real casting defects)."""

CASTING_CLASSES = {"def_front": DAMAGED_UNTYPED, "ok_front": DamageType.NONE.value}
TILE_DAMAGE_TYPES = {
    "Crack": DamageType.CRACK_BREAK.value,
    "Break": DamageType.CRACK_BREAK.value,  # pieces broken off an edge or corner
    "Fray": DamageType.CRACK_BREAK.value,  # frayed, chipped edge: material broken away
    "Blowhole": DamageType.DENT_DEFORMATION.value,  # pits and cavities: the surface deformed
    "Uneven": DamageType.SCRATCH_SCUFF.value,  # uneven grinding: a surface-finish defect
    "Free": DamageType.NONE.value,
}
SPLIT_SEED = 20_260_401
HOLDOUT_FRACTION = 0.25
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_real_photos(
    datasets_dir: Path,
    source: str,
    holdout_fraction: float = HOLDOUT_FRACTION,
    seed: int = SPLIT_SEED,
) -> pd.DataFrame:
    """Photo index of one real set: `path`, `source`, `defect` (folder), `label` (a DamageType
    value, or `DAMAGED_UNTYPED`), `damaged`, `split` ("train" or "holdout").

    Raises FileNotFoundError naming the folder when the set is absent or empty.
    """
    if source == CASTING:
        classes = CASTING_CLASSES
    elif source == TILES:
        classes = TILE_DAMAGE_TYPES
    else:
        raise ValueError(f"unknown real image set {source!r}; choose {CASTING} or {TILES}")
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    root = Path(datasets_dir) / source
    rows = []
    for folder, label in classes.items():
        directory = root / folder
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} not found (expected the {source} dataset)")
        files = sorted(
            p
            for p in directory.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES
            # tiles keep a same-name PNG defect mask beside each JPEG photo
            and not (source == TILES and p.suffix.lower() == ".png")
        )
        if not files:
            raise FileNotFoundError(f"{directory} holds no photos")
        rng = np.random.default_rng([seed, len(folder), sum(map(ord, folder))])
        order = rng.permutation(len(files))
        n_holdout = max(1, round(holdout_fraction * len(files)))
        held = set(order[:n_holdout].tolist())
        for index, path in enumerate(files):
            rows.append(
                {
                    "path": str(path),
                    "source": source,
                    "defect": folder,
                    "label": label,
                    "damaged": label != DamageType.NONE.value,
                    "split": "holdout" if index in held else "train",
                }
            )
    return pd.DataFrame(rows)


def available_sources(datasets_dir: Path) -> list[str]:
    """The real image sets present under `datasets_dir`."""
    return [s for s in (CASTING, TILES) if (Path(datasets_dir) / s).is_dir()]


def subsample(frame: pd.DataFrame, per_class: int | None, seed: int) -> pd.DataFrame:
    """At most `per_class` rows per `defect` folder (seeded); None keeps everything."""
    if per_class is None:
        return frame.reset_index(drop=True)
    parts = [
        group.sample(n=min(per_class, len(group)), random_state=seed)
        for _, group in frame.groupby("defect", sort=True)
    ]
    return pd.concat(parts).sort_index().reset_index(drop=True)
