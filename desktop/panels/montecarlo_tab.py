"""The Monte Carlo tab: percentile fan, terminal-value histogram, probability of loss.

The tab asks for a run (``runRequested``) or its cancellation (``cancelRequested``); the
controller does the work on a pool thread and reports progress and the result here.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget

from desktop.panels.charts import COLORS, FanChart, HistogramChart
from desktop.panels.formatting import BANNER_STYLES, bullets, money, pct
from desktop.panels.metric_cards import ValueCard
from engine.schemas.results import MonteCarloResult

__all__ = ["MonteCarloTab", "fan_years"]

_METHODS = {"gaussian": "Gaussian (normal, sample mean and covariance)",
            "bootstrap": "Bootstrap (historical return vectors, resampled)",
            "block_bootstrap": "Block bootstrap (stationary, keeps runs of history)"}
_CARD_HELP = {
    "probability_of_loss": "Share of the simulated paths whose value at the horizon is below the starting value.",
    "downside": "5th percentile of the values at the horizon: 1 path in 20 ends lower.",
    "median": "50th percentile of the values at the horizon.",
    "expected": "Mean of the values at the horizon over all paths.",
    "var": "Value at risk: the loss at the 5th percentile of the horizon values, as a fraction of the "
           "starting value (a positive loss; negative means even that path gains).",
    "cvar": "Expected shortfall: the average loss over the worst 5 % of paths, as a fraction of the starting value.",
}
_MODES = {"constant_mix": "weights restored every step", "buy_and_hold": "buy and hold (weights drift)"}


def fan_years(result: MonteCarloResult) -> np.ndarray:
    """The fan chart's x axis: step ``t`` (0 = today) in years, ``t / periods_per_year``."""
    return np.arange(len(result.fan.bands[0]) if result.fan.bands else 0) / result.periods_per_year


def _loss_texts(loss: float, where: str, who: str) -> tuple[str, str]:
    """Value and caption of a horizon VaR/CVaR (a positive loss, METRICS.md); a negative one
    means even the bad tail ends above the start, which is said in words, not as "−40 %"."""
    if loss >= 0:
        return pct(loss), where
    return "No loss", f"{who} {pct(-loss)} up"


class MonteCarloTab(QWidget):
    """Run/Cancel, progress, the stress figures and their two charts."""

    runRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_button = QPushButton("Run simulation")
        self.cancel_button = QPushButton("Cancel")
        self.run_button.setToolTip("Simulate the portfolio as it stands with the method, paths, horizon and "
                                   "seed set in the policy.")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("%p %")
        self.progress.setMaximumWidth(260)
        self.info_label = QLabel("No simulation yet: press Run simulation.")
        self.info_label.setTextFormat(Qt.TextFormat.RichText)
        self.info_label.setWordWrap(True)
        self.info_label.setStyleSheet("color: #1f2933; font-size: 10pt;")
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        self.cards = {
            "probability_of_loss": ValueCard("Probability of loss", "paths ending below the start"),
            "downside": ValueCard("5th percentile value", "1 path in 20 ends lower"),
            "median": ValueCard("Median value", "half the paths end higher"),
            "expected": ValueCard("Expected value", "mean over all paths"),
            "var": ValueCard("Horizon VaR 95 %", "loss at the 5th percentile"),
            "cvar": ValueCard("Horizon CVaR 95 %", "average loss, worst 5 %"),
        }
        self.fan_chart = FanChart(title="Portfolio value: percentile bands")
        self.histogram = HistogramChart(title="Value at the horizon", x_label="Terminal value")
        self._layout()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        top.addSpacing(12)
        top.addWidget(self.info_label, 1)
        cards = QHBoxLayout()
        cards.setSpacing(8)
        for card in self.cards.values():
            cards.addWidget(card)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.fan_chart)
        splitter.addWidget(self.histogram)
        splitter.setSizes([720, 500])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(self.message_label)
        layout.addLayout(cards)
        layout.addWidget(splitter, 1)

    # --- the interface the main window uses ---------------------------------------------------
    def show_result(self, result: MonteCarloResult) -> None:
        years = result.horizon / result.periods_per_year
        self.info_label.setText(
            f"<b>{_METHODS.get(result.method, result.method)}</b> &nbsp;·&nbsp; {result.paths:,} paths "
            f"&nbsp;·&nbsp; horizon {result.horizon:,} steps = {years:.3g} year{'s' if years != 1 else ''} "
            f"(P = {result.periods_per_year}) &nbsp;·&nbsp; seed {result.seed} &nbsp;·&nbsp; "
            f"{_MODES.get(result.mode, result.mode)} &nbsp;·&nbsp; start {money(result.initial_value)}")
        self._show_cards(result)
        self.fan_chart.set_data(fan_years(result), result.fan.percentiles, result.fan.bands, result.initial_value)
        self.histogram.set_data(result.histogram_edges, result.histogram_counts)
        self.histogram.set_marker("p5", result.downside_terminal_value,
                                  f"5th percentile {money(result.downside_terminal_value)}", COLORS["marker"])
        self.histogram.set_marker("start", result.initial_value, f"Start {money(result.initial_value)}",
                                  COLORS["start"])
        self._show_message(bullets(result.warnings), "bound")

    def _show_cards(self, r: MonteCarloResult) -> None:
        loss_color = "#b3261e" if r.probability_of_loss >= 0.05 else "#1f2933"
        self.cards["probability_of_loss"].set_value(f"<span style='color:{loss_color}'>{pct(r.probability_of_loss)}</span>")
        self.cards["downside"].set_value(money(r.downside_terminal_value))
        self.cards["median"].set_value(money(r.terminal_percentiles.get("p50")))
        self.cards["expected"].set_value(money(r.expected_terminal_value))
        self.cards["var"].set_value(*_loss_texts(r.horizon_var_95, "loss at the 5th percentile",
                                                          "5th percentile ends"))
        self.cards["cvar"].set_value(*_loss_texts(r.horizon_cvar_95, "average loss, worst 5 %",
                                                           "worst 5 % end"))
        over = f" Over {r.horizon:,} steps ({r.horizon / r.periods_per_year:.3g} years), {r.paths:,} paths."
        for key, card in self.cards.items():
            card.setToolTip(_CARD_HELP[key] + over)

    def set_progress(self, fraction: float) -> None:
        """``fraction`` in [0, 1]; values outside are clamped (the bar must never run backwards past 0)."""
        self.progress.setValue(round(min(max(fraction, 0.0), 1.0) * 100))

    def show_error(self, message: str) -> None:
        self._show_message(f"<b>The simulation did not finish.</b> {message}", "error")

    def set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress.setValue(0)
            self._show_message("", None)

    def _show_message(self, html: str, kind: str | None) -> None:
        self.message_label.setVisible(bool(html))
        self.message_label.setText(html)
        if kind:
            self.message_label.setStyleSheet(BANNER_STYLES[kind])
