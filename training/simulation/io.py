"""Write a simulated world to disk (Parquet tables, JPEG photos, a manifest) and read it back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training.simulation.world import World

MANIFEST = "manifest.json"
TABLES = ("customers", "items", "warehouses", "inspectors", "orders", "returns", "photos")


def write_world(world: World, out: Path, *, photo_workers: int = 2) -> dict[str, object]:
    """Write every table as Parquet, render the planned photos, and write `manifest.json`.

    Returns the manifest. Files are byte-identical for the same world.
    """
    out.mkdir(parents=True, exist_ok=True)
    render_world_photos(world, out, workers=photo_workers)
    files: dict[str, str] = {}
    for name, frame in world.tables().items():
        path = out / f"{name}.parquet"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, path, compression="zstd")
        files[path.name] = _sha256(path)
    manifest: dict[str, object] = {
        "generator": "returns-triage simulate",
        "seed": world.seed,
        "summary": world.summary,
        "files": files,
        "photo_files": len(world.photos),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def render_world_photos(world: World, out: Path, *, workers: int = 2) -> None:
    """Render the photos planned in `world.photos` as JPEG files under `out` (their `path`)."""
    if not len(world.photos):
        return
    from training.simulation.photos import render_photos, specs_from_rows

    (out / "photos").mkdir(parents=True, exist_ok=True)
    specs = specs_from_rows(world.photos.itertuples(index=False))
    render_photos(specs, [out / p for p in world.photos["path"]], workers=workers)


def read_world(path: Path) -> dict[str, pd.DataFrame]:
    """Read the tables of a world written by `write_world`, by table name."""
    missing = [name for name in TABLES if not (path / f"{name}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"{path} is not a simulated world: missing {missing}")
    return {name: pd.read_parquet(path / f"{name}.parquet") for name in TABLES}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
