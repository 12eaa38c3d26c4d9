"""The MLflow model registry by alias, with a recorded history of every champion change.

MLflow keeps only the current alias, not who moved it, when or why; every promotion and rollback
is therefore also appended to a small history table (SQLAlchemy; SQLite by default) and mirrored
as tags on the model version.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models.settings import Settings

CHAMPION = "champion"

_metadata = sa.MetaData()
alias_history = sa.Table(
    "alias_history",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("version", sa.String(20), nullable=False),
    sa.Column("previous_version", sa.String(20), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (unknown model or version, nothing to roll back)."""


@dataclass(frozen=True)
class AliasEvent:
    """One recorded alias change."""

    model: str
    alias: str
    action: str
    version: str
    previous_version: str | None
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version as `triage models list` shows it."""

    model: str
    version: str
    run_id: str | None
    created_at: datetime
    aliases: tuple[str, ...]
    tags: dict[str, str]


class Registry:
    """Model versions, the champion alias, and the alias history."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
        uri = settings.tracking_uri()
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self._engine = sa.create_engine(settings.history_url())
        _metadata.create_all(self._engine)

    # ------------------------------------------------------------------ reading

    def versions(self, model: str) -> list[VersionInfo]:
        """Every version of `model`, newest first."""
        try:
            found = self.client.search_model_versions(f"name = '{_quote(model)}'")
        except MlflowException as exc:
            raise RegistryError(str(exc)) from exc
        infos = [
            VersionInfo(
                model=model,
                version=str(v.version),
                run_id=v.run_id,
                created_at=datetime.fromtimestamp(v.creation_timestamp / 1000, tz=UTC),
                aliases=tuple(getattr(v, "aliases", []) or ()),
                tags=dict(v.tags or {}),
            )
            for v in found
        ]
        return sorted(infos, key=lambda v: int(v.version), reverse=True)

    def champion(self, model: str) -> str | None:
        """The version that holds the champion alias, or None."""
        try:
            return str(self.client.get_model_version_by_alias(model, CHAMPION).version)
        except MlflowException:
            return None

    def history(self, model: str) -> list[AliasEvent]:
        """Recorded alias changes of `model`, oldest first."""
        query = (
            sa.select(alias_history)
            .where(alias_history.c.model == model)
            .order_by(alias_history.c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AliasEvent(
                model=row["model"],
                alias=row["alias"],
                action=row["action"],
                version=row["version"],
                previous_version=row["previous_version"],
                actor=row["actor"],
                reason=row["reason"],
                at=row["at"],
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ changing

    def promote(
        self,
        model: str,
        version: str,
        *,
        reason: str,
        actor: str | None = None,
        action: str = "promote",
    ) -> AliasEvent:
        """Point the champion alias at `version` and record who, when and why."""
        if not reason.strip():
            raise RegistryError("a reason is required")
        known = {v.version for v in self.versions(model)}
        if str(version) not in known:
            raise RegistryError(
                f"{model} has no version {version} (known: {sorted(known, key=int)})"
            )
        previous = self.champion(model)
        self.client.set_registered_model_alias(model, CHAMPION, str(version))
        event = AliasEvent(
            model=model,
            alias=CHAMPION,
            action=action,
            version=str(version),
            previous_version=previous,
            actor=actor or self.settings.user or _whoami(),
            reason=reason.strip(),
            at=datetime.now(UTC),
        )
        with self._engine.begin() as conn:
            conn.execute(sa.insert(alias_history).values(**event.__dict__))
        self.client.set_model_version_tag(
            model, str(version), "champion_since", event.at.isoformat()
        )
        self.client.set_model_version_tag(model, str(version), "champion_reason", event.reason)
        return event

    def rollback(self, model: str, *, reason: str, actor: str | None = None) -> AliasEvent:
        """Give the champion alias back to the version that held it before the current one."""
        current = self.champion(model)
        if current is None:
            raise RegistryError(f"{model} has no champion to roll back")
        for event in reversed(self.history(model)):
            if event.version == current and event.previous_version not in (None, current):
                target = event.previous_version
                assert target is not None
                return self.promote(model, target, reason=reason, actor=actor, action="rollback")
        raise RegistryError(f"{model} has no earlier champion than version {current}")

    def set_tags(self, model: str, version: str, tags: dict[str, Any]) -> None:
        """Attach tags (e.g. gate results) to a model version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(model, str(version), key, str(value))


def _quote(name: str) -> str:
    return name.replace("'", "''")


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"
