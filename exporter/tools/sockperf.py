"""sockperf: TCP (or UDP) request/response latency from ``sockperf ping-pong``.

What the installed sockperf (3.7, Debian 12) does, found with real loopback runs and its source
(tests/fixtures/COMMANDS.md):

- Everything, including errors and the usage text, goes to **stdout**, and the exit status is
  **0 even on failure** (connection refused, invalid option): the parser must find the failure.
- **One-way or round trip.** Without ``--full-rtt`` every figure is the round-trip time divided
  by 2 (sockperf's ``denominator = full_rtt ? 1 : 2``), labelled ``avg-latency`` and
  ``Summary: Latency is``; with it the figures are the full round trip, labelled ``avg-rtt`` and
  ``Summary: Round trip is``. :attr:`SockperfResult.round_trip` records which one was parsed (it
  is read from the output, and cross-checked between the two labels).
- The minimum message size is **14 bytes** (``-m 1`` is refused), ``-t`` is whole seconds, and
  statistics cover only the "Valid Duration": the first 400 ms of warm-up and the last ~50 ms
  are excluded, so ``-t 2`` yields about 1.55 s of observations.
- Output lines carry ANSI colour escapes; they are stripped before parsing.

Percentiles are printed in microseconds with 3 decimals; the result holds seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools._common import (
    check_monotonic,
    check_port,
    frozen_mapping,
    require_text,
    to_float,
    to_int,
    whole_seconds,
)

TOOL = "sockperf"
MIN_MESSAGE_SIZE = 14
"""sockperf refuses smaller messages (its header is 14 bytes)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NUM = r"(\d+(?:\.\d+)?)"
_AVG = re.compile(rf"====> avg-(latency|rtt)={_NUM} \(std-dev={_NUM}[,)]")
_SUMMARY = re.compile(rf"Summary: (Latency|Round trip) is {_NUM} usec")
_TOTAL = re.compile(r"Total (\d+) observations")
_PERCENTILE = re.compile(rf"---> percentile {_NUM} = +{_NUM}\s*$")
_MAX = re.compile(rf"---> <MAX> observation = +{_NUM}\s*$")
_MIN = re.compile(rf"---> <MIN> observation = +{_NUM}\s*$")
_VALID = re.compile(
    rf"\[Valid Duration\] RunTime={_NUM} sec; SentMessages=(\d+); ReceivedMessages=(\d+)"
)
_LOSS = re.compile(
    r"# dropped messages = (\d+); # duplicated messages = (\d+); # out-of-order messages = (\d+)"
)
_SERVER_NO = re.compile(r"Printing statistics for Server No: (\d+)")
_INTERRUPTED = re.compile(r"Test end \(interrupted by signal (\d+)\)")


@dataclass(frozen=True)
class SockperfSpec:
    server: str
    port: int = 11111
    _: KW_ONLY
    seconds: float
    """``-t``, whole seconds (about 0.45 s of it is warm-up/cool-down, not measured)."""
    tcp: bool = True
    message_size: int = MIN_MESSAGE_SIZE
    full_rtt: bool = True
    """``--full-rtt``: report round-trip times instead of half of them."""

    def __post_init__(self) -> None:
        if not self.server:
            raise ValueError("sockperf server must not be empty")
        check_port(self.port)
        whole_seconds(self.seconds, "sockperf seconds (-t)")
        if isinstance(self.message_size, bool) or self.message_size < MIN_MESSAGE_SIZE:
            raise ValueError(
                f"sockperf message_size must be >= {MIN_MESSAGE_SIZE} (sockperf refuses less), "
                f"got {self.message_size!r}"
            )


@dataclass(frozen=True)
class SockperfResult:
    latency_seconds: Mapping[float, float]
    """Quantile -> seconds: 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 0.99999, plus 0.0 (MIN)
    and 1.0 (MAX). One-way (RTT/2) or round trip: see ``round_trip``."""
    average_seconds: float
    observations: int
    round_trip: bool
    """True: figures are full round trips (``--full-rtt``); False: half round trips."""
    stddev_seconds: float = 0.0
    valid_seconds: float = 0.0
    """The measured window ("Valid Duration" RunTime)."""
    sent_messages: int = 0
    received_messages: int = 0
    dropped_messages: int = 0
    duplicated_messages: int = 0
    out_of_order_messages: int = 0


def build_command(spec: SockperfSpec) -> list[str]:
    argv = ["sockperf", "ping-pong", "-i", spec.server, "-p", str(spec.port)]
    if spec.tcp:
        argv.append("--tcp")
    argv += ["-m", str(spec.message_size), "-t", str(int(spec.seconds))]
    if spec.full_rtt:
        argv.append("--full-rtt")
    return argv


def _usec(raw: str, what: str) -> float:
    return to_float(TOOL, raw, what) * 1e-6


def parse(text: str) -> SockperfResult:
    require_text(TOOL, text, "output from sockperf")
    lines = [_ANSI.sub("", line) for line in text.splitlines()]
    for line in lines:
        if "sockperf: ERROR" in line:
            raise ToolReportedError(TOOL, line.split("sockperf: ", 1)[1].strip())
        if m := _INTERRUPTED.search(line):
            raise ToolReportedError(TOOL, f"the test was interrupted by signal {m.group(1)}")
        if (
            "No messages were received from the server" in line
            or "Test end before test start" in line
        ):
            raise ToolReportedError(TOOL, line.removeprefix("sockperf: ").strip())
    summary = next((m for line in lines if (m := _SUMMARY.search(line))), None)
    if summary is None:
        if any(line.startswith("Usage: sockperf") for line in lines):
            raise ToolReportedError(
                TOOL, f"sockperf refused its arguments: {lines[0].removeprefix('sockperf: ')}"
            )
        raise ToolOutputError(TOOL, "no 'Summary:' line (truncated or not a ping-pong run)")
    servers = {m.group(1) for line in lines if (m := _SERVER_NO.search(line))}
    if len(servers) != 1:
        raise ToolOutputError(TOOL, f"expected statistics for one server, found {len(servers)}")

    avg = next((m for line in lines if (m := _AVG.search(line))), None)
    total = next((m for line in lines if (m := _TOTAL.search(line))), None)
    valid = next((m for line in lines if (m := _VALID.search(line))), None)
    loss = next((m for line in lines if (m := _LOSS.search(line))), None)
    biggest = next((m for line in lines if (m := _MAX.search(line))), None)
    smallest = next((m for line in lines if (m := _MIN.search(line))), None)
    for found, what in (
        (avg, "'avg-latency='/'avg-rtt='"),
        (total, "'Total N observations'"),
        (valid, "'[Valid Duration]'"),
        (loss, "'# dropped messages'"),
        (biggest, "'<MAX> observation'"),
        (smallest, "'<MIN> observation' (the last line)"),
    ):
        if found is None:
            raise ToolOutputError(TOOL, f"no {what} line (truncated?)")
    assert avg and total and valid and loss and biggest and smallest  # narrowed, for mypy

    round_trip = avg.group(1) == "rtt"
    if round_trip != (summary.group(1) == "Round trip"):
        raise ToolOutputError(
            TOOL, f"avg-{avg.group(1)} disagrees with 'Summary: {summary.group(1)} is'"
        )
    latency: dict[float, float] = {0.0: _usec(smallest.group(1), "MIN observation")}
    for line in lines:
        if m := _PERCENTILE.search(line):
            q = round(to_float(TOOL, m.group(1), "percentile") / 100, 7)
            latency[q] = _usec(m.group(2), f"percentile {m.group(1)}")
    latency[1.0] = _usec(biggest.group(1), "MAX observation")
    for q in (0.5, 0.9, 0.99, 0.999):
        if q not in latency:
            raise ToolOutputError(TOOL, f"no percentile {q * 100:g} line (truncated?)")
    check_monotonic(TOOL, latency, "latency")
    ordered = sorted(latency.items())
    observations = to_int(TOOL, total.group(1), "observations", minimum=1)
    return SockperfResult(
        latency_seconds=frozen_mapping(ordered),
        average_seconds=_usec(avg.group(2), "average"),
        observations=observations,
        round_trip=round_trip,
        stddev_seconds=_usec(avg.group(3), "std-dev"),
        valid_seconds=to_float(TOOL, valid.group(1), "Valid Duration RunTime"),
        sent_messages=int(valid.group(2)),
        received_messages=int(valid.group(3)),
        dropped_messages=int(loss.group(1)),
        duplicated_messages=int(loss.group(2)),
        out_of_order_messages=int(loss.group(3)),
    )
