"""The sweep runner: scenarios x rounds x datapaths, interleaved, into a SweepResult.

Contract used by the CLI and the exporter. The runner reports progress through an injected
callback so the exporter can persist each scenario outcome as soon as it exists (a sweep killed
midway loses nothing that finished).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from exporter.errors import NetbenchError, NotApplicable, SweepCancelled
from exporter.model import (
    Measurement,
    Sample,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
)
from exporter.scenarios import ROUND_SCENARIOS, RoundContext, RoundScenario, ServiceScale
from exporter.settings import Durations, Settings
from exporter.targets.base import Target

log = logging.getLogger(__name__)


class Trigger(StrEnum):
    CLI = "cli"
    SCHEDULE = "schedule"
    API = "api"


@dataclass(frozen=True)
class SweepRequest:
    """What to run. ``None`` means: take it from the profile / settings."""

    profile: str = "quick"
    trigger: Trigger = Trigger.CLI
    scenarios: tuple[str, ...] | None = None
    datapaths: tuple[str, ...] | None = None
    routing: str | None = None
    rounds: int | None = None
    iperf_seconds: float | None = None
    http_seconds: float | None = None
    scale_steps: tuple[int, ...] | None = None


class EventKind(StrEnum):
    STARTED = "started"
    STEP = "step"
    """A log-worthy step (e.g. 'throughput pod2pod x8 on iptables, round 2/3')."""
    OUTCOME = "outcome"
    """A scenario finished on one datapath; ``outcome`` is set."""
    FINISHED = "finished"


@dataclass(frozen=True)
class SweepEvent:
    sweep_id: str
    kind: EventKind
    progress: float
    """Fraction of the planned work done, 0..1."""
    message: str = ""
    outcome: ScenarioOutcome | None = None
    result: SweepResult | None = field(default=None, repr=False)
    """Set on FINISHED."""


EventSink = Callable[[SweepEvent], None]


class SweepPlan(Protocol):
    """A request resolved against settings and its profile (see exporter.config)."""

    @property
    def profile(self) -> str: ...
    @property
    def scenarios(self) -> tuple[str, ...]: ...
    @property
    def datapaths(self) -> tuple[str, ...]: ...
    @property
    def routing(self) -> str: ...
    @property
    def rounds(self) -> int: ...
    @property
    def durations(self) -> Durations: ...
    @property
    def scale_steps(self) -> tuple[int, ...]: ...
    @property
    def endpoints_per_service(self) -> int: ...


TargetFactory = Callable[[Settings, SweepPlan], Target]
PlanResolver = Callable[[Settings, SweepRequest], SweepPlan]


def aggregate(
    scenario: str, datapath: str, samples: Sequence[Sample], noisy_threshold: float
) -> tuple[Measurement, ...]:
    """Group the rounds of each series into a Measurement (value = median of the rounds)."""
    grouped: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for s in samples:
        grouped.setdefault((s.metric, s.labels), []).append(s.value)
    return tuple(
        Measurement(
            scenario=scenario,
            datapath=datapath,
            metric=metric,
            labels=labels,
            values=tuple(values),
            summary=Summary.of(values, noisy_threshold),
        )
        for (metric, labels), values in grouped.items()
    )


class SweepRunner:
    """Runs one sweep: every scenario, its rounds, the datapaths interleaved inside each round.

    Interleaving matters on a noisy machine: datapaths compared within a round share the same
    background load, so their ratio is taken side by side. One datapath failing a scenario does
    not stop the others; a failed scenario yields an outcome with its error and no numbers.
    """

    def __init__(
        self,
        settings: Settings,
        target_factory: TargetFactory,
        resolve_plan: PlanResolver,
        *,
        clock: Callable[[], float] = time.time,
        round_scenarios: Mapping[str, Callable[[], RoundScenario]] | None = None,
    ) -> None:
        self.settings = settings
        self.target_factory = target_factory
        self.resolve_plan = resolve_plan
        self.clock = clock
        self.round_scenarios: Mapping[str, Callable[[], RoundScenario]] = (
            ROUND_SCENARIOS if round_scenarios is None else round_scenarios
        )

    def run(
        self,
        request: SweepRequest,
        sweep_id: str,
        cancel: threading.Event,
        on_event: EventSink,
    ) -> SweepResult:
        plan = self.resolve_plan(self.settings, request)
        result = SweepResult(
            id=sweep_id,
            target=self.settings.target,
            cluster=self.settings.cluster,
            profile=plan.profile,
            trigger=str(request.trigger),
            datapaths=plan.datapaths,
            routing=plan.routing,
            scenarios=plan.scenarios,
            started_at=self.clock(),
            settings=_plan_settings(plan),
        )
        progress = _Progress(sweep_id, self._total_units(plan), on_event)
        progress.emit(EventKind.STARTED, f"sweep {sweep_id} started: {_describe(plan)}")
        try:
            with self.target_factory(self.settings, plan) as target:
                for datapath in plan.datapaths:
                    target.use_datapath(datapath)
                    result.info[datapath] = dict(target.info())
                for scenario in plan.scenarios:
                    cancel_check(cancel)
                    skipped: dict[str, str] = {}
                    outcomes = self._run_scenario(scenario, target, plan, cancel, progress, skipped)
                    result.skipped += [f"{scenario} on {d}: {why}" for d, why in skipped.items()]
                    for outcome in outcomes:
                        result.outcomes.append(outcome)
                        progress.emit(EventKind.OUTCOME, _outcome_line(outcome), outcome=outcome)
            result.status = (
                SweepStatus.SUCCEEDED
                if all(o.success for o in result.outcomes)
                else SweepStatus.FAILED
            )
        except (SweepCancelled, KeyboardInterrupt):
            result.status = SweepStatus.CANCELLED
            result.error = "cancelled"
        except NetbenchError as err:
            result.status = SweepStatus.FAILED
            result.error = str(err)
        finally:
            result.finished_at = self.clock()
            progress.done = progress.total
            progress.emit(EventKind.FINISHED, f"sweep {sweep_id} {result.status}", result=result)
        return result

    def _total_units(self, plan: SweepPlan) -> int:
        total = 0
        for name in plan.scenarios:
            if name == "service_scale":
                scale = ServiceScale(plan.scale_steps, plan.endpoints_per_service, 1.0)
                total += scale.units(plan.datapaths, plan.rounds)
            elif name in self.round_scenarios:
                runs = self.round_scenarios[name]().runs_per_round()
                total += runs * plan.rounds * len(plan.datapaths)
        return max(total, 1)

    def _context(
        self, plan: SweepPlan, round_index: int, cancel: threading.Event, progress: _Progress
    ) -> RoundContext:
        return RoundContext(
            durations=plan.durations,
            round_index=round_index,
            rounds=plan.rounds,
            cancel=cancel,
            log=lambda msg: progress.emit(EventKind.STEP, msg),
        )

    def _run_scenario(
        self,
        name: str,
        target: Target,
        plan: SweepPlan,
        cancel: threading.Event,
        progress: _Progress,
        skipped: dict[str, str],
    ) -> list[ScenarioOutcome]:
        if name == "service_scale":
            return self._run_service_scale(target, plan, cancel, progress)
        factory = self.round_scenarios.get(name)
        if factory is None:
            skipped.update({d: f"no scenario {name!r} in this runner" for d in plan.datapaths})
            return []
        scenario: RoundScenario = factory()
        samples: dict[str, list[Sample]] = {d: [] for d in plan.datapaths}
        errors: dict[str, str] = {}
        for round_index in range(plan.rounds):
            if round_index:
                _pause(cancel, plan.durations.round_sleep_seconds)
            ctx = self._context(plan, round_index, cancel, progress)
            for datapath in plan.datapaths:
                if datapath in errors or datapath in skipped:
                    progress.advance(scenario.runs_per_round())
                    continue
                ctx.check_cancelled()
                ctx.log(f"{name} on {datapath}, round {round_index + 1}/{plan.rounds}")
                try:
                    target.use_datapath(datapath)
                    samples[datapath] += scenario.run_round(target, ctx)
                except SweepCancelled:
                    raise
                except NotApplicable as why:
                    skipped[datapath] = str(why)
                    ctx.log(f"{name} does not apply on {datapath}: {why}")
                except NetbenchError as err:
                    errors[datapath] = f"{type(err).__name__}: {err}"
                    ctx.log(f"{name} failed on {datapath}: {err}")
                progress.advance(scenario.runs_per_round())
        return [
            self._failed(name, d, errors[d]) if d in errors else self._succeeded(name, d, s)
            for d, s in samples.items()
            if d not in skipped
        ]

    def _run_service_scale(
        self, target: Target, plan: SweepPlan, cancel: threading.Event, progress: _Progress
    ) -> list[ScenarioOutcome]:
        scale = ServiceScale(
            plan.scale_steps,
            plan.endpoints_per_service,
            self.settings.scale.programming_timeout_seconds,
        )
        try:
            outcome = scale.run(
                target,
                plan.datapaths,
                plan.rounds,
                lambda r: self._context(plan, r, cancel, progress),
                on_run_done=progress.advance,
                between_rounds=lambda: _pause(cancel, plan.durations.round_sleep_seconds),
            )
        finally:
            # Leave no dummy Services behind for the scenarios that follow.
            for datapath in plan.datapaths:
                try:
                    target.use_datapath(datapath)
                    target.install_services(
                        0,
                        plan.endpoints_per_service,
                        self.settings.scale.programming_timeout_seconds,
                    )
                except NetbenchError as err:
                    log.warning("could not reset %s to 0 Services: %s", datapath, err)
        out = []
        for datapath in plan.datapaths:
            if datapath in outcome.errors:
                error = outcome.errors[datapath]
                out.append(
                    self._failed("service_scale", datapath, f"{type(error).__name__}: {error}")
                )
            else:
                out.append(self._succeeded("service_scale", datapath, outcome.samples[datapath]))
        return out

    def _succeeded(
        self, scenario: str, datapath: str, samples: Sequence[Sample]
    ) -> ScenarioOutcome:
        return ScenarioOutcome(
            scenario=scenario,
            datapath=datapath,
            success=True,
            measurements=aggregate(scenario, datapath, samples, self.settings.noisy_threshold),
            finished_at=self.clock(),
        )

    def _failed(self, scenario: str, datapath: str, error: str) -> ScenarioOutcome:
        return ScenarioOutcome(
            scenario=scenario,
            datapath=datapath,
            success=False,
            error=error,
            finished_at=self.clock(),
        )


class _Progress:
    def __init__(self, sweep_id: str, total: int, sink: EventSink) -> None:
        self.sweep_id = sweep_id
        self.total = total
        self.done = 0
        self.sink = sink

    def advance(self, units: int) -> None:
        self.done = min(self.total, self.done + units)

    def emit(
        self,
        kind: EventKind,
        message: str,
        *,
        outcome: ScenarioOutcome | None = None,
        result: SweepResult | None = None,
    ) -> None:
        self.sink(
            SweepEvent(
                sweep_id=self.sweep_id,
                kind=kind,
                progress=self.done / self.total,
                message=message,
                outcome=outcome,
                result=result,
            )
        )


def cancel_check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise SweepCancelled("sweep cancelled")


def _pause(cancel: threading.Event, seconds: float) -> None:
    """Sleep between rounds, but wake at once on cancel."""
    if seconds > 0 and cancel.wait(seconds):
        raise SweepCancelled("sweep cancelled")


def _plan_settings(plan: SweepPlan) -> dict[str, object]:
    return {
        "rounds": plan.rounds,
        "iperf_seconds": plan.durations.iperf_seconds,
        "http_seconds": plan.durations.http_seconds,
        "warmup_seconds": plan.durations.warmup_seconds,
        "round_sleep_seconds": plan.durations.round_sleep_seconds,
        "scale_steps": list(plan.scale_steps),
        "endpoints_per_service": plan.endpoints_per_service,
    }


def _describe(plan: SweepPlan) -> str:
    return (
        f"profile={plan.profile} scenarios={','.join(plan.scenarios)} "
        f"datapaths={','.join(plan.datapaths)} routing={plan.routing} rounds={plan.rounds}"
    )


def _outcome_line(outcome: ScenarioOutcome) -> str:
    if outcome.success:
        return f"{outcome.scenario} on {outcome.datapath}: {len(outcome.measurements)} series"
    return f"{outcome.scenario} on {outcome.datapath} FAILED: {outcome.error}"
