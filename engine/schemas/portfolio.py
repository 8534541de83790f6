"""Holdings and portfolios: the documents an advisor edits."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from engine.schemas.base import StrictModel

AssetClass = Literal["mutual_fund", "etf", "stock", "bond", "commodity", "fx", "crypto", "cash"]
Exposure = Literal["equity", "fixed_income", "commodity", "fx", "crypto", "cash"]

ASSET_CLASSES: tuple[str, ...] = AssetClass.__args__  # type: ignore[attr-defined]
EXPOSURES: tuple[str, ...] = Exposure.__args__  # type: ignore[attr-defined]

#: Smallest tradable quantity per asset class (overridable per holding).
DEFAULT_TRADE_UNIT: dict[str, float] = {
    "mutual_fund": 0.001,
    "etf": 1.0,
    "stock": 1.0,
    "bond": 1.0,
    "commodity": 0.001,
    "fx": 0.01,
    "crypto": 1e-8,
    "cash": 0.01,
}

#: Economic exposure implied by the kind of holding when the user gives none.
DEFAULT_EXPOSURE: dict[str, str] = {
    "mutual_fund": "equity",
    "etf": "equity",
    "stock": "equity",
    "bond": "fixed_income",
    "commodity": "commodity",
    "fx": "fx",
    "crypto": "crypto",
    "cash": "cash",
}

#: The bundled data's ``asset_class`` column mapped onto (kind, exposure).
DATA_CLASS_MAP: dict[str, tuple[str, str]] = {
    "etf_equity": ("etf", "equity"),
    "etf_bond": ("etf", "fixed_income"),
    "equity_index": ("etf", "equity"),
    "bond_index": ("bond", "fixed_income"),
    "stock": ("stock", "equity"),
    "commodity": ("commodity", "commodity"),
    "fx": ("fx", "fx"),
    "cash_fx": ("cash", "fx"),
    "crypto": ("crypto", "crypto"),
}

MAX_HOLDINGS = 5_000
#: Bounds that keep every product and sum finite and meaningful in float64 arithmetic
#: (a price of 5e-324 is "positive" but makes value / price overflow).
MIN_PRICE, MAX_PRICE = 1e-9, 1e12
MAX_QUANTITY = 1e15
MAX_MONEY = 1e15
MAX_HISTORY_POINTS = 100_000
TARGET_SUM_TOLERANCE = 1e-6

Weight = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0, le=MAX_MONEY)]


def _not_vanishing(price: float) -> float:
    if price < MIN_PRICE:
        raise ValueError(f"price {price:g} is too small to trade; prices must be at least {MIN_PRICE:g}")
    return price


Price = Annotated[float, Field(gt=0.0, le=MAX_PRICE), AfterValidator(_not_vanishing)]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/ \-]*$")]


class Holding(StrictModel):
    """One position. ``quantity`` is in units (shares, ounces, coins…), ``price`` per unit in
    the portfolio's base currency."""

    symbol: Symbol
    name: str = Field(default="", max_length=200)
    asset_class: AssetClass
    exposure: Exposure | None = Field(
        default=None, description="Economic exposure; defaults from asset_class (an ETF is equity unless set)."
    )
    quantity: Annotated[float, Field(ge=0.0, le=MAX_QUANTITY)]
    price: Price
    target_weight: Weight
    trade_unit: Annotated[float, Field(ge=1e-12, le=1e9)] | None = Field(
        default=None, description="Smallest tradable quantity; defaults per asset class."
    )
    proxy: Symbol | None = Field(
        default=None, description="Bundled series whose history stands in for this holding's."
    )

    @property
    def value(self) -> float:
        return self.quantity * self.price

    @property
    def effective_exposure(self) -> str:
        return self.exposure or DEFAULT_EXPOSURE[self.asset_class]

    @property
    def effective_trade_unit(self) -> float:
        return self.trade_unit if self.trade_unit is not None else DEFAULT_TRADE_UNIT[self.asset_class]


class Portfolio(StrictModel):
    """Holdings plus an uninvested cash balance in ``base_currency``.

    Target weights are fractions of the investable value (total value less the cash reserve)
    and must sum to 1; an intended cash allocation is a holding of class ``cash``.
    """

    name: str = Field(default="Portfolio", max_length=200)
    base_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    as_of: Annotated[dt.date, Field(strict=False)] | None = Field(
        default=None, description="Valuation date; history after it is not used."
    )
    cash: NonNegative = 0.0
    holdings: Annotated[list[Holding], Field(min_length=1, max_length=MAX_HOLDINGS)]

    @field_validator("holdings")
    @classmethod
    def _unique_symbols(cls, holdings: list[Holding]) -> list[Holding]:
        seen: dict[str, int] = {}
        for i, h in enumerate(holdings):
            key = h.symbol.upper()
            if key in seen:
                raise ValueError(f"duplicate symbol '{h.symbol}' (holdings {seen[key]} and {i})")
            seen[key] = i
        return holdings

    @field_validator("holdings")
    @classmethod
    def _targets_sum_to_one(cls, holdings: list[Holding]) -> list[Holding]:
        total = sum(h.target_weight for h in holdings)
        if abs(total - 1.0) > TARGET_SUM_TOLERANCE:
            raise ValueError(
                f"target weights sum to {total:.6f}; they must sum to 1 (±{TARGET_SUM_TOLERANCE:g})"
            )
        return holdings

    @property
    def holdings_value(self) -> float:
        return float(sum(h.value for h in self.holdings))

    @property
    def total_value(self) -> float:
        return self.holdings_value + self.cash
