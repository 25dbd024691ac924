"""The sweep runner's own logic, with scenarios that emit model samples (no tool output here:
tool parsing is tested on real outputs in test_tool_*.py, real runs in tests/lab)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from exporter.errors import LabError, MeasurementInvalid, ToolExecutionError
from exporter.model import Sample, SweepStatus, labels_of
from exporter.scenarios.base import RoundContext, RoundScenario
from exporter.settings import Durations, Settings
from exporter.sweep import EventKind, SweepEvent, SweepRequest, SweepRunner, aggregate
from exporter.targets.base import CommandResult, Endpoints, ProgrammingReport, Role, Target


@dataclass(frozen=True)
class Plan:
    profile: str = "test"
    scenarios: tuple[str, ...] = ("alpha",)
    datapaths: tuple[str, ...] = ("iptables", "nftables")
    routing: str = "native"
    rounds: int = 3
    durations: Durations = field(default_factory=lambda: Durations(round_sleep_seconds=0))
    scale_steps: tuple[int, ...] = (10,)
    endpoints_per_service: int = 4


@dataclass
class RecordingTarget:
    kind: str = "fake"
    calls: list[str] = field(default_factory=list)
    active: str = ""
    closed: bool = False
    fail_enter: bool = False

    @property
    def datapaths(self) -> tuple[str, ...]:
        return ("iptables", "nftables")

    @property
    def datapath(self) -> str:
        return self.active

    def use_datapath(self, datapath: str) -> None:
        self.active = datapath
        self.calls.append(f"use {datapath}")

    def endpoints(self) -> Endpoints:
        return Endpoints("198.18.64.2", "198.18.0.1", "198.19.0.1")

    def run(self, role: Role, argv: Sequence[str], timeout: float) -> CommandResult:
        raise ToolExecutionError("none", "these tests run no tool")

    def http_accepted_connections(self) -> int:
        return 0

    def install_services(
        self, count: int, endpoints_per_service: int, timeout: float
    ) -> ProgrammingReport:
        self.calls.append(f"install {self.active} {count}")
        return ProgrammingReport(count, {"lb_entries": count}, 0.0)

    def info(self) -> Mapping[str, str]:
        return {"cni": "fake", "datapath": self.active}

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Target:
        if self.fail_enter:
            raise LabError("could not build")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Alpha:
    """Emits a per-datapath value per round; fails on one datapath when asked."""

    name = "alpha"

    def __init__(
        self,
        fail_on: str | None = None,
        cancel_after: int | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.cancel_after = cancel_after
        self.cancel = cancel

    def runs_per_round(self) -> int:
        return 1

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        self.calls += 1
        if self.cancel is not None and self.calls == self.cancel_after:
            self.cancel.set()
        if target.datapath == self.fail_on:
            raise MeasurementInvalid("keepalive run passed off as short")
        base = 100.0 if target.datapath == "iptables" else 200.0
        return [
            Sample(
                "http_requests_per_second", labels_of({"path": "service"}), base + ctx.round_index
            )
        ]


def runner(target: RecordingTarget, scenario: RoundScenario) -> SweepRunner:
    return SweepRunner(
        Settings(),
        lambda _s, _p: target,
        lambda _s, _r: Plan(),
        clock=lambda: 1000.0,
        round_scenarios={"alpha": lambda: scenario},
    )


def run(r: SweepRunner, cancel: threading.Event | None = None) -> tuple[list[SweepEvent], object]:
    events: list[SweepEvent] = []
    result = r.run(SweepRequest(), "sweep1", cancel or threading.Event(), events.append)
    return events, result


def test_datapaths_interleave_within_each_round() -> None:
    target = RecordingTarget()
    events, result = run(runner(target, Alpha()))
    uses = [c for c in target.calls if c.startswith("use")]
    # two for the info at the start, then alternating round by round
    assert uses[2:] == ["use iptables", "use nftables"] * 3
    assert result.status is SweepStatus.SUCCEEDED
    m = result.find("nftables", "http_requests_per_second", path="service")
    assert m is not None
    assert m.values == (200.0, 201.0, 202.0)
    assert m.summary.value == 201.0
    assert target.closed
    assert events[0].kind is EventKind.STARTED and events[-1].kind is EventKind.FINISHED
    assert events[-1].progress == 1.0


def test_one_datapath_failing_keeps_the_other_and_publishes_no_numbers() -> None:
    target = RecordingTarget()
    _, result = run(runner(target, Alpha(fail_on="iptables")))
    assert result.status is SweepStatus.FAILED
    by_dp = {o.datapath: o for o in result.outcomes}
    assert not by_dp["iptables"].success
    assert by_dp["iptables"].measurements == ()
    assert "keepalive run passed off as short" in (by_dp["iptables"].error or "")
    assert by_dp["nftables"].success and by_dp["nftables"].measurements


def test_cancel_stops_cleanly_and_closes_the_target() -> None:
    target = RecordingTarget()
    cancel = threading.Event()
    scenario = Alpha(cancel_after=2, cancel=cancel)
    _, result = run(runner(target, scenario), cancel)
    assert result.status is SweepStatus.CANCELLED
    assert scenario.calls == 2
    assert target.closed


def test_target_that_cannot_be_built_fails_the_sweep_with_its_reason() -> None:
    _, result = run(runner(RecordingTarget(fail_enter=True), Alpha()))
    assert result.status is SweepStatus.FAILED
    assert result.error == "could not build"
    assert result.outcomes == []


def test_scenario_the_runner_lacks_is_skipped_with_a_reason() -> None:
    target = RecordingTarget()
    r = SweepRunner(
        Settings(),
        lambda _s, _p: target,
        lambda _s, _r: Plan(scenarios=("policy",)),
        round_scenarios={},
    )
    _, result = run(r)
    assert result.outcomes == []
    assert result.status is SweepStatus.SUCCEEDED
    assert result.skipped == [
        "policy on iptables: no scenario 'policy' in this runner",
        "policy on nftables: no scenario 'policy' in this runner",
    ]


def test_aggregate_groups_rounds_by_series() -> None:
    a = labels_of({"path": "pod2pod"})
    b = labels_of({"path": "service"})
    ms = aggregate("s", "d", [Sample("m", a, 1), Sample("m", b, 5), Sample("m", a, 3)], 0.1)
    assert [(m.labels, m.values) for m in ms] == [(a, (1.0, 3.0)), (b, (5.0,))]
    assert ms[0].summary.noisy  # 1 vs 3 is far beyond 10%


def test_service_scale_resets_every_datapath_to_zero_after() -> None:
    target = RecordingTarget()
    r = SweepRunner(
        Settings(),
        lambda _s, _p: target,
        lambda _s, _r: Plan(scenarios=("service_scale",), rounds=1),
    )
    _, result = run(r)
    # no tool runs here: the first measurement fails (run() raises), so look at the clean-up
    assert target.calls[-4:] == [
        "use iptables",
        "install iptables 0",
        "use nftables",
        "install nftables 0",
    ]
    assert result.status in (SweepStatus.FAILED, SweepStatus.SUCCEEDED)


@pytest.mark.parametrize("values", [[1.0], [2.0, 2.0]])
def test_single_or_equal_rounds_are_not_noisy(values: list[float]) -> None:
    ms = aggregate("s", "d", [Sample("m", (), v) for v in values], 0.1)
    assert not ms[0].summary.noisy
