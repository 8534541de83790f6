"""Metric cards: one METRICS.md metric before -> after, explained on hover.

The card shows numbers only as the engine gave them; the tooltip says how the metric is
computed (METRICS.md's definition) and over which window (dates, number of periods, P).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from desktop.panels.formatting import DASH, date_text, pct, ratio
from engine.schemas.results import DataWindow, RiskMetrics

__all__ = ["METRIC_SPECS", "MetricCard", "MetricCardGrid", "MetricSpec", "ValueCard", "metric_tooltip"]

_PERIOD_WORD = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter", "annual": "year"}


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is named, shown and explained. ``unit`` may contain ``{period}``."""

    field: str
    title: str
    unit: str
    fmt: Callable[[float | None], str]
    how: str


METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("volatility", "Volatility", "% a year",
               pct, "Annualised standard deviation of the portfolio's returns: std(r, ddof=1) × √P."),
    MetricSpec("expected_annual_return", "Expected annual return", "% a year, arithmetic",
               pct, "Arithmetic mean return, annualised: mean(r) × P."),
    MetricSpec("cagr", "CAGR", "% a year, compounded",
               pct, "Compound annual growth rate: prod(1 + r) ^ (P / T) − 1."),
    MetricSpec("sharpe", "Sharpe ratio", "ratio",
               ratio, "Mean excess return over its standard deviation, × √P; the annual risk-free rate "
                      "rf is converted per period as (1 + rf)^(1/P) − 1."),
    MetricSpec("sortino", "Sortino ratio", "ratio",
               ratio, "Mean excess return over the downside deviation √mean(min(r − rf_p, 0)²), × √P."),
    MetricSpec("max_drawdown", "Max drawdown", "% lost, peak to trough",
               pct, "Largest fall of wealth from a previous peak (a positive loss): "
                    "max over t of 1 − W_t / max W_s, wealth starting at 1."),
    MetricSpec("var_95", "VaR 95 %", "% loss per {period}",
               pct, "Historical value at risk: the loss not exceeded on 95 % of periods, "
                    "−quantile(r, 0.05) with linear interpolation (a positive loss, one period)."),
    MetricSpec("cvar_95", "CVaR 95 %", "% loss per {period}",
               pct, "Expected shortfall: the average loss in the worst 5 % of periods "
                    "(Rockafellar–Uryasev, a positive loss, one period)."),
    MetricSpec("tracking_error", "Tracking error", "% a year",
               pct, "Annualised standard deviation of the return over the benchmark: std(r − b, ddof=1) × √P."),
    MetricSpec("information_ratio", "Information ratio", "ratio",
               ratio, "Mean active return over its standard deviation, × √P: mean(r − b) / std(r − b) × √P."),
    MetricSpec("beta", "Beta", "vs benchmark",
               ratio, "Sensitivity to the benchmark: cov(r, b) / var(b), both with ddof = 1."),
)
_BENCHMARK_FIELDS = {"tracking_error", "information_ratio", "beta"}


def metric_tooltip(spec: MetricSpec, window: DataWindow, benchmark: str | None) -> str:
    """The hover text: the definition, the window and P, and what "before" and "after" hold."""
    period = _PERIOD_WORD.get(window.frequency, "period")
    lines = [f"<b>{spec.title}</b> <span style='color:#52606d'>({spec.field})</span>", spec.how,
             f"Window: {date_text(window.start)} → {date_text(window.end)}, "
             f"{window.n_periods:,} {window.frequency} returns, P = {window.periods_per_year} {period}s a year."]
    if spec.field in _BENCHMARK_FIELDS:
        name = "the target-weights portfolio" if benchmark == "targets" else benchmark
        lines.append(f"Benchmark b: {name}." if benchmark else "No benchmark set, so it is undefined (—).")
    lines.append("Before: current weights; after: post-trade weights. Both held constant "
                 "(rebalanced every period) on the same dates.")
    lines.append("— means it cannot be computed (too few returns, zero variance or no benchmark).")
    return "<p style='white-space:pre-wrap'>" + "<br>".join(lines) + "</p>"


class ValueCard(QFrame):
    """A small card: a title, one prominent value and a caption line."""

    def __init__(self, title: str, caption: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("metricCard")
        self.setStyleSheet("#metricCard { background: #f6f8fa; border: 1px solid #d9dee4; border-radius: 6px; }"
                           " QLabel { background: transparent; border: none; }")
        self.title_label = QLabel(title)
        self.title_label.setStyleSheet("color: #52606d; font-size: 9pt;")
        self.value_label = QLabel(DASH)
        self.value_label.setTextFormat(Qt.TextFormat.RichText)
        self.value_label.setStyleSheet("color: #1f2933; font-size: 12pt; font-weight: 600;")
        self.unit_label = QLabel(caption)
        self.unit_label.setStyleSheet("color: #7b8794; font-size: 8pt;")
        # A long caption wraps instead of widening the window past 1280 px.
        self.unit_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(1)
        for label in (self.title_label, self.value_label, self.unit_label):
            layout.addWidget(label)

    def set_value(self, text: str, caption: str | None = None) -> None:
        self.value_label.setText(text)
        if caption is not None:
            self.unit_label.setText(caption)


class MetricCard(ValueCard):
    """Title, ``before → after`` and a unit line."""

    def __init__(self, spec: MetricSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec.title, spec.unit.format(period="period"), parent)
        self.spec = spec
        self.before_text = DASH
        self.after_text: str | None = None

    def set_values(self, before: float | None, after: float | None, *, has_after: bool,
                   period: str = "period") -> None:
        """``has_after`` False (no post-trade side) shows the current value alone."""
        self.before_text = self.spec.fmt(before)
        self.after_text = self.spec.fmt(after) if has_after else None
        if self.after_text is None:
            html = self.before_text
        else:
            html = (f"<span style='color:#6f8fb3'>{self.before_text}</span>"
                    f"<span style='color:#9aa5b1'> → </span>"
                    f"<span style='color:#c2621a'>{self.after_text}</span>")
        self.value_label.setText(html)
        self.unit_label.setText(self.spec.unit.format(period=period))


class MetricCardGrid(QWidget):
    """All METRICS.md cards in a grid; ``cards[field]`` gives one."""

    def __init__(self, columns: int = 6, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(8)
        layout.setVerticalSpacing(8)
        self.cards: dict[str, MetricCard] = {}
        for k, spec in enumerate(METRIC_SPECS):
            card = MetricCard(spec)
            self.cards[spec.field] = card
            layout.addWidget(card, k // columns, k % columns)

    def set_metrics(self, before: RiskMetrics, after: RiskMetrics | None, window: DataWindow,
                    benchmark: str | None) -> None:
        period = _PERIOD_WORD.get(window.frequency, "period")
        for field, card in self.cards.items():
            card.set_values(getattr(before, field), getattr(after, field) if after else None,
                            has_after=after is not None, period=period)
            card.setToolTip(metric_tooltip(card.spec, window, benchmark))
