"""Alembic migrations of the audit store (run through `serving.audit.store.upgrade`)."""
