"""Rebalancing 5,000 holdings with bands, lots, costs and a binding turnover cap."""

from __future__ import annotations

import numpy as np

from bench.harness import Row, median_time


def make_portfolio(n: int = 5_000, seed: int = 3):
    from engine.schemas import Holding, Portfolio

    rng = np.random.default_rng(seed)
    target = rng.dirichlet(np.ones(n))
    target = target / target.sum()
    price = rng.uniform(5, 500, n)
    current = target * rng.lognormal(0, 0.3, n)
    qty = np.floor(current / current.sum() * 10_000_000 / price)
    classes = rng.choice(["stock", "etf", "mutual_fund", "crypto"], n, p=[0.6, 0.3, 0.08, 0.02])
    holdings = [Holding(symbol=f"S{i:05d}", asset_class=str(classes[i]), quantity=float(qty[i]),
                        price=float(price[i]), target_weight=float(target[i])) for i in range(n)]
    drift = 1.0 - sum(h.target_weight for h in holdings)
    holdings[0] = holdings[0].model_copy(update={"target_weight": holdings[0].target_weight + drift})
    return Portfolio(holdings=holdings, cash=25_000.0)


def run(quick: bool) -> list[Row]:
    from engine.rebalance import rebalance
    from engine.schemas import Band, RebalancePolicy

    portfolio = make_portfolio()
    policy = RebalancePolicy(band=Band(kind="relative", width=0.2), turnover_limit=0.05, cost_bps=5.0,
                             min_trade_value=50.0)
    t, n = median_time(lambda: rebalance(portfolio, policy), repeats=5 if quick else 30)
    return [Row("rebalance", "5,000 holdings, relative bands, turnover cap 5 % (ours)", t, n,
                target="≤ 50 ms", met=t <= 0.050)]
