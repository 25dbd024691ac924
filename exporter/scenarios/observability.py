"""observability: the cost of a per-flow event stream (seed: Hubble on/off).

The seed's Hubble toggle was an invalid command whose error was swallowed, so Hubble was never
off. Here the target verifies each switch (events flow while on; no observer and no events while
off) and always restores "off". Short connections are measured because per-flow observers pay
per connection, which is where they cost the most. The order alternates from round to round
and the overhead is paired within a round: (on - off) / off.
"""

from __future__ import annotations

from exporter.errors import NotApplicable
from exporter.model import Sample
from exporter.scenarios.base import RoundContext, sample
from exporter.scenarios.http import http_url, run_http
from exporter.targets.base import ObservabilityTarget, Target

RPS_METRIC = "observability_requests_per_second"
OVERHEAD_METRIC = "observability_overhead_ratio"
CONCURRENCY = 64


class Observability:
    name = "observability"

    def runs_per_round(self) -> int:
        return 2

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        if not isinstance(target, ObservabilityTarget):
            raise NotApplicable(f"the {target.kind} target has no flow observer to toggle")
        feature = target.observability_feature
        ep = target.endpoints()
        order = (False, True) if ctx.round_index % 2 == 0 else (True, False)
        rps: dict[bool, float] = {}
        try:
            for enabled in order:
                ctx.log(f"observability {feature} {'on' if enabled else 'off'}: verifying")
                target.set_observability(enabled)
                run = run_http(
                    target,
                    ctx,
                    url=http_url(ep.service_vip, ep.http_port),
                    concurrency=CONCURRENCY,
                    keepalive=False,
                    seconds=ctx.durations.http_seconds,
                )
                rps[enabled] = run.result.requests_per_second
        finally:
            target.set_observability(False)
        return [
            sample(RPS_METRIC, rps[False], feature=feature, state="off", connection="short"),
            sample(RPS_METRIC, rps[True], feature=feature, state="on", connection="short"),
            sample(OVERHEAD_METRIC, (rps[True] - rps[False]) / rps[False], feature=feature),
        ]
