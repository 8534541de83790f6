"""The portfolio document: versioned JSON, engine validation on load, atomic save, drafts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.document import (
    FORMAT,
    VERSION,
    Document,
    checked_portfolio,
    document_from_dict,
    document_to_dict,
    draft_portfolio,
    load_document,
    normalise_targets,
    save_document,
    target_sum_problem,
)
from engine.errors import DataError, InvalidRequest
from engine.schemas import Band, MonteCarloSettings, Portfolio, RebalancePolicy, RiskSettings
from engine.service import validate


def _holding(symbol: str, target: float, quantity: float = 10.0, price: float = 100.0) -> dict:
    return {"symbol": symbol, "asset_class": "etf", "quantity": quantity, "price": price, "target_weight": target}


@pytest.fixture
def doc() -> Document:
    portfolio = Portfolio.model_validate({"name": "Client A", "as_of": "2019-12-31", "cash": 1234.5,
                                          "holdings": [_holding("SPY", 0.6), _holding("AGG", 0.4, 5, 110.25)]})
    return Document(portfolio=portfolio,
                    policy=RebalancePolicy(band=Band(kind="relative", width=0.25), turnover_limit=0.1, cost_bps=7.5,
                                           cash_flow=-2500.0),
                    risk=RiskSettings(benchmark="SPY", risk_free_rate=0.02),
                    monte_carlo=MonteCarloSettings(method="gaussian", paths=2000, horizon=126, seed=7))


def test_round_trip_keeps_every_field(doc: Document, tmp_path: Path) -> None:
    path = save_document(doc, tmp_path / "a.rebal.json")
    back = load_document(path)
    assert back == doc
    data = json.loads(path.read_text(encoding="utf-8"))
    assert list(data)[:2] == ["format", "version"]
    assert (data["format"], data["version"]) == (FORMAT, VERSION)
    assert data["portfolio"]["as_of"] == "2019-12-31"


def test_save_is_atomic_and_leaves_no_temporary_file(doc: Document, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "a.rebal.json"
    save_document(doc, path)
    before = path.read_bytes()

    def broken_replace(src, dst):  # the crash happens between writing and replacing
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", broken_replace)
    doc.policy = doc.policy.model_copy(update={"cost_bps": 99.0})
    with pytest.raises(OSError, match="disk vanished"):
        save_document(doc, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.rebal.json"]


def test_draft_accepts_targets_off_one_and_reports_it_with_the_engine_message() -> None:
    p = draft_portfolio({"holdings": [_holding("SPY", 0.5), _holding("AGG", 0.3)]})
    assert [h.target_weight for h in p.holdings] == [0.5, 0.3]
    assert target_sum_problem(p) == "target weights sum to 0.800000; they must sum to 1 (±1e-06)"
    with pytest.raises(InvalidRequest):  # the full model still refuses it
        validate(Portfolio, p.model_dump())


def test_draft_refuses_every_other_rule_with_located_details() -> None:
    with pytest.raises(InvalidRequest) as bad_price:
        draft_portfolio({"holdings": [_holding("SPY", 1.0), _holding("AGG", 0.0, price=-1.0)]})
    assert bad_price.value.details[0]["loc"] == ["holdings", 1, "price"]
    assert bad_price.value.details[0]["msg"] == "Input should be greater than 0"
    with pytest.raises(InvalidRequest) as duplicate:
        draft_portfolio({"holdings": [_holding("SPY", 0.5), _holding("spy", 0.2)]})
    assert duplicate.value.details[0]["msg"] == "duplicate symbol 'spy' (holdings 0 and 1)"
    with pytest.raises(InvalidRequest) as empty:
        draft_portfolio({"holdings": []})
    assert empty.value.details[0]["loc"] == ["holdings"]
    with pytest.raises(InvalidRequest) as bad_target:
        draft_portfolio({"holdings": [_holding("SPY", 1.5)]})
    assert bad_target.value.details[0]["loc"] == ["holdings", 0, "target_weight"]


def test_load_refuses_foreign_broken_or_invalid_files(doc: Document, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"format": "x",', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.json: not valid JSON at line 1, column 16"):
        load_document(bad_json)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"holdings": []}), encoding="utf-8")
    with pytest.raises(DataError, match="not a portfolio document"):
        load_document(foreign)
    data = document_to_dict(doc)
    with pytest.raises(DataError, match="unsupported document version 2"):
        document_from_dict({**data, "version": 2})
    data["policy"]["cost_bps"] = -1
    with pytest.raises(InvalidRequest) as exc:
        document_from_dict(data)
    assert exc.value.details[0]["loc"] == ["policy", "cost_bps"]
    with pytest.raises(InvalidRequest) as extra:
        document_from_dict({**document_to_dict(doc), "notes": "x"})
    assert extra.value.details[0]["loc"] == ["notes"]


def test_missing_settings_sections_take_their_defaults(doc: Document) -> None:
    data = document_to_dict(doc)
    del data["policy"], data["risk"], data["monte_carlo"]
    back = document_from_dict(data)
    assert (back.policy, back.risk, back.monte_carlo) == (RebalancePolicy(), RiskSettings(), MonteCarloSettings())


def test_normalise_targets_keeps_proportions() -> None:
    p = draft_portfolio({"holdings": [_holding("A", 0.2), _holding("B", 0.6), _holding("C", 0.0)]})
    n = normalise_targets(p)
    assert [h.target_weight for h in n.holdings] == pytest.approx([0.25, 0.75, 0.0], abs=1e-15)
    Portfolio.model_validate(n.model_dump())  # now a valid portfolio
    with pytest.raises(InvalidRequest, match="every target weight is zero"):
        normalise_targets(draft_portfolio({"holdings": [_holding("A", 0.0)]}))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=30).filter(lambda t: sum(t) > 1e-9))
def test_normalised_targets_always_pass_the_engine(targets: list[float]) -> None:
    p = draft_portfolio({"holdings": [_holding(f"S{i}", t) for i, t in enumerate(targets)]})
    assert target_sum_problem(normalise_targets(p)) is None


def test_checked_portfolio_is_the_full_validation_of_a_draft() -> None:
    rows = [{"symbol": "SPY", "asset_class": "etf", "quantity": 10, "price": 500.0, "target_weight": 0.6},
            {"symbol": "AGG", "asset_class": "etf", "quantity": 20, "price": 100.0, "target_weight": 0.4}]
    draft = draft_portfolio({"name": "Two", "cash": 50.0, "holdings": rows})
    assert checked_portfolio(draft) == validate(Portfolio, draft.model_dump())
    # A draft whose targets do not sum to 1 is refused as the engine refuses it, under "portfolio".
    uneven = draft_portfolio({"name": "Two", "holdings": [rows[0], {**rows[1], "target_weight": 0.3}]})
    with pytest.raises(InvalidRequest) as caught:
        checked_portfolio(uneven)
    with pytest.raises(InvalidRequest) as engine:
        validate(Portfolio, uneven.model_dump())
    assert [d["loc"] for d in caught.value.details] == [["portfolio", *d["loc"]] for d in engine.value.details]
    assert [d["msg"] for d in caught.value.details] == [d["msg"] for d in engine.value.details]
