"""The five sample portfolios of ``resources/market/portfolios.csv`` as :class:`Portfolio` models."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from engine.errors import DataError
from engine.market_store import MarketData
from engine.resources import market_dir
from engine.schemas import DATA_CLASS_MAP, DEFAULT_TRADE_UNIT, Holding, Portfolio, PortfolioSummary

_FILE = "portfolios.csv"


def _rows() -> pd.DataFrame:
    try:
        return pd.read_csv(market_dir() / _FILE, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the sample portfolios: {exc}", file=_FILE) from exc


def _trade_unit(kind: str, quantity: str) -> float | None:
    """The class default, unless the sample quantity is finer (e.g. 3.4303 index units)."""
    default = Decimal(str(DEFAULT_TRADE_UNIT[kind]))
    q = Decimal(quantity)
    if q % default == 0:
        return None
    return float(Decimal(1).scaleb(q.as_tuple().exponent))


def _holding(row: dict[str, str], market: MarketData) -> Holding:
    kind, exposure = DATA_CLASS_MAP[row["asset_class"]]
    symbol, price_symbol = row["symbol"], row["price_symbol"]
    proxy = None
    if row["asset_class"] == "cash_fx":
        # priced as 1 / USDxxx: its history is the derived inverse rate xxxUSD
        ccy = market.currency_of(symbol)
        proxy = f"{ccy}USD"
        name = f"{ccy} cash (USD value of 1 {ccy} = 1 / {price_symbol})"
    else:
        if price_symbol != symbol:
            proxy = price_symbol
        name = market.info(price_symbol).name if market.has(price_symbol) else symbol
    return Holding(
        symbol=symbol, name=name, asset_class=kind, exposure=exposure, quantity=float(row["quantity"]),
        price=float(row["price_usd"]), target_weight=float(row["target_weight"]),
        trade_unit=_trade_unit(kind, row["quantity"]), proxy=proxy,
    )


def load_sample_portfolio(portfolio_id: str) -> Portfolio:
    """The sample portfolio ``portfolio_id`` (case-insensitive); :class:`DataError` if unknown."""
    rows = _rows()
    mine = rows[rows["portfolio_id"].str.upper() == portfolio_id.strip().upper()]
    if mine.empty:
        known = ", ".join(dict.fromkeys(rows["portfolio_id"]))
        msg = f"unknown sample portfolio '{portfolio_id}' (known: {known})"
        raise DataError(msg, details=[{"loc": ["portfolio_id"], "msg": msg, "type": "data_error"}])
    market = MarketData.bundled()
    records = mine.to_dict("records")
    first = records[0]
    return Portfolio(
        name=first["portfolio_name"], base_currency=first["base_currency"],
        as_of=pd.Timestamp(first["as_of_date"]).date(), cash=0.0,
        holdings=[_holding(r, market) for r in records],
    )


def sample_portfolio_summaries() -> list[PortfolioSummary]:
    """Id, name, date, size and value of each sample portfolio, in file order."""
    out = []
    for pid in dict.fromkeys(_rows()["portfolio_id"]):
        p = load_sample_portfolio(pid)
        assert p.as_of is not None
        out.append(PortfolioSummary(id=pid, name=p.name, as_of=p.as_of, n_holdings=len(p.holdings),
                                    value=round(p.total_value, 2)))
    return out
