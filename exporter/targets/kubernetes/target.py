"""KubernetesTarget: the Target protocol over benchmark pods in a real cluster.

Lifecycle (``with KubernetesTarget(...) as t``):

1. janitor: revert journalled mutations a dead sweep left, delete our namespaces by label,
   verify they are gone;
2. placement: two nodes (see :mod:`.placement`), recorded;
3. a dedicated benchmark namespace with the nginx ConfigMap, five pods pinned by ``nodeName``
   (server + host-server + probe on the server node, client + host-client on the client node)
   and the ClusterIP Service fronting the server pod; every pod must be Ready within
   ``pod_ready_timeout_seconds`` or :class:`PodNotReady` says which and why;
4. detection (:mod:`.detect`), including ``/proxyMode`` read from the probe pod.

``__enter__`` returns the target itself when every optional capability (policy, Hubble toggle,
BPF maps, component resources) is usable, else a view exposing only the usable ones: on a
cluster without Cilium, only component resources (the policy/observability/bpf_memory
scenarios then report themselves not applicable, and resources still samples kube-proxy); on
Cilium without ``allow_cluster_mutations``, everything but the Hubble toggle. Called directly,
the capability methods raise :class:`~exporter.errors.NotApplicable` with the reason.

``run`` wraps argv in coreutils ``timeout`` so the remote process dies with its budget, and
gives the exec stream a few seconds more; a stream still open after that is an error too.
Exiting deletes everything by label, verifies it, and reverts the journal.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.errors import (
    DatapathNotProgrammed,
    NotApplicable,
    ObservabilityNotToggled,
    PolicyNotRealized,
    TargetError,
    ToolExecutionError,
)
from exporter.settings import ScaleSettings
from exporter.targets.base import (
    CommandResult,
    ComponentUsage,
    Endpoints,
    ProgrammingReport,
    Role,
    Target,
)
from exporter.targets.kubernetes.client import KubeClient
from exporter.targets.kubernetes.clock import Clock, SystemClock
from exporter.targets.kubernetes.cnp import (
    CNP_GROUP,
    CNP_PLURAL,
    CNP_VERSION,
    POLICIES,
    cilium_network_policy,
    policy_name,
)
from exporter.targets.kubernetes.detect import (
    CILIUM_CONFIG_MAP,
    CILIUM_DAEMON_SET,
    PROXY_MODE_URL,
    CiliumConfig,
    Detection,
    detect,
    parse_proxy_mode_response,
)
from exporter.targets.kubernetes.errors import (
    DetectionError,
    ExecTimeout,
    KubeApiError,
    KubeConflict,
    KubeError,
    KubeNotFound,
    NotSupported,
    PodNotReady,
)
from exporter.targets.kubernetes.janitor import Janitor, MutationJournal, utc_now
from exporter.targets.kubernetes.objects import (
    DEFAULT_ENDPOINT_CIDR,
    HTTP_PORT,
    NGINX_STATUS_PATH,
    EndpointPool,
    ObjectSettings,
    PodKind,
    benchmark_pod,
    namespace,
    nginx_config_map,
    server_service,
)
from exporter.targets.kubernetes.placement import Placement, PlacementSettings, choose_nodes
from exporter.targets.kubernetes.programming import Exec, ProgrammingVerifier, verifier_for
from exporter.targets.kubernetes.rollout import wait_daemon_set
from exporter.targets.kubernetes.scale import LbMapPreflight, ScaleInstaller, lb_map_preflight

SERVICE_NAME = "netbench-server"
EXIT_TIMEOUT = 124
"""coreutils ``timeout``: the command outlived its budget (137 when it had to be SIGKILLed)."""


CILIUM_AGENT_SELECTOR = "k8s-app=cilium"
CILIUM_AGENT_CONTAINER = "cilium-agent"
KUBE_PROXY_SELECTOR = "k8s-app=kube-proxy"
HUBBLE_KEY = "enable-hubble"
L7_METRIC = "cilium_policy_l7_total"
BPF_MAP_PREFIXES: tuple[str, ...] = ("cilium_",)


@dataclass(frozen=True)
class TargetSettings:
    """What the Kubernetes target needs at run time (built from
    :class:`exporter.settings.KubernetesSettings` by :mod:`exporter.targets.factory`)."""

    namespace_prefix: str = "netbench"
    objects: ObjectSettings = field(default_factory=ObjectSettings)
    placement: PlacementSettings = field(default_factory=PlacementSettings)
    scale: ScaleSettings = field(default_factory=ScaleSettings)
    endpoint_cidr: str = DEFAULT_ENDPOINT_CIDR
    journal_path: Path = Path("/var/lib/netbench/mutations.jsonl")
    """On the exporter's persistent volume: the journal must survive a crash."""
    pod_ready_timeout_seconds: float = 180.0
    namespace_delete_timeout_seconds: float = 180.0
    exec_grace_seconds: float = 10.0
    """Extra time for the exec stream after the remote ``timeout`` fired."""
    programming_poll_seconds: float = 2.0
    detection_overrides: Mapping[str, str] = field(default_factory=dict)
    read_runtime_proxy_mode: bool = True
    allow_cluster_mutations: bool = False
    """May toggle Hubble (patch cilium-config + restart every cilium-agent), journalled and
    always reverted."""
    cilium_namespace: str = "kube-system"
    policy_timeout_seconds: float = 60.0
    """How long a CiliumNetworkPolicy may take to be enforced (or lifted), polled."""
    observability_timeout_seconds: float = 600.0
    """Rollout of ds/cilium plus verification of the Hubble state."""
    component_sample_interval_seconds: float = 15.0
    """Between metrics.k8s.io reads (metrics-server's default resolution is 15 s)."""


KubernetesSettings = TargetSettings
"""The name the first tests used."""


# Role -> (pod kind, container)
_ROLES: dict[Role, tuple[PodKind, str]] = {
    Role.CLIENT_POD: (PodKind.CLIENT, "tools"),
    Role.SERVER_POD: (PodKind.SERVER, "http"),
    Role.CLIENT_NODE: (PodKind.HOST_CLIENT, "tools"),
    Role.SERVER_NODE: (PodKind.HOST_SERVER, "iperf3"),
}
_PLACE_ON_SERVER = (PodKind.SERVER, PodKind.HOST_SERVER, PodKind.PROBE)


def parse_stub_status(text: str) -> int:
    """The ``accepts`` counter of nginx stub_status."""
    m = re.search(r"server accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)", text)
    if not m:
        raise TargetError(f"unreadable nginx stub_status: {text.strip()[:200]!r}")
    return int(m.group(1))


def _http_status_argv(url: str, method: str) -> list[str]:
    """Print the HTTP status of one request, or ``unreachable <why>`` (dropped / refused)."""
    body = "b''" if method == "POST" else "None"
    code = (
        "import urllib.error, urllib.request\n"
        f"req = urllib.request.Request({url!r}, data={body}, method={method!r})\n"
        "try:\n"
        "    print(urllib.request.urlopen(req, timeout=3).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
        "except OSError as e:\n"
        "    print('unreachable', e)\n"
    )
    return ["python3", "-c", code]


def _http_get_argv(url: str) -> list[str]:
    # The project image has python3 (it is the exporter's image); no curl/wget assumed.
    code = (
        "import sys, urllib.request; "
        f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    )
    return ["python3", "-c", code]


class KubernetesTarget:
    kind = "kubernetes"

    def __init__(
        self,
        client: KubeClient,
        settings: KubernetesSettings | None = None,
        *,
        sweep: str | None = None,
        clock: Clock | None = None,
        now: Callable[[], str] = utc_now,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.client = client
        self.settings = settings or KubernetesSettings()
        self.sweep = sweep or uuid.uuid4().hex[:8]
        self.clock = clock or SystemClock()
        self.log = log
        self.namespace = f"{self.settings.namespace_prefix}-{self.sweep}"
        self.scale_namespace = f"{self.settings.namespace_prefix}-scale-{self.sweep}"
        self.janitor = Janitor(
            client,
            MutationJournal(self.settings.journal_path),
            self.settings.objects,
            clock=self.clock,
            now=now,
            log=log,
        )
        self.installer = ScaleInstaller(
            client,
            self.settings.objects,
            namespace_name=self.scale_namespace,
            sweep=self.sweep,
            parallel=self.settings.scale.create_parallel,
            clock=self.clock,
            pool=EndpointPool(self.settings.endpoint_cidr),
            log=log,
        )
        self.placement: Placement | None = None
        self.detection: Detection | None = None
        self.preflights: list[LbMapPreflight] = []
        self._pods: dict[PodKind, str] = {}
        self._endpoints: Endpoints | None = None
        self.policy: str = "none"

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Target:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self.view()

    def view(self) -> Target:
        """This target, or a view with only the capabilities this cluster allows."""
        detection = self._detected()
        if detection.cilium is None:
            self.log("capabilities: no Cilium: only component resources")
            return ResourcesView(self)
        if not self.settings.allow_cluster_mutations:
            self.log("capabilities: Hubble toggle off (kubernetes.allow_cluster_mutations)")
            return CiliumView(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self) -> None:
        s = self.settings
        reverted, deleted = self.janitor.startup(s.namespace_delete_timeout_seconds)
        for outcome in reverted:
            self.log(f"startup revert: {outcome.describe()}")
        if deleted:
            self.log(f"startup: deleted leftovers {', '.join(deleted)}")
        self.placement = choose_nodes(self.client.list_nodes(), s.placement)
        self.log(f"placement: {self.placement.record()}")
        obj = s.objects
        self.client.create_namespace(namespace(obj, self.namespace, self.sweep, "benchmark"))
        self.client.create_config_map(
            self.namespace, nginx_config_map(obj, self.namespace, self.sweep)
        )
        for kind in PodKind:
            node = self.placement.server if kind in _PLACE_ON_SERVER else self.placement.client
            name = f"nb-{kind.value}"
            self.client.create_pod(
                self.namespace,
                benchmark_pod(
                    obj, kind, name=name, ns=self.namespace, node=node.name, sweep=self.sweep
                ),
            )
            self._pods[kind] = name
        service = self.client.create_service(
            self.namespace,
            server_service(obj, name=SERVICE_NAME, ns=self.namespace, sweep=self.sweep),
        )
        pods = self._wait_ready()
        self._endpoints = Endpoints(
            server_pod=str(pods[PodKind.SERVER]["status"]["podIP"]),
            server_node=str(pods[PodKind.HOST_SERVER]["status"]["podIP"]),
            service_vip=str(service["spec"]["clusterIP"]),
        )
        runtime = self._runtime_proxy_mode if s.read_runtime_proxy_mode else None
        detection = detect(self.client, self.placement.server, runtime_mode=runtime)
        self.detection = detection.with_overrides(s.detection_overrides)
        for note in self.detection.notes:
            self.log(f"detection: {note}")

    def _wait_ready(self) -> dict[PodKind, dict[str, Any]]:
        deadline = self.clock.monotonic() + self.settings.pod_ready_timeout_seconds
        while True:
            views = {k: self.client.get_pod(self.namespace, n) for k, n in self._pods.items()}
            waiting = []
            for kind, pod in views.items():
                status = pod.get("status") or {}
                phase = str(status.get("phase", "Unknown"))
                if phase in ("Failed", "Succeeded"):
                    raise PodNotReady(self._pods[kind], phase, _pod_reason(status))
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                )
                if not ready:
                    waiting.append((kind, phase, _pod_reason(status)))
            if not waiting:
                return views
            if self.clock.monotonic() >= deadline:
                kind, phase, reason = waiting[0]
                others = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
                raise PodNotReady(
                    self._pods[kind],
                    phase,
                    f"{reason} after {self.settings.pod_ready_timeout_seconds:.0f}s{others}",
                )
            self.clock.sleep(2.0)

    def close(self) -> None:
        errors: list[Exception] = []
        try:
            self.installer.teardown(self.settings.namespace_delete_timeout_seconds)
        except KubeError as err:
            errors.append(err)
        try:
            deleted = self.janitor.delete_owned(self.sweep)
            self.janitor.wait_namespaces_gone(
                deleted, self.settings.namespace_delete_timeout_seconds
            )
        except KubeError as err:
            errors.append(err)
        try:
            for outcome in self.janitor.revert_all():
                self.log(f"revert: {outcome.describe()}")
        except KubeError as err:
            errors.append(err)
        if errors:
            raise KubeError("cleanup incomplete: " + "; ".join(str(e) for e in errors))

    # -- Target ---------------------------------------------------------------------------

    def _detected(self) -> Detection:
        if self.detection is None:
            raise TargetError("the Kubernetes target is not set up (use it as a context manager)")
        return self.detection

    @property
    def datapaths(self) -> tuple[str, ...]:
        return (self._detected().datapath,)

    @property
    def datapath(self) -> str:
        return self._detected().datapath

    def use_datapath(self, datapath: str) -> None:
        if datapath != self.datapath:
            raise TargetError(
                f"a cluster has exactly one datapath: detected {self.datapath!r}, "
                f"asked for {datapath!r}"
            )

    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise TargetError("the Kubernetes target is not set up")
        return self._endpoints

    def _exec(
        self, kind: PodKind, container: str, argv: Sequence[str], timeout: float
    ) -> CommandResult:
        tool = argv[0] if argv else "?"
        wrapped = ["timeout", "-k", "2", f"{timeout:g}", *argv]
        start = self.clock.monotonic()
        try:
            result = self.client.exec(
                self.namespace,
                self._pods[kind],
                container,
                wrapped,
                timeout + self.settings.exec_grace_seconds,
            )
        except ExecTimeout as err:
            raise ToolExecutionError(
                tool, f"exec stream still open {err.seconds:.0f}s after start: {err}"
            ) from err
        except KubeApiError as err:
            raise ToolExecutionError(tool, f"could not exec in {self._pods[kind]}: {err}") from err
        seconds = self.clock.monotonic() - start
        if result.returncode in (EXIT_TIMEOUT, 137):
            raise ToolExecutionError(
                tool,
                f"outlived its {timeout:g}s budget and was killed (exit {result.returncode})",
                returncode=result.returncode,
                stderr=result.stderr,
            )
        if result.returncode in (126, 127):
            raise ToolExecutionError(
                tool,
                f"could not be started in {self._pods[kind]}/{container} "
                f"(exit {result.returncode}): {result.stderr.strip()[:200]}",
                returncode=result.returncode,
                stderr=result.stderr,
            )
        return CommandResult(tuple(argv), result.returncode, result.stdout, result.stderr, seconds)

    def run(self, role: Role, argv: Sequence[str], timeout: float) -> CommandResult:
        kind, container = _ROLES[role]
        return self._exec(kind, container, argv, timeout)

    def http_accepted_connections(self) -> int:
        url = f"http://127.0.0.1:{HTTP_PORT}{NGINX_STATUS_PATH}"
        result = self._exec(PodKind.SERVER, "http", _http_get_argv(url), 15.0)
        if result.returncode != 0:
            raise TargetError(f"reading nginx stub_status failed: {result.stderr.strip()[:200]}")
        return parse_stub_status(result.stdout)

    def _probe(self, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        try:
            r = self._exec(PodKind.PROBE, "probe", argv, timeout)
        except ToolExecutionError as err:
            if err.returncode in (126, 127):  # a missing binary is an answer for the probe
                return err.returncode, "", err.stderr
            raise
        return r.returncode, r.stdout, r.stderr

    def _runtime_proxy_mode(self) -> str | None:
        try:
            code, out, _err = self._probe(_http_get_argv(PROXY_MODE_URL), 15.0)
        except ToolExecutionError:
            return None
        if code != 0:
            return None  # no kube-proxy on this node, or metrics bound elsewhere
        try:
            return parse_proxy_mode_response(out)
        except DetectionError:
            return None

    def verifier(self) -> ProgrammingVerifier:
        """Raises ProgrammingCheckUnavailable for datapaths without one."""
        agent: Exec | None = None
        if self._detected().cilium is not None and self.placement is not None:
            client_node = self.placement.client.name

            def agent(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
                return self._agent_exec(client_node, argv, timeout)

        return verifier_for(self.datapath, self._probe, agent)

    # -- cilium-agent ---------------------------------------------------------------------

    def _agent_pod(self, node: str) -> str:
        """The running cilium-agent pod on ``node``, looked up each time (a rollout restart
        replaces them)."""
        pods = self.client.list_pods(self.settings.cilium_namespace, CILIUM_AGENT_SELECTOR)
        names = sorted(
            str(p["metadata"]["name"])
            for p in pods
            if (p.get("spec") or {}).get("nodeName") == node
            and (p.get("status") or {}).get("phase") == "Running"
        )
        if not names:
            raise NotSupported(
                f"no running cilium-agent pod ({CILIUM_AGENT_SELECTOR}) in "
                f"{self.settings.cilium_namespace} on node {node}"
            )
        return names[0]

    def _agent_exec(self, node: str, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        pod = self._agent_pod(node)
        tool = argv[0] if argv else "?"
        try:
            r = self.client.exec(
                self.settings.cilium_namespace,
                pod,
                CILIUM_AGENT_CONTAINER,
                ["timeout", "-k", "2", f"{timeout:g}", *argv],
                timeout + self.settings.exec_grace_seconds,
            )
        except (ExecTimeout, KubeApiError) as err:
            raise ToolExecutionError(tool, f"exec in {pod} failed: {err}") from err
        if r.returncode in (EXIT_TIMEOUT, 137):
            raise ToolExecutionError(tool, f"outlived {timeout:g}s in {pod}", returncode=124)
        return r.returncode, r.stdout, r.stderr

    def _require_cilium(self, what: str) -> CiliumConfig:
        detection = self._detected()
        if detection.cilium is None:
            raise NotApplicable(
                f"{what} needs Cilium; this cluster's CNI is {detection.cni} "
                f"(datapath {detection.datapath})"
            )
        return detection.cilium

    def _server_node(self) -> str:
        if self.placement is None:
            raise TargetError("the Kubernetes target is not set up")
        return self.placement.server.name

    # -- policy (PolicyTarget) ------------------------------------------------------------

    def apply_policy(self, policy: str) -> None:
        """Enforce ``none``/``l3l4``/``l7`` with CiliumNetworkPolicies on the server pod and
        prove it: the benchmark client is served, the hostNetwork client on the other node is
        dropped, and with ``l7`` a POST gets 403 from the proxy. ``none`` deletes ours and
        proves the drop is lifted. Raises PolicyNotRealized after policy_timeout_seconds."""
        if policy not in ("none", *POLICIES):
            raise ValueError(f"unknown policy {policy!r}")
        self._require_cilium("CiliumNetworkPolicy")
        for other in POLICIES:
            if other != policy:
                with contextlib.suppress(KubeNotFound):
                    self.client.delete_custom_object(
                        CNP_GROUP, CNP_VERSION, self.namespace, CNP_PLURAL, policy_name(other)
                    )
        if policy != "none":
            body = cilium_network_policy(
                self.settings.objects, policy, ns=self.namespace, sweep=self.sweep
            )
            with contextlib.suppress(KubeConflict):  # ours, from a previous call
                self.client.create_custom_object(
                    CNP_GROUP, CNP_VERSION, self.namespace, CNP_PLURAL, body
                )
        self.policy = policy
        self._verify_policy(policy)

    def _http_status(self, kind: PodKind, url: str, method: str) -> str:
        container = "tools"
        result = self._exec(kind, container, _http_status_argv(url, method), 10.0)
        words = result.stdout.split()
        return words[0] if result.returncode == 0 and words else f"error:{result.returncode}"

    def _verify_policy(self, policy: str) -> None:
        ep = self.endpoints()
        url = f"http://{ep.server_pod}:{ep.http_port}/"
        checks: list[tuple[str, PodKind, str, str]] = []
        if policy == "none":
            checks.append(("the hostNetwork client is served", PodKind.HOST_CLIENT, "GET", "200"))
        else:
            checks += [
                ("the client pod is served", PodKind.CLIENT, "GET", "200"),
                ("the hostNetwork client is dropped", PodKind.HOST_CLIENT, "GET", "unreachable"),
            ]
        if policy == "l7":
            checks.append(("a POST is denied by the proxy", PodKind.CLIENT, "POST", "403"))
        deadline = self.clock.monotonic() + self.settings.policy_timeout_seconds
        while True:
            failing = []
            for what, kind, method, want in checks:
                got = self._http_status(kind, url, method)
                if got != want:
                    failing.append(f"{what}: expected {want}, got {got}")
            if not failing:
                self.log(f"policy {policy}: realized")
                return
            if self.clock.monotonic() >= deadline:
                raise PolicyNotRealized(
                    f"policy {policy} not realized after "
                    f"{self.settings.policy_timeout_seconds:.0f}s: {'; '.join(failing)}"
                )
            self.clock.sleep(2.0)

    def policy_proxy_requests(self) -> int:
        """Requests Cilium's L7 proxy received on the server node: the agent metric
        ``cilium_policy_l7_total{rule="received"}`` (all proxy types), read with
        ``cilium-dbg metrics list -o json`` in the cilium-agent pod (no Prometheus port
        needed). 0 while the proxy has seen nothing (the series does not exist yet)."""
        self._require_cilium("the L7 proxy")
        code, out, err = self._agent_exec(
            self._server_node(), ("cilium-dbg", "metrics", "list", "-o", "json"), 30.0
        )
        if code != 0:
            raise NotSupported(f"cilium-dbg metrics list failed (exit {code}): {err.strip()[:200]}")
        return parse_l7_received(out)

    # -- observability (ObservabilityTarget) ----------------------------------------------

    observability_feature = "hubble"

    def set_observability(self, enabled: bool) -> None:
        """Hubble on or off: cilium-config ``enable-hubble`` through the journal, rollout
        restart of ds/cilium (the agent reads it at start), wait for the rollout, then verify
        on the server node's agent (``cilium-dbg status -o json``: ``hubble.state`` Ok and
        flows counted, or Disabled). Only with ``allow_cluster_mutations``; always reverted
        by the janitor (end of sweep, or next start after a crash)."""
        self._require_cilium("the Hubble toggle")
        if not self.settings.allow_cluster_mutations:
            raise NotApplicable(
                "toggling Hubble restarts every cilium-agent (a cluster mutation): set "
                "kubernetes.allow_cluster_mutations to allow it"
            )
        ns = self.settings.cilium_namespace
        start = self.clock.monotonic()
        change = self.janitor.patch_config_map(
            ns,
            CILIUM_CONFIG_MAP,
            HUBBLE_KEY,
            "true" if enabled else "false",
            restart=(ns, CILIUM_DAEMON_SET),
            reason="observability scenario",
        )
        timeout = self.settings.observability_timeout_seconds
        if change is not None:
            try:
                wait_daemon_set(self.client, ns, CILIUM_DAEMON_SET, timeout, self.clock)
            except KubeError as err:
                raise ObservabilityNotToggled(str(err)) from err
        remaining = max(timeout - (self.clock.monotonic() - start), 0.0)
        self._verify_hubble(enabled, self.clock.monotonic() + remaining)

    def _hubble_status(self) -> tuple[str, int | None]:
        code, out, err = self._agent_exec(
            self._server_node(), ("cilium-dbg", "status", "-o", "json"), 30.0
        )
        if code != 0:
            return f"status failed (exit {code}: {err.strip()[:100]})", None
        return parse_hubble_status(out)

    def _verify_hubble(self, enabled: bool, deadline: float) -> None:
        want = "Ok" if enabled else "Disabled"
        ep = self.endpoints()
        url = f"http://{ep.service_vip}:{ep.http_port}/"
        while True:
            state, seen = self._hubble_status()
            if state == want and not enabled:
                return
            if state == want and seen is not None:
                self._http_status(PodKind.CLIENT, url, "GET")  # a flow to observe
                state, after = self._hubble_status()
                if state == want and after is not None and after > seen:
                    return
                observed = f"{state}, flows seen {seen} -> {after}"
            else:
                observed = state
            if self.clock.monotonic() >= deadline:
                raise ObservabilityNotToggled(
                    f"Hubble not verifiably {'on' if enabled else 'off'}: {observed}"
                )
            self.clock.sleep(2.0)

    # -- BPF maps (BpfMapTarget) ----------------------------------------------------------

    def bpf_map_dumps(self) -> Mapping[str, tuple[str, tuple[str, ...]]]:
        """``bpftool map show -j`` in the cilium-agent pod of each benchmark node; Cilium's
        maps are those named ``cilium_``."""
        self._require_cilium("BPF map memory")
        if self.placement is None:
            raise TargetError("the Kubernetes target is not set up")
        out: dict[str, tuple[str, tuple[str, ...]]] = {}
        for node in (self.placement.server.name, self.placement.client.name):
            code, text, err = self._agent_exec(node, ("bpftool", "map", "show", "-j"), 60.0)
            if code != 0:
                raise NotSupported(f"bpftool map show failed on {node} (exit {code}): {err[:200]}")
            out[node] = (text, BPF_MAP_PREFIXES)
        return out

    # -- component resources (ResourceTarget) ---------------------------------------------

    def _components(self) -> list[tuple[str, str, str, str | None]]:
        """(component, namespace, pod selector, container or None = all)."""
        detection = self._detected()
        out: list[tuple[str, str, str, str | None]] = []
        if detection.cilium is not None:
            out.append(
                (
                    "cilium-agent",
                    self.settings.cilium_namespace,
                    CILIUM_AGENT_SELECTOR,
                    CILIUM_AGENT_CONTAINER,
                )
            )
        if detection.kube_proxy_mode != "none" and not (
            detection.cilium is not None and detection.cilium.replaces_kube_proxy
        ):
            out.append(("kube-proxy", "kube-system", KUBE_PROXY_SELECTOR, None))
        return out

    def sample_components(
        self, seconds: float, load: Callable[[], object]
    ) -> Mapping[str, ComponentUsage]:
        """CPU and memory of kube-proxy / cilium-agent on the two benchmark nodes (summed),
        from metrics.k8s.io, read every ``component_sample_interval_seconds`` while ``load``
        runs, plus once before and once after."""
        if self.placement is None:
            raise TargetError("the Kubernetes target is not set up")
        components = self._components()
        if not components:
            raise NotApplicable("no kube-proxy and no cilium-agent to sample on this cluster")
        nodes = {self.placement.server.name, self.placement.client.name}
        pods: dict[str, set[str]] = {}
        for name, ns, selector, _c in components:
            pods[name] = {
                str(p["metadata"]["name"])
                for p in self.client.list_pods(ns, selector)
                if (p.get("spec") or {}).get("nodeName") in nodes
            }
        samples: dict[str, list[tuple[float, float]]] = {c[0]: [] for c in components}

        def take() -> None:
            for name, ns, selector, container in components:
                try:
                    metrics = self.client.list_pod_metrics(ns, selector)
                except KubeNotFound as err:
                    raise NotApplicable(
                        f"metrics.k8s.io is not served (install metrics-server): {err}"
                    ) from err
                cpu = memory = 0.0
                found = False
                for m in metrics:
                    if m["metadata"]["name"] not in pods[name]:
                        continue
                    for c in m.get("containers") or []:
                        if container is None or c.get("name") == container:
                            found = True
                            cpu += parse_cpu(str(c["usage"]["cpu"]))
                            memory += parse_memory(str(c["usage"]["memory"]))
                if found:
                    samples[name].append((cpu, memory))

        failure: list[BaseException] = []

        def run_load() -> None:
            try:
                load()
            except BaseException as err:  # re-raised in the caller's thread
                failure.append(err)

        take()
        worker = threading.Thread(target=run_load, name="netbench-load", daemon=True)
        worker.start()
        while True:
            worker.join(timeout=self.settings.component_sample_interval_seconds)
            take()
            if not worker.is_alive():
                break
        if failure:
            raise failure[0]
        out = {}
        for name, values in samples.items():
            if not values:
                continue
            cpus = [v[0] for v in values]
            mems = [v[1] for v in values]
            out[name] = ComponentUsage(
                cpu_cores_avg=sum(cpus) / len(cpus),
                cpu_cores_max=max(cpus),
                memory_bytes_avg=sum(mems) / len(mems),
                memory_bytes_max=max(mems),
                samples=len(values),
            )
        if not out:
            raise NotApplicable(
                f"no metrics for {', '.join(c[0] for c in components)} on the benchmark nodes"
            )
        return out

    def install_services(
        self, count: int, endpoints_per_service: int, timeout: float
    ) -> ProgrammingReport:
        detection = self._detected()
        verifier = self.verifier()  # before creating anything
        start = self.clock.monotonic()
        if detection.cilium is not None and count > 0:
            preflight = lb_map_preflight(
                self.client,
                detection.cilium,
                requested=count,
                endpoints_per_service=endpoints_per_service,
                scale_namespace=self.scale_namespace,
                auto_fix=self.settings.scale.auto_fix_lb_map,
                janitor=self.janitor,
                clock=self.clock,
            )
            self.preflights.append(preflight)
            self.log(preflight.describe())
        self.installer.ensure(
            count, endpoints_per_service, self.settings.namespace_delete_timeout_seconds
        )
        vips = (
            [
                str(s["spec"]["clusterIP"])
                for s in self.client.list_services(self.scale_namespace, None)
            ]
            if count
            else []
        )
        deadline = start + timeout
        while True:
            state = verifier.check(vips)
            if state.holds:
                return ProgrammingReport(
                    services=count,
                    entries=dict(state.entries),
                    seconds=self.clock.monotonic() - start,
                )
            if self.clock.monotonic() >= deadline:
                raise DatapathNotProgrammed(
                    f"{verifier.datapath}: {state.missing} of {count} Services still not "
                    f"programmed after {timeout:.0f}s ({dict(state.entries)})"
                )
            self.clock.sleep(self.settings.programming_poll_seconds)

    def info(self) -> Mapping[str, str]:
        return self._detected().info()


def parse_l7_received(text: str) -> int:
    """Sum of ``cilium_policy_l7_total{rule="received"}`` in ``cilium-dbg metrics list -o
    json`` (a list of ``{"name", "labels", "value"}``, Cilium's API model ``Metric``)."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise NotSupported(f"cilium-dbg metrics list is not JSON: {text[:200]!r}") from err
    if not isinstance(doc, list):
        raise NotSupported("cilium-dbg metrics list -o json did not return a list")
    total = 0.0
    for m in doc:
        if not isinstance(m, dict) or m.get("name") != L7_METRIC:
            continue
        if (m.get("labels") or {}).get("rule") == "received":
            total += float(m.get("value") or 0)
    return int(total)


def parse_hubble_status(text: str) -> tuple[str, int | None]:
    """(``hubble.state``, ``hubble.observer.seen-flows`` or None) from ``cilium-dbg status
    -o json`` (Cilium's API model StatusResponse/HubbleStatus)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return f"unreadable status {text[:100]!r}", None
    hubble = doc.get("hubble") if isinstance(doc, dict) else None
    if not isinstance(hubble, dict):
        return "Disabled", None  # omitted when Hubble is not compiled in / not configured
    observer = hubble.get("observer") or {}
    seen = observer.get("seen-flows")
    return str(hubble.get("state") or "unknown"), int(seen) if seen is not None else None


_CPU_UNITS = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
_MEMORY_UNITS = {
    "Ki": 1024.0,
    "Mi": 1024.0**2,
    "Gi": 1024.0**3,
    "Ti": 1024.0**4,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
}


def parse_cpu(quantity: str) -> float:
    """A Kubernetes CPU quantity in cores (``12345678n``, ``250m``, ``1``)."""
    unit = quantity[-1:]
    if unit in _CPU_UNITS:
        return float(quantity[:-1]) * _CPU_UNITS[unit]
    return float(quantity)


def parse_memory(quantity: str) -> float:
    """A Kubernetes memory quantity in bytes (``123456Ki``, ``1Gi``, ``1000``)."""
    for suffix in ("Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * _MEMORY_UNITS[suffix]
    return float(quantity)


class ResourcesView:
    """The Target protocol plus component resources only (clusters without Cilium)."""

    kind = "kubernetes"

    def __init__(self, target: KubernetesTarget) -> None:
        self.target = target

    @property
    def datapaths(self) -> tuple[str, ...]:
        return self.target.datapaths

    @property
    def datapath(self) -> str:
        return self.target.datapath

    def use_datapath(self, datapath: str) -> None:
        self.target.use_datapath(datapath)

    def endpoints(self) -> Endpoints:
        return self.target.endpoints()

    def run(self, role: Role, argv: Sequence[str], timeout: float) -> CommandResult:
        return self.target.run(role, argv, timeout)

    def http_accepted_connections(self) -> int:
        return self.target.http_accepted_connections()

    def install_services(
        self, count: int, endpoints_per_service: int, timeout: float
    ) -> ProgrammingReport:
        return self.target.install_services(count, endpoints_per_service, timeout)

    def info(self) -> Mapping[str, str]:
        return self.target.info()

    def close(self) -> None:
        self.target.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.target.close()

    def sample_components(
        self, seconds: float, load: Callable[[], object]
    ) -> Mapping[str, ComponentUsage]:
        return self.target.sample_components(seconds, load)


class CiliumView(ResourcesView):
    """Everything but the Hubble toggle (Cilium, cluster mutations not allowed)."""

    def apply_policy(self, policy: str) -> None:
        self.target.apply_policy(policy)

    def policy_proxy_requests(self) -> int:
        return self.target.policy_proxy_requests()

    def bpf_map_dumps(self) -> Mapping[str, tuple[str, tuple[str, ...]]]:
        return self.target.bpf_map_dumps()


def _pod_reason(status: Mapping[str, Any]) -> str:
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        for key in ("waiting", "terminated"):
            if key in state:
                detail = state[key]
                reason = detail.get("reason") or key
                msg = detail.get("message")
                return f"{cs.get('name')}: {reason}" + (f" ({msg})" if msg else "")
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True" and cond.get("reason"):
            return f"{cond.get('type')}: {cond.get('reason')}"
    return "not Ready"
