"""The lab's names and addresses: one place, checked against DESIGN's address plan.

Everything the lab ever configures or dials comes from here. Addresses stay inside
198.18.0.0/15 (RFC 2544, benchmarking); interface names fit IFNAMSIZ (15 characters).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
UNDERLAY = ipaddress.IPv4Network("198.18.0.0/24")
TUNNEL = ipaddress.IPv4Network("198.18.1.0/24")
"""VXLAN device addresses (routing ``vxlan`` only); documented in docs/lab.md."""
POD_CIDR_A = ipaddress.IPv4Network("198.18.64.0/24")
POD_CIDR_B = ipaddress.IPv4Network("198.18.65.0/24")
CLUSTER_CIDR = ipaddress.IPv4Network("198.18.64.0/23")
"""Both pod CIDRs: kube-proxy's ``--cluster-cidr`` (traffic from outside it is masqueraded)."""
DUMMY_ENDPOINTS = ipaddress.IPv4Network("198.18.128.0/17")
SERVICE_CIDR = ipaddress.IPv4Network("198.19.0.0/16")

NODE_A_IP = "198.18.0.1"
NODE_B_IP = "198.18.0.2"
TUNNEL_A_IP = "198.18.1.1"
TUNNEL_B_IP = "198.18.1.2"
SERVER_GW = "198.18.64.1"
SERVER_POD_IP = "198.18.64.2"
CLIENT_GW = "198.18.65.1"
CLIENT_POD_IP = "198.18.65.2"
SERVICE_VIP = "198.19.0.1"

HTTP_PORT = 80
IPERF3_PORT = 5201
SOCKPERF_PORT = 11111
STATUS_PORT = 18080
"""nginx stub_status (a second server block on the server pod)."""
DUMMY_TARGET_PORT = 8080
VXLAN_ID = 42
VXLAN_PORT = 4789
VXLAN_MTU = 1450
"""Pod MTU over the overlay (1500 - 50 bytes of VXLAN encapsulation), as Cilium sets it."""

IFNAMSIZ = 15
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
DEFAULT_PREFIX_RE = re.compile(r"^nb[0-9a-f]{4}$")


class NsRole(StrEnum):
    """The lab's four namespaces (suffix of ``<prefix>-<role>``)."""

    NODE_A = "node-a"
    NODE_B = "node-b"
    SERVER_POD = "pod-srv"
    CLIENT_POD = "pod-cli"


def new_prefix() -> str:
    return "nb" + secrets.token_hex(2)


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise ValueError(
            f"lab prefix {prefix!r} must be a lowercase letter then 1-7 lowercase letters or "
            "digits (it names namespaces and 15-character interfaces)"
        )
    return prefix


def in_lab_range(address: str) -> bool:
    return ipaddress.IPv4Address(address) in LAB_RANGE


@dataclass(frozen=True)
class LabNames:
    """Namespace and interface names of one lab."""

    prefix: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    def ns(self, role: NsRole) -> str:
        return f"{self.prefix}-{role.value}"

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(self.ns(r) for r in NsRole)

    # interfaces: node side / pod side of each veth, the underlay pair, the VXLAN device
    @property
    def underlay_a(self) -> str:
        return f"{self.prefix}-ula"

    @property
    def underlay_b(self) -> str:
        return f"{self.prefix}-ulb"

    @property
    def server_host_if(self) -> str:
        return f"{self.prefix}-srv"

    @property
    def client_host_if(self) -> str:
        return f"{self.prefix}-cli"

    @property
    def pod_if(self) -> str:
        return f"{self.prefix}-eth0"

    @property
    def vxlan_if(self) -> str:
        return f"{self.prefix}-vx"

    @property
    def interfaces(self) -> tuple[str, ...]:
        return (
            self.underlay_a,
            self.underlay_b,
            self.server_host_if,
            self.client_host_if,
            self.pod_if,
            self.vxlan_if,
        )


def namespace_belongs_to(name: str, prefix: str) -> bool:
    """Is ``name`` exactly one of the namespaces lab ``prefix`` creates?"""
    return PREFIX_RE.match(prefix) is not None and name in LabNames(prefix).namespaces
