"""The lab's datapaths, each programmed in node-b (the client's node).

A datapath loads a whole ruleset atomically, counts what the kernel holds, and removes itself
completely. ``DATAPATHS`` is the registry the lab target switches between.

``ebpf`` is different in where it acts: the socket load balancer rewrites connect() in the
client's cgroup rather than packets in node-b's netfilter, so ``LabTarget.run`` runs client-side
commands inside the lab's cgroup while it is active (see :class:`EbpfDatapath`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from exporter.errors import DatapathNotProgrammed, LabError
from exporter.targets.base import CommandResult
from exporter.targets.lab import ebpf, rules
from exporter.targets.lab.ebpf import SocketLB

# Runs argv inside node-b: (argv, input, timeout) -> result.
NodeExec = Callable[[Sequence[str], str | None, float], CommandResult]


class Datapath(Protocol):
    name: str
    kube_proxy_mode: str

    def program(self, services: Sequence[rules.ServicePort], timeout: float) -> dict[str, int]:
        """Load atomically; return the entry counts the kernel must now hold."""
        ...

    def count(self, timeout: float) -> dict[str, int]:
        """Count what the kernel holds."""
        ...

    def remove(self) -> None: ...


def _check(res: CommandResult, what: str) -> CommandResult:
    if res.returncode != 0:
        raise DatapathNotProgrammed(f"{what} failed ({res.returncode}): {res.stderr.strip()[:500]}")
    return res


class IptablesDatapath:
    name = "iptables"
    kube_proxy_mode = "iptables"

    def __init__(self, node_exec: NodeExec, command: str = "iptables") -> None:
        if command not in ("iptables", "iptables-legacy", "iptables-nft"):
            raise LabError(f"unsupported iptables command {command!r}")
        self.exec = node_exec
        self.restore = f"{command}-restore"
        self.save = f"{command}-save"
        self.nft_backend = command != "iptables-legacy"

    def program(self, services: Sequence[rules.ServicePort], timeout: float) -> dict[str, int]:
        text = rules.iptables_ruleset(services)
        _check(self.exec([self.restore, "-w", "5"], text, timeout), self.restore)
        return rules.iptables_expected(services)

    def count(self, timeout: float) -> dict[str, int]:
        res = _check(self.exec([self.save, "-t", "nat"], None, timeout), self.save)
        return rules.count_iptables_save(res.stdout)

    def remove(self) -> None:
        _check(self.exec([self.restore, "-w", "5"], rules.iptables_empty_ruleset(), 120), "flush")
        if self.nft_backend:
            # iptables-nft keeps an empty "table ip nat" (with hooks) after a flush; node-b's
            # nat table exists only because this datapath created it, so delete it outright.
            self.exec(["nft", "-f", "-"], "add table ip nat\ndelete table ip nat\n", 60)


class NftablesDatapath:
    name = "nftables"
    kube_proxy_mode = "nftables"

    def __init__(self, node_exec: NodeExec, structure: str = "numgen-rules") -> None:
        self.exec = node_exec
        self.structure = structure

    def program(self, services: Sequence[rules.ServicePort], timeout: float) -> dict[str, int]:
        text = rules.nft_ruleset(services, structure=self.structure)
        _check(self.exec(["nft", "-f", "-"], text, timeout), "nft -f")
        return rules.nft_expected(services)

    def count(self, timeout: float) -> dict[str, int]:
        res = _check(
            self.exec(
                ["nft", "-j", "list", "map", "ip", rules.NFT_TABLE, rules.NFT_SERVICE_MAP],
                None,
                timeout,
            ),
            "nft list map",
        )
        return {"lb_entries": count_nft_map_elements(res.stdout)}

    def remove(self) -> None:
        _check(self.exec(["nft", "-f", "-"], rules.nft_delete_ruleset(), 120), "nft delete")


class EbpfDatapath:
    """Cilium-style socket LB: one service-map element per Service port (``lb_entries``), plus
    the backend map (``bpf_map_entries`` counts both maps' elements)."""

    name = "ebpf"
    kube_proxy_mode = "none"
    """kube-proxy replaced, as with Cilium's kube-proxy replacement."""

    def __init__(self, lb: SocketLB) -> None:
        self.lb = lb

    def program(self, services: Sequence[rules.ServicePort], timeout: float) -> dict[str, int]:
        if not self.lb.loaded:
            self.lb.load()
        lb_services = [
            ebpf.Service(
                vip=svc.vip,
                port=svc.port,
                backends=tuple(ebpf.Backend(ep.ip, ep.port) for ep in svc.endpoints),
            )
            for svc in services
        ]
        self.lb.program(lb_services, timeout)
        return {
            "lb_entries": len(lb_services),
            "bpf_map_entries": len(lb_services) + sum(len(s.backends) for s in lb_services),
        }

    def count(self, timeout: float) -> dict[str, int]:
        services, backends = self.lb.count_entries()
        return {"lb_entries": services, "bpf_map_entries": services + backends}

    def remove(self) -> None:
        self.lb.close()


def count_nft_map_elements(json_text: str) -> int:
    data = json.loads(json_text)
    total = 0
    for obj in data.get("nftables", []):
        m = obj.get("map")
        if isinstance(m, dict) and m.get("name") == rules.NFT_SERVICE_MAP:
            total += len(m.get("elem", []))
    return total


DatapathFactory = Callable[[NodeExec, str], Datapath]

DATAPATHS: Mapping[str, DatapathFactory] = {
    "iptables": lambda node_exec, iptables_command: IptablesDatapath(node_exec, iptables_command),
    "nftables": lambda node_exec, _iptables_command: NftablesDatapath(node_exec),
}
