"""http_rps: saturating HTTP request rate, keepalive and short connections (seed: fortio -qps 0).

The lab stand-in for fortio is hey; every sample is labelled tool=hey so it is never passed off
as a fortio number.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.model import Sample
from exporter.scenarios.base import RoundContext, sample
from exporter.scenarios.http import http_url, run_http
from exporter.targets.base import Target

METRIC = "http_requests_per_second"


@dataclass(frozen=True)
class HttpRpsVariant:
    path: str
    """pod2pod or service."""
    concurrency: int
    keepalive: bool


DEFAULT_VARIANTS: tuple[HttpRpsVariant, ...] = (
    HttpRpsVariant("pod2pod", 64, True),
    HttpRpsVariant("service", 64, True),
    HttpRpsVariant("service", 256, True),
    HttpRpsVariant("service", 64, False),
)


class HttpRps:
    name = "http_rps"

    def __init__(self, variants: tuple[HttpRpsVariant, ...] = DEFAULT_VARIANTS) -> None:
        self.variants = variants

    def runs_per_round(self) -> int:
        return len(self.variants)

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        ep = target.endpoints()
        samples = []
        for variant in self.variants:
            host = ep.server_pod if variant.path == "pod2pod" else ep.service_vip
            run = run_http(
                target,
                ctx,
                url=http_url(host, ep.http_port),
                concurrency=variant.concurrency,
                keepalive=variant.keepalive,
                seconds=ctx.durations.http_seconds,
            )
            samples.append(
                sample(
                    METRIC,
                    run.result.requests_per_second,
                    path=variant.path,
                    connection="keepalive" if variant.keepalive else "short",
                    concurrency=variant.concurrency,
                    tool="hey",
                )
            )
        return samples
