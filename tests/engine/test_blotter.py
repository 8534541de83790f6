"""The order blotter: only BUY/SELL lines, sells first, CSV safe for spreadsheets."""

from __future__ import annotations

import csv
import io

from engine.blotter import BLOTTER_COLUMNS, blotter_csv, blotter_rows
from engine.rebalance import rebalance
from engine.schemas import Holding, Portfolio, RebalancePolicy


def result():
    p = Portfolio(cash=2_500.0, holdings=[
        Holding(symbol="SPY", name="SPDR S&P 500", asset_class="etf", quantity=100, price=450.0, target_weight=0.45),
        Holding(symbol="BTC", name="=HYPERLINK(\"x\")", asset_class="crypto", quantity=0.5, price=65_000.0,
                target_weight=0.5),
        Holding(symbol="AGG", name="Bonds", asset_class="etf", quantity=40, price=100.0, target_weight=0.05),
    ])
    return rebalance(p, RebalancePolicy(cost_bps=10.0))


def test_rows_hold_only_trades_sells_first() -> None:
    r = result()
    rows = blotter_rows(r)
    assert [row["side"] for row in rows] == ["SELL", "BUY"]
    assert [row["symbol"] for row in rows] == ["SPY", "BTC"]
    assert all(tuple(row) == BLOTTER_COLUMNS for row in rows)
    spy = next(t for t in r.trades if t.symbol == "SPY")
    assert rows[0] == {"side": "SELL", "symbol": "SPY", "name": "SPDR S&P 500", "asset_class": "etf",
                       "units": spy.units, "price": 450.0, "est_value": round(spy.trade_value, 2),
                       "est_cost": round(spy.cost, 2)}
    assert next(t for t in r.trades if t.symbol == "AGG").action == "HOLD"


def test_csv_has_header_context_columns_and_defuses_formulas() -> None:
    r = result()
    text = blotter_csv(r, portfolio_name="Smith family", as_of="2024-12-31")
    assert text.endswith("\r\n")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["portfolio", "as_of", *BLOTTER_COLUMNS]
    assert [row[:3] for row in table[1:]] == [["Smith family", "2024-12-31", "SELL"],
                                              ["Smith family", "2024-12-31", "BUY"]]
    btc = table[2]
    assert btc[4] == "'=HYPERLINK(\"x\")"  # a spreadsheet would have run it
    units = next(t.units for t in r.trades if t.symbol == "BTC")
    assert btc[6] == f"{units:.8f}".rstrip("0").rstrip(".") and float(btc[6]) == units
    assert btc[7] == "65000" and float(btc[8]) == round(units * 65_000, 2)


def test_empty_blotter_when_nothing_trades() -> None:
    p = Portfolio(holdings=[Holding(symbol="A", asset_class="etf", quantity=10, price=10.0, target_weight=1.0)])
    r = rebalance(p, RebalancePolicy())
    assert blotter_rows(r) == []
    assert blotter_csv(r) == "portfolio,as_of," + ",".join(BLOTTER_COLUMNS) + "\r\n"
