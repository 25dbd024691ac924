"""fortio: HTTP load from ``fortio load ... -json -`` (JSON) or its console summary (text).

fortio is not installable in the lab (see DESIGN.md); these parsers are built and tested on the
real upstream samples in tests/fixtures/upstream/ (SOURCES.md names each one's origin).

JSON schemas:

- **old** (1.3.x): no ``Sockets``, no ``ErrorsDurationHistogram``, no ``DisableKeepAlive``;
  ``SocketCount`` is there. Whether keep-alive was off is then not recorded in the output:
  ``keepalive_reported`` is False and ``keepalive`` holds fortio's default (True).
- **new** (1.5x-1.7x): ``Sockets[]`` (sockets per thread), ``ErrorsDurationHistogram``,
  ``DisableKeepAlive``, ``ConnectionStats`` (its own ``Percentiles``, *not* request latency).

``RetCodes`` keys are strings; ``-1`` means a socket/connection error. Any key that is not a
2xx code (or the ``OK``/``SERVING`` of tcp/grpc runs) raises :class:`ToolReportedError`.

The seed never looked at ``SocketCount``: a "short connection" run that silently reused sockets
was published as one. :func:`check_short_connections` closes that hole. With keep-alive off
fortio opens one socket per call, plus one per warm-up call, so ``socket_count`` must reach
``total_requests`` (a small ratio tolerance is allowed).

Latency quantiles come from ``DurationHistogram.Percentiles`` (JSON) or the ``# target`` lines
of the ``Aggregated Function Time`` block (text), in seconds. The text output has other blocks
with ``# target`` lines (``Error cases``, ``Connection time histogram``) that are ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import MeasurementInvalid, ToolOutputError, ToolReportedError
from exporter.tools._common import (
    check_monotonic,
    check_positive,
    frozen_mapping,
    go_duration_seconds,
    plain_number,
    require_text,
    to_float,
    to_int,
)

TOOL = "fortio"
_SUCCESS_WORDS = frozenset({"OK", "SERVING"})

_BANNER = re.compile(r"^Fortio (\S+) running at (\S+) queries per second")
_STARTING = re.compile(r"^Starting at (max|[\d.]+) qps with (\d+) thread\(s\)")
_ENDED = re.compile(r"^Ended after (\S+) : (\d+) calls\. qps=(\S+)")
_BLOCK = re.compile(r"^(\S.*?) : (?:count \d+|no data)")
_TARGET = re.compile(r"^# target (\d+(?:\.\d+)?)% (\S+)\s*$")
_SOCKETS = re.compile(r"^Sockets used: (\d+) \(")
_CODE = re.compile(r"^(?:Code (-?\d+)|(\w+) (OK|SERVING)) : (\d+) \(")
_ALL_DONE = re.compile(
    r"^All done (\d+) calls(?: \(plus (\d+) warmup\))?,? (\S+) ms avg, (\S+) qps\s*$"
)


@dataclass(frozen=True)
class FortioSpec:
    url: str
    concurrency: int
    qps: float
    """Total requested rate; 0 = as fast as possible."""
    duration_seconds: float
    keepalive: bool = True
    json_path: str = "-"
    """``-json`` target; ``-`` writes the JSON to stdout."""

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("fortio url must not be empty")
        if isinstance(self.concurrency, bool) or self.concurrency < 1:
            raise ValueError(f"fortio concurrency must be >= 1, got {self.concurrency!r}")
        if isinstance(self.qps, bool) or not math.isfinite(self.qps) or self.qps < 0:
            raise ValueError(f"fortio qps must be >= 0 (0 = max), got {self.qps!r}")
        check_positive(self.duration_seconds, "fortio duration_seconds")
        if not self.json_path:
            raise ValueError("fortio json_path must not be empty ('-' for stdout)")


@dataclass(frozen=True)
class FortioResult:
    requests_per_second: float
    requested_qps: float
    """0 = max (``RequestedQPS: "max"``)."""
    total_requests: int
    ret_codes: Mapping[str, int]
    socket_count: int
    latency_seconds: Mapping[float, float]
    keepalive: bool
    num_threads: int
    version: str
    keepalive_reported: bool = True
    """False when the output does not say whether keep-alive was on (old JSON, text)."""
    average_seconds: float = 0.0
    duration_seconds: float = 0.0
    sockets_per_thread: tuple[int, ...] | None = None
    """``Sockets[]`` of the new schema; None in the old one and in text."""
    error_count: int | None = None
    """``ErrorsDurationHistogram.Count`` (new schema); None when absent."""
    warmup_calls: int | None = None
    """Text only: the ``(plus N warmup)`` calls, which also open sockets."""


def build_command(spec: FortioSpec) -> list[str]:
    argv = [
        "fortio",
        "load",
        "-c",
        str(spec.concurrency),
        "-qps",
        plain_number(spec.qps),
        "-t",
        f"{plain_number(spec.duration_seconds)}s",
        "-json",
        spec.json_path,
    ]
    if not spec.keepalive:
        argv.append("-keepalive=false")
    argv.append(spec.url)
    return argv


def _check_codes(codes: Mapping[str, int]) -> None:
    if not codes:
        raise ToolOutputError(TOOL, "no return codes at all")
    bad = []
    for key, n in codes.items():
        try:
            ok = 200 <= int(key) <= 299
        except ValueError:
            ok = key in _SUCCESS_WORDS
        if not ok and n:
            bad.append(f"{n} x {key}" + (" (socket/connection error)" if key == "-1" else ""))
    if bad:
        raise ToolReportedError(
            TOOL, f"non-2xx return codes: {', '.join(bad)} (of {sum(codes.values())})"
        )


def _quantiles(points: list[tuple[float, float]], what: str) -> Mapping[float, float]:
    latency = {round(p / 100, 7): v for p, v in points}
    for q in (0.5, 0.9, 0.99):
        if q not in latency:
            raise ToolOutputError(TOOL, f"{what} lacks the {q * 100:g}th percentile")
    check_monotonic(TOOL, latency, what)
    return frozen_mapping(sorted(latency.items()))


def _requested_qps(raw: object) -> float:
    if raw == "max":
        return 0.0
    value = to_float(TOOL, str(raw), "RequestedQPS", minimum=None)
    return max(value, 0.0)  # fortio takes -1 for max as well


def _get(doc: Mapping[str, Any], key: str) -> Any:
    if key not in doc:
        raise ToolOutputError(TOOL, f"JSON has no {key!r}")
    return doc[key]


def parse_json(text: str) -> FortioResult:
    require_text(TOOL, text, "JSON from 'fortio load -json'")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ToolOutputError(
            TOOL, f"output is not complete JSON (truncated?): {err.msg} at char {err.pos}"
        ) from err
    if not isinstance(doc, dict):
        raise ToolOutputError(TOOL, f"expected a JSON object, got {type(doc).__name__}")
    raw_codes = _get(doc, "RetCodes")
    if not isinstance(raw_codes, dict):
        raise ToolOutputError(TOOL, "RetCodes is not an object")
    codes = {str(k): to_int(TOOL, v, f"RetCodes[{k}]") for k, v in raw_codes.items()}
    _check_codes(codes)
    hist = _get(doc, "DurationHistogram")
    if not isinstance(hist, dict):
        raise ToolOutputError(TOOL, "DurationHistogram is not an object")
    count = to_int(TOOL, _get(hist, "Count"), "DurationHistogram.Count", minimum=1)
    if sum(codes.values()) != count:
        raise ToolOutputError(
            TOOL,
            f"RetCodes add up to {sum(codes.values())} but DurationHistogram.Count is {count}",
        )
    percentiles = hist.get("Percentiles")
    if not isinstance(percentiles, list) or not percentiles:
        raise ToolOutputError(TOOL, "DurationHistogram has no Percentiles")
    try:
        points = [
            (
                to_float(TOOL, p["Percentile"], "Percentile"),
                to_float(TOOL, p["Value"], "Percentile value"),
            )
            for p in percentiles
        ]
    except (KeyError, TypeError) as err:
        raise ToolOutputError(
            TOOL, f"unreadable DurationHistogram.Percentiles entry: {err}"
        ) from err
    sockets = doc.get("Sockets")
    sockets_per_thread = (
        tuple(to_int(TOOL, s, "Sockets[]") for s in sockets) if isinstance(sockets, list) else None
    )
    errors_hist = doc.get("ErrorsDurationHistogram")
    disable = doc.get("DisableKeepAlive")
    return FortioResult(
        requests_per_second=to_float(TOOL, _get(doc, "ActualQPS"), "ActualQPS"),
        requested_qps=_requested_qps(_get(doc, "RequestedQPS")),
        total_requests=count,
        ret_codes=frozen_mapping(sorted(codes.items())),
        socket_count=to_int(TOOL, _get(doc, "SocketCount"), "SocketCount"),
        latency_seconds=_quantiles(points, "DurationHistogram"),
        keepalive=not disable if isinstance(disable, bool) else True,
        num_threads=to_int(TOOL, _get(doc, "NumThreads"), "NumThreads", minimum=1),
        version=str(_get(doc, "Version")),
        keepalive_reported=isinstance(disable, bool),
        average_seconds=to_float(TOOL, _get(hist, "Avg"), "DurationHistogram.Avg"),
        duration_seconds=to_float(TOOL, _get(doc, "ActualDuration"), "ActualDuration") / 1e9,
        sockets_per_thread=sockets_per_thread,
        error_count=(
            to_int(TOOL, errors_hist.get("Count", 0), "ErrorsDurationHistogram.Count")
            if isinstance(errors_hist, dict)
            else None
        ),
    )


def parse_text(text: str) -> FortioResult:
    """The console summary of ``fortio load`` (stdout and stderr together are fine)."""
    require_text(TOOL, text, "output from 'fortio load'")
    banner = starting = ended = sockets = done = None
    codes: dict[str, int] = {}
    targets: dict[str, list[tuple[float, float]]] = {}
    block = ""
    for line in text.splitlines():
        if line.startswith("{"):
            continue  # a JSON log line
        if m := _BANNER.match(line):
            banner = m
        elif m := _STARTING.match(line):
            starting = m
        elif m := _ENDED.match(line):
            ended = m
        elif m := _BLOCK.match(line):
            block = m.group(1)
        elif m := _TARGET.match(line):
            targets.setdefault(block, []).append(
                (to_float(TOOL, m.group(1), "target percentile"), to_float(TOOL, m.group(2), line))
            )
        elif m := _SOCKETS.match(line):
            sockets = m
        elif m := _CODE.match(line):
            key = m.group(1) if m.group(1) is not None else m.group(3)
            codes[key] = codes.get(key, 0) + to_int(TOOL, m.group(4), line)
        elif m := _ALL_DONE.match(line):
            done = m
    for found, what in (
        (banner, "'Fortio X running at' banner"),
        (starting, "'Starting at ... thread(s)'"),
        (ended, "'Ended after'"),
        (sockets, "'Sockets used:'"),
        (done, "'All done N calls' (the last line)"),
    ):
        if found is None:
            raise ToolOutputError(TOOL, f"no {what} line (truncated?)")
    assert banner and starting and ended and sockets and done  # narrowed, for mypy
    _check_codes(codes)
    total = to_int(TOOL, done.group(1), "All done calls", minimum=1)
    if sum(codes.values()) != total:
        raise ToolOutputError(
            TOOL, f"return codes add up to {sum(codes.values())} but 'All done' says {total}"
        )
    main = targets.get("Aggregated Function Time")
    if not main:
        raise ToolOutputError(TOOL, "no '# target' lines under 'Aggregated Function Time'")
    return FortioResult(
        requests_per_second=to_float(TOOL, done.group(4), "qps"),
        requested_qps=_requested_qps(starting.group(1)),
        total_requests=total,
        ret_codes=frozen_mapping(sorted(codes.items())),
        socket_count=to_int(TOOL, sockets.group(1), "Sockets used"),
        latency_seconds=_quantiles(main, "Aggregated Function Time"),
        keepalive=True,
        num_threads=to_int(TOOL, starting.group(2), "threads", minimum=1),
        version=banner.group(1),
        keepalive_reported=False,
        average_seconds=to_float(TOOL, done.group(3), "ms avg") / 1000,
        duration_seconds=go_duration_seconds(TOOL, ended.group(1), "Ended after"),
        warmup_calls=(
            to_int(TOOL, done.group(2), "warmup calls") if done.group(2) is not None else None
        ),
    )


def check_short_connections(
    result: FortioResult,
    *,
    requested_keepalive: bool | None = None,
    min_ratio: float = 0.99,
) -> None:
    """Raise :class:`MeasurementInvalid` unless a short-connection run really was one.

    Applies when the run was requested without keep-alive (``requested_keepalive=False``) or the
    output says keep-alive was off. A short-connection run must open about one socket per
    request: ``socket_count >= min_ratio * total_requests``. A requested short run that fortio
    reports as keep-alive is invalid outright. Keep-alive runs pass unchecked.
    """
    short_requested = requested_keepalive is False
    if short_requested and result.keepalive_reported and result.keepalive:
        raise MeasurementInvalid(
            "fortio: short connections were requested but the run reports keep-alive on "
            "(DisableKeepAlive false)"
        )
    if not short_requested and result.keepalive:
        return
    needed = min_ratio * result.total_requests
    if result.socket_count < needed:
        raise MeasurementInvalid(
            f"fortio: short connections expected but only {result.socket_count} sockets served "
            f"{result.total_requests} requests (need >= {math.ceil(needed)}): connections "
            "were reused, this is not a short-connection measurement"
        )
