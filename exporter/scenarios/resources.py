"""resources: CPU and memory of the datapath components under steady load (seed: kube-proxy /
cilium-agent from metrics.k8s.io; the lab samples its own proxy, flow reader and server).

Components that only exist with a feature on (the L7 proxy, the flow reader) are switched on
for the window when the target supports them, and always switched back off.
"""

from __future__ import annotations

from contextlib import ExitStack

from exporter.errors import NotApplicable
from exporter.model import Sample
from exporter.scenarios.base import RoundContext, sample
from exporter.scenarios.http import http_url, run_http
from exporter.targets.base import ObservabilityTarget, PolicyTarget, ResourceTarget, Target

CPU_METRIC = "component_cpu_cores"
MEMORY_METRIC = "component_memory_bytes"
CONCURRENCY = 64


class Resources:
    name = "resources"

    def runs_per_round(self) -> int:
        return 1

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        if not isinstance(target, ResourceTarget):
            raise NotApplicable(f"the {target.kind} target cannot sample its components")
        ep = target.endpoints()
        seconds = ctx.durations.http_seconds
        with ExitStack() as restore:
            if isinstance(target, PolicyTarget):
                target.apply_policy("l7")
                restore.callback(target.apply_policy, "none")
            if isinstance(target, ObservabilityTarget):
                target.set_observability(True)
                restore.callback(target.set_observability, False)
            usage = target.sample_components(
                seconds,
                lambda: run_http(
                    target,
                    ctx,
                    url=http_url(ep.service_vip, ep.http_port),
                    concurrency=CONCURRENCY,
                    keepalive=True,
                    seconds=seconds,
                ),
            )
        samples = []
        for component, u in sorted(usage.items()):
            samples += [
                sample(CPU_METRIC, u.cpu_cores_avg, component=component, stat="avg"),
                sample(CPU_METRIC, u.cpu_cores_max, component=component, stat="max"),
                sample(MEMORY_METRIC, u.memory_bytes_avg, component=component, stat="avg"),
                sample(MEMORY_METRIC, u.memory_bytes_max, component=component, stat="max"),
            ]
        return samples
