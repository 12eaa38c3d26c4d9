"""One validated settings object for training and serving (environment variables `TRIAGE_*`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where things live. Every field can be set as `TRIAGE_<FIELD>` (e.g. TRIAGE_ARTIFACTS_DIR)."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")

    artifacts_dir: Path = Field(
        default=Path("artifacts"), description="Generated worlds, MLflow DB, registry history"
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking + registry URI; default sqlite in artifacts_dir"
    )
    datasets_dir: Path = Field(
        default=Path("../shared/datasets"),
        description="Real public datasets (read only, never committed)",
    )
    registry_history_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the alias history; default sqlite in artifacts"
    )
    audit_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the audit store; default sqlite in artifacts"
    )
    user: str = Field(default="", description="Who runs training commands (recorded on promotions)")

    def tracking_uri(self) -> str:
        """The MLflow tracking URI: the configured one, or sqlite in the artifacts folder."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.artifacts_dir / 'mlflow.db').resolve()}"

    def audit_database_url(self) -> str:
        """SQLAlchemy URL of the audit store (SQLite in the artifacts folder by default)."""
        if self.audit_url:
            return self.audit_url
        return f"sqlite:///{(self.artifacts_dir / 'audit.db').resolve()}"

    def history_url(self) -> str:
        """SQLAlchemy URL of the champion-alias history."""
        if self.registry_history_url:
            return self.registry_history_url
        return f"sqlite:///{(self.artifacts_dir / 'registry_history.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache or override the dependency)."""
    return Settings()
