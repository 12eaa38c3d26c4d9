"""Canonical JSON and the audit hash chain, specified so an auditor can re-verify an export.

This module uses the standard library only, so it can be copied out and run on its own:

    python serving/audit/hashing.py export.jsonl [export.csv ...]

Canonical JSON (the text that is stored and hashed)
---------------------------------------------------
* JSON as in RFC 8259, encoded as UTF-8; no whitespace at all (separators ``,`` and ``:``).
* Object keys sorted by Unicode code point (Python's ``sort_keys``); keys must be strings.
* Strings are written as-is (no Unicode normalisation); non-ASCII characters are written
  literally, never as ``\\uXXXX``; control characters U+0000..U+001F, ``"`` and ``\\`` are
  escaped as Python's ``json`` module escapes them (``\\n``, ``\\t``, ``\\u0000`` ...).
  Lone surrogates are refused (they are not valid UTF-8).
* Integers in decimal without exponent. Floats as Python's ``repr`` (the shortest text that
  round-trips to the same IEEE-754 double, e.g. ``0.1``, ``1e-07``, ``1.0``); NaN and
  infinities are refused (not JSON).
* Datetimes (timezone-aware only) become strings in UTC with exactly six fractional digits and a
  ``Z`` suffix: ``2024-05-01T12:00:00.000000Z``. Dates become ``YYYY-MM-DD``, UUIDs their
  canonical 36-character form, tuples arrays. Naive datetimes, sets, bytes, Decimals and other
  types are refused with an error naming the path of the offending field.
* Canonical JSON is a fixed point: parsing it and writing it again yields the same text.

The chain
---------
Each record carries ``prev_hash`` (the ``record_hash`` of the record before it; 64 zeros for the
first record, :data:`GENESIS_HASH`) and

    record_hash = hex(sha256(utf8(canonical_json({
        "actor": actor, "case_id": case_id, "created_at": created_at, "kind": kind,
        "payload": payload, "prev_hash": prev_hash, "record_id": record_id}))))

where ``created_at`` is the timestamp string above and ``payload`` is the JSON object itself
(not its text). The sequence ``id`` is not hashed: it is checked instead to be gapless
(1, 2, 3, ...) and ``created_at`` to be non-decreasing along the chain, so a deleted, inserted,
swapped or re-ordered record breaks a link at the first record after the change, and an edited
record fails its own hash. A chain cut at its end cannot be detected from the chain alone:
keep (publish, countersign) the latest ``record_hash`` somewhere else and compare.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record of a chain."""

HASHED_FIELDS = ("prev_hash", "record_id", "case_id", "kind", "created_at", "actor", "payload")
"""The record fields covered by ``record_hash``."""

EXPORT_FIELDS = (
    "id",
    "record_id",
    "case_id",
    "kind",
    "created_at",
    "actor",
    "prev_hash",
    "record_hash",
    "payload",
)
"""The columns of an export, in CSV column order."""

JSONValue = dict[str, Any] | list[Any] | str | int | float | bool | None


def format_timestamp(moment: datetime) -> str:
    """The canonical text of an instant: UTC, six fractional digits, ``Z`` suffix.

    Naive datetimes are refused: an audit timestamp without a zone is ambiguous.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} has no timezone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Parse a canonical timestamp back into an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def to_json_value(value: Any, path: str = "payload") -> JSONValue:
    """Convert `value` into plain JSON types, or raise ValueError naming the offending path.

    Accepts dict (string keys), list, tuple, str, int, float (finite), bool, None, aware
    datetime, date and UUID. Everything else is refused rather than silently stringified, so
    what is hashed is what the caller meant.
    """
    kind = type(value)  # exact-type fast path for what payloads are mostly made of
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} is not allowed in JSON (finite numbers only)")
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                return _mapping_to_json(value, path)  # str subclasses, bad keys: slow path
            out[key] = to_json_value(item, f"{path}.{key}")
        return out
    if kind is list:
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, str):
        return str.__str__(value)  # the text itself, also for (str, Enum) members
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} is not allowed in JSON (finite numbers only)")
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{path}: naive datetime {value.isoformat()}; give a timezone")
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return _mapping_to_json(value, path)
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ValueError(
        f"{path}: {type(value).__name__} is not JSON-serialisable "
        "(use str, int, float, bool, None, dict, list, aware datetime, date or UUID)"
    )


def _mapping_to_json(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValueError(f"{path}: key {key!r} is not a string")
        out[str.__str__(key)] = to_json_value(item, f"{path}.{key}")
    return out


def canonical_json(value: Any, path: str = "payload") -> str:
    """The canonical JSON text of `value` (see the module docstring for the rules)."""
    return dumps_canonical(to_json_value(value, path), path)


def dumps_canonical(value: JSONValue, path: str = "payload") -> str:
    """Canonical JSON text of a value already made of plain JSON types (see `to_json_value`)."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{path}: contains a lone surrogate, not valid UTF-8") from exc
    return text


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_hash(request: Any) -> str:
    """Fingerprint of a request body for idempotency: SHA-256 of its canonical JSON."""
    return sha256_hex(canonical_json(request, "request"))


def compute_record_hash(
    *,
    prev_hash: str,
    record_id: str,
    case_id: str,
    kind: str,
    created_at: str,
    actor: str,
    payload: Mapping[str, Any],
) -> str:
    """The ``record_hash`` of one record; `created_at` is the canonical timestamp text."""
    material = {
        "prev_hash": prev_hash,
        "record_id": record_id,
        "case_id": case_id,
        "kind": kind,
        "created_at": created_at,
        "actor": actor,
        "payload": payload,
    }
    return sha256_hex(canonical_json(material, "record"))


def chain_hash(
    *,
    prev_hash: str,
    record_id: str,
    case_id: str,
    kind: str,
    created_at: str,
    actor: str,
    payload_json: str,
) -> str:
    """`compute_record_hash` from the payload's canonical JSON text, without parsing it.

    Equal to `compute_record_hash` whenever `payload_json` is canonical; any other text (an
    edited byte, extra whitespace) gives a different hash. The store hashes this way.
    """
    text = encode_basestring  # what json.dumps(..., ensure_ascii=False) writes for a str
    # the keys of the hashed object in sorted order, payload spliced in as canonical text
    material = (
        f'{{"actor":{text(actor)},"case_id":{text(case_id)},"created_at":{text(created_at)},'
        f'"kind":{text(kind)},"payload":{payload_json},"prev_hash":{text(prev_hash)},'
        f'"record_id":{text(record_id)}}}'
    )
    return sha256_hex(material)


class BreakKind(StrEnum):
    """Why a chain is broken at a record."""

    CONTENT_MISMATCH = "content_mismatch"
    """The record's fields do not hash to its stored ``record_hash``: the record was edited."""
    BROKEN_LINK = "broken_link"
    """The record is intact but does not follow the record before it (``prev_hash`` differs, or
    the sequence ids jump): a record before it was deleted, inserted, swapped or replaced."""
    OUT_OF_ORDER = "out_of_order"
    """``created_at`` goes backwards: records were re-ordered and re-hashed."""


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of checking a chain (or an exported segment of one).

    `checked` counts the records examined, including the first broken one; `first_broken_id`
    is the sequence id of the first record that fails, `reason` says how, `detail` explains in
    words. `head_hash` is the ``record_hash`` of the last intact record (keep it elsewhere to
    detect a chain cut at its end later).
    """

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: BreakKind | None = None
    detail: str = ""
    head_hash: str | None = None


class ChainVerifier:
    """Checks records fed in sequence order; the first failure is kept.

    `expected_prev_hash` is the ``prev_hash`` the first record must carry: GENESIS_HASH for a
    whole chain, or None to accept any (an exported segment whose predecessor is unknown).
    `expected_first_id` likewise for the first sequence id.
    """

    def __init__(
        self, expected_prev_hash: str | None = GENESIS_HASH, expected_first_id: int | None = 1
    ) -> None:
        self._expected_prev = expected_prev_hash
        self._expected_id = expected_first_id
        self._last_created_at: str | None = None
        self._head: str | None = None
        self._prev_id: int | None = None
        self.checked = 0
        self.failure: VerificationResult | None = None

    def feed(
        self,
        *,
        id: int,
        record_id: str,
        case_id: str,
        kind: str,
        created_at: str,
        actor: str,
        payload_json: str,
        prev_hash: str,
        record_hash: str,
    ) -> bool:
        """Check the next record (payload as canonical JSON text); False when the chain breaks
        here (`failure` then says where and why)."""
        if self.failure is not None:
            return False
        self.checked += 1
        try:
            expected = chain_hash(
                prev_hash=prev_hash,
                record_id=record_id,
                case_id=case_id,
                kind=kind,
                created_at=created_at,
                actor=actor,
                payload_json=payload_json,
            )
        except (TypeError, UnicodeEncodeError):
            expected = "(fields are not text)"
        if expected != record_hash:
            return self._fail(
                id,
                BreakKind.CONTENT_MISMATCH,
                f"record {id} ({record_id}) hashes to {expected}, but {record_hash} is stored: "
                "its content was changed after it was written",
            )
        if self._expected_prev is not None and prev_hash != self._expected_prev:
            what = "the chain start" if self._prev_id is None else f"record {self._prev_id}"
            gap = ""
            if self._expected_id is not None and id != self._expected_id:
                gap = f"; sequence ids jump to {id}, expected {self._expected_id}"
            return self._fail(
                id,
                BreakKind.BROKEN_LINK,
                f"record {id} ({record_id}) is chained to {prev_hash}, but {what} hashes to "
                f"{self._expected_prev}{gap}: a record before it was deleted, inserted, "
                "swapped or replaced",
            )
        if self._expected_id is not None and id != self._expected_id:
            return self._fail(
                id,
                BreakKind.BROKEN_LINK,
                f"record {id} ({record_id}) comes where sequence id {self._expected_id} is "
                "expected: records are missing or were renumbered",
            )
        if self._last_created_at is not None and created_at < self._last_created_at:
            return self._fail(
                id,
                BreakKind.OUT_OF_ORDER,
                f"record {id} ({record_id}) was created at {created_at}, before the record "
                f"preceding it ({self._last_created_at})",
            )
        self._expected_prev = record_hash
        self._prev_id = id
        self._expected_id = id + 1
        self._last_created_at = created_at
        self._head = record_hash
        return True

    def _fail(self, record_id: int, reason: BreakKind, detail: str) -> bool:
        self.failure = VerificationResult(
            ok=False,
            checked=self.checked,
            first_broken_id=record_id,
            reason=reason,
            detail=detail,
            head_hash=self._head,
        )
        return False

    def result(self) -> VerificationResult:
        """The verdict over everything fed so far."""
        if self.failure is not None:
            return self.failure
        return VerificationResult(ok=True, checked=self.checked, head_hash=self._head)


def _records_from_lines(lines: Iterable[str], fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number} is not JSON: {exc}") from exc
    elif fmt == "csv":
        for row in csv.DictReader(lines):
            record: dict[str, Any] = dict(row)
            record["id"] = int(row["id"])
            try:
                record["payload"] = json.loads(row["payload"])
            except json.JSONDecodeError as exc:
                raise ValueError(f"record {row['id']}: payload is not JSON: {exc}") from exc
            yield record
    else:
        raise ValueError(f"fmt must be 'jsonl' or 'csv', not {fmt!r}")


def verify_export(
    lines: Iterable[str], *, fmt: str = "jsonl", prev_hash: str | None = None
) -> VerificationResult:
    """Re-verify an exported chain segment (the lines of a JSONL or CSV export).

    Every record's hash is recomputed and each link to the record before it checked. The
    segment's first record is linked to `prev_hash` when given (the ``record_hash`` of the
    record just before the segment, or GENESIS_HASH for an export from the start); otherwise
    its link is taken on trust.
    """
    verifier = ChainVerifier(expected_prev_hash=prev_hash, expected_first_id=None)
    for record in _records_from_lines(lines, fmt):
        missing = [name for name in EXPORT_FIELDS if name not in record]
        if missing:
            raise ValueError(f"exported record lacks {', '.join(missing)}: {record!r:.200}")
        fields = {name: record[name] for name in EXPORT_FIELDS if name != "payload"}
        payload_json = canonical_json(record["payload"], f"record {record['id']}: payload")
        if not verifier.feed(**fields, payload_json=payload_json):
            break
    return verifier.result()


def main(argv: list[str] | None = None) -> int:
    """Verify export files given on the command line; exit status 1 if any is broken."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python hashing.py EXPORT.jsonl|EXPORT.csv ...")
        return 2
    status = 0
    for name in args:
        fmt = "csv" if name.lower().endswith(".csv") else "jsonl"
        with open(name, encoding="utf-8", newline="") as handle:  # noqa: PTH123 - stdlib only
            result = verify_export(handle, fmt=fmt)
        if result.ok:
            # the segment's first link cannot be checked from the file: compare its prev_hash
            # (and the last hash) with the records either side, or with a published anchor
            verdict = f"ok, last record_hash {result.head_hash}"
        else:
            verdict = f"BROKEN at id {result.first_broken_id}: {result.detail}"
        print(f"{name}: {result.checked} records checked, {verdict}")
        status |= 0 if result.ok else 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
