"""Walk-forward evaluation: hand-computed scores, point-in-time panels, the verdict, bundled history."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from engine.evaluation import (
    DEFAULT_UNIVERSE,
    data_hash,
    evaluate_bundled,
    score_forecasts,
    verdict,
    walk_forward,
    walk_forward_panels,
)
from engine.forecast import forecast, params_hash
from engine.governance.registry import beats
from engine.schemas.ai import ForecastSettings

SMALL = ForecastSettings(short_window=5, long_window=40, half_life=10, horizon=5, periods_per_year=252)


def test_scores_of_a_hand_computed_case() -> None:
    f = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    r = np.array([[0.1, 0.3, 0.2], [-0.1, 0.2, 0.3]])
    s = score_forecasts(f, r, baseline_mean=np.full((2, 3), 0.1), classes=["eq", "eq", "eq"])
    # Spearman: ranks (1,2,3) vs (1,3,2) -> 1 - 6*2/24 = 0.5; (3,2,1) vs (1,2,3) -> -1.
    assert s["ic_mean"] == pytest.approx(-0.25)
    assert s["ic_std"] == pytest.approx(1.5 / math.sqrt(2))
    assert s["ic_tstat"] == pytest.approx(-0.25 / (1.5 / math.sqrt(2) / math.sqrt(2)))
    assert s["hit_rate"] == pytest.approx(5 / 6)
    assert s["rmse"] == pytest.approx(math.sqrt(24.88 / 6))
    assert s["mae"] == pytest.approx(11.0 / 6)
    assert s["rmse_zero"] == pytest.approx(math.sqrt((0.01 + 0.09 + 0.04 + 0.01 + 0.04 + 0.09) / 6))
    assert s["rmse_mean"] == pytest.approx(math.sqrt((0 + 0.04 + 0.01 + 0.04 + 0.01 + 0.04) / 6))
    assert s["hit_rate_mean"] == pytest.approx(5 / 6)
    assert (s["n_dates"], s["n_ic_dates"], s["n_forecasts"]) == (2, 2, 6)
    assert s["by_class"][0]["ic_mean"] == pytest.approx(-0.25)


def test_perfect_foresight_and_random_forecasts() -> None:
    rng = np.random.default_rng(11)
    r = rng.normal(0, 0.05, (400, 20))
    perfect = score_forecasts(r, r)
    assert (perfect["ic_mean"], perfect["hit_rate"], perfect["rmse"]) == (1.0, 1.0, 0.0)
    assert verdict(perfect)[0] == "moderate"
    noise = score_forecasts(rng.normal(0, 0.05, r.shape), r)
    assert abs(noise["ic_mean"]) < 0.02 and abs(noise["hit_rate"] - 0.5) < 0.02
    level, text = verdict(noise)
    assert level == "none" and text.startswith("no measurable skill: IC ")
    assert "over 400 dates" in text


def test_ic_agrees_with_scipy_and_skips_thin_or_constant_dates() -> None:
    rng = np.random.default_rng(5)
    f, r = rng.normal(size=(30, 6)), rng.normal(size=(30, 6))
    f[0, :4] = np.nan      # two pairs left: no IC
    f[1] = 1.0             # constant forecasts: no IC
    r[2, 0] = np.nan       # five pairs left
    s = score_forecasts(f, r)
    expected = []
    for i in range(30):
        ok = np.isfinite(f[i]) & np.isfinite(r[i])
        if ok.sum() >= 3 and np.ptp(f[i, ok]) > 0:
            expected.append(spearmanr(f[i, ok], r[i, ok]).statistic)
    assert s["n_ic_dates"] == 28 == len(expected) and s["n_dates"] == 30
    assert s["ic_mean"] == pytest.approx(np.mean(expected), rel=1e-12)


@pytest.mark.parametrize(
    ("n", "ic", "std", "level"),
    [(100, 0.02, 0.05, "weak"), (100, 0.08, 0.2, "moderate"), (100, 0.01, 0.2, "none"),
     (100, -0.05, 0.1, "negative"), (5, 0.3, 0.1, "undetermined")],
)
def test_verdict_follows_the_t_statistic(n: int, ic: float, std: float, level: str) -> None:
    t = ic / (std / math.sqrt(n))
    got, text = verdict({"n_ic_dates": n, "ic_mean": ic, "ic_std": std, "ic_tstat": t})
    assert got == level
    if level != "undetermined":
        assert f"IC {ic:.2f} ± {std / math.sqrt(n):.2f} over {n} dates" in text


def test_walk_forward_panels_are_point_in_time_forecasts() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(0.0003, 0.01, (200, 4)), index=pd.bdate_range("2010-01-01", periods=200),
                         columns=list("ABCD"))
    pos, f, r, m = walk_forward_panels(frame.to_numpy(), SMALL, step=7)
    assert pos[0] == 39 and np.all(np.diff(pos) == 7) and pos[-1] + 5 < 200
    for k in (0, len(pos) // 2, len(pos) - 1):
        t = frame.index[pos[k]]
        expected = [a.horizon_return for a in forecast(frame, t, SMALL).assets]
        assert f[k] == pytest.approx(expected, rel=1e-12)
        assert r[k] == pytest.approx(np.prod(1 + frame.iloc[pos[k] + 1: pos[k] + 6].to_numpy(), axis=0) - 1)
        assert m[k] == pytest.approx((1 + frame.iloc[: pos[k] + 1].mean().to_numpy()) ** 5 - 1)


def test_walk_forward_report_and_registry_comparison() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(0.0003, 0.01, (400, 5)), index=pd.bdate_range("2010-01-01", periods=400),
                         columns=list("ABCDE"))
    rep = walk_forward(frame, SMALL, classes={c: "equity" for c in "ABCDE"})
    assert rep.step == SMALL.horizon and rep.n_dates == len(range(39, 395, 5))
    assert rep.n_forecasts == 5 * rep.n_dates
    assert rep.params_hash == params_hash(SMALL) and rep.data_hash == data_hash(frame)
    assert rep.window_start == frame.index[39].date() and rep.universe == "A,B,C,D,E"
    assert rep.verdict.startswith({"none": "no measurable skill", "weak": "weak skill"}.get(rep.skill, ""))
    record = rep.model_dump(mode="json")
    ok, why = beats(record, record)
    assert not ok and "not better" in why  # comparable (same window and universe), but not better
    other = walk_forward(frame, SMALL.model_copy(update={"short_window": 10}))
    assert other.params_hash != rep.params_hash and other.data_hash == rep.data_hash


def test_bundled_history_walk_forward() -> None:
    keys = ("AAPL", "JPM", "XOM", "KO", "PG", "WTI")
    rep = evaluate_bundled(keys, ForecastSettings(short_window=21, long_window=252, half_life=63, horizon=21))
    assert rep.universe == ",".join(keys)
    assert rep.window_start.year == 1990 and rep.window_end.year == 2022
    assert 350 <= rep.n_ic_dates <= rep.n_dates <= 400 and rep.n_forecasts == 6 * rep.n_dates
    by_class = {c.asset_class: c for c in rep.by_class}
    assert by_class["equity"].n_assets == 5 and by_class["equity"].ic_mean is not None
    assert by_class["commodity"].n_assets == 1 and by_class["commodity"].ic_mean is None
    assert rep.rmse_zero is not None and rep.rmse_mean is not None and rep.rmse is not None
    level, text = verdict(rep.model_dump())
    assert (rep.skill, rep.verdict) == (level, text)
    assert set(keys) <= set(DEFAULT_UNIVERSE)
