"""The planning policy: every number a planner may want to change, with its unit and default.

Defaults follow the source material (strategic distributors get the highest service, no tier is
starved, overstock is flagged above a days-of-supply bound). Any field can be overridden from a
YAML/JSON file (`load_policy`) holding only the fields to change; per-tier mappings may name only
the tiers to change.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from allocation.errors import AllocationInputError
from allocation.network import (
    MAX_DAYS,
    TIERS,
    Tier,
    WholeNumber,
    load_document,
    validation_message,
)

__all__ = ["CATCHMENT", "Policy", "load_policy", "parse_policy"]

CATCHMENT = "catchment"
"""Pseudo-tier of a forward warehouse's own catchment demand (walk-in / retail demand)."""

_TIER_KEYS = (*TIERS, CATCHMENT)
# Multiples of a unit's cost (penalties, factors) above this are no policy but a typo, and they
# turn the plan's objective infinite at the network's largest unit cost.
MAX_MULTIPLE = 1e6


def _per_tier(strategic: float, growth: float, observation: float, catchment: float) -> Any:
    values = {"strategic": strategic, "growth": growth, "observation": observation}
    return Field(default_factory=lambda: {**values, CATCHMENT: catchment})


class Policy(BaseModel):
    """Planning policy. Symbols in brackets are those of the model's docstring (allocation.model).

    review_period_days [R]: days between two plans; each plan covers lead time + R (days).
    service_target [alpha_t]: cycle service level per tier (and "catchment" for forward
        warehouses' own demand); sets the safety stock quantile (probability, 0.5..0.999).
    shortage_penalty [p_t]: money per unit of mean demand left unmet, as a multiple of the SKU's
        unit cost, per tier.
    safety_penalty_share [kappa]: money per unit of safety stock left uncovered, as a share of
        the tier's shortage penalty (0..1).
    stockout_day_weight [beta]: under shortage, how much more a unit short costs at a location
        that sells little a day, where it means more days out of stock: the penalty is
        p_t (1 + beta m / (m + d)), d the location's daily demand, m the SKU's median d, so
        between p_t and (1 + beta) p_t (0..1). It must keep tiers in order: for two tiers of
        different penalties, the lower one times 1 + beta stays below the higher one (with the
        default penalties, beta below 1/3).
    hot_strategic_multiplier [m_hot]: factor on a strategic distributor's shortage penalty for hot
        SKUs, so hot SKUs go to strategic first (>= 1).
    holding_rate_per_year [i]: holding cost per unit per year as a share of unit cost (0..5);
        the daily holding cost is h = i * unit_cost / 365 (money per unit per day).
    overstock_days [B]: days of supply above which stock at a forward warehouse is overstock.
    overstock_cost_days [H_o]: holding days charged on each unit of overstock (money = h * H_o per
        unit): what moving it to where it sells saves (days).
    slow_mover_days: days of supply above which a SKU at a node is flagged a slow mover (days).
    fair_share [phi_t]: under shortage, each tier gets at least phi_t of its proportional share
        (its need times the SKU's network-wide supply / need ratio) (0..1).
    fair_share_penalty: money per unit below fair share, as a multiple of unit cost; larger than
        any shortage penalty so the share holds wherever the network can deliver it.
    allow_cross_region_lateral: lateral transfers across regions are allowed (only of overstock
        at the origin, and only where they pay).
    stockout_risk_cover: a demand location whose planned stock covers less than this share of
        its mean demand over the cover period, by a unit or more (or with less than a unit
        there), raises a stockout-risk alert (0..1); with
        early_days_apart, so does a forward warehouse's stock before its fastest lane lands
        (early_stockout_risk).
    early_days_apart [b, c]: cover the days before a forward warehouse's fastest lane can land
        apart (`allocation.model.early_needs`): their demand then meets only what is there by
        then, so a store about to run dry gets a lateral of a shorter lead time rather than a
        delivery that lands after those days. Off by default for its cost at scale.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    # 7.0 is 7, as a network's lead times take it (JSON writers of float columns write it so)
    review_period_days: WholeNumber = Field(default=7, ge=1, le=MAX_DAYS)
    service_target: dict[str, float] = _per_tier(0.98, 0.95, 0.90, 0.95)
    shortage_penalty: dict[str, float] = _per_tier(4.0, 3.0, 2.0, 3.0)
    safety_penalty_share: float = Field(default=0.3, ge=0, le=1)
    # On the M5 replay (BENCHMARKS.md, "Simulation") it cut stockout days by 1-15 % at the same
    # stock; the default tiers' ratios (4:3:2) allow it below 1/3.
    stockout_day_weight: float = Field(default=0.3, ge=0, le=1, validate_default=True)
    hot_strategic_multiplier: float = Field(default=1.5, ge=1, le=MAX_MULTIPLE)
    # A share, as 0.25 for 25 %: written as 25, it was 2,500 % a year and the plan held nothing.
    # Up to 5: perishables can cost more than their value a year to hold.
    holding_rate_per_year: float = Field(default=0.25, ge=0, le=5)
    overstock_days: float = Field(default=60.0, gt=0, le=MAX_DAYS)
    overstock_cost_days: float = Field(default=90.0, ge=0, le=MAX_DAYS)
    slow_mover_days: float = Field(default=120.0, gt=0, le=MAX_DAYS)
    fair_share: dict[str, float] = _per_tier(0.9, 0.7, 0.5, 0.7)
    fair_share_penalty: float = Field(default=20.0, ge=0, le=MAX_MULTIPLE)
    allow_cross_region_lateral: bool = True
    stockout_risk_cover: float = Field(default=1.0, ge=0, le=1)
    # On the M5 replay it cuts stockout days by 1-19 % at every target on every window; at
    # 10,000 SKUs x 50 locations it adds 9 % rows and the LP took 72.6 s instead of 60.8 s
    # (BENCHMARKS.md, Allocation, 2026-12-07).
    early_days_apart: bool = False

    @field_validator("service_target", "shortage_penalty", "fair_share", mode="before")
    @classmethod
    def _merge_tiers(cls, value: Any, info: Any) -> Any:
        """Overrides may name a few tiers; the others keep their defaults."""
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(_TIER_KEYS))
        if unknown:
            raise ValueError(f"unknown tier(s) {unknown}; expected some of {list(_TIER_KEYS)}")
        default = cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return {**default, **value}

    @field_validator("service_target")
    @classmethod
    def _check_targets(cls, value: dict[str, float]) -> dict[str, float]:
        for tier, level in value.items():
            if not 0.5 <= level <= 0.999:
                raise ValueError(f"service_target[{tier}] = {level}; expected 0.5..0.999")
        return value

    @field_validator("shortage_penalty")
    @classmethod
    def _check_penalties(cls, value: dict[str, float]) -> dict[str, float]:
        for tier, penalty in value.items():
            if not 0 <= penalty <= MAX_MULTIPLE:
                raise ValueError(
                    f"shortage_penalty[{tier}] = {penalty}; expected 0..{MAX_MULTIPLE:g}"
                )
        return value

    @field_validator("fair_share")
    @classmethod
    def _check_shares(cls, value: dict[str, float]) -> dict[str, float]:
        for tier, share in value.items():
            if not 0 <= share <= 1:
                raise ValueError(f"fair_share[{tier}] = {share}; expected 0..1")
        return value

    @field_validator("stockout_day_weight")
    @classmethod
    def _check_tier_order(cls, weight: float, info: ValidationInfo) -> float:
        """The stockout-day weight raises a unit short by up to 1 + beta: a tier's weighted
        penalty must stay below the next tier's, or a slow location of the lower tier would be
        served before a busy one of the higher (growth before strategic at beta 1). The
        penalties are validated first (declared above)."""
        penalties = info.data.get("shortage_penalty", {})
        ranked = sorted(penalties.items(), key=lambda item: item[1])
        for (low, low_penalty), (high, high_penalty) in itertools.combinations(ranked, 2):
            if low_penalty < high_penalty <= low_penalty * (1 + weight):
                raise ValueError(
                    f"{weight:g} lets {low} (shortage_penalty {low_penalty:g}, up to "
                    f"{low_penalty * (1 + weight):g} a unit at a slow location) outrank {high} "
                    f"({high_penalty:g}): keep it below {high_penalty / low_penalty - 1:.3g} or "
                    "move the penalties apart"
                )
        return weight

    def daily_holding_cost(self, unit_cost: float) -> float:
        """h: money per unit per day of stock held."""
        return self.holding_rate_per_year * unit_cost / 365.0

    def tier_target(self, tier: Tier | str) -> float:
        return self.service_target[tier]


def parse_policy(document: dict[str, Any], source: str = "policy") -> Policy:
    """Validate policy overrides; errors name the field."""
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        message, field, _ = validation_message(exc, source)
        raise AllocationInputError(message, source=source, field=field) from exc


def load_policy(path: str | Path) -> Policy:
    """Read policy overrides from YAML/JSON (only the fields to change)."""
    return parse_policy(load_document(path, "policy"), source=str(path))
