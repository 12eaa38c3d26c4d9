"""Revisions of the audit store schema (Alembic ignores this file)."""
