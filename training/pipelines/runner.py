"""Wiring shared by every model family: load -> fit -> evaluate -> log -> register -> gate -> alias.

A family (reason, damage, disposition, fraud) supplies pure steps through the `Family` protocol;
this module owns the MLflow run, the registry and the gate so every family is tracked, compared
with its champion and promoted the same way.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mlflow
import pandas as pd
import yaml
from matplotlib.figure import Figure
from mlflow.pyfunc import PythonModel
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from models.registry import Registry
from models.settings import Settings
from models.versions import ABSENT, LIBRARIES, library_versions
from training.gate import GateConfig, GateResult, check_gate

console = Console()


@dataclass
class Evaluation:
    """Metrics (flat `set.metric` keys) plus reports and figures to log beside them."""

    metrics: dict[str, float]
    reports: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)


@dataclass
class LoggableModel:
    """What MLflow needs to log a fitted estimator as a pyfunc model."""

    python_model: PythonModel
    artifacts: dict[str, str]
    input_example: pd.DataFrame
    signature: Any = None


class Family(Protocol):
    """The steps one model family provides to the runner."""

    name: str

    def load_data(self, params: dict[str, Any], settings: Settings) -> dict[str, Any]: ...

    def fingerprint(self, data: dict[str, Any]) -> str: ...

    def fit(
        self, data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
    ) -> dict[str, Any]: ...

    def evaluate(self, estimator: Any, data: dict[str, Any], settings: Settings) -> Evaluation: ...

    def loggable(self, estimator: Any, workdir: Path) -> LoggableModel: ...

    def load_estimator(self, model_uri: str) -> Any: ...


@dataclass
class RunOutcome:
    """What a pipeline run did."""

    run_id: str
    version: str
    promoted: bool
    gate: GateResult
    metrics: dict[str, dict[str, float]]
    champion_before: str | None


def load_params(family: str, profile: str, params_file: Path | None = None) -> dict[str, Any]:
    """Family parameters from `training/conf/<family>.yml` (or `params_file`), profile applied."""
    if params_file is None:
        from importlib import resources

        text = resources.files("training").joinpath(f"conf/{family}.yml").read_text("utf-8")
    else:
        text = params_file.read_text(encoding="utf-8")
    params: dict[str, Any] = yaml.safe_load(text)
    profiles = params.pop("profiles", {})
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(profiles)}")
    params["profile"] = profile
    for key, value in (profiles[profile] or {}).items():
        if key == "gate" or not isinstance(value, dict):
            params[key] = value  # a profile's gate replaces the base gate whole
        else:
            params[key] = {**(params.get(key) or {}), **value}
    return params


def run_pipeline(
    family: Family, params: dict[str, Any], settings: Settings, registry: Registry | None = None
) -> RunOutcome:
    """Run one family end to end and move the champion alias only if the gate passes."""
    registry = registry or Registry(settings)
    gate_config = GateConfig.model_validate(params.get("gate", {}))
    candidate_name = params["candidate"]
    mlflow.set_tracking_uri(settings.tracking_uri())
    mlflow.set_registry_uri(settings.tracking_uri())
    use_experiment(family.name, settings)
    with _steps() as step, mlflow.start_run(run_name=f"{family.name}-{params['profile']}") as run:
        mlflow.set_tags({"family": family.name, "profile": params["profile"], **library_versions()})
        mlflow.log_params(_flatten(params))
        mlflow.log_dict(params, "params.yaml")

        step("loading data")
        data = family.load_data(params, settings)
        fingerprint = family.fingerprint(data)
        mlflow.set_tag("data_fingerprint", fingerprint)

        estimators = family.fit(data, params, step)
        if candidate_name not in estimators:
            raise ValueError(f"candidate {candidate_name!r} not among {sorted(estimators)}")

        metrics: dict[str, dict[str, float]] = {}
        for name, estimator in estimators.items():
            step(f"evaluating {name}")
            evaluation = family.evaluate(estimator, data, settings)
            metrics[name] = evaluation.metrics
            _log_evaluation(name, evaluation)

        step("logging and registering the candidate")
        with tempfile.TemporaryDirectory() as tmp:
            loggable = family.loggable(estimators[candidate_name], Path(tmp))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=loggable.python_model,
                artifacts=loggable.artifacts,
                input_example=loggable.input_example,
                signature=loggable.signature,
                registered_model_name=family.name,
                pip_requirements=_pip_requirements(),
            )
        version = str(info.registered_model_version)

        champion_before = registry.champion(family.name)
        champion_metrics = None
        if champion_before is not None:
            step(f"evaluating champion v{champion_before} on the same data")
            champion = family.load_estimator(f"models:/{family.name}/{champion_before}")
            champion_metrics = family.evaluate(champion, data, settings).metrics
            mlflow.log_metrics({f"champion.{k}": v for k, v in champion_metrics.items()})

        gate = check_gate(metrics[candidate_name], champion_metrics, gate_config)
        mlflow.log_dict({"passed": gate.passed, "checks": gate.checks, "failures": gate.failures},
                        "gate.json")  # fmt: skip
        mlflow.set_tag("gate", gate.summary())
        registry.set_tags(
            family.name,
            version,
            {"gate": gate.summary(), "run_id": run.info.run_id, "data_fingerprint": fingerprint},
        )
        promoted = False
        if gate.passed:
            registry.promote(
                family.name,
                version,
                reason=f"quality gate passed in run {run.info.run_id} ({gate.summary()})",
                actor=settings.user or "pipeline",
            )
            promoted = True
        return RunOutcome(
            run_id=run.info.run_id,
            version=version,
            promoted=promoted,
            gate=gate,
            metrics=metrics,
            champion_before=champion_before,
        )


def use_experiment(name: str, settings: Settings) -> None:
    """Use the family's experiment, creating it with its artifacts under the artifacts folder
    (MLflow's default, ./mlruns, would follow the current directory)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri())
    if client.get_experiment_by_name(name) is None:
        location = (settings.artifacts_dir / "mlruns").resolve()
        location.mkdir(parents=True, exist_ok=True)
        client.create_experiment(name, artifact_location=location.as_uri())
    mlflow.set_experiment(name)


def frame_fingerprint(*frames: pd.DataFrame) -> str:
    """A content hash of the data a model was trained and evaluated on."""
    digest = hashlib.sha256()
    for frame in frames:
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=False)
        digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _pip_requirements() -> list[str]:
    versions = library_versions()
    pins = [f"{name}=={versions[name]}" for name in LIBRARIES if versions[name] != ABSENT]
    return [p for p in pins if not p.startswith("returns-triage")]


def _log_evaluation(name: str, evaluation: Evaluation) -> None:
    mlflow.log_metrics({f"{name}.{k}": v for k, v in evaluation.metrics.items()})
    for key, report in evaluation.reports.items():
        mlflow.log_dict(report, f"reports/{name}/{key}.json")
    for key, figure in evaluation.figures.items():
        mlflow.log_figure(figure, f"figures/{name}/{key}.png")


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if key == "gate":
            continue  # logged whole in params.yaml; too many keys for params
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else str(value)
    return flat


@contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """A rich progress display; call the yielded function to announce the next step."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        current: list[TaskID] = []

        def step(description: str) -> None:
            if current:
                progress.update(current[-1], completed=1, total=1)
            current.append(progress.add_task(description, total=None))

        yield step
        if current:
            progress.update(current[-1], completed=1, total=1)
