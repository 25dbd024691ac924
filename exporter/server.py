"""``netbench serve``: the long-running exporter, wired together and run under uvicorn.

Start: open the history, janitor (sweeps a dead process left ``running`` are marked aborted;
on the lab target, labs whose owner is gone are removed), retention, scheduler, HTTP server.
SIGTERM/SIGINT: cancel the running sweep at once, stop taking requests, wait for the sweep to
clean up (bounded by ``exporter.shutdown_timeout_seconds``), close the history, exit 0.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from exporter.api import create_app
from exporter.coordinator import Coordinator, Runner
from exporter.exporter_settings import token_provider
from exporter.metrics import NetbenchCollector
from exporter.scheduler import SweepScheduler
from exporter.settings import Settings
from exporter.store import Store
from exporter.sweep import SweepRequest

log = logging.getLogger(__name__)

LabClean = Callable[[Path], object]
"""Removes every lab under a state directory whose owner process is gone."""

_DAY = 86400.0
_METRICS_CACHE_SECONDS = 10
"""/metrics is re-rendered after any history write, and at least this often (stale cut-off)."""


# --------------------------------------------------------------------------------------------
# Logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and sweep_id when known."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        sweep_id = getattr(record, "sweep_id", None)
        if sweep_id is not None:
            doc["sweep_id"] = sweep_id
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # apscheduler logs every job run at INFO; ours already says what happened.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


# --------------------------------------------------------------------------------------------
# Wiring


@dataclass
class Exporter:
    settings: Settings
    store: Store
    coordinator: Coordinator
    scheduler: SweepScheduler
    registry: CollectorRegistry
    app: FastAPI

    def close(self, timeout: float) -> bool:
        """Stop scheduling, cancel and wait for the running sweep, close the history."""
        self.scheduler.shutdown()
        done = self.coordinator.shutdown(timeout)
        self.store.close()
        return done


def default_runner(settings: Settings) -> tuple[Runner, Callable[[SweepRequest], object]]:
    """The real runner and its request validation. On Kubernetes without a configured datapath
    the plan resolver detects it from the cluster (kube-system ConfigMaps); the Kubernetes
    target runs its own janitor (journal revert, objects by label) as each sweep starts."""
    from exporter.sweep import SweepRunner
    from exporter.targets.factory import plan_resolver_for, target_factory_for

    resolve = plan_resolver_for(settings)
    runner = SweepRunner(settings, target_factory_for(settings), resolve)
    return runner, lambda request: resolve(settings, request)


def default_lab_clean(state_dir: Path) -> object:
    """``exporter.targets.lab.lab_clean``, looked up at call time (another module's)."""
    lab = importlib.import_module("exporter.targets.lab")
    clean: LabClean = lab.lab_clean
    return clean(state_dir)


def janitor(settings: Settings, store: Store, lab_clean: LabClean | None) -> list[str]:
    """What a dead process left: its sweeps marked aborted, its labs removed."""
    aborted = store.mark_running_as_aborted()
    for sweep_id in aborted:
        log.warning(
            "sweep %s: marked aborted (the previous exporter died)",
            sweep_id,
            extra={"sweep_id": sweep_id},
        )
    if settings.target == "lab" and lab_clean is not None:
        try:
            report = lab_clean(settings.lab.state_dir)
            log.info("janitor: lab clean-up under %s: %s", settings.lab.state_dir, report)
        except Exception:
            log.exception("janitor: lab clean-up under %s failed", settings.lab.state_dir)
    return aborted


def build(
    settings: Settings,
    *,
    runner: Runner,
    validate: Callable[[SweepRequest], object] | None = None,
    store: Store | None = None,
    token: Callable[[], str | None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Exporter:
    """Everything but the janitor and the HTTP server (tests use this directly)."""
    cfg = settings.exporter
    store = store if store is not None else Store(cfg.db_path, clock=clock)

    def retention(_sweep_id: str) -> None:
        deleted = store.prune(
            max_age_seconds=cfg.retention_days * _DAY, keep_last=cfg.retention_keep_last
        )
        if deleted:
            log.info("retention: deleted %d old sweeps", deleted)

    coordinator = Coordinator(
        store,
        runner,
        cluster=settings.cluster,
        target=settings.target,
        validate=validate,
        on_finished=retention,
        clock=clock,
    )
    scheduler = SweepScheduler(
        coordinator,
        store,
        cfg.schedules,
        timezone=cfg.timezone,
        cluster=settings.cluster,
        target=settings.target,
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        NetbenchCollector(
            store,
            cluster=settings.cluster,
            series_max_age_seconds=cfg.series_max_age_seconds,
            clock=clock,
            progress=lambda: coordinator.progress,
        )
    )
    app = create_app(
        settings=settings,
        store=store,
        coordinator=coordinator,
        registry=registry,
        token=token if token is not None else token_provider(cfg),
        clock=clock,
        ready=lambda: scheduler.running,
        metrics_key=lambda: (store.generation, int(clock() // _METRICS_CACHE_SECONDS)),
    )
    return Exporter(settings, store, coordinator, scheduler, registry, app)


class _Server(uvicorn.Server):
    """uvicorn, but a stop signal cancels the running sweep at once (not after the HTTP
    server has drained), so the sweep's clean-up runs while uvicorn shuts down."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], object]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            self._on_exit()
        finally:
            super().handle_exit(sig, frame)


def run(
    settings: Settings,
    *,
    host: str | None,
    port: int | None,
    runner: Runner | None = None,
    validate: Callable[[SweepRequest], object] | None = None,
    lab_clean: LabClean | None = default_lab_clean,
) -> int:
    """Run the exporter until SIGTERM/SIGINT. ``runner`` defaults to the real SweepRunner."""
    cfg = settings.exporter
    configure_logging(cfg.log_format, cfg.log_level)
    if runner is None:
        runner, validate = default_runner(settings)
    exporter = build(settings, runner=runner, validate=validate)
    janitor(settings, exporter.store, lab_clean)
    exporter.store.prune(
        max_age_seconds=cfg.retention_days * _DAY, keep_last=cfg.retention_keep_last
    )
    bind_host = host if host is not None else cfg.host
    bind_port = port if port is not None else cfg.port
    config = uvicorn.Config(
        exporter.app,
        host=bind_host,
        port=bind_port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, exporter.coordinator.cancel_running)
    # uvicorn re-raises the stop signal once it has shut down; catch it here so the sweep's
    # clean-up and the history's close still run (then exit 0, as for any orderly stop).
    stopped: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        stopped.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
    exporter.scheduler.start()
    log.info(
        "netbench exporter for cluster %s (%s target) on %s:%d, history %s",
        settings.cluster,
        settings.target,
        bind_host,
        bind_port,
        cfg.db_path,
    )
    try:
        server.run()
    finally:
        done = exporter.close(cfg.shutdown_timeout_seconds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("netbench exporter stopped%s", "" if done else " (a sweep did not stop in time)")
    if not server.started:
        return 1  # could not bind
    return 0


def serve(settings: Settings, *, host: str | None, port: int | None) -> int:
    """Entry point of ``netbench serve`` (see exporter.cli.cmd_serve)."""
    return run(settings, host=host, port=port)
