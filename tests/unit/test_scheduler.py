"""Scheduled sweeps: job options, triggers with jitter, skipped runs recorded, real firing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from exporter.config import load_settings
from exporter.coordinator import Coordinator
from exporter.errors import ConfigError
from exporter.exporter_settings import ScheduleSpec
from exporter.model import SweepResult, SweepStatus
from exporter.scheduler import SweepScheduler
from exporter.store import SKIPPED, Store
from exporter.sweep import EventKind, SweepEvent, SweepRequest


class HoldingRunner:
    """Holds each sweep until released (or cancelled)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests: list[SweepRequest] = []

    def run(
        self,
        request: SweepRequest,
        sweep_id: str,
        cancel: threading.Event,
        on_event: Callable[[SweepEvent], None],
    ) -> SweepResult:
        self.requests.append(request)
        result = SweepResult(
            id=sweep_id,
            target="lab",
            cluster="lab",
            profile=request.profile,
            trigger=str(request.trigger),
            datapaths=(),
            routing="native",
            scenarios=(),
            started_at=time.time(),
        )
        while not self.release.wait(0.02) and not cancel.is_set():
            pass
        result.status = SweepStatus.CANCELLED if cancel.is_set() else SweepStatus.SUCCEEDED
        result.finished_at = time.time()
        on_event(SweepEvent(sweep_id, EventKind.FINISHED, 1.0, "done", result=result))
        return result


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Store, HoldingRunner, Coordinator]]:
    store = Store(tmp_path / "h.db")
    runner = HoldingRunner()
    coordinator = Coordinator(store, runner, cluster="lab", target="lab")
    yield store, runner, coordinator
    coordinator.shutdown(5)
    store.close()


def make(parts: tuple[Store, HoldingRunner, Coordinator], *specs: ScheduleSpec) -> SweepScheduler:
    store, _, coordinator = parts
    return SweepScheduler(coordinator, store, specs, timezone="UTC", cluster="lab", target="lab")


def test_jobs_are_coalesced_single_instance_with_jitter(
    parts: tuple[Store, HoldingRunner, Coordinator],
) -> None:
    sched = make(
        parts,
        ScheduleSpec("quick", interval_seconds=3600, jitter_seconds=300),
        ScheduleSpec("full", cron="0 3 * * 0", jitter_seconds=1800, misfire_grace_seconds=3600),
    )
    jobs = {job.id: job for job in sched.scheduler.get_jobs()}
    assert set(jobs) == {"schedule-0-quick", "schedule-1-full"}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
    quick, full = jobs["schedule-0-quick"], jobs["schedule-1-full"]
    assert isinstance(quick.trigger, IntervalTrigger) and quick.trigger.jitter == 300
    assert isinstance(full.trigger, CronTrigger) and full.trigger.jitter == 1800
    assert full.misfire_grace_time == 3600
    sched.start()
    try:
        nxt = sched.next_runs()["schedule-1-full"]
        assert nxt is not None
        assert nxt.astimezone(UTC).weekday() == 6  # Sunday
    finally:
        sched.shutdown()


def test_a_run_that_finds_a_sweep_running_is_recorded_as_skipped(
    parts: tuple[Store, HoldingRunner, Coordinator],
) -> None:
    store, runner, coordinator = parts
    sched = make(parts)
    first = sched.run_profile("quick")
    assert first is not None
    assert sched.run_profile("full") is None
    skipped = [s for s in store.list_sweeps(limit=10)[0] if s.status == SKIPPED]
    assert len(skipped) == 1
    assert skipped[0].profile == "full" and skipped[0].trigger == "schedule"
    assert first in (skipped[0].error or "")
    runner.release.set()
    assert coordinator.wait(5)
    assert [r.trigger for r in runner.requests] == ["schedule"]


def test_a_missed_run_is_recorded_as_skipped(
    parts: tuple[Store, HoldingRunner, Coordinator],
) -> None:
    store, _, _ = parts
    sched = make(parts, ScheduleSpec("quick", interval_seconds=60))
    sched._on_event(
        JobExecutionEvent(
            EVENT_JOB_MISSED, "schedule-0-quick", "default", datetime(2026, 1, 1, tzinfo=UTC)
        )
    )
    [rec] = store.list_sweeps(limit=10)[0]
    assert rec.status == SKIPPED and "missed" in (rec.error or "")


def test_interval_job_really_fires_and_one_sweep_at_a_time(
    parts: tuple[Store, HoldingRunner, Coordinator],
) -> None:
    store, runner, _coordinator = parts
    sched = make(parts, ScheduleSpec("quick", interval_seconds=0.2))
    sched.start()
    try:
        deadline = time.monotonic() + 10
        while len(store.list_sweeps(limit=50)[0]) < 3:
            assert time.monotonic() < deadline, "the schedule did not fire"
            time.sleep(0.05)
    finally:
        sched.shutdown()
    statuses = [s.status for s in store.list_sweeps(limit=50)[0]]
    assert statuses.count("running") == 1
    assert statuses.count(SKIPPED) >= 2
    assert len(runner.requests) == 1


def test_schedules_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "exporter:\n"
        "  port: 9200\n"
        "  timezone: Europe/Paris\n"
        "  schedules:\n"
        "    - {profile: quick, interval_seconds: 600, jitter_seconds: 30}\n"
        "    - {profile: full, cron: '30 2 * * 6'}\n"
    )
    cfg = load_settings(path, {"NETBENCH_DB": str(tmp_path / "x.db")}).exporter
    assert cfg.port == 9200 and cfg.db_path == tmp_path / "x.db"
    assert [s.profile for s in cfg.schedules] == ["quick", "full"]
    assert cfg.schedules[1].cron == "30 2 * * 6"
    assert load_settings(None, {}).exporter.schedules  # DESIGN's defaults


@pytest.mark.parametrize(
    ("yaml", "key"),
    [
        ("exporter: {colour: 1}", "exporter.colour"),
        ("exporter: {schedules: [{profile: nope, interval_seconds: 1}]}", "profile"),
        ("exporter: {schedules: [{profile: quick, cron: 'not cron'}]}", "cron"),
        ("exporter: {schedules: [{profile: quick}]}", "exporter.schedules[0]"),
        ("exporter: {timezone: Mars/Base}", "exporter.timezone"),
        ("exporter: {bounds: {max_rounds: 0}}", "exporter.bounds.max_rounds"),
        ("exporter: {log_format: xml}", "exporter.log_format"),
        ("exporter: {port: 70000}", "exporter.port"),
    ],
)
def test_bad_exporter_config_names_the_key(tmp_path: Path, yaml: str, key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, {})
    assert key in err.value.key


def test_token_from_env_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"NETBENCH_API_TOKEN": " secret-with-space "})
    assert err.value.key == "NETBENCH_API_TOKEN"
    assert "secret" not in str(err.value)
    settings = load_settings(None, {"NETBENCH_API_TOKEN": "abc"})
    assert settings.exporter.api_token == "abc"
    assert "abc" not in repr(settings)
