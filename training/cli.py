"""`triage`: the one command-line entry point (simulate, and later train, predict, serve)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="triage",
    help="Returns triage and fraud detection: simulate data, train models, serve the API.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

DEFAULT_WORLD = Path("artifacts/world")


@app.callback()
def main() -> None:
    """Returns triage and fraud detection service."""


@app.command()
def simulate(
    returns: Annotated[
        int, typer.Option("--returns", min=1, help="Number of return events.")
    ] = 20_000,
    photos: Annotated[
        int, typer.Option("--photos", min=0, help="Number of photos to render.")
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bytes.")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = DEFAULT_WORLD,
    config: Annotated[
        Path | None, typer.Option("--config", help="World parameters YAML (default: packaged).")
    ] = None,
    cases_jsonl: Annotated[
        bool, typer.Option("--cases-jsonl", help="Also write cases.jsonl in the canonical schema.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Photo rendering processes.")
    ] = 2,
) -> None:
    """Simulate a distributor world (Parquet tables + photos) with ground truth for every model."""
    from training.simulation.config import load_world_config
    from training.simulation.io import write_world
    from training.simulation.world import build_world

    started = time.perf_counter()
    world_config = load_world_config(config)
    with console.status(f"simulating {returns:,} returns (seed {seed})"):
        world = build_world(returns, photos, seed, world_config)
    simulated = time.perf_counter()
    with console.status(f"writing tables and rendering {len(world.photos):,} photos to {out}"):
        write_world(world, out, photo_workers=workers)
        if cases_jsonl:
            from training.simulation.cases import write_cases_jsonl

            write_cases_jsonl(world, out / "cases.jsonl")
    finished = time.perf_counter()
    _print_summary(world.summary, out)
    console.print(
        f"simulated in {simulated - started:.1f} s, written in {finished - simulated:.1f} s"
    )


@app.command()
def samples(
    out: Annotated[Path, typer.Option("--out", help="Folder for the committed sample.")] = Path(
        "data_samples"
    ),
    seed: Annotated[int, typer.Option("--seed")] = 2026,
    cases: Annotated[int, typer.Option("--cases", min=10)] = 300,
    photos: Annotated[int, typer.Option("--photos", min=0)] = 36,
) -> None:
    """Regenerate the committed data sample (canonical cases JSONL, photos, example config)."""
    import shutil
    from importlib import resources

    from training.simulation.cases import write_cases_jsonl
    from training.simulation.config import load_world_config
    from training.simulation.io import render_world_photos
    from training.simulation.world import build_world, sample_world

    world_config = load_world_config()
    world = sample_world(
        build_world(4_000, 0, seed, world_config), cases, photos, seed, world_config
    )
    out.mkdir(parents=True, exist_ok=True)
    if (out / "photos").exists():
        shutil.rmtree(out / "photos")
    render_world_photos(world, out, workers=1)
    written = write_cases_jsonl(world, out / "cases.jsonl")
    config_text = resources.files("training").joinpath("conf/world.yml").read_text("utf-8")
    (out / "world.example.yml").write_text(config_text, encoding="utf-8")
    console.print(f"wrote {written} cases and {len(world.photos)} photos to {out}")


@app.command()
def run(
    artifacts: Annotated[Path, typer.Option("--artifacts", help="Artifacts folder.")] = Path(
        "artifacts"
    ),
    returns: Annotated[int, typer.Option("--returns", min=100)] = 20_000,
    photos: Annotated[int, typer.Option("--photos", min=0)] = 300,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """The main job on embedded defaults: simulate a sample world and summarise it."""
    simulate(
        returns=returns,
        photos=photos,
        seed=seed,
        out=artifacts / "world",
        config=None,
        cases_jsonl=False,
        workers=2,
    )


def _print_summary(summary: dict[str, object], out: Path) -> None:
    table = Table(title=f"Simulated world in {out}", show_header=False)
    for key in ("customers", "skus", "order_lines", "returns", "photos", "empty_notes"):
        table.add_row(key, f"{summary[key]:,}")
    table.add_row("period", f"{summary['first_order']} .. {summary['last_request']}")
    for group in ("dispositions", "abuse_events"):
        values = summary[group]
        assert isinstance(values, dict)
        table.add_row(group, ", ".join(f"{k} {v:,}" for k, v in values.items()))
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
