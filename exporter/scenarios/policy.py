"""policy: the cost of NetworkPolicy, L3/L4 vs L7 (seed: CNP with and without ``rules.http``).

Every policy is proven realized before it is measured (the target drops a denied source, and
for L7 the proxy answers a POST with 403), and after an L7 run the proxy must have handled
every request, or the proxy was bypassed and the number is not an L7 number. The policies
rotate order from round to round so none always runs first, and the overhead is paired within
a round: (rps with policy - rps without) / rps without (negative = slower, as in the article).
"""

from __future__ import annotations

from exporter.errors import NotApplicable, PolicyNotRealized
from exporter.model import Sample
from exporter.scenarios.base import RoundContext, sample
from exporter.scenarios.http import http_url, run_http
from exporter.targets.base import PolicyTarget, Target

POLICIES: tuple[str, ...] = ("none", "l3l4", "l7")
RPS_METRIC = "policy_requests_per_second"
OVERHEAD_METRIC = "policy_overhead_ratio"
CONCURRENCY = 64


def rotated(items: tuple[str, ...], round_index: int) -> tuple[str, ...]:
    k = round_index % len(items)
    return items[k:] + items[:k]


class Policy:
    name = "policy"

    def runs_per_round(self) -> int:
        return len(POLICIES)

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        if not isinstance(target, PolicyTarget):
            raise NotApplicable(f"the {target.kind} target cannot enforce NetworkPolicy")
        ep = target.endpoints()
        rps: dict[str, float] = {}
        try:
            for policy in rotated(POLICIES, ctx.round_index):
                ctx.log(f"policy {policy}: applying and verifying")
                target.apply_policy(policy)
                proxied_before = target.policy_proxy_requests()
                run = run_http(
                    target,
                    ctx,
                    url=http_url(ep.server_pod, ep.http_port),
                    concurrency=CONCURRENCY,
                    keepalive=True,
                    seconds=ctx.durations.http_seconds,
                    count_connections=policy != "l7",
                )
                if policy == "l7":
                    proxied = target.policy_proxy_requests() - proxied_before
                    if proxied < run.result.total_requests:
                        raise PolicyNotRealized(
                            f"the L7 proxy handled {proxied} of {run.result.total_requests} "
                            "requests: traffic bypassed it"
                        )
                rps[policy] = run.result.requests_per_second
        finally:
            target.apply_policy("none")
        samples = [sample(RPS_METRIC, rps[p], policy=p, tool="hey") for p in POLICIES]
        samples += [
            sample(OVERHEAD_METRIC, (rps[p] - rps["none"]) / rps["none"], policy=p)
            for p in POLICIES
            if p != "none"
        ]
        return samples
