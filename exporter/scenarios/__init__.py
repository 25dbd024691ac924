"""The seed's test matrix, written once and target-agnostic."""

from __future__ import annotations

from exporter.scenarios.base import RoundContext, RoundScenario
from exporter.scenarios.http_rps import HttpRps
from exporter.scenarios.latency import Latency
from exporter.scenarios.service_scale import ServiceScale
from exporter.scenarios.throughput import Throughput

ROUND_SCENARIOS: dict[str, type[Throughput] | type[HttpRps] | type[Latency]] = {
    "throughput": Throughput,
    "http_rps": HttpRps,
    "latency": Latency,
}
"""Scenarios measured round by round with default variants."""

__all__ = [
    "ROUND_SCENARIOS",
    "HttpRps",
    "Latency",
    "RoundContext",
    "RoundScenario",
    "ServiceScale",
    "Throughput",
]
