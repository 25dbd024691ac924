"""A fake sweep runner for the exporter's tests: real plan resolution, model data out.

It produces ScenarioOutcome / SweepResult objects built with ``model.Summary.of`` from made-up
round values (model data — never pretend tool output), at a configurable pace, honouring cancel
like the real runner. ``fail`` names (scenario, datapath) pairs that fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from exporter.config import effective_plan
from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.settings import Settings
from exporter.sweep import EventKind, SweepEvent, SweepRequest

BASE = {"iptables": 6000.0, "nftables": 10000.0, "ebpf": 14000.0}


def measurements(scenario: str, datapath: str, rounds: int) -> tuple[Measurement, ...]:
    base = BASE.get(datapath, 5000.0)
    specs: list[tuple[str, dict[str, str], float]]
    if scenario == "http_rps":
        specs = [
            (
                "http_requests_per_second",
                {"path": "service", "connection": conn, "concurrency": "64", "tool": "hey"},
                base * (1.0 if conn == "keepalive" else 0.3),
            )
            for conn in ("keepalive", "short")
        ]
    elif scenario == "latency":
        specs = [
            (
                "latency_seconds",
                {"test": "tcp_rr", "quantile": q, "tool": "sockperf"},
                20.0 / base * (1 + float(q)),
            )
            for q in ("0.5", "0.99")
        ]
    else:
        specs = [
            (
                "throughput_bytes_per_second",
                {"path": "pod2pod", "streams": "8", "tool": "iperf3"},
                base * 1e5,
            )
        ]
    out = []
    for metric, labels, value in specs:
        values = [value * (1 + 0.01 * i) for i in range(rounds)]
        out.append(
            Measurement(
                scenario=scenario,
                datapath=datapath,
                metric=metric,
                labels=labels_of(labels),
                values=tuple(values),
                summary=Summary.of(values),
            )
        )
    return tuple(out)


class FakeRunner:
    """Runs scenarios x datapaths of the resolved plan, ``delay`` seconds per outcome."""

    def __init__(
        self,
        settings: Settings,
        *,
        delay: float = 0.0,
        fail: Collection[tuple[str, str]] = (),
        clock: Callable[[], float] = time.time,
        gate: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.delay = delay
        self.fail = set(fail)
        self.clock = clock
        self.gate = gate
        """When set, each outcome waits for this event (tests control the pace)."""
        self.runs: list[str] = []

    def run(
        self,
        request: SweepRequest,
        sweep_id: str,
        cancel: threading.Event,
        on_event: Callable[[SweepEvent], None],
    ) -> SweepResult:
        self.runs.append(sweep_id)
        plan = effective_plan(self.settings, request)
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
            settings={"rounds": plan.rounds},
        )
        total = max(1, len(plan.scenarios) * len(plan.datapaths))
        done = 0

        def emit(kind: EventKind, message: str, **kw: object) -> None:
            on_event(
                SweepEvent(sweep_id, kind, done / total, message, **kw)  # type: ignore[arg-type]
            )

        emit(EventKind.STARTED, f"sweep {sweep_id} started")
        try:
            for dp in plan.datapaths:
                result.info[dp] = {
                    "cni": "lab",
                    "kube_proxy_mode": dp,
                    "routing_mode": plan.routing,
                }
            for scenario in plan.scenarios:
                for dp in plan.datapaths:
                    if self.gate is not None:
                        while not self.gate.wait(0.05):
                            if cancel.is_set():
                                break
                    if cancel.wait(self.delay) or cancel.is_set():
                        raise _Cancelled
                    emit(EventKind.STEP, f"{scenario} on {dp}")
                    if (scenario, dp) in self.fail:
                        outcome = ScenarioOutcome(
                            scenario,
                            dp,
                            False,
                            error="MeasurementInvalid: made up",
                            finished_at=self.clock(),
                        )
                    else:
                        outcome = ScenarioOutcome(
                            scenario,
                            dp,
                            True,
                            measurements(scenario, dp, plan.rounds),
                            finished_at=self.clock(),
                        )
                    result.outcomes.append(outcome)
                    done += 1
                    emit(EventKind.OUTCOME, f"{scenario} on {dp}", outcome=outcome)
            result.status = (
                SweepStatus.SUCCEEDED
                if all(o.success for o in result.outcomes)
                else SweepStatus.FAILED
            )
        except _Cancelled:
            result.status = SweepStatus.CANCELLED
            result.error = "cancelled"
        finally:
            result.finished_at = self.clock()
            done = total
            emit(EventKind.FINISHED, f"sweep {sweep_id} {result.status}", result=result)
        return result


class _Cancelled(Exception):
    pass
