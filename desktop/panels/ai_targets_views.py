"""What the AI targets tab shows: the skill banner text, the per-asset rows and their table
model, and the confidence bar. Display only: every number comes from the engine's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from desktop.panels.formatting import DASH, date_text, number, pct, pp, ratio, signed_pct
from desktop.panels.target_commands import SAME
from engine.schemas.ai import AssetForecast, PortfolioForecast, PortfolioTargets, SignalForecast, TiltExplanation

_Index = QModelIndex | QPersistentModelIndex

_HEADLINES: dict[str, tuple[str, str]] = {
    "none": ("No measured out-of-sample skill — treat these tilts with caution.", "bound"),
    "undetermined": ("Skill could not be measured — these tilts are untested; treat them with caution.", "bound"),
    "negative": ("Negative measured skill — out of sample the forecasts did worse than chance; do not rely "
                 "on these tilts.", "error"),
    "weak": ("Weak measured out-of-sample skill — a small, uncertain edge.", "info"),
    "moderate": ("Moderate measured out-of-sample skill.", "info"),
}


_SIGNALS = (("momentum", "Momentum"), ("mean_reversion", "Mean reversion"), ("ewma", "EWMA"))


_PERIOD = {"daily": "trading day", "weekly": "week", "monthly": "month", "quarterly": "quarter", "annual": "year"}


def periods_text(n: int, frequency: str) -> str:
    """``21, "daily"`` -> ``"21 trading days"``, ``1, "monthly"`` -> ``"month"``; else periods."""
    word = _PERIOD.get(frequency, "period")
    return word if n == 1 else f"{n} {word}s"


def _rmse(x: float | None) -> str:
    return number(x, 4)


def skill_banner(f: PortfolioForecast) -> tuple[str, str]:
    """(HTML, banner kind): the skill level in plain words, its figures, and the engine's verdict."""
    headline, kind = _HEADLINES.get(f.skill_level, _HEADLINES["undetermined"])
    s = f.skill
    lines = [f"<span style='font-size:11.5pt; font-weight:700'>{headline}</span>"]
    if s is not None:
        ic = (f"<b>IC {ratio(s.ic_mean)}</b>" + (f" (t {ratio(s.ic_tstat)})" if s.ic_tstat is not None else "")
              + f" over {s.n_ic_dates} dates" if s.n_ic_dates else "<b>IC not measurable</b> (too few holdings to rank)")
        lines.append(
            f"{ic} &nbsp;·&nbsp; <b>hit rate {pct(s.hit_rate)}</b> (historical "
            f"mean {pct(s.hit_rate_mean)}) &nbsp;·&nbsp; <b>{s.n_dates} forecast dates</b>, walk-forward "
            f"{date_text(s.window_start)} → {date_text(s.window_end)} &nbsp;·&nbsp; RMSE {_rmse(s.rmse)} against "
            f"{_rmse(s.rmse_mean)} (historical mean) and {_rmse(s.rmse_zero)} (zero)")
    lines.append(f"<span style='font-size:9pt'>{f.skill_verdict}</span>")
    return "<br>".join(lines), kind


def skill_tooltip(f: PortfolioForecast) -> str:
    """The verdict and the skill per asset class."""
    parts = [f.skill_verdict]
    for c in (f.skill.by_class if f.skill else []):
        parts.append(f"{c.asset_class}: {c.n_assets} assets, IC {ratio(c.ic_mean)} over {c.n_ic_dates} dates, "
                     f"hit rate {pct(c.hit_rate)}, RMSE {_rmse(c.rmse)}")
    return "\n".join(parts)


@dataclass(frozen=True)
class AssetRow:
    """One holding: its tilt explanation and (when forecast) its forecast."""

    symbol: str
    tilt: TiltExplanation
    forecast: AssetForecast | None

    def signal(self, name: str) -> SignalForecast | None:
        return next((s for s in self.forecast.signals if s.signal == name), None) if self.forecast else None


def asset_rows(result: PortfolioTargets) -> list[AssetRow]:
    """The optimiser's assets, in its order, each with its forecast."""
    forecasts = {a.symbol: a for a in result.forecast.forecast.assets}
    return [AssetRow(a.symbol, a, forecasts.get(a.symbol)) for a in result.targets.assets]


def _contribution(row: AssetRow, name: str) -> float | None:
    s = row.signal(name)
    return s.contribution if s is not None else None


def _signal_tip(row: AssetRow, name: str, title: str) -> str:
    s = row.signal(name)
    if s is None:
        return f"{row.symbol}: no forecast."
    return (f"{title} on {row.symbol}: forecast {signed_pct(s.expected_return)} a year at confidence "
            f"{pct(s.confidence, 0)}; {pct(s.weight, 0)} of the ensemble, so it contributes "
            f"{signed_pct(s.contribution, 2)} to the expected return.")


def _bp(x: float) -> str:
    return signed_pct(x * 100, 1).replace(" %", " bp")  # a fraction of value in basis points


def why_text(row: AssetRow) -> str:
    """The engine's reason, then the objective's terms in basis points of value over the horizon."""
    t = row.tilt
    by_signal = ", ".join(f"{title} {_bp(t.signal_terms.get(key, 0.0))}" for key, title in _SIGNALS)
    bound = f" At its bound: {', '.join(t.binding)}." if t.binding else ""
    return (f"{t.reason}.\nOver the horizon the tilt gains {_bp(t.return_term)} of value from the forecast "
            f"({by_signal}), risk penalty {_bp(t.risk_term)}, trading cost {_bp(t.cost_term)}. Largest tilt "
            f"allowed {pct(t.max_tilt, 2)} (max deviation × confidence); trade from today {pp(t.trade)}.{bound}")


# (header, header tooltip, raw, text, numeric)
AI_COLUMNS: tuple[tuple[str, str, Callable[[AssetRow], Any], Callable[[AssetRow], str], bool], ...] = (
    ("Symbol", "Holding (asset class in the tooltip).", lambda r: r.symbol, lambda r: r.symbol, False),
    ("Expected return", "A year, arithmetic: the ensemble forecast, the signals' confidence-weighted mean.",
     lambda r: r.forecast.expected_return if r.forecast else None,
     lambda r: signed_pct(r.forecast.expected_return) if r.forecast else DASH, True),
    ("Confidence", "0–100 %: the signals' confidence, discounted when they disagree.",
     lambda r: r.forecast.confidence if r.forecast else None,
     lambda r: pct(r.forecast.confidence, 0) if r.forecast else DASH, True),
    *((title, f"{title}'s contribution to the expected return (its ensemble weight × its forecast).",
       (lambda r, k=key: _contribution(r, k)), (lambda r, k=key: signed_pct(_contribution(r, k))), True)
      for key, title in _SIGNALS),
    ("Current", "Holding value / total value today.", lambda r: r.tilt.current, lambda r: pct(r.tilt.current, 2), True),
    ("Strategic", "The target weight set in the holdings.", lambda r: r.tilt.strategic,
     lambda r: pct(r.tilt.strategic, 2), True),
    ("Optimised", "The optimiser's target weight.", lambda r: r.tilt.optimised, lambda r: pct(r.tilt.optimised, 2), True),
    ("Tilt", "Optimised − strategic, percentage points.", lambda r: r.tilt.tilt, lambda r: pp(r.tilt.tilt), True),
    ("Why", "The tilt explained by signal, risk and cost (details in the tooltip).", lambda r: r.tilt.reason,
     lambda r: r.tilt.reason, False),
)
_HEADERS = tuple(c[0] for c in AI_COLUMNS)
_KEYS = {title: key for key, title in _SIGNALS}
_GAIN, _LOSS, _MUTED = QColor("#1e7d45"), QColor("#b3261e"), QColor("#7b8794")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class AiTargetsTableModel(QAbstractTableModel):
    """One row per holding; ``Qt.UserRole`` is the raw value (the sort key, what tests compare)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[AssetRow] = []

    @staticmethod
    def column(header: str) -> int:
        return _HEADERS.index(header)

    def set_rows(self, rows: list[AssetRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(AI_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(AI_COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            # Two-line headers leave the explanation column the room it needs.
            return AI_COLUMNS[section][0].replace(" ", "\n", 1) if section not in (0, len(AI_COLUMNS) - 1) else AI_COLUMNS[section][0]
        return AI_COLUMNS[section][1] if role == Qt.ItemDataRole.ToolTipRole else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row, (header, _tip, raw, text, numeric) = self.rows[index.row()], AI_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text(row)
        if role == Qt.ItemDataRole.UserRole:
            return raw(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if numeric else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            if header == "Tilt" and abs(row.tilt.tilt) > SAME:
                return _GAIN if row.tilt.tilt > 0 else _LOSS
            signal = row.signal(_KEYS.get(header, ""))
            return _MUTED if header == "Why" or (signal is not None and signal.weight == 0) else None
        if role == Qt.ItemDataRole.FontRole and header in ("Symbol", "Optimised"):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, header)
        return None

    @staticmethod
    def _tooltip(row: AssetRow, header: str) -> str:
        if header in _KEYS:
            return _signal_tip(row, _KEYS[header], header)
        if header == "Why":
            return why_text(row)
        f = row.forecast
        if header == "Expected return" and f is not None:
            return (f"{signed_pct(f.expected_return)} a year; {signed_pct(f.horizon_return, 2)} over the forecast "
                    f"horizon; from {f.n_observations:,} returns.")
        return f"{row.symbol} ({row.tilt.asset_class or 'unclassified'})"


class ConfidenceDelegate(QStyledItemDelegate):
    """Draws the confidence (``Qt.UserRole`` in [0, 1]) as a bar behind the cell's text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        value = index.data(Qt.ItemDataRole.UserRole)
        if isinstance(value, float):
            r = option.rect.adjusted(3, 4, -3, -4)
            painter.save()
            painter.fillRect(QRectF(r.x(), r.y(), r.width() * min(max(value, 0.0), 1.0), r.height()),
                             QColor("#c9daf0"))
            painter.restore()
        super().paint(painter, option, index)


# --- the tab ---------------------------------------------------------------------------------------
