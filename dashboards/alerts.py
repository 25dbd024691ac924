"""netbench alert rules: one source for the Prometheus rule file and the PrometheusRule object.

``python -m dashboards.build`` writes both:

- ``deploy/prometheus/netbench-rules.yaml`` (``rule_files:`` of a plain Prometheus; what
  ``promtool check rules`` and ``promtool test rules`` read),
- ``deploy/base/prometheusrule.yaml`` (``monitoring.coreos.com/v1`` for the Prometheus Operator).

Thresholds live in :class:`AlertSettings`; change a default here and regenerate, or build with
your own settings (:func:`rule_groups`). The promtool tests in
``deploy/prometheus/tests/netbench-rules.test.yaml`` are written against the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboards import queries as q

Json = dict[str, Any]

QUICK_SCENARIOS = ("throughput", "http_rps", "latency")
FULL_ONLY_SCENARIOS = ("service_scale", "policy", "observability", "bpf_memory", "resources")


@dataclass(frozen=True)
class Schedule:
    """Scenarios refreshed by one schedule, and its period (exporter default schedules)."""

    profile: str
    period_seconds: int
    scenarios: tuple[str, ...]


def default_schedules() -> tuple[Schedule, ...]:
    """``quick`` hourly (throughput, RPS, latency); ``full`` weekly (everything else)."""
    return (
        Schedule("quick", 3600, QUICK_SCENARIOS),
        Schedule("full", 7 * 24 * 3600, FULL_ONLY_SCENARIOS),
    )


@dataclass(frozen=True)
class AlertSettings:
    grafana_url: str = "http://localhost:3000"
    """Base URL of Grafana for the ``dashboard_url`` annotation (docker-compose default)."""
    short_degradation_threshold: float = 0.30
    """Fire when short-connection RPS at a scale step is this fraction below the baseline."""
    short_regression_threshold: float = 0.20
    """Fire when short-connection RPS is this fraction below its own median over the window."""
    throughput_regression_threshold: float = 0.15
    """Fire when throughput is this fraction below its own median over the window."""
    regression_window: str = "7d"
    noisy_threshold: float = 0.10
    """Relative standard deviation across rounds above which a measurement is noisy."""
    noisy_exclude: str = ".*_ratio"
    """Metrics (``metric`` label regex) left out of the noise alert: ratios such as the
    degradation or overhead of a flat datapath sit near 0, where stddev / mean explodes."""
    stale_periods: int = 3
    """Results are stale after this many schedule periods without a success."""
    schedules: tuple[Schedule, ...] = field(default_factory=default_schedules)
    regression_for: str = "90m"
    """Two consecutive hourly quick sweeps must agree before a regression fires."""
    failing_for: str = "90m"
    degradation_for: str = "15m"
    stale_for: str = "10m"
    noisy_for: str = "1h"
    exporter_job: str = "netbench"
    """``job`` label of the exporter's scrape target: the compose stack's ``job_name`` and, with
    the ServiceMonitor in deploy/base, the Service's name."""
    exporter_down_for: str = "10m"
    """Scrapes must fail this long before the exporter counts as down (a rolling restart or
    one slow scrape must not page)."""


def _dashboard_url(settings: AlertSettings, uid: str) -> str:
    return (
        f"{settings.grafana_url.rstrip('/')}/d/{uid}"
        "?var-cluster={{ $labels.cluster }}&var-datapath={{ $labels.datapath }}"
    )


def _rule(
    settings: AlertSettings,
    name: str,
    expr: str,
    duration: str,
    severity: str,
    summary: str,
    description: str,
    dashboard_uid: str,
    extra_labels: dict[str, str] | None = None,
) -> Json:
    if severity not in ("warning", "critical"):
        raise ValueError(f"{name}: severity must be warning or critical")
    labels = {"severity": severity, **(extra_labels or {})}
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "dashboard_url": _dashboard_url(settings, dashboard_uid),
        },
    }


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def _regression_expr(metric_selector: str, window: str, threshold: float) -> str:
    """Latest value relative to its own median over ``window``, minus 1, below -threshold."""
    return (
        f"{metric_selector} / quantile_over_time(0.5, {metric_selector}[{window}]) - 1"
        f" < -{threshold:g}"
    )


def _human_period(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def result_rules(settings: AlertSettings) -> list[Json]:
    """Alerts on the measured figures: degradation at scale, regressions, noise."""
    short = f'{q.HTTP_RPS}{{connection="short"}}'
    short_scale = f'{q.SCALE_DEGRADATION}{{connection="short"}}'
    return [
        _rule(
            settings,
            "NetbenchShortConnectionDegradationAtScale",
            f"{short_scale} < -{settings.short_degradation_threshold:g}",
            settings.degradation_for,
            "warning",
            "Short-connection RPS degrades with the Service count on {{ $labels.cluster }}/"
            "{{ $labels.datapath }}.",
            "Short-connection RPS through {{ $labels.datapath }} on {{ $labels.cluster }} at "
            "{{ $labels.services }} Services is {{ $value | humanizePercentage }} versus the "
            "baseline measured in the same sweep (alert below "
            f"-{_pct(settings.short_degradation_threshold)}). Every new connection pays the "
            "Service lookup: a linear datapath (iptables) degrades with the Service count, a "
            "map-based one should not.",
            "netbench-service-scale",
        ),
        _rule(
            settings,
            "NetbenchShortConnectionRegression",
            _regression_expr(
                short, settings.regression_window, settings.short_regression_threshold
            ),
            settings.regression_for,
            "warning",
            "Short-connection RPS regressed on {{ $labels.cluster }}/{{ $labels.datapath }}.",
            "Short-connection RPS ({{ $labels.path }}, c{{ $labels.concurrency }}, "
            "{{ $labels.tool }}) on {{ $labels.cluster }}/{{ $labels.datapath }} is "
            "{{ $value | humanizePercentage }} versus its own median over the last "
            f"{settings.regression_window} (alert below "
            f"-{_pct(settings.short_regression_threshold)}).",
            "netbench-trends",
        ),
        _rule(
            settings,
            "NetbenchThroughputRegression",
            _regression_expr(
                q.THROUGHPUT, settings.regression_window, settings.throughput_regression_threshold
            ),
            settings.regression_for,
            "warning",
            "Throughput regressed on {{ $labels.cluster }}/{{ $labels.datapath }}.",
            "Throughput ({{ $labels.path }}, {{ $labels.streams }} streams, {{ $labels.tool }}) "
            "on {{ $labels.cluster }}/{{ $labels.datapath }} is {{ $value | humanizePercentage }} "
            f"versus its own median over the last {settings.regression_window} (alert below "
            f"-{_pct(settings.throughput_regression_threshold)}).",
            "netbench-trends",
        ),
        _rule(
            settings,
            "NetbenchNoisyMeasurements",
            f'{q.RELATIVE_STDDEV}{{metric!~"{settings.noisy_exclude}"}}'
            f" > {settings.noisy_threshold:g}",
            settings.noisy_for,
            "warning",
            "Noisy {{ $labels.metric }} measurements on {{ $labels.cluster }}/"
            "{{ $labels.datapath }}.",
            "The rounds behind {{ $labels.metric }} on {{ $labels.cluster }}/"
            "{{ $labels.datapath }} vary by {{ $value | humanizePercentage }} (relative "
            f"standard deviation; alert above {_pct(settings.noisy_threshold)}). The published "
            "median is less trustworthy: look for a noisy neighbour or add rounds.",
            "netbench-overview",
        ),
    ]


_LAST_SUCCESS_AGE = (
    '{{ with printf "time() - %s{cluster=%q,datapath=%q,scenario=%q}" '
    f'"{q.LAST_SUCCESS}" '
    "$labels.cluster $labels.datapath $labels.scenario | query }}"
    "Its last success was {{ . | first | value | humanizeDuration }} ago."
    "{{ else }}It has no recorded success.{{ end }}"
)
"""Template text: the age of the scenario's last success, looked up when the alert fires."""


def sweep_rules(settings: AlertSettings) -> list[Json]:
    """Alerts on the instrument itself: failing scenarios, stale results."""
    rules = [
        _rule(
            settings,
            "NetbenchSweepsFailing",
            f"{q.SCENARIO_SUCCESS} == 0",
            settings.failing_for,
            "warning",
            "netbench scenario {{ $labels.scenario }} fails on {{ $labels.cluster }}/"
            "{{ $labels.datapath }}.",
            "The latest {{ $labels.scenario }} run on {{ $labels.cluster }}/"
            "{{ $labels.datapath }} failed and it has not succeeded since (for "
            f"{settings.failing_for} or more): no value is published for it. "
            + _LAST_SUCCESS_AGE
            + " See the sweep errors at the exporter's /api/v1/sweeps.",
            "netbench-overview",
        ),
    ]
    rules.append(
        _rule(
            settings,
            "NetbenchExporterDown",
            f'up{{job="{settings.exporter_job}"}} == 0',
            settings.exporter_down_for,
            "critical",
            "The netbench exporter at {{ $labels.instance }} cannot be scraped.",
            "Prometheus has failed to scrape the netbench exporter (job "
            f"{settings.exporter_job}) at {{{{ $labels.instance }}}} for "
            f"{settings.exporter_down_for} or more. Its figures and sweep self-metrics vanish "
            "from the dashboards, no sweep can be started over the API, and the other netbench "
            "alerts cannot fire for it: check the exporter's pod (crash loop, OOM, a sweep that "
            "hung its event loop) or its Service. "
            f'{{{{ with printf "count(up{{job=%q}} == 1)" "{settings.exporter_job}" | query }}}}'
            "{{ . | first | value }} exporter(s) of this job are up."
            "{{ else }}No exporter of this job is up.{{ end }}",
            "netbench-overview",
        )
    )
    for schedule in settings.schedules:
        limit = settings.stale_periods * schedule.period_seconds
        scenarios = "|".join(schedule.scenarios)
        rules.append(
            _rule(
                settings,
                "NetbenchResultsStale",
                f'time() - {q.LAST_SUCCESS}{{scenario=~"{scenarios}"}} > {limit}',
                settings.stale_for,
                "critical",
                "netbench results for {{ $labels.scenario }} are stale on {{ $labels.cluster }}/"
                "{{ $labels.datapath }}.",
                "{{ $labels.scenario }} on {{ $labels.cluster }}/{{ $labels.datapath }} last "
                "succeeded {{ $value | humanizeDuration }} ago, more than "
                f"{settings.stale_periods} periods of the {schedule.profile} schedule "
                f"({settings.stale_periods} x {_human_period(schedule.period_seconds)}). "
                "The dashboards show old figures.",
                "netbench-overview",
                {"profile": schedule.profile},
            )
        )
    return rules


def rule_groups(settings: AlertSettings | None = None) -> list[Json]:
    chosen = settings or AlertSettings()
    return [
        {"name": "netbench.results", "rules": result_rules(chosen)},
        {"name": "netbench.sweeps", "rules": sweep_rules(chosen)},
    ]


def rule_file(settings: AlertSettings | None = None) -> Json:
    """Prometheus ``rule_files`` content."""
    return {"groups": rule_groups(settings)}


def prometheus_rule(settings: AlertSettings | None = None) -> Json:
    """The same groups as a Prometheus Operator PrometheusRule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "netbench",
            "labels": {
                "app.kubernetes.io/name": "netbench",
                "app.kubernetes.io/component": "alert-rules",
            },
        },
        "spec": {"groups": rule_groups(settings)},
    }


def alert_names(settings: AlertSettings | None = None) -> list[str]:
    return sorted({r["alert"] for g in rule_groups(settings) for r in g["rules"]})
