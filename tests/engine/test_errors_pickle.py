"""Engine errors cross a process boundary whole: pickled and unpickled, they keep their class,
message and details (the default pickling of an exception would call ``cls(*args)`` and lose them)."""

from __future__ import annotations

import pickle

import pytest

from engine.errors import Cancelled, DataError, InsufficientData, InvalidRequest, SolverError
from engine.governance.registry import PromotionRefused
from engine.pipeline.approval import ApprovalRefused
from engine.pipeline.store import RunNotFound


@pytest.mark.parametrize("error", [
    InvalidRequest("2 invalid fields", [{"loc": ["portfolio", "cash"], "msg": "must be ≥ 0", "type": "value_error"},
                                        {"loc": ["policy"], "msg": "bad", "type": "value_error"}]),
    DataError("not a number", file="prices.csv", row=7, column="close"),
    InsufficientData("1 return period(s)", [{"loc": ["history"], "msg": "at least 2", "type": "insufficient_data"}]),
    SolverError("solver stopped at its iteration limit"),
    Cancelled("Monte Carlo run cancelled"),
    ApprovalRefused("the run is blocked"),
    RunNotFound("no run 'abc'"),
    PromotionRefused("no skill"),
])
def test_engine_errors_survive_pickling(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert (str(back), back.args, back.to_dict()) == (str(error), error.args, error.to_dict())
    assert vars(back) == vars(error)
