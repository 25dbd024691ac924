"""An in-memory Kubernetes API at our client seam that ENFORCES the API's semantics.

:class:`FakeKubeClient` implements :class:`~.client.KubeClient`. It is not an echo: it
refuses what a real API server refuses and records every call, so tests assert on behaviour
(what was created, in which order, how often a throttled call was retried) rather than on the
arguments we happened to pass.

Enforced:

- bodies must fit the installed client's models strictly (the same :func:`~.client.to_model`
  the real client sends through) and match the resource's apiVersion/kind and namespace;
- 404 for a missing object or namespace; 409 ``AlreadyExists`` on a duplicate create; 403 when
  creating in a terminating namespace; namespace deletion is asynchronous (``Terminating`` for
  :attr:`namespace_termination_seconds` of fake time, then gone with everything in it);
- 429 storms with Retry-After, and arbitrary failures, scripted per verb/resource
  (:meth:`throttle`, :meth:`fail`);
- pods: a node must exist; phases advance with fake time (``Pending`` -> ``Running`` + Ready
  after ``ready_after``) or never become Ready (:meth:`script_pod`); pod IPs from a per-node pod
  CIDR, hostNetwork pods get the node's InternalIP; Services get a ClusterIP;
- exec: 404 for a missing pod, 400 for a pod that is not Running or a container it lacks;
  commands answer as scripted per regex over the argv (:meth:`script_exec`: exit code, output,
  duration; a duration beyond the caller's timeout raises :class:`ExecTimeout` after advancing
  the clock by the timeout); an unscripted command exits 127 like a missing binary.

Addresses the fake hands out are fictional and never dialled.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from exporter.targets.kubernetes.client import (
    METRICS_GROUP,
    RESTARTED_AT_ANNOTATION,
    ExecResult,
    JsonObject,
    api_error,
    to_model,
)
from exporter.targets.kubernetes.errors import ExecTimeout

# resource -> (API group, apiVersion, kind, namespaced)
_RESOURCES: dict[str, tuple[str, str, str, bool]] = {
    "nodes": ("", "v1", "Node", False),
    "namespaces": ("", "v1", "Namespace", False),
    "configmaps": ("", "v1", "ConfigMap", True),
    "pods": ("", "v1", "Pod", True),
    "services": ("", "v1", "Service", True),
    "endpointslices": ("discovery.k8s.io", "discovery.k8s.io/v1", "EndpointSlice", True),
    "daemonsets": ("apps", "apps/v1", "DaemonSet", True),
    "ciliumnetworkpolicies": ("cilium.io", "cilium.io/v2", "CiliumNetworkPolicy", True),
}
_CRDS = {"ciliumnetworkpolicies"}
"""Custom resources: served only once their CRD is installed (:meth:`install_crd`)."""


class FakeClock:
    """Monotonic time that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class Call:
    """One recorded API call."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None = None
    detail: str = ""
    """For exec: the argv joined by spaces; for patch: the patch kind."""


@dataclass
class PodScript:
    """How pods whose name matches ``pattern`` behave once created."""

    pattern: str
    ready_after: float | None = 0.0
    """Seconds of fake time until Running + Ready; None = never Ready."""
    phase_if_never: str = "Pending"
    waiting_reason: str = "ImagePullBackOff"
    """Container waiting reason reported while not Ready."""


@dataclass
class ExecScript:
    """The answer to exec commands whose joined argv matches ``pattern`` (re.search)."""

    pattern: str
    returncode: int = 0
    stdout: str | Callable[[], str] = ""
    stderr: str = ""
    seconds: float = 0.0
    """Fake time the command takes; beyond the caller's timeout it raises ExecTimeout."""
    pod: str | None = None
    """Only in pods whose name matches this regex (None = any pod)."""


@dataclass
class _Failure:
    verb: str
    resource: str
    status: int
    remaining: int
    retry_after: float | None
    name: str | None
    reason: str


@dataclass
class _NodeSpec:
    name: str
    internal_ip: str
    pod_cidr: ipaddress.IPv4Network
    next_ip: itertools.count[int] = field(default_factory=lambda: itertools.count(2))


def make_node(
    name: str,
    *,
    internal_ip: str,
    ready: bool = True,
    unschedulable: bool = False,
    control_plane: bool = False,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, str]] = (),
    kernel: str = "6.1.0-28-amd64",
    kubelet: str = "v1.31.4",
    os_image: str = "Debian GNU/Linux 12 (bookworm)",
    runtime: str = "containerd://1.7.24",
) -> JsonObject:
    """A Node object as the API serves it (the fields we read)."""
    lbls = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    }
    if control_plane:
        lbls["node-role.kubernetes.io/control-plane"] = ""
    lbls.update(labels or {})
    spec: JsonObject = {}
    if unschedulable:
        spec["unschedulable"] = True
    all_taints = [dict(t) for t in taints]
    if control_plane:
        all_taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    if all_taints:
        spec["taints"] = all_taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": lbls},
        "spec": spec,
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kernelVersion": kernel,
                "kubeletVersion": kubelet,
                "osImage": os_image,
                "containerRuntimeVersion": runtime,
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


def _selector_matches(selector: str | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``,
    ``k in (a,b)``, ``k notin (a,b)``, comma = AND."""
    if not selector:
        return True
    for term in re.split(r",(?![^()]*\))", selector):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            key, op, raw = m.groups()
            values = {v.strip() for v in raw.split(",")}
            present = key in labels and labels[key] in values
            if present != (op == "in"):
                return False
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", term)
        if m:
            key, op, value = m.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
            continue
        if term.startswith("!"):
            if term[1:] in labels:
                return False
            continue
        if re.fullmatch(r"[\w./-]+", term):
            if term not in labels:
                return False
            continue
        raise api_error(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return True


class FakeKubeClient:
    """:class:`~.client.KubeClient` in memory. Thread-safe. See the module docstring."""

    def __init__(
        self, clock: FakeClock | None = None, *, namespace_termination_seconds: float = 1.0
    ) -> None:
        self.clock = clock or FakeClock()
        self.namespace_termination_seconds = namespace_termination_seconds
        self.calls: list[Call] = []
        self._lock = threading.RLock()
        self._store: dict[tuple[str, str | None, str], JsonObject] = {}
        self._terminating: dict[str, float] = {}
        self._pod_created: dict[tuple[str, str], float] = {}
        self._failures: list[_Failure] = []
        self._pod_scripts: list[PodScript] = []
        self._exec_scripts: list[ExecScript] = []
        self._nodes: dict[str, _NodeSpec] = {}
        self._uid = itertools.count(1)
        self._rv = itertools.count(1)
        self._cluster_ips = (
            str(a) for a in ipaddress.ip_network("198.19.0.0/16").hosts() if int(a) & 0xFF
        )
        self.crds: set[str] = set()
        self.started_with: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        """(namespace, DaemonSet) -> the ConfigMaps of its namespace as its pods last
        (re)started: what an agent that reads its config at start is running with."""
        self._restarts = itertools.count(1)
        self.node_metrics: list[JsonObject] = []
        self.pod_metrics: list[JsonObject] = []
        self.metrics_available = True

    # -- scripting ------------------------------------------------------------------------

    def add_node(self, node: JsonObject) -> None:
        name = node["metadata"]["name"]
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        index = len(self._nodes)
        self._nodes[name] = _NodeSpec(name, ip, ipaddress.IPv4Network(f"198.18.{64 + index}.0/24"))
        self._put("nodes", None, name, copy.deepcopy(node))

    def seed(self, obj: JsonObject) -> None:
        """Put an existing cluster object (kube-system ConfigMaps, DaemonSets, Services...)
        in place without recording a call. Its namespace is created if needed."""
        resource = next(r for r, spec in _RESOURCES.items() if spec[2] == obj["kind"])
        meta = obj["metadata"]
        ns = meta.get("namespace") if _RESOURCES[resource][3] else None
        if ns is not None and ("namespaces", None, ns) not in self._store:
            self._put(
                "namespaces",
                None,
                ns,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        body = copy.deepcopy(obj)
        if resource == "services":
            body.setdefault("spec", {}).setdefault("clusterIP", next(self._cluster_ips))
        self._put(resource, ns, meta["name"], body)

    def throttle(
        self,
        verb: str,
        resource: str,
        times: int,
        retry_after: float | None = 1.0,
        name: str | None = None,
    ) -> None:
        """The next ``times`` matching calls get 429 Too Many Requests with Retry-After."""
        self.fail(verb, resource, 429, times, retry_after=retry_after, name=name)

    def fail(
        self,
        verb: str,
        resource: str,
        status: int,
        times: int = 1,
        *,
        retry_after: float | None = None,
        name: str | None = None,
        reason: str = "",
    ) -> None:
        """The next ``times`` matching calls (``*`` matches any verb/resource) fail."""
        with self._lock:
            self._failures.append(
                _Failure(
                    verb, resource, status, times, retry_after, name, reason or f"scripted {status}"
                )
            )

    def install_crd(self, plural: str) -> None:
        """Serve a custom resource (its CRD is installed), e.g. ``ciliumnetworkpolicies``."""
        if plural not in _CRDS:
            raise ValueError(f"the fake knows no CRD {plural!r}")
        self.crds.add(plural)

    def add_daemon_set_pod(
        self,
        namespace: str,
        daemon_set: str,
        node: str,
        labels: Mapping[str, str],
        containers: Sequence[str],
    ) -> str:
        """A running pod of an existing DaemonSet on ``node`` (e.g. a cilium-agent); a rollout
        restart replaces it with a pod of a new name, like the DaemonSet controller."""
        with self._lock:
            name = f"{daemon_set}-{node}-{next(self._restarts)}"
            body: JsonObject = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(labels),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "DaemonSet",
                            "name": daemon_set,
                            "uid": "00000000-0000-0000-0000-0000000000ds",
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "nodeName": node,
                    "hostNetwork": True,
                    "containers": [{"name": c, "image": "x"} for c in containers],
                },
            }
            self.seed(body)
            self._store[("pods", namespace, name)]["status"] = {
                "phase": "Running",
                "podIP": self._nodes[node].internal_ip,
            }
            self._pod_created[(namespace, name)] = self.clock.monotonic()
            self._snapshot(namespace, daemon_set)
            return name

    def _snapshot(self, namespace: str, daemon_set: str) -> None:
        self.started_with[(namespace, daemon_set)] = {
            str(cm["metadata"]["name"]): dict(cm.get("data") or {})
            for (r, ns, _n), cm in self._store.items()
            if r == "configmaps" and ns == namespace
        }

    def script_pod(self, script: PodScript) -> None:
        with self._lock:
            self._pod_scripts.insert(0, script)

    def script_exec(self, script: ExecScript) -> None:
        """Later scripts take precedence over earlier ones."""
        with self._lock:
            self._exec_scripts.insert(0, script)

    # -- introspection for tests -----------------------------------------------------------

    def calls_of(self, verb: str, resource: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.verb == verb and c.resource == resource]

    def stored(self, resource: str, namespace: str | None = None) -> list[JsonObject]:
        with self._lock:
            self._reap()
            return [
                copy.deepcopy(o)
                for (r, ns, _), o in sorted(self._store.items(), key=lambda kv: str(kv[0]))
                if r == resource and (namespace is None or ns == namespace)
            ]

    def exists(self, resource: str, namespace: str | None, name: str) -> bool:
        with self._lock:
            self._reap()
            return (resource, namespace, name) in self._store

    # -- plumbing -------------------------------------------------------------------------

    def _record(
        self, verb: str, resource: str, namespace: str | None, name: str | None, detail: str = ""
    ) -> None:
        group = METRICS_GROUP if resource.endswith(".metrics.k8s.io") else ""
        if resource in _RESOURCES:
            group = _RESOURCES[resource][0]
        if resource == "pods/exec":
            group = ""
        self.calls.append(Call(verb, group, resource, namespace, name, detail))
        for failure in self._failures:
            if (
                failure.remaining > 0
                and failure.verb in (verb, "*")
                and failure.resource in (resource, "*")
                and (failure.name is None or failure.name == name)
            ):
                failure.remaining -= 1
                raise api_error(
                    failure.status,
                    "TooManyRequests" if failure.status == 429 else failure.reason,
                    failure.reason,
                    verb=verb,
                    resource=resource,
                    namespace=namespace,
                    name=name,
                    retry_after=failure.retry_after,
                )

    def _reap(self) -> None:
        """Finish namespace deletions whose termination time has passed."""
        now = self.clock.monotonic()
        for ns, until in list(self._terminating.items()):
            if now >= until:
                del self._terminating[ns]
                for key in [k for k in self._store if k[1] == ns or k == ("namespaces", None, ns)]:
                    del self._store[key]
                for pod_key in [k for k in self._pod_created if k[0] == ns]:
                    del self._pod_created[pod_key]

    def _put(self, resource: str, ns: str | None, name: str, body: JsonObject) -> JsonObject:
        meta = body.setdefault("metadata", {})
        meta.setdefault("uid", f"00000000-0000-0000-0000-{next(self._uid):012d}")
        meta["resourceVersion"] = str(next(self._rv))
        meta.setdefault("generation", 1)
        self._store[(resource, ns, name)] = body
        return body

    def _get(self, resource: str, ns: str | None, name: str) -> JsonObject:
        self._reap()
        obj = self._store.get((resource, ns, name))
        if obj is None:
            raise api_error(
                404,
                "NotFound",
                f'{resource} "{name}" not found',
                verb="get",
                resource=resource,
                namespace=ns,
                name=name,
            )
        return obj

    def _create(self, resource: str, ns: str | None, body: JsonObject) -> JsonObject:
        _group, api_version, kind, namespaced = _RESOURCES[resource]
        if body.get("apiVersion") != api_version or body.get("kind") != kind:
            raise api_error(
                400,
                "BadRequest",
                f"{body.get('apiVersion')}/{body.get('kind')} sent to {resource}",
                verb="create",
                resource=resource,
                namespace=ns,
            )
        to_model(body)  # strict: unknown fields rejected, as the real seam sends them
        meta = body.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise api_error(
                422, "Invalid", "metadata.name: Required value", verb="create", resource=resource
            )
        if namespaced:
            if meta.get("namespace") not in (None, ns):
                raise api_error(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request",
                    verb="create",
                    resource=resource,
                    namespace=ns,
                    name=name,
                )
            self._reap()
            if ("namespaces", None, ns) not in self._store:
                raise api_error(
                    404,
                    "NotFound",
                    f'namespaces "{ns}" not found',
                    verb="create",
                    resource=resource,
                    namespace=ns,
                    name=name,
                )
            if ns in self._terminating:
                raise api_error(
                    403,
                    "Forbidden",
                    f"unable to create new content in namespace {ns} because it is being "
                    "terminated",
                    verb="create",
                    resource=resource,
                    namespace=ns,
                    name=name,
                )
        self._reap()
        if (resource, ns, name) in self._store:
            raise api_error(
                409,
                "AlreadyExists",
                f'{resource} "{name}" already exists',
                verb="create",
                resource=resource,
                namespace=ns,
                name=name,
            )
        stored = copy.deepcopy(body)
        if namespaced:
            stored["metadata"]["namespace"] = ns
        return self._put(resource, ns, name, stored)

    def _list(self, resource: str, ns: str | None, label_selector: str | None) -> list[JsonObject]:
        self._reap()
        out = []
        for (r, obj_ns, _name), obj in sorted(self._store.items(), key=lambda kv: str(kv[0])):
            if r != resource or (ns is not None and obj_ns != ns):
                continue
            if _selector_matches(label_selector, obj["metadata"].get("labels") or {}):
                out.append(copy.deepcopy(obj))
        return out

    # -- nodes ----------------------------------------------------------------------------

    def list_nodes(self) -> list[JsonObject]:
        with self._lock:
            self._record("list", "nodes", None, None)
            return self._list("nodes", None, None)

    # -- namespaces -----------------------------------------------------------------------

    def create_namespace(self, body: JsonObject) -> JsonObject:
        with self._lock:
            name = (body.get("metadata") or {}).get("name")
            self._record("create", "namespaces", None, name)
            created = self._create("namespaces", None, body)
            created["status"] = {"phase": "Active"}
            return copy.deepcopy(created)

    def get_namespace(self, name: str) -> JsonObject:
        with self._lock:
            self._record("get", "namespaces", None, name)
            return copy.deepcopy(self._get("namespaces", None, name))

    def list_namespaces(self, label_selector: str) -> list[JsonObject]:
        with self._lock:
            self._record("list", "namespaces", None, None)
            return self._list("namespaces", None, label_selector)

    def delete_namespace(self, name: str) -> None:
        with self._lock:
            self._record("delete", "namespaces", None, name)
            obj = self._get("namespaces", None, name)
            if name not in self._terminating:
                self._terminating[name] = (
                    self.clock.monotonic() + self.namespace_termination_seconds
                )
                obj["status"] = {"phase": "Terminating"}
                obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            self._reap()

    # -- config maps ----------------------------------------------------------------------

    def get_config_map(self, namespace: str, name: str) -> JsonObject:
        with self._lock:
            self._record("get", "configmaps", namespace, name)
            return copy.deepcopy(self._get("configmaps", namespace, name))

    def create_config_map(self, namespace: str, body: JsonObject) -> JsonObject:
        with self._lock:
            self._record("create", "configmaps", namespace, body["metadata"].get("name"))
            return copy.deepcopy(self._create("configmaps", namespace, body))

    def patch_config_map_data(
        self, namespace: str, name: str, data: Mapping[str, str | None]
    ) -> JsonObject:
        with self._lock:
            self._record("patch", "configmaps", namespace, name, "merge")
            obj = self._get("configmaps", namespace, name)
            current = obj.setdefault("data", {})
            for key, value in data.items():
                if value is None:
                    current.pop(key, None)
                elif not isinstance(value, str):
                    raise api_error(422, "Invalid", f"data.{key}: must be a string")
                else:
                    current[key] = value
            obj["metadata"]["resourceVersion"] = str(next(self._rv))
            return copy.deepcopy(obj)

    # -- daemon sets ----------------------------------------------------------------------

    def get_daemon_set(self, namespace: str, name: str) -> JsonObject:
        with self._lock:
            self._record("get", "daemonsets", namespace, name)
            return copy.deepcopy(self._get("daemonsets", namespace, name))

    def rollout_restart_daemon_set(self, namespace: str, name: str, at: str) -> JsonObject:
        with self._lock:
            self._record("patch", "daemonsets", namespace, name, "strategic-merge")
            obj = self._get("daemonsets", namespace, name)
            template = obj.setdefault("spec", {}).setdefault("template", {})
            template.setdefault("metadata", {}).setdefault("annotations", {})[
                RESTARTED_AT_ANNOTATION
            ] = at
            meta = obj["metadata"]
            meta["generation"] = int(meta.get("generation", 1)) + 1
            meta["resourceVersion"] = str(next(self._rv))
            # The DaemonSet controller replaces every pod it owns (new names), and the new pods
            # start with the ConfigMaps as they are now.
            for (r, pns, pname), pod in list(self._store.items()):
                owners = pod.get("metadata", {}).get("ownerReferences") or []
                if r != "pods" or pns != namespace or not any(o["name"] == name for o in owners):
                    continue
                del self._store[(r, pns, pname)]
                created = self._pod_created.pop((pns, pname))
                new = f"{pname.rsplit('-', 1)[0]}-{next(self._restarts)}"
                pod = copy.deepcopy(pod)
                pod["metadata"]["name"] = new
                self._put("pods", pns, new, pod)
                self._pod_created[(pns, new)] = min(created, self.clock.monotonic())
            self._snapshot(namespace, name)
            # The rollout completes at once in the fake: status catches up with the generation.
            status = obj.setdefault("status", {})
            desired = int(status.get("desiredNumberScheduled", 2))
            status.update(
                observedGeneration=meta["generation"],
                desiredNumberScheduled=desired,
                updatedNumberScheduled=desired,
                numberReady=desired,
                numberAvailable=desired,
            )
            return copy.deepcopy(obj)

    # -- pods -----------------------------------------------------------------------------

    def _pod_script(self, name: str) -> PodScript:
        for script in self._pod_scripts:
            if re.search(script.pattern, name):
                return script
        return PodScript(".*")

    def _pod_view(self, ns: str, obj: JsonObject) -> JsonObject:
        """The pod as the API would serve it now (status advanced with fake time)."""
        name = obj["metadata"]["name"]
        script = self._pod_script(name)
        age = self.clock.monotonic() - self._pod_created[(ns, name)]
        spec = obj["spec"]
        node = self._nodes[spec["nodeName"]]
        containers = [c["name"] for c in spec["containers"]]
        if script.ready_after is not None and age >= script.ready_after:
            obj["status"] = {
                "phase": "Running",
                "hostIP": node.internal_ip,
                "podIP": obj["status"]["podIP"],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": c, "ready": True, "state": {"running": {}}} for c in containers
                ],
            }
        else:
            phase = script.phase_if_never if script.ready_after is None else "Pending"
            obj["status"] = {
                "phase": phase,
                "hostIP": node.internal_ip,
                "podIP": obj["status"]["podIP"],
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
                ],
                "containerStatuses": [
                    {
                        "name": c,
                        "ready": False,
                        "state": {"waiting": {"reason": script.waiting_reason}},
                    }
                    for c in containers
                ],
            }
        return copy.deepcopy(obj)

    def create_pod(self, namespace: str, body: JsonObject) -> JsonObject:
        with self._lock:
            name = body["metadata"].get("name")
            self._record("create", "pods", namespace, name)
            node_name = (body.get("spec") or {}).get("nodeName")
            if node_name is not None and node_name not in self._nodes:
                # The API accepts it, but it will never run; we refuse early to catch bugs.
                raise api_error(422, "Invalid", f"spec.nodeName: node {node_name!r} does not exist")
            created = self._create("pods", namespace, body)
            node = self._nodes[node_name] if node_name else next(iter(self._nodes.values()))
            created["spec"]["nodeName"] = node.name
            pod_ip = (
                node.internal_ip
                if created["spec"].get("hostNetwork")
                else str(node.pod_cidr.network_address + next(node.next_ip))
            )
            created["status"] = {"phase": "Pending", "podIP": pod_ip}
            self._pod_created[(namespace, created["metadata"]["name"])] = self.clock.monotonic()
            return self._pod_view(namespace, created)

    def get_pod(self, namespace: str, name: str) -> JsonObject:
        with self._lock:
            self._record("get", "pods", namespace, name)
            return self._pod_view(namespace, self._get("pods", namespace, name))

    def list_pods(self, namespace: str | None, label_selector: str) -> list[JsonObject]:
        with self._lock:
            self._record("list", "pods", namespace, None)
            return [
                self._pod_view(
                    p["metadata"]["namespace"],
                    self._get("pods", p["metadata"]["namespace"], p["metadata"]["name"]),
                )
                for p in self._list("pods", namespace, label_selector)
            ]

    def delete_pod(self, namespace: str, name: str) -> None:
        with self._lock:
            self._record("delete", "pods", namespace, name)
            self._get("pods", namespace, name)
            del self._store[("pods", namespace, name)]
            del self._pod_created[(namespace, name)]

    # -- services and endpoint slices -----------------------------------------------------

    def create_service(self, namespace: str, body: JsonObject) -> JsonObject:
        with self._lock:
            self._record("create", "services", namespace, body["metadata"].get("name"))
            created = self._create("services", namespace, body)
            created["spec"]["clusterIP"] = next(self._cluster_ips)
            created["spec"]["clusterIPs"] = [created["spec"]["clusterIP"]]
            return copy.deepcopy(created)

    def get_service(self, namespace: str, name: str) -> JsonObject:
        with self._lock:
            self._record("get", "services", namespace, name)
            return copy.deepcopy(self._get("services", namespace, name))

    def list_services(
        self, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonObject]:
        with self._lock:
            self._record("list", "services", namespace, None)
            return self._list("services", namespace, label_selector)

    def create_endpoint_slice(self, namespace: str, body: JsonObject) -> JsonObject:
        with self._lock:
            self._record("create", "endpointslices", namespace, body["metadata"].get("name"))
            endpoints = body.get("endpoints") or []
            if len(endpoints) > 1000:
                raise api_error(422, "Invalid", "endpoints: Too many: must have at most 1000 items")
            return copy.deepcopy(self._create("endpointslices", namespace, body))

    def list_endpoint_slices(
        self, namespace: str, label_selector: str | None = None
    ) -> list[JsonObject]:
        with self._lock:
            self._record("list", "endpointslices", namespace, None)
            return self._list("endpointslices", namespace, label_selector)

    # -- custom resources -----------------------------------------------------------------

    def _crd(self, verb: str, group: str, version: str, plural: str, ns: str) -> None:
        spec = _RESOURCES.get(plural)
        if plural not in self.crds or spec is None or spec[1] != f"{group}/{version}":
            raise api_error(
                404,
                "NotFound",
                "the server could not find the requested resource",
                verb=verb,
                resource=plural,
                namespace=ns,
            )

    def create_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: JsonObject
    ) -> JsonObject:
        with self._lock:
            self._record("create", plural, namespace, (body.get("metadata") or {}).get("name"))
            self._crd("create", group, version, plural, namespace)
            return copy.deepcopy(self._create(plural, namespace, body))

    def get_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> JsonObject:
        with self._lock:
            self._record("get", plural, namespace, name)
            self._crd("get", group, version, plural, namespace)
            return copy.deepcopy(self._get(plural, namespace, name))

    def delete_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> None:
        with self._lock:
            self._record("delete", plural, namespace, name)
            self._crd("delete", group, version, plural, namespace)
            self._get(plural, namespace, name)
            del self._store[(plural, namespace, name)]

    # -- exec -----------------------------------------------------------------------------

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecResult:
        command = " ".join(argv)
        with self._lock:
            self._record("create", "pods/exec", namespace, pod, command)
            view = self._pod_view(namespace, self._get("pods", namespace, pod))
            if view["status"]["phase"] != "Running":
                raise api_error(
                    400,
                    "BadRequest",
                    f"pod {pod} is not running (phase {view['status']['phase']})",
                    verb="exec",
                    resource="pods/exec",
                    namespace=namespace,
                    name=pod,
                )
            if container not in [c["name"] for c in view["spec"]["containers"]]:
                raise api_error(
                    400,
                    "BadRequest",
                    f"container {container} is not valid for pod {pod}",
                    verb="exec",
                    resource="pods/exec",
                    namespace=namespace,
                    name=pod,
                )
            script = next(
                (
                    s
                    for s in self._exec_scripts
                    if re.search(s.pattern, command) and (s.pod is None or re.search(s.pod, pod))
                ),
                None,
            )
        if script is None:
            return ExecResult(127, "", f"exec: {argv[0] if argv else ''}: not found\n")
        if script.seconds > timeout:
            self.clock.sleep(timeout)
            raise ExecTimeout(pod, tuple(argv), timeout)
        self.clock.sleep(script.seconds)
        stdout = script.stdout() if callable(script.stdout) else script.stdout
        return ExecResult(script.returncode, stdout, script.stderr)

    # -- metrics.k8s.io -------------------------------------------------------------------

    def _metrics(self, resource: str, namespace: str | None) -> None:
        self._record("list", resource, namespace, None)
        if not self.metrics_available:
            raise api_error(
                404,
                "NotFound",
                "the server could not find the requested resource (metrics-server missing)",
                verb="list",
                resource=resource,
            )

    def list_node_metrics(self) -> list[JsonObject]:
        with self._lock:
            self._metrics("nodes.metrics.k8s.io", None)
            return copy.deepcopy(self.node_metrics)

    def list_pod_metrics(
        self, namespace: str, label_selector: str | None = None
    ) -> list[JsonObject]:
        with self._lock:
            self._metrics("pods.metrics.k8s.io", namespace)
            return [
                copy.deepcopy(m)
                for m in self.pod_metrics
                if m["metadata"].get("namespace") == namespace
                and _selector_matches(label_selector, m["metadata"].get("labels") or {})
            ]


RbacRule = tuple[str, str, str, bool]
"""(verb, API group, resource, namespaced): ``namespaced`` is True when the call was made
within a namespace (a Role can grant it) and False for cluster-wide calls (ClusterRole)."""


def rbac_rules(calls: Sequence[Call]) -> set[RbacRule]:
    """What RBAC must grant for ``calls``: exec is ``create pods/exec``; metrics.k8s.io calls
    are ``list pods|nodes`` in group ``metrics.k8s.io``."""
    out: set[RbacRule] = set()
    for c in calls:
        group, resource = c.group, c.resource
        if resource.endswith("." + METRICS_GROUP):
            group, resource = METRICS_GROUP, resource.removesuffix("." + METRICS_GROUP)
        out.add((c.verb, group, resource, c.namespace is not None))
    return out


__all__ = [
    "Call",
    "ExecScript",
    "FakeClock",
    "FakeKubeClient",
    "PodScript",
    "RbacRule",
    "make_node",
    "rbac_rules",
]
