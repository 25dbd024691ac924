"""NetworkPolicy (L3/L4, L7) and observability (Hubble) overhead."""

from dashboards import queries as q
from dashboards.panels import (
    PERCENT_UNIT,
    REQUESTS_PER_SECOND,
    Cell,
    Section,
    make_dashboard,
    target,
    timeseries,
)

UID = "netbench-overhead"
DP = "{{cluster}}/{{datapath}}"

policy_rps = timeseries(
    "RPS by NetworkPolicy",
    "HTTP RPS with no policy, an L3/L4 policy and an L7 (HTTP rules) policy on the server pod; "
    "each policy is verified realized before measuring.",
    [target(q.POLICY_RPS_TREND, DP + " {{policy}}")],
    REQUESTS_PER_SECOND,
    minimum=0,
)

policy_overhead = timeseries(
    "NetworkPolicy overhead",
    "(no policy - policy) / no policy of RPS: the share of requests per second the policy "
    "costs. The article: L3/L4 about 0%, L7 about 86% (every request through the proxy).",
    [target(q.POLICY_OVERHEAD_TREND, DP + " {{policy}}")],
    PERCENT_UNIT,
)

observability = timeseries(
    "Observability overhead",
    "(off - on) / off of RPS: the share of requests per second the feature costs, e.g. "
    "Hubble flow visibility (the toggle is verified and always restored).",
    [target(q.OBSERVABILITY_OVERHEAD_TREND, DP + " {{feature}}")],
    PERCENT_UNIT,
)

dashboard = make_dashboard(
    UID,
    "netbench / Policy and observability overhead",
    "What NetworkPolicy enforcement and flow observability cost in requests per second.",
    [
        Section("NetworkPolicy", [Cell(policy_rps, 12, 8), Cell(policy_overhead, 12, 8)]),
        Section("Observability", [Cell(observability, 24, 8)]),
    ],
)
