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
