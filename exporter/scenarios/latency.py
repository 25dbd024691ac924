"""latency: request/response round trips on an open connection (TCP_RR), over a new connection
per request (TCP_CRR-like), and HTTP p99 at a fixed 1,000 QPS.

Lab stand-ins: sockperf ping-pong for TCP_RR (netperf is not installable here) and hey with
keepalive disabled at concurrency 1 for connect + request + response; both carry their tool
label.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.errors import MeasurementInvalid
from exporter.model import Sample
from exporter.scenarios.base import TOOL_GRACE_SECONDS, RoundContext, run_tool, sample
from exporter.scenarios.http import http_url, run_http
from exporter.targets.base import Role, Target
from exporter.tools import sockperf

METRIC = "latency_seconds"
QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)

FIXED_QPS = 1000.0
FIXED_QPS_CONCURRENCY = 16
# hey paces each worker separately; a run that falls this far short of the asked rate was
# limited by the client, so its latency is not "latency at 1,000 QPS".
FIXED_QPS_MIN_ACHIEVED = 0.9


def quantile_label(q: float) -> str:
    return f"{q:g}"


class Latency:
    name = "latency"

    def runs_per_round(self) -> int:
        return 3

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        ep = target.endpoints()
        samples: list[Sample] = []

        spec = sockperf.SockperfSpec(
            server=ep.server_pod, port=ep.sockperf_port, seconds=ctx.durations.http_seconds
        )
        rr = run_tool(
            target,
            Role.CLIENT_POD,
            sockperf.build_command(spec),
            tool="sockperf",
            timeout=spec.seconds + TOOL_GRACE_SECONDS,
            parse=sockperf.parse,
            ctx=ctx,
        )
        samples += quantile_samples(rr.latency_seconds, test="tcp_rr", tool="sockperf")

        crr = run_http(
            target,
            ctx,
            url=http_url(ep.server_pod, ep.http_port),
            concurrency=1,
            keepalive=False,
            seconds=ctx.durations.http_seconds,
        )
        samples += quantile_samples(crr.result.latency_seconds, test="tcp_crr", tool="hey")

        fixed = run_http(
            target,
            ctx,
            url=http_url(ep.service_vip, ep.http_port),
            concurrency=FIXED_QPS_CONCURRENCY,
            keepalive=True,
            seconds=ctx.durations.http_seconds,
            qps_per_worker=FIXED_QPS / FIXED_QPS_CONCURRENCY,
        )
        achieved = fixed.result.requests_per_second
        if achieved < FIXED_QPS * FIXED_QPS_MIN_ACHIEVED:
            raise MeasurementInvalid(
                f"fixed-QPS run reached only {achieved:.0f} of {FIXED_QPS:.0f} requests/s: "
                "the client, not the datapath, set the pace"
            )
        samples += quantile_samples(fixed.result.latency_seconds, test="http_fixed_qps", tool="hey")
        return samples


def quantile_samples(
    latencies: Mapping[float, float],
    *,
    test: str,
    tool: str,
    metric: str = METRIC,
    **extra: str | int,
) -> list[Sample]:
    """Samples for the quantiles we publish; a missing quantile is a parse gap, not a zero."""
    out = []
    for q in QUANTILES:
        value = latencies.get(q)
        if value is None:
            raise MeasurementInvalid(f"{tool} reported no {q:g} quantile for {test}")
        out.append(sample(metric, value, test=test, quantile=quantile_label(q), tool=tool, **extra))
    return out
