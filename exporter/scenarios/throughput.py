"""throughput: iperf3 between the nodes and the pods, as in the seed (1/8/16 streams).

Unlike the seed, the host-to-host baseline really runs host to host (client node to server
node); the seed created a hostNetwork client and never used it.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.model import Sample
from exporter.scenarios.base import TOOL_GRACE_SECONDS, RoundContext, run_tool, sample
from exporter.targets.base import Role, Target
from exporter.tools import iperf3

METRIC = "throughput_bytes_per_second"


@dataclass(frozen=True)
class ThroughputVariant:
    path: str
    """hostnet, pod2pod or service."""
    streams: int


DEFAULT_VARIANTS: tuple[ThroughputVariant, ...] = (
    ThroughputVariant("hostnet", 8),
    ThroughputVariant("pod2pod", 1),
    ThroughputVariant("pod2pod", 8),
    ThroughputVariant("pod2pod", 16),
    ThroughputVariant("service", 8),
)


class Throughput:
    name = "throughput"

    def __init__(self, variants: tuple[ThroughputVariant, ...] = DEFAULT_VARIANTS) -> None:
        self.variants = variants

    def runs_per_round(self) -> int:
        return len(self.variants)

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        ep = target.endpoints()
        samples = []
        for variant in self.variants:
            role, server = {
                "hostnet": (Role.CLIENT_NODE, ep.server_node),
                "pod2pod": (Role.CLIENT_POD, ep.server_pod),
                "service": (Role.CLIENT_POD, ep.service_vip),
            }[variant.path]
            spec = iperf3.Iperf3Spec(
                server=server,
                port=ep.iperf3_port,
                seconds=ctx.durations.iperf_seconds,
                streams=variant.streams,
                omit_seconds=ctx.durations.warmup_seconds,
            )
            result = run_tool(
                target,
                role,
                iperf3.build_command(spec),
                tool="iperf3",
                timeout=spec.seconds + spec.omit_seconds + TOOL_GRACE_SECONDS,
                parse=iperf3.parse,
                ctx=ctx,
            )
            samples.append(
                sample(
                    METRIC,
                    result.received_bytes_per_second,
                    path=variant.path,
                    streams=variant.streams,
                    tool="iperf3",
                )
            )
        return samples
