"""AI targets tab: a real forecast and optimisation run through the tab; undoable "use these targets"."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QUndoStack

from desktop.holdings_model import KEYS, HoldingsModel
from desktop.panels.ai_targets_tab import AI_COLUMNS, AiTargetsTab, build_optimize_request, skill_banner
from desktop.panels.target_commands import USE_TARGETS_TEXT, apply_state
from engine import service
from engine.schemas import RebalancePolicy

P5, P1 = "P5_CONSERVATIVE_INCOME", "P1_CLASSIC_60_40"
TIMEOUT = 120_000  # generous: the first run loads the bundled data and evaluates the model walk-forward


@pytest.fixture(scope="module")
def expected():
    """The service's own answer to the request the tab sends, per sample."""
    return {pid: service.optimize(build_optimize_request(service.sample_portfolio(pid), None)) for pid in (P5, P1)}


def _tab(qtbot, pid):
    stack = QUndoStack()
    model = HoldingsModel(service.sample_portfolio(pid), stack)
    tab = AiTargetsTab(model)
    qtbot.addWidget(tab)
    tab._test_refs = (model, stack)  # keep the model and the stack alive with the tab
    return tab, model, stack


def _run(qtbot, tab):
    with qtbot.waitSignal(tab.resultReady, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def _column(tab, header):
    model = tab.table_model
    col = model.column(header)
    return [model.data(model.index(r, col), Qt.ItemDataRole.UserRole) for r in range(model.rowCount())]


def _targets(model):
    return {h.symbol: h.target_weight for h in model.portfolio().holdings}


def test_table_and_chart_equal_the_service_result(qtbot, expected):
    tab, _model, _stack = _tab(qtbot, P5)
    shown = _run(qtbot, tab)
    want = expected[P5]
    assert shown.targets.weights == pytest.approx(want.targets.weights, abs=1e-9)
    tilts = want.targets.assets
    forecasts = {a.symbol: a for a in want.forecast.forecast.assets}
    assert _column(tab, "Symbol") == ["AGG", "SPY", "USMV", "KO", "PG", "JNJ", "GOLD"]
    assert _column(tab, "Expected return") == pytest.approx([forecasts[a.symbol].expected_return for a in tilts])
    assert _column(tab, "Confidence") == pytest.approx([forecasts[a.symbol].confidence for a in tilts])
    for key, header in (("momentum", "Momentum"), ("mean_reversion", "Mean reversion"), ("ewma", "EWMA")):
        contrib = [next(s.contribution for s in forecasts[a.symbol].signals if s.signal == key) for a in tilts]
        assert _column(tab, header) == pytest.approx(contrib)
    for header, field in (("Current", "current"), ("Strategic", "strategic"), ("Optimised", "optimised"),
                          ("Tilt", "tilt"), ("Why", "reason")):
        values = [getattr(a, field) for a in tilts]
        assert _column(tab, header) == (values if field == "reason" else pytest.approx(values, abs=1e-9))
    # The signals' contributions add up to the expected return shown beside them.
    total = [sum(x) for x in zip(*(_column(tab, h) for h in ("Momentum", "Mean reversion", "EWMA")), strict=True)]
    assert total == pytest.approx(_column(tab, "Expected return"))
    assert _column(tab, "Strategic") == pytest.approx([0.5, 0.2, 0.1, 0.05, 0.05, 0.05, 0.05])
    assert list(tab.chart.before_bars.opts["height"]) == pytest.approx([a.strategic for a in tilts])
    assert list(tab.chart.after_bars.opts["height"]) == pytest.approx([a.optimised for a in tilts])
    assert tab.chart.ticks.labels == [a.symbol for a in tilts]
    index = tab.table_model.index(0, tab.table_model.column("Tilt"))
    assert tab.table_model.data(index) == "\u22123.59 pp"
    assert len(AI_COLUMNS) == tab.table_model.columnCount()


def test_the_measured_skill_and_its_verdict_are_shown(qtbot, expected):
    tab, _model, _stack = _tab(qtbot, P5)
    _run(qtbot, tab)
    want = expected[P5].forecast
    assert want.skill_level == "none"
    text = tab.skill_label.text()
    assert "No measured out-of-sample skill — treat these tilts with caution." in text
    assert want.skill_verdict in text
    assert "IC \u22120.04" in text and "over 20 dates" in text
    assert "hit rate 57.6 %" in text and "20 forecast dates" in text
    assert tab.skill_label.isVisibleTo(tab)
    assert want.model_version in tab.info_label.text()
    assert "Optimised" in tab.status_label.text() and "7 of 7 targets tilted" in tab.status_label.text()
    assert "GOLD is monthly" in tab.warnings_label.text()


def test_use_these_targets_is_one_undoable_command(qtbot, expected):
    tab, model, stack = _tab(qtbot, P5)
    strategic = _targets(model)
    _run(qtbot, tab)
    optimised = expected[P5].targets.weights
    assert tab.use_button.isEnabled()
    with qtbot.waitSignal(tab.targetsApplied) as blocker:
        qtbot.mouseClick(tab.use_button, Qt.MouseButton.LeftButton)
    assert stack.count() == 1 and stack.text(0) == USE_TARGETS_TEXT
    assert _targets(model) == pytest.approx(optimised, abs=1e-9)
    assert blocker.args[0] == pytest.approx(optimised, abs=1e-9)
    assert [h.quantity for h in model.portfolio().holdings] == [h.quantity for h in service.sample_portfolio(P5).holdings]
    assert not tab.use_button.isEnabled() and "in use" in tab.use_note.text()
    stack.undo()
    assert _targets(model) == strategic
    assert tab.use_button.isEnabled()
    stack.redo()
    assert _targets(model) == pytest.approx(optimised, abs=1e-9)


def test_nothing_to_change_and_unmeasurable_skill(qtbot, expected):
    tab, _model, stack = _tab(qtbot, P1)
    _run(qtbot, tab)
    assert expected[P1].targets.status == "optimised"
    assert not tab.use_button.isEnabled()
    assert "equal the strategic targets" in tab.use_note.text()
    assert "Skill could not be measured" in tab.skill_label.text()
    assert "IC not measurable" in tab.skill_label.text()
    tab.use_targets()  # a direct call is refused as the button is
    assert stack.count() == 0


def test_a_fallback_cannot_be_used(qtbot):
    portfolio = service.sample_portfolio(P5)
    fallback = service.optimize({"portfolio": portfolio.model_dump(), "optimize": {"min_confidence": 1.0}})
    assert fallback.targets.status == "fallback"
    tab, model, _stack = _tab(qtbot, P5)
    tab.show_result(fallback, model.portfolio())
    assert "Fallback — the strategic targets are kept." in tab.status_label.text()
    assert fallback.targets.reason in tab.status_label.text()
    assert not tab.use_button.isEnabled() and "fell back" in tab.use_note.text()


def test_an_edit_of_the_holdings_makes_the_result_stale(qtbot):
    tab, model, stack = _tab(qtbot, P5)
    _run(qtbot, tab)
    assert tab.use_button.isEnabled()
    assert model.setData(model.index(0, KEYS.index("quantity")), "1234")
    assert not tab.use_button.isEnabled() and "holdings changed" in tab.use_note.text()
    stack.undo()
    assert tab.use_button.isEnabled()
    assert model.setData(model.index(0, KEYS.index("target_weight")), "49")
    assert "targets were edited" in tab.use_note.text()


def test_policy_cost_and_turnover_reach_the_optimiser():
    portfolio = service.sample_portfolio(P5)
    request = build_optimize_request(portfolio, RebalancePolicy(cost_bps=25.0, turnover_limit=0.02))
    assert request["optimize"] == {"cost_bps": 25.0, "turnover_limit": 0.02}
    assert service.optimize(request).targets.turnover <= 0.02 + 1e-7
    assert build_optimize_request(portfolio, None)["optimize"] == {}


def test_an_engine_refusal_is_shown(qtbot):
    tab, model, _stack = _tab(qtbot, P5)
    rows = [h.model_dump() | {"target_weight": 0.1} for h in model.portfolio().holdings]
    model.apply_portfolio(model.propose(rows))  # a draft: targets sum to 0.7
    with qtbot.waitSignal(tab.failed, timeout=TIMEOUT) as blocker:
        tab.run()
    assert "sum" in blocker.args[0]
    assert "Could not forecast and optimise" in tab.message_label.text() and tab.message_label.isVisibleTo(tab)
    qtbot.waitUntil(lambda: tab.run_button.isEnabled())


def test_skill_banner_kinds_follow_the_level(expected):
    f = expected[P5].forecast
    assert skill_banner(f)[1] == "bound"
    assert skill_banner(f.model_copy(update={"skill_level": "negative"}))[1] == "error"
    html, kind = skill_banner(f.model_copy(update={"skill_level": "moderate"}))
    assert kind == "info" and "Moderate measured out-of-sample skill" in html


def test_apply_state_without_a_result():
    assert apply_state(None, None, service.sample_portfolio(P5)) == (
        False, "Press Forecast & optimise to get optimised targets.")


def test_renders_with_real_results(qtbot, tmp_path):
    tab, _model, _stack = _tab(qtbot, P5)
    tab.resize(1260, 680)
    tab.show()
    qtbot.waitExposed(tab)
    _run(qtbot, tab)
    tab.table.selectRow(5)
    tab.grab()  # the first paint sizes the axes; the second is the picture
    path = tmp_path / "ai_targets.png"
    assert tab.grab().save(str(path))
    image = QImage(str(path))
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 40
    assert tab.detail_label.text().startswith("JNJ: overweight")
