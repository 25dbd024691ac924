"""Settings of the long-running exporter (``netbench serve``): HTTP, API, schedule, history.

Shapes and defaults only, like :mod:`exporter.settings`; :mod:`exporter.config` will load them
from YAML and the environment and attach them to ``Settings``. Units are in the field names or
docstrings: seconds unless stated otherwise.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_ENV = "NETBENCH_API_TOKEN"
"""Environment variable holding the bearer token of the trigger API."""


@dataclass(frozen=True)
class SweepBounds:
    """What an on-demand request may override, and how far (``POST /api/v1/sweeps``)."""

    max_rounds: int = 10
    min_duration_seconds: float = 1.0
    """Lower bound of ``iperf_seconds`` and ``http_seconds`` overrides."""
    max_duration_seconds: float = 600.0
    """Upper bound of ``iperf_seconds`` and ``http_seconds`` overrides."""
    max_scale_steps: int = 8
    """How many Service-scale steps a request may list."""
    max_scale_services: int = 100_000
    """Largest Service-scale step a request may ask for."""


@dataclass(frozen=True)
class ScheduleSpec:
    """One scheduled profile. Exactly one of ``cron`` and ``interval_seconds`` is set."""

    profile: str
    cron: str | None = None
    """Five-field crontab expression (minute hour day month weekday), in ``timezone``."""
    interval_seconds: float | None = None
    jitter_seconds: int = 0
    """Random delay of up to this many seconds added to each run (spreads clusters apart)."""
    misfire_grace_seconds: int = 600
    """A run missed by less than this (process busy or paused) still runs, coalesced to one."""

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError(f"schedule {self.profile!r}: set exactly one of cron, interval")
        if self.interval_seconds is not None and self.interval_seconds <= 0:
            raise ValueError(f"schedule {self.profile!r}: interval must be > 0")
        if self.jitter_seconds < 0 or self.misfire_grace_seconds < 1:
            raise ValueError(f"schedule {self.profile!r}: jitter >= 0 and misfire grace >= 1")


def default_schedules() -> tuple[ScheduleSpec, ...]:
    """DESIGN's profiles: ``quick`` hourly, ``full`` weekly (Sunday 03:00)."""
    return (
        ScheduleSpec("quick", interval_seconds=3600.0, jitter_seconds=300),
        ScheduleSpec("full", cron="0 3 * * 0", jitter_seconds=1800, misfire_grace_seconds=3600),
    )


@dataclass(frozen=True)
class ExporterSettings:
    """Everything ``netbench serve`` needs beyond what a sweep needs."""

    host: str = "0.0.0.0"
    """Listen address of the HTTP server (metrics and API share one port). In a pod the
    Prometheus scraper comes from outside, hence all interfaces; tests bind 127.0.0.1."""
    port: int = 9101
    db_path: Path = Path("/var/lib/netbench/netbench.db")
    """SQLite history (WAL mode: ``-wal`` and ``-shm`` files live next to it)."""

    api_token: str | None = field(default=None, repr=False)
    """Bearer token of the trigger API, given directly (tests). Prefer env or file."""
    api_token_env: str = TOKEN_ENV
    api_token_file: Path | None = None
    """A mounted Secret file holding the token; re-read on each request (rotation works)."""
    allow_unauthenticated_trigger: bool = False
    """With no token configured, triggering is refused (403) unless this is true."""
    on_demand_cooldown_seconds: float = 300.0
    """Minimum time between the starts of two on-demand sweeps (429 + Retry-After inside)."""
    bounds: SweepBounds = field(default_factory=SweepBounds)

    schedules: tuple[ScheduleSpec, ...] = field(default_factory=default_schedules)
    timezone: str = "UTC"
    """Time zone of cron schedules."""

    retention_days: float = 30.0
    """Finished sweeps older than this are deleted (with their outcomes and errors)."""
    retention_keep_last: int = 1000
    """At most this many finished sweeps are kept (the newest)."""
    series_max_age_seconds: float = 8 * 24 * 3600.0
    """A value series whose latest successful measurement is older than this is no longer
    published (so series of scenarios no longer run disappear). Default: a week plus a day,
    so the weekly ``full`` profile's series never blink."""

    shutdown_timeout_seconds: float = 20.0
    """On SIGTERM, how long to wait for the cancelled sweep to clean up before exiting
    (the whole exit stays under Kubernetes' default 30 s grace period)."""
    log_format: str = "text"
    """``text`` or ``json`` (one object per line)."""
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.log_format not in ("text", "json"):
            raise ValueError(f"log_format must be text or json, got {self.log_format!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        if self.on_demand_cooldown_seconds < 0 or self.series_max_age_seconds <= 0:
            raise ValueError("cooldown must be >= 0 and series_max_age_seconds > 0")
        if self.retention_days <= 0 or self.retention_keep_last < 1:
            raise ValueError("retention_days must be > 0 and retention_keep_last >= 1")


def token_provider(
    settings: ExporterSettings, env: Mapping[str, str] | None = None
) -> Callable[[], str | None]:
    """Where the API token comes from: settings, then the environment, then the mounted file.

    Returns a callable so a rotated Secret file is picked up without a restart. An empty token
    counts as none (an empty bearer must never authenticate).
    """
    environ = os.environ if env is None else env

    def provide() -> str | None:
        if settings.api_token:
            return settings.api_token
        from_env = environ.get(settings.api_token_env, "").strip()
        if from_env:
            return from_env
        if settings.api_token_file is not None:
            try:
                text = settings.api_token_file.read_text(encoding="utf-8").strip()
            except OSError as err:
                log.warning("cannot read API token file %s: %s", settings.api_token_file, err)
                text = ""
            # A configured but unreadable or empty file fails closed: nothing authenticates
            # (and "no token configured" must not open the trigger by accident).
            return text or secrets.token_hex(32)
        return None

    return provide
