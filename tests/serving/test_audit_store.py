"""The audit store: append-only hash chain, tamper detection, idempotency, exports.

Every store test runs on a SQLite file and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import sqlite3
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from serving.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditStore,
    BreakKind,
    DuplicateRecordError,
    IdempotencyConflict,
    Outcome,
    RecordKind,
    canonical_json,
    request_hash,
    upgrade,
    verify_export,
)
from serving.audit.hashing import chain_hash, compute_record_hash, format_timestamp

# ---------------------------------------------------------------------------- helpers


def _triage_payload(i: int) -> dict[str, Any]:
    return {
        "disposition": "RESTOCK",
        "confidence": 0.5 + i / 1000,
        "model_versions": {"reason": "3", "fraud": "7"},
        "policy_version": "2025.11.1",
        "rules_fired": ["value_above_threshold"] if i % 2 else [],
    }


def _fill(store: AuditStore, n: int) -> None:
    for i in range(1, n + 1):
        store.append(RecordKind.TRIAGE, f"RET-{i}", "triage-service", _triage_payload(i))


def _count(store: AuditStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM audit_records")).scalar_one())


def _tamper(store: AuditStore, *statements: str) -> None:
    """Change the database as an attacker with direct access would: triggers dropped first."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        # raw sqlite3 on the file, beside the store's own connections
        raw = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            raw.execute("DROP TRIGGER IF EXISTS audit_records_no_update")
            raw.execute("DROP TRIGGER IF EXISTS audit_records_no_delete")
            for statement in statements:
                raw.execute(statement)
        finally:
            raw.close()
        return
    with store.engine.begin() as connection:
        cursor = connection.connection.cursor()  # raw DBAPI: statements are sent verbatim
        cursor.execute("DROP TRIGGER audit_records_append_only ON audit_records")
        for statement in statements:
            cursor.execute(statement)


def _stored_hash(store: AuditStore, record_id: int) -> str:
    with store.engine.connect() as connection:
        return str(
            connection.execute(
                sa.text("SELECT record_hash FROM audit_records WHERE id = :id"), {"id": record_id}
            ).scalar_one()
        )


# ---------------------------------------------------------------------------- appending


def _at_once(threads_n: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(worker)` on `threads_n` threads released together; the errors they raised."""
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait()
            work(worker)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_append_returns_the_stored_chained_record(store: AuditStore) -> None:
    first = store.append("triage", "RET-1", "triage-service", _triage_payload(1))
    decision = store.append(
        RecordKind.DECISION,
        "RET-1",
        "inspector:ana",
        {"disposition": "SCRAP", "condition": "crack/break", "override_reason": "cracked housing"},
    )
    store.append("triage", "RET-2", "triage-service", _triage_payload(2))

    assert (first.id, decision.id) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert decision.prev_hash == first.record_hash
    assert first.created_at.tzinfo is not None
    assert store.get(decision.record_id) == decision
    assert store.get(str(uuid.uuid4())) is None
    assert [r.kind for r in store.records_for_case("RET-1")] == ["triage", "decision"]
    assert store.records_for_case("RET-1")[1].payload["override_reason"] == "cracked housing"
    assert store.head() == (3, store.records_for_case("RET-2")[0].record_hash)
    assert store.verify().ok


def test_record_hash_follows_the_documented_recipe(store: AuditStore) -> None:
    record = store.append("approval", "RET-9", "finance:bo", {"approved": True, "amount": 1250.5})
    expected = compute_record_hash(
        prev_hash=GENESIS_HASH,
        record_id=record.record_id,
        case_id="RET-9",
        kind="approval",
        created_at=format_timestamp(record.created_at),
        actor="finance:bo",
        payload={"approved": True, "amount": 1250.5},
    )
    assert record.record_hash == expected
    assert store.verify().head_hash == expected


def test_append_many_is_one_transaction(store: AuditStore) -> None:
    store.append("triage", "RET-0", "svc", {"n": 0})
    records = store.append_many(
        [AuditEntry("triage", f"RET-{i}", "svc", _triage_payload(i)) for i in range(1, 101)]
    )
    assert [r.id for r in records] == list(range(2, 102))
    assert len({r.created_at for r in records}) == 1

    taken = records[5].record_id
    with pytest.raises(DuplicateRecordError, match=taken):
        store.append_many(
            [
                AuditEntry("triage", "RET-x", "svc", {}),
                AuditEntry("triage", "RET-y", "svc", {}, taken),
            ]
        )
    with pytest.raises(ValueError, match=r"entries\[1\]\.kind: .nope."):
        store.append_many(
            [AuditEntry("triage", "RET-x", "svc", {}), AuditEntry("nope", "R", "s", {})]
        )
    assert _count(store) == 101
    assert store.verify().ok


def test_there_is_no_way_to_change_a_record_through_the_store(store: AuditStore) -> None:
    public = {name for name in dir(store) if not name.startswith("_")}
    assert not {n for n in public if n.startswith(("update", "delete", "remove", "edit", "set"))}


def test_database_refuses_update_and_delete(store: AuditStore) -> None:
    _fill(store, 2)
    for statement in (
        "UPDATE audit_records SET actor = 'mallory' WHERE id = 1",
        "DELETE FROM audit_records WHERE id = 2",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    if store.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE audit_records CASCADE"))
    assert _count(store) == 2
    assert store.verify().ok


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"price": Decimal("9.99")}, r"payload\.price: Decimal"),
        ({"serials": {"A1", "A2"}}, r"payload\.serials: set"),
        ({"scores": [0.1, math.nan]}, r"payload\.scores\[1\]: nan"),
        ({"at": datetime(2025, 1, 1)}, r"payload\.at: naive datetime"),
        ({1: "x"}, r"payload: key 1 is not a string"),
        ({"blob": b"\x00"}, r"payload\.blob: bytes"),
        (["not", "an", "object"], r"payload: must be a JSON object"),
    ],
)
def test_payloads_that_are_not_json_are_refused_naming_the_field(
    tmp_path: Any, payload: Any, message: str
) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.upgrade()
    with pytest.raises(ValueError, match=message):
        store.append("triage", "RET-1", "svc", payload)
    assert _count(store) == 0
    store.close()


def test_payload_size_limit_names_the_field(tmp_path: Any) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", max_payload_bytes=1_000)
    store.upgrade()
    with pytest.raises(
        ValueError, match=r"payload: .* over the limit of 1,000 bytes.*payload\.note"
    ):
        store.append("triage", "RET-1", "svc", {"note": "x" * 2_000, "sku": "A"})
    store.close()
    big = AuditStore(f"sqlite:///{tmp_path / 'b.db'}")
    big.upgrade()
    big.append("triage", "RET-1", "svc", {"note": "x" * 1_000_000})  # just under 1 MiB
    with pytest.raises(ValueError, match="1,048,576 bytes"):
        big.append("triage", "RET-1", "svc", {"note": "x" * 1_048_576})
    big.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "triaged"}, "kind: 'triaged' is not one of triage, decision"),
        ({"actor": "  "}, "actor: must be a non-blank string"),
        ({"case_id": ""}, "case_id: must be a non-blank string"),
        ({"case_id": "R" * 201}, "case_id: longer than 200"),
        ({"record_id": "not-a-uuid"}, "record_id: 'not-a-uuid' is not a UUID"),
    ],
)
def test_bad_fields_are_refused(tmp_path: Any, kwargs: dict[str, Any], message: str) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    args: dict[str, Any] = {"kind": "triage", "case_id": "RET-1", "actor": "svc", "payload": {}}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        store.append(**args)
    store.close()


def test_payload_values_are_canonicalised(tmp_path: Any) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.upgrade()
    at = datetime(2025, 3, 1, 14, 0, tzinfo=UTC) + timedelta(hours=1)
    record = store.append(
        "decision",
        "RET-1",
        "svc",
        {"at": at.astimezone(UTC), "day": date(2025, 3, 1), "lots": ("L1", "L2"), "n": 1.0},
    )
    assert record.payload == {
        "at": "2025-03-01T15:00:00.000000Z",
        "day": "2025-03-01",
        "lots": ["L1", "L2"],
        "n": 1.0,
    }
    assert store.get(record.record_id) == record
    store.close()


# ---------------------------------------------------------------------------- tamper evidence


@pytest.mark.parametrize(
    ("attack", "broken_id", "reason"),
    [
        (
            ['UPDATE audit_records SET payload = \'{"disposition":"SCRAP"}\' WHERE id = 3'],
            3,
            BreakKind.CONTENT_MISMATCH,
        ),
        (
            ["UPDATE audit_records SET actor = 'mallory' WHERE id = 4"],
            4,
            BreakKind.CONTENT_MISMATCH,
        ),
        (
            ["UPDATE audit_records SET payload = 'not json' WHERE id = 2"],
            2,
            BreakKind.CONTENT_MISMATCH,
        ),
        (["DELETE FROM audit_records WHERE id = 3"], 4, BreakKind.BROKEN_LINK),
        (["DELETE FROM audit_records WHERE id = 1"], 2, BreakKind.BROKEN_LINK),
        (
            [
                "UPDATE audit_records SET id = -1 WHERE id = 3",
                "UPDATE audit_records SET id = 3 WHERE id = 4",
                "UPDATE audit_records SET id = 4 WHERE id = -1",
            ],
            3,
            BreakKind.BROKEN_LINK,
        ),
        (
            [f"UPDATE audit_records SET prev_hash = '{'a' * 64}' WHERE id = 3"],
            3,
            BreakKind.CONTENT_MISMATCH,
        ),
    ],
    ids=[
        "edited-payload",
        "edited-actor",
        "garbled-payload",
        "deleted-middle",
        "deleted-first",
        "swapped",
        "edited-prev-hash",
    ],
)
def test_verify_pinpoints_tampering(
    store: AuditStore, attack: list[str], broken_id: int, reason: BreakKind
) -> None:
    _fill(store, 6)
    assert store.verify().ok
    _tamper(store, *attack)
    result = store.verify()
    assert not result.ok
    assert (result.first_broken_id, result.reason) == (broken_id, reason), result.detail
    assert str(broken_id) in result.detail


def test_verify_finds_a_consistently_rehashed_edit_at_the_next_link(store: AuditStore) -> None:
    """An attacker who edits record 3 and recomputes its hash still breaks record 4's link."""
    _fill(store, 5)
    forged = store.records_for_case("RET-3")[0]
    payload = {**forged.payload, "disposition": "SCRAP"}
    new_hash = compute_record_hash(
        prev_hash=forged.prev_hash,
        record_id=forged.record_id,
        case_id=forged.case_id,
        kind=forged.kind,
        created_at=format_timestamp(forged.created_at),
        actor=forged.actor,
        payload=payload,
    )
    _tamper(
        store,
        f"UPDATE audit_records SET payload = '{canonical_json(payload)}', "
        f"record_hash = '{new_hash}' WHERE id = 3",
    )
    result = store.verify()
    assert (result.first_broken_id, result.reason) == (4, BreakKind.BROKEN_LINK)
    assert result.checked == 4
    assert result.head_hash == new_hash


def test_verify_finds_a_deletion_even_when_the_next_record_is_relinked(store: AuditStore) -> None:
    """Delete record 3 and re-chain record 4 onto record 2: the sequence gap still shows."""
    _fill(store, 5)
    four = store.records_for_case("RET-4")[0]
    relinked = compute_record_hash(
        prev_hash=_stored_hash(store, 2),
        record_id=four.record_id,
        case_id=four.case_id,
        kind=four.kind,
        created_at=format_timestamp(four.created_at),
        actor=four.actor,
        payload=four.payload,
    )
    _tamper(
        store,
        "DELETE FROM audit_records WHERE id = 3",
        f"UPDATE audit_records SET prev_hash = '{_stored_hash(store, 2)}', "
        f"record_hash = '{relinked}' WHERE id = 4",
    )
    result = store.verify()
    assert (result.first_broken_id, result.reason) == (4, BreakKind.BROKEN_LINK)
    assert "expected" in result.detail


# ---------------------------------------------------------------------------- concurrency


def test_threads_of_one_process_queue_for_sqlite_writes_instead_of_busy_waiting(
    tmp_path: Any,
) -> None:
    # with a 1 ms busy timeout, threads contending inside SQLite fail with "database is
    # locked" (and with a long one they sleep in its busy handler's growing steps); the
    # store's per-engine lock makes them take turns
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", busy_timeout_s=0.001)
    store.upgrade()
    threads_n, per_thread = 8, 15

    def work(worker: int) -> None:
        for i in range(per_thread):
            store.append("triage", f"W{worker}-{i}", "svc", {"i": i, "worker": worker})

    errors = _at_once(threads_n, work)
    assert not errors, errors[:3]
    result = store.verify()
    assert result.ok and result.checked == threads_n * per_thread
    store.close()


def test_concurrent_appends_keep_a_gapless_valid_chain(
    make_store: Callable[[], AuditStore],
) -> None:
    # two stores = two engines and pools, as two worker processes would have
    stores = [make_store(), make_store()]
    threads_n, per_thread = 8, 12

    def work(worker: int) -> None:
        store = stores[worker % 2]
        for i in range(per_thread):
            if i % 4 == 3:
                store.append_many(
                    [AuditEntry("triage", f"W{worker}-{i}-{j}", "svc", {"j": j}) for j in range(3)]
                )
            else:
                store.append("triage", f"W{worker}-{i}", "svc", {"i": i, "worker": worker})

    errors = _at_once(threads_n, work)
    assert not errors, errors

    batches = per_thread // 4  # every 4th call appends a batch of 3
    expected = threads_n * (batches * 3 + per_thread - batches)
    result = stores[0].verify()
    assert result.ok, result.detail
    assert result.checked == expected
    with stores[0].engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, prev_hash, record_hash, created_at FROM audit_records ORDER BY id")
        ).all()
    assert [row[0] for row in rows] == list(range(1, expected + 1))
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
    assert all(rows[i][3] >= rows[i - 1][3] for i in range(1, len(rows)))


# ---------------------------------------------------------------------------- idempotency


def _producer(calls: list[int], case_id: str = "RET-1") -> Callable[[], Outcome]:
    def produce() -> Outcome:
        calls.append(1)
        entry = AuditEntry("triage", case_id, "svc", _triage_payload(1))
        return Outcome(
            response={"audit_record_id": entry.record_id, "disposition": "RESTOCK"},
            entries=[entry],
        )

    return produce


def test_idempotent_replays_the_stored_response(store: AuditStore) -> None:
    calls: list[int] = []
    fingerprint = request_hash({"return_id": "RET-1", "qty": 1})
    first = store.idempotent("evt-1", fingerprint, _producer(calls))
    again = store.idempotent("evt-1", fingerprint, _producer(calls))

    assert not first.replayed and again.replayed
    assert again.response == first.response
    assert first.record_id == first.response["audit_record_id"] == again.record_id
    assert len(calls) == 1
    assert _count(store) == 1
    assert store.get(first.response["audit_record_id"]) is not None


def test_idempotent_key_reused_for_another_request_conflicts(store: AuditStore) -> None:
    calls: list[int] = []
    store.idempotent("evt-1", request_hash({"qty": 1}), _producer(calls))
    with pytest.raises(IdempotencyConflict, match="evt-1"):
        store.idempotent("evt-1", request_hash({"qty": 2}), _producer(calls))
    assert len(calls) == 1
    assert _count(store) == 1


def test_idempotent_batch_and_empty_outcomes(store: AuditStore) -> None:
    def batch() -> Outcome:
        entries = [AuditEntry("triage", f"RET-{i}", "svc", {"i": i}) for i in range(5)]
        return Outcome(response={"count": 5}, entries=entries)

    result = store.idempotent("batch-1", "h1", batch)
    assert result.response == {"count": 5}
    assert store.idempotent("batch-1", "h1", batch).replayed
    assert _count(store) == 5
    nothing = store.idempotent("noop-1", "h2", lambda: Outcome(response=[], entries=[]))
    assert nothing.record_id is None and store.idempotent("noop-1", "h2", batch).response == []


def test_fifty_racing_duplicates_store_one_record(make_store: Callable[[], AuditStore]) -> None:
    stores = [make_store(), make_store()]
    callers = 50
    calls: list[int] = []
    results: list[Any] = [None] * callers

    def call(i: int) -> None:
        results[i] = stores[i % 2].idempotent("evt-race", "h", _producer(calls)).response

    errors = _at_once(callers, call)
    assert not errors, errors
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    assert _count(stores[0]) == 1
    assert stores[0].records_for_case("RET-1")[0].record_id == results[0]["audit_record_id"]
    assert stores[0].verify().ok


def test_a_lost_race_is_caught_by_the_unique_key_and_read_back(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A competitor that stored the key unseen (bypassing the lock) wins; we roll back."""
    calls: list[int] = []
    competitor = AuditStore(store.engine.url)

    def produce() -> Outcome:
        won = competitor.idempotent("evt-1", "h", _producer([], case_id="RET-winner"))
        assert not won.replayed
        return _producer(calls, case_id="RET-loser")()

    blind = store._stored_response
    monkeypatch.setattr(
        store,
        "_stored_response",
        lambda key, fingerprint, connection=None: (
            None if connection is not None else blind(key, fingerprint)
        ),
    )
    result = store.idempotent("evt-1", "h", produce)
    competitor.close()

    assert result.replayed
    assert store.records_for_case("RET-loser") == []
    assert result.record_id == store.records_for_case("RET-winner")[0].record_id
    assert _count(store) == 1
    assert store.verify().ok


def _process_worker(url: str, worker: int, out: Any) -> None:
    store = AuditStore(url)
    try:
        for i in range(5):
            store.append("triage", f"P{worker}-{i}", "svc", {"i": i})
        calls: list[int] = []
        out.put(store.idempotent("evt-proc", "h", _producer(calls)).response["audit_record_id"])
    finally:
        store.close()


def test_processes_share_one_chain_and_one_idempotent_result(store: AuditStore) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    url = store.engine.url.render_as_string(hide_password=False)
    store.engine.dispose()  # no pooled connection crosses the fork
    workers = [context.Process(target=_process_worker, args=(url, w, queue)) for w in range(4)]
    for worker in workers:
        worker.start()
    answers = {queue.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(answers) == 1
    assert _count(store) == 4 * 5 + 1
    assert store.verify().ok


# ---------------------------------------------------------------------------- export


def test_export_by_date_range_is_a_verifiable_segment(store: AuditStore) -> None:
    _fill(store, 3)
    middle_start = datetime.now(UTC)
    _fill(store, 4)
    middle_end = datetime.now(UTC)
    _fill(store, 2)

    lines = io.StringIO()
    assert store.export(middle_start, middle_end, "jsonl", lines) == 4
    exported = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [r["id"] for r in exported] == [4, 5, 6, 7]
    assert exported[0]["payload"]["model_versions"] == {"reason": "3", "fraud": "7"}

    assert verify_export(lines.getvalue().splitlines()).ok
    anchored = verify_export(lines.getvalue().splitlines(), prev_hash=_stored_hash(store, 3))
    assert anchored.ok and anchored.checked == 4
    assert not verify_export(lines.getvalue().splitlines(), prev_hash=GENESIS_HASH).ok

    table = io.StringIO()
    assert store.export(None, None, "csv", table) == 9
    verdict = verify_export(
        io.StringIO(table.getvalue(), newline=""), fmt="csv", prev_hash=GENESIS_HASH
    )
    assert verdict.ok and verdict.checked == 9
    assert verdict.head_hash == store.verify().head_hash

    local = middle_start.astimezone(timezone(timedelta(hours=-5)))  # any zone works
    assert store.export(local, None, "jsonl", io.StringIO()) == 6
    with pytest.raises(ValueError, match="start: give a timezone-aware"):
        store.export(datetime(2025, 1, 1), None, "jsonl", io.StringIO())
    with pytest.raises(ValueError, match="fmt"):
        store.export(None, None, "xml", io.StringIO())


@pytest.mark.parametrize(
    ("edit", "broken_id", "reason"),
    [
        (lambda rs: rs[2]["payload"].update(disposition="SCRAP"), 3, BreakKind.CONTENT_MISMATCH),
        (lambda rs: rs.pop(2), 4, BreakKind.BROKEN_LINK),
        (lambda rs: rs.insert(1, rs.pop(2)), 3, BreakKind.BROKEN_LINK),
    ],
    ids=["edited", "dropped", "reordered"],
)
def test_verify_export_pinpoints_an_edited_export(
    store: AuditStore,
    edit: Callable[[list[dict[str, Any]]], Any],
    broken_id: int,
    reason: BreakKind,
) -> None:
    _fill(store, 5)
    lines = io.StringIO()
    store.export(None, None, "jsonl", lines)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    edit(records)
    result = verify_export([json.dumps(r) for r in records])
    assert (result.ok, result.first_broken_id, result.reason) == (False, broken_id, reason)


# ---------------------------------------------------------------------------- canonical JSON

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json)
def test_canonical_json_is_a_fixed_point(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text
    assert " " not in canonical_json({"a": [1, 2], "b": {"c": None}})


_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)


@given(_text, _text, _text, st.dictionaries(st.text(max_size=5), _json, max_size=4))
def test_spliced_chain_hash_equals_the_documented_hash(
    case_id: str, actor: str, kind: str, payload: dict[str, Any]
) -> None:
    fields = {
        "prev_hash": GENESIS_HASH,
        "record_id": "5f0c6a3e-0d4b-4c36-9d0e-3f1f5b7a9c21",
        "case_id": case_id,
        "kind": kind,
        "created_at": "2025-01-02T03:04:05.000006Z",
        "actor": actor,
    }
    assert chain_hash(**fields, payload_json=canonical_json(payload)) == compute_record_hash(
        **fields, payload=payload
    )


def test_canonical_json_rules() -> None:
    assert canonical_json({"b": 1, "a": [0.1, 1.0, 1e-7, -0.0], "é": "ü\n"}) == (
        '{"a":[0.1,1.0,1e-07,-0.0],"b":1,"é":"ü\\n"}'
    )
    assert canonical_json({"t": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)}) == (
        '{"t":"2025-01-02T03:04:05.000000Z"}'
    )
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json({"s": "\ud800"})
    assert request_hash({"a": 1, "b": 2}) == request_hash({"b": 2, "a": 1})


# ---------------------------------------------------------------------------- schema, engine


def test_upgrade_is_repeatable_and_uses_its_own_version_table(store_url: sa.URL) -> None:
    upgrade(store_url)
    upgrade(store_url.render_as_string(hide_password=False))
    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        version = connection.execute(sa.text("SELECT version_num FROM audit_alembic_version"))
        assert version.scalar_one() == "0002_queue_index"
    engine.dispose()
    assert {"audit_records", "idempotency_keys", "audit_alembic_version"} <= tables
    assert "alembic_version" not in tables


class _LockedCursor:
    """A cursor whose WAL switch is refused `refusals` times (as a concurrent opener's is)."""

    def __init__(self, refusals: list[object]) -> None:
        self.refusals = list(refusals)
        self.calls = 0

    def execute(self, sql: str) -> _LockedCursor:
        assert sql == "PRAGMA journal_mode = WAL"
        self.calls += 1
        self.answer: object = self.refusals.pop(0) if self.refusals else "wal"
        if isinstance(self.answer, Exception):
            raise self.answer
        return self

    def fetchone(self) -> tuple[object]:
        return (self.answer,)


def test_wal_switch_is_retried_while_another_opener_blocks_it() -> None:
    """Workers opening a new SQLite store together: one may be told "database is locked" at
    once, or find the mode unchanged; it retries until the switch is made or time is up."""
    from serving.audit.store import enable_wal

    locked = sqlite3.OperationalError("database is locked")
    cursor = _LockedCursor([locked, "delete", locked])
    enable_wal(cursor, timeout_s=5)
    assert cursor.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="could not switch the audit store to WAL"):
        enable_wal(_LockedCursor([locked] * 1000), timeout_s=0.05)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):  # not a lock: no retry
        enable_wal(_LockedCursor([sqlite3.OperationalError("disk I/O error")]), timeout_s=5)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Any) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", busy_timeout_s=7)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    store.close()
    with pytest.raises(ValueError, match="in-memory"):
        AuditStore("sqlite://")
    with pytest.raises(ValueError, match="sqlite and postgresql"):
        AuditStore("mysql://localhost/x")
