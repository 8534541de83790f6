"""The Rebalance tab: the trade list, the totals and the limits that bound, weights before/after.

The blotter text comes from ``engine.blotter.blotter_csv``; this panel only writes it to a
file (atomically) or the clipboard.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.panels.charts import GroupedBarChart
from desktop.panels.formatting import BANNER_STYLES, bullets, money, pct
from desktop.panels.table_models import TradeTableModel, result_table
from engine.blotter import blotter_csv
from engine.schemas.results import RebalanceResult, RebalanceTotals

__all__ = ["RebalanceTab", "limits_text", "write_text_atomic"]


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, line ends untouched) so that ``path`` is never left half-written.

    The text goes to a temporary file in the same folder, is flushed to disk, then replaces
    ``path`` in one step; on any failure the temporary file is removed and ``path`` is unchanged.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def limits_text(totals: RebalanceTotals) -> list[str]:
    """One sentence per limit that stopped trades short, in an advisor's words (empty: none bound)."""
    sentences = {
        "turnover_limit": f"Turnover limit reached: trading was capped at {pct(totals.turnover_limit)} of the "
                          "portfolio, so some holdings stay away from target.",
        "cash": "Not enough cash: buys were cut to what the sales and available cash could pay for.",
        "cash_reserve": f"Cash reserve kept: {money(totals.cash_reserve)} stays in cash, so buys were smaller.",
        "min_trade_value": "Minimum trade size: trades smaller than the minimum were skipped.",
        "lot_size": "Whole lots: units were rounded to each holding's trade unit, so weights land near, "
                    "not exactly on, target.",
    }
    bound = list(totals.limits_bound)
    if totals.turnover_limit_bound and "turnover_limit" not in bound:
        bound.insert(0, "turnover_limit")
    return [sentences.get(name, f"Limit bound: {name}.") for name in bound]


class RebalanceTab(QWidget):
    """Show a :class:`RebalanceResult`; export its blotter. Call :meth:`set_portfolio_info`
    to put the portfolio's name and date into the exported rows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: RebalanceResult | None = None
        self._portfolio_name, self._as_of = "", None
        self.summary_label = QLabel("No rebalance yet.")
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setStyleSheet("font-size: 10.5pt; color: #1f2933;")
        self.summary_label.setWordWrap(True)
        self.export_button = QPushButton("Export blotter CSV…")
        self.copy_button = QPushButton("Copy to clipboard")
        self.export_button.setToolTip("Save the BUY and SELL orders as a CSV order blotter (sells first).")
        self.copy_button.setToolTip("Copy the same CSV blotter to the clipboard, ready to paste.")
        self.export_button.clicked.connect(self._export)
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.limits_label = QLabel()
        self.limits_label.setWordWrap(True)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        self.model = TradeTableModel(self)
        self.table = self._make_table()
        self.chart = GroupedBarChart(title="Weights before and after the trades",
                                     before_name="Current", after_name="Post-trade", target_name="Target")
        self._layout()
        self._set_buttons()

    def _make_table(self) -> QTableView:
        table, _ = result_table(self.model, self)  # the engine's order: sells, buys, holds
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return table

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.summary_label, 1)
        top.addWidget(self.export_button)
        top.addWidget(self.copy_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.chart)
        splitter.setSizes([330, 330])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.addLayout(top)
        layout.addWidget(self.limits_label)
        layout.addWidget(self.message_label)
        layout.addWidget(splitter, 1)

    # --- the interface the main window uses ---------------------------------------------------
    def show_result(self, result: RebalanceResult) -> None:
        self._result = result
        self.model.set_rows(result.trades)
        self._show_totals(result.totals)
        self._show_chart(result)
        self._show_message(bullets(result.warnings), "bound" if result.warnings else None)
        self._set_buttons()

    def show_error(self, message: str) -> None:
        stale = " The trades below are from the last successful run." if self._result else ""
        self._show_message(f"<b>Could not compute the trades.</b> {message}{stale}", "error")

    def set_busy(self, busy: bool) -> None:
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)
        self.summary_label.setEnabled(not busy)

    def set_portfolio_info(self, name: str = "", as_of: str | None = None) -> None:
        """Name and date repeated on every exported blotter row (left empty when not given)."""
        self._portfolio_name, self._as_of = name, as_of

    # --- display --------------------------------------------------------------------------------
    def _show_totals(self, t: RebalanceTotals) -> None:
        self.summary_label.setText(
            f"<b>{t.n_trades} trade{'s' if t.n_trades != 1 else ''}</b> &nbsp;·&nbsp; "
            f"buys {money(t.buy_value)} &nbsp;·&nbsp; sells {money(t.sell_value)} &nbsp;·&nbsp; "
            f"costs {money(t.total_cost, digits=2)} &nbsp;·&nbsp; turnover {pct(t.turnover)}"
            + (f" (limit {pct(t.turnover_limit)})" if t.turnover_limit is not None else "")
            + f" &nbsp;·&nbsp; cash after {money(t.residual_cash)} ({pct(t.residual_cash_weight, 2)})"
            + f"<br><span style='color:#52606d'>Portfolio {money(t.portfolio_value)} before, "
              f"{money(t.post_trade_value)} after cash flow ({money(t.cash_flow)}) and costs</span>")
        bound = limits_text(t)
        if bound:
            self.limits_label.setText("<b>Limits that bound:</b><br>" + "<br>".join(f"• {s}" for s in bound))
            self.limits_label.setStyleSheet(BANNER_STYLES["bound"])
        else:
            self.limits_label.setText("No limit bound: every holding outside its band was traded back to target.")
            self.limits_label.setStyleSheet(BANNER_STYLES["info"])

    def _show_chart(self, result: RebalanceResult) -> None:
        labels = [t.symbol for t in result.trades]
        before = [t.current_weight for t in result.trades]
        after = [t.post_trade_weight for t in result.trades]
        target: list[float | None] = [t.effective_target_weight if t.effective_target_weight is not None
                                      else t.target_weight for t in result.trades]
        cash_after = result.post_trade_weights.get("CASH", 0.0)
        totals = result.totals
        if cash_after > 0.0005 or totals.cash_before > 0:
            labels.append("CASH")
            # Cash has no trade line: its weight before is the cash held over the portfolio value.
            before.append(totals.cash_before / totals.portfolio_value if totals.portfolio_value else 0.0)
            after.append(cash_after)
            target.append(None)
        self.chart.set_data(labels, before, after, target)

    def _show_message(self, html: str, kind: str | None) -> None:
        self.message_label.setVisible(bool(html))
        self.message_label.setText(html)
        if kind:
            self.message_label.setStyleSheet(BANNER_STYLES[kind])

    def _set_buttons(self) -> None:
        has_trades = self._result is not None and any(t.action != "HOLD" for t in self._result.trades)
        for button in (self.export_button, self.copy_button):
            button.setEnabled(has_trades)

    # --- export --------------------------------------------------------------------------------
    def blotter_text(self) -> str:
        """The CSV order blotter of the result shown (empty when there is none)."""
        if self._result is None:
            return ""
        return blotter_csv(self._result, portfolio_name=self._portfolio_name, as_of=self._as_of)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.blotter_text())
        self._show_message("Blotter copied to the clipboard.", "info")

    def export_to(self, path: str | os.PathLike[str]) -> None:
        """Write the blotter to ``path`` atomically; a failure is shown, never raised."""
        try:
            write_text_atomic(path, self.blotter_text())
        except OSError as exc:
            self._show_message(f"<b>Could not save the blotter.</b> {exc.strerror or exc}: {path}", "error")
        else:
            self._show_message(f"Blotter saved to {path}", "info")

    def _export(self) -> None:
        stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in self._portfolio_name).strip("-")
        default = f"{stem or 'order'}-blotter{'-' + self._as_of if self._as_of else ''}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export order blotter", default, "CSV files (*.csv)")
        if path:
            self.export_to(path)
