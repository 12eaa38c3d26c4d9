"""Validated parameters of the simulated world, read from YAML (`training/conf/world.yml`)."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.codes import AbuseScenario, Channel, CustomerSegment, ReasonCode


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SegmentConfig(_Strict):
    share: float = Field(gt=0)
    orders_per_year: float = Field(gt=0)
    lines_per_order: float = Field(ge=1)
    max_quantity: int = Field(ge=1)
    channels: dict[Channel, float]
    categories: dict[str, float]


class PropensityConfig(_Strict):
    mu: float
    sigma: float = Field(gt=0)


class WarehouseConfig(_Strict):
    region: str
    inspectors: int = Field(ge=1)


class CategoryConfig(_Strict):
    share: float = Field(gt=0)
    skus: int = Field(ge=2)
    price_log_mu: float
    price_log_sigma: float = Field(gt=0)
    margin: float = Field(gt=0, lt=1)
    serialized: float = Field(ge=0, le=1)
    lot_controlled: float = Field(ge=0, le=1)
    expiry_controlled: float = Field(ge=0, le=1)
    regulated: float = Field(ge=0, le=1)
    hazmat: float = Field(ge=0, le=1)
    refurbishable: float = Field(ge=0, le=1)
    vendor_return_agreement: float = Field(ge=0, le=1)
    return_window_days: list[int]
    warranty_days: list[int]
    shapes: list[str]
    return_factor: float = Field(gt=0)
    reasons: dict[ReasonCode, float]


class NotesConfig(_Strict):
    empty_share: dict[Channel, float]
    secondary_reason_share: float = Field(ge=0, le=1)
    picked_correct: dict[CustomerSegment, float]
    picked_other: float = Field(ge=0, le=1)


class PhotosConfig(_Strict):
    weight_damaged: float = Field(gt=0)
    weight_claim_damage: float = Field(gt=0)
    weight_base: float = Field(gt=0)
    extra_photo_shows_damage: float = Field(ge=0, le=1)


class AbuseConfig(_Strict):
    share: float = Field(ge=0, le=0.2)
    segments: list[CustomerSegment]
    ring_size: tuple[int, int] | None = None


class InsiderConfig(_Strict):
    colluding_customers: int = Field(ge=1)
    share_of_inspector_cases: float = Field(gt=0, le=1)


class WorldConfig(_Strict):
    """Everything `simulate_world` needs besides the size and the seed."""

    start_date: date
    order_months: int = Field(ge=12, le=60)
    currency: str
    segments: dict[CustomerSegment, SegmentConfig]
    return_propensity: dict[CustomerSegment, PropensityConfig]
    zero_return_share: float = Field(ge=0, lt=1)
    regions: list[str]
    warehouses: dict[str, WarehouseConfig]
    categories: dict[str, CategoryConfig]
    notes: NotesConfig
    photos: PhotosConfig
    abuse: dict[str, AbuseConfig | InsiderConfig]
    shared_token_share: float = Field(ge=0, le=1)
    honest_serial_mismatch: float = Field(ge=0, le=1)
    honest_not_received: float = Field(ge=0, le=1)
    disposition_label_noise: float = Field(ge=0, le=0.5)

    @model_validator(mode="after")
    def _complete(self) -> WorldConfig:
        missing = set(CustomerSegment) - set(self.segments)
        if missing:
            raise ValueError(f"segments missing: {sorted(missing)}")
        if set(self.return_propensity) != set(self.segments):
            raise ValueError("return_propensity must list the same segments as segments")
        for name, segment in self.segments.items():
            unknown = set(segment.categories) - set(self.categories)
            if unknown:
                raise ValueError(f"segments.{name}.categories: unknown {sorted(unknown)}")
        for warehouse in self.warehouses.values():
            if warehouse.region not in self.regions:
                raise ValueError(f"warehouse region {warehouse.region!r} not in regions")
        planted = {s.value for s in AbuseScenario} - {AbuseScenario.NONE.value}
        if set(self.abuse) != planted:
            raise ValueError(f"abuse must configure exactly {sorted(planted)}")
        if not isinstance(self.abuse[AbuseScenario.INSIDER.value], InsiderConfig):
            raise ValueError("abuse.INSIDER needs colluding_customers and share_of_inspector_cases")
        return self

    def insider(self) -> InsiderConfig:
        """The insider pattern's parameters."""
        insider = self.abuse[AbuseScenario.INSIDER.value]
        assert isinstance(insider, InsiderConfig)
        return insider

    def customer_abuse(self) -> dict[AbuseScenario, AbuseConfig]:
        """Customer-level abuse scenarios (all but INSIDER)."""
        return {
            AbuseScenario(name): cfg
            for name, cfg in self.abuse.items()
            if isinstance(cfg, AbuseConfig)
        }


def load_world_config(path: Path | None = None) -> WorldConfig:
    """Load world parameters from `path`, or the packaged defaults when `path` is None."""
    if path is None:
        text = resources.files("training").joinpath("conf/world.yml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return WorldConfig.model_validate(yaml.safe_load(text))
