"""The FastAPI application: `create_app()` wires routers, middleware and the lifespan.

Nothing happens at import. The lifespan loads the API keys, the review policy, the audit store
(migrating it) and the models, records a policy change in the audit trail when the policy
version differs from the last one recorded, and puts everything on `app.state.service`. Then
it freezes the garbage collector's view of what it loaded (`frozen_heap`, `TRIAGE_GC_FREEZE`).

Run: ``uvicorn --factory serving.app:create_app`` (or ``python -m serving``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.audit import AuditEntry, AuditStore, Outcome, RecordKind, request_hash
from serving.config import EXAMPLE_API_KEYS_FILE, ApiKeyring, ServingSettings, get_settings
from serving.deps import ServiceMetrics, ServiceState
from serving.policy import PolicyEngine
from serving.predictors import load_predictors
from serving.routers import api_router, meta
from serving.triage import sync_customer_state

logger = logging.getLogger(__name__)

DESCRIPTION = """Returns triage and fraud service for product distributors.

Authenticate with an API key in `X-API-Key`; each key maps to roles (workflow, inspector,
approver, fraud_analyst, data_scientist, admin). Every triage is recorded in a hash-chained
audit trail with the policy version and model versions it was made with."""


def load_state(
    settings: ServingSettings, model_loader: Callable[[str], Any] | None = None
) -> ServiceState:
    """Load keys, policy, audit store (migrated) and models; a missing model is a fallback."""
    if settings.api_keys_file.resolve() == EXAMPLE_API_KEYS_FILE:
        logger.warning(
            "using the DEVELOPMENT API keys in %s: set TRIAGE_API_KEYS_FILE in any real deployment",
            EXAMPLE_API_KEYS_FILE,
        )
    keyring = ApiKeyring.from_file(settings.api_keys_file)
    policy = PolicyEngine.from_file(settings.policy_file)
    url = sa.make_url(settings.audit_database_url())
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    store = AuditStore(url)
    try:
        store.upgrade()
        record_policy(store, policy)
        predictors = load_predictors(settings, model_loader)
        replayed = sync_customer_state(store, predictors)
        if replayed:
            logger.info(
                "customer state: replayed %d triaged returns and labels from the audit trail",
                replayed,
            )
    except BaseException:
        store.close()
        raise
    return ServiceState(
        settings=settings, policy=policy, store=store, predictors=predictors, keyring=keyring
    )


def record_policy(store: AuditStore, policy: PolicyEngine) -> None:
    """Append a policy-change record when this policy version is not the latest recorded."""
    subject = f"policy:{policy.name}"
    previous = None
    for record in reversed(store.records_for_case(subject)):
        if record.kind == RecordKind.POLICY_CHANGE:
            previous = record.payload.get("version")
            break
    if previous == policy.version:
        return
    payload = {
        "name": policy.name,
        "revision": policy.revision,
        "version": policy.version,
        "previous_version": previous,
    }
    entry = AuditEntry(RecordKind.POLICY_CHANGE, subject, "service", payload)
    # several workers starting at once record the change once
    key = f"policy_change:{previous}->{policy.version}"
    store.idempotent(key, request_hash(payload), lambda: Outcome(payload, [entry]))


def create_app(
    settings: ServingSettings | None = None,
    *,
    model_loader: Callable[[str], Any] | None = None,
) -> FastAPI:
    """Build the app. `settings` default to `get_settings()` (environment); `model_loader`
    replaces `mlflow.pyfunc.load_model` (tests). Nothing is loaded until the lifespan runs."""
    resolved = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(load_state, resolved, model_loader)
        app.state.service = state
        try:
            with frozen_heap() if resolved.gc_freeze else nullcontext():
                yield
        finally:
            del app.state.service
            state.store.close()

    app = FastAPI(
        title="returns-triage",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "triage", "description": "Triage of return cases"},
            {"name": "decisions", "description": "Inspections and approvals"},
            {"name": "queues", "description": "Review queues"},
            {"name": "customers", "description": "Fraud risk of customers, analysts' labels"},
            {"name": "components", "description": "Single models: notes, photos"},
            {"name": "audit", "description": "The audit trail"},
            {"name": "meta", "description": "Health, readiness, metrics, versions"},
        ],
    )
    # no `dependency_overrides` here: with any override set, FastAPI re-inspects every
    # dependency's signature on every request (the routes read settings from the state)
    app.include_router(meta.router)
    app.include_router(api_router)
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    # the last added is outermost: metrics also count the 413s of the body limit and the 503s
    # of load shedding
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=resolved.max_body_bytes)
    app.add_middleware(LoadShedMiddleware, max_in_flight=resolved.max_in_flight)
    app.add_middleware(MetricsMiddleware)
    return app


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move every object alive now (models, customer state, policy: ~400k objects with the
    fast-profile models) out of the cyclic garbage collector's reach while serving, and back
    on exit. Full collections stall every request in flight. Measured in-process over 3,000
    triages (2026-12-04): without the freeze, 2 full collections of 230 and 280 ms; with it,
    3 of 50-109 ms (they still walk what serving itself keeps: new customer state, caches)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each field, without echoing the input back (it may be megabytes)."""
    detail = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return  # the app's own answer to the aborted body is replaced
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.max_bytes:,} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


MODEL_ROUTES = ("/v1/triage", "/v1/components/")
"""Path prefixes of the POST routes that run models (what load shedding limits)."""


class LoadShedMiddleware:
    """Answer 503 (Retry-After: 1) to a model request when `max_in_flight` are in progress.

    Past its capacity a service that queues everything answers nothing in time: latency grows
    with the queue and the throughput it does manage falls (measured: offered 100/s, ~25/s
    answered after many seconds each). Refusing the excess at once keeps the accepted
    requests fast; clients retry with the same Idempotency-Key, and nothing was recorded.
    The counter lives on the event loop (one thread), so no lock is needed.
    """

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and str(scope.get("path", "")).startswith(MODEL_ROUTES)
        )
        if not limited:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            response = JSONResponse(
                {"detail": f"busy: {self.in_flight} model requests in progress; retry shortly"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
            await response(scope, _no_receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class _BodyTooLarge(Exception):
    """Raised into the app when the streamed body passes the limit."""


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class MetricsMiddleware:
    """Count requests and time them by route template (not raw path: bounded label values)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status_code = 500

        async def recording_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            state = getattr(scope.get("app"), "state", None)
            service = getattr(state, "service", None)
            if isinstance(service, ServiceState):
                metrics: ServiceMetrics = service.metrics
                route = _route_template(scope)
                method = scope.get("method", "")
                metrics.requests.labels(method, route, str(status_code)).inc()
                metrics.latency.labels(method, route).observe(time.perf_counter() - began)


def _route_template(scope: Scope) -> str:
    """The matched route's full path template (``/v1/triage/{case_id}``), or ``unmatched``."""
    # FastAPI >= 0.16x resolves included routers lazily: the full template is on the effective
    # route context; older versions put the full path on the route itself
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"
