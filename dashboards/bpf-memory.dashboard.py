"""BPF map memory per node and the largest maps."""

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

UID = "netbench-bpf-memory"

per_node = timeseries(
    "BPF map memory per node",
    "Sum of bytes_memlock over the node's BPF maps (bpftool map show). Cilium pre-allocates: "
    "this should not grow with Services.",
    [target(q.BPF_MEMORY_PER_NODE, "{{cluster}}/{{datapath}} {{node}}")],
    BYTES,
    minimum=0,
)

count = timeseries(
    "BPF maps per node",
    "Number of BPF maps on the node.",
    [target(q.BPF_MAPS_PER_NODE, "{{cluster}}/{{datapath}} {{node}}")],
    SHORT,
    minimum=0,
)

top = bargauge(
    "Top 10 maps by memory",
    "Largest maps (max over nodes) from the latest sweep.",
    [target(q.BPF_TOP_MAPS, "{{cluster}}/{{datapath}} {{map}}", instant=True)],
    BYTES,
)

dashboard = make_dashboard(
    UID,
    "netbench / BPF map memory",
    "Memory locked by BPF maps, per node, and which maps hold it.",
    [
        Section("Per node", [Cell(per_node, 16, 8), Cell(count, 8, 8)]),
        Section("Top maps", [Cell(top, 24, 10)]),
    ],
)
