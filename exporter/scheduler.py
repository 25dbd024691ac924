"""Scheduled sweeps: APScheduler 3.x BackgroundScheduler, one job per configured schedule.

Each job only asks the :class:`~exporter.coordinator.Coordinator` to start a sweep (it returns at
once; the sweep runs on the coordinator's thread), so APScheduler's own ``max_instances=1`` never
trips. Misfires are coalesced into one run; a run missed by more than its grace time, or one that
finds a sweep running, is recorded in the history as ``skipped`` with the reason and logged —
never silently dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from exporter.coordinator import AlreadyRunning, Coordinator, new_sweep_id
from exporter.errors import NetbenchError
from exporter.exporter_settings import ScheduleSpec
from exporter.store import Store
from exporter.sweep import SweepRequest, Trigger

log = logging.getLogger(__name__)


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_day_of_week(field: str) -> str:
    """Crontab numbers weekdays from Sunday = 0 (or 7); APScheduler 3 from Monday = 0.
    Translate digits to names so ``0 3 * * 0`` means Sunday, as in crontab."""
    # A range from Sunday = 0 would run backwards in Monday-first numbering: split it.
    field = re.sub(r"(?<![/\d])0-([1-7])(?![\d/])", r"0,1-\1", field)
    return re.sub(r"(?<![/\d])[0-7](?!\d)", lambda m: _CRON_DAYS[int(m.group())], field)


def cron_trigger(expr: str, timezone: str, jitter: int | None = None) -> CronTrigger:
    """A five-field crontab expression (minute hour day month weekday) with jitter."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_day_of_week(weekday),
        timezone=timezone,
        jitter=jitter,
    )


def make_trigger(spec: ScheduleSpec, timezone: str) -> CronTrigger | IntervalTrigger:
    jitter = spec.jitter_seconds or None
    if spec.cron is not None:
        return cron_trigger(spec.cron, timezone, jitter)
    assert spec.interval_seconds is not None
    return IntervalTrigger(seconds=spec.interval_seconds, timezone=timezone, jitter=jitter)


class SweepScheduler:
    """Owns the BackgroundScheduler; ``scheduler`` is injectable for tests."""

    def __init__(
        self,
        coordinator: Coordinator,
        store: Store,
        schedules: Sequence[ScheduleSpec],
        *,
        timezone: str,
        cluster: str,
        target: str,
        scheduler: BackgroundScheduler | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.store = store
        self.cluster = cluster
        self.target = target
        self.scheduler = scheduler or BackgroundScheduler(timezone=timezone)
        self._profiles: dict[str, str] = {}
        for i, spec in enumerate(schedules):
            job_id = f"schedule-{i}-{spec.profile}"
            self._profiles[job_id] = spec.profile
            self.scheduler.add_job(
                self.run_profile,
                trigger=make_trigger(spec, timezone),
                args=(spec.profile,),
                id=job_id,
                name=f"sweep {spec.profile}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=spec.misfire_grace_seconds,
                replace_existing=True,
            )
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    def start(self) -> None:
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("schedule %s: next run %s", job.id, job.next_run_time)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    def run_profile(self, profile: str) -> str | None:
        """The job: start ``profile`` now, or record why it could not start."""
        try:
            sweep_id = self.coordinator.try_start(
                SweepRequest(profile=profile, trigger=Trigger.SCHEDULE)
            )
        except AlreadyRunning as err:
            self._skip(profile, f"sweep {err.running_id} was running")
            return None
        except NetbenchError as err:
            self._skip(profile, str(err))
            return None
        return sweep_id

    def _skip(self, profile: str, reason: str) -> None:
        sweep_id = new_sweep_id()
        log.warning(
            "sweep %s: scheduled %s run skipped: %s",
            sweep_id,
            profile,
            reason,
            extra={"sweep_id": sweep_id},
        )
        try:
            self.store.record_skipped(
                sweep_id,
                cluster=self.cluster,
                target=self.target,
                profile=profile,
                trigger=str(Trigger.SCHEDULE),
                reason=reason,
            )
        except Exception:
            log.exception("could not record the skipped run")

    def _on_event(self, event: Any) -> None:
        if not isinstance(event, JobExecutionEvent):
            return
        profile = self._profiles.get(event.job_id, event.job_id)
        if event.code == EVENT_JOB_MISSED:
            self._skip(
                profile,
                f"missed its start at {event.scheduled_run_time} by more than the misfire grace",
            )
        elif event.exception is not None:
            log.error("schedule %s failed: %r", event.job_id, event.exception)
