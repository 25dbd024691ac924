"""Datapath detection: what the cluster's Service datapath and CNI are.

Sources, in the order they are read:

- kube-proxy: ConfigMap ``kube-system/kube-proxy`` key ``config.conf`` (a KubeProxyConfiguration
  as kubeadm writes it); ``mode: ""`` means iptables on Linux. The runtime truth is
  ``127.0.0.1:10249/proxyMode`` on a node (:func:`runtime_proxy_mode`, via a hostNetwork pod):
  when it is read and disagrees with the ConfigMap, the runtime wins and the ConfigMap is noted.
- Cilium: ConfigMap ``kube-system/cilium-config``. Routing: ``routing-mode`` (native|tunnel) and
  ``tunnel-protocol`` (vxlan|geneve) since 1.14; older clusters (and 1.14 upgraded with the old
  Helm value) carry ``tunnel: vxlan|geneve|disabled`` instead. ``kube-proxy-replacement``:
  ``true|false`` since 1.14; ``strict|partial|probe|disabled`` before (1.14 still accepts them,
  1.15 dropped them). ``enable-hubble``; ``bpf-lb-map-max`` (written only when set; the agent's
  default is 65536).
- CNI version: the image tag of the CNI DaemonSet's first container.
- kernel / Kubernetes version / node type: the server node's ``nodeInfo`` and labels.

The ``datapath`` label names the Service datapath, with the same values as the lab where they
mean the same thing: ``iptables``, ``ipvs``, ``nftables`` (kube-proxy does Service load
balancing) or ``ebpf`` (Cilium kube-proxy replacement). Every value may be overridden by config.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from exporter.targets.kubernetes.client import KubeClient
from exporter.targets.kubernetes.errors import DetectionError, KubeNotFound
from exporter.targets.kubernetes.placement import NodeInfo

KUBE_SYSTEM = "kube-system"
KUBE_PROXY_CONFIG_MAP = "kube-proxy"
KUBE_PROXY_CONFIG_KEY = "config.conf"
CILIUM_CONFIG_MAP = "cilium-config"
CILIUM_DAEMON_SET = "cilium"
CILIUM_DEFAULT_LB_MAP_MAX = 65536
PROXY_MODE_URL = "http://127.0.0.1:10249/proxyMode"

KUBE_PROXY_MODES = ("iptables", "ipvs", "nftables")

# Other CNIs we can name (DaemonSet namespace, name) -> cni label. Read only for the label.
_OTHER_CNIS: tuple[tuple[str, str, str], ...] = (
    ("calico-system", "calico-node", "calico"),
    ("kube-system", "calico-node", "calico"),
    ("kube-flannel", "kube-flannel-ds", "flannel"),
    ("kube-system", "kube-flannel-ds", "flannel"),
    ("kube-system", "kindnet", "kindnet"),
    ("kube-system", "aws-node", "aws-vpc-cni"),
)


@dataclass(frozen=True)
class CiliumConfig:
    routing_mode: str
    """``native`` or ``tunnel``."""
    tunnel_protocol: str
    """``vxlan``, ``geneve``, or ``none`` when routing natively."""
    kpr: str
    """Normalised: ``true``, ``false``, ``strict``, ``partial``, ``probe``, ``disabled``."""
    hubble: bool
    lb_map_max: int

    @property
    def replaces_kube_proxy(self) -> bool:
        """Cilium does ClusterIP load balancing itself (kube-proxy's rules, if any, unused)."""
        return self.kpr in ("true", "strict")


def parse_kube_proxy_mode(config_conf: str) -> str:
    """The mode in a KubeProxyConfiguration document (empty = iptables on Linux)."""
    try:
        doc = yaml.safe_load(config_conf)
    except yaml.YAMLError as err:
        raise DetectionError(f"kube-proxy config.conf is not YAML: {err}") from err
    if not isinstance(doc, dict) or doc.get("kind") != "KubeProxyConfiguration":
        raise DetectionError("kube-proxy config.conf is not a KubeProxyConfiguration")
    mode = str(doc.get("mode") or "").strip().lower()
    if mode == "":
        return "iptables"
    if mode not in KUBE_PROXY_MODES:
        raise DetectionError(
            f"kube-proxy mode {mode!r} is not one of {', '.join(KUBE_PROXY_MODES)}"
        )
    return mode


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def parse_cilium_config(data: Mapping[str, str]) -> CiliumConfig:
    """Read cilium-config's ``data`` in any spelling from 1.13 to 1.19."""
    routing = (data.get("routing-mode") or "").strip().lower()
    protocol = (data.get("tunnel-protocol") or "").strip().lower()
    old_tunnel = (data.get("tunnel") or "").strip().lower()
    if not routing:
        if old_tunnel == "disabled":
            routing = "native"
        else:
            # Before 1.14 only `tunnel` existed, default vxlan; 1.14+ default routing is tunnel.
            routing = "tunnel"
            protocol = protocol or old_tunnel
    if routing not in ("native", "tunnel"):
        raise DetectionError(f"cilium-config routing-mode {routing!r} is unknown")
    if routing == "native":
        protocol = "none"
    else:
        protocol = protocol or "vxlan"
        if protocol not in ("vxlan", "geneve"):
            raise DetectionError(f"cilium-config tunnel protocol {protocol!r} is unknown")
    kpr = (data.get("kube-proxy-replacement") or "false").strip().lower()
    if kpr not in ("true", "false", "strict", "partial", "probe", "disabled"):
        raise DetectionError(f"cilium-config kube-proxy-replacement {kpr!r} is unknown")
    raw_max = data.get("bpf-lb-map-max")
    try:
        lb_map_max = int(raw_max) if raw_max else CILIUM_DEFAULT_LB_MAP_MAX
    except ValueError as err:
        raise DetectionError(f"cilium-config bpf-lb-map-max {raw_max!r} is not a number") from err
    return CiliumConfig(
        routing_mode=routing,
        tunnel_protocol=protocol,
        kpr=kpr,
        hubble=_bool(data.get("enable-hubble")),
        lb_map_max=lb_map_max,
    )


def image_version(image: str) -> str:
    """``quay.io/cilium/cilium:v1.16.5@sha256:...`` -> ``1.16.5``; no tag -> ``unknown``."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "unknown"
    tag = last.split(":", 1)[1]
    return re.sub(r"^v(?=\d)", "", tag) or "unknown"


def parse_proxy_mode_response(text: str) -> str:
    mode = text.strip().lower()
    if mode not in KUBE_PROXY_MODES:
        raise DetectionError(f"kube-proxy /proxyMode answered {text.strip()!r}")
    return mode


@dataclass(frozen=True)
class Detection:
    datapath: str
    cni: str
    cni_version: str
    kube_proxy_mode: str
    """``iptables``/``ipvs``/``nftables`` or ``none`` (no kube-proxy)."""
    routing_mode: str
    tunnel_protocol: str
    kpr: str
    kernel: str
    k8s_version: str
    node_type: str
    cilium: CiliumConfig | None = None
    notes: tuple[str, ...] = ()

    def info(self) -> dict[str, str]:
        """Labels of ``netbench_datapath_info``."""
        return {
            "cni": self.cni,
            "cni_version": self.cni_version,
            "kube_proxy_mode": self.kube_proxy_mode,
            "routing_mode": self.routing_mode,
            "tunnel_protocol": self.tunnel_protocol,
            "kpr": self.kpr,
            "kernel": self.kernel,
            "k8s_version": self.k8s_version,
            "node_type": self.node_type,
        }

    def with_overrides(self, overrides: Mapping[str, str]) -> Detection:
        """Config overrides of ``datapath`` or any info label; unknown keys are an error."""
        allowed = {"datapath", *self.info()}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise DetectionError(f"unknown detection override(s): {', '.join(unknown)}")
        values: dict[str, Any] = dict(overrides)
        return replace(self, **values)


def _config_map_data(client: KubeClient, name: str) -> dict[str, str] | None:
    try:
        cm = client.get_config_map(KUBE_SYSTEM, name)
    except KubeNotFound:
        return None
    return dict(cm.get("data") or {})


def _daemon_set_image(client: KubeClient, namespace: str, name: str) -> str | None:
    try:
        ds = client.get_daemon_set(namespace, name)
    except KubeNotFound:
        return None
    containers = (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    return str(containers[0].get("image", "")) if containers else ""


def detect(
    client: KubeClient,
    node: NodeInfo,
    *,
    runtime_mode: Callable[[], str | None] | None = None,
) -> Detection:
    """Detect the datapath from the cluster. ``runtime_mode`` reads ``/proxyMode`` on a node
    (None when not allowed/available)."""
    notes: list[str] = []
    kube_proxy_data = _config_map_data(client, KUBE_PROXY_CONFIG_MAP)
    kube_proxy_mode = "none"
    if kube_proxy_data is not None:
        conf = kube_proxy_data.get(KUBE_PROXY_CONFIG_KEY)
        if conf is None:
            raise DetectionError("ConfigMap kube-system/kube-proxy has no config.conf")
        kube_proxy_mode = parse_kube_proxy_mode(conf)
    if runtime_mode is not None:
        runtime = runtime_mode()
        if runtime is not None and runtime != kube_proxy_mode:
            notes.append(
                f"kube-proxy ConfigMap says {kube_proxy_mode}, /proxyMode says {runtime}: "
                "using the runtime mode"
            )
            kube_proxy_mode = runtime

    cilium_data = _config_map_data(client, CILIUM_CONFIG_MAP)
    cilium: CiliumConfig | None = None
    cni, cni_version = "unknown", "unknown"
    routing, tunnel, kpr = "unknown", "unknown", "none"
    if cilium_data is not None:
        cilium = parse_cilium_config(cilium_data)
        cni = "cilium"
        image = _daemon_set_image(client, KUBE_SYSTEM, CILIUM_DAEMON_SET)
        cni_version = image_version(image) if image else "unknown"
        routing, tunnel, kpr = cilium.routing_mode, cilium.tunnel_protocol, cilium.kpr
    else:
        for ns, name, label in _OTHER_CNIS:
            image = _daemon_set_image(client, ns, name)
            if image is not None:
                cni, cni_version = label, image_version(image)
                break

    if cilium is not None and cilium.replaces_kube_proxy:
        datapath = "ebpf"
        if kube_proxy_mode != "none":
            notes.append(
                f"kube-proxy ({kube_proxy_mode}) is installed but Cilium replaces it "
                f"(kube-proxy-replacement={cilium.kpr})"
            )
    elif kube_proxy_mode != "none":
        datapath = kube_proxy_mode
    else:
        raise DetectionError(
            "no Service datapath found: no kube-proxy ConfigMap and no Cilium kube-proxy "
            "replacement (set kubernetes.detection overrides to name it)"
        )
    return Detection(
        datapath=datapath,
        cni=cni,
        cni_version=cni_version,
        kube_proxy_mode=kube_proxy_mode,
        routing_mode=routing,
        tunnel_protocol=tunnel,
        kpr=kpr,
        kernel=node.kernel,
        k8s_version=node.kubelet_version,
        node_type=node.instance_type,
        cilium=cilium,
        notes=tuple(notes),
    )
