"""Serving settings: the shared `Settings` plus what only the API needs (env `TRIAGE_*`).

`get_settings()` reads them from the environment (what `create_app` uses by default); tests build
a `ServingSettings` and pass it to `create_app`, and routes read the app's own from its state.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from models.settings import Settings

EXAMPLE_API_KEYS_FILE = Path(__file__).resolve().parent / "api_keys.example.yml"
"""Development API keys shipped with the code. Real deployments MUST replace them."""


class ServingSettings(Settings):
    """Settings of the FastAPI service; every field can be set as `TRIAGE_<FIELD>`."""

    api_keys_file: Path = Field(
        default=EXAMPLE_API_KEYS_FILE,
        description="YAML file mapping API keys to principals and roles. The default is a "
        "development example with published keys: replace it in every real deployment",
    )
    policy_file: Path | None = Field(
        default=None, description="Review policy YAML; None uses the packaged default policy"
    )
    reason_model_uri: str | None = Field(
        default="models:/reason@champion",
        description="MLflow URI of the reason model; empty disables it (rules-only fallback)",
    )
    damage_model_uri: str | None = Field(
        default="models:/damage@champion",
        description="MLflow URI of the photo damage model; empty disables it",
    )
    disposition_model_uri: str | None = Field(
        default="models:/disposition@champion",
        description="MLflow URI of the disposition model; empty disables it (rule table)",
    )
    fraud_model_uri: str | None = Field(
        default="models:/fraud@champion",
        description="MLflow URI of the fraud model (carries the customer state it starts from)",
    )
    postings_file: Path | None = Field(
        default=None,
        description="Disposition -> postings YAML; None uses the packaged models/conf/postings.yml",
    )
    photo_root: Path | None = Field(
        default=None,
        description="Folder that photo `uri`s are resolved against (inside it only); None: "
        "photos given by uri are not fetched, so only inline photos are assessed",
    )
    max_body_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest request body accepted (413 above)"
    )
    damage_lines: dict[str, str] = Field(
        default_factory=dict,
        description="Item category -> damage model product line (JSON in the environment, e.g. "
        '{"flooring": "tiles"}): triage assesses the photos of a case of that category with '
        "the line's own heads when the model has them. Other categories: the general heads",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        description="Model requests (triage, components) in progress at once; more are answered "
        "503 with Retry-After at once, so an overload queues no unbounded wait",
    )
    gc_freeze: bool = Field(
        default=True,
        description="After loading, collect once and freeze the garbage collector's view of "
        "the loaded models and state, so full collections skip them (a full collection "
        "stalls requests: 230-280 ms without the freeze, 50-109 ms with it, in-process); off "
        "only where apps start by the hundred (tests)",
    )


@lru_cache
def get_settings() -> ServingSettings:
    """The process-wide serving settings (cached; tests pass their own to `create_app`)."""
    return ServingSettings()


class Role(StrEnum):
    """What a caller may do; an API key maps to a principal with one or more roles."""

    WORKFLOW = "workflow"  # ERP/WMS/CRM and middleware: triage calls
    INSPECTOR = "inspector"  # warehouse inspectors: final disposition and condition
    APPROVER = "approver"  # finance: approve write-offs and credits
    FRAUD_ANALYST = "fraud_analyst"  # fraud queue
    DATA_SCIENTIST = "data_scientist"  # audit reads for evaluation and retraining
    ADMIN = "admin"  # operations: everything but human decisions


class Principal(BaseModel):
    """An authenticated caller: its name is the actor recorded in the audit trail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    roles: Annotated[frozenset[Role], Field(min_length=1)]


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    key: Annotated[str, StringConstraints(min_length=8)] | None = None
    key_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    roles: Annotated[list[Role], Field(min_length=1)]


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    principals: list[_KeyEntry]


class ApiKeyring:
    """API keys (held as SHA-256 digests only) mapped to principals."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self._by_digest = dict(principals)

    @classmethod
    def from_file(cls, path: Path) -> ApiKeyring:
        """Load a keys YAML file (see `api_keys.example.yml`); ValueError names the problem."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed = _KeyFile.model_validate(raw)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"API keys file {path}: {exc}") from None
        principals: dict[str, Principal] = {}
        names: set[str] = set()
        for i, entry in enumerate(parsed.principals):
            if (entry.key is None) == (entry.key_sha256 is None):
                raise ValueError(f"API keys file {path}: principals[{i}]: give key or key_sha256")
            if entry.name in names:
                raise ValueError(f"API keys file {path}: principal {entry.name!r} given twice")
            names.add(entry.name)
            digest = entry.key_sha256 or key_digest(entry.key or "")
            if digest in principals:
                raise ValueError(f"API keys file {path}: principals[{i}]: key already used")
            principals[digest] = Principal(name=entry.name, roles=frozenset(entry.roles))
        return cls(principals)

    def principal(self, key: str) -> Principal | None:
        """The principal of an API key, or None for an unknown key."""
        return self._by_digest.get(key_digest(key))

    def __len__(self) -> int:
        return len(self._by_digest)


def key_digest(key: str) -> str:
    """Hex SHA-256 of an API key, as stored in a keys file's `key_sha256`."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
