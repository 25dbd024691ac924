"""Verifying that the datapath really holds the dummy Services (never a fixed sleep).

One implementation per datapath behind :class:`ProgrammingVerifier`. Only kube-proxy iptables
exists so far; the others raise :class:`ProgrammingCheckUnavailable` (a NotImplementedError
that is also a typed target error, so service_scale fails that datapath loudly, before anything
is installed, instead of publishing unverified numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

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


def verifier_for(datapath: str, run: Exec) -> ProgrammingVerifier:
    if datapath == "iptables":
        return IptablesVerifier(run)
    hints = {
        "ipvs": "count the dummy VIPs in `ipvsadm -Ln` (or the kube-ipvs0 addresses)",
        "nftables": "count the `service-ips` map elements in `nft -j list table ip kube-proxy`",
        "ebpf": "count the frontends in `cilium-dbg bpf lb list -o json` in the cilium-agent "
        "pod of the server node",
    }
    raise ProgrammingCheckUnavailable(
        f"verifying Service programming on datapath {datapath!r} is not implemented yet "
        f"(planned: {hints.get(datapath, 'no plan')}); service_scale cannot run here without "
        "it, because an unverified step would publish numbers for Services the datapath may "
        "not hold"
    )
