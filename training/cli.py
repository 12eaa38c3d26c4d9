"""`triage`: the one command-line entry point (simulate, and later train, predict, serve)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

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
    profile: Annotated[str, typer.Option("--profile", help="Training profile.")] = "fast",
    train_models: Annotated[
        bool, typer.Option("--train/--no-train", help="Train every family before serving.")
    ] = True,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the API at the end.")
    ] = True,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """The main job on embedded defaults: simulate a world, train every model, serve the API.

    Models are tracked in MLflow (sqlite under the artifacts folder) and promoted through the
    quality gate; the API then loads the champions by alias and keeps its audit trail in SQLite.
    """
    import os

    # the artifacts folder is the one setting every step shares (MLflow, audit, worlds)
    os.environ["TRIAGE_ARTIFACTS_DIR"] = str(artifacts.resolve())
    from models.settings import get_settings

    get_settings.cache_clear()
    simulate(
        returns=returns,
        photos=photos,
        seed=seed,
        out=artifacts / "world",
        config=None,
        cases_jsonl=False,
        workers=2,
    )
    if train_models:
        train(family="all", params=None, profile=profile)
    if serve_api:
        serve(host=host, port=port, workers=1, reload=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option("--reload", help="Reload on code changes (dev).")] = False,
) -> None:
    """Start the triage API (uvicorn). Settings come from TRIAGE_* environment variables.

    With several workers they share the audit store, and through it the customer state;
    their Prometheus metrics are summed over `PROMETHEUS_MULTIPROC_DIR` (a fresh temporary
    folder unless set; emptied at start either way)."""
    import uvicorn

    if workers > 1:
        metrics_dir = Path(
            os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="triage-metrics-")
        )
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):  # a previous run's counts
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    console.print(f"serving on http://{host}:{port} (OpenAPI at /docs)")
    # the app is named by import string: training never imports serving (STYLE.md layering)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
    )


FAMILIES = ("reason", "damage", "disposition", "fraud")
"""Model families in training order (`all` trains them in this order: later ones use earlier
champions when present). Each lives in `training.pipelines.<name>` as `<Name>Family`."""
models_app = typer.Typer(
    help="List, promote and roll back registered models.", no_args_is_help=True
)
predict_app = typer.Typer(help="Batch predictions with the champion model.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(predict_app, name="predict")


def _family(name: str) -> Any:
    import importlib

    if name not in FAMILIES:
        raise typer.BadParameter(f"unknown family {name!r}; choose from {', '.join(FAMILIES)}")
    module = importlib.import_module(f"training.pipelines.{name}")
    return getattr(module, f"{name.capitalize()}Family")()


@app.command()
def train(
    family: Annotated[str, typer.Argument(help=f"Model family: {', '.join(FAMILIES)} or all.")],
    params: Annotated[
        Path | None, typer.Option("--params", help="Parameters YAML (default: packaged).")
    ] = None,
    profile: Annotated[str, typer.Option("--profile", help="fast or full.")] = "full",
) -> None:
    """Train a family: data -> features -> fit -> evaluate -> gate -> register (MLflow)."""
    from models.settings import get_settings
    from training.pipelines.runner import load_params, run_pipeline

    names = FAMILIES if family == "all" else (family,)
    for name in names:
        pipeline = _family(name)
        try:
            family_params = load_params(name, profile, params)
        except (ValueError, FileNotFoundError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        outcome = run_pipeline(pipeline, family_params, get_settings())
        table = Table(title=f"{name}: run {outcome.run_id}, version {outcome.version}")
        table.add_column("model")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for model_name, metrics in outcome.metrics.items():
            for metric, value in sorted(metrics.items()):
                table.add_row(model_name, metric, f"{value:.4f}")
        console.print(table)
        verdict = "promoted to champion" if outcome.promoted else "not promoted"
        console.print(f"gate: {outcome.gate.summary()} -> version {outcome.version} {verdict}")


@models_app.command("list")
def models_list(
    name: Annotated[str, typer.Argument(help="Registered model name.")] = "reason",
) -> None:
    """List the versions of a model, its champion and the history of champion changes."""
    from models.registry import Registry, RegistryError
    from models.settings import get_settings

    registry = Registry(get_settings())
    try:
        versions = registry.versions(name)
    except RegistryError as exc:
        raise typer.BadParameter(str(exc)) from exc
    table = Table(title=f"{name} versions")
    for column in ("version", "created", "aliases", "gate", "run"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            v.version,
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            ",".join(v.aliases),
            v.tags.get("gate", ""),
            (v.run_id or "")[:12],
        )
    console.print(table)
    history = Table(title=f"{name} champion history")
    for column in ("at", "action", "version", "previous", "actor", "reason"):
        history.add_column(column)
    for e in registry.history(name):
        history.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.action,
            e.version,
            e.previous_version or "",
            e.actor,
            e.reason,
        )
    console.print(history)


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who (default: $USER).")] = None,
) -> None:
    """Make a version the champion by hand (bypasses the gate; the reason is recorded)."""
    from models.registry import Registry, RegistryError
    from models.settings import get_settings

    try:
        event = Registry(get_settings()).promote(name, version, reason=reason, actor=actor)
    except RegistryError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"{name}: champion {event.previous_version} -> {event.version} by {event.actor}")


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    actor: Annotated[str | None, typer.Option("--actor", help="Who (default: $USER).")] = None,
) -> None:
    """Give the champion alias back to the previous champion."""
    from models.registry import Registry, RegistryError
    from models.settings import get_settings

    try:
        event = Registry(get_settings()).rollback(name, reason=reason, actor=actor)
    except RegistryError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"{name}: champion rolled back {event.previous_version} -> {event.version}")


@predict_app.command("reason")
def predict_reason(
    input_path: Annotated[Path, typer.Option("--input", help='JSONL lines {"id", "text"}.')],
    output_path: Annotated[Path, typer.Option("--output", help="JSONL predictions.")],
    model_uri: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = (
        "models:/reason@champion"
    ),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
) -> None:
    """Reason codes for notes: {"id", "code", "confidence", "top": [[code, p], ...]} per line."""
    import json

    import mlflow
    import pandas as pd

    from models.settings import get_settings

    rows = _read_jsonl(input_path, required=("id", "text"))
    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # MLflow raises several types for a missing model or alias
        raise typer.BadParameter(f"cannot load {model_uri}: {exc}") from exc
    with output_path.open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            frame = pd.DataFrame({"text": [str(r["text"] or "") for r in batch]})
            if any("customer_reason_code" in r for r in batch):
                frame["customer_reason_code"] = [r.get("customer_reason_code") or "" for r in batch]
            predictions = model.predict(frame)
            for row, pred in zip(batch, predictions.to_dict("records"), strict=True):
                record = {
                    "id": row["id"],
                    "code": pred["code"],
                    "confidence": round(float(pred["confidence"]), 4),
                    "top": json.loads(pred["top"]),
                }
                if "customer_reason_code" in frame:
                    record["disagrees_with_customer"] = bool(pred["disagrees_with_customer"])
                out.write(json.dumps(record) + "\n")
    console.print(f"wrote {len(rows)} predictions to {output_path}")


@predict_app.command("fraud")
def predict_fraud(
    output_path: Annotated[Path, typer.Option("--output", help="JSONL fraud scores.")],
    input_path: Annotated[
        Path | None,
        typer.Option("--input", help='JSONL return cases ({"case": ReturnCase} or the case).'),
    ] = None,
    all_customers: Annotated[
        bool, typer.Option("--all-customers", help="Score every customer of the model's state.")
    ] = False,
    model_uri: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = (
        "models:/fraud@champion"
    ),
) -> None:
    """Fraud risk per return case (state updated case by case) or per known customer."""
    import json
    from dataclasses import asdict

    import mlflow
    from pydantic import ValidationError

    from features.customer_state import CustomerState
    from features.schema import ReturnCase
    from models.settings import get_settings

    if (input_path is None) == (not all_customers):
        raise typer.BadParameter("give either --input FILE or --all-customers")
    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    try:
        wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    except Exception as exc:  # MLflow raises several types for a missing model or alias
        raise typer.BadParameter(f"cannot load {model_uri}: {exc}") from exc
    estimator = wrapper.estimator
    state = wrapper.state if wrapper.state is not None else CustomerState()
    written = 0
    with output_path.open("w", encoding="utf-8") as out:
        if all_customers:
            for score in estimator.score_customers(state):
                out.write(json.dumps(asdict(score)) + "\n")
                written += 1
        else:
            assert input_path is not None
            for number, row in enumerate(_read_jsonl(input_path, required=()), start=1):
                try:
                    case = ReturnCase.model_validate(row.get("case", row))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(x) for x in first["loc"])
                    raise typer.BadParameter(f"line {number}: {where}: {first['msg']}") from exc
                score = estimator.score_case(case, state)
                state.update_from_case(case)
                out.write(json.dumps({"id": case.request.return_id, **asdict(score)}) + "\n")
                written += 1
    console.print(f"wrote {written} fraud scores to {output_path}")


fraud_app = typer.Typer(help="Fraud tools on real transaction histories.", no_args_is_help=True)
app.add_typer(fraud_app, name="fraud")


@fraud_app.command("score-history")
def fraud_score_history(
    invoices: Annotated[Path, typer.Option("--invoices", help="Transaction export (CSV).")],
    output_path: Annotated[
        Path | None, typer.Option("--output", help="JSONL: one line per customer.")
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--column-map",
            help="field=column for customer_id, date, amount, quantity, is_return, invoice_id.",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Customers to print.")] = 10,
) -> None:
    """Score customers of a plain transaction export (Online Retail II invoices as they are)."""
    import json

    from training.real_history import parse_column_map, read_transactions, score_history

    try:
        mapping = parse_column_map(column_map or [])
        transactions = read_transactions(invoices, mapping)
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    scores, _ = score_history(transactions)
    if output_path is not None:
        with output_path.open("w", encoding="utf-8") as out:
            for s in scores:
                record = {"customer_id": s.customer_id, "risk_score": round(s.risk_score, 6),
                          "risk_level": s.risk_level, "factors": s.factors}  # fmt: skip
                out.write(json.dumps(record) + "\n")
    table = Table(title=f"{len(scores):,} customers scored from {len(transactions):,} invoices")
    for column in ("customer", "risk", "level", "factors"):
        table.add_column(column)
    for s in scores[:top]:
        table.add_row(s.customer_id, f"{s.risk_score:.4f}", s.risk_level, "; ".join(s.factors))
    console.print(table)
    if output_path is not None:
        console.print(f"wrote {len(scores)} customers to {output_path}")


@predict_app.command("disposition")
def predict_disposition(
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            help='JSONL lines {"case": ReturnCase, "id"?, "reason_probabilities"?, "damage"?, '
            '"inspection_condition"?, "customer_history"?} (cases.jsonl works as is).',
        ),
    ],
    output_path: Annotated[Path, typer.Option("--output", help="JSONL recommendations.")],
    model_uri: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = (
        "models:/disposition@champion"
    ),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
) -> None:
    """Recommended dispositions with confidence, probabilities, expected recovery value,
    reasons and the postings they imply, one JSON line per case."""
    import json

    import mlflow
    from pydantic import ValidationError

    from features.disposition import disposition_features
    from features.schema import ReturnCase
    from models.postings import load_postings
    from models.settings import get_settings

    rows = _read_jsonl(input_path, required=("case",))
    features = []
    for number, row in enumerate(rows, start=1):
        try:
            case = ReturnCase.model_validate(row["case"])
            features.append(
                disposition_features(
                    case,
                    reason_probabilities=row.get("reason_probabilities"),
                    damage=row.get("damage"),
                    inspection_condition=row.get("inspection_condition"),
                    customer_history=row.get("customer_history"),
                )
            )
        except (ValidationError, ValueError) as exc:
            raise typer.BadParameter(f"record {number}: {exc}", param_hint="--input") from exc
        row.setdefault("id", case.request.return_id)
    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    try:
        estimator = mlflow.pyfunc.load_model(model_uri).unwrap_python_model().estimator
    except Exception as exc:  # MLflow raises several types for a missing model or alias
        raise typer.BadParameter(f"cannot load {model_uri}: {exc}") from exc
    postings = load_postings()
    with output_path.open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), batch_size):
            batch = features[start : start + batch_size]
            predictions = estimator.predict_cases(batch)
            for row, feature, pred in zip(
                rows[start : start + batch_size], batch, predictions, strict=True
            ):
                cost_value = float(feature["unit_cost"]) * float(feature["quantity"])
                record = {
                    "id": row["id"],
                    "disposition": pred.disposition,
                    "confidence": round(pred.confidence, 4),
                    "probabilities": {k: round(v, 4) for k, v in pred.probabilities.items()},
                    "expected_recovery_value": pred.expected_recovery_value,
                    "reasons": pred.reasons,
                    "postings": postings.postings_for(pred.disposition, cost_value),
                }
                out.write(json.dumps(record) + "\n")
    console.print(f"wrote {len(rows)} recommendations to {output_path}")


@predict_app.command("damage")
def predict_damage(
    input_path: Annotated[
        Path, typer.Option("--input", help='JSONL lines {"id", "path"} (path to a photo).')
    ],
    output_path: Annotated[Path, typer.Option("--output", help="JSONL predictions.")],
    model_uri: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = (
        "models:/damage@champion"
    ),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
) -> None:
    """Damage per photo: {"id", "damage_probability", "damage_type", "type_probabilities"}.

    A photo that cannot be read or is not an acceptable image gets {"id", "error"} instead;
    the other photos are still assessed.
    """
    import json

    import mlflow

    from features.images import ImageRejected
    from models.settings import get_settings

    rows = _read_jsonl(input_path, required=("id", "path"))
    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    try:
        estimator = mlflow.pyfunc.load_model(model_uri).unwrap_python_model().estimator
    except Exception as exc:  # MLflow raises several types for a missing model or alias
        raise typer.BadParameter(f"cannot load {model_uri}: {exc}") from exc
    base = input_path.parent
    errors = 0
    with output_path.open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            records: list[dict[str, Any]] = [{"id": row["id"]} for row in batch]
            photos: list[bytes] = []
            slots: list[int] = []
            for slot, row in enumerate(batch):
                path = Path(str(row["path"]))
                path = path if path.is_absolute() else base / path
                try:
                    data = path.read_bytes()
                    estimator.decode([data])  # intake check: one bad photo spoils no batch
                except OSError as exc:
                    records[slot]["error"] = f"cannot read {row['path']}: {exc.strerror}"
                    continue
                except ImageRejected as exc:
                    records[slot]["error"] = str(exc).removeprefix("photo 0: ")
                    continue
                photos.append(data)
                slots.append(slot)
            for slot, assessment in zip(slots, estimator.assess(photos), strict=True):
                records[slot].update(assessment.to_dict())
            for record in records:
                errors += "error" in record
                out.write(json.dumps(record) + "\n")
    console.print(f"wrote {len(rows)} predictions to {output_path} ({errors} rejected photos)")


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """Read JSONL, failing with the line number and field name on bad input."""
    import json

    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist", param_hint="--input")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"line {number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise typer.BadParameter(f"line {number}: expected an object")
            missing = [key for key in required if key not in row]
            if missing:
                raise typer.BadParameter(f"line {number}: missing field(s) {', '.join(missing)}")
            rows.append(row)
    return rows


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
