"""Model registry: versions by parameter hash, champion/challengers, the promotion rule, audit."""

from __future__ import annotations

import pytest

from engine.audit import AuditLog
from engine.governance.registry import ModelRegistry, PromotionRefused, beats, params_hash

WINDOW = {"window_start": "2010-01-31", "window_end": "2016-09-30", "universe": "SPY,AGG,GOLD"}


@pytest.fixture
def reg(tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite3")
    registry = ModelRegistry(tmp_path / "registry.sqlite3", audit=audit)
    yield registry
    registry.close()
    audit.close()


def test_params_hash_is_order_independent() -> None:
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_first_version_is_champion_and_same_params_are_not_duplicated(reg: ModelRegistry) -> None:
    v1 = reg.register("ensemble", {"momentum_window": 21})
    again = reg.register("ensemble", {"momentum_window": 21})
    v2 = reg.register("ensemble", {"momentum_window": 63})
    assert (v1.version, v1.role, v1.approval) == (1, "champion", "approved")
    assert again == v1
    assert (v2.version, v2.role, v2.approval) == (2, "challenger", "pending")
    assert [m.version for m in reg.list("ensemble")] == [1, 2]


@pytest.mark.parametrize(
    ("challenger", "champion", "expected"),
    [
        ({"ic_mean": 0.05, "rmse": 0.010}, {"ic_mean": 0.03, "rmse": 0.011}, True),
        ({"ic_mean": 0.05, "rmse": 0.012}, {"ic_mean": 0.03, "rmse": 0.011}, False),  # worse accuracy
        ({"ic_mean": 0.03, "rmse": 0.010}, {"ic_mean": 0.03, "rmse": 0.011}, False),  # IC not higher
    ],
)
def test_beats_needs_higher_ic_and_no_worse_rmse(challenger, champion, expected) -> None:
    assert beats(challenger | WINDOW, champion | WINDOW)[0] is expected


def test_beats_refuses_different_windows() -> None:
    ok, why = beats({"ic_mean": 0.9, "rmse": 0.0} | WINDOW, {"ic_mean": 0.0, "rmse": 1.0} | WINDOW
                    | {"window_end": "2017-01-31"})
    assert not ok
    assert "different windows" in why


def test_promotion_rule_and_audit_trail(reg: ModelRegistry) -> None:
    reg.register("ensemble", {"w": 21})
    reg.register("ensemble", {"w": 63})
    with pytest.raises(PromotionRefused, match="has no walk-forward evaluation"):
        reg.promote("ensemble", 2)
    reg.record_evaluation("ensemble", 1, {"ic_mean": 0.04, "rmse": 0.011} | WINDOW)
    reg.record_evaluation("ensemble", 2, {"ic_mean": 0.02, "rmse": 0.010} | WINDOW)
    with pytest.raises(PromotionRefused, match="does not beat ensemble v1"):
        reg.promote("ensemble", 2, user="carol")
    assert reg.champion("ensemble").version == 1
    reg.record_evaluation("ensemble", 2, {"ic_mean": 0.06, "rmse": 0.010} | WINDOW)
    promoted = reg.promote("ensemble", 2, user="carol", note="better IC on 2010-2016")
    assert (promoted.role, promoted.approval) == ("champion", "approved")
    assert reg.get("ensemble", 1).role == "retired"
    actions = [e.payload["action"] for e in reg.audit.entries(kind="model_change")]
    assert actions == ["register", "register", "evaluate", "evaluate", "promotion_refused", "evaluate", "promote"]
    assert reg.audit.entries()[-1].user == "carol"
    assert reg.audit.verify().ok
