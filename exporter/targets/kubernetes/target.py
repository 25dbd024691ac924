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

``run`` wraps argv in coreutils ``timeout`` so the remote process dies with its budget, and
gives the exec stream a few seconds more; a stream still open after that is an error too.
Exiting deletes everything by label, verifies it, and reverts the journal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.errors import DatapathNotProgrammed, TargetError, ToolExecutionError
from exporter.settings import ScaleSettings
from exporter.targets.base import CommandResult, Endpoints, ProgrammingReport, Role, Target
from exporter.targets.kubernetes.client import KubeClient
from exporter.targets.kubernetes.clock import Clock, SystemClock
from exporter.targets.kubernetes.detect import (
    PROXY_MODE_URL,
    Detection,
    detect,
    parse_proxy_mode_response,
)
from exporter.targets.kubernetes.errors import (
    DetectionError,
    ExecTimeout,
    KubeApiError,
    KubeError,
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
from exporter.targets.kubernetes.programming import ProgrammingVerifier, verifier_for
from exporter.targets.kubernetes.scale import LbMapPreflight, ScaleInstaller, lb_map_preflight

SERVICE_NAME = "netbench-server"
EXIT_TIMEOUT = 124
"""coreutils ``timeout``: the command outlived its budget (137 when it had to be SIGKILLed)."""


@dataclass(frozen=True)
class KubernetesSettings:
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

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Target:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
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
        """Raises ProgrammingCheckUnavailable for datapaths without one (yet)."""
        return verifier_for(self.datapath, self._probe)

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
