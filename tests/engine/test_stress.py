"""Monte Carlo stress test (METRICS.md): determinism, the three samplers, the summary figures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skfolio.measures import cvar as skfolio_cvar

from engine import mc_draws, stress
from engine.errors import Cancelled, InsufficientData, InvalidRequest
from engine.returns_frame import ReturnsFrame
from engine.schemas import Holding, MonteCarloSettings, Portfolio
from engine.stress import (
    CHUNK_PATHS,
    chunk_generator,
    horizon_var_cvar,
    iter_path_chunks,
    row_percentiles,
    run_monte_carlo,
    simulate_paths,
    stationary_bootstrap_indices,
)

METHODS = ("gaussian", "bootstrap", "block_bootstrap")
MODES = ("constant_mix", "buy_and_hold")


def make_frame(R: np.ndarray, P: int = 252, **kw) -> ReturnsFrame:
    cols = [f"A{i}" for i in range(R.shape[1])]
    index = pd.bdate_range("2015-01-01", periods=R.shape[0])
    return ReturnsFrame(returns=pd.DataFrame(R, index=index, columns=cols), periods_per_year=P,
                        frequency="daily", **kw)


def make_portfolio(values: list[float], cash: float = 0.0) -> Portfolio:
    n = len(values)
    return Portfolio(cash=cash, holdings=[
        Holding(symbol=f"A{i}", asset_class="stock", quantity=v / 10.0, price=10.0,
                target_weight=1.0 / n if i else 1.0 - (n - 1) / n)
        for i, v in enumerate(values)])


@pytest.fixture(scope="module")
def history() -> np.ndarray:
    rng = np.random.default_rng(7)
    common = rng.standard_normal((600, 1)) * 0.008
    return 0.0004 + common * np.array([1.0, 0.6, -0.3]) + rng.standard_normal((600, 3)) * 0.01


# --- determinism ---------------------------------------------------------------------------------
def test_chunk_generator_is_the_spawned_child():
    children = np.random.SeedSequence(123).spawn(4)
    for i, child in enumerate(children):
        expected = np.random.default_rng(child).random(5)
        np.testing.assert_array_equal(chunk_generator(123, i).random(5), expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_paths_whatever_the_chunking(history, method, mode):
    w = np.array([0.5, 0.3, 0.1])
    kw = dict(method=method, mode=mode, horizon=30, seed=9, mean_block_length=4.0)
    paths = 2 * CHUNK_PATHS + 300
    whole = simulate_paths(history, w, paths=paths, **kw)
    assert whole.shape == (paths, 31)
    one_by_one = np.vstack([simulate_paths(history, w, paths=paths, chunks=[i], **kw) for i in (2, 0, 1)])
    np.testing.assert_array_equal(one_by_one, whole[np.r_[2 * CHUNK_PATHS:paths, 0:2 * CHUNK_PATHS]])
    # A smaller run is a prefix of a larger one: a path depends only on the seed and its index.
    np.testing.assert_array_equal(simulate_paths(history, w, paths=CHUNK_PATHS, **kw), whole[:CHUNK_PATHS])
    other = simulate_paths(history, w, paths=CHUNK_PATHS, **{**kw, "seed": 10})
    assert not np.array_equal(other, whole[:CHUNK_PATHS])


def test_threads_give_the_same_paths(history):
    w = np.array([0.4, 0.4, 0.2])
    kw = dict(method="block_bootstrap", paths=4 * CHUNK_PATHS, horizon=25, seed=3)
    serial = simulate_paths(history, w, **kw)

    def one(i: int) -> np.ndarray:
        return next(iter_path_chunks(history, w, chunks=[i], **kw))[1]

    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = np.vstack(list(pool.map(one, range(4))))
    np.testing.assert_array_equal(parallel, serial[:, 1:])


def test_run_is_reproducible_and_seed_sensitive(history):
    frame, portfolio = make_frame(history), make_portfolio([500.0, 300.0, 200.0])
    s = MonteCarloSettings(method="bootstrap", paths=500, horizon=40, seed=5)
    a, b = run_monte_carlo(portfolio, frame, s), run_monte_carlo(portfolio, frame, s)
    assert a == b
    c = run_monte_carlo(portfolio, frame, s.model_copy(update={"seed": 6}))
    assert c.terminal_percentiles != a.terminal_percentiles


# --- the samplers --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_one_step_moments_match_the_sample_moments(history, mode):
    w = np.array([0.5, 0.2, 0.2])                       # 10 % cash at 0 %
    n = 100_000
    r = simulate_paths(history, w, method="gaussian", mode=mode, paths=n, horizon=1, seed=11)[:, 1] - 1.0
    mean, var = w @ history.mean(axis=0), w @ np.cov(history, rowvar=False, ddof=1) @ w
    assert abs(r.mean() - mean) < 4 * np.sqrt(var / n)
    assert abs(r.var(ddof=1) - var) < 4 * var * np.sqrt(2.0 / (n - 1))


def test_gaussian_buy_and_hold_reproduces_each_asset_and_the_correlation(history):
    # Weight vectors that isolate asset 1, asset 2 and their sum pin var1, var2 and cov12.
    cov = np.cov(history, rowvar=False, ddof=1)
    n = 60_000
    for w in (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.5, 0.5, 0.0])):
        r = simulate_paths(history, w, method="gaussian", mode="buy_and_hold", paths=n, horizon=1, seed=2)[:, 1] - 1
        var = w @ cov @ w
        assert abs(r.var(ddof=1) - var) < 4 * var * np.sqrt(2.0 / (n - 1))


@pytest.mark.parametrize("method", ["bootstrap", "block_bootstrap"])
def test_bootstrap_draws_only_historical_rows(method):
    rng = np.random.default_rng(4)
    R = np.round(rng.normal(0.0, 0.02, size=(50, 2)), 4)
    w = np.array([0.7, 0.2])
    rp = R @ w
    v = simulate_paths(R, w, method=method, paths=400, horizon=60, seed=1, mean_block_length=5.0)
    step = v[:, 1:] / v[:, :-1] - 1.0
    nearest = np.abs(step[..., None] - rp).min(axis=-1)
    assert nearest.max() < 1e-12
    # Buy and hold: the first step's drift-free return is exactly one historical row's w'r.
    bh = simulate_paths(R, w, method=method, mode="buy_and_hold", paths=400, horizon=1, seed=1)[:, 1] - 1
    assert np.abs(bh[:, None] - rp).min(axis=1).max() < 1e-12


def test_bootstrap_is_not_a_permutation():
    R = np.random.default_rng(8).normal(0.0, 0.01, size=(40, 1))
    v = simulate_paths(R, np.array([1.0]), method="bootstrap", paths=300, horizon=40, seed=1)
    # Every permutation of the 40 rows would end at prod(1 + r); resampling with replacement does not.
    assert v[:, -1].std() > 0.01
    rows = np.abs(v[:, 1:2] - 1.0 - R[:, 0]).argmin(axis=1)
    assert np.unique(rows).size == 40                    # every row is drawn, roughly uniformly
    assert np.bincount(rows).max() < 25


def test_stationary_bootstrap_block_length_matches_the_setting():
    rng = np.random.default_rng(0)
    idx = stationary_bootstrap_indices(rng, 2_000, 500, 100_000, 8.0)
    assert idx.shape == (2_000, 500) and idx.min() >= 0 and idx.max() < 100_000
    breaks = idx[:, 1:] != (idx[:, :-1] + 1) % 100_000
    # Restart probability 1/8; a restart landing on the next row (prob 1e-5) is invisible.
    assert breaks.mean() == pytest.approx(1 / 8, abs=4 * np.sqrt(0.125 * 0.875 / breaks.size))
    assert 1.0 / breaks.mean() == pytest.approx(8.0, rel=0.02)


def test_stationary_bootstrap_wraps_round_and_degenerates_to_iid():
    idx = stationary_bootstrap_indices(np.random.default_rng(1), 200, 40, 5, 1e6)
    # Blocks (almost) never restart: each path walks the history circularly.
    np.testing.assert_array_equal(idx, (idx[:, :1] + np.arange(40)) % 5)
    iid = stationary_bootstrap_indices(np.random.default_rng(1), 200, 40, 10_000, 1.0)
    assert (iid[:, 1:] == (iid[:, :-1] + 1) % 10_000).mean() < 0.002


# --- the run and its summary ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_summary_matches_a_brute_force_reference(history, method, mode):
    portfolio = make_portfolio([400.0, 300.0, 200.0], cash=100.0)
    frame = make_frame(history)
    s = MonteCarloSettings(method=method, mode=mode, paths=310, horizon=20, seed=17, mean_block_length=3.0)
    res = run_monte_carlo(portfolio, frame, s)
    v = simulate_paths(history, np.array([0.4, 0.3, 0.2]), method=method, mode=mode, paths=310, horizon=20,
                       seed=17, mean_block_length=3.0, initial_value=1000.0)
    term = v[:, -1]
    assert res.initial_value == 1000.0
    assert res.probability_of_loss == np.mean(term < 1000.0)
    pct = np.percentile(term, [5, 25, 50, 75, 95])
    assert list(res.terminal_percentiles.values()) == pytest.approx(pct, rel=1e-12)
    assert res.downside_terminal_value == res.terminal_percentiles["p5"]
    assert res.expected_terminal_value == pytest.approx(term.mean(), rel=1e-12)
    np.testing.assert_allclose(res.fan.bands, np.percentile(v, [5, 25, 50, 75, 95], axis=0), rtol=1e-12)
    r = np.sort(term / 1000.0 - 1.0)
    assert res.horizon_var_95 == pytest.approx(-np.quantile(r, 0.05))
    # k = 0.05 × 310 = 15.5: the worst 15 plus half of the 16th, over 15.5.
    assert res.horizon_cvar_95 == pytest.approx(-(r[:15].sum() + 0.5 * r[15]) / 15.5)
    assert sum(res.histogram_counts) == 310 and len(res.histogram_edges) == 51


def test_constant_history_gives_hand_computed_terminal_values():
    R = np.full((300, 2), [0.001, 0.0])
    frame, portfolio = make_frame(R), make_portfolio([50.0, 30.0], cash=20.0)
    for method in METHODS:
        cm = run_monte_carlo(portfolio, frame, MonteCarloSettings(method=method, paths=200, horizon=10))
        assert cm.terminal_percentiles["p50"] == pytest.approx(100 * 1.0005 ** 10, rel=1e-12)
        assert cm.probability_of_loss == 0.0 and cm.horizon_var_95 == pytest.approx(-(1.0005 ** 10 - 1))
        bh = run_monte_carlo(portfolio, frame, MonteCarloSettings(method=method, paths=200, horizon=10,
                                                                   mode="buy_and_hold"))
        # Weights drift: 50 grows at 0.1 %/step, 30 and the 20 of cash stand still.
        assert bh.terminal_percentiles["p5"] == pytest.approx(50 * 1.001 ** 10 + 50, rel=1e-12)
    loss = run_monte_carlo(make_portfolio([100.0]), make_frame(np.full((300, 1), -0.01)),
                           MonteCarloSettings(paths=100, horizon=5))
    assert loss.probability_of_loss == 1.0
    assert loss.horizon_cvar_95 == pytest.approx(1 - 0.99 ** 5)


def test_horizon_var_cvar_by_hand_and_against_skfolio():
    r = np.array([-0.30, -0.20, 0.05] + [0.01] * 37)   # k = 0.05 × 40 = 2
    assert horizon_var_cvar(r) == pytest.approx((-np.quantile(r, 0.05), 0.25))
    x = np.random.default_rng(3).standard_normal(1_234) * 0.1
    assert horizon_var_cvar(x)[1] == pytest.approx(skfolio_cvar(x, beta=0.95), rel=1e-12)


def test_fan_chart_shape_start_and_order(history):
    res = run_monte_carlo(make_portfolio([1.0, 2.0, 3.0]), make_frame(history),
                          MonteCarloSettings(method="block_bootstrap", paths=700, horizon=15, initial_value=1e6))
    bands = np.array(res.fan.bands)
    assert res.fan.percentiles == [5, 25, 50, 75, 95] and bands.shape == (5, 16)
    assert (bands[:, 0] == 1e6).all() and (np.diff(bands, axis=0) >= 0).all()
    assert bands[:, -1].tolist() == pytest.approx(list(res.terminal_percentiles.values()))


def test_large_fans_are_stored_in_float32(history, monkeypatch):
    s = MonteCarloSettings(method="gaussian", paths=500, horizon=30)
    exact = run_monte_carlo(make_portfolio([1.0, 1.0, 1.0]), make_frame(history), s)
    monkeypatch.setattr(stress, "_FLOAT64_FAN_LIMIT", 10)
    small = run_monte_carlo(make_portfolio([1.0, 1.0, 1.0]), make_frame(history), s)
    np.testing.assert_allclose(small.fan.bands, exact.fan.bands, rtol=1e-6)
    assert small.terminal_percentiles == exact.terminal_percentiles


def test_progress_reaches_one_and_cancel_raises(history):
    frame, portfolio = make_frame(history), make_portfolio([1.0, 1.0, 1.0])
    s = MonteCarloSettings(paths=3 * CHUNK_PATHS, horizon=5)
    seen: list[float] = []
    run_monte_carlo(portfolio, frame, s, progress=seen.append)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])
    with pytest.raises(Cancelled):
        run_monte_carlo(portfolio, frame, s, progress=seen.append, cancel=lambda: len(seen) >= 4)
    assert len(seen) == 4                                 # stopped after the first chunk


def test_warnings_and_errors(history):
    portfolio = make_portfolio([1.0, 1.0, 1.0])
    short = make_frame(history[:100], uncovered=["A2"], warnings=["window shorter than a year"])
    res = run_monte_carlo(portfolio, short, MonteCarloSettings(paths=100, horizon=1300))
    text = " | ".join(res.warnings)
    assert "5.2 years" in text and "100 periods" in text and "A2" in text
    assert res.warnings[0] == "window shorter than a year"
    two = make_frame(history[:, :2])                      # A2 has no column at all
    assert any("no return column for A2" in w for w in
               run_monte_carlo(portfolio, two, MonteCarloSettings(paths=100, horizon=5)).warnings)
    with pytest.raises(InsufficientData):
        run_monte_carlo(portfolio, make_frame(history[:1]), MonteCarloSettings(paths=100, horizon=5))
    empty = Portfolio(holdings=[Holding(symbol="A0", asset_class="stock", quantity=0.0, price=1.0, target_weight=1.0)])
    with pytest.raises(InvalidRequest) as err:
        run_monte_carlo(empty, make_frame(history[:, :1]), MonteCarloSettings(paths=100, horizon=5))
    assert err.value.details[0]["loc"] == ["portfolio"]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 60)),
              elements=st.floats(-1e6, 1e6, allow_nan=False)),
       st.lists(st.floats(0, 100), min_size=1, max_size=6))
def test_row_percentiles_equal_numpy(a, q):
    np.testing.assert_array_equal(row_percentiles(a.copy(), q), np.percentile(a, q, axis=1))


def test_unset_horizon_is_one_year_of_the_frames_periods(history):
    monthly = make_frame(history[:120], P=12)
    portfolio = make_portfolio([1.0, 1.0, 1.0])
    default = run_monte_carlo(portfolio, monthly, MonteCarloSettings(paths=200))
    assert default.horizon == 12 and len(default.fan.bands[0]) == 13 and default.periods_per_year == 12
    explicit = run_monte_carlo(portfolio, monthly, MonteCarloSettings(paths=200, horizon=252))
    assert explicit.horizon == 252 and any("21.0 years" in w for w in explicit.warnings)
    assert run_monte_carlo(portfolio, make_frame(history), MonteCarloSettings(paths=200)).horizon == 252


@pytest.mark.parametrize("method", ["bootstrap", "block_bootstrap"])
def test_buy_and_hold_step_blocks_join_seamlessly(history, method, monkeypatch):
    w = np.array([0.5, 0.3, 0.1])
    kw = dict(method=method, mode="buy_and_hold", paths=300, horizon=40, seed=4, mean_block_length=3.0)
    one_block = simulate_paths(history, w, **kw)
    monkeypatch.setattr(stress, "_BLOCK_ELEMENTS", 2 * CHUNK_PATHS * 3)      # two steps per block
    np.testing.assert_allclose(simulate_paths(history, w, **kw), one_block, rtol=1e-13)
    # Hand check across blocks: constant returns per asset, weights drift.
    R = np.tile([0.01, -0.02, 0.0], (50, 1))
    v = simulate_paths(R, w, **{**kw, "horizon": 7})
    np.testing.assert_allclose(v[:, -1], 0.5 * 1.01 ** 7 + 0.3 * 0.98 ** 7 + 0.1 + 0.1, rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_values_that_overflow_are_refused_not_returned_as_nan(mode):
    # 60 × 61 … compounded over 2,520 steps exceeds float64: an error the caller can act on.
    R = np.array([[50.0], [60.0]])
    portfolio = Portfolio(cash=0.0, holdings=[Holding(symbol="A0", asset_class="etf", quantity=1.0, price=400.0,
                                                      target_weight=1.0)])
    with pytest.raises(InsufficientData, match="horizon"):
        run_monte_carlo(portfolio, make_frame(R), MonteCarloSettings(paths=100, horizon=2_520, mode=mode))


def test_initial_value_is_bounded_like_other_money():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        MonteCarloSettings(initial_value=1e308)


# --- terminal values only, and reused draws --------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_terminal_only_is_the_last_step_bit_for_bit(history, method, mode):
    w = np.array([0.5, 0.3, 0.1])
    kw = dict(method=method, mode=mode, paths=CHUNK_PATHS + 77, horizon=40, seed=21, mean_block_length=5.0)
    full = np.concatenate([g[:, -1] for _, g in iter_path_chunks(history, w, **kw)])
    terminal = np.concatenate([g for _, g in iter_path_chunks(history, w, terminal_only=True, **kw)])
    np.testing.assert_array_equal(terminal, full)
    frame, portfolio = make_frame(history), make_portfolio([500.0, 300.0, 100.0], cash=100.0)
    s = MonteCarloSettings(method=method, mode=mode, paths=700, horizon=40, seed=21)
    with_fan, summary = run_monte_carlo(portfolio, frame, s), run_monte_carlo(portfolio, frame, s, fan=False)
    assert summary.fan.bands == [] and with_fan.fan.bands
    assert summary.model_dump(exclude={"fan"}) == with_fan.model_dump(exclude={"fan"})


@pytest.mark.parametrize("method", ["bootstrap", "block_bootstrap"])
def test_kept_draws_are_the_fresh_draws(method):
    mc_draws.clear_index_cache()
    paths = CHUNK_PATHS + 300
    first = mc_draws.run_indices(method, 8, paths, 20, 50, 4.0)
    kept = mc_draws.kept_run(method, 8, paths, 20, 50, 4.0)
    assert mc_draws.kept_run(method, 8, paths, 20, 50, 4.0) is kept  # drawn once, then shared
    assert all(v.base is k for v, k in zip(first, kept, strict=True))
    assert [c.shape for c in first] == [(20, CHUNK_PATHS), (20, 300)]
    assert not any(c.flags.writeable for c in first)  # what callers get cannot be written
    for i, n in enumerate((CHUNK_PATHS, 300)):  # chunk i is drawn by child i of the seed
        rng = chunk_generator(8, i)
        fresh = (rng.integers(0, 50, size=(n, 20)) if method == "bootstrap"
                 else stationary_bootstrap_indices(rng, n, 20, 50, 4.0))
        np.testing.assert_array_equal(first[i], fresh.T)  # step-major: column p is path p
        np.testing.assert_array_equal(mc_draws.bootstrap_indices(method, 8, i, n, 20, 50, 4.0), fresh.T)
    mc_draws.clear_index_cache()
    for kept, fresh in zip(mc_draws.run_indices(method, 8, paths, 20, 50, 4.0), first, strict=True):
        np.testing.assert_array_equal(kept, fresh)
    # Another seed, history length or horizon is another draw.
    for args in [(9, paths, 20, 50), (8, paths, 20, 51), (8, paths, 21, 50)]:
        assert not np.array_equal(mc_draws.run_indices(method, *args, 4.0)[0][:20, :100], first[0][:20, :100])
    # A run too large to keep is not kept (drawn chunk by chunk: test_runs_with_and_without_kept_draws_agree).
    assert mc_draws.run_indices(method, 8, 200_000, 252, 50) is None


def test_runs_with_and_without_kept_draws_agree(history, monkeypatch):
    frame, portfolio = make_frame(history), make_portfolio([500.0, 300.0, 200.0])
    s = MonteCarloSettings(method="bootstrap", paths=3_000, horizon=30, seed=4)
    kept = [run_monte_carlo(portfolio, frame, s, fan=f) for f in (True, False)]
    monkeypatch.setattr(stress, "kept_run", lambda *a, **k: None)
    drawn = [run_monte_carlo(portfolio, frame, s, fan=f) for f in (True, False)]
    assert kept == drawn


def test_index_cache_keeps_within_its_budget():
    cache = mc_draws._IndexCache(budget=4_000)          # 500 int64 indices
    small = [(np.arange(100, dtype=np.int64) + i,) for i in range(6)]  # 800 bytes each
    for i, a in enumerate(small):
        cache.put(("k", i), a)
    assert cache.get(("k", 0)) is None and cache.get(("k", 5)) is small[5]  # oldest dropped first
    assert sum(a[0].nbytes for a in cache._items.values()) <= 4_000
    cache.put(("big",), (np.zeros(100, dtype=np.int64), np.zeros(100, dtype=np.int64)))  # > a third
    assert cache.get(("big",)) is None


@pytest.mark.parametrize("method", METHODS)
def test_stress_summary_equals_the_full_runs_figures(history, method):
    frame, portfolio = make_frame(history), make_portfolio([500.0, 300.0, 100.0], cash=100.0)
    s = MonteCarloSettings(method=method, paths=CHUNK_PATHS + 500, seed=12)
    full = run_monte_carlo(portfolio, frame, s)
    summary = stress.stress_summary(portfolio, frame, s)
    assert summary.probability_of_loss == full.probability_of_loss
    assert summary.downside_terminal_value == full.downside_terminal_value
    assert (summary.method, summary.paths, summary.horizon, summary.seed) == (method, s.paths, 252, 12)
    assert 0.0 < summary.probability_of_loss < 1.0
    with pytest.raises(Cancelled):
        stress.stress_summary(portfolio, frame, s, cancel=lambda: True)
