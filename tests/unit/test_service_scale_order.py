"""service_scale's measurement order: every round walks the whole curve (baseline first), with
the datapaths interleaved at each step. Real tool runs are exercised in tests/lab; here the
measurement itself is replaced so only the order and the bookkeeping are under test."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.errors import DatapathNotProgrammed, NetbenchError
from exporter.model import Sample
from exporter.scenarios.base import RoundContext, sample
from exporter.scenarios.service_scale import DEGRADATION_METRIC, RPS_METRIC, ServiceScale
from exporter.settings import Durations
from exporter.targets.base import Target


class SwitchingTarget:
    """Only what ServiceScale.run touches itself: the datapath switch."""

    datapath = ""

    def use_datapath(self, datapath: str) -> None:
        self.datapath = datapath


def target() -> Target:
    return SwitchingTarget()  # type: ignore[return-value]


class OrderRecordingScale(ServiceScale):
    """Records (round, step, datapath) instead of running tools; RPS falls with the step."""

    def __init__(self, steps: Sequence[int], fail: tuple[str, int] | None = None) -> None:
        super().__init__(steps, endpoints_per_service=4, programming_timeout=1.0)
        self.order: list[tuple[int, int, str]] = []
        self.fail = fail

    def warm_up(
        self,
        target: Target,
        datapaths: Sequence[str],
        ctx: RoundContext,
        errors: dict[str, NetbenchError],
    ) -> None:
        self.order.append((-1, -1, "warm-up"))

    def measure_step(self, target: Target, ctx: RoundContext, step: int) -> list[Sample]:
        self.order.append((ctx.round_index, step, target.datapath))
        if self.fail == (target.datapath, step):
            raise DatapathNotProgrammed(f"{target.datapath} holds nothing at {step}")
        rps = 1000.0 - step / 100 + ctx.round_index
        return [
            sample(RPS_METRIC, rps, services=step, connection=c) for c in ("keepalive", "short")
        ]


def make_ctx(round_index: int) -> RoundContext:
    return RoundContext(durations=Durations(), round_index=round_index, rounds=2)


def test_every_round_walks_the_whole_curve_with_datapaths_interleaved_per_step() -> None:
    scale = OrderRecordingScale([5000, 30000])
    pauses: list[int] = []
    scale.run(
        target(),
        ("iptables", "nftables"),
        2,
        make_ctx,
        between_rounds=lambda: pauses.append(len(scale.order)),
    )
    assert scale.order == [
        (-1, -1, "warm-up"),
        *[
            (r, step, dp)
            for r in (0, 1)
            for step in (0, 5000, 30000)
            for dp in ("iptables", "nftables")
        ],
    ]
    # ROUND_SLEEP sits between rounds only: once, after round 1's last measurement.
    assert pauses == [7]


def test_degradation_is_against_the_median_baseline_of_the_same_sweep() -> None:
    scale = OrderRecordingScale([30000])
    outcome = scale.run(target(), ("iptables",), 2, make_ctx)
    ratios = [
        s.value
        for s in outcome.samples["iptables"]
        if s.metric == DEGRADATION_METRIC and dict(s.labels)["connection"] == "short"
    ]
    # baseline rounds 1000, 1001 (median 1000.5); the 30k rounds 700, 701
    assert ratios == [(700 - 1000.5) / 1000.5, (701 - 1000.5) / 1000.5]


def test_a_failing_datapath_is_dropped_and_the_other_keeps_every_round() -> None:
    scale = OrderRecordingScale([5000], fail=("nftables", 5000))
    outcome = scale.run(target(), ("iptables", "nftables"), 2, make_ctx)
    assert set(outcome.errors) == {"nftables"}
    assert "nftables" not in outcome.samples
    assert (1, 5000, "iptables") in scale.order
    assert not any(dp == "nftables" and r == 1 for r, _s, dp in scale.order)
