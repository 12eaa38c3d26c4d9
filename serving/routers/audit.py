"""The audit trail: a case's records, verification of the chain, and streaming exports."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal, TextIO, cast

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from serving.audit import AuditStore
from serving.deps import AdminCaller, AuditDep, AuditReader
from serving.routers.triage import AUTH_ERRORS
from serving.schemas import AuditRecordPublic, AuditRecordsPublic, CaseId, VerificationPublic

router = APIRouter(prefix="/audit", tags=["audit"])

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_CHUNK = 64 * 1024
_DONE = object()


@router.get(
    "/cases/{case_id}",
    operation_id="get_case_audit",
    summary="Every audit record of a case",
    response_model=AuditRecordsPublic,
    responses={**AUTH_ERRORS},
)
def get_case_audit(case_id: CaseId, caller: AuditReader, store: AuditDep) -> AuditRecordsPublic:
    """The case's records (triages, decisions, approvals, labels), oldest first."""
    records = [
        AuditRecordPublic.model_validate(record.to_export())
        for record in store.records_for_case(case_id)
    ]
    return AuditRecordsPublic(data=records, count=len(records))


@router.get(
    "/verify",
    operation_id="verify_audit",
    summary="Verify the whole audit chain",
    response_model=VerificationPublic,
    responses={**AUTH_ERRORS},
)
def verify_audit(caller: AdminCaller, store: AuditDep) -> VerificationPublic:
    """Recompute every record's hash and check every link; names the first broken record."""
    result = store.verify()
    return VerificationPublic(
        ok=result.ok,
        checked=result.checked,
        first_broken_id=result.first_broken_id,
        reason=None if result.reason is None else result.reason.value,
        detail=result.detail,
        head_hash=result.head_hash,
    )


@router.get(
    "/export",
    operation_id="export_audit",
    summary="Export audit records in a time range (streamed)",
    response_class=StreamingResponse,
    responses={
        **AUTH_ERRORS,
        200: {
            "description": "JSONL (one record per line) or CSV; re-verify with "
            "serving/audit/hashing.py",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        },
    },
)
def export_audit(
    caller: AdminCaller,
    store: AuditDep,
    start: Annotated[datetime | None, Query(description="From (inclusive; UTC if naive)")] = None,
    end: Annotated[datetime | None, Query(description="Until (exclusive; UTC if naive)")] = None,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    """Stream the records with ``start <= created_at < end`` as JSONL or CSV."""
    start_utc, end_utc = _utc(start), _utc(end)
    if start_utc is not None and end_utc is not None and start_utc >= end_utc:
        raise RequestValidationError(
            [{"loc": ["query", "end"], "msg": "end must be after start", "type": "value_error"}]
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _stream_export(store, start_utc, end_utc, format),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _ChunkWriter(io.TextIOBase):
    """A text stream that hands 64 KiB chunks to a bounded queue (back-pressure)."""

    def __init__(self, chunks: queue.Queue[object], cancelled: threading.Event) -> None:
        self._chunks = chunks
        self._cancelled = cancelled
        self._buffer: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._buffer.append(text)
        self._size += len(text)
        if self._size >= _CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self.put_item("".join(self._buffer).encode("utf-8"))
            self._buffer, self._size = [], 0

    def put_item(self, item: object) -> None:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


class _Cancelled(Exception):
    """The client went away; stop exporting."""


def _stream_export(
    store: AuditStore, start: datetime | None, end: datetime | None, fmt: str
) -> Iterator[bytes]:
    """Run the store's export in a thread and yield its output as it comes."""
    chunks: queue.Queue[object] = queue.Queue(maxsize=8)
    cancelled = threading.Event()
    writer = _ChunkWriter(chunks, cancelled)

    def run() -> None:
        try:
            store.export(start, end, fmt, out=cast(TextIO, writer))
            writer.flush()
            writer.put_item(_DONE)
        except _Cancelled:
            return
        except Exception as exc:  # handed to the response stream, which ends with it
            try:
                writer.put_item(exc)
            except _Cancelled:
                return

    thread = threading.Thread(target=run, name="audit-export", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        cancelled.set()
