"""The seed MVP's ``POST /api/rebalance`` payload, translated into the engine's request.

Rules (each pinned by ``tests/engine/test_seed.py``):

* ``current_weight`` is first drifted by ``market_return``: ``w_i (1 + r_i)``, renormalised
  together with the unallocated weight ``1 − Σ current_weight``, which is cash earning 0.
* ``quantity = drifted weight × portfolio_value / price`` (``portfolio_value`` is the value
  today, after the move); quantities are exact, not rounded — lots apply to trades only.
* Weight the seed leaves unallocated is cash, not an instrument: the unallocated *current*
  weight is the portfolio's uninvested cash balance, and the unallocated *target* weight is a
  cash reserve (``cash_reserve = (1 − Σ target) × portfolio_value``, never spent). The assets'
  targets are rescaled by ``1 / Σ target`` so that the engine's effective targets,
  ``target × (value − reserve) / value``, equal the seed's targets exactly. Selling into cash
  is therefore not a "buy" and does not count towards turnover. At least one target must be
  above 0 (checked by :class:`~engine.schemas.SeedRebalanceRequest`).
* ``drift_threshold`` → an absolute band; ``turnover_limit`` and ``transaction_cost_bps`` →
  the policy; non-empty ``historical_returns`` → ``AssetHistory`` with the request's
  ``periods_per_year``; ``seed`` → the Monte Carlo seed.
* ``asset_class`` comes from the extension field, else from the name (:func:`infer_asset_class`).
"""

from __future__ import annotations

import re

import numpy as np

from engine.errors import InvalidRequest
from engine.schemas import (
    AssetHistory,
    Band,
    Holding,
    MonteCarloSettings,
    Portfolio,
    RebalancePolicy,
    RebalanceRequest,
    SeedRebalanceRequest,
    TradeLine,
)
from engine.schemas.portfolio import MAX_QUANTITY

__all__ = ["infer_asset_class", "restate_seed_targets", "seed_to_request"]

_REMAINDER_EPS = 1e-9

# Checked in order; the first pattern found as a word in the name wins.
_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"mutual[\s_-]*funds?|funds?", "mutual_fund"),
    (r"etfs?", "etf"),
    (r"stocks?|equit(?:y|ies)|shares?", "stock"),
    (r"bonds?|treasur(?:y|ies)|gilts?", "bond"),
    (r"commodit(?:y|ies)|gold|silver|oil", "commodity"),
    (r"fx|forex|currenc(?:y|ies)", "fx"),
    (r"crypto(?:currenc(?:y|ies))?|bitcoin|btc|eth(?:ereum)?", "crypto"),
    (r"cash|money[\s_-]*market", "cash"),
)


def infer_asset_class(name: str) -> str:
    """The asset class a seed asset's name implies (the seed names assets by their kind).

    'Mutual Fund' → mutual_fund, 'ETF' → etf, 'Stocks' → stock, 'Bond'/'Bonds' → bond,
    'Commodity' → commodity, 'FX' → fx, 'Crypto' → crypto, 'Cash' → cash; matching is by
    whole word, case-insensitive, so 'US Stocks' is a stock and 'Gold ETC' a commodity.
    Anything else is an ``etf``: the seed's default kind of holding — a listed, whole-share
    instrument — which is the conservative choice for lot rounding (whole units).
    """
    text = name.lower()
    for pattern, asset_class in _NAME_RULES:
        if re.search(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])", text):
            return asset_class
    return "etf"


def _drifted_weights(req: SeedRebalanceRequest) -> tuple[np.ndarray, float]:
    """Current weights after the market move, and the (0 %-return) cash weight, summing to 1."""
    w = np.array([a.current_weight for a in req.assets], dtype=float)
    r = np.array([a.market_return for a in req.assets], dtype=float)
    cash = max(1.0 - float(w.sum()), 0.0)
    grown = w * (1.0 + r)
    total = float(grown.sum()) + cash
    if total <= 0:  # every weight is 0: the whole portfolio is unallocated cash
        return np.zeros_like(w), 1.0
    return grown / total, cash / total


def _portfolio(req: SeedRebalanceRequest) -> tuple[Portfolio, float]:
    """The seed's assets as holdings, its unallocated weight as cash, and the cash reserve."""
    drifted, cash_weight = _drifted_weights(req)
    value = req.portfolio_value
    _check_quantities(req, drifted)
    target_sum = sum(a.target_weight for a in req.assets)
    holdings = [
        Holding(symbol=a.asset, name=a.asset, asset_class=a.asset_class or infer_asset_class(a.asset),
                quantity=float(w * value / a.price), price=a.price, target_weight=a.target_weight / target_sum)
        for a, w in zip(req.assets, drifted, strict=True)
    ]
    reserve = max(1.0 - target_sum, 0.0) * value
    if reserve <= _REMAINDER_EPS * value:
        reserve = 0.0
    portfolio = Portfolio(name="Seed portfolio", cash=float(cash_weight * value), holdings=holdings)
    return portfolio, float(reserve)


def _check_quantities(req: SeedRebalanceRequest, drifted: np.ndarray) -> None:
    """Refuse positions whose unit count exceeds what a holding may hold (a 400 on the seed's own field)."""
    errors = []
    for i, (a, w) in enumerate(zip(req.assets, drifted.tolist(), strict=True)):
        units = w * req.portfolio_value / a.price
        if units > MAX_QUANTITY:
            errors.append({"loc": ["assets", i, "price"], "type": "value_error",
                           "msg": f"a position of {w * req.portfolio_value:,.2f} at price {a.price:g} is {units:.3g} "
                                  f"units; at most {MAX_QUANTITY:.0e} are accepted (check price and portfolio_value)"})
    if errors:
        raise InvalidRequest(f"{len(errors)} invalid field{'s' if len(errors) != 1 else ''}", errors)


def seed_to_request(req: SeedRebalanceRequest) -> RebalanceRequest:
    """The engine's :class:`RebalanceRequest` equivalent to a seed payload (rules: module docstring)."""
    portfolio, reserve = _portfolio(req)
    policy = RebalancePolicy(
        band=Band(kind="absolute", width=req.drift_threshold),
        turnover_limit=req.turnover_limit,
        cost_bps=req.transaction_cost_bps,
        cash_reserve=reserve,
    )
    returns = {a.asset: list(a.historical_returns) for a in req.assets if a.historical_returns}
    history = AssetHistory(returns=returns, periods_per_year=req.periods_per_year) if returns else None
    return RebalanceRequest(
        portfolio=portfolio,
        policy=policy,
        monte_carlo=MonteCarloSettings(seed=req.seed),
        history=history,
    )


def restate_seed_targets(trades: list[TradeLine]) -> list[TradeLine]:
    """Trade lines with ``target_weight`` in the seed's own terms (a fraction of the whole
    portfolio, as the caller sent it) rather than of the investable value the engine uses."""
    return [t.model_copy(update={"target_weight": t.effective_target_weight})
            if t.effective_target_weight is not None else t for t in trades]
