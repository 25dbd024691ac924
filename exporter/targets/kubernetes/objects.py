"""Builders of every object netbench sends to a cluster, as plain JSON-shaped dicts.

Pure functions, no I/O. Every object carries ``app.kubernetes.io/managed-by: netbench``, the
instance label (which exporter installation owns it) and the sweep label, so the janitor can find
and delete anything a dead sweep left. tests/kubernetes/test_schemas.py validates every builder's
output against the official schemas of Kubernetes 1.30..1.34 (strict) and against the installed
client's models.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from exporter.errors import ConfigError

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "netbench"
INSTANCE_LABEL = "netbench.dev/instance"
SWEEP_LABEL = "netbench.dev/sweep"
ROLE_LABEL = "netbench.dev/role"
PURPOSE_LABEL = "netbench.dev/purpose"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "netbench.dev/scale"
"""Our EndpointSlice controller name: the EndpointSlice controller leaves these slices alone."""

DEFAULT_ENDPOINT_CIDR = "198.18.0.0/15"
"""RFC 2544 benchmarking range: dummy endpoints are never dialled, and never collide with real
networks the way the seed's 10.100.x did."""

HTTP_PORT = 80
IPERF3_PORT = 5201
SOCKPERF_PORT = 11111
NGINX_STATUS_PATH = "/nginx_status"
MAX_ENDPOINTS_PER_SLICE = 1000
"""The API server's limit per EndpointSlice."""

NGINX_CONF_KEY = "nginx.conf"
NGINX_CONFIG_MAP = "netbench-nginx"

# nginx as an unprivileged user: pid, temp paths and logs under the /tmp emptyDir; stub_status
# on the same port, only from inside the pod (we read it by exec against 127.0.0.1).
NGINX_CONF = f"""\
worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    keepalive_requests 1000000;
    server {{
        listen {HTTP_PORT} reuseport backlog=65535;
        location = / {{ return 200 "netbench\\n"; }}
        location = {NGINX_STATUS_PATH} {{
            stub_status;
            allow 127.0.0.1;
            deny all;
        }}
    }}
}}
"""


class PodKind(StrEnum):
    """The benchmark pods. Servers go on the server node, clients on the client node."""

    SERVER = "server"
    """Pod network: nginx (HTTP), iperf3 and sockperf servers, one container each."""
    CLIENT = "client"
    """Pod network: idle; tools run in it by exec."""
    HOST_SERVER = "host-server"
    """hostNetwork on the server node: iperf3 server for the real host-to-host baseline."""
    HOST_CLIENT = "host-client"
    """hostNetwork on the client node: tools for the host-to-host baseline."""
    PROBE = "probe"
    """hostNetwork on the server node with NET_ADMIN/NET_RAW: reads the datapath's state
    (iptables-save, nft, ipvsadm, 127.0.0.1:10249/proxyMode) to verify programming."""


@dataclass(frozen=True)
class PodResources:
    """Requests only by default: a CPU limit would throttle the benchmark itself (CFS quota),
    which is exactly the noise we must not measure. Limits can be set for clusters that demand
    them (LimitRange / policy)."""

    cpu_request: str = "500m"
    memory_request: str = "256Mi"
    cpu_limit: str | None = None
    memory_limit: str | None = "1Gi"

    def as_dict(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request}
        }
        limits = {k: v for k, v in (("cpu", self.cpu_limit), ("memory", self.memory_limit)) if v}
        if limits:
            out["limits"] = limits
        return out


@dataclass(frozen=True)
class ObjectSettings:
    """What the builders need to know about this installation."""

    instance: str = "default"
    """Owner installation (``netbench.dev/instance``): two exporters never delete each other's
    objects."""
    image: str = "netbench:latest"
    """One image for every tool: the project's image (Dockerfile), configurable."""
    image_pull_policy: str = "IfNotPresent"
    resources: PodResources = field(default_factory=PodResources)
    run_as_user: int = 65532
    """Unprivileged UID for pod-network pods (the image must not need root for its tools)."""
    priority_class: str | None = None
    service_account: str | None = None
    """None = the namespace's ``default`` account, with its token not mounted."""


def labels(settings: ObjectSettings, sweep: str, **extra: str) -> dict[str, str]:
    out = {MANAGED_BY_LABEL: MANAGED_BY, INSTANCE_LABEL: settings.instance, SWEEP_LABEL: sweep}
    out.update(extra)
    return out


def owned_selector(settings: ObjectSettings, sweep: str | None = None) -> str:
    """Label selector for everything this installation (and optionally one sweep) created."""
    sel = f"{MANAGED_BY_LABEL}={MANAGED_BY},{INSTANCE_LABEL}={settings.instance}"
    return f"{sel},{SWEEP_LABEL}={sweep}" if sweep else sel


def _meta(name: str, lbls: Mapping[str, str], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(lbls)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def namespace(settings: ObjectSettings, name: str, sweep: str, purpose: str) -> dict[str, Any]:
    """A namespace we own. Pod Security: the benchmark namespace holds hostNetwork pods (the
    host-to-host baseline and the datapath probe), which only ``privileged`` admits; ``warn``
    and ``audit`` at ``restricted`` keep every other pod's deviation visible."""
    lbls = labels(settings, sweep, **{PURPOSE_LABEL: purpose})
    if purpose == "benchmark":
        lbls |= {
            "pod-security.kubernetes.io/enforce": "privileged",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }
    else:
        lbls["pod-security.kubernetes.io/enforce"] = "restricted"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name, lbls)}


def nginx_config_map(settings: ObjectSettings, ns: str, sweep: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(NGINX_CONFIG_MAP, labels(settings, sweep), ns),
        "data": {NGINX_CONF_KEY: NGINX_CONF},
    }


def _restricted_context(settings: ObjectSettings, add: tuple[str, ...] = ()) -> dict[str, Any]:
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if add:
        caps["add"] = list(add)
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": settings.run_as_user,
        "runAsGroup": settings.run_as_user,
        "readOnlyRootFilesystem": True,
        "capabilities": caps,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container(
    settings: ObjectSettings,
    name: str,
    command: list[str],
    security: dict[str, Any],
    ports: Sequence[tuple[str, int]] = (),
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "resources": settings.resources.as_dict(),
        "securityContext": security,
        "volumeMounts": mounts if mounts is not None else [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if ports:
        c["ports"] = [
            {"name": pname, "containerPort": port, "protocol": "TCP"} for pname, port in ports
        ]
        # Ready means every server listens: measured runs never race the servers' start.
        c["readinessProbe"] = {
            "tcpSocket": {"port": ports[0][1]},
            "periodSeconds": 2,
            "failureThreshold": 3,
        }
    return c


IDLE_COMMAND = ["sleep", "infinity"]


def benchmark_pod(
    settings: ObjectSettings,
    kind: PodKind,
    *,
    name: str,
    ns: str,
    node: str,
    sweep: str,
) -> dict[str, Any]:
    """One benchmark pod pinned to ``node`` (``nodeName``: the placement is ours and recorded,
    never the scheduler's choice)."""
    host = kind in (PodKind.HOST_SERVER, PodKind.HOST_CLIENT, PodKind.PROBE)
    restricted = _restricted_context(settings)
    tmp = [{"name": "tmp", "mountPath": "/tmp"}]
    containers: list[dict[str, Any]]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if kind is PodKind.SERVER:
        volumes.append({"name": "nginx", "configMap": {"name": NGINX_CONFIG_MAP}})
        containers = [
            _container(
                settings,
                "http",
                ["nginx", "-c", f"/etc/netbench/{NGINX_CONF_KEY}", "-g", "daemon off;"],
                _restricted_context(settings, add=("NET_BIND_SERVICE",)),
                ports=[("http", HTTP_PORT)],
                mounts=[*tmp, {"name": "nginx", "mountPath": "/etc/netbench", "readOnly": True}],
            ),
            _container(
                settings,
                "iperf3",
                ["iperf3", "--server", "--port", str(IPERF3_PORT)],
                restricted,
                ports=[("iperf3", IPERF3_PORT)],
            ),
            _container(
                settings,
                "sockperf",
                ["sockperf", "server", "--tcp", "--port", str(SOCKPERF_PORT)],
                restricted,
                ports=[("sockperf", SOCKPERF_PORT)],
            ),
        ]
    elif kind is PodKind.HOST_SERVER:
        # Host network: iperf3 on the node's own address, the real host-to-host baseline the
        # seed never measured. Unprivileged; only the namespace's PSS level allows hostNetwork.
        containers = [
            _container(
                settings,
                "iperf3",
                ["iperf3", "--server", "--port", str(IPERF3_PORT)],
                restricted,
                ports=[("iperf3", IPERF3_PORT)],
            )
        ]
    elif kind is PodKind.PROBE:
        # Reading netfilter state needs CAP_NET_ADMIN (and NET_RAW for iptables); root in the
        # container, no privilege escalation, no other capability.
        probe_ctx = {
            "allowPrivilegeEscalation": False,
            "runAsUser": 0,
            "runAsNonRoot": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        containers = [_container(settings, "probe", IDLE_COMMAND, probe_ctx)]
    else:  # CLIENT, HOST_CLIENT
        containers = [_container(settings, "tools", IDLE_COMMAND, restricted)]
    spec: dict[str, Any] = {
        "nodeName": node,
        "restartPolicy": "Always",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
        "volumes": volumes,
    }
    if kind is PodKind.SERVER:
        # nginx listens on 80 as a non-root user. NET_BIND_SERVICE alone does not do it (a
        # non-root container gets no ambient capabilities), so lower the pod network
        # namespace's unprivileged port floor: a "safe" sysctl, allowed by default since 1.22
        # and by Pod Security "restricted".
        spec["securityContext"]["sysctls"] = [
            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
        ]
    if host:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if settings.priority_class:
        spec["priorityClassName"] = settings.priority_class
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, labels(settings, sweep, **{ROLE_LABEL: kind.value}), ns),
        "spec": spec,
    }


def server_service(settings: ObjectSettings, *, name: str, ns: str, sweep: str) -> dict[str, Any]:
    """The ClusterIP Service fronting the server pod (http, iperf3, sockperf)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, labels(settings, sweep), ns),
        "spec": {
            "type": "ClusterIP",
            "selector": {
                SWEEP_LABEL: sweep,
                INSTANCE_LABEL: settings.instance,
                ROLE_LABEL: PodKind.SERVER.value,
            },
            "ports": [
                {"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT, "protocol": "TCP"},
                {
                    "name": "iperf3",
                    "port": IPERF3_PORT,
                    "targetPort": IPERF3_PORT,
                    "protocol": "TCP",
                },
                {
                    "name": "sockperf",
                    "port": SOCKPERF_PORT,
                    "targetPort": SOCKPERF_PORT,
                    "protocol": "TCP",
                },
            ],
        },
    }


def dummy_service_name(index: int) -> str:
    return f"nb-scale-{index:05d}"


def dummy_service(settings: ObjectSettings, *, index: int, ns: str, sweep: str) -> dict[str, Any]:
    """A selector-less ClusterIP Service: its endpoints are our EndpointSlice, so no pod and no
    controller work is needed, yet every datapath programs it like any other Service."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            dummy_service_name(index), labels(settings, sweep, **{PURPOSE_LABEL: "scale"}), ns
        ),
        "spec": {
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": HTTP_PORT, "protocol": "TCP"}],
        },
    }


@dataclass(frozen=True)
class EndpointPool:
    """Dummy endpoint addresses: IPv4 from ``cidr``, assigned round-robin (reused modulo the
    pool size, never dialled). The network and broadcast addresses are skipped."""

    cidr: str = DEFAULT_ENDPOINT_CIDR

    def __post_init__(self) -> None:
        try:
            net = ipaddress.ip_network(self.cidr, strict=True)
        except ValueError as err:
            raise ConfigError("kubernetes.scale.endpoint_cidr", str(err)) from err
        if not isinstance(net, ipaddress.IPv4Network):
            raise ConfigError("kubernetes.scale.endpoint_cidr", "must be an IPv4 network")
        if net.num_addresses < 4:
            raise ConfigError("kubernetes.scale.endpoint_cidr", "needs at least a /30")
        if net.is_loopback or net.is_link_local or net.is_multicast:
            raise ConfigError(
                "kubernetes.scale.endpoint_cidr",
                "loopback, link-local and multicast addresses are rejected by the API server",
            )

    @property
    def network(self) -> ipaddress.IPv4Network:
        net = ipaddress.ip_network(self.cidr)
        assert isinstance(net, ipaddress.IPv4Network)
        return net

    def addresses(self, service_index: int, count: int) -> list[str]:
        net = self.network
        usable = net.num_addresses - 2
        first = int(net.network_address) + 1
        start = service_index * count
        return [str(ipaddress.IPv4Address(first + (start + j) % usable)) for j in range(count)]


def dummy_endpoint_slice(
    settings: ObjectSettings,
    *,
    index: int,
    ns: str,
    sweep: str,
    endpoints: int,
    pool: EndpointPool,
) -> dict[str, Any]:
    """The EndpointSlice of dummy Service ``index``: ``endpoints`` ready addresses on port 80."""
    if not 1 <= endpoints <= MAX_ENDPOINTS_PER_SLICE:
        raise ConfigError(
            "scale.endpoints_per_service",
            f"must be 1..{MAX_ENDPOINTS_PER_SLICE} (one slice per Service), got {endpoints}",
        )
    service = dummy_service_name(index)
    lbls = labels(
        settings,
        sweep,
        **{
            PURPOSE_LABEL: "scale",
            SERVICE_NAME_LABEL: service,
            SLICE_MANAGED_BY_LABEL: SLICE_MANAGER,
        },
    )
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _meta(f"{service}-1", lbls, ns),
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [addr], "conditions": {"ready": True, "serving": True}}
            for addr in pool.addresses(index, endpoints)
        ],
        "ports": [{"name": "http", "port": HTTP_PORT, "protocol": "TCP"}],
    }
