"""FastAPI dependencies and their `Annotated` aliases (the template's `app/api/deps.py`).

The lifespan puts one `ServiceState` on `app.state.service`; the aliases hand its parts to the
routes, so tests can swap any of them through `app.dependency_overrides`. Callers authenticate
with an API key in `X-API-Key`: a missing or unknown key is 401, a key without a role the route
needs is 403.

The dependencies are `async def` although none awaits: they only read loaded state, and FastAPI
runs a plain `def` dependency in the thread pool, one hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from serving.audit import AuditStore
from serving.config import ApiKeyring, Principal, Role, ServingSettings
from serving.policy import PolicyEngine
from serving.predictors import Predictors


class ServiceMetrics:
    """Prometheus metrics of one app (own registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "triage_http_requests_total",
            "HTTP requests by route template, method and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "triage_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "triage_outcomes_total",
            "New triage decisions by outcome (auto_approved, review_required) ",
            ["outcome"],
            registry=self.registry,
        )
        self.queued = Counter(
            "triage_review_queue_total",
            "New triages sent to each review queue",
            ["queue"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "triage_model_fallbacks_total",
            "New triages decided without a model's answer, by model",
            ["model"],
            registry=self.registry,
        )
        self.replays = Counter(
            "triage_idempotent_replays_total",
            "Requests answered from an earlier identical request",
            registry=self.registry,
        )
        self.model_available = Gauge(
            "triage_model_available",
            "1 when the model is loaded (in every worker)",
            ["model"],
            registry=self.registry,
            multiprocess_mode="min",
        )


@dataclass
class ServiceState:
    """Everything the lifespan loads once per process."""

    settings: ServingSettings
    policy: PolicyEngine
    store: AuditStore
    predictors: Predictors
    keyring: ApiKeyring
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)


async def get_state(request: Request) -> ServiceState:
    """The state the lifespan loaded (503 if the app was not started through its lifespan)."""
    state = getattr(request.app.state, "service", None)
    if not isinstance(state, ServiceState):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "service is starting")
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_policy(state: StateDep) -> PolicyEngine:
    """The loaded review policy."""
    return state.policy


async def get_store(state: StateDep) -> AuditStore:
    """The audit store."""
    return state.store


async def get_predictors(state: StateDep) -> Predictors:
    """The loaded models (unavailable ones are None)."""
    return state.predictors


async def get_metrics(state: StateDep) -> ServiceMetrics:
    """The app's Prometheus metrics."""
    return state.metrics


async def get_serving_settings(state: StateDep) -> ServingSettings:
    """The settings the app was created with."""
    return state.settings


SettingsDep = Annotated[ServingSettings, Depends(get_serving_settings)]
PolicyDep = Annotated[PolicyEngine, Depends(get_policy)]
AuditDep = Annotated[AuditStore, Depends(get_store)]
PredictorsDep = Annotated[Predictors, Depends(get_predictors)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key; it maps to a principal and roles"
)


async def get_caller(
    state: StateDep, api_key: Annotated[str | None, Depends(api_key_header)]
) -> Principal:
    """The authenticated caller: 401 without a key or with an unknown one."""
    if not api_key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    principal = state.keyring.principal(api_key)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "APIKey"}
        )
    return principal


CallerDep = Annotated[Principal, Depends(get_caller)]
"""Any authenticated caller, whatever its roles."""


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through callers holding at least one of `roles` (else 403)."""
    allowed = frozenset(roles)

    async def check(caller: CallerDep) -> Principal:
        if not caller.roles & allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{caller.name} lacks the role this needs (one of: {names})",
            )
        return caller

    return check


WorkflowCaller = Annotated[Principal, Depends(require_roles(Role.WORKFLOW, Role.ADMIN))]
"""Workflow systems (and admins): triage calls."""
DeciderCaller = Annotated[Principal, Depends(require_roles(Role.INSPECTOR, Role.APPROVER))]
"""People who decide: inspectors and approvers (never admins: decisions are personal)."""
QueueCaller = Annotated[
    Principal,
    Depends(
        require_roles(Role.INSPECTOR, Role.FRAUD_ANALYST, Role.APPROVER, Role.WORKFLOW, Role.ADMIN)
    ),
]
"""Anyone who may read some queue; the route checks the queue itself (`QUEUE_ROLES`)."""
AuditReader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.DATA_SCIENTIST))]
"""Reads of a case's audit trail."""
AdminCaller = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
"""Operations: verify and export the audit chain."""
