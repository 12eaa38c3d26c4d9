"""The API's routers, one per domain, joined here (the template's `app/api/main.py`)."""

from fastapi import APIRouter

from serving.routers import audit, components, customers, decisions, meta, queues, triage

api_router = APIRouter(prefix="/v1")
api_router.include_router(triage.router)
api_router.include_router(decisions.router)
api_router.include_router(queues.router)
api_router.include_router(customers.router)
api_router.include_router(components.router)
api_router.include_router(audit.router)
api_router.include_router(meta.versions_router)

__all__ = ["api_router", "meta"]
