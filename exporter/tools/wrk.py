"""wrk: HTTP load from ``wrk -t T -c C -d Ds [--latency] URL``.

What the installed wrk (4.1.0, Debian 12) does, found with real loopback runs
(tests/fixtures/COMMANDS.md):

- ``-d`` and ``--timeout`` take whole units only (``1.5s`` and ``200ms`` print the usage text
  and exit 1): the spec refuses fractional seconds.
- Socket errors and error statuses during the run **exit 0**; only the parser catches them.
  ``Non-2xx or 3xx responses: N`` counts statuses >= 400 (wrk's own test is ``status > 399``):
  3xx answers are not counted. ``non_2xx`` keeps wrk's number under the name the API asks for.
- A connection refused at start prints nothing on stdout (exit 1, reason on stderr): that is an
  empty-output :class:`ToolOutputError`, which the scenario runner reports with the exit status.
- Timed-out requests are counted in ``N requests`` but not in the latency statistics (which then
  read all zeros and ``-nan%``).

Latency quantiles (``--latency``: 50/75/90/99 %) are converted to seconds; throughput units
(``k``/``M``) are decimal, byte units (``KB``/``MB``) binary, as wrk prints them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools._common import (
    check_monotonic,
    frozen_mapping,
    require_text,
    to_float,
    to_int,
    whole_seconds,
)

TOOL = "wrk"

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "PB": 1024**5}

_TIME = r"(\d+(?:\.\d+)?)(us|ms|s|m|h)"
_RUNNING = re.compile(r"^Running (\S+) test @ (\S+)\s*$")
_SHAPE = re.compile(r"^\s*(\d+) threads and (\d+) connections\s*$")
_LAT_STATS = re.compile(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}\s+\S+\s*$")
_QUANTILE = re.compile(rf"^\s*(\d+(?:\.\d+)?)%\s+{_TIME}\s*$")
_REQUESTS = re.compile(rf"^\s*(\d+) requests in {_TIME}, (\d+(?:\.\d+)?)([KMGTP]?B) read\s*$")
_SOCKET_ERRORS = re.compile(
    r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$"
)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses: (\d+)\s*$")
_RPS = re.compile(r"^Requests/sec:\s+(\S+)\s*$")
_TRANSFER = re.compile(r"^Transfer/sec:\s+(\d+(?:\.\d+)?)([KMGTP]?B)\s*$")


@dataclass(frozen=True)
class WrkSpec:
    url: str
    connections: int
    threads: int
    duration_seconds: float
    """``-d``, whole seconds."""
    headers: tuple[str, ...] = ()
    """Each ``Name: value`` becomes one ``-H``."""
    latency: bool = True
    """``--latency``: print the 50/75/90/99 % quantiles."""
    timeout_seconds: int | None = None
    """``--timeout`` (whole seconds); None keeps wrk's default of 2 s."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"wrk url must be http(s)://..., got {self.url!r}")
        if isinstance(self.threads, bool) or self.threads < 1:
            raise ValueError(f"wrk threads must be >= 1, got {self.threads!r}")
        if isinstance(self.connections, bool) or self.connections < self.threads:
            raise ValueError(
                f"wrk connections ({self.connections!r}) must be >= threads ({self.threads})"
            )
        whole_seconds(self.duration_seconds, "wrk duration_seconds (-d)")
        if self.timeout_seconds is not None:
            whole_seconds(self.timeout_seconds, "wrk timeout_seconds (--timeout)")
        for header in self.headers:
            if ":" not in header:
                raise ValueError(f"wrk header must be 'Name: value', got {header!r}")


@dataclass(frozen=True)
class WrkSocketErrors:
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.read + self.write + self.timeout


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    total_requests: int
    latency_seconds: Mapping[float, float]
    """Quantile (0.5, 0.75, 0.9, 0.99) -> seconds; empty without ``--latency``."""
    socket_errors: WrkSocketErrors
    non_2xx: int
    """wrk's "Non-2xx or 3xx responses" (statuses >= 400)."""
    duration_seconds: float = 0.0
    threads: int = 0
    connections: int = 0
    average_latency_seconds: float = 0.0
    max_latency_seconds: float = 0.0
    read_bytes: float = 0.0
    """As printed (2 decimals of a binary unit): approximate."""


def build_command(spec: WrkSpec) -> list[str]:
    argv = [
        "wrk",
        "-t",
        str(spec.threads),
        "-c",
        str(spec.connections),
        "-d",
        f"{int(spec.duration_seconds)}s",
    ]
    if spec.timeout_seconds is not None:
        argv += ["--timeout", f"{int(spec.timeout_seconds)}s"]
    for header in spec.headers:
        argv += ["-H", header]
    if spec.latency:
        argv.append("--latency")
    argv.append(spec.url)
    return argv


def _seconds(value: str, unit: str, what: str) -> float:
    return to_float(TOOL, value, what) * _TIME_UNITS[unit]


def parse(text: str) -> WrkResult:
    require_text(TOOL, text, "output from wrk")
    lines = text.splitlines()
    if not _RUNNING.match(lines[0]):
        raise ToolOutputError(TOOL, f"does not start with 'Running ... test @': {lines[0]!r}")
    shape = next((m for line in lines if (m := _SHAPE.match(line))), None)
    requests = next((m for line in lines if (m := _REQUESTS.match(line))), None)
    rps = next((m for line in lines if (m := _RPS.match(line))), None)
    transfer = next((m for line in lines if (m := _TRANSFER.match(line))), None)
    for found, what in (
        (shape, "'T threads and C connections'"),
        (requests, "'N requests in T, B read'"),
        (rps, "'Requests/sec:'"),
        (transfer, "'Transfer/sec:' (the last line)"),
    ):
        if found is None:
            raise ToolOutputError(TOOL, f"no {what} line (truncated?)")
    assert shape and requests and rps and transfer  # narrowed above, for mypy

    errors = WrkSocketErrors()
    non_2xx = 0
    for line in lines:
        if m := _SOCKET_ERRORS.match(line):
            errors = WrkSocketErrors(*(int(g) for g in m.groups()))
        elif m := _NON_2XX.match(line):
            non_2xx = int(m.group(1))
    total_requests = to_int(TOOL, requests.group(1), "requests")
    problems = []
    if errors.total:
        problems.append(
            f"socket errors: connect {errors.connect}, read {errors.read}, "
            f"write {errors.write}, timeout {errors.timeout}"
        )
    if non_2xx:
        problems.append(f"{non_2xx} of {total_requests} responses had a status >= 400")
    if problems:
        raise ToolReportedError(TOOL, "; ".join(problems))

    latency: dict[float, float] = {}
    in_distribution = False
    for line in lines:
        if line.strip() == "Latency Distribution":
            in_distribution = True
            continue
        if in_distribution:
            m = _QUANTILE.match(line)
            if not m:
                break
            q = to_float(TOOL, m.group(1), "latency percentile") / 100
            latency[q] = _seconds(m.group(2), m.group(3), f"latency at {m.group(1)}%")
    if in_distribution and set(latency) != {0.5, 0.75, 0.9, 0.99}:
        raise ToolOutputError(
            TOOL, f"latency distribution is incomplete: quantiles {sorted(latency)}"
        )
    check_monotonic(TOOL, latency, "latency")

    stats = next((m for line in lines if (m := _LAT_STATS.match(line))), None)
    if stats is None:
        raise ToolOutputError(TOOL, "no 'Latency avg stdev max' thread-stats line")
    if total_requests == 0:
        raise ToolReportedError(TOOL, "wrk completed 0 requests")
    return WrkResult(
        requests_per_second=to_float(TOOL, rps.group(1), "Requests/sec"),
        total_requests=total_requests,
        latency_seconds=frozen_mapping(sorted(latency.items())),
        socket_errors=errors,
        non_2xx=non_2xx,
        duration_seconds=_seconds(requests.group(2), requests.group(3), "run time"),
        threads=to_int(TOOL, shape.group(1), "threads", minimum=1),
        connections=to_int(TOOL, shape.group(2), "connections", minimum=1),
        average_latency_seconds=_seconds(stats.group(1), stats.group(2), "average latency"),
        max_latency_seconds=_seconds(stats.group(5), stats.group(6), "max latency"),
        read_bytes=to_float(TOOL, requests.group(4), "bytes read") * _BYTE_UNITS[requests.group(5)],
    )
