"""The audit store: an append-only, hash-chained record of every recommendation and decision.

Records are only ever appended (there is no update or delete here, and database triggers refuse
both); a later human decision or approval is a new record about the same case. Every record is
chained to the one before it by SHA-256 (see `serving.audit.hashing` for the exact rules), so
`AuditStore.verify` finds an edited, deleted, inserted or re-ordered record and names it, and an
export can be re-verified by an auditor without this service.

Appends are serialised across threads and processes by the database itself, because every record
hashes its predecessor: SQLite takes the write lock up front (``BEGIN IMMEDIATE``), PostgreSQL a
transaction-scoped advisory lock. The schema is created by Alembic (`upgrade`), never by
``create_all``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from serving.audit.hashing import (
    EXPORT_FIELDS,
    GENESIS_HASH,
    ChainVerifier,
    JSONValue,
    VerificationResult,
    canonical_json,
    chain_hash,
    dumps_canonical,
    format_timestamp,
    to_json_value,
)

MAX_PAYLOAD_BYTES = 1_048_576
"""Largest canonical JSON payload (and idempotent response) accepted, in UTF-8 bytes."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_WRITE = "audit_write"  # execution option: this connection's transaction will write
_CHAIN_LOCK = int.from_bytes(
    hashlib.sha256(b"returns-triage:audit-chain").digest()[:8], "big", signed=True
)
_MIGRATION_LOCK = _CHAIN_LOCK ^ 1
_MAX_ATTEMPTS = 5
_MAX_TEXT = {"case_id": 200, "actor": 200}

_metadata = sa.MetaData()
# Mirrors migrations/versions/0001_audit.py for queries only: never created from here.
audit_records = sa.Table(
    "audit_records",
    _metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("record_id", sa.String(36), nullable=False, unique=True),
    sa.Column("case_id", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
)
idempotency_keys = sa.Table(
    "idempotency_keys",
    _metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(128), nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("record_id", sa.String(36), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class RecordKind(StrEnum):
    """What a record is about. Add a member here to record a new kind of event."""

    TRIAGE = "triage"
    """A recommendation the service made (inputs, model and policy versions, rules fired)."""
    DECISION = "decision"
    """A person's final disposition and condition (with the override reason, if any)."""
    APPROVAL = "approval"
    """A finance approval (or rejection) of a write-off or credit."""
    FRAUD_LABEL = "fraud_label"
    """A fraud analyst's fraud / not-fraud verdict."""
    POLICY_CHANGE = "policy_change"
    """A new review-policy version took effect."""
    MODEL_PROMOTION = "model_promotion"
    """A champion alias moved (promotion or rollback)."""


class IdempotencyConflict(Exception):
    """An idempotency key was reused for a different request (the API answers 422)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; "
            "use a new key for a new request"
        )
        self.key = key


class DuplicateRecordError(ValueError):
    """A record with this record_id already exists."""


@dataclass(frozen=True)
class AuditEntry:
    """A record to append. `record_id` may be chosen up front (to quote it in a response)."""

    kind: RecordKind | str
    case_id: str
    actor: str
    payload: Mapping[str, Any]
    record_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class AuditRecord:
    """A stored record. `case_id` is the return id (or a subject such as ``policy:default``)."""

    id: int
    record_id: str
    case_id: str
    kind: str
    created_at: datetime
    actor: str
    payload: dict[str, Any]
    prev_hash: str
    record_hash: str

    def to_export(self) -> dict[str, Any]:
        """The record as exported (timestamps in canonical text)."""
        return {
            "id": self.id,
            "record_id": self.record_id,
            "case_id": self.case_id,
            "kind": self.kind,
            "created_at": format_timestamp(self.created_at),
            "actor": self.actor,
            "prev_hash": self.prev_hash,
            "record_hash": self.record_hash,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class Outcome:
    """What an idempotent operation produced: the response to give and the records to append."""

    response: Any
    entries: Sequence[AuditEntry]


@dataclass(frozen=True)
class IdempotentResult:
    """The response of an idempotent call; `replayed` when it was stored by an earlier call."""

    response: Any
    record_id: str | None
    replayed: bool


@dataclass(frozen=True)
class _Prepared:
    record_id: str
    kind: str
    case_id: str
    actor: str
    payload: dict[str, Any]
    payload_text: str


# Statements of the write path, built once: building a statement and its cache key costs more
# than running it on SQLite.
_STORED_RESPONSE = sa.select(
    idempotency_keys.c.request_hash, idempotency_keys.c.response, idempotency_keys.c.record_id
).where(idempotency_keys.c.key == sa.bindparam("key"))
_CHAIN_HEAD = (
    sa.select(audit_records.c.id, audit_records.c.record_hash, audit_records.c.created_at)
    .order_by(audit_records.c.id.desc())
    .limit(1)
)
_INSERT_KEY = sa.insert(idempotency_keys)
_INSERT_RECORD = sa.insert(audit_records)


# ---------------------------------------------------------------------------- engine, schema


def make_engine(url: str | sa.URL, *, busy_timeout_s: float = 30.0) -> sa.Engine:
    """An engine for the audit store: SQLite (file, WAL, busy timeout) or PostgreSQL.

    SQLite connections run in WAL mode with ``synchronous=FULL`` (a committed record survives a
    power cut), foreign keys on and a busy timeout, and open write transactions with
    ``BEGIN IMMEDIATE``. In-memory SQLite is refused: each connection would see its own empty
    database.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ValueError("the audit store needs a SQLite file, not an in-memory database")
        engine = sa.create_engine(parsed)
        _configure_sqlite(engine, busy_timeout_ms=int(busy_timeout_s * 1000))
        return engine
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise ValueError(f"the audit store supports sqlite and postgresql, not {backend!r}")


def enable_wal(cursor: Any, timeout_s: float) -> None:
    """Put a SQLite database in WAL mode, retrying while another connection blocks the switch.

    Two processes opening a new database at once (workers starting together) may both find it
    in rollback-journal mode and both try to convert it; SQLite then answers one of them
    "database is locked" at once, without waiting in the busy handler (waiting could deadlock),
    or leaves the mode as it was. Seen once in a benchmark start of two workers (2026-12-04).
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            row = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
            mode = str(row[0]).lower() if row else ""
            if mode == "wal":
                return
            problem = f"journal_mode stayed {mode!r}"
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            problem = str(exc)
        if time.monotonic() + delay > deadline:
            raise sqlite3.OperationalError(f"could not switch the audit store to WAL: {problem}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _configure_sqlite(engine: sa.Engine, *, busy_timeout_ms: int) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling cannot BEGIN IMMEDIATE: take it over.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")  # first: WAL needs a lock
            enable_wal(cursor, timeout_s=busy_timeout_ms / 1000)
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        writes = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def upgrade(engine_or_url: sa.Engine | str | sa.URL, revision: str = "head") -> None:
    """Migrate the audit schema to `revision` (no alembic.ini; works from an installed package).

    Concurrent callers (several workers starting at once) are serialised by the database.
    """
    engine = engine_or_url if isinstance(engine_or_url, sa.Engine) else make_engine(engine_or_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with _write_transaction(engine, _MIGRATION_LOCK) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


_SQLITE_WRITERS: weakref.WeakKeyDictionary[sa.Engine, Any] = weakref.WeakKeyDictionary()
"""One lock per SQLite engine: the threads of a process queue for the write lock here."""
_SQLITE_WRITERS_GUARD = threading.Lock()


@contextmanager
def _write_transaction(engine: sa.Engine, lock: int = _CHAIN_LOCK) -> Iterator[sa.Connection]:
    """A transaction that holds the database-wide write lock of the audit chain until it ends.

    SQLite: threads of this process take turns on a Python lock before `BEGIN IMMEDIATE`.
    Without it they would all contend in SQLite's busy handler, which sleeps in growing steps
    (up to 100 ms) between tries: under concurrent load, most of a request's time. Other
    processes still wait in the busy handler (`busy_timeout`). The lock is re-entrant: a write
    nested in another on one thread fails after the busy timeout instead of hanging.
    """
    if engine.dialect.name == "sqlite":
        with _SQLITE_WRITERS_GUARD:
            writers = _SQLITE_WRITERS.setdefault(engine, threading.RLock())
        with writers, engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                yield connection
        return
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
            yield connection


# ---------------------------------------------------------------------------- the store


class AuditStore:
    """Append-only, hash-chained audit records, with idempotent writes and verifiable exports.

    `url` is a SQLAlchemy URL (``sqlite:///path/audit.db`` or ``postgresql+psycopg2://...``).
    Construction does no I/O; call `upgrade` once (e.g. at service start) to create the schema.
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        busy_timeout_s: float = 30.0,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        self.max_payload_bytes = max_payload_bytes

    @contextmanager
    def locked_transaction(self, lock_name: str) -> Iterator[sa.Connection]:
        """A write transaction serialised with others of the same `lock_name` (derived data
        such as projections; SQLite serialises every writer anyway)."""
        lock = int.from_bytes(
            hashlib.sha256(f"returns-triage:{lock_name}".encode()).digest()[:8], "big", signed=True
        )
        with _write_transaction(self.engine, lock) as connection:
            yield connection

    def upgrade(self, revision: str = "head") -> None:
        """Migrate this store's database to `revision` (see module-level `upgrade`)."""
        upgrade(self.engine, revision)

    def close(self) -> None:
        """Release the store's database connections."""
        self.engine.dispose()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        kind: RecordKind | str,
        case_id: str,
        actor: str,
        payload: Mapping[str, Any],
        *,
        record_id: str | None = None,
    ) -> AuditRecord:
        """Append one record and return it as stored.

        Raises ValueError (naming the field) for an unknown kind, a blank or too long case_id or
        actor, or a payload that is not a JSON object, not JSON-serialisable or too large.
        """
        entry = AuditEntry(kind, case_id, actor, payload, record_id or str(uuid.uuid4()))
        return self._append_prepared([self._prepare(entry)])[0]

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append several records in one transaction (all or none), in the given order.

        A ValueError names the entry and field (``entries[3].payload.price: ...``).
        """
        return self._append_prepared(self._prepare_all(entries))

    def _append_prepared(self, prepared: Sequence[_Prepared]) -> list[AuditRecord]:
        if not prepared:
            return []
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with _write_transaction(self.engine) as connection:
                    return self._insert(connection, prepared)
            except sa.exc.IntegrityError:
                self._raise_if_duplicate(prepared)
                if attempt == _MAX_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def idempotent(
        self,
        key: str,
        request_hash: str,
        produce: Callable[[], Outcome],
        precondition: Callable[[list[AuditRecord]], None] | None = None,
        precondition_case: str | None = None,
    ) -> IdempotentResult:
        """Run `produce` at most once per `key` and store its records with its response.

        If `key` was used before with the same `request_hash`, the stored response is returned
        and nothing is created; with a different `request_hash`, IdempotencyConflict is raised.
        Otherwise `produce` is called (outside any lock: it may run models) and its records and
        response are stored in one transaction with the key. Callers racing on one key (threads
        or processes) may each call `produce`, but exactly one result is stored and every caller
        gets that response; the key's unique constraint is the backstop. The response is
        returned as stored (parsed canonical JSON), identical for first and repeated calls.

        `precondition`, when given, is called with the records of `precondition_case` read
        inside the write transaction, under the chain lock, just before the insert: a check it
        makes (segregation of duties, say) cannot be raced by a concurrent writer. Whatever it
        raises aborts the write and reaches the caller.
        """
        if (precondition is None) != (precondition_case is None):
            raise ValueError("precondition and precondition_case go together")
        if not key or len(key) > 255:
            raise ValueError("idempotency key: must be 1 to 255 characters")
        if not request_hash or len(request_hash) > 128:
            raise ValueError("request_hash: must be 1 to 128 characters")
        stored = self._stored_response(key, request_hash)
        if stored is not None:
            return stored
        outcome = produce()
        prepared = self._prepare_all(outcome.entries)
        response_text = self._canonical_limited(
            to_json_value(outcome.response, "response"), "response"
        )
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with _write_transaction(self.engine) as connection:
                    stored = self._stored_response(key, request_hash, connection)
                    if stored is not None:
                        return stored
                    if precondition is not None and precondition_case is not None:
                        precondition(self._case_records(connection, precondition_case))
                    records = self._insert(connection, prepared)
                    connection.execute(
                        _INSERT_KEY,
                        {
                            "key": key,
                            "request_hash": request_hash,
                            "response": response_text,
                            "record_id": records[0].record_id if records else None,
                            "created_at": datetime.now(UTC),
                        },
                    )
                return IdempotentResult(
                    response=json.loads(response_text),
                    record_id=records[0].record_id if records else None,
                    replayed=False,
                )
            except sa.exc.IntegrityError:
                # Lost a race (a writer that bypassed the lock), or a duplicate record_id.
                stored = self._stored_response(key, request_hash)
                if stored is not None:
                    return stored
                self._raise_if_duplicate(prepared)
                if attempt == _MAX_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ reading

    def get(self, record_id: str) -> AuditRecord | None:
        """The record with this record_id, or None."""
        query = sa.select(audit_records).where(audit_records.c.record_id == record_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _to_record(row)

    def records_for_case(self, case_id: str) -> list[AuditRecord]:
        """Every record about `case_id`, oldest first."""
        with self.engine.connect() as connection:
            return self._case_records(connection, case_id)

    @staticmethod
    def _case_records(connection: sa.Connection, case_id: str) -> list[AuditRecord]:
        query = (
            sa.select(audit_records)
            .where(audit_records.c.case_id == case_id)
            .order_by(audit_records.c.id)
        )
        return [_to_record(row) for row in connection.execute(query).mappings().all()]

    def head(self) -> tuple[int, str] | None:
        """(id, record_hash) of the latest record, or None when empty; keep it elsewhere to
        detect later that the chain was cut at its end (the chain cannot show that itself)."""
        query = (
            sa.select(audit_records.c.id, audit_records.c.record_hash)
            .order_by(audit_records.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def verify(self) -> VerificationResult:
        """Recompute every record's hash in sequence order and check every link.

        Stops at the first broken record: `first_broken_id` is its sequence id, `reason` says
        whether its content changed (CONTENT_MISMATCH) or it no longer follows the record before
        it (BROKEN_LINK: a record was deleted, inserted, swapped or replaced before it).
        """
        verifier = ChainVerifier()
        query = sa.select(audit_records).order_by(audit_records.c.id)
        with self.engine.connect() as connection:
            rows = connection.execution_options(yield_per=1000).execute(query).mappings()
            for row in rows:
                if not verifier.feed(
                    id=int(row["id"]),
                    record_id=row["record_id"],
                    case_id=row["case_id"],
                    kind=row["kind"],
                    created_at=format_timestamp(_utc(row["created_at"])),
                    actor=row["actor"],
                    payload_json=row["payload"],  # hashed as stored: any edited byte shows
                    prev_hash=row["prev_hash"],
                    record_hash=row["record_hash"],
                ):
                    break
        return verifier.result()

    def export(
        self,
        start: datetime | None,
        end: datetime | None,
        fmt: str = "jsonl",
        out: TextIO | None = None,
    ) -> int:
        """Stream the records with ``start <= created_at < end`` (None: unbounded) to `out`.

        `fmt` is ``jsonl`` (one canonical JSON object per line, payload as an object) or ``csv``
        (header row, columns as `serving.audit.hashing.EXPORT_FIELDS`, payload as its canonical
        JSON text; open the file with ``newline=""``). Because ``created_at`` never decreases
        along the chain, a range is a contiguous chain segment: `verify_export` re-checks it.
        Values are written verbatim (no spreadsheet-formula escaping) so they still hash.
        Returns the number of records written.
        """
        if out is None:
            raise ValueError("out: give a text stream to write the export to")
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"fmt must be 'jsonl' or 'csv', not {fmt!r}")
        query = sa.select(audit_records).order_by(audit_records.c.id)
        for name, bound in (("start", start), ("end", end)):
            if bound is not None and (bound.tzinfo is None or bound.utcoffset() is None):
                raise ValueError(f"{name}: give a timezone-aware datetime")
        if start is not None:
            query = query.where(audit_records.c.created_at >= start.astimezone(UTC))
        if end is not None:
            query = query.where(audit_records.c.created_at < end.astimezone(UTC))
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(EXPORT_FIELDS)
        count = 0
        with self.engine.connect() as connection:
            rows = connection.execution_options(yield_per=1000).execute(query).mappings()
            for row in rows:
                record = _to_record(row)
                if writer is not None:
                    exported = record.to_export()
                    exported["payload"] = row["payload"]
                    writer.writerow([exported[name] for name in EXPORT_FIELDS])
                else:
                    out.write(canonical_json(record.to_export(), "record") + "\n")
                count += 1
        return count

    # ------------------------------------------------------------------ internals

    def _prepare_all(self, entries: Sequence[AuditEntry]) -> list[_Prepared]:
        prepared = []
        for i, entry in enumerate(entries):
            try:
                prepared.append(self._prepare(entry))
            except ValueError as exc:
                raise ValueError(f"entries[{i}].{exc}") from None
        ids = [item.record_id for item in prepared]
        if len(set(ids)) != len(ids):
            raise DuplicateRecordError("record_id: the same record_id is given twice")
        return prepared

    def _prepare(self, entry: AuditEntry) -> _Prepared:
        try:
            kind = RecordKind(entry.kind).value
        except ValueError:
            allowed = ", ".join(k.value for k in RecordKind)
            raise ValueError(f"kind: {entry.kind!r} is not one of {allowed}") from None
        for name in ("case_id", "actor"):
            value = getattr(entry, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name}: must be a non-blank string (got {value!r})")
            if len(value) > _MAX_TEXT[name]:
                raise ValueError(f"{name}: longer than {_MAX_TEXT[name]} characters")
        try:
            record_id = str(uuid.UUID(str(entry.record_id)))
        except ValueError:
            raise ValueError(f"record_id: {entry.record_id!r} is not a UUID") from None
        if not isinstance(entry.payload, Mapping):
            raise ValueError(f"payload: must be a JSON object, not {type(entry.payload).__name__}")
        payload = to_json_value(entry.payload, "payload")
        assert isinstance(payload, dict)
        return _Prepared(
            record_id=record_id,
            kind=kind,
            case_id=entry.case_id,
            actor=entry.actor,
            payload=payload,
            payload_text=self._canonical_limited(payload, "payload"),
        )

    def _canonical_limited(self, value: JSONValue, name: str) -> str:
        """Canonical text of an already normalised value, within the size limit."""
        text = dumps_canonical(value, name)
        size = len(text.encode("utf-8"))
        if size > self.max_payload_bytes:
            largest = ""
            if isinstance(value, Mapping) and value:
                sizes = {
                    k: len(dumps_canonical(v, f"{name}.{k}").encode()) for k, v in value.items()
                }
                top = max(sizes, key=lambda k: sizes[k])
                largest = f"; largest field {name}.{top} is {sizes[top]:,} bytes"
            raise ValueError(
                f"{name}: {size:,} bytes of canonical JSON, over the limit of "
                f"{self.max_payload_bytes:,} bytes{largest}"
            )
        return text

    def _insert(
        self, connection: sa.Connection, prepared: Sequence[_Prepared]
    ) -> list[AuditRecord]:
        """Chain and insert `prepared` after the current head; the caller holds the chain lock."""
        if not prepared:
            return []
        head = connection.execute(_CHAIN_HEAD).first()
        last_id, prev_hash = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
        # Never earlier than the head: created_at then orders the chain like the ids do, so a
        # date range is a contiguous segment even if the clock steps back.
        created_at = datetime.now(UTC)
        if head is not None:
            created_at = max(created_at, _utc(head[2]))
        stamp = format_timestamp(created_at)
        records = []
        for offset, item in enumerate(prepared, start=1):
            digest = chain_hash(
                prev_hash=prev_hash,
                record_id=item.record_id,
                case_id=item.case_id,
                kind=item.kind,
                created_at=stamp,
                actor=item.actor,
                payload_json=item.payload_text,
            )
            records.append(
                AuditRecord(
                    id=last_id + offset,
                    record_id=item.record_id,
                    case_id=item.case_id,
                    kind=item.kind,
                    created_at=created_at,
                    actor=item.actor,
                    payload=item.payload,
                    prev_hash=prev_hash,
                    record_hash=digest,
                )
            )
            prev_hash = digest
        connection.execute(
            _INSERT_RECORD,
            [
                {
                    "id": record.id,
                    "record_id": record.record_id,
                    "case_id": record.case_id,
                    "kind": record.kind,
                    "created_at": created_at,
                    "actor": record.actor,
                    "payload": item.payload_text,
                    "prev_hash": record.prev_hash,
                    "record_hash": record.record_hash,
                }
                for record, item in zip(records, prepared, strict=True)
            ],
        )
        return records

    def _stored_response(
        self, key: str, request_hash: str, connection: sa.Connection | None = None
    ) -> IdempotentResult | None:
        if connection is None:
            with self.engine.connect() as own:
                row = own.execute(_STORED_RESPONSE, {"key": key}).first()
        else:
            row = connection.execute(_STORED_RESPONSE, {"key": key}).first()
        if row is None:
            return None
        if row[0] != request_hash:
            raise IdempotencyConflict(key)
        return IdempotentResult(response=json.loads(row[1]), record_id=row[2], replayed=True)

    def _raise_if_duplicate(self, prepared: Sequence[_Prepared]) -> None:
        ids = [item.record_id for item in prepared]
        query = sa.select(audit_records.c.record_id).where(audit_records.c.record_id.in_(ids))
        with self.engine.connect() as connection:
            taken = connection.execute(query).scalars().first()
        if taken is not None:
            raise DuplicateRecordError(f"record_id: {taken} is already recorded")


def _utc(moment: datetime) -> datetime:
    """Database timestamps as aware UTC (SQLite hands them back naive, in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _to_record(row: sa.RowMapping) -> AuditRecord:
    return AuditRecord(
        id=int(row["id"]),
        record_id=row["record_id"],
        case_id=row["case_id"],
        kind=row["kind"],
        created_at=_utc(row["created_at"]),
        actor=row["actor"],
        payload=json.loads(row["payload"]),
        prev_hash=row["prev_hash"],
        record_hash=row["record_hash"],
    )
