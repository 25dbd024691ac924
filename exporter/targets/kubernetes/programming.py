"""Verifying that the datapath really holds the dummy Services (never a fixed sleep).

One implementation per datapath behind :class:`ProgrammingVerifier`, chosen from detection:

- kube-proxy iptables: every dummy ClusterIP has its ``KUBE-SERVICES`` rule
  (``iptables-save -t nat`` in the probe pod);
- kube-proxy ipvs: every dummy ClusterIP is an IPVS virtual server (``ipvsadm -Ln`` in the
  probe pod; the format is ipvsadm's, see tests/kubernetes/fixtures/SOURCES.md);
- kube-proxy nftables: every dummy ClusterIP is an element of the ``service-ips`` verdict map
  (``nft -j list map ip kube-proxy service-ips`` in the probe pod);
- Cilium (``ebpf``, kube-proxy replacement): every dummy ClusterIP is a *realized* frontend in
  ``cilium-dbg service list -o json`` of the cilium-agent on the client node (where the socket
  LB translates the client's connections); ``cilium`` is tried when ``cilium-dbg`` is missing
  (agents before 1.15).

A datapath without a verifier raises :class:`ProgrammingCheckUnavailable` before anything is
installed, so service_scale never publishes numbers for Services the datapath may not hold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from exporter.targets.kubernetes.errors import NotSupported

Exec = Callable[[Sequence[str], float], tuple[int, str, str]]
"""Run argv in the probe pod (hostNetwork, NET_ADMIN) with a timeout: (exit, stdout, stderr)."""


class ProgrammingCheckUnavailable(NotSupported, NotImplementedError):
    """No programming verification exists for this datapath yet."""


@dataclass(frozen=True)
class ProgrammingState:
    holds: bool
    """Every expected Service VIP is programmed."""
    entries: Mapping[str, int]
    missing: int


class ProgrammingVerifier(Protocol):
    datapath: str

    def check(self, vips: Sequence[str]) -> ProgrammingState:
        """Read the node's datapath once and say whether every VIP in ``vips`` is in it."""
        ...


# kube-proxy picks the iptables backend (nft or legacy) the host uses; we read both and take
# the one that has kube-proxy's chain.
IPTABLES_SAVE_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("iptables-nft-save", "-t", "nat"),
    ("iptables-legacy-save", "-t", "nat"),
    ("iptables-save", "-t", "nat"),
)
KUBE_SERVICES_CHAIN = ":KUBE-SERVICES "


def parse_iptables_nat(text: str) -> tuple[int, int, set[str]]:
    """(rules in the nat table, rules in KUBE-SERVICES, VIPs KUBE-SERVICES sends to a
    KUBE-SVC-/KUBE-SVL- chain)."""
    total = 0
    chain = 0
    vips: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("-A "):
            continue
        total += 1
        parts = line.split()
        if len(parts) < 2 or parts[1] != "KUBE-SERVICES":
            continue
        chain += 1
        if "-j" not in parts:
            continue
        target = parts[parts.index("-j") + 1] if parts.index("-j") + 1 < len(parts) else ""
        if not target.startswith(("KUBE-SVC-", "KUBE-SVL-")) or "-d" not in parts:
            continue
        dest = parts[parts.index("-d") + 1]
        vips.add(dest.removesuffix("/32"))
    return total, chain, vips


class IptablesVerifier:
    """kube-proxy iptables mode: every dummy ClusterIP must have its KUBE-SERVICES rule."""

    datapath = "iptables"

    def __init__(self, run: Exec, timeout: float = 60.0) -> None:
        self.run = run
        self.timeout = timeout

    def _save(self) -> str:
        errors = []
        for argv in IPTABLES_SAVE_COMMANDS:
            code, out, err = self.run(argv, self.timeout)
            if code == 0 and KUBE_SERVICES_CHAIN in out:
                return out
            errors.append(f"{argv[0]}: exit {code} {err.strip()[:200]}")
        raise NotSupported(
            "no iptables backend on the node holds kube-proxy's KUBE-SERVICES chain ("
            + "; ".join(errors)
            + ")"
        )

    def check(self, vips: Sequence[str]) -> ProgrammingState:
        total, chain, present = parse_iptables_nat(self._save())
        missing = sum(1 for v in vips if v not in present)
        return ProgrammingState(
            holds=missing == 0,
            entries={"iptables_rules": total, "kube_services_chain": chain},
            missing=missing,
        )


def _missing(vips: Sequence[str], present: set[str]) -> int:
    return sum(1 for v in vips if v not in present)


IPVSADM_COMMAND: tuple[str, ...] = ("ipvsadm", "-Ln")
_IPVS_VIRTUAL = re.compile(r"^(TCP|UDP|SCTP)\s+(\S+):(\d+)\s+\S+")


def parse_ipvsadm(text: str) -> tuple[int, set[str]]:
    """(virtual servers, their addresses) from ``ipvsadm -Ln``. Real-server lines (``->``)
    and firewall-mark services (``FWM``, which have no address) are not address entries."""
    if "IP Virtual Server" not in text:
        raise NotSupported(f"not ipvsadm -Ln output: {text.strip()[:200]!r}")
    count = 0
    addresses: set[str] = set()
    for line in text.splitlines():
        if line.startswith("FWM "):
            count += 1
            continue
        m = _IPVS_VIRTUAL.match(line)
        if m:
            count += 1
            addresses.add(m.group(2).strip("[]"))
    return count, addresses


class IpvsVerifier:
    """kube-proxy ipvs mode: every dummy ClusterIP must be an IPVS virtual server."""

    datapath = "ipvs"

    def __init__(self, run: Exec, timeout: float = 60.0) -> None:
        self.run = run
        self.timeout = timeout

    def check(self, vips: Sequence[str]) -> ProgrammingState:
        code, out, err = self.run(IPVSADM_COMMAND, self.timeout)
        if code != 0:
            raise NotSupported(
                f"ipvsadm -Ln in the probe pod failed (exit {code}): {err.strip()[:200]} "
                "(the image needs ipvsadm, the pod NET_ADMIN)"
            )
        count, present = parse_ipvsadm(out)
        return ProgrammingState(
            holds=_missing(vips, present) == 0,
            entries={"lb_entries": count},
            missing=_missing(vips, present),
        )


NFT_SERVICE_IPS_COMMAND: tuple[str, ...] = (
    "nft",
    "-j",
    "list",
    "map",
    "ip",
    "kube-proxy",
    "service-ips",
)


def parse_nft_service_ips(text: str) -> tuple[int, set[str]]:
    """(elements, destination addresses) of kube-proxy's ``service-ips`` map from
    ``nft -j list map``: each element is ``[{"concat": [addr, proto, port]}, verdict]``."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise NotSupported(f"nft -j output is not JSON: {text.strip()[:200]!r}") from err
    items = doc.get("nftables") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise NotSupported("nft -j output has no 'nftables' list")
    maps = [i["map"] for i in items if isinstance(i, dict) and isinstance(i.get("map"), dict)]
    if not maps:
        raise NotSupported("nft -j output holds no map")
    count = 0
    addresses: set[str] = set()
    for m in maps:
        for elem in m.get("elem") or []:
            count += 1
            key: Any = elem[0] if isinstance(elem, list) and elem else elem
            if isinstance(key, dict) and isinstance(key.get("elem"), dict):
                key = key["elem"].get("val")  # an element with counters or timeouts
            if isinstance(key, dict) and isinstance(key.get("concat"), list) and key["concat"]:
                addresses.add(str(key["concat"][0]))
    return count, addresses


class NftablesVerifier:
    """kube-proxy nftables mode: every dummy ClusterIP must be a key of ``service-ips``."""

    datapath = "nftables"

    def __init__(self, run: Exec, timeout: float = 60.0) -> None:
        self.run = run
        self.timeout = timeout

    def check(self, vips: Sequence[str]) -> ProgrammingState:
        code, out, err = self.run(NFT_SERVICE_IPS_COMMAND, self.timeout)
        if code != 0:
            raise NotSupported(
                f"nft -j list map ip kube-proxy service-ips failed (exit {code}): "
                f"{err.strip()[:200]} (is kube-proxy really in nftables mode on this node?)"
            )
        count, present = parse_nft_service_ips(out)
        return ProgrammingState(
            holds=_missing(vips, present) == 0,
            entries={"lb_entries": count},
            missing=_missing(vips, present),
        )


CILIUM_SERVICE_LIST_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("cilium-dbg", "service", "list", "-o", "json"),
    ("cilium", "service", "list", "-o", "json"),
)


def parse_cilium_service_list(text: str) -> tuple[int, set[str]]:
    """(frontends, realized frontend addresses) from ``cilium-dbg service list -o json``: a
    list of ``{"spec": {...}, "status": {"realized": {...}}}``; only realized frontends are
    in the BPF LB maps."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise NotSupported(f"cilium service list output is not JSON: {text[:200]!r}") from err
    if not isinstance(doc, list):
        raise NotSupported("cilium service list -o json did not return a list")
    realized: set[str] = set()
    for svc in doc:
        status = (svc.get("status") or {}) if isinstance(svc, dict) else {}
        frontend = (status.get("realized") or {}).get("frontend-address") or {}
        if frontend.get("ip"):
            realized.add(str(frontend["ip"]))
    return len(doc), realized


class CiliumVerifier:
    """Cilium kube-proxy replacement: every dummy ClusterIP must be a realized LB frontend
    of the cilium-agent on the client node."""

    datapath = "ebpf"

    def __init__(self, run: Exec, timeout: float = 60.0) -> None:
        self.run = run
        self.timeout = timeout

    def _list(self) -> str:
        errors = []
        for argv in CILIUM_SERVICE_LIST_COMMANDS:
            code, out, err = self.run(argv, self.timeout)
            if code == 0:
                return out
            errors.append(f"{argv[0]}: exit {code} {err.strip()[:200]}")
        raise NotSupported("cannot list Cilium's services (" + "; ".join(errors) + ")")

    def check(self, vips: Sequence[str]) -> ProgrammingState:
        count, present = parse_cilium_service_list(self._list())
        return ProgrammingState(
            holds=_missing(vips, present) == 0,
            entries={"lb_entries": count},
            missing=_missing(vips, present),
        )


def verifier_for(datapath: str, probe: Exec, agent: Exec | None = None) -> ProgrammingVerifier:
    """The verifier of ``datapath``: ``probe`` runs in the hostNetwork probe pod, ``agent`` in
    the cilium-agent pod on the client node (None when the cluster has no Cilium)."""
    if datapath == "iptables":
        return IptablesVerifier(probe)
    if datapath == "ipvs":
        return IpvsVerifier(probe)
    if datapath == "nftables":
        return NftablesVerifier(probe)
    if datapath == "ebpf" and agent is not None:
        return CiliumVerifier(agent)
    raise ProgrammingCheckUnavailable(
        f"no way to verify Service programming on datapath {datapath!r}"
        + (" without a cilium-agent" if datapath == "ebpf" else "")
        + "; service_scale cannot run here without it, because an unverified step would "
        "publish numbers for Services the datapath may not hold"
    )
