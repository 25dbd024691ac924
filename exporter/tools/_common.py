"""Helpers shared by the tool adapters: strict number parsing, frozen mappings, spec checks.

Everything here is pure. Parse helpers raise :class:`~exporter.errors.ToolOutputError` naming the
tool and what could not be read; spec helpers raise :class:`ValueError` (a spec is built by code,
so a bad one is a programming or configuration mistake, not a tool failure).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeVar

from exporter.errors import ToolOutputError

K = TypeVar("K")
V = TypeVar("V")

_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def frozen_mapping(items: Mapping[K, V] | Iterable[tuple[K, V]]) -> Mapping[K, V]:
    """A read-only view of a private copy: results stay immutable after parsing."""
    return MappingProxyType(dict(items))


def require_text(tool: str, text: str, what: str = "output") -> str:
    if not text or not text.strip():
        raise ToolOutputError(tool, f"empty {what}")
    return text


def to_float(tool: str, raw: str, what: str, *, minimum: float | None = 0.0) -> float:
    """Parse a finite float, by default non-negative; the error names the field and the text."""
    try:
        value = float(raw)
    except (TypeError, ValueError) as err:
        raise ToolOutputError(tool, f"{what}: {raw!r} is not a number") from err
    if not math.isfinite(value):
        raise ToolOutputError(tool, f"{what}: {raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise ToolOutputError(tool, f"{what}: {value} is below {minimum}")
    return value


def to_int(tool: str, raw: str | int, what: str, *, minimum: int | None = 0) -> int:
    if isinstance(raw, bool):
        raise ToolOutputError(tool, f"{what}: {raw!r} is not an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError) as err:
        raise ToolOutputError(tool, f"{what}: {raw!r} is not an integer") from err
    if minimum is not None and value < minimum:
        raise ToolOutputError(tool, f"{what}: {value} is below {minimum}")
    return value


def go_duration_seconds(tool: str, raw: str, what: str) -> float:
    """Parse a Go ``time.Duration`` string (``1m0.5s``, ``16.412752ms``) into seconds."""
    pos = 0
    total = 0.0
    for match in _GO_DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(raw):
        raise ToolOutputError(tool, f"{what}: {raw!r} is not a Go duration")
    return total


def whole_seconds(value: float, what: str, *, minimum: int = 1) -> int:
    """Seconds a tool only takes as a whole number (iperf3 -t/-O, wrk -d, sockperf/netperf)."""
    if isinstance(value, bool) or not math.isfinite(value) or value != int(value):
        raise ValueError(f"{what} must be a whole number of seconds, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value!r}")
    return int(value)


def plain_number(value: float) -> str:
    """A number as a CLI argument without exponent notation (Go and C parsers reject ``1e-05``)."""
    if value == int(value):
        return str(int(value))
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    if float(text) != value:
        raise ValueError(f"{value!r} needs more than 9 decimals")
    return text


def check_port(port: int) -> None:
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port must be 1..65535, got {port!r}")


def check_positive(value: float, what: str) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")


def check_monotonic(tool: str, quantiles: Mapping[float, float], what: str) -> None:
    """Quantile values must not decrease with the quantile (a garbled line would break that)."""
    values = [quantiles[q] for q in sorted(quantiles)]
    if any(b < a for a, b in itertools.pairwise(values)):
        raise ToolOutputError(tool, f"{what} quantiles are not monotonic: {values}")
