"""Operations: liveness, readiness, Prometheus metrics and the versions that are running."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from models.versions import ABSENT, LIBRARIES, library_versions
from serving.deps import CallerDep, StateDep
from serving.predictors import Predictors
from serving.routers.triage import AUTH_ERRORS
from serving.schemas import (
    CheckPublic,
    HealthPublic,
    ModelStatusPublic,
    PolicyRef,
    ReadyPublic,
    VersionsPublic,
)

router = APIRouter(tags=["meta"])
versions_router = APIRouter(tags=["meta"])

SERVICE = "returns-triage"
# the model libraries plus what the service itself runs on
SERVICE_LIBRARIES = (*LIBRARIES, "fastapi", "pydantic", "sqlalchemy", "uvicorn")


def _models(predictors: Predictors) -> dict[str, ModelStatusPublic]:
    return {
        name: ModelStatusPublic(
            available=s.available,
            uri=s.uri,
            version=s.version,
            detail=s.detail,
            library_mismatches=s.library_mismatches,
            product_lines=predictors.damage_product_lines() if name == "damage" else [],
        )
        for name, s in predictors.statuses.items()
    }


@router.get("/health", operation_id="health", summary="Liveness", response_model=HealthPublic)
def health() -> HealthPublic:
    """The process answers (no dependencies checked, no authentication)."""
    return HealthPublic(status="ok")


@router.get(
    "/ready",
    operation_id="ready",
    summary="Readiness",
    response_model=ReadyPublic,
    responses={503: {"model": ReadyPublic, "description": "Not ready"}},
)
def ready(state: StateDep) -> Response:
    """Ready when the policy is loaded and the audit store answers. Models are reported but a
    missing one does not make the service unready: it triages on rules and forces review."""
    checks = {"policy": CheckPublic(ok=True, detail=f"{state.policy.name} {state.policy.version}")}
    try:
        head = state.store.head()
        checks["audit_store"] = CheckPublic(ok=True, detail=f"{head[0] if head else 0} records")
    except Exception as exc:  # any database error means: not ready
        checks["audit_store"] = CheckPublic(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    body = ReadyPublic(
        ready=all(check.ok for check in checks.values()),
        checks=checks,
        models=_models(state.predictors),
    )
    code = status.HTTP_200_OK if body.ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(state: StateDep) -> Response:
    """Request counts and latency by route, triage outcomes, queues and model fallbacks."""
    for name, model_status in state.predictors.statuses.items():
        state.metrics.model_available.labels(name).set(1 if model_status.available else 0)
    return Response(exposition(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def exposition(registry: CollectorRegistry) -> bytes:
    """The metrics in Prometheus text format: this app's registry, or with several worker
    processes (`PROMETHEUS_MULTIPROC_DIR` set, as `triage serve --workers` does) the sum over
    every worker's files, so a scrape sees the service, not the one worker that answered."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return bytes(generate_latest(merged))
    return bytes(generate_latest(registry))


@versions_router.get(
    "/versions",
    operation_id="versions",
    summary="Policy, model and library versions",
    response_model=VersionsPublic,
    responses={**AUTH_ERRORS},
)
def versions(caller: CallerDep, state: StateDep) -> VersionsPublic:
    """What is running: the policy version, each model's version, and library versions."""
    libraries: dict[str, str | None] = {
        name: (None if version == ABSENT else version)
        for name, version in library_versions(SERVICE_LIBRARIES).items()
    }
    policy = state.policy
    return VersionsPublic(
        service=SERVICE,
        policy=PolicyRef(name=policy.name, revision=policy.revision, version=policy.version),
        models=_models(state.predictors),
        libraries=libraries,
    )
