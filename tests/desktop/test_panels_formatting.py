"""Formatters (pinned strings, "—" for undefined) and the table models' Qt contract."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.panels.formatting import DASH, money, money_short, pct, pp, ratio, signed_pct, units
from desktop.panels.table_models import ScenarioTableModel, TradeTableModel
from tests.desktop.test_panels_data import rebalance_result, scenario_results


@pytest.mark.parametrize(("fn", "value", "text"), [
    (pct, 0.1234, "12.3 %"),
    (pct, -0.339, "\u221233.9 %"),
    (pct, -0.00001, "0.0 %"),  # no "-0.0 %": a sign on zero reads as a loss
    (signed_pct, 0.05, "+5.0 %"),
    (signed_pct, -0.2154, "\u221221.5 %"),
    (pp, 0.0123, "+1.23 pp"),
    (pp, -0.0499, "\u22124.99 pp"),
    (pp, 0.0, "0.00 pp"),
    (money, 1_234_567.4, "$1,234,567"),
    (money, -15_884.11, "\u2212$15,884"),
    (money_short, 2_208_225.8, "$2.21M"),
    (money_short, 950.0, "$950"),
    (ratio, 1.8551, "1.86"),
    (ratio, -0.001, "0.00"),
    (units, 118.0, "118"),
    (units, 0.01234567, "0.01234567"),
    (units, 12_500.5, "12,500.5"),
])
def test_pinned_formats(fn, value, text):
    assert fn(value) == text


@pytest.mark.parametrize("fn", [pct, signed_pct, pp, money, money_short, ratio, units])
def test_undefined_is_a_dash(fn):
    assert fn(None) == DASH
    assert fn(math.nan) == DASH
    assert fn(math.inf) == DASH


@given(st.floats(min_value=-10, max_value=10, allow_nan=False))
def test_pct_reads_back_to_the_value_within_its_rounding(x):
    text = pct(x)
    assert text.endswith(" %")
    assert abs(float(text[:-2].replace("\u2212", "-")) / 100 - x) <= 0.0005 + 1e-12


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_money_reads_back_to_the_value_within_a_dollar(x):
    text = money(x)
    value = float(text.replace("\u2212", "-").replace("$", "").replace(",", ""))
    assert abs(value - x) <= 0.5 + 1e-6


def test_trade_model_contract(qtmodeltester):
    model = TradeTableModel()
    model.set_rows(rebalance_result().trades)
    qtmodeltester.check(model, force_py=True)


def test_scenario_model_contract(qtmodeltester):
    model = ScenarioTableModel()
    model.set_rows(scenario_results())
    qtmodeltester.check(model, force_py=True)
