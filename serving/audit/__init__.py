"""The audit store: append-only, hash-chained, verifiable records of recommendations and decisions.

`AuditStore` writes and reads records; `serving.audit.hashing` holds the canonical JSON and hash
rules (standard library only) that an auditor uses to re-verify an export with `verify_export`.
"""

from serving.audit.hashing import (
    GENESIS_HASH,
    BreakKind,
    VerificationResult,
    canonical_json,
    request_hash,
    verify_export,
)
from serving.audit.store import (
    MAX_PAYLOAD_BYTES,
    AuditEntry,
    AuditRecord,
    AuditStore,
    DuplicateRecordError,
    IdempotencyConflict,
    IdempotentResult,
    Outcome,
    RecordKind,
    upgrade,
)

__all__ = [
    "GENESIS_HASH",
    "MAX_PAYLOAD_BYTES",
    "AuditEntry",
    "AuditRecord",
    "AuditStore",
    "BreakKind",
    "DuplicateRecordError",
    "IdempotencyConflict",
    "IdempotentResult",
    "Outcome",
    "RecordKind",
    "VerificationResult",
    "canonical_json",
    "request_hash",
    "upgrade",
    "verify_export",
]
