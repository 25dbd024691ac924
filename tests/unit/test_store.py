"""The SQLite history: outcomes as they finish, latest results, restarts, retention, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.store import SKIPPED, Store


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def measurement(
    scenario: str, datapath: str, metric: str, values: list[float], **labels: str
) -> Measurement:
    return Measurement(
        scenario=scenario,
        datapath=datapath,
        metric=metric,
        labels=labels_of(labels),
        values=tuple(values),
        summary=Summary.of(values),
    )


def ok(scenario: str, datapath: str, at: float, *ms: Measurement) -> ScenarioOutcome:
    return ScenarioOutcome(scenario, datapath, True, ms, finished_at=at)


def failed(scenario: str, datapath: str, at: float, error: str = "boom") -> ScenarioOutcome:
    return ScenarioOutcome(scenario, datapath, False, error=error, finished_at=at)


def rps(datapath: str, values: list[float], connection: str = "short") -> Measurement:
    return measurement(
        "http_rps",
        datapath,
        "http_requests_per_second",
        values,
        path="service",
        connection=connection,
        concurrency="64",
        tool="hey",
    )


def result(
    sweep_id: str, *outcomes: ScenarioOutcome, status: SweepStatus, started_at: float = 100.0
) -> SweepResult:
    return SweepResult(
        id=sweep_id,
        target="lab",
        cluster="lab",
        profile="quick",
        trigger="api",
        datapaths=("iptables", "nftables"),
        routing="native",
        scenarios=("http_rps",),
        started_at=started_at,
        finished_at=started_at + 60.0,
        status=status,
        outcomes=list(outcomes),
        info={"iptables": {"kube_proxy_mode": "iptables"}},
        settings={"rounds": 3},
    )


def start(store: Store, sweep_id: str, trigger: str = "api", profile: str = "quick") -> None:
    store.create_sweep(
        sweep_id, cluster="lab", target="lab", profile=profile, trigger=trigger, started_at=100.0
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(tmp_path / "history.db", clock=clock)
    yield s  # type: ignore[misc]
    s.close()


def test_wal_mode(store: Store) -> None:
    assert store.journal_mode() == "wal"
    assert store.ping()


def test_outcomes_are_kept_with_every_summary_field(store: Store) -> None:
    start(store, "s1")
    m = rps("iptables", [10.0, 12.0, 11.0])
    assert store.record_outcome("s1", "lab", ok("http_rps", "iptables", 150.0, m))
    assert not store.record_outcome("s1", "lab", ok("http_rps", "iptables", 150.0, m))
    [outcome] = store.outcomes("s1")
    [rec] = outcome.measurements
    assert rec.summary == m.summary
    assert rec.samples == (10.0, 12.0, 11.0)
    assert rec.labels == m.labels
    [latest] = store.latest_measurements("lab", since=0)
    assert latest.summary.value == 11.0


def test_failed_latest_outcome_hides_the_series_but_keeps_last_success(store: Store) -> None:
    start(store, "s1")
    store.record_outcome("s1", "lab", ok("http_rps", "iptables", 150.0, rps("iptables", [5.0])))
    start(store, "s2")
    store.record_outcome("s2", "lab", failed("http_rps", "iptables", 250.0))
    assert store.latest_measurements("lab", since=0) == []
    [lo] = store.latest_outcomes("lab")
    assert (lo.success, lo.finished_at, lo.last_success_at, lo.sweep_id) == (
        False,
        250.0,
        150.0,
        "s2",
    )
    assert [e.message for e in store.errors("s2")] == ["boom"]


def test_late_older_outcome_does_not_replace_newer(store: Store) -> None:
    start(store, "s1")
    store.record_outcome("s1", "lab", failed("http_rps", "iptables", 300.0))
    start(store, "s2")
    store.record_outcome("s2", "lab", ok("http_rps", "iptables", 200.0, rps("iptables", [5.0])))
    [lo] = store.latest_outcomes("lab")
    assert (lo.success, lo.finished_at, lo.last_success_at) == (False, 300.0, 200.0)


def test_never_succeeded_has_no_last_success(store: Store) -> None:
    start(store, "s1")
    store.record_outcome("s1", "lab", failed("latency", "ebpf", 150.0))
    [lo] = store.latest_outcomes("lab")
    assert lo.last_success_at is None


def test_finish_sweep_counts_and_info(store: Store) -> None:
    start(store, "s1")
    out = ok("http_rps", "iptables", 150.0, rps("iptables", [5.0]))
    store.record_outcome("s1", "lab", out)
    store.finish_sweep(result("s1", out, status=SweepStatus.SUCCEEDED))
    rec = store.get_sweep("s1")
    assert rec is not None
    assert (rec.status, rec.progress, rec.duration_seconds) == ("succeeded", 1.0, 60.0)
    assert rec.settings == {"rounds": 3}
    [count] = store.sweep_counts()
    assert (count.profile, count.trigger, count.status, count.count) == (
        "quick",
        "api",
        "succeeded",
        1,
    )
    assert count.last_duration_seconds == 60.0
    assert store.datapath_info("lab", since=0) == {"iptables": {"kube_proxy_mode": "iptables"}}
    # Finishing twice is a no-op (the counter must not double count).
    store.finish_sweep(result("s1", out, status=SweepStatus.SUCCEEDED))
    assert store.sweep_counts()[0].count == 1


def test_restart_keeps_results_and_janitor_marks_running_aborted(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "h.db"
    first = Store(path, clock=clock)
    start(first, "done")
    out = ok("http_rps", "iptables", 150.0, rps("iptables", [7.0]))
    first.record_outcome("done", "lab", out)
    first.finish_sweep(result("done", out, status=SweepStatus.SUCCEEDED))
    start(first, "dead")
    first.record_outcome("dead", "lab", ok("http_rps", "nftables", 170.0, rps("nftables", [9.0])))
    # no close(): the process "dies"
    second = Store(path, clock=clock)
    assert second.mark_running_as_aborted() == ["dead"]
    assert second.mark_running_as_aborted() == []
    dead = second.get_sweep("dead")
    assert dead is not None and dead.status == "aborted"
    values = {m.datapath: m.summary.value for m in second.latest_measurements("lab", since=0)}
    assert values == {"iptables": 7.0, "nftables": 9.0}
    statuses = {(c.status, c.count) for c in second.sweep_counts()}
    assert statuses == {("succeeded", 1), ("aborted", 1)}
    second.close()
    first.close()


def test_paging_newest_first(store: Store, clock: Clock) -> None:
    for i in range(5):
        store.create_sweep(
            f"s{i}", cluster="lab", target="lab", profile="quick", trigger="api", started_at=i
        )
    page, total = store.list_sweeps(limit=2, offset=1)
    assert total == 5
    assert [r.id for r in page] == ["s3", "s2"]


def test_skipped_runs_are_recorded_and_counted(store: Store) -> None:
    store.record_skipped(
        "k1", cluster="lab", target="lab", profile="full", trigger="schedule", reason="busy"
    )
    rec = store.get_sweep("k1")
    assert rec is not None and rec.status == SKIPPED and rec.error == "busy"
    assert store.last_started("schedule") is None
    assert [(c.status, c.count) for c in store.sweep_counts()] == [(SKIPPED, 1)]


def test_retention_by_age_and_count_rebuilds_latest(store: Store, clock: Clock) -> None:
    for i, at in enumerate((10.0, 20.0, 30.0, 40.0)):
        sid = f"s{i}"
        store.create_sweep(
            sid, cluster="lab", target="lab", profile="quick", trigger="api", started_at=at
        )
        out = ok("http_rps", "iptables", at + 1, rps("iptables", [at]))
        store.record_outcome(sid, "lab", out)
        store.finish_sweep(result(sid, out, status=SweepStatus.SUCCEEDED, started_at=at))
    start(store, "running")  # running sweeps are never pruned
    assert store.prune(max_age_seconds=1e9, keep_last=2) == 2
    assert {r.id for r in store.list_sweeps(limit=10)[0]} == {"s2", "s3", "running"}
    clock.now = 45.0
    assert store.prune(max_age_seconds=10.0, keep_last=100) == 1  # s2 started before 35
    ids = {r.id for r in store.list_sweeps(limit=10)[0]}
    assert ids == {"s3", "running"}
    [latest] = store.latest_measurements("lab", since=0)
    assert latest.summary.value == 40.0
    # The counter never goes down.
    assert store.sweep_counts()[0].count == 4


def test_concurrent_writers_and_readers(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            sid = f"w{n}"
            start(store, sid)
            for i in range(10):
                dp = f"dp{i}"
                store.record_outcome(sid, "lab", ok("http_rps", dp, 100.0 + n, rps(dp, [n + 1.0])))
                store.update_progress(sid, i / 10, f"step {i}")
                store.latest_measurements("lab", since=0)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(store.latest_measurements("lab", since=0)) == 10
