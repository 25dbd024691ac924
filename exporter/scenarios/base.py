"""What every scenario shares: the round context and running one tool at one role.

Scenarios are target-agnostic: they ask the target for endpoints and run argv at a role. They
never parse text themselves; the tool adapters do, and raise typed errors that fail the scenario
(never a number from an error output).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from exporter.errors import SweepCancelled, ToolExecutionError, ToolOutputError
from exporter.model import Sample, labels_of
from exporter.settings import Durations
from exporter.targets.base import Role, Target

T = TypeVar("T")

# Grace on top of a tool's own duration before the target kills it: connection set-up, the
# tool's final report, and a slow 2-core machine. A tool still running after this is hung.
TOOL_GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class RoundContext:
    """What a scenario needs to run one round."""

    durations: Durations
    round_index: int
    """0-based."""
    rounds: int
    cancel: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = lambda _msg: None

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise SweepCancelled("sweep cancelled")


class RoundScenario(Protocol):
    """A scenario measured round by round; the runner interleaves datapaths between rounds."""

    name: str

    def runs_per_round(self) -> int:
        """How many tool runs one round makes (for progress reporting)."""
        ...

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]: ...


def sample(metric: str, value: float, **labels: str | int | float) -> Sample:
    return Sample(metric=metric, labels=labels_of(labels), value=float(value))


def run_tool(
    target: Target,
    role: Role,
    argv: Sequence[str],
    *,
    tool: str,
    timeout: float,
    parse: Callable[[str], T],
    ctx: RoundContext,
) -> T:
    """Run one tool command and parse its output, failing loudly.

    The parser sees the output first even when the exit status is non-zero, because tools such
    as iperf3 explain their failure in their output: that explanation is the better error.
    A parse that succeeds despite a non-zero exit is still a failure.
    """
    ctx.check_cancelled()
    ctx.log(f"{tool}: {' '.join(argv)}")
    result = target.run(role, argv, timeout)
    try:
        parsed = parse(result.stdout)
    except ToolOutputError as err:
        if result.returncode != 0:
            raise ToolExecutionError(
                tool,
                f"exited with status {result.returncode} ({err.reason}); "
                f"stderr: {_tail(result.stderr)}",
                returncode=result.returncode,
                stderr=result.stderr,
            ) from err
        raise
    if result.returncode != 0:
        raise ToolExecutionError(
            tool,
            f"exited with status {result.returncode}; stderr: {_tail(result.stderr)}",
            returncode=result.returncode,
            stderr=result.stderr,
        )
    return parsed


def _tail(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
