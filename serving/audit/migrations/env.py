"""Alembic environment of the audit store.

Run programmatically by `serving.audit.store.upgrade`, which hands over an open connection in
``config.attributes["connection"]``; there is no alembic.ini. Offline mode (``--sql``) renders the
DDL for a DBA to review, from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

# Its own version table, so the audit schema can share a database with other migrated schemas.
VERSION_TABLE = "audit_alembic_version"


def run_offline() -> None:
    """Write the migration SQL instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the connection the caller opened (its transaction is the caller's)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the audit migrations through serving.audit.store.upgrade()")
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
