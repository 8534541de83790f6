"""Read-only catalogues: bundled series, historical scenarios, sample portfolios."""

from __future__ import annotations

from flask import Response

from api.envelope import respond
from api.models import SamplePortfolioListResponse, ScenarioListResponse, SymbolListResponse
from api.registry import DocumentedBlueprint, Endpoint
from engine import service

bp = DocumentedBlueprint("market_data", __name__)


def _dump(items: list) -> list:
    return [item.model_dump(mode="json") for item in items]


@bp.operation(Endpoint("GET", "/api/market-data/symbols", "The bundled market-data catalogue.",
                       "Each series: symbol, asset class, frequency, date range, source and licence.",
                       tag="market data", responses=(SymbolListResponse,), engine_errors=True))
def symbols() -> Response:
    return respond({"symbols": _dump(service.catalogue())})


@bp.operation(Endpoint("GET", "/api/scenarios", "The historical scenario library.",
                       "Ids to pass in POST /api/stress.", tag="stress", responses=(ScenarioListResponse,),
                       engine_errors=True))
def scenarios() -> Response:
    return respond({"scenarios": _dump(service.list_scenarios())})


@bp.operation(Endpoint("GET", "/api/sample-portfolios", "The bundled sample portfolios.",
                       tag="market data", responses=(SamplePortfolioListResponse,), engine_errors=True))
def sample_portfolios() -> Response:
    return respond({"portfolios": _dump(service.sample_portfolios())})
