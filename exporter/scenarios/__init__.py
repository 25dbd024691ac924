"""The seed's test matrix, written once and target-agnostic."""

from __future__ import annotations

from collections.abc import Callable

from exporter.scenarios.base import RoundContext, RoundScenario
from exporter.scenarios.bpf_memory import BpfMemory
from exporter.scenarios.http_rps import HttpRps
from exporter.scenarios.latency import Latency
from exporter.scenarios.observability import Observability
from exporter.scenarios.policy import Policy
from exporter.scenarios.resources import Resources
from exporter.scenarios.service_scale import ServiceScale
from exporter.scenarios.throughput import Throughput

ROUND_SCENARIOS: dict[str, Callable[[], RoundScenario]] = {
    "throughput": Throughput,
    "http_rps": HttpRps,
    "latency": Latency,
    "policy": Policy,
    "observability": Observability,
    "bpf_memory": BpfMemory,
    "resources": Resources,
}
"""Scenarios measured round by round (service_scale has its own step loop)."""

__all__ = [
    "ROUND_SCENARIOS",
    "BpfMemory",
    "HttpRps",
    "Latency",
    "Observability",
    "Policy",
    "Resources",
    "RoundContext",
    "RoundScenario",
    "ServiceScale",
    "Throughput",
]
