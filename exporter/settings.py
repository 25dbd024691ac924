"""Settings, grouped in frozen dataclasses with documented units.

This module only declares shapes and defaults; :mod:`exporter.config` loads them from a YAML file
and the environment (seed variable names included) and validates them. Defaults are the seed
script's, so a full sweep measures what the article measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from exporter.exporter_settings import ExporterSettings

SCENARIOS: tuple[str, ...] = (
    "throughput",
    "http_rps",
    "latency",
    "service_scale",
    "policy",
    "observability",
    "bpf_memory",
    "resources",
)
"""Every scenario name, in the seed's order."""

LAB_DATAPATHS: tuple[str, ...] = ("iptables", "nftables", "ebpf")
ROUTING_MODES: tuple[str, ...] = ("native", "vxlan")


@dataclass(frozen=True)
class Durations:
    """How long each measurement runs. All values in seconds."""

    iperf_seconds: float = 30.0
    """Per iperf3 run (seed: IPERF_DURATION)."""
    http_seconds: float = 60.0
    """Per HTTP / request-response run (seed: FORTIO_DURATION)."""
    warmup_seconds: float = 5.0
    """Omitted from the start of each throughput run (iperf3 --omit)."""
    round_sleep_seconds: float = 30.0
    """Pause between rounds (seed: ROUND_SLEEP)."""


@dataclass(frozen=True)
class ScaleSettings:
    """Service-scale test."""

    steps: tuple[int, ...] = (5000, 10000, 20000, 30000)
    """Dummy Service counts, ascending (seed: SVC_SCALE_STEPS). The baseline (0) is implicit."""
    endpoints_per_service: int = 4
    """Endpoints per dummy Service (seed: SVC_ENDPOINTS)."""
    create_parallel: int = 4
    """Parallel API workers creating Services on Kubernetes (seed: SVC_CREATE_PARALLEL)."""
    auto_fix_lb_map: bool = False
    """May raise Cilium's bpf-lb-map-max (seed: AUTO_FIX_LB_MAP). Mutates the cluster."""
    programming_timeout_seconds: float = 300.0
    """How long the datapath may take to verifiably hold a step."""


@dataclass(frozen=True)
class LabSettings:
    """The lab target: network namespaces on this host."""

    datapaths: tuple[str, ...] = ("iptables", "nftables")
    routing: str = "native"
    """``native`` (routes over the underlay) or ``vxlan`` (overlay between the node namespaces)."""
    state_dir: Path = Path("/run/netbench")
    """Where labs keep their ownership records, configs and pid files."""
    prefix: str | None = None
    """Name prefix of this lab's namespaces; random (``nb`` + 4 hex) when unset."""
    iptables_command: str = "iptables"
    """``iptables`` (Debian 12: the nft backend) or ``iptables-legacy``."""


@dataclass(frozen=True)
class KubernetesSettings:
    """The Kubernetes target: benchmark pods in a real cluster (see docs/kubernetes.md)."""

    connection: str = "in-cluster"
    """``in-cluster`` (the exporter's service account) or ``kubeconfig``; never a fallback."""
    kubeconfig: Path | None = None
    """kubeconfig mode: the file (None = ``~/.kube/config``)."""
    context: str | None = None
    """kubeconfig mode: the context (None = the file's current-context)."""
    namespace: str = "netbench"
    """Prefix of the namespaces netbench creates (``<namespace>-<sweep>``, ``-scale-``)."""
    instance: str = "default"
    """Owner label: two installations never delete each other's objects."""
    image: str = "netbench:latest"
    """The one image every benchmark pod runs (the project's image)."""
    datapath: str | None = None
    """The cluster's ``datapath`` label (iptables, ipvs, nftables, ebpf); None = detected
    from the cluster when a sweep is planned."""
    server_node: str | None = None
    client_node: str | None = None
    """Both or neither; None = the first two eligible nodes by name."""
    endpoint_cidr: str = "198.18.0.0/15"
    """Dummy endpoint addresses of the Service-scale test (never dialled)."""
    journal_path: Path = Path("/var/lib/netbench/mutations.jsonl")
    """Write-ahead journal of cluster mutations; must survive a crash (state volume)."""
    allow_cluster_mutations: bool = False
    """May toggle Hubble (restarts every cilium-agent); journalled and always reverted."""
    pod_ready_timeout_seconds: float = 180.0
    """Seconds the benchmark pods may take to become Ready."""
    namespace_delete_timeout_seconds: float = 180.0
    """Seconds a namespace may take to be gone after deletion."""
    policy_timeout_seconds: float = 60.0
    """Seconds a CiliumNetworkPolicy may take to be enforced (or lifted)."""
    observability_timeout_seconds: float = 600.0
    """Seconds for the Hubble toggle: ds/cilium rollout plus verification."""
    request_timeout_seconds: float = 30.0
    """Per API request (connect + read)."""


@dataclass(frozen=True)
class Profile:
    """A named sweep: which scenarios, how long, how many rounds."""

    name: str
    scenarios: tuple[str, ...]
    durations: Durations
    rounds: int


def default_profiles() -> dict[str, Profile]:
    quick = Profile(
        name="quick",
        scenarios=("throughput", "http_rps", "latency"),
        durations=Durations(
            iperf_seconds=3.0, http_seconds=3.0, warmup_seconds=1.0, round_sleep_seconds=0.0
        ),
        rounds=1,
    )
    full = Profile(name="full", scenarios=SCENARIOS, durations=Durations(), rounds=3)
    return {p.name: p for p in (quick, full)}


@dataclass(frozen=True)
class Settings:
    """Everything a sweep needs to know."""

    cluster: str = "lab"
    """Value of the ``cluster`` label on every series."""
    target: str = "lab"
    """``lab`` or ``kubernetes``."""
    rounds: int = 3
    """Rounds per scenario (seed: ROUNDS; the lab defaults to 3, the seed to 1)."""
    noisy_threshold: float = 0.10
    """Relative standard deviation above which a measurement is flagged noisy."""
    durations: Durations = field(default_factory=Durations)
    scale: ScaleSettings = field(default_factory=ScaleSettings)
    lab: LabSettings = field(default_factory=LabSettings)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    profiles: dict[str, Profile] = field(default_factory=default_profiles)
    exporter: ExporterSettings = field(default_factory=ExporterSettings)
    """``netbench serve``: HTTP, API, schedules, history (see exporter.exporter_settings)."""
