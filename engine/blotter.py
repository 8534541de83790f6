"""The order blotter: the BUY and SELL lines of a rebalance, as rows and as CSV for a dealer.

Order: sells first (their proceeds fund the buys), then buys; within a side the largest
estimated value first, ties by symbol. HOLD lines are left out. Numbers are rounded for
people: units to at most 8 decimals (the finest default lot, crypto's 1e-8) with trailing
zeros dropped, price to at most 6 decimals, values and costs to cents.
"""

from __future__ import annotations

import csv
import io

from engine.schemas import RebalanceResult

__all__ = ["BLOTTER_COLUMNS", "blotter_csv", "blotter_rows"]

BLOTTER_COLUMNS: tuple[str, ...] = ("side", "symbol", "name", "asset_class", "units", "price", "est_value", "est_cost")
_SIDE_ORDER = {"SELL": 0, "BUY": 1}
# A cell starting with one of these is a formula to a spreadsheet; prefix it so it stays text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def blotter_rows(result: RebalanceResult) -> list[dict]:
    """One dict per BUY/SELL line with the keys of :data:`BLOTTER_COLUMNS` (numbers as floats)."""
    lines = [t for t in result.trades if t.action in _SIDE_ORDER]
    lines.sort(key=lambda t: (_SIDE_ORDER[t.action], -t.trade_value, t.symbol))
    return [
        {"side": t.action, "symbol": t.symbol, "name": t.name, "asset_class": t.asset_class,
         "units": _round_units(t.units), "price": round(t.price, 6), "est_value": round(t.trade_value, 2),
         "est_cost": round(t.cost, 2)}
        for t in lines
    ]


def blotter_csv(result: RebalanceResult, *, portfolio_name: str = "", as_of: str | None = None) -> str:
    """The blotter as CSV text (``\\r\\n`` line ends, as RFC 4180 says).

    Two leading columns, ``portfolio`` and ``as_of``, repeat the given name and date on every
    row (empty when not given; no date is invented) so rows stay self-describing once pasted
    into an order system. Text cells that a spreadsheet would run as a formula are prefixed
    with ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("portfolio", "as_of", *BLOTTER_COLUMNS))
    for row in blotter_rows(result):
        cells = [portfolio_name, as_of or "", row["side"], row["symbol"], row["name"], row["asset_class"],
                 _fmt(row["units"], 8), _fmt(row["price"], 6), f"{row['est_value']:.2f}", f"{row['est_cost']:.2f}"]
        writer.writerow([_safe(c) for c in cells[:6]] + cells[6:])
    return out.getvalue()


def _round_units(units: float) -> float:
    return round(units, 8)


def _fmt(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
    return text or "0"


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell
