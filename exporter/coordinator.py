"""One sweep at a time, whatever triggered it: a lock and a single worker thread.

The scheduler and the API both call :meth:`Coordinator.try_start`; it either starts the sweep
(recorded as ``running`` in the store before it returns, so its id is immediately queryable) or
raises :class:`AlreadyRunning` with the running sweep's id, or :class:`CoolingDown` when an
on-demand sweep started too recently. Runner events are persisted as they arrive: progress and
steps, each scenario outcome (so a sweep killed midway keeps what finished), then the result.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol, TypeVar

from exporter.errors import NetbenchError
from exporter.model import SweepResult, SweepStatus
from exporter.store import Store
from exporter.sweep import EventKind, SweepEvent, SweepRequest, Trigger

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Runner(Protocol):
    """What runs a sweep (``exporter.sweep.SweepRunner``, or a fake in tests)."""

    def run(
        self,
        request: SweepRequest,
        sweep_id: str,
        cancel: threading.Event,
        on_event: Callable[[SweepEvent], None],
    ) -> SweepResult: ...


class AlreadyRunning(NetbenchError):
    """A sweep is running; only one runs at a time."""

    def __init__(self, running_id: str) -> None:
        super().__init__(f"sweep {running_id} is running")
        self.running_id = running_id


class CoolingDown(NetbenchError):
    """An on-demand sweep started less than the configured cooldown ago."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"an on-demand sweep started recently; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


def request_dict(request: SweepRequest) -> dict[str, object]:
    """The request as stored with the sweep (what was asked, before profile defaults)."""
    return {k: v for k, v in dataclasses.asdict(request).items() if v is not None}


def new_sweep_id() -> str:
    return uuid.uuid4().hex[:12]


class Coordinator:
    """Starts sweeps on a single worker thread and persists what they report."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        *,
        cluster: str,
        target: str,
        validate: Callable[[SweepRequest], object] | None = None,
        on_finished: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        id_factory: Callable[[], str] = new_sweep_id,
    ) -> None:
        self.store = store
        self.runner = runner
        self.cluster = cluster
        self.target = target
        self.validate = validate
        """Raises ConfigError for a request that cannot run (called before anything starts)."""
        self.on_finished = on_finished
        self.clock = clock
        self.monotonic = monotonic
        self.id_factory = id_factory
        self._lock = threading.Lock()
        self._running_id: str | None = None
        self._running_profile = ""
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_on_demand: float | None = None
        """Monotonic start time of the last API-triggered sweep (this process)."""
        self._progress = 0.0
        self._closed = False

    # -- starting -------------------------------------------------------------------------

    def try_start(self, request: SweepRequest, *, cooldown_seconds: float = 0.0) -> str:
        """Start ``request`` and return its id; raise AlreadyRunning / CoolingDown otherwise.

        The cooldown applies to API-triggered requests only, counted from the previous
        API-triggered start (kept across restarts through the store)."""
        if self.validate is not None:
            self.validate(request)
        with self._lock:
            if self._closed:
                raise NetbenchError("the exporter is shutting down")
            if self._running_id is not None:
                raise AlreadyRunning(self._running_id)
            if request.trigger is Trigger.API and cooldown_seconds > 0:
                wait = self._cooldown_left(cooldown_seconds)
                if wait > 0:
                    raise CoolingDown(wait)
            sweep_id = self.id_factory()
            self.store.create_sweep(
                sweep_id,
                cluster=self.cluster,
                target=self.target,
                profile=request.profile,
                trigger=str(request.trigger),
                request=request_dict(request),
                started_at=self.clock(),
            )
            if request.trigger is Trigger.API:
                self._last_on_demand = self.monotonic()
            self._running_id = sweep_id
            self._running_profile = request.profile
            self._progress = 0.0
            self._cancel = threading.Event()
            self._thread = threading.Thread(
                target=self._work,
                args=(request, sweep_id, self._cancel),
                name=f"sweep-{sweep_id}",
                daemon=True,
            )
            self._thread.start()
        log.info(
            "sweep %s started: profile=%s trigger=%s",
            sweep_id,
            request.profile,
            request.trigger,
            extra={"sweep_id": sweep_id},
        )
        return sweep_id

    def _cooldown_left(self, cooldown: float) -> float:
        if self._last_on_demand is not None:
            elapsed = self.monotonic() - self._last_on_demand
        else:
            last = self.store.last_started(str(Trigger.API))
            if last is None:
                return 0.0
            elapsed = self.clock() - last
        return max(0.0, cooldown - max(elapsed, 0.0))

    @staticmethod
    def retry_after_header(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))

    # -- state ----------------------------------------------------------------------------

    @property
    def running_id(self) -> str | None:
        return self._running_id

    @property
    def progress(self) -> float:
        return self._progress

    def cancel(self, sweep_id: str) -> bool:
        """Ask the running sweep to stop. False if ``sweep_id`` is not the running one."""
        with self._lock:
            if self._running_id != sweep_id:
                return False
            self._cancel.set()
        log.info("sweep %s: cancel requested", sweep_id, extra={"sweep_id": sweep_id})
        return True

    def cancel_running(self) -> str | None:
        with self._lock:
            running = self._running_id
            if running is not None:
                self._cancel.set()
        if running is not None:
            log.info("sweep %s: cancel requested", running, extra={"sweep_id": running})
        return running

    def wait(self, timeout: float) -> bool:
        """Wait for the running sweep (if any) to end. True if nothing is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def shutdown(self, timeout: float) -> bool:
        """Refuse new sweeps, cancel the running one and wait up to ``timeout`` seconds for it
        to clean up. True if it ended in time."""
        with self._lock:
            self._closed = True
        self.cancel_running()
        done = self.wait(timeout)
        if not done:
            log.error("the running sweep did not stop within %.0f s", timeout)
        return done

    # -- the worker -----------------------------------------------------------------------

    def _work(self, request: SweepRequest, sweep_id: str, cancel: threading.Event) -> None:
        try:
            self.runner.run(request, sweep_id, cancel, self._on_event)
        except BaseException as err:  # a bug in the runner: the sweep still ends, recorded
            log.exception("sweep %s crashed", sweep_id, extra={"sweep_id": sweep_id})
            reason = f"{type(err).__name__}: {err}"
            self._safe(lambda: self.store.fail_sweep(sweep_id, str(SweepStatus.FAILED), reason))
        finally:
            # Whatever happened, the sweep must not stay 'running' in the history.
            record = self._safe(lambda: self.store.get_sweep(sweep_id))
            if record is not None and record.status == str(SweepStatus.RUNNING):
                status = SweepStatus.CANCELLED if cancel.is_set() else SweepStatus.FAILED
                self._safe(
                    lambda: self.store.fail_sweep(
                        sweep_id, str(status), "the runner ended without a result"
                    )
                )
            with self._lock:
                self._running_id = None
                self._running_profile = ""
            finished = self.on_finished
            if finished is not None:
                self._safe(lambda: finished(sweep_id))

    def _on_event(self, event: SweepEvent) -> None:
        extra = {"sweep_id": event.sweep_id}
        self._progress = event.progress
        if event.kind is EventKind.FINISHED and event.result is not None:
            result = event.result
            log.info(
                "sweep %s finished: %s%s",
                event.sweep_id,
                result.status,
                f" ({result.error})" if result.error else "",
                extra=extra,
            )
            self._safe(lambda: self.store.finish_sweep(result))
            return
        log.info(
            "sweep %s [%3.0f%%] %s",
            event.sweep_id,
            event.progress * 100,
            event.message,
            extra=extra,
        )
        if event.kind is EventKind.OUTCOME and event.outcome is not None:
            outcome = event.outcome
            self._safe(lambda: self.store.record_outcome(event.sweep_id, self.cluster, outcome))
        self._safe(
            lambda: self.store.update_progress(event.sweep_id, event.progress, event.message)
        )

    @staticmethod
    def _safe(action: Callable[[], _T]) -> _T | None:
        """A failing history write must not kill the sweep (or the worker's clean-up)."""
        try:
            return action()
        except Exception:
            log.exception("could not write the sweep history")
            return None
