"""Benchmark the audit store: appends/s one record per transaction, and batched (100 per
`append_many`), beside raw SQLAlchemy inserts of the same rows without hashing or chain lock.

Runs on a SQLite file (WAL, synchronous=FULL, as the store configures it) and, when a server
answers, on PostgreSQL in a scratch database that is dropped afterwards. Medians over repeats,
because the machine is shared and noisy.

    python benchmarks/bench_audit.py [--single 300] [--batches 20] [--repeats 3]
                                     [--postgres-url postgresql+psycopg2://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from serving.audit import AuditEntry, AuditStore
from serving.audit.hashing import canonical_json
from serving.audit.store import make_engine

BATCH = 100
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"

_plain_metadata = sa.MetaData()
plain_records = sa.Table(
    "plain_records",
    _plain_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("record_id", sa.String(36), nullable=False, unique=True),
    sa.Column("case_id", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)


def _payload(i: int) -> dict[str, Any]:
    """A triage record of realistic size (about 600 bytes of JSON)."""
    return {
        "request": {"return_id": f"RET-{i}", "sku": "SKU-00042", "quantity": 2, "value": 129.5},
        "scores": {"fraud": 0.0731, "damage": 0.412, "reason_confidence": 0.88},
        "reason_code": "DAMAGED_IN_TRANSIT",
        "disposition": "RESALE_DISCOUNTED",
        "model_versions": {"reason": "12", "damage": "4", "fraud": "9", "disposition": "3"},
        "policy_version": "2025.11.1",
        "rules_fired": ["value_above_threshold", "random_audit_sample"],
        "review": {"inspection": True, "finance": False, "fraud": False},
    }


def _plain_row(i: int) -> dict[str, Any]:
    return {
        "record_id": str(uuid.uuid4()),
        "case_id": f"RET-{i}",
        "kind": "triage",
        "created_at": datetime.now(UTC),
        "actor": "bench",
        "payload": canonical_json(_payload(i)),
    }


def _rate(count: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def _measure(url: sa.URL, single: int, batches: int) -> dict[str, tuple[float, float]]:
    """appends/s (single, batched) for the store and the plain baseline on a fresh schema."""
    store = AuditStore(url)
    store.upgrade()
    plain = make_engine(url)
    _plain_metadata.create_all(plain)  # the baseline table only; the store is migrated
    try:

        def store_single() -> None:
            for i in range(single):
                store.append("triage", f"RET-{i}", "bench", _payload(i))

        def store_batched() -> None:
            for _ in range(batches):
                store.append_many(
                    [AuditEntry("triage", f"RET-{i}", "bench", _payload(i)) for i in range(BATCH)]
                )

        def plain_single() -> None:
            for i in range(single):
                with plain.begin() as connection:
                    connection.execute(sa.insert(plain_records).values(**_plain_row(i)))

        def plain_batched() -> None:
            for _ in range(batches):
                with plain.begin() as connection:
                    connection.execute(
                        sa.insert(plain_records), [_plain_row(i) for i in range(BATCH)]
                    )

        return {
            "audit store": (
                _rate(single, store_single),
                _rate(batches * BATCH, store_batched),
            ),
            "raw insert, no hash": (
                _rate(single, plain_single),
                _rate(batches * BATCH, plain_batched),
            ),
        }
    finally:
        assert store.verify().ok
        store.close()
        plain.dispose()


@contextmanager
def _postgres_database(admin_url: str) -> Iterator[sa.URL | None]:
    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"triage_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL: not reachable at {admin_url} ({str(exc.orig).strip()}); skipped")
        admin.dispose()
        yield None
        return
    try:
        yield sa.make_url(admin_url).set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _fresh_schema(database: sa.URL) -> sa.URL:
    schema = f"b_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return database.update_query_dict({"options": f"-csearch_path={schema}"})


def _report(backend: str, runs: list[dict[str, tuple[float, float]]]) -> None:
    print(f"\n{backend}: appends/s, median of {len(runs)} runs")
    print(f"  {'':<22}{'single':>10}{f'batch of {BATCH}':>16}")
    for name in runs[0]:
        single = statistics.median(run[name][0] for run in runs)
        batched = statistics.median(run[name][1] for run in runs)
        print(f"  {name:<22}{single:>10,.0f}{batched:>16,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=300, help="single appends per run")
    parser.add_argument("--batches", type=int, default=20, help=f"batches of {BATCH} per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TRIAGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL of a PostgreSQL server (a scratch database is created and dropped)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            _measure(
                sa.make_url(f"sqlite:///{Path(tmp) / f'audit{r}.db'}"), args.single, args.batches
            )
            for r in range(args.repeats)
        ]
    _report("SQLite (file, WAL, synchronous=FULL)", runs)

    with _postgres_database(args.postgres_url) as database:
        if database is not None:
            runs = [
                _measure(_fresh_schema(database), args.single, args.batches)
                for _ in range(args.repeats)
            ]
            _report("PostgreSQL", runs)


if __name__ == "__main__":
    main()
