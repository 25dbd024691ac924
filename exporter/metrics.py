"""The Prometheus view of the history: a custom Collector reading the store at scrape time.

Nothing is kept in prometheus_client metric objects: every scrape asks the store for the latest
successful value of each series, so a label set nobody measures any more disappears by itself,
and a restart exposes exactly what was exposed before. The public names and labels are DESIGN.md's
table, documented in ``docs/metrics.md``.

- A value series is ``netbench_<metric>`` with ``cluster``, ``datapath`` and the measurement's
  own labels; its value is the median of the rounds.
- A (scenario, datapath) whose latest outcome failed publishes ``netbench_scenario_success 0``
  and none of its value series (never zeros).
- ``netbench_measurement_rounds`` / ``netbench_measurement_relative_stddev`` carry the series'
  labels plus ``metric`` (the full name of the measured metric), so they join with it.
- Sweep self-metrics are about the exporter, not a datapath: they carry ``cluster`` only.
"""

from __future__ import annotations

import logging
import platform
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.store import Store

log = logging.getLogger(__name__)

PREFIX = "netbench_"

HELP: Mapping[str, str] = {
    "netbench_throughput_bytes_per_second": (
        "TCP throughput in bytes per second (median of the rounds)."
    ),
    "netbench_http_requests_per_second": (
        "HTTP requests per second at full load (median of the rounds)."
    ),
    "netbench_latency_seconds": "Request/response latency quantile in seconds.",
    "netbench_service_scale_requests_per_second": (
        "HTTP requests per second with this many dummy Services installed."
    ),
    "netbench_service_scale_degradation_ratio": (
        "(step - baseline) / baseline of requests per second, baseline measured in the same sweep."
    ),
    "netbench_service_scale_latency_seconds": (
        "Request/response latency quantile in seconds with this many dummy Services installed."
    ),
    "netbench_datapath_entries": (
        "Entries the datapath holds (rules, chain entries, LB or BPF map entries) at a step."
    ),
    "netbench_datapath_programming_seconds": (
        "Seconds until the datapath verifiably held the Service-scale step."
    ),
    "netbench_policy_requests_per_second": "HTTP requests per second under a network policy.",
    "netbench_policy_overhead_ratio": ("(no policy - policy) / no policy of requests per second."),
    "netbench_observability_overhead_ratio": (
        "(off - on) / off of requests per second with the flow observer on."
    ),
    "netbench_bpf_map_memory_bytes": "Memory locked by BPF maps in bytes, per node and map.",
    "netbench_bpf_maps": "Number of BPF maps per node.",
    "netbench_component_cpu_cores": "CPU used by a datapath component in cores.",
    "netbench_component_memory_bytes": "Resident memory of a datapath component in bytes.",
    "netbench_measurement_rounds": "Rounds behind the published value of a series.",
    "netbench_measurement_relative_stddev": (
        "Standard deviation of the rounds divided by their mean, per series."
    ),
    "netbench_scenario_success": (
        "1 if the latest run of the scenario on the datapath succeeded, 0 if it failed."
    ),
    "netbench_scenario_last_success_timestamp_seconds": (
        "Unix time at which the scenario last succeeded on the datapath."
    ),
    "netbench_sweep_duration_seconds": "Duration of the latest sweep with this outcome.",
    "netbench_sweeps": "Sweeps by profile, trigger and final status (skipped included).",
    "netbench_sweep_running": "1 while a sweep runs (with its profile and trigger), else 0.",
    "netbench_sweep_progress_ratio": "Fraction of the running sweep's planned work done.",
    "netbench_datapath_info": "Datapath configuration as labels; the value is always 1.",
    "netbench_build_info": "netbench build; the value is always 1.",
}
"""HELP text of every published metric (``netbench_sweeps`` is the ``_total`` counter)."""

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED = frozenset({"cluster", "datapath"})
_ROUNDS = "netbench_measurement_rounds"
_RSD = "netbench_measurement_relative_stddev"


def help_for(name: str) -> str:
    """The documented HELP, or a generic one for a metric DESIGN.md does not list."""
    return HELP.get(name) or f"netbench measurement {name} in base units (see docs/metrics.md)."


def _valid_labels(labels: Iterable[tuple[str, str]]) -> bool:
    return all(_LABEL.fullmatch(k) and not k.startswith("__") for k, _ in labels)


class NetbenchCollector(Collector):
    """Reads the store at every scrape. Register it on an injected registry."""

    def __init__(
        self,
        store: Store,
        *,
        cluster: str,
        series_max_age_seconds: float,
        clock: Callable[[], float] = time.time,
        progress: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.series_max_age_seconds = series_max_age_seconds
        self.clock = clock
        self.progress = progress
        """Live progress of the running sweep (the store's value is as fresh as the last
        event; the coordinator's is the same, but cheaper)."""
        self._warned: set[str] = set()

    def describe(self) -> list[Metric]:
        # No scrape at registration time (prometheus_client would call collect otherwise).
        return []

    def collect(self) -> Iterator[Metric]:
        since = self.clock() - self.series_max_age_seconds
        yield from self._values(since)
        yield from self._scenarios(since)
        yield from self._sweeps()
        yield from self._info(since)
        build = GaugeMetricFamily(
            "netbench_build_info",
            help_for("netbench_build_info"),
            labels=("cluster", "version", "python"),
        )
        build.add_metric((self.cluster, __version__, platform.python_version()), 1.0)
        yield build

    def _warn_once(self, what: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("not published: %s", what)

    def _values(self, since: float) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        with_quantile: dict[str, bool] = {}
        # The quality series carry the value series' labels, `quantile` included, which
        # Prometheus reserves for summaries: declare them untyped (read like gauges).
        rounds = Metric(_ROUNDS, help_for(_ROUNDS), "unknown")
        rsd = Metric(_RSD, help_for(_RSD), "unknown")
        for m in self.store.latest_measurements(self.cluster, since=since):
            name = PREFIX + m.metric
            if not _NAME.fullmatch(name) or name.endswith(("_total", "_info")):
                self._warn_once(f"metric {name!r} (invalid or reserved name)")
                continue
            if not _valid_labels(m.labels) or _RESERVED & {k for k, _ in m.labels}:
                self._warn_once(f"metric {name!r} with labels {m.labels!r}")
                continue
            labels = {"cluster": self.cluster, "datapath": m.datapath, **dict(m.labels)}
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(name, help_for(name), "gauge")
            family.add_sample(name, labels, m.summary.value)
            with_quantile[name] = with_quantile.get(name, True) and "quantile" in labels
            if "metric" not in labels:
                joined = {**labels, "metric": name}
                rounds.add_sample(_ROUNDS, joined, float(m.summary.rounds))
                rsd.add_sample(_RSD, joined, m.summary.relative_stddev)
        for name, family in families.items():
            if with_quantile[name]:
                # Latency quantiles of a run are a summary's quantiles (without _sum/_count):
                # same series and labels as a gauge, and what `quantile` means to Prometheus.
                family.type = "summary"
            elif any("quantile" in s.labels for s in family.samples):
                family.type = "unknown"
            yield family
        if rounds.samples:
            yield rounds
            yield rsd

    def _scenarios(self, since: float) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "netbench_scenario_success",
            help_for("netbench_scenario_success"),
            labels=("cluster", "datapath", "scenario"),
        )
        last = GaugeMetricFamily(
            "netbench_scenario_last_success_timestamp_seconds",
            help_for("netbench_scenario_last_success_timestamp_seconds"),
            labels=("cluster", "datapath", "scenario"),
        )
        for o in self.store.latest_outcomes(self.cluster):
            if o.finished_at < since:
                continue
            key = (self.cluster, o.datapath, o.scenario)
            success.add_metric(key, 1.0 if o.success else 0.0)
            if o.last_success_at is not None:
                last.add_metric(key, o.last_success_at)
        yield success
        yield last

    def _sweeps(self) -> Iterator[Metric]:
        keys = ("cluster", "profile", "trigger", "status")
        total = CounterMetricFamily("netbench_sweeps", help_for("netbench_sweeps"), labels=keys)
        duration = GaugeMetricFamily(
            "netbench_sweep_duration_seconds",
            help_for("netbench_sweep_duration_seconds"),
            labels=keys,
        )
        for c in self.store.sweep_counts():
            values = (self.cluster, c.profile, c.trigger, c.status)
            total.add_metric(values, float(c.count))
            if c.last_duration_seconds is not None:
                duration.add_metric(values, c.last_duration_seconds)
        yield total
        yield duration
        running = Metric("netbench_sweep_running", help_for("netbench_sweep_running"), "gauge")
        progress = Metric(
            "netbench_sweep_progress_ratio", help_for("netbench_sweep_progress_ratio"), "gauge"
        )
        sweeps = self.store.running_sweeps()
        if not sweeps:
            running.add_sample("netbench_sweep_running", {"cluster": self.cluster}, 0.0)
        for s in sweeps:
            labels = {"cluster": self.cluster, "profile": s.profile, "trigger": s.trigger}
            running.add_sample("netbench_sweep_running", labels, 1.0)
            ratio = s.progress
            if self.progress is not None and len(sweeps) == 1:
                ratio = max(ratio, self.progress())
            progress.add_sample("netbench_sweep_progress_ratio", labels, min(max(ratio, 0.0), 1.0))
        yield running
        yield progress

    def _info(self, since: float) -> Iterator[Metric]:
        info = Metric("netbench_datapath_info", help_for("netbench_datapath_info"), "gauge")
        for datapath, labels in self.store.datapath_info(self.cluster, since=since).items():
            extra = sorted(labels.items())
            if not _valid_labels(extra) or _RESERVED & set(labels):
                self._warn_once(f"datapath_info labels {extra!r}")
                continue
            info.add_sample(
                "netbench_datapath_info",
                {"cluster": self.cluster, "datapath": datapath, **dict(extra)},
                1.0,
            )
        yield info
