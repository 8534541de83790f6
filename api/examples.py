"""Request examples shown in the OpenAPI document and on ``/`` (a test validates each one)."""

from __future__ import annotations

from typing import Any

#: The seed MVP's example payload (../shared/seed/SEED.md), verbatim.
SEED_REBALANCE: dict[str, Any] = {
    "portfolio_value": 100000,
    "drift_threshold": 0.02,
    "turnover_limit": 0.2,
    "transaction_cost_bps": 10,
    "assets": [
        {
            "asset": "ETF",
            "target_weight": 0.2,
            "current_weight": 0.24,
            "market_return": 0.022,
            "price": 95,
            "historical_returns": [0.01, 0.012, 0.008, 0.011, 0.022],
        }
    ],
}

_PORTFOLIO: dict[str, Any] = {
    "name": "Balanced",
    "cash": 1000.0,
    "holdings": [
        {"symbol": "SPY", "asset_class": "etf", "quantity": 150, "price": 400.0, "target_weight": 0.6},
        {"symbol": "AGG", "asset_class": "etf", "exposure": "fixed_income", "quantity": 350,
         "price": 100.0, "target_weight": 0.4},
    ],
}

ENGINE_REBALANCE: dict[str, Any] = {
    "portfolio": _PORTFOLIO,
    "policy": {"band": {"kind": "absolute", "width": 0.02}, "turnover_limit": 0.2, "cost_bps": 5.0},
    "monte_carlo": {"method": "bootstrap", "paths": 2000, "horizon": 252, "seed": 7},
}

RISK_SERIES: dict[str, Any] = {
    "returns": [0.01, -0.02, 0.015, 0.003, -0.007, 0.012],
    "benchmark_returns": [0.008, -0.015, 0.01, 0.002, -0.004, 0.009],
    "risk_free_rate": 0.0,
    "periods_per_year": 252,
}

RISK_HOLDINGS: dict[str, Any] = {"portfolio": _PORTFOLIO, "settings": {"benchmark": "SPY"}}

STRESS: dict[str, Any] = {
    "portfolio": _PORTFOLIO,
    "monte_carlo": {"method": "block_bootstrap", "paths": 2000, "horizon": 252, "seed": 42},
    "scenarios": ["all"],
}

# --- AI-assisted targets, the pipeline, backtests (issue 6) ------------------------------------
#: Three bundled daily series (ranking skill needs at least three) at their adjusted 2016-09-30 closes.
_AI_PORTFOLIO: dict[str, Any] = {
    "name": "Balanced with a defensive stock",
    "as_of": "2016-09-30",
    "cash": 2000.0,
    "holdings": [
        {"symbol": "SPY", "asset_class": "etf", "quantity": 270, "price": 188.982086, "target_weight": 0.5},
        {"symbol": "AGG", "asset_class": "etf", "exposure": "fixed_income", "quantity": 300, "price": 111.31103,
         "target_weight": 0.35},
        {"symbol": "JNJ", "asset_class": "stock", "quantity": 150, "price": 98.727, "target_weight": 0.15},
    ],
}

FORECAST: dict[str, Any] = {
    "portfolio": _AI_PORTFOLIO,
    "settings": {"short_window": 21, "long_window": 252, "half_life": 63.0, "horizon": 21},
}

OPTIMIZE: dict[str, Any] = {
    "portfolio": _AI_PORTFOLIO,
    "optimize": {"risk_aversion": 5.0, "cost_bps": 10.0, "turnover_limit": 0.1, "max_deviation": 0.05,
                 "class_limits": {"equity": {"min": 0.5, "max": 0.7}}},
}

PIPELINE_RUN: dict[str, Any] = {
    "portfolio": _AI_PORTFOLIO,
    "controls": {"max_turnover": 0.2, "max_single_trade": 0.1, "do_not_sell": ["JNJ"],
                 "max_post_trade_volatility": 0.25},
    "label": "Quarterly review",
}

APPROVE: dict[str, Any] = {"user": "a.advisor", "note": "Controls pass; the proposed trades were reviewed with the client."}
REJECT: dict[str, Any] = {"user": "a.advisor", "note": "Client asked to keep the strategic targets this quarter."}

BACKTEST: dict[str, Any] = {
    "portfolio": _AI_PORTFOLIO,
    "policy": {"band": {"kind": "absolute", "width": 0.05}, "cost_bps": 5.0},
    "start": "2012-01-03",
    "end": "2016-09-30",
}
