"""The contract between scenarios and targets.

Scenarios are target-agnostic: they ask a target for endpoints, run tool argv at a role, and
install dummy Services. A target owns placement, transport and cleanup; it never parses tool
output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Role(StrEnum):
    """Where a command runs, in Kubernetes terms."""

    CLIENT_POD = "client-pod"
    SERVER_POD = "server-pod"
    CLIENT_NODE = "client-node"
    """Host network of the client node (hostNetwork pod in Kubernetes)."""
    SERVER_NODE = "server-node"


@dataclass(frozen=True)
class Endpoints:
    """Addresses the client side dials. All servers listen on the server pod (and node)."""

    server_pod: str
    server_node: str
    service_vip: str
    """ClusterIP of the Service fronting the server pod (http, iperf3 and sockperf ports)."""
    http_port: int = 80
    iperf3_port: int = 5201
    sockperf_port: int = 11111


@dataclass(frozen=True)
class CommandResult:
    """A finished command. A non-zero exit is returned, not raised: tools like iperf3 print
    their error as JSON and exit 1, and the parser turns that into a typed error."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class ProgrammingReport:
    """What the datapath verifiably held after installing a Service-scale step."""

    services: int
    """Dummy Services requested (the benchmark's own Service comes on top)."""
    entries: Mapping[str, int]
    """Counted entries by kind: iptables_rules, kube_services_chain, lb_entries,
    bpf_map_entries (only the kinds this datapath has)."""
    seconds: float
    """From the start of the install until the count verified."""


@runtime_checkable
class Target(Protocol):
    """A place where benchmarks run. Use as a context manager: exiting cleans up everything."""

    kind: str
    """``lab`` or ``kubernetes``."""

    @property
    def datapaths(self) -> tuple[str, ...]:
        """Datapaths this target can measure, in the order given by config."""
        ...

    @property
    def datapath(self) -> str:
        """The datapath currently in use."""
        ...

    def use_datapath(self, datapath: str) -> None:
        """Switch the active datapath (the lab reprograms; a cluster has exactly one)."""
        ...

    def endpoints(self) -> Endpoints: ...

    def run(self, role: Role, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run argv at role. Raises ToolExecutionError if it cannot start or outlives timeout
        (the process and its children are killed first)."""
        ...

    def http_accepted_connections(self) -> int:
        """The HTTP server's accepted-connections counter (nginx stub_status 'accepts')."""
        ...

    def install_services(
        self, count: int, endpoints_per_service: int, timeout: float
    ) -> ProgrammingReport:
        """Make the active datapath hold exactly ``count`` dummy Services (plus ours),
        atomically, and verify by counting. Raises DatapathNotProgrammed on timeout."""
        ...

    def info(self) -> Mapping[str, str]:
        """Labels of ``netbench_datapath_info`` for the active datapath."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Target: ...

    def __exit__(self, *exc: object) -> None: ...


# --- optional capabilities -------------------------------------------------------------------
# Scenarios beyond the core matrix need datapath features a target may or may not have. A
# scenario checks with isinstance() and reports "not available on this target" otherwise.


@dataclass(frozen=True)
class ComponentUsage:
    """CPU (cores) and memory (bytes) of one datapath component over a steady window."""

    cpu_cores_avg: float
    cpu_cores_max: float
    memory_bytes_avg: float
    memory_bytes_max: float
    samples: int


@runtime_checkable
class PolicyTarget(Protocol):
    def apply_policy(self, policy: str) -> None:
        """Enforce ``none``, ``l3l4`` or ``l7`` on the server pod and PROVE it realized (a
        denied source is dropped; for l7 a POST gets 403 from the proxy), else raise
        PolicyNotRealized."""
        ...

    def policy_proxy_requests(self) -> int:
        """Requests the L7 proxy has handled so far (proves it stayed in the path)."""
        ...


@runtime_checkable
class ObservabilityTarget(Protocol):
    observability_feature: str
    """Label value of the feature toggled (``hubble`` on Cilium, ``conntrack_events`` in the
    lab)."""

    def set_observability(self, enabled: bool) -> None:
        """Switch the flow observer on or off and verify it (events flow while on; no
        observer and no events while off)."""
        ...


@runtime_checkable
class BpfMapTarget(Protocol):
    def bpf_map_dumps(self) -> Mapping[str, tuple[str, tuple[str, ...]]]:
        """Per node: raw ``bpftool map show -j`` output and the map-name prefixes (or ids) that
        belong to the datapath. Empty when the active datapath uses no BPF maps."""
        ...


@runtime_checkable
class ResourceTarget(Protocol):
    def sample_components(
        self, seconds: float, load: Callable[[], object]
    ) -> Mapping[str, ComponentUsage]:
        """Run ``load`` and sample the datapath components' CPU and memory meanwhile."""
        ...
