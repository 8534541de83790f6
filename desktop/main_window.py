"""The main window: composes the panels, the actions, the menus and the status bar. No logic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget

from desktop.api_switch import ApiSwitch
from desktop.controller import ALL_KINDS, Controller
from desktop.deferred_tabs import DeferredTabs
from desktop.documents import DocumentManager, new_document
from desktop.first_paint import FirstPaintGate
from desktop.gc_policy import IdleCollector
from desktop.holdings_model import HoldingsModel
from desktop.holdings_panel import HoldingsPanel
from desktop.panels.ai_targets_tab import AiTargetsTab
from desktop.panels.audit_tab import AuditTab
from desktop.panels.backtest_tab import BacktestTab
from desktop.panels.montecarlo_tab import MonteCarloTab
from desktop.panels.pipeline_tab import PipelineTab
from desktop.panels.rebalance_tab import RebalanceTab
from desktop.panels.risk_tab import RiskTab
from desktop.panels.scenarios_tab import ScenariosTab
from desktop.policy_panel import PolicyPanel, SettingsModel
from desktop.workers import Worker
from engine.document import SUFFIX

__all__ = ["APP_TITLE", "MainWindow"]

APP_TITLE = "Smart Portfolio Rebalancer"
_FILTER = f"Portfolio documents (*{SUFFIX} *.json);;All files (*)"
#: Which computations a settings section affects.
_SECTION_KINDS = {"policy": ("rebalance",), "risk": ("risk",), "monte_carlo": ("montecarlo",)}


def _warm_up() -> Any:
    """The symbol catalogue (parsing the bundled prices), and the engine modules every
    computation imports: done once, off the GUI thread, right after the first paint, so that
    neither the first edit nor the first document opened waits behind them for the GIL."""
    import engine.rebalance
    import engine.risk_report
    import engine.scenarios
    import engine.stress  # noqa: F401 - imported for the side effect of being loaded
    from engine import service

    return service.catalogue()


class MainWindow(QMainWindow):
    """The application window.

    ``warmedUp`` is emitted once the engine is loaded and the catalogue read (after the first
    paint); ``warm`` says whether that has happened.

    Parameters
    ----------
    qsettings
        Recent files, last document, geometry and state.
    autosave_dir
        Where the crash-recovery copy is written.
    debounce_ms
        Quiet time after an edit before the engine runs.
    """

    warmedUp = Signal()

    def __init__(self, qsettings: QSettings, autosave_dir: Path, *, debounce_ms: int = 40) -> None:
        super().__init__()
        self.resize(1280, 800)
        self.undo_stack = QUndoStack(self)
        self.model = HoldingsModel(new_document().portfolio, self.undo_stack, self)
        self.settings_model = SettingsModel(parent=self)
        self.controller = Controller(self.model.portfolio, lambda: self.settings_model,
                                     debounce_ms=debounce_ms, parent=self)
        self.documents = DocumentManager(self.model, self.settings_model, self.undo_stack, qsettings, autosave_dir, parent=self)
        self.api = ApiSwitch(self)
        self.collector = IdleCollector(parent=self)
        self._compose_panels()
        self._compose_actions()
        self._compose_status()
        self._wire()
        self.first_paint = FirstPaintGate(self.holdings_panel.view.viewport(), parent=self)
        self.warm = False  # True once _warm_up has run (the catalogue is in the completer)
        self.first_paint.call(self._warm_up)
        self._update_title()

    def _warm_up(self) -> None:
        self._warm_worker = Worker(_warm_up)
        self._warm_worker.signals.returned.connect(self._catalogue_loaded)
        self._warm_worker.signals.finished.connect(self._warmed)
        self._warm_worker.start()

    def _warmed(self) -> None:
        self.warm = True
        self.warmedUp.emit()

    # --- composition --------------------------------------------------------------------------
    def _compose_panels(self) -> None:
        self.holdings_panel = HoldingsPanel(self.model)
        self.policy_panel = PolicyPanel(self.settings_model, self.undo_stack)
        self.rebalance_tab, self.risk_tab = RebalanceTab(), RiskTab()
        self.montecarlo_tab, self.scenarios_tab = MonteCarloTab(), ScenariosTab()
        policy = lambda: self.settings_model.policy  # noqa: E731 - read when a tab runs
        self.ai_tab = AiTargetsTab(self.model, policy)
        self.backtest_tab = BacktestTab(self.model, policy)
        self.pipeline_tab = PipelineTab(lambda: {"portfolio": self.model.portfolio(), "policy": policy(),
                                                 "risk": self.settings_model.risk})
        self.audit_tab = AuditTab()
        self.tabs = QTabWidget(documentMode=True)
        for widget, title in ((self.holdings_panel, "Holdings"), (self.rebalance_tab, "Rebalance"),
                              (self.risk_tab, "Risk"), (self.montecarlo_tab, "Monte Carlo"),
                              (self.scenarios_tab, "Scenarios"), (self.ai_tab, "AI targets"),
                              (self.pipeline_tab, "Pipeline"), (self.backtest_tab, "Backtest"),
                              (self.audit_tab, "Audit")):
            self.tabs.addTab(widget, title)
        self.setCentralWidget(self.tabs)
        self.deferred = DeferredTabs(self.tabs)
        self.policy_dock = QDockWidget("Policy", self, objectName="policyDock")
        self.policy_dock.setWidget(self.policy_panel)
        self.policy_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                     | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.policy_dock.setMinimumWidth(270)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.policy_dock)

    def _act(self, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _compose_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.new_action = self._act("&New", self.new_document, K.New)
        self.open_action = self._act("&Open…", self.choose_open, K.Open)
        self.save_action = self._act("&Save", self.save, K.Save)
        self.save_as_action = self._act("Save &As…", self.choose_save_as, K.SaveAs)
        self.quit_action = self._act("&Quit", self.close, K.Quit)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts([QKeySequence(K.Undo)])
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.recompute_action = self._act("&Recompute", lambda: self.controller.recompute_now(), "F5")
        self.recent_menu_actions: list[QAction] = []

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for a in (self.new_action, self.open_action):
            file_menu.addAction(a)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        for a in (self.save_action, self.save_as_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.holdings_panel.import_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        for a in (self.undo_action, self.redo_action, None, self.holdings_panel.add_action,
                  self.holdings_panel.remove_action, self.holdings_panel.duplicate_action,
                  self.holdings_panel.paste_action, self.holdings_panel.normalise_action):
            edit_menu.addSeparator() if a is None else edit_menu.addAction(a)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.policy_dock.toggleViewAction())
        view_menu.addAction(self.recompute_action)
        api_menu = menu.addMenu("&API")
        for a in (self.api.toggle_action, self.api.copy_url_action, self.api.copy_token_action):
            api_menu.addAction(a)

        bar = self.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        for a in (self.new_action, self.open_action, self.save_action, None, self.undo_action, self.redo_action,
                  None, self.recompute_action, None, self.api.toggle_action):
            bar.addSeparator() if a is None else bar.addAction(a)
        self._rebuild_recent(self.documents.recent_files())

    def _compose_status(self) -> None:
        self.busy_label = QLabel()
        # A fixed size: a label that grows when "Computing…" appears (and shrinks after) relays
        # out the status bar and repaints the window around it, twice per computation.
        self.busy_label.setFixedSize(self.busy_label.fontMetrics().boundingRect("Computing…").size() + QSize(8, 4))
        self.api_label = QLabel("API off")
        self.api_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.api_label)

    def _wire(self) -> None:
        c = self.controller
        self.pipeline_tab.auditChanged.connect(self.audit_tab.refresh)
        self.model.portfolioChanged.connect(lambda: c.schedule(ALL_KINDS))
        self.model.portfolioChanged.connect(self._portfolio_info)
        self.settings_model.changed.connect(lambda section: c.schedule(_SECTION_KINDS[section]))
        deliver = self.deferred.deliver
        c.rebalanceReady.connect(lambda r: deliver(self.rebalance_tab, lambda: self.rebalance_tab.show_result(r)))
        c.rebalanceReady.connect(self.model.set_analysis)
        c.riskViewReady.connect(lambda v: deliver(self.risk_tab, lambda: self.risk_tab.show_view(v)))
        c.scenariosReady.connect(lambda r: deliver(self.scenarios_tab, lambda: self.scenarios_tab.show_results(r)))
        c.monteCarloReady.connect(lambda r: deliver(self.montecarlo_tab, lambda: self.montecarlo_tab.show_result(r)))
        c.monteCarloProgress.connect(self.montecarlo_tab.set_progress)
        c.failed.connect(self._computation_failed)
        c.busyChanged.connect(self._busy_changed)
        c.idle.connect(self.collector.idle)
        self.montecarlo_tab.runRequested.connect(c.run_monte_carlo)
        self.montecarlo_tab.cancelRequested.connect(c.cancel_monte_carlo)
        d = self.documents
        d.loading.connect(self.collector.busy)
        d.pathChanged.connect(lambda _p: self._update_title())
        d.modifiedChanged.connect(lambda _m: self._update_title())
        d.loaded.connect(self._update_title)
        # Debounced like an edit, not at once: the table is laid out and painted first, before
        # the engine's workers start competing with the GUI thread for the GIL.
        d.loaded.connect(lambda: c.schedule(ALL_KINDS))
        d.failed.connect(lambda msg: QMessageBox.warning(self, "Cannot open the document", msg))
        d.recentChanged.connect(self._rebuild_recent)
        self.api.started.connect(lambda url: self.api_label.setText(f"API on {url}"))
        self.api.stopped.connect(lambda: self.api_label.setText("API off"))
        self.api.failed.connect(lambda msg: self.statusBar().showMessage(f"The local API did not start: {msg}", 10_000))

    def _tab_for(self, kind: str) -> Any:
        return {"rebalance": self.rebalance_tab, "risk": self.risk_tab, "scenarios": self.scenarios_tab,
                "montecarlo": self.montecarlo_tab}[kind]

    # --- slots --------------------------------------------------------------------------------
    def _computation_failed(self, kind: str, message: str) -> None:
        tab = self._tab_for(kind)
        self.deferred.deliver(tab, lambda: tab.show_error(message), error=True)
        if kind == "rebalance":
            self.model.set_analysis(None)

    def _portfolio_info(self) -> None:
        p = self.model.portfolio()
        self.rebalance_tab.set_portfolio_info(p.name, p.as_of.isoformat() if p.as_of else None)

    def _busy_changed(self, kind: str, busy: bool) -> None:
        if busy:
            self.collector.busy()
            self.deferred.started(self._tab_for(kind))
        self._tab_for(kind).set_busy(busy)
        self.busy_label.setText("Computing…" if self.controller.is_busy() else "")

    def _catalogue_loaded(self, catalogue: Any) -> None:
        self.holdings_panel.set_catalogue(catalogue)
        self.policy_panel.set_benchmarks(sorted({s.symbol for s in catalogue if s.asset_class is not None}))

    def _update_title(self) -> None:
        d = self.documents
        name = d.path.name if d.path else self.model.portfolio().name
        self.setWindowTitle(f"{name}[*] — {APP_TITLE}")
        self.setWindowModified(d.is_modified())

    def _rebuild_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for p in paths:
            self.recent_menu.addAction(Path(p).name, lambda p=p: self.open_path(p)).setToolTip(p)
        self.recent_menu.setEnabled(bool(paths))

    def new_document(self) -> None:
        if self.documents.maybe_save(self, self._ask_save_path):
            self.documents.new()

    def choose_open(self) -> None:
        if not self.documents.maybe_save(self, self._ask_save_path):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open portfolio", "", _FILTER)
        if path:
            self.documents.open(path)

    def open_path(self, path: str | Path) -> None:
        if self.documents.maybe_save(self, self._ask_save_path):
            self.documents.open(path)

    def _ask_save_path(self) -> Path | None:
        suggested = f"{self.model.portfolio().name}{SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Save portfolio", suggested, _FILTER)
        return Path(path) if path else None

    def save(self) -> bool:
        path = self.documents.path or self._ask_save_path()
        return self._save_to(path)

    def choose_save_as(self) -> bool:
        return self._save_to(self._ask_save_path())

    def _save_to(self, path: Path | None) -> bool:
        if path is None:
            return False
        try:
            self.documents.save_as(path)
        except OSError as exc:
            QMessageBox.warning(self, "Cannot save", f"{path}: {exc.strerror or exc}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5_000)
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.documents.maybe_save(self, self._ask_save_path):
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the server and the workers, forget the autosave, keep the window state."""
        self.api.stop(wait=True)
        self.collector.busy()
        self.controller.shutdown()
        for tab in (self.ai_tab, self.pipeline_tab, self.backtest_tab, self.audit_tab):
            tab.shutdown()
        self.documents.save_window(self)
        self.documents.close_cleanly()
