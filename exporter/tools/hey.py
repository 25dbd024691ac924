"""hey: HTTP load from the text summary of ``hey [-z D | -n N] -c C URL``.

What the installed hey (0.1.4, Debian 12) does, found with real loopback runs and its source
(tests/fixtures/COMMANDS.md):

- **End of a ``-z`` run.** At the deadline hey sends each worker a stop signal that the worker
  only reads *between* requests: requests in flight are **not cancelled**. They finish
  normally, are counted with their real status code, and ``Total`` stretches past ``-z``. Against
  a server answering in 0.4 s, ``-z 1s -c 4`` printed ``Total: 1.3127 secs`` and 12 ``[200]``
  responses, no errors (fixture ``z1s_c4_slow_server_tail.txt``); a fast nginx never showed a
  deadline error in repeated ``-z 1s -c 64`` runs with and without keep-alive. So an entry in
  "Error distribution" is always a real failure, never a deadline artefact, and it raises.
  ``Requests/sec`` divides by the real ``Total``, so the stretched tail does not inflate it.
- hey **exits 0 whatever happened** (404s, 500s, every connection refused), so the parser is
  the only check. On a fully refused run it still prints a non-zero ``Requests/sec`` (errors
  are counted as requests) and ``Average: NaN``.
- Latencies are printed with 4 decimals: their resolution is **0.1 ms**
  (:data:`LATENCY_RESOLUTION_SECONDS`). On loopback most quantiles read 0.0001 s.
- The status-code and latency distributions cover only the first 1,000,000 successful
  responses (hey's ``maxRes``); ``Requests/sec`` covers all. ``total_requests`` therefore comes
  from ``Requests/sec x Total``, cross-checked against the status codes, and
  ``status_codes_sampled`` says when the codes are only that sample.
- With few responses hey cannot fill its high percentiles and prints them as
  ``0% in 0.0000 secs`` (12 responses: the 95 % and 99 % lines). Those lines carry no value and
  are left out of ``latency_seconds``: a missing quantile is absent, never 0.
- ``-n N -c C`` sends ``N // C`` requests per worker and silently drops the remainder, so the
  spec requires ``N`` to be a multiple of ``C``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools._common import (
    check_monotonic,
    check_positive,
    frozen_mapping,
    plain_number,
    require_text,
    to_float,
    to_int,
)

TOOL = "hey"
LATENCY_RESOLUTION_SECONDS = 0.0001
"""hey prints seconds with 4 decimals."""
MAX_RECORDED_RESPONSES = 1_000_000
"""hey's ``maxRes``: responses beyond it are counted in Requests/sec only."""

_SUMMARY = re.compile(r"^\s*(Total|Slowest|Fastest|Average|Requests/sec):\s*(\S+)(?: secs)?\s*$")
_QUANTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)% in (\S+) secs\s*$")
_CODE = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses\s*$")
_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.*?)\s*$")


@dataclass(frozen=True)
class HeySpec:
    url: str
    concurrency: int
    duration_seconds: float | None = None
    """``-z``; exactly one of this and ``requests``."""
    requests: int | None = None
    """``-n``; must be a multiple of ``concurrency``."""
    qps_per_worker: float | None = None
    """``-q``: rate limit of *each* worker (total rate = concurrency x this)."""
    keepalive: bool = True
    timeout_seconds: int = 10
    """``-t``: per-request timeout (0 = none)."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"hey url must be http(s)://..., got {self.url!r}")
        if isinstance(self.concurrency, bool) or self.concurrency < 1:
            raise ValueError(f"hey concurrency must be >= 1, got {self.concurrency!r}")
        if (self.duration_seconds is None) == (self.requests is None):
            raise ValueError("hey needs exactly one of duration_seconds (-z) and requests (-n)")
        if self.duration_seconds is not None:
            check_positive(self.duration_seconds, "hey duration_seconds")
            _go_duration(self.duration_seconds)
        if self.requests is not None:
            if isinstance(self.requests, bool) or self.requests < self.concurrency:
                raise ValueError(
                    f"hey requests ({self.requests!r}) must be >= concurrency ({self.concurrency})"
                )
            if self.requests % self.concurrency:
                raise ValueError(
                    f"hey requests ({self.requests}) must be a multiple of concurrency "
                    f"({self.concurrency}): hey would silently send only "
                    f"{self.requests // self.concurrency * self.concurrency}"
                )
        if self.qps_per_worker is not None:
            check_positive(self.qps_per_worker, "hey qps_per_worker")
        if isinstance(self.timeout_seconds, bool) or self.timeout_seconds < 0:
            raise ValueError(f"hey timeout_seconds must be >= 0, got {self.timeout_seconds!r}")


@dataclass(frozen=True)
class HeyResult:
    requests_per_second: float
    total_requests: int
    status_codes: Mapping[int, int]
    latency_seconds: Mapping[float, float]
    """Quantile (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99) -> seconds, 0.1 ms resolution."""
    average_seconds: float
    fastest_seconds: float
    slowest_seconds: float
    total_seconds: float = 0.0
    """Wall time of the run, including requests that finished after the ``-z`` deadline."""
    status_codes_sampled: bool = False
    """True when the status codes cover only hey's first 1,000,000 responses."""


def _go_duration(seconds: float) -> str:
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    ms = seconds * 1000
    if ms != int(ms):
        raise ValueError(f"hey duration_seconds must be whole milliseconds, got {seconds!r}")
    return f"{int(ms)}ms"


def build_command(spec: HeySpec) -> list[str]:
    argv = ["hey"]
    if spec.duration_seconds is not None:
        argv += ["-z", _go_duration(spec.duration_seconds)]
    else:
        argv += ["-n", str(spec.requests)]
    argv += ["-c", str(spec.concurrency)]
    if spec.qps_per_worker is not None:
        argv += ["-q", plain_number(spec.qps_per_worker)]
    if not spec.keepalive:
        argv.append("-disable-keepalive")
    argv += ["-t", str(spec.timeout_seconds), spec.url]
    return argv


def _section(lines: list[str], title: str) -> list[str] | None:
    """Lines under a ``Title:`` header up to the next blank line (None if no such header)."""
    try:
        i = next(n for n, line in enumerate(lines) if line.strip() == title)
    except StopIteration:
        return None
    out = []
    for line in lines[i + 1 :]:
        if not line.strip():
            break
        out.append(line)
    return out


def parse(text: str) -> HeyResult:
    require_text(TOOL, text, "output from hey")
    lines = text.splitlines()
    errors = _section(lines, "Error distribution:")
    if errors is not None:
        entries = []
        for line in errors:
            m = _ERROR.match(line)
            if not m:
                raise ToolOutputError(TOOL, f"unreadable 'Error distribution' line {line!r}")
            entries.append(f"{m.group(1)} x {m.group(2)}")
        if not entries:
            raise ToolOutputError(TOOL, "'Error distribution:' has no entries (truncated?)")
        raise ToolReportedError(TOOL, "requests failed: " + "; ".join(entries))

    summary: dict[str, str] = {}
    for line in lines:
        m = _SUMMARY.match(line)
        if m and m.group(1) not in summary:
            summary[m.group(1)] = m.group(2)
    missing = [
        k for k in ("Total", "Slowest", "Fastest", "Average", "Requests/sec") if k not in summary
    ]
    if missing:
        raise ToolOutputError(TOOL, f"no summary line for {', '.join(missing)} (truncated?)")
    total = to_float(TOOL, summary["Total"], "Total")
    rps = to_float(TOOL, summary["Requests/sec"], "Requests/sec")

    codes_lines = _section(lines, "Status code distribution:")
    if codes_lines is None:
        raise ToolOutputError(TOOL, "no 'Status code distribution:' section (truncated?)")
    codes: dict[int, int] = {}
    for line in codes_lines:
        m = _CODE.match(line)
        if not m:
            raise ToolOutputError(TOOL, f"unreadable status code line {line!r}")
        codes[int(m.group(1))] = to_int(TOOL, m.group(2), f"count of status {m.group(1)}")
    if not codes:
        raise ToolOutputError(TOOL, "the status code distribution is empty (truncated?)")
    bad = {code: n for code, n in sorted(codes.items()) if not 200 <= code <= 299}
    if bad:
        listed = ", ".join(f"{n} x {code}" for code, n in bad.items())
        raise ToolReportedError(TOOL, f"non-2xx responses: {listed} (of {sum(codes.values())})")

    counted = sum(codes.values())
    implied = rps * total
    # Both figures are printed with 4 decimals: allow their rounding, and nothing more.
    slack = 1.0 + (rps + total) * 1e-4
    if abs(implied - counted) <= slack:
        total_requests, sampled = counted, False
    elif counted == MAX_RECORDED_RESPONSES and implied > counted:
        total_requests, sampled = round(implied), True
    else:
        raise ToolOutputError(
            TOOL,
            f"status codes add up to {counted} but Requests/sec x Total implies "
            f"{implied:.1f}: the output is truncated or inconsistent",
        )

    quantile_lines = _section(lines, "Latency distribution:")
    if not quantile_lines:
        raise ToolOutputError(TOOL, "no 'Latency distribution:' entries (truncated?)")
    latency: dict[float, float] = {}
    for line in quantile_lines:
        m = _QUANTILE.match(line)
        if not m:
            raise ToolOutputError(TOOL, f"unreadable latency line {line!r}")
        q = to_float(TOOL, m.group(1), "latency percentile") / 100
        if q == 0:
            # A quantile hey could not compute from too few responses ("0% in 0.0000 secs"):
            # no value is known, so none is reported.
            continue
        latency[q] = to_float(TOOL, m.group(2), f"latency at {m.group(1)}%")
    check_monotonic(TOOL, latency, "latency")

    average = to_float(TOOL, summary["Average"], "Average")
    if math.isnan(average):  # pragma: no cover - to_float already refuses NaN
        raise ToolOutputError(TOOL, "Average is NaN")
    return HeyResult(
        requests_per_second=rps,
        total_requests=total_requests,
        status_codes=frozen_mapping(codes),
        latency_seconds=frozen_mapping(sorted(latency.items())),
        average_seconds=average,
        fastest_seconds=to_float(TOOL, summary["Fastest"], "Fastest"),
        slowest_seconds=to_float(TOOL, summary["Slowest"], "Slowest"),
        total_seconds=total,
        status_codes_sampled=sampled,
    )
