"""Datapath component (kube-proxy, cilium-agent, ...) CPU and memory."""

from dashboards import queries as q
from dashboards.panels import (
    BYTES,
    SHORT,
    Cell,
    Section,
    bargauge,
    make_dashboard,
    target,
    timeseries,
)

UID = "netbench-components"
LEGEND = "{{cluster}}/{{datapath}} {{component}} {{stat}}"

cpu = timeseries(
    "Component CPU (cores)",
    "CPU cores used by each datapath component over a steady window (average and max).",
    [target(q.COMPONENT_CPU_TREND, LEGEND)],
    SHORT,
    minimum=0,
)

memory = timeseries(
    "Component memory",
    "Resident memory of each datapath component over a steady window (average and max).",
    [target(q.COMPONENT_MEMORY_TREND, LEGEND)],
    BYTES,
    minimum=0,
)

cpu_max = bargauge(
    "Latest max CPU by component (cores)",
    "Max over the steady window of the latest sweep.",
    [target(q.COMPONENT_CPU_MAX, "{{cluster}}/{{datapath}} {{component}}", instant=True)],
    SHORT,
)

memory_max = bargauge(
    "Latest max memory by component",
    "Max over the steady window of the latest sweep.",
    [target(q.COMPONENT_MEMORY_MAX, "{{cluster}}/{{datapath}} {{component}}", instant=True)],
    BYTES,
)

dashboard = make_dashboard(
    UID,
    "netbench / Component CPU and memory",
    "What the datapath's own components (kube-proxy, cilium-agent, ...) cost per node.",
    [
        Section("Trends", [Cell(cpu, 12, 8), Cell(memory, 12, 8)]),
        Section("Latest", [Cell(cpu_max, 12, 8), Cell(memory_max, 12, 8)]),
    ],
)
