"""netperf: TCP_RR / TCP_CRR latency and transaction rate, TCP_STREAM throughput.

netperf is not installable in the lab (see DESIGN.md); these parsers are built and tested on the
real upstream samples in tests/fixtures/upstream/ (SOURCES.md names each one's origin).

Three output forms:

- **omni CSV** (``-- -o sel1,sel2``): an optional banner line (``MIGRATED ... TEST`` or
  ``OMNI TEST ...``; absent with ``-P 0``), a header row of human-readable column names
  (``Mean Latency Microseconds``) and one value row. :func:`parse_omni_csv`.
- **keyval** (``-- -k sel1,sel2``): an optional banner, then ``SELECTOR=value`` lines.
  :func:`parse_keyval`.
- **classic** tables of the non-omni TCP_RR / TCP_CRR (``Trans. Rate per sec``) and
  TCP_STREAM (``Throughput`` in the unit of its header, e.g. ``10^6bits/sec``).
  :func:`parse_classic`.

Both omni forms give a :class:`NetperfOmniResult`; its typed accessors find a value under its
selector name (keyval) or its column name (CSV). netperf prints latencies in **microseconds**;
the accessors return seconds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from exporter.errors import ToolOutputError
from exporter.tools._common import (
    frozen_mapping,
    require_text,
    to_float,
    whole_seconds,
)

TOOL = "netperf"

NetperfTest = Literal["TCP_RR", "TCP_CRR", "TCP_STREAM"]

RR_SELECTORS: tuple[str, ...] = (
    "min_latency",
    "mean_latency",
    "p50_latency",
    "p90_latency",
    "p99_latency",
    "transaction_rate",
)
STREAM_SELECTORS: tuple[str, ...] = ("throughput", "throughput_units")

COLUMN_NAMES: Mapping[str, str] = frozen_mapping(
    {
        "MIN_LATENCY": "Minimum Latency Microseconds",
        "MAX_LATENCY": "Maximum Latency Microseconds",
        "MEAN_LATENCY": "Mean Latency Microseconds",
        "STDDEV_LATENCY": "Stddev Latency Microseconds",
        "P50_LATENCY": "50th Percentile Latency Microseconds",
        "P90_LATENCY": "90th Percentile Latency Microseconds",
        "P99_LATENCY": "99th Percentile Latency Microseconds",
        "TRANSACTION_RATE": "Transaction Rate Tran/s",
        "THROUGHPUT": "Throughput",
        "THROUGHPUT_UNITS": "Throughput Units",
    }
)
"""Omni selector -> the column name netperf prints in CSV headers."""

_QUANTILE_SELECTORS = (("P50_LATENCY", 0.5), ("P90_LATENCY", 0.9), ("P99_LATENCY", 0.99))
_BANNER = re.compile(r"^(MIGRATED .*TEST|OMNI .*TEST)\b")
_BITS_UNIT = re.compile(r"^10\^(\d+)bits/s(?:ec)?$")
_BYTES_UNIT = {"Bytes/s": 1, "KBytes/s": 1024, "MBytes/s": 1024**2, "GBytes/s": 1024**3}
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class NetperfSpec:
    host: str
    test: NetperfTest
    seconds: float
    """``-l``, whole seconds."""
    request_size: int = 1
    response_size: int = 1
    output_selectors: tuple[str, ...] = ()
    """``-o`` selectors; empty = :data:`RR_SELECTORS` or :data:`STREAM_SELECTORS`."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("netperf host must not be empty")
        if self.test not in ("TCP_RR", "TCP_CRR", "TCP_STREAM"):
            raise ValueError(f"netperf test must be TCP_RR, TCP_CRR or TCP_STREAM: {self.test!r}")
        whole_seconds(self.seconds, "netperf seconds (-l)")
        for size, what in (
            (self.request_size, "request_size"),
            (self.response_size, "response_size"),
        ):
            if isinstance(size, bool) or size < 1:
                raise ValueError(f"netperf {what} must be >= 1, got {size!r}")
        for sel in self.output_selectors:
            if not sel or "," in sel or sel != sel.strip():
                raise ValueError(f"bad netperf output selector {sel!r}")

    @property
    def selectors(self) -> tuple[str, ...]:
        if self.output_selectors:
            return self.output_selectors
        return STREAM_SELECTORS if self.test == "TCP_STREAM" else RR_SELECTORS


def build_command(spec: NetperfSpec) -> list[str]:
    argv = ["netperf", "-H", spec.host, "-t", spec.test, "-l", str(int(spec.seconds)), "--"]
    if spec.test != "TCP_STREAM":
        argv += ["-r", f"{spec.request_size},{spec.response_size}"]
    argv += ["-o", ",".join(spec.selectors)]
    return argv


@dataclass(frozen=True)
class NetperfOmniResult:
    columns: Mapping[str, str]
    """Column (CSV header) or selector (keyval) -> value, as printed."""
    banner: str | None = None
    form: Literal["csv", "keyval"] = "csv"

    def raw(self, selector: str) -> str:
        key = selector.upper()
        for name in (key, COLUMN_NAMES.get(key, key), selector):
            if name in self.columns:
                return self.columns[name]
        raise ToolOutputError(
            TOOL,
            f"the output has no {key} ({COLUMN_NAMES.get(key, key)!r}); "
            f"it has {', '.join(self.columns)}",
        )

    def number(self, selector: str) -> float:
        return to_float(TOOL, self.raw(selector), selector.upper())

    def has(self, selector: str) -> bool:
        key = selector.upper()
        return any(n in self.columns for n in (key, COLUMN_NAMES.get(key, key), selector))

    def _usec(self, selector: str) -> float:
        return self.number(selector) * 1e-6

    @property
    def min_latency_seconds(self) -> float:
        return self._usec("MIN_LATENCY")

    @property
    def max_latency_seconds(self) -> float:
        return self._usec("MAX_LATENCY")

    @property
    def mean_latency_seconds(self) -> float:
        return self._usec("MEAN_LATENCY")

    @property
    def stddev_latency_seconds(self) -> float:
        return self._usec("STDDEV_LATENCY")

    @property
    def latency_seconds(self) -> Mapping[float, float]:
        """Quantile -> seconds for the P50/P90/P99 selectors present (may be empty)."""
        return frozen_mapping(
            (q, self._usec(sel)) for sel, q in _QUANTILE_SELECTORS if self.has(sel)
        )

    @property
    def transaction_rate(self) -> float:
        """Transactions per second (TRANSACTION_RATE, or THROUGHPUT in Trans/s)."""
        if self.has("TRANSACTION_RATE"):
            return self.number("TRANSACTION_RATE")
        units = self.raw("THROUGHPUT_UNITS")
        if units != "Trans/s":
            raise ToolOutputError(TOOL, f"THROUGHPUT is in {units!r}, not transactions")
        return self.number("THROUGHPUT")

    @property
    def throughput_bytes_per_second(self) -> float:
        return self.number("THROUGHPUT") * _bytes_factor(self.raw("THROUGHPUT_UNITS"))


def _bytes_factor(unit: str) -> float:
    if m := _BITS_UNIT.match(unit):
        return 10.0 ** int(m.group(1)) / 8
    if unit in _BYTES_UNIT:
        return _BYTES_UNIT[unit]
    raise ToolOutputError(TOOL, f"throughput unit {unit!r} is not a data rate")


def _split_banner(text: str) -> tuple[str | None, list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and _BANNER.match(lines[0]):
        return lines[0], lines[1:]
    return None, lines


def parse_omni_csv(text: str) -> NetperfOmniResult:
    """``-o`` output: [banner,] header row, value row."""
    require_text(TOOL, text, "output from netperf -o")
    banner, lines = _split_banner(text)
    if len(lines) != 2:
        raise ToolOutputError(
            TOOL,
            f"expected a CSV header row and one value row after the banner, got {len(lines)} "
            "lines (truncated?)",
        )
    header, values = (next(csv.reader(io.StringIO(line))) for line in lines)
    if len(header) != len(values):
        raise ToolOutputError(
            TOOL, f"{len(header)} columns but {len(values)} values (truncated?): {lines[1]!r}"
        )
    if any(not name.strip() for name in header):
        raise ToolOutputError(TOOL, f"empty column name in header {lines[0]!r}")
    return NetperfOmniResult(
        columns=frozen_mapping(zip(header, (v.strip() for v in values), strict=True)),
        banner=banner,
        form="csv",
    )


def parse_keyval(text: str) -> NetperfOmniResult:
    """``-k`` output: [banner,] ``KEY=value`` lines."""
    require_text(TOOL, text, "output from netperf -k")
    banner, lines = _split_banner(text)
    if not lines:
        raise ToolOutputError(TOOL, "no KEY=value lines after the banner (truncated?)")
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key or key != key.strip() or not key.isupper():
            raise ToolOutputError(TOOL, f"not a KEY=value line: {line!r}")
        values[key] = value.strip()
    return NetperfOmniResult(columns=frozen_mapping(values), banner=banner, form="keyval")


@dataclass(frozen=True)
class NetperfClassicResult:
    test: NetperfTest
    elapsed_seconds: float
    transactions_per_second: float | None = None
    """TCP_RR / TCP_CRR."""
    bytes_per_second: float | None = None
    """TCP_STREAM."""
    request_size: int | None = None
    response_size: int | None = None
    message_size: int | None = None
    banner: str = field(default="")


def _classic_test(banner: str) -> NetperfTest:
    if "TCP Connect/Request/Response" in banner:
        return "TCP_CRR"
    if "TCP REQUEST/RESPONSE" in banner:
        return "TCP_RR"
    if "TCP STREAM" in banner:
        return "TCP_STREAM"
    raise ToolOutputError(TOOL, f"unsupported test in banner {banner!r}")


def parse_classic(text: str) -> NetperfClassicResult:
    """The classic (non-omni) result table of TCP_RR, TCP_CRR or TCP_STREAM."""
    require_text(TOOL, text, "output from netperf")
    banner, lines = _split_banner(text)
    if banner is None:
        raise ToolOutputError(TOOL, "no 'MIGRATED ... TEST' banner: not a classic netperf table")
    test = _classic_test(banner)
    width = 5 if test == "TCP_STREAM" else 6
    rows = [line.split() for line in lines]
    data = [r for r in rows if len(r) == width and all(_NUMBER.match(f) for f in r)]
    if len(data) != 1:
        raise ToolOutputError(
            TOOL, f"expected one {width}-column result row, found {len(data)} (truncated?)"
        )
    row = data[0]
    if test == "TCP_STREAM":
        unit_row = next((r for r in rows if r[:4] == ["bytes", "bytes", "bytes", "secs."]), None)
        if unit_row is None or len(unit_row) != 5:
            raise ToolOutputError(TOOL, "no 'bytes bytes bytes secs. UNIT' header row")
        unit = unit_row[4].replace("/sec", "/s")
        return NetperfClassicResult(
            test=test,
            elapsed_seconds=to_float(TOOL, row[3], "Elapsed Time"),
            bytes_per_second=to_float(TOOL, row[4], "Throughput") * _bytes_factor(unit),
            message_size=int(row[2]),
            banner=banner,
        )
    rate = to_float(TOOL, row[5], "Trans. Rate")
    elapsed = to_float(TOOL, row[4], "Elapsed Time")
    if elapsed == 0:
        raise ToolOutputError(TOOL, "elapsed time is 0: no test ran")
    return NetperfClassicResult(
        test=test,
        elapsed_seconds=elapsed,
        transactions_per_second=rate,
        request_size=int(row[2]),
        response_size=int(row[3]),
        banner=banner,
    )
