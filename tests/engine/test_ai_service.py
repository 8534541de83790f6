"""The AI-targets use cases on the bundled sample portfolios: skill beside every forecast,
constraints of the optimised targets, fallbacks with their reason, the plain-language verdict."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ai_service
from engine.ai_service import default_settings, forecast_portfolio, model_version, optimize_portfolio, plain_verdict
from engine.errors import InvalidRequest
from engine.evaluation import walk_forward
from engine.forecast import params_hash
from engine.market_data import portfolio_returns
from engine.resources import market_dir
from engine.sample_portfolios import load_sample_portfolio
from engine.schemas import AssetHistory, Holding, Portfolio
from engine.schemas.ai import ForecastSettings, OptimizeSettings, PortfolioForecast

P1, P5 = "P1_CLASSIC_60_40", "P5_CONSERVATIVE_INCOME"


@pytest.fixture(scope="module")
def p1() -> Portfolio:
    return load_sample_portfolio(P1)


@pytest.fixture(scope="module")
def p5() -> Portfolio:
    return load_sample_portfolio(P5)


@pytest.fixture(scope="module")
def p5_forecast(p5: Portfolio) -> PortfolioForecast:
    return forecast_portfolio({"portfolio": p5.model_dump(mode="json")})


# --- settings and versions ---------------------------------------------------------------------
@pytest.mark.parametrize(("p", "expected"), [
    (12, (2, 12, 3.0, 1)), (52, (4, 52, 13.0, 4)), (4, (2, 4, 1.0, 1)), (1, (2, 3, 1.0, 1)), (365, (30, 365, 91.25, 30)),
])
def test_default_settings_keep_the_daily_defaults_calendar_spans(p: int, expected: tuple) -> None:
    s = default_settings(p)
    assert (s.short_window, s.long_window, s.half_life, s.horizon) == expected


def test_daily_defaults_are_the_schema_defaults_and_the_model_version() -> None:
    assert default_settings(252) == ForecastSettings()
    assert model_version() == f"ensemble-1.0+{params_hash(ForecastSettings())[:8]}"
    assert re.fullmatch(r"ensemble-1\.0\+[0-9a-f]{8}", model_version())
    assert model_version(default_settings(12)) != model_version()


# --- forecasts with their skill ----------------------------------------------------------------
def test_p1_forecast_has_its_skill_beside_it(p1: Portfolio) -> None:
    r = forecast_portfolio({"portfolio": p1.model_dump(mode="json")})
    assert (r.frequency, r.periods_per_year, r.dated, r.model_version) == ("daily", 252, True, model_version())
    assert r.history_end == dt.date(2016, 9, 30) and r.forecast.as_of == dt.date(2016, 9, 30)
    assert [a.symbol for a in r.forecast.assets] == ["SPY", "AGG"] == r.evaluated
    assert r.skill is not None and r.skill.universe == "SPY,AGG" and r.skill.n_dates == 106
    assert r.skill.window_end <= p1.as_of  # the test never scores data the forecast could not see
    # Two assets have no cross-sectional IC: the skill is undetermined and the text says why.
    assert r.skill_level == "undetermined" and r.skill.n_ic_dates == 0
    assert "could not be established" in r.skill_verdict and "at least 3 holdings" in r.skill_verdict
    assert r.skill.verdict in r.skill_verdict and f"{r.skill.hit_rate:.0%}" in r.skill_verdict
    # The same report as a direct walk-forward of the same history and settings.
    frame = portfolio_returns(p1)
    direct = walk_forward(frame.returns, r.forecast.settings, classes={"SPY": "equity", "AGG": "fixed_income"})
    assert r.skill == direct


def test_p5_monthly_history_gets_monthly_settings_and_a_measured_verdict(p5_forecast: PortfolioForecast) -> None:
    r = p5_forecast
    assert (r.frequency, r.periods_per_year, r.n_periods) == ("monthly", 12, 32)
    s = r.forecast.settings
    assert (s.short_window, s.long_window, s.half_life, s.horizon) == (2, 12, 3.0, 1)
    assert r.evaluated == ["AGG", "SPY", "USMV", "KO", "PG", "JNJ", "GOLD"]
    # 32 returns, first full window at row 11, one period after the last date: rows 11..30.
    assert r.skill is not None and r.skill.n_dates == 20
    assert r.skill_level == r.skill.skill == "none"
    assert r.skill_verdict.startswith("The forecast has no measured out-of-sample skill")
    assert r.skill.verdict in r.skill_verdict
    assert any("GOLD is monthly" in w for w in r.warnings)
    assert {c.asset_class for c in r.skill.by_class} == {"commodity", "equity", "fixed_income"}


def test_settings_too_long_for_the_history_say_the_skill_was_not_measured(p5: Portfolio) -> None:
    r = forecast_portfolio({"portfolio": p5.model_dump(mode="json"), "settings": {}})  # daily defaults
    assert r.skill is None and r.skill_level == "undetermined"
    assert r.skill_verdict.startswith("The forecast's skill was not measured (32 returns leave no forecast date")
    assert "treat its tilts as unproven" in r.skill_verdict


@pytest.mark.parametrize(("level", "words"), [
    ("moderate", "measurable out-of-sample skill"), ("weak", "only weak"), ("negative", "negative out-of-sample skill"),
])
def test_every_skill_level_has_its_plain_headline(p5_forecast: PortfolioForecast, level: str, words: str) -> None:
    report = p5_forecast.skill.model_copy(update={"skill": level})
    assert words in plain_verdict(report, "", p5_forecast.evaluated)


def test_the_skill_is_cached_and_a_copy_is_returned(p5: Portfolio) -> None:
    first = forecast_portfolio({"portfolio": p5})
    before = ai_service._walk_forward_cached.cache_info().hits
    first.skill.ic_mean = 99.0  # editing a result must not reach the cache
    again = forecast_portfolio({"portfolio": p5})
    assert ai_service._walk_forward_cached.cache_info().hits == before + 1
    assert again.skill.ic_mean == pytest.approx(-0.0371567, abs=1e-6)


def test_undated_history_is_labelled_back_from_the_as_of_date() -> None:
    rng = np.random.default_rng(3)
    symbols = ("AAA", "BBB", "CCC")
    history = AssetHistory(returns={s: list(rng.normal(0.0004 * (i + 1), 0.01, 600)) for i, s in enumerate(symbols)})
    holdings = [Holding(symbol=s, asset_class="stock", quantity=10.0, price=100.0, target_weight=w)
                for s, w in zip((*symbols, "USD"), (0.3, 0.3, 0.3, 0.1), strict=True)]
    holdings[3] = holdings[3].model_copy(update={"asset_class": "cash"})
    p = Portfolio(as_of=dt.date(2020, 6, 30), holdings=holdings)
    r = forecast_portfolio({"portfolio": p, "history": history})
    assert not r.dated and r.history_start is None and r.forecast.as_of == dt.date(2020, 6, 30)
    assert r.evaluated == list(symbols)  # the cash holding's 0 column carries no information
    assert r.skill is not None and r.skill.n_dates == len(range(251, 600 - 21, 21))  # full window, full horizon after
    assert any("no dates" in w for w in r.warnings)
    cash = r.forecast.assets[3]
    assert (cash.expected_return, cash.confidence) == (0.0, 0.0)


def test_a_result_round_trips_through_json(p5_forecast: PortfolioForecast) -> None:
    assert PortfolioForecast.model_validate_json(p5_forecast.model_dump_json()) == p5_forecast


# --- optimised targets -------------------------------------------------------------------------
def _check(res, s: OptimizeSettings) -> np.ndarray:
    t = res.targets
    symbols = list(res.strategic)
    w, strat, cur = (np.array([d[k] for k in symbols]) for d in (t.weights, res.strategic, res.current))
    conf = np.array([a.confidence for a in res.forecast.forecast.assets])
    assert abs(w.sum() - 1) <= 1e-9 and np.all(w >= 0)
    if t.status == "fallback":
        assert np.array_equal(w, strat) and t.reason
        return w
    assert np.all(np.abs(w - strat) <= s.max_deviation * conf + 1e-7)
    assert np.maximum(w - cur, 0).sum() <= s.turnover_limit + 1e-7
    for k, lim in s.class_limits.items():
        assert lim.min - 1e-7 <= t.class_weights.get(k, 0.0) <= lim.max + 1e-7
    return w


def test_p5_current_weights_are_the_sample_files_and_targets_obey_the_limits(p5: Portfolio) -> None:
    rows = pd.read_csv(market_dir() / "portfolios.csv")
    expected = rows[rows.portfolio_id == P5].set_index("symbol")["current_weight"]
    s = OptimizeSettings(class_limits={"equity": {"min": 0.4, "max": 0.45}, "fixed_income": {"min": 0.48}})
    res = optimize_portfolio({"portfolio": p5, "optimize": s.model_dump()})
    assert res.current == pytest.approx(expected.to_dict(), abs=1e-6) and res.cash_weight == 0.0
    assert res.targets.status == "optimised", res.targets.reason
    w = _check(res, s)
    assert not np.allclose(w, list(res.strategic.values()), atol=1e-4)  # it does tilt
    assert res.forecast.skill_verdict and res.forecast.skill is not None  # the skill rides along
    assert sum(a.tilt for a in res.targets.assets) == pytest.approx(0.0, abs=1e-9)
    assert all(a.reason and abs(a.tilt) <= a.max_tilt + 1e-7 for a in res.targets.assets)  # each tilt explained


@settings(max_examples=15, deadline=None)
@given(gamma=st.floats(0, 50), cost=st.floats(0, 50), turnover=st.floats(0.01, 0.5), deviation=st.floats(0, 0.2),
       eq_max=st.floats(0.3, 0.6))
def test_optimised_targets_obey_every_constraint(p5: Portfolio, gamma, cost, turnover, deviation, eq_max) -> None:
    s = OptimizeSettings(risk_aversion=gamma, cost_bps=cost, turnover_limit=turnover, max_deviation=deviation,
                         class_limits={"equity": {"max": eq_max}})
    _check(optimize_portfolio({"portfolio": p5, "optimize": s}), s)


def test_low_confidence_falls_back_with_its_reason(p5: Portfolio) -> None:
    res = optimize_portfolio({"portfolio": p5, "optimize": {"min_confidence": 1.0}})
    t = res.targets
    assert t.status == "fallback" and "average confidence" in t.reason and "strategic targets are kept" in t.reason
    assert t.weights == res.strategic and t.solve_seconds is None


def test_unreachable_limits_fall_back_with_their_reason(p5: Portfolio) -> None:
    res = optimize_portfolio({"portfolio": p5, "optimize": {"turnover_limit": 0.001}})
    assert res.targets.status == "fallback" and res.targets.reason.startswith("infeasible: reaching the deviation")
    assert any("turnover" in w for w in res.targets.warnings)


def test_cash_is_deployed_and_a_cash_holding_stays_at_its_target(p1: Portfolio) -> None:
    holdings = [h.model_copy(update={"target_weight": w}) for h, w in zip(p1.holdings, (0.55, 0.35), strict=True)]
    holdings.append(Holding(symbol="USD", asset_class="cash", quantity=5000.0, price=1.0, target_weight=0.1))
    p = p1.model_copy(update={"holdings": holdings, "cash": 10_000.0})
    res = optimize_portfolio({"portfolio": p})
    total = p1.holdings_value + 15_000.0
    assert res.cash_weight == pytest.approx(10_000.0 / total)
    assert sum(res.current.values()) == pytest.approx(1.0 - res.cash_weight)
    assert res.targets.status == "optimised", res.targets.reason
    assert res.targets.weights["USD"] == pytest.approx(0.1, abs=1e-12)
    assert res.targets.turnover >= res.cash_weight - 1e-9  # the idle cash is spent
    assert any("uninvested cash" in w for w in res.warnings)
    assert res.forecast.evaluated == ["SPY", "AGG"]


def test_invalid_requests_name_the_field(p5: Portfolio) -> None:
    with pytest.raises(InvalidRequest) as exc:
        optimize_portfolio({"portfolio": p5.model_dump(mode="json"), "optimize": {"risk_aversion": -1}})
    assert exc.value.details[0]["loc"][:2] == ["optimize", "risk_aversion"]
    with pytest.raises(InvalidRequest) as exc:
        forecast_portfolio({"portfolio": p5.model_dump(mode="json"), "settings": {"long_window": 5, "short_window": 9}})
    assert exc.value.details[0]["loc"][0] == "settings"
    empty = p5.model_copy(update={"holdings": [h.model_copy(update={"quantity": 0.0}) for h in p5.holdings]})
    with pytest.raises(InvalidRequest, match="worth 0"):
        optimize_portfolio({"portfolio": empty})
