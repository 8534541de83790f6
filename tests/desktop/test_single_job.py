"""SingleJob: one job at a time; ``ended`` before the answer; the basis travels with the result."""

from __future__ import annotations

import threading

import pytest

from desktop.workers import SingleJob


def test_one_job_at_a_time_ended_first_then_the_result_with_its_basis(qtbot) -> None:
    job = SingleJob()
    events: list[tuple] = []
    job.ended.connect(lambda: events.append(("ended", job.busy())))
    job.returned.connect(lambda result, basis: events.append(("returned", result, basis)))
    gate = threading.Event()

    def work(x: int) -> int:
        gate.wait(10)
        return x * 2

    assert job.start(work, 21, basis="portfolio A")
    assert job.busy() and not job.start(work, 1, basis="B")  # refused while one runs
    with qtbot.waitSignal(job.returned, timeout=10_000):
        gate.set()
    assert events == [("ended", False), ("returned", 42, "portfolio A")]
    job.shutdown()


def test_an_error_and_a_cancellation_reach_errored(qtbot) -> None:
    from engine.errors import Cancelled

    job = SingleJob()
    with qtbot.waitSignal(job.errored, timeout=10_000) as caught:
        job.start(lambda: 1 / 0)
    assert isinstance(caught.args[0], ZeroDivisionError) and not job.busy()

    started = threading.Event()

    def slow(*, progress, cancel) -> None:
        progress(0.5)
        started.set()
        while not cancel():
            started.wait(0.01)
        raise Cancelled("stopped")

    progress: list[float] = []
    job.progress.connect(progress.append)
    assert job.start(slow, cancellable=True)
    assert started.wait(10)
    with qtbot.waitSignal(job.errored, timeout=10_000) as caught:
        job.cancel()
    assert isinstance(caught.args[0], Cancelled) and progress == [pytest.approx(0.5)]
    job.shutdown()
