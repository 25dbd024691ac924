"""Placement: which two nodes host the benchmark, chosen deterministically.

Series stay comparable across sweeps only if they are measured between the same two nodes, so
the choice is a pure function of the node list and config: eligible nodes sorted by name, the
first is the server node, the second the client node. Config may name both nodes, or restrict
the candidates with a label selector. The choice is recorded (:meth:`Placement.record`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.targets.kubernetes.errors import PlacementError

CONTROL_PLANE_LABELS = (
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
)
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")


@dataclass(frozen=True)
class PlacementSettings:
    server_node: str | None = None
    client_node: str | None = None
    """Both or neither. Named nodes must exist, be Ready and schedulable; a control-plane node
    is accepted when named explicitly (small clusters, kind)."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Only nodes carrying all these labels are candidates (ignored when nodes are named)."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    internal_ip: str
    kernel: str
    kubelet_version: str
    os_image: str
    container_runtime: str
    instance_type: str
    """``node.kubernetes.io/instance-type`` or ``unknown``."""

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> NodeInfo:
        meta = node.get("metadata") or {}
        status = node.get("status") or {}
        labels = meta.get("labels") or {}
        info = status.get("nodeInfo") or {}
        ip = next(
            (
                a.get("address", "")
                for a in status.get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            "",
        )
        return cls(
            name=str(meta.get("name", "")),
            internal_ip=str(ip),
            kernel=str(info.get("kernelVersion", "unknown")),
            kubelet_version=str(info.get("kubeletVersion", "unknown")),
            os_image=str(info.get("osImage", "unknown")),
            container_runtime=str(info.get("containerRuntimeVersion", "unknown")),
            instance_type=next(
                (str(labels[k]) for k in INSTANCE_TYPE_LABELS if labels.get(k)), "unknown"
            ),
        )


@dataclass(frozen=True)
class Placement:
    server: NodeInfo
    client: NodeInfo
    how: str
    """``named``, ``selected`` or ``auto``."""

    def record(self) -> dict[str, str]:
        return {
            "server_node": self.server.name,
            "client_node": self.client.name,
            "placement": self.how,
        }


def ineligibility(node: Mapping[str, Any], *, allow_control_plane: bool = False) -> str | None:
    """Why ``node`` cannot host benchmark pods, or None."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    labels = meta.get("labels") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not ready:
        return "not Ready"
    if spec.get("unschedulable"):
        return "unschedulable (cordoned)"
    if not any(a.get("type") == "InternalIP" for a in status.get("addresses") or []):
        return "no InternalIP"
    control_plane = any(k in labels for k in CONTROL_PLANE_LABELS)
    if control_plane and not allow_control_plane:
        return "control-plane node"
    for taint in spec.get("taints") or []:
        effect = taint.get("effect")
        is_cp_taint = taint.get("key") in CONTROL_PLANE_LABELS
        if effect in ("NoSchedule", "NoExecute") and not (allow_control_plane and is_cp_taint):
            return f"tainted {taint.get('key')}:{effect}"
    return None


def choose_nodes(nodes: Sequence[Mapping[str, Any]], settings: PlacementSettings) -> Placement:
    """Two distinct nodes: server first, client second. Raises PlacementError saying why."""
    by_name = {str((n.get("metadata") or {}).get("name")): n for n in nodes}
    named = (settings.server_node, settings.client_node)
    if any(named):
        if not all(named):
            raise PlacementError("name both server_node and client_node, or neither")
        if settings.server_node == settings.client_node:
            raise PlacementError("server_node and client_node must be different nodes")
        chosen = []
        for name in named:
            assert name is not None
            node = by_name.get(name)
            if node is None:
                raise PlacementError(f"configured node {name!r} does not exist")
            why = ineligibility(node, allow_control_plane=True)
            if why:
                raise PlacementError(f"configured node {name!r} is {why}")
            chosen.append(NodeInfo.of(node))
        return Placement(chosen[0], chosen[1], "named")
    candidates = []
    rejected = []
    for name in sorted(by_name):
        node = by_name[name]
        labels = (node.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in settings.node_selector.items()):
            continue
        why = ineligibility(node)
        if why:
            rejected.append(f"{name}: {why}")
        else:
            candidates.append(node)
    if len(candidates) < 2:
        detail = "; ".join(rejected) or "no node matches"
        raise PlacementError(
            f"need two Ready, schedulable, non-control-plane nodes, found {len(candidates)} "
            f"({detail})"
        )
    how = "selected" if settings.node_selector else "auto"
    return Placement(NodeInfo.of(candidates[0]), NodeInfo.of(candidates[1]), how)
