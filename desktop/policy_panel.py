"""The policy panel: rebalancing policy, risk settings and Monte Carlo settings of the document.

:class:`SettingsModel` is the domain object (three engine models); the panel gathers its
widgets into a dict, lets the engine validate it, and pushes a :class:`SetSettingsCommand`.
A refusal shows the engine's message under the form and leaves the settings unchanged.
Amounts are shown in the portfolio's currency, rates and bands in percent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.commands import SetSettingsCommand
from engine.errors import InvalidRequest
from engine.schemas import MonteCarloSettings, RebalancePolicy, RiskSettings
from engine.service import validate

__all__ = ["PolicyPanel", "SettingsModel"]

_MODELS = {"policy": RebalancePolicy, "risk": RiskSettings, "monte_carlo": MonteCarloSettings}


class SettingsModel(QObject):
    """The document's settings; ``changed(section)`` after each applied change."""

    changed = Signal(str)

    def __init__(self, policy: RebalancePolicy | None = None, risk: RiskSettings | None = None,
                 monte_carlo: MonteCarloSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.policy = policy or RebalancePolicy()
        self.risk = risk or RiskSettings()
        self.monte_carlo = monte_carlo or MonteCarloSettings()

    def apply(self, section: str, value: Any) -> None:
        setattr(self, section, value)
        self.changed.emit(section)

    def apply_all(self, policy: RebalancePolicy, risk: RiskSettings, monte_carlo: MonteCarloSettings) -> None:
        for section, value in (("policy", policy), ("risk", risk), ("monte_carlo", monte_carlo)):
            self.apply(section, value)


def _spin(lo: float, hi: float, decimals: int, suffix: str = "", step: float = 1.0) -> QDoubleSpinBox:
    box = QDoubleSpinBox(minimum=lo, maximum=hi, decimals=decimals, singleStep=step)
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    box.setKeyboardTracking(False)  # one change per committed value, not per keystroke
    return box


def _int_spin(lo: int, hi: int, step: int = 1) -> QSpinBox:
    box = QSpinBox(minimum=lo, maximum=hi, singleStep=step)
    box.setGroupSeparatorShown(True)
    box.setKeyboardTracking(False)
    return box


def _combo(items: Iterable[tuple[str, Any]]) -> QComboBox:
    box = QComboBox()
    for text, data in items:
        box.addItem(text, data)
    return box


class PolicyPanel(QWidget):
    """Every policy field of the issue, bound to a :class:`SettingsModel` through undo commands."""

    def __init__(self, settings: SettingsModel, undo_stack: QUndoStack | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings, self._undo = settings, undo_stack
        self._loading = False
        self._build()
        self.refresh()
        settings.changed.connect(lambda _section: self.refresh())

    # --- construction -------------------------------------------------------------------------
    def _build(self) -> None:
        self.band_kind = _combo([("Absolute (± weight points)", "absolute"), ("Relative (± % of target)", "relative")])
        self.band_width = _spin(0, 100, 2, " %", 0.5)
        self.rebalance_to = _combo([("Back to target", "target"), ("To the band edge", "band_edge")])
        self.turnover_on = QCheckBox("Limit")
        self.turnover = _spin(0.01, 100, 2, " %", 1)
        self.cost_bps = _spin(0, 10_000, 1, " bps", 1)
        self.cash_flow = _spin(-1e12, 1e12, 2, "", 1_000)
        self.cash_flow.setToolTip("Deposit to invest (positive) or withdrawal to raise (negative), in the base currency.")
        self.cash_reserve = _spin(0, 1e12, 2, "", 1_000)
        self.min_trade = _spin(0, 1e12, 2, "", 100)
        self.benchmark = _combo([("Target portfolio", "targets"), ("None", None)])
        self.risk_free = _spin(-50, 100, 2, " %", 0.25)
        self.mc_method = _combo([("Bootstrap (i.i.d.)", "bootstrap"), ("Block bootstrap", "block_bootstrap"),
                                 ("Gaussian", "gaussian")])
        self.mc_paths = _int_spin(100, 200_000, 1_000)
        # 0 stands for "unset": the engine simulates one year of the history's periods.
        self.mc_horizon = _int_spin(0, 2_520, 12)
        self.mc_horizon.setSuffix(" periods")
        self.mc_horizon.setSpecialValueText("One year (auto)")
        self.mc_horizon.setToolTip("Steps simulated, in periods of the history (daily: 252 = one year).")
        self.mc_seed = _int_spin(0, 2_147_483_647)
        self.message = QLabel(wordWrap=True, objectName="policyMessage")
        self.message.setStyleSheet("color: #b00020;")
        self.message.hide()

        turnover_row = QHBoxLayout()
        turnover_row.addWidget(self.turnover_on)
        turnover_row.addWidget(self.turnover, 1)
        rebalancing = self._group("Rebalancing", [
            ("Drift band", self.band_kind), ("Band width", self.band_width), ("Trade", self.rebalance_to),
            ("Turnover", turnover_row), ("Transaction cost", self.cost_bps), ("Cash flow", self.cash_flow),
            ("Cash reserve", self.cash_reserve), ("Minimum trade", self.min_trade)])
        risk = self._group("Risk", [("Benchmark", self.benchmark), ("Risk-free rate", self.risk_free)])
        monte_carlo = self._group("Monte Carlo", [("Method", self.mc_method), ("Paths", self.mc_paths),
                                                  ("Horizon", self.mc_horizon), ("Seed", self.mc_seed)])
        body = QWidget()
        column = QVBoxLayout(body)
        for widget in (rebalancing, risk, monte_carlo, self.message):
            column.addWidget(widget)
        column.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._connect()

    @staticmethod
    def _group(title: str, rows: list[tuple[str, Any]]) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        for label, field in rows:
            form.addRow(label, field)
        return box

    def _connect(self) -> None:
        for w, section, key in (
            (self.band_kind, "policy", "band"), (self.band_width, "policy", "band"),
            (self.rebalance_to, "policy", "rebalance_to"), (self.turnover_on, "policy", "turnover_limit"),
            (self.turnover, "policy", "turnover_limit"), (self.cost_bps, "policy", "cost_bps"),
            (self.cash_flow, "policy", "cash_flow"), (self.cash_reserve, "policy", "cash_reserve"),
            (self.min_trade, "policy", "min_trade_value"), (self.benchmark, "risk", "benchmark"),
            (self.risk_free, "risk", "risk_free_rate"), (self.mc_method, "monte_carlo", "method"),
            (self.mc_paths, "monte_carlo", "paths"), (self.mc_horizon, "monte_carlo", "horizon"),
            (self.mc_seed, "monte_carlo", "seed"),
        ):
            signal = (w.currentIndexChanged if isinstance(w, QComboBox)
                      else w.toggled if isinstance(w, QCheckBox) else w.valueChanged)
            signal.connect(lambda *_a, s=section, k=key: self._edited(s, k))

    def set_benchmarks(self, symbols: Iterable[str]) -> None:
        """Offer the bundled series as benchmarks (after the catalogue has loaded)."""
        self._loading = True
        try:
            for symbol in symbols:
                if self.benchmark.findData(symbol) < 0:
                    self.benchmark.addItem(symbol, symbol)
        finally:
            self._loading = False
        self.refresh()

    # --- widgets <-> settings -----------------------------------------------------------------
    def refresh(self) -> None:
        """Show the settings as they stand (after an edit, undo, redo or open)."""
        self._loading = True
        try:
            p, r, m = self.settings.policy, self.settings.risk, self.settings.monte_carlo
            self.band_kind.setCurrentIndex(self.band_kind.findData(p.band.kind))
            self.band_width.setValue(p.band.width * 100)
            self.rebalance_to.setCurrentIndex(self.rebalance_to.findData(p.rebalance_to))
            self.turnover_on.setChecked(p.turnover_limit is not None)
            self.turnover.setEnabled(p.turnover_limit is not None)
            self.turnover.setValue((p.turnover_limit or 0.2) * 100)
            self.cost_bps.setValue(p.cost_bps)
            self.cash_flow.setValue(p.cash_flow)
            self.cash_reserve.setValue(p.cash_reserve)
            self.min_trade.setValue(p.min_trade_value)
            if self.benchmark.findData(r.benchmark) < 0:
                self.benchmark.addItem(str(r.benchmark), r.benchmark)
            self.benchmark.setCurrentIndex(self.benchmark.findData(r.benchmark))
            self.risk_free.setValue(r.risk_free_rate * 100)
            self.mc_method.setCurrentIndex(self.mc_method.findData(m.method))
            self.mc_paths.setValue(m.paths)
            self.mc_horizon.setValue(m.horizon or 0)
            self.mc_seed.setValue(min(m.seed, self.mc_seed.maximum()))
        finally:
            self._loading = False

    def gather(self, section: str) -> dict[str, Any]:
        """The section's dict form as the widgets show it (not yet validated)."""
        current = getattr(self.settings, section).model_dump()
        if section == "policy":
            current.update(
                band={"kind": self.band_kind.currentData(), "width": self.band_width.value() / 100},
                rebalance_to=self.rebalance_to.currentData(),
                turnover_limit=self.turnover.value() / 100 if self.turnover_on.isChecked() else None,
                cost_bps=self.cost_bps.value(), cash_flow=self.cash_flow.value(),
                cash_reserve=self.cash_reserve.value(), min_trade_value=self.min_trade.value())
        elif section == "risk":
            current.update(benchmark=self.benchmark.currentData(), risk_free_rate=self.risk_free.value() / 100)
        else:
            current.update(method=self.mc_method.currentData(), paths=self.mc_paths.value(),
                           horizon=self.mc_horizon.value() or None, seed=self.mc_seed.value())
        return current

    def _edited(self, section: str, key: str) -> None:
        if self._loading:
            return
        self.turnover.setEnabled(self.turnover_on.isChecked())
        try:
            value = validate(_MODELS[section], self.gather(section))
        except InvalidRequest as exc:
            from desktop.controller import error_message

            self.message.setText(error_message(exc))
            self.message.show()
            self.refresh()  # the widgets go back to what the settings hold
            return
        self.message.hide()
        if value == getattr(self.settings, section):
            return
        command = SetSettingsCommand(self.settings, section, value, f"Change {key.replace('_', ' ')}", merge_key=key)
        if self._undo is not None:
            self._undo.push(command)
        else:
            command.redo()
