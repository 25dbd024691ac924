"""The coordinator: one sweep at a time, events persisted as they arrive, cancel, crashes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporter.coordinator import AlreadyRunning, CoolingDown, Coordinator
from exporter.errors import ConfigError
from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.store import Store
from exporter.sweep import EventKind, SweepEvent, SweepRequest, Trigger


def outcome(scenario: str, datapath: str, value: float) -> ScenarioOutcome:
    m = Measurement(
        scenario=scenario,
        datapath=datapath,
        metric="http_requests_per_second",
        labels=labels_of({"path": "service", "connection": "short", "tool": "hey"}),
        values=(value, value + 1),
        summary=Summary.of([value, value + 1]),
    )
    return ScenarioOutcome(scenario, datapath, True, (m,), finished_at=time.time())


class SteppedRunner:
    """Emits one outcome each time ``step`` is released; honours cancel; may crash."""

    def __init__(self, outcomes: int = 2, crash: bool = False) -> None:
        self.outcomes = outcomes
        self.crash = crash
        self.step = threading.Semaphore(0)
        self.started = threading.Event()

    def run(
        self,
        request: SweepRequest,
        sweep_id: str,
        cancel: threading.Event,
        on_event: Callable[[SweepEvent], None],
    ) -> SweepResult:
        result = SweepResult(
            id=sweep_id,
            target="lab",
            cluster="lab",
            profile=request.profile,
            trigger=str(request.trigger),
            datapaths=("iptables",),
            routing="native",
            scenarios=("http_rps",),
            started_at=time.time(),
        )
        on_event(SweepEvent(sweep_id, EventKind.STARTED, 0.0, "started"))
        self.started.set()
        if self.crash:
            raise RuntimeError("runner bug")
        try:
            for i in range(self.outcomes):
                while not self.step.acquire(timeout=0.02):
                    if cancel.is_set():
                        result.status = SweepStatus.CANCELLED
                        result.error = "cancelled"
                        return result
                o = outcome("http_rps", f"dp{i}", 100.0 * (i + 1))
                result.outcomes.append(o)
                on_event(SweepEvent(sweep_id, EventKind.OUTCOME, (i + 1) / self.outcomes, "x", o))
            result.status = SweepStatus.SUCCEEDED
            return result
        finally:
            result.finished_at = time.time()
            on_event(SweepEvent(sweep_id, EventKind.FINISHED, 1.0, "done", result=result))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "h.db")
    yield s
    s.close()


def coordinator(store: Store, runner: SteppedRunner, **kw: object) -> Coordinator:
    return Coordinator(store, runner, cluster="lab", target="lab", **kw)  # type: ignore[arg-type]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_one_at_a_time_and_outcomes_persist_as_they_arrive(store: Store) -> None:
    runner = SteppedRunner(outcomes=2)
    c = coordinator(store, runner)
    sid = c.try_start(SweepRequest(profile="quick", trigger=Trigger.API))
    record = store.get_sweep(sid)
    assert record is not None and record.status == "running"
    with pytest.raises(AlreadyRunning) as err:
        c.try_start(SweepRequest(trigger=Trigger.SCHEDULE))
    assert err.value.running_id == sid
    runner.step.release()
    wait_for(lambda: len(store.outcomes(sid)) == 1)
    assert store.get_sweep(sid).progress == pytest.approx(0.5)  # type: ignore[union-attr]
    runner.step.release()
    assert c.wait(5)
    record = store.get_sweep(sid)
    assert record is not None and record.status == "succeeded"
    assert c.running_id is None
    assert len(store.latest_measurements("lab", since=0)) == 2
    # free again
    runner.step.release()
    runner.step.release()
    second = c.try_start(SweepRequest())
    assert second != sid
    assert c.wait(5)


def test_cancel(store: Store) -> None:
    runner = SteppedRunner(outcomes=3)
    c = coordinator(store, runner)
    sid = c.try_start(SweepRequest())
    runner.step.release()
    wait_for(lambda: len(store.outcomes(sid)) == 1)
    assert not c.cancel("someone-else")
    assert c.cancel(sid)
    assert c.wait(5)
    record = store.get_sweep(sid)
    assert record is not None and record.status == "cancelled"
    assert len(store.outcomes(sid)) == 1  # what finished is kept


def test_runner_crash_is_recorded_and_frees_the_slot(store: Store) -> None:
    c = coordinator(store, SteppedRunner(crash=True))
    sid = c.try_start(SweepRequest())
    assert c.wait(5)
    record = store.get_sweep(sid)
    assert record is not None and record.status == "failed"
    assert "RuntimeError: runner bug" in (record.error or "")
    assert c.running_id is None


def test_validation_happens_before_anything_starts(store: Store) -> None:
    def validate(request: SweepRequest) -> None:
        raise ConfigError("profile", "unknown profile")

    c = coordinator(store, SteppedRunner(), validate=validate)
    with pytest.raises(ConfigError):
        c.try_start(SweepRequest(profile="nope"))
    assert store.list_sweeps(limit=10)[1] == 0


def test_cooldown_applies_to_api_only_and_survives_restart(store: Store) -> None:
    runner = SteppedRunner(outcomes=0)
    c = coordinator(store, runner)
    c.try_start(SweepRequest(trigger=Trigger.API), cooldown_seconds=60)
    assert c.wait(5)
    with pytest.raises(CoolingDown) as err:
        c.try_start(SweepRequest(trigger=Trigger.API), cooldown_seconds=60)
    assert 0 < err.value.retry_after <= 60
    c.try_start(SweepRequest(trigger=Trigger.SCHEDULE), cooldown_seconds=60)
    assert c.wait(5)
    # a new process: the last API start comes from the history
    fresh = coordinator(store, runner)
    with pytest.raises(CoolingDown):
        fresh.try_start(SweepRequest(trigger=Trigger.API), cooldown_seconds=60)


def test_shutdown_cancels_and_refuses_new_sweeps(store: Store) -> None:
    runner = SteppedRunner(outcomes=5)
    finished: list[str] = []
    c = coordinator(store, runner, on_finished=finished.append)
    sid = c.try_start(SweepRequest())
    runner.started.wait(5)
    assert c.shutdown(5)
    assert finished == [sid]
    record = store.get_sweep(sid)
    assert record is not None and record.status == "cancelled"
    with pytest.raises(Exception, match="shutting down"):
        c.try_start(SweepRequest())


def test_concurrent_try_start_starts_exactly_one(store: Store) -> None:
    runner = SteppedRunner(outcomes=1)
    c = coordinator(store, runner)
    started: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(20)

    def attempt() -> None:
        barrier.wait(5)
        try:
            started.append(c.try_start(SweepRequest()))
        except AlreadyRunning as err:
            refused.append(err.running_id)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(started) == 1
    assert refused == started * 19
    runner.step.release()
    assert c.wait(5)
