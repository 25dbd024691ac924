"""Every PromQL expression of the netbench dashboards, in one place.

Dashboards refer to these names only; nothing else in ``dashboards/`` writes PromQL (the alert
rules in :mod:`dashboards.alerts` build on the metric-name constants below). Expressions use the
Grafana variables ``$cluster`` and ``$datapath`` (multi-value, matched with ``=~``); tests
substitute concrete values with :func:`substitute` and run every expression through a real
Prometheus.

Label conventions (DESIGN.md, "Public interface: metrics"): every series carries ``cluster`` and
``datapath``; label values are strings (``streams="8"``, ``services="20000"``,
``quantile="0.99"``). Sweep-level series (``netbench_sweep_*``) are filtered by cluster only: a
sweep covers several datapaths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# --- metric names (DESIGN.md; fixed public interface) ------------------------------------------

THROUGHPUT = "netbench_throughput_bytes_per_second"
HTTP_RPS = "netbench_http_requests_per_second"
LATENCY = "netbench_latency_seconds"
SCALE_RPS = "netbench_service_scale_requests_per_second"
SCALE_DEGRADATION = "netbench_service_scale_degradation_ratio"
SCALE_LATENCY = "netbench_service_scale_latency_seconds"
DATAPATH_ENTRIES = "netbench_datapath_entries"
PROGRAMMING = "netbench_datapath_programming_seconds"
POLICY_RPS = "netbench_policy_requests_per_second"
POLICY_OVERHEAD = "netbench_policy_overhead_ratio"
OBSERVABILITY_OVERHEAD = "netbench_observability_overhead_ratio"
BPF_MAP_MEMORY = "netbench_bpf_map_memory_bytes"
BPF_MAPS = "netbench_bpf_maps"
COMPONENT_CPU = "netbench_component_cpu_cores"
COMPONENT_MEMORY = "netbench_component_memory_bytes"
ROUNDS = "netbench_measurement_rounds"
RELATIVE_STDDEV = "netbench_measurement_relative_stddev"
SCENARIO_SUCCESS = "netbench_scenario_success"
LAST_SUCCESS = "netbench_scenario_last_success_timestamp_seconds"
SWEEP_DURATION = "netbench_sweep_duration_seconds"
SWEEPS_TOTAL = "netbench_sweeps_total"
SWEEP_RUNNING = "netbench_sweep_running"
SWEEP_PROGRESS = "netbench_sweep_progress_ratio"
DATAPATH_INFO = "netbench_datapath_info"

# The datapath whose lookup is a linear chain scan; every other datapath is map based.
LINEAR_DATAPATH = "iptables"

# --- selectors ---------------------------------------------------------------------------------

VARIABLES = ("cluster", "datapath")
"""Dashboard variables used in expressions (besides ``datasource``)."""


def sel(metric: str, *matchers: str, datapath: bool = True, **equal: str) -> str:
    """``metric{cluster=~"$cluster",datapath=~"$datapath",<matchers>,<label>="<value>"...}``.

    ``matchers`` are raw PromQL matchers (``'test=~"tcp_rr|tcp_crr"'``); ``equal`` are equality
    matchers written as keywords (``path="pod2pod"``).
    """
    parts = ['cluster=~"$cluster"']
    if datapath:
        parts.append('datapath=~"$datapath"')
    parts.extend(matchers)
    parts.extend(f'{name}="{value}"' for name, value in equal.items())
    return f"{metric}{{{','.join(parts)}}}"


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables by concrete values (default: match everything)."""
    chosen = {name: ".*" for name in VARIABLES}
    chosen.update(values or {})
    for name, value in chosen.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


def _label(expr: str, label: str, value: str) -> str:
    """Attach a constant label (label_replace on the empty source label always matches)."""
    return f'label_replace({expr}, "{label}", "{value}", "", "")'


def _column(expr: str, *labels: str) -> str:
    """Join labels into a ``column`` label (``cluster/datapath[/...]``): one table column each."""
    names = ", ".join(f'"{name}"' for name in labels)
    return f'label_join({expr}, "column", "/", {names})'


BY = "cluster, datapath"

# --- Overview: "At a glance" -------------------------------------------------------------------


@dataclass(frozen=True)
class GlanceFigure:
    """One headline row of the article's "At a glance" table.

    A table column has one unit, and this table has one column per cluster/datapath, so each row
    converts its figure to the display unit named in its title (Gbit/s, µs, %, MB).
    """

    title: str
    expr: str
    """Per (cluster, datapath), in the display unit of ``title``."""


GLANCE: tuple[GlanceFigure, ...] = (
    GlanceFigure(
        "Pod-to-pod throughput, 8 streams (Gbit/s)",
        f"max by ({BY}) ({sel(THROUGHPUT, path='pod2pod', streams='8')}) * 8 / 1e9",
    ),
    GlanceFigure(
        "RPS keepalive, Service c64 (req/s)",
        f"max by ({BY}) "
        f"({sel(HTTP_RPS, path='service', connection='keepalive', concurrency='64')})",
    ),
    GlanceFigure(
        "RPS short connections, Service c64 (req/s)",
        f"max by ({BY}) ({sel(HTTP_RPS, path='service', connection='short', concurrency='64')})",
    ),
    GlanceFigure(
        "TCP_RR p99 (µs)",
        f"max by ({BY}) ({sel(LATENCY, test='tcp_rr', quantile='0.99')}) * 1e6",
    ),
    GlanceFigure(
        "HTTP p99 at 1000 QPS (ms)",
        f"max by ({BY}) ({sel(LATENCY, test='http_fixed_qps', quantile='0.99')}) * 1e3",
    ),
    GlanceFigure(
        "Short-connection RPS at 20000 Services (req/s)",
        f"max by ({BY}) ({sel(SCALE_RPS, connection='short', services='20000')})",
    ),
    GlanceFigure(
        "Short-connection RPS at 30000 Services (req/s)",
        f"max by ({BY}) ({sel(SCALE_RPS, connection='short', services='30000')})",
    ),
    GlanceFigure(
        "L3/L4 NetworkPolicy overhead (% RPS lost)",
        f"max by ({BY}) ({sel(POLICY_OVERHEAD, policy='l3l4')}) * 100",
    ),
    GlanceFigure(
        "L7 NetworkPolicy overhead (% RPS lost)",
        f"max by ({BY}) ({sel(POLICY_OVERHEAD, policy='l7')}) * 100",
    ),
    GlanceFigure(
        "Hubble overhead (% RPS lost)",
        f"max by ({BY}) ({sel(OBSERVABILITY_OVERHEAD, feature='hubble')}) * 100",
    ),
    GlanceFigure(
        "BPF map memory per node (MB)",
        f"max by ({BY}) (sum by ({BY}, node) ({sel(BPF_MAP_MEMORY)})) / 1e6",
    ),
    GlanceFigure(
        "Datapath component memory, max (MB)",
        f"sum by ({BY}) ({sel(COMPONENT_MEMORY, stat='max')}) / 1e6",
    ),
)


def glance_row(index: int, figure: GlanceFigure) -> str:
    """One figure labelled ``figure="NN title"`` (sortable) and ``column="cluster/datapath"``."""
    return _column(
        _label(figure.expr, "figure", f"{index + 1:02d} {figure.title}"), *BY.split(", ")
    )


GLANCE_TABLE = " or ".join(f"({glance_row(i, f)})" for i, f in enumerate(GLANCE))
"""All headline figures as one instant vector (one ``Value`` column for groupingToMatrix)."""

# --- Overview: sweep health --------------------------------------------------------------------

SCENARIOS_FAILING = f"sum(1 - {sel(SCENARIO_SUCCESS)})"
"""How many (cluster, datapath, scenario) failed their latest run; empty when nothing reports."""
OLDEST_SUCCESS_AGE = f"time() - min({sel(LAST_SUCCESS)})"
SWEEP_RUNNING_NOW = f"max({sel(SWEEP_RUNNING, datapath=False)})"
SWEEP_PROGRESS_NOW = f"max({sel(SWEEP_PROGRESS, datapath=False)})"
SCENARIO_SUCCESS_TABLE = f"max by ({BY}, scenario) ({sel(SCENARIO_SUCCESS)})"
SCENARIO_AGE_TABLE = f"time() - max by ({BY}, scenario) ({sel(LAST_SUCCESS)})"
SWEEPS_PER_DAY = (
    f"sum by (cluster, profile, trigger, status) "
    f"(increase({sel(SWEEPS_TOTAL, datapath=False)}[1d]))"
)
SWEEP_DURATION_TREND = f"max by (cluster, profile) ({sel(SWEEP_DURATION, datapath=False)})"
DATAPATH_INFO_TABLE = sel(DATAPATH_INFO)
NOISIEST_MEASUREMENTS = f"topk(20, {sel(RELATIVE_STDDEV)})"
MEASUREMENT_ROUNDS = f"min by ({BY}) ({sel(ROUNDS)})"

# --- Trends: throughput, HTTP RPS, latency -----------------------------------------------------

THROUGHPUT_BITS = f"8 * {sel(THROUGHPUT)}"
POD_TO_HOSTNET_RATIO = (
    f"max by ({BY}) ({sel(THROUGHPUT, path='pod2pod', streams='8')})"
    f" / on ({BY}) "
    f"max by ({BY}) ({sel(THROUGHPUT, path='hostnet')})"
)
SERVICE_TO_POD_RATIO = (
    f"max by ({BY}) ({sel(THROUGHPUT, path='service')})"
    f" / on ({BY}) "
    f"max by ({BY}) ({sel(THROUGHPUT, path='pod2pod', streams='8')})"
)
RPS_KEEPALIVE = sel(HTTP_RPS, connection="keepalive")
RPS_SHORT = sel(HTTP_RPS, connection="short")
SHORT_TO_KEEPALIVE_RATIO = (
    f"max by ({BY}) ({sel(HTTP_RPS, path='service', connection='short', concurrency='64')})"
    f" / on ({BY}) "
    f"max by ({BY}) "
    f"({sel(HTTP_RPS, path='service', connection='keepalive', concurrency='64')})"
)
LATENCY_P99 = sel(LATENCY, quantile="0.99")
LATENCY_RR_QUANTILES = sel(LATENCY, 'test=~"tcp_rr|tcp_crr"')

# --- Service scale -----------------------------------------------------------------------------


def by_services(expr: str, *labels: str) -> str:
    """Latest value per ``services`` step, one bar series per ``cluster/datapath/<labels>``."""
    return _column(expr, "cluster", "datapath", *labels)


SCALE_DEGRADATION_BARS = by_services(sel(SCALE_DEGRADATION), "connection")
SCALE_SHORT_RPS_BARS = by_services(sel(SCALE_RPS, connection="short"))
SCALE_KEEPALIVE_RPS_BARS = by_services(sel(SCALE_RPS, connection="keepalive"))
SCALE_PROGRAMMING_BARS = by_services(sel(PROGRAMMING))
SCALE_ENTRIES_BARS = by_services(sel(DATAPATH_ENTRIES), "kind")
SCALE_LATENCY_P99_BARS = by_services(sel(SCALE_LATENCY, quantile="0.99"), "test")
SCALE_SHORT_DEGRADATION_TREND = sel(SCALE_DEGRADATION, connection="short")

_LINEAR_SHORT = (
    f"max by (cluster, services) "
    f'({SCALE_RPS}{{cluster=~"$cluster",connection="short",datapath="{LINEAR_DATAPATH}"}})'
)
_MAP_SHORT = (
    f"max by (cluster, services) "
    f'({SCALE_RPS}{{cluster=~"$cluster",connection="short",'
    f'datapath=~"$datapath",datapath!="{LINEAR_DATAPATH}"}})'
)
CROSSOVER_RATIO = f"{_LINEAR_SHORT} / on (cluster, services) {_MAP_SHORT}"
"""iptables short-connection RPS over the best map-based datapath's, per cluster and step:
below 1 the map-based datapaths are ahead (the article's crossover, near 20k Services)."""
CROSSOVER_RATIO_BARS = _column(CROSSOVER_RATIO, "cluster")
CROSSED_STEPS = f"{CROSSOVER_RATIO} < 1"

# --- Policy and observability overhead ---------------------------------------------------------

POLICY_RPS_TREND = sel(POLICY_RPS)
POLICY_OVERHEAD_TREND = sel(POLICY_OVERHEAD)
OBSERVABILITY_OVERHEAD_TREND = sel(OBSERVABILITY_OVERHEAD)

# --- BPF map memory ----------------------------------------------------------------------------

BPF_MEMORY_PER_NODE = f"sum by ({BY}, node) ({sel(BPF_MAP_MEMORY)})"
BPF_MAPS_PER_NODE = f"max by ({BY}, node) ({sel(BPF_MAPS)})"
BPF_TOP_MAPS = f"topk(10, max by ({BY}, map) ({sel(BPF_MAP_MEMORY)}))"

# --- Component CPU and memory ------------------------------------------------------------------

COMPONENT_CPU_TREND = sel(COMPONENT_CPU)
COMPONENT_MEMORY_TREND = sel(COMPONENT_MEMORY)
COMPONENT_MEMORY_MAX = f"max by ({BY}, component) ({sel(COMPONENT_MEMORY, stat='max')})"
COMPONENT_CPU_MAX = f"max by ({BY}, component) ({sel(COMPONENT_CPU, stat='max')})"

# --- Template variables ------------------------------------------------------------------------

CLUSTER_VALUES = f"label_values({SCENARIO_SUCCESS}, cluster)"
DATAPATH_VALUES = f'label_values({SCENARIO_SUCCESS}{{cluster=~"$cluster"}}, datapath)'
