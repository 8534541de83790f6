"""AI-assisted targets and their governance: forecasts, optimised targets, backtests, the model registry."""

from __future__ import annotations

import dataclasses

from flask import Response

from api import examples
from api.envelope import respond
from api.jsonio import json_body
from api.models import BacktestResponse, ForecastResponse, ModelListResponse, OptimizeResponse
from api.params import ModelQuery, query_params
from api.registry import DocumentedBlueprint, Endpoint
from engine import service
from engine.schemas.ai import ForecastRequest, OptimizeRequest
from engine.schemas.backtest import BacktestRequest

bp = DocumentedBlueprint("ai", __name__)

FORECAST_DESCRIPTION = (
    "Per holding: the momentum, mean-reversion and EWMA signals, each with its confidence, and their "
    "confidence-weighted ensemble. Beside it, the model's out-of-sample skill measured walk-forward on the "
    "holdings' own history up to the as-of date (IC, hit rate, error against the zero and historical-mean "
    "baselines, per asset class), with skill_level and a plain skill_verdict: a model without skill says so."
)
OPTIMIZE_DESCRIPTION = (
    "A convex tilt of the strategic targets (a quadratic program solved by Clarabel): forecast return minus "
    "risk aversion × active variance minus costs; long-only, summing to 1, under the turnover limit, the per-asset deviation "
    "(scaled by confidence) and the class bounds. targets.status is 'fallback', with targets.reason saying "
    "why, when confidence is too low or the solver fails; each asset's tilt is explained by signal."
)
BACKTEST_DESCRIPTION = (
    "Rebalancing policies replayed on real history with costs: CAGR, volatility, max drawdown, turnover, "
    "costs and the equity curve of each. Without policies: buy and hold, calendar (monthly, quarterly, "
    "annual), threshold bands and the AI targets, re-optimised at each month end from data up to that date "
    "only (n_target_fallbacks counts the decisions that kept the strategic targets)."
)
MODELS_DESCRIPTION = (
    "Versions with their parameters and parameters hash, role (champion, challenger, retired), approval "
    "status and stored walk-forward evaluation. A pipeline run's Forecast stage registers the model it used."
)


@bp.operation(Endpoint("POST", "/api/forecast", "Forecast a portfolio's holdings, with the model's measured skill.",
                       FORECAST_DESCRIPTION, tag="ai", body=(ForecastRequest,), responses=(ForecastResponse,),
                       engine_errors=True, examples={"forecast": examples.FORECAST}))
def forecast() -> Response:
    return respond(service.forecast(json_body()))


@bp.operation(Endpoint("POST", "/api/optimize", "Optimised targets around the strategic ones, explained.",
                       OPTIMIZE_DESCRIPTION, tag="ai", body=(OptimizeRequest,), responses=(OptimizeResponse,),
                       engine_errors=True, examples={"optimize": examples.OPTIMIZE}))
def optimize() -> Response:
    return respond(service.optimize(json_body()))


@bp.operation(Endpoint("POST", "/api/backtest", "Backtest rebalancing policies, the AI targets included.",
                       BACKTEST_DESCRIPTION, tag="ai", body=(BacktestRequest,), responses=(BacktestResponse,),
                       engine_errors=True, examples={"backtest": examples.BACKTEST}))
def backtest() -> Response:
    return respond(service.backtest(json_body(), ai_targets=True))


@bp.operation(Endpoint("GET", "/api/models", "The model registry: forecast model versions and their evaluations.",
                       MODELS_DESCRIPTION, tag="governance", query=ModelQuery, responses=(ModelListResponse,)))
def models() -> Response:
    records = service.list_models(**query_params().model_dump())
    return respond({"models": [dataclasses.asdict(record) for record in records]})
