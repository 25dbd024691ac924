"""The sweep runner: scenarios x rounds x datapaths, interleaved, into a SweepResult.

Contract used by the CLI and the exporter. The runner reports progress through an injected
callback so the exporter can persist each scenario outcome as soon as it exists (a sweep killed
midway loses nothing that finished).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.model import ScenarioOutcome, SweepResult


class Trigger(StrEnum):
    CLI = "cli"
    SCHEDULE = "schedule"
    API = "api"


@dataclass(frozen=True)
class SweepRequest:
    """What to run. ``None`` means: take it from the profile / settings."""

    profile: str = "quick"
    trigger: Trigger = Trigger.CLI
    scenarios: tuple[str, ...] | None = None
    datapaths: tuple[str, ...] | None = None
    rounds: int | None = None
    iperf_seconds: float | None = None
    http_seconds: float | None = None
    scale_steps: tuple[int, ...] | None = None


class EventKind(StrEnum):
    STARTED = "started"
    STEP = "step"
    """A log-worthy step (e.g. 'throughput pod2pod x8 on iptables, round 2/3')."""
    OUTCOME = "outcome"
    """A scenario finished on one datapath; ``outcome`` is set."""
    FINISHED = "finished"


@dataclass(frozen=True)
class SweepEvent:
    sweep_id: str
    kind: EventKind
    progress: float
    """Fraction of the planned work done, 0..1."""
    message: str = ""
    outcome: ScenarioOutcome | None = None
    result: SweepResult | None = field(default=None, repr=False)
    """Set on FINISHED."""


EventSink = Callable[[SweepEvent], None]
