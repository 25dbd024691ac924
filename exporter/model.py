"""Measurements, their statistics, and sweep results: the data every layer passes around.

A scenario produces :class:`Sample` objects, one number per round. The sweep runner groups the
samples of all rounds by series (datapath, metric, labels) into a :class:`Measurement`, whose
published value is the median of the rounds (:class:`Summary`). Units are base units throughout:
seconds, bytes, bytes per second, requests per second, ratios.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

Labels = tuple[tuple[str, str], ...]
"""Extra Prometheus labels of a series, sorted by name (hashable, stable)."""


def labels_of(mapping: Mapping[str, str | int | float]) -> Labels:
    """Normalise a label mapping into the sorted tuple form used as a dict key."""
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


@dataclass(frozen=True)
class Sample:
    """One number from one round of one scenario on one datapath."""

    metric: str
    """Metric name without the ``netbench_`` prefix, e.g. ``http_requests_per_second``."""
    labels: Labels
    value: float


@dataclass(frozen=True)
class Summary:
    """Statistics over the rounds of one series. ``value`` (the median) is what is published."""

    value: float
    minimum: float
    maximum: float
    mean: float
    relative_stddev: float
    """Sample standard deviation divided by the mean (0 for a single round)."""
    rounds: int
    noisy: bool
    """True when ``relative_stddev`` exceeds the configured noise threshold."""

    @classmethod
    def of(cls, values: Sequence[float], noisy_threshold: float = 0.10) -> Summary:
        if not values:
            raise ValueError("a summary needs at least one value")
        if any(not math.isfinite(v) for v in values):
            raise ValueError(f"non-finite value in {list(values)!r}")
        mean = statistics.fmean(values)
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        rel = stdev / abs(mean) if mean else 0.0
        return cls(
            value=statistics.median(values),
            minimum=min(values),
            maximum=max(values),
            mean=mean,
            relative_stddev=rel,
            rounds=len(values),
            noisy=rel > noisy_threshold,
        )


@dataclass(frozen=True)
class Measurement:
    """A series' rounds and their summary, for one datapath."""

    scenario: str
    datapath: str
    metric: str
    labels: Labels
    values: tuple[float, ...]
    summary: Summary

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


class SweepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Finished, but at least one scenario failed."""
    CANCELLED = "cancelled"
    ABORTED = "aborted"
    """The process died mid-sweep; found and marked by the janitor at the next start."""


@dataclass(frozen=True)
class ScenarioOutcome:
    """What one scenario yielded on one datapath: measurements on success, an error otherwise.

    A failed outcome carries no measurements at all: a failed scenario must never publish
    numbers (not even zeros), only ``netbench_scenario_success 0``.
    """

    scenario: str
    datapath: str
    success: bool
    measurements: tuple[Measurement, ...] = ()
    error: str | None = None
    finished_at: float = 0.0
    """Unix time (seconds) at which the scenario finished on this datapath."""

    def __post_init__(self) -> None:
        if not self.success and self.measurements:
            raise ValueError("a failed scenario outcome must carry no measurements")
        if not self.success and not self.error:
            raise ValueError("a failed scenario outcome must say why")


@dataclass
class SweepResult:
    """A whole sweep: its identity, what it ran and what came out."""

    id: str
    target: str
    cluster: str
    profile: str
    trigger: str
    datapaths: tuple[str, ...]
    routing: str
    scenarios: tuple[str, ...]
    started_at: float
    finished_at: float | None = None
    status: SweepStatus = SweepStatus.RUNNING
    outcomes: list[ScenarioOutcome] = field(default_factory=list)
    info: dict[str, dict[str, str]] = field(default_factory=dict)
    """``netbench_datapath_info`` labels per datapath."""
    settings: dict[str, object] = field(default_factory=dict)
    """The effective durations/rounds/steps, so a report says how it was measured."""
    error: str | None = None
    """Why the sweep as a whole failed or stopped (target set-up, cancellation)."""
    skipped: list[str] = field(default_factory=list)
    """Scenario/datapath pairs that do not apply (e.g. BPF map memory on iptables), with why.
    Nothing is published for them, and they are not failures."""

    def measurements(self) -> Iterable[Measurement]:
        for outcome in self.outcomes:
            yield from outcome.measurements

    def find(self, datapath: str, metric: str, **labels: str | int) -> Measurement | None:
        """The measurement of one series, or None (labels must match exactly)."""
        wanted = labels_of(labels)
        for m in self.measurements():
            if m.datapath == datapath and m.metric == metric and m.labels == wanted:
                return m
        return None
