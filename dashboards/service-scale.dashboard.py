"""Service scale: keepalive vs short-connection degradation by Service count, the crossover."""

from dashboards import queries as q
from dashboards.panels import (
    PERCENT_UNIT,
    REQUESTS_PER_SECOND,
    SECONDS,
    SHORT,
    Cell,
    Section,
    barchart,
    make_dashboard,
    table,
    target,
    timeseries,
)

UID = "netbench-service-scale"

degradation = barchart(
    "Degradation vs baseline by Service count",
    "(step - baseline) / baseline of HTTP RPS, keepalive and short connections, from the latest "
    "full sweep; the baseline is measured in the same sweep. iptables short connections fall "
    "with the Service count (O(n) chain scan); map-based datapaths stay flat.",
    q.SCALE_DEGRADATION_BARS,
    PERCENT_UNIT,
)

short_rps = barchart(
    "Short-connection RPS by Service count",
    "New TCP connection per request: the Service lookup happens on every SYN.",
    q.SCALE_SHORT_RPS_BARS,
    REQUESTS_PER_SECOND,
)

keepalive_rps = barchart(
    "Keepalive RPS by Service count",
    "Connection reuse: conntrack hits after the first packet, so Service count barely matters.",
    q.SCALE_KEEPALIVE_RPS_BARS,
    REQUESTS_PER_SECOND,
)

crossover = barchart(
    "Crossover: iptables / best map-based datapath (short connections)",
    "iptables short-connection RPS over the best other selected datapath, per step. Below 100% "
    "the map-based datapath is ahead: the article found the crossover near 20000 Services.",
    q.CROSSOVER_RATIO_BARS,
    PERCENT_UNIT,
    threshold=1.0,
)

crossed = table(
    "Steps past the crossover",
    "Service counts at which iptables is behind the best map-based datapath.",
    [target(q.CROSSED_STEPS, instant=True, table=True)],
    PERCENT_UNIT,
    transformations=[
        {"id": "organize", "options": {"excludeByName": {"Time": True}}},
        {
            "id": "convertFieldType",
            "options": {
                "conversions": [{"targetField": "services", "destinationType": "number"}],
                "fields": {},
            },
        },
        {"id": "sortBy", "options": {"sort": [{"field": "services", "desc": False}]}},
    ],
)

programming = barchart(
    "Programming time by Service count",
    "Time until the datapath verifiably held the step's Services (rules loaded / maps filled).",
    q.SCALE_PROGRAMMING_BARS,
    SECONDS,
)

entries = barchart(
    "Datapath entries by Service count",
    "iptables rules, KUBE-SERVICES chain length, LB entries, BPF map entries (log scale).",
    q.SCALE_ENTRIES_BARS,
    SHORT,
    log_scale=True,
)

latency = barchart(
    "p99 latency by Service count",
    "TCP_RR / TCP_CRR p99 at each step.",
    q.SCALE_LATENCY_P99_BARS,
    SECONDS,
)

trend = timeseries(
    "Short-connection degradation over time",
    "The degradation ratio of each step across full sweeps: a step drifting down is what "
    "NetbenchShortConnectionDegradationAtScale pages on.",
    [target(q.SCALE_SHORT_DEGRADATION_TREND, "{{cluster}}/{{datapath}} {{services}} Services")],
    PERCENT_UNIT,
)

dashboard = make_dashboard(
    UID,
    "netbench / Service scale",
    "How RPS and latency degrade as Services grow (5k to 30k, 4 endpoints each), what it costs "
    "to program the datapath, and where iptables falls behind the map-based datapaths.",
    [
        Section(
            "Degradation",
            [Cell(degradation, 24, 9), Cell(short_rps, 12, 8), Cell(keepalive_rps, 12, 8)],
        ),
        Section("Crossover", [Cell(crossover, 16, 8), Cell(crossed, 8, 8)]),
        Section(
            "Programming and size",
            [Cell(programming, 12, 8), Cell(entries, 12, 8), Cell(latency, 12, 8)],
        ),
        Section("Over time", [Cell(trend, 24, 8)]),
    ],
)
