"""service_scale: how the datapath degrades as the number of Services grows (seed: 5k..30k).

For each step the dummy Services are installed atomically and the datapath is verified to hold
them (entries counted, never slept on) before anything is measured; the time that took is
published. Every round walks the whole curve: the baseline (0 dummy Services), measured in the
same sweep right before the first step, then each step in turn; at every step the datapaths
are interleaved, so their ratio is taken side by side under the same machine noise. The seed
measured its baselines tens of minutes earlier.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exporter.errors import NetbenchError, SweepCancelled
from exporter.model import Sample
from exporter.scenarios.base import TOOL_GRACE_SECONDS, RoundContext, run_tool, sample
from exporter.scenarios.http import http_url, run_http
from exporter.scenarios.latency import quantile_samples
from exporter.targets.base import Role, Target
from exporter.tools import sockperf

RPS_METRIC = "service_scale_requests_per_second"
DEGRADATION_METRIC = "service_scale_degradation_ratio"
LATENCY_METRIC = "service_scale_latency_seconds"
ENTRIES_METRIC = "datapath_entries"
PROGRAMMING_METRIC = "datapath_programming_seconds"

CONCURRENCY = 64


@dataclass(frozen=True)
class ScaleOutcome:
    samples: dict[str, list[Sample]]
    """Per datapath that completed every step."""
    errors: dict[str, NetbenchError]
    """Per datapath that failed (it is dropped from later steps)."""


class ServiceScale:
    name = "service_scale"

    def __init__(
        self, steps: Sequence[int], endpoints_per_service: int, programming_timeout: float
    ) -> None:
        if list(steps) != sorted(set(steps)) or any(s <= 0 for s in steps):
            raise ValueError(f"scale steps must be ascending positive counts, got {list(steps)}")
        self.steps = (0, *steps)
        self.endpoints_per_service = endpoints_per_service
        self.programming_timeout = programming_timeout

    def runs_per_round(self) -> int:
        return 5

    def units(self, datapaths: Sequence[str], rounds: int) -> int:
        """Tool runs the whole scenario makes (for progress)."""
        return len(self.steps) * rounds * len(datapaths) * self.runs_per_round()

    def run(
        self,
        target: Target,
        datapaths: Sequence[str],
        rounds: int,
        make_ctx: Callable[[int], RoundContext],
        on_run_done: Callable[[int], None] = lambda _n: None,
        between_rounds: Callable[[], None] = lambda: None,
    ) -> ScaleOutcome:
        samples: dict[str, list[Sample]] = defaultdict(list)
        errors: dict[str, NetbenchError] = {}
        self.warm_up(target, datapaths, make_ctx(0), errors)
        # Round-major: each round walks the whole curve (baseline, then every step). A machine
        # that drifts over the sweep (a shared VM's neighbours come and go over minutes) then
        # spreads over every step's rounds alike, instead of biasing whichever step it hit;
        # step-major order put all rounds of one step in the same few minutes (measured here:
        # every datapath's keepalive RPS down 15-20% at one step, back at the next).
        for round_index in range(rounds):
            if round_index:
                between_rounds()
            ctx = make_ctx(round_index)
            for step in self.steps:
                for datapath in datapaths:
                    if datapath in errors:
                        continue
                    ctx.check_cancelled()
                    try:
                        target.use_datapath(datapath)
                        ctx.log(
                            f"service_scale {step} Services on {datapath}, "
                            f"round {round_index + 1}/{rounds}"
                        )
                        samples[datapath] += self.measure_step(target, ctx, step)
                    except SweepCancelled:
                        raise
                    except NetbenchError as err:
                        errors[datapath] = err
                        samples.pop(datapath, None)
                    on_run_done(self.runs_per_round())
        for got in samples.values():
            got += degradation_samples(got)
        return ScaleOutcome(samples=dict(samples), errors=errors)

    def warm_up(
        self,
        target: Target,
        datapaths: Sequence[str],
        ctx: RoundContext,
        errors: dict[str, NetbenchError],
    ) -> None:
        """One discarded keepalive and short run per datapath before the baseline: the first
        runs on a fresh lab (cold caches, server workers, conntrack) are slower, and the
        baseline is what every step is divided by."""
        seconds = max(1.0, ctx.durations.warmup_seconds)
        for datapath in datapaths:
            ctx.check_cancelled()
            try:
                target.use_datapath(datapath)
                target.install_services(0, self.endpoints_per_service, self.programming_timeout)
                ep = target.endpoints()
                for keepalive in (True, False):
                    run_http(
                        target,
                        ctx,
                        url=http_url(ep.service_vip, ep.http_port),
                        concurrency=CONCURRENCY,
                        keepalive=keepalive,
                        seconds=seconds,
                    )
            except SweepCancelled:
                raise
            except NetbenchError as err:
                errors[datapath] = err

    def measure_step(self, target: Target, ctx: RoundContext, step: int) -> list[Sample]:
        report = target.install_services(step, self.endpoints_per_service, self.programming_timeout)
        out = [sample(PROGRAMMING_METRIC, report.seconds, services=step)]
        out += [
            sample(ENTRIES_METRIC, count, services=step, kind=kind)
            for kind, count in sorted(report.entries.items())
        ]
        ep = target.endpoints()
        url = http_url(ep.service_vip, ep.http_port)
        seconds = ctx.durations.http_seconds
        for keepalive in (True, False):
            run = run_http(
                target, ctx, url=url, concurrency=CONCURRENCY, keepalive=keepalive, seconds=seconds
            )
            connection = "keepalive" if keepalive else "short"
            out.append(
                sample(
                    RPS_METRIC, run.result.requests_per_second, services=step, connection=connection
                )
            )
        spec = sockperf.SockperfSpec(server=ep.service_vip, port=ep.sockperf_port, seconds=seconds)
        rr = run_tool(
            target,
            Role.CLIENT_POD,
            sockperf.build_command(spec),
            tool="sockperf",
            timeout=seconds + TOOL_GRACE_SECONDS,
            parse=sockperf.parse,
            ctx=ctx,
        )
        out += quantile_samples(
            rr.latency_seconds, test="tcp_rr", tool="sockperf", metric=LATENCY_METRIC, services=step
        )
        crr = run_http(target, ctx, url=url, concurrency=1, keepalive=False, seconds=seconds)
        out += quantile_samples(
            crr.result.latency_seconds,
            test="tcp_crr",
            tool="hey",
            metric=LATENCY_METRIC,
            services=step,
        )
        return _without_tool_label(out)


def _without_tool_label(samples: list[Sample]) -> list[Sample]:
    # DESIGN's service_scale_latency_seconds has no tool label: its tool is fixed by the test
    # (documented in docs/metrics.md), and the series must stay joinable across targets.
    return [
        Sample(s.metric, tuple(kv for kv in s.labels if kv[0] != "tool"), s.value)
        if s.metric == LATENCY_METRIC
        else s
        for s in samples
    ]


def degradation_samples(samples: Sequence[Sample]) -> list[Sample]:
    """(step - baseline) / baseline for each round of each step, per connection mode.

    The baseline is the median of the 0-Service rounds, so the median of these per-round ratios
    equals (median step - median baseline) / median baseline.
    """
    by_key: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in samples:
        if s.metric == RPS_METRIC:
            labels = dict(s.labels)
            by_key[(labels["connection"], labels["services"])].append(s.value)
    out = []
    for (connection, services), values in sorted(by_key.items()):
        if services == "0":
            continue
        baseline_values = by_key.get((connection, "0"))
        if not baseline_values:
            continue
        baseline = statistics.median(baseline_values)
        if baseline <= 0:
            continue
        out += [
            sample(
                DEGRADATION_METRIC,
                (v - baseline) / baseline,
                services=services,
                connection=connection,
            )
            for v in values
        ]
    return out
