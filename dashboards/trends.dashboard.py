"""Throughput, HTTP RPS and latency over time, per cluster/datapath."""

from dashboards import queries as q
from dashboards.panels import (
    BITS_PER_SECOND,
    PERCENT_UNIT,
    REQUESTS_PER_SECOND,
    SECONDS,
    Cell,
    Section,
    make_dashboard,
    target,
    timeseries,
)

UID = "netbench-trends"
DP = "{{cluster}}/{{datapath}}"

throughput = timeseries(
    "Throughput",
    "iperf3 throughput (published in bytes/s, shown in bits/s) by path and parallel streams.",
    [target(q.THROUGHPUT_BITS, DP + " {{path}} x{{streams}} ({{tool}})")],
    BITS_PER_SECOND,
    minimum=0,
)

pod_to_hostnet = timeseries(
    "Pod-to-pod / hostnet throughput",
    "Pod-to-pod (8 streams) over host-to-host throughput: the datapath's cost versus the bare "
    "node network. 100% = no cost.",
    [target(q.POD_TO_HOSTNET_RATIO, DP)],
    PERCENT_UNIT,
    threshold=1.0,
)

service_to_pod = timeseries(
    "Service / pod-to-pod throughput",
    "Throughput through the Service VIP over direct pod-to-pod (8 streams).",
    [target(q.SERVICE_TO_POD_RATIO, DP)],
    PERCENT_UNIT,
    threshold=1.0,
)

rps_keepalive = timeseries(
    "HTTP RPS, keepalive",
    "Requests per second with connection reuse, by path and concurrency.",
    [target(q.RPS_KEEPALIVE, DP + " {{path}} c{{concurrency}} ({{tool}})")],
    REQUESTS_PER_SECOND,
    minimum=0,
)

rps_short = timeseries(
    "HTTP RPS, short connections",
    "Requests per second with a new TCP connection per request: every SYN goes through "
    "Service selection and conntrack creation.",
    [target(q.RPS_SHORT, DP + " {{path}} c{{concurrency}} ({{tool}})")],
    REQUESTS_PER_SECOND,
    minimum=0,
)

short_to_keepalive = timeseries(
    "Short / keepalive RPS (Service, c64)",
    "What a new connection per request costs, per datapath.",
    [target(q.SHORT_TO_KEEPALIVE_RATIO, DP)],
    PERCENT_UNIT,
    minimum=0,
)

latency_p99 = timeseries(
    "Latency p99",
    "p99 by test: TCP_RR, TCP_CRR, HTTP at a fixed 1000 QPS.",
    [target(q.LATENCY_P99, DP + " {{test}} ({{tool}})")],
    SECONDS,
    minimum=0,
)

latency_rr = timeseries(
    "TCP_RR / TCP_CRR quantiles",
    "Request/response latency quantiles, with (CRR) and without (RR) a connection per request.",
    [target(q.LATENCY_RR_QUANTILES, DP + " {{test}} p{{quantile}} ({{tool}})")],
    SECONDS,
    minimum=0,
)

dashboard = make_dashboard(
    UID,
    "netbench / Throughput, RPS and latency",
    "Trends of the quick-profile figures per cluster/datapath.",
    [
        Section(
            "Throughput",
            [Cell(throughput, 24, 9), Cell(pod_to_hostnet, 12, 7), Cell(service_to_pod, 12, 7)],
        ),
        Section(
            "HTTP requests per second",
            [Cell(rps_keepalive, 12, 8), Cell(rps_short, 12, 8), Cell(short_to_keepalive, 24, 6)],
        ),
        Section("Latency", [Cell(latency_p99, 12, 8), Cell(latency_rr, 12, 8)]),
    ],
)
