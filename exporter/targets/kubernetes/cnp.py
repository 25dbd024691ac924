"""CiliumNetworkPolicy objects for the policy scenario, and their validation.

CNPs are custom resources: the kubernetes client has no model for them, so
:func:`validate_cnp` checks what we send against the fields of the ``cilium.io/v2`` CRD schema
we use (unknown fields rejected, like the strict client models). Policies select the benchmark
server pod only (sweep + instance + role labels), never anything else in the cluster.

- ``l3l4``: ingress to the server pod's HTTP port only from the benchmark client pod;
- ``l7``: the same, plus ``rules.http`` allowing ``GET`` only, so Envoy is in the path and a
  ``POST`` is answered 403 by the proxy. ``fromEndpoints`` and ``toPorts`` are in the SAME
  ingress item (two items would OR them, letting any endpoint reach the port).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from exporter.targets.kubernetes.errors import ManifestRejected
from exporter.targets.kubernetes.objects import (
    HTTP_PORT,
    INSTANCE_LABEL,
    ROLE_LABEL,
    SWEEP_LABEL,
    ObjectSettings,
    PodKind,
    labels,
)

CNP_GROUP = "cilium.io"
CNP_VERSION = "v2"
CNP_PLURAL = "ciliumnetworkpolicies"
CNP_API_VERSION = f"{CNP_GROUP}/{CNP_VERSION}"
CNP_KIND = "CiliumNetworkPolicy"
POLICIES: tuple[str, ...] = ("l3l4", "l7")


def policy_name(policy: str) -> str:
    return f"netbench-{policy}"


def _pod_selector(settings: ObjectSettings, sweep: str, kind: PodKind) -> dict[str, Any]:
    return {
        "matchLabels": {
            SWEEP_LABEL: sweep,
            INSTANCE_LABEL: settings.instance,
            ROLE_LABEL: kind.value,
        }
    }


def cilium_network_policy(
    settings: ObjectSettings, policy: str, *, ns: str, sweep: str
) -> dict[str, Any]:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")
    to_ports: dict[str, Any] = {"ports": [{"port": str(HTTP_PORT), "protocol": "TCP"}]}
    if policy == "l7":
        to_ports["rules"] = {"http": [{"method": "GET"}]}
    return {
        "apiVersion": CNP_API_VERSION,
        "kind": CNP_KIND,
        "metadata": {
            "name": policy_name(policy),
            "namespace": ns,
            "labels": labels(settings, sweep),
        },
        "spec": {
            "endpointSelector": _pod_selector(settings, sweep, PodKind.SERVER),
            "ingress": [
                {
                    "fromEndpoints": [_pod_selector(settings, sweep, PodKind.CLIENT)],
                    "toPorts": [to_ports],
                }
            ],
        },
    }


# Field names of the cilium.io/v2 CRD schema (CiliumNetworkPolicy) at the levels we use.
_SPEC = {
    "description",
    "egress",
    "egressDeny",
    "enableDefaultDeny",
    "endpointSelector",
    "ingress",
    "ingressDeny",
    "labels",
    "nodeSelector",
}
_SELECTOR = {"matchLabels", "matchExpressions"}
_INGRESS = {
    "authentication",
    "fromCIDR",
    "fromCIDRSet",
    "fromEndpoints",
    "fromEntities",
    "fromGroups",
    "fromNodes",
    "fromRequires",
    "icmps",
    "toPorts",
}
_PORT_RULE = {"listener", "originatingTLS", "ports", "rules", "serverNames", "terminatingTLS"}
_PORT = {"endPort", "port", "protocol"}
_PROTOCOLS = {"TCP", "UDP", "SCTP", "ANY"}
_L7 = {"dns", "http", "kafka", "l7", "l7proto"}
_HTTP = {"headerMatches", "headers", "host", "method", "path"}


def _keys(obj: object, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ManifestRejected(f"CiliumNetworkPolicy {where}: must be an object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ManifestRejected(f"CiliumNetworkPolicy {where}: unknown field(s) {unknown}")
    return obj


def _list(obj: object, where: str) -> Sequence[Any]:
    if not isinstance(obj, list):
        raise ManifestRejected(f"CiliumNetworkPolicy {where}: must be a list")
    return obj


def validate_cnp(body: Mapping[str, Any]) -> None:
    """Raise ManifestRejected when ``body`` is not a CiliumNetworkPolicy as we use them."""
    _keys(body, {"apiVersion", "kind", "metadata", "spec"}, "top level")
    if body.get("apiVersion") != CNP_API_VERSION or body.get("kind") != CNP_KIND:
        raise ManifestRejected(f"not a {CNP_API_VERSION} {CNP_KIND}")
    meta = _keys(body.get("metadata"), {"name", "namespace", "labels", "annotations"}, "metadata")
    if not meta.get("name"):
        raise ManifestRejected("CiliumNetworkPolicy metadata.name: required")
    spec = _keys(body.get("spec"), _SPEC, "spec")
    if "endpointSelector" not in spec:
        raise ManifestRejected("CiliumNetworkPolicy spec.endpointSelector: required")
    _keys(spec["endpointSelector"], _SELECTOR, "spec.endpointSelector")
    for i, rule in enumerate(_list(spec.get("ingress", []), "spec.ingress")):
        at = f"spec.ingress[{i}]"
        rule = _keys(rule, _INGRESS, at)
        for j, sel in enumerate(_list(rule.get("fromEndpoints", []), f"{at}.fromEndpoints")):
            _keys(sel, _SELECTOR, f"{at}.fromEndpoints[{j}]")
        for j, pr in enumerate(_list(rule.get("toPorts", []), f"{at}.toPorts")):
            pr = _keys(pr, _PORT_RULE, f"{at}.toPorts[{j}]")
            for k, port in enumerate(_list(pr.get("ports", []), f"{at}.toPorts[{j}].ports")):
                port = _keys(port, _PORT, f"{at}.toPorts[{j}].ports[{k}]")
                if not isinstance(port.get("port"), str):
                    raise ManifestRejected(f"{at}.toPorts[{j}].ports[{k}].port: must be a string")
                if port.get("protocol", "ANY") not in _PROTOCOLS:
                    raise ManifestRejected(f"{at}.toPorts[{j}].ports[{k}].protocol: unknown")
            if "rules" in pr:
                rules = _keys(pr["rules"], _L7, f"{at}.toPorts[{j}].rules")
                for k, h in enumerate(_list(rules.get("http", []), f"{at}.toPorts[{j}].http")):
                    _keys(h, _HTTP, f"{at}.toPorts[{j}].rules.http[{k}]")
