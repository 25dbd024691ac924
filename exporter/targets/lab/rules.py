"""kube-proxy rulesets for the lab, as text: pure functions, no I/O.

The lab programs node-b (the client's node, where kube-proxy DNATs the client's traffic) with
the rules kube-proxy itself would write for the same Services:

- :func:`iptables_ruleset`: ``iptables-restore`` input for the nat table (KUBE-SERVICES ->
  KUBE-SVC-* -> KUBE-SEP-*, ``statistic`` probabilities, KUBE-MARK-MASQ, DNAT).
- :func:`nft_ruleset`: ``nft -f`` input for ``table ip kube-proxy`` (``service-ips`` verdict map
  keyed ``ipv4_addr . inet_proto . inet_service``, per-Service chains choosing an endpoint with
  ``numgen random mod N``).

Chain names follow kube-proxy's hashing (sha256, base32) so rule and chain name lengths, and so
the cost of the ruleset, are the real ones.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.targets.lab import plan

MASQ_MARK = "0x4000"
DUMMY_NAMESPACE = "netbench-scale"
OWN_NAMESPACE = "netbench"
OWN_NAME = "server"
NFT_TABLE = "kube-proxy"
NFT_SERVICE_MAP = "service-ips"
NFT_STRUCTURES: tuple[str, ...] = ("numgen-rules", "kube-proxy")


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    """One port of one ClusterIP Service: kube-proxy's unit (a KUBE-SVC chain, a map element)."""

    namespace: str
    name: str
    port_name: str
    vip: str
    port: int
    endpoints: tuple[Endpoint, ...]
    protocol: str = "tcp"

    @property
    def service_port_name(self) -> str:
        """kube-proxy's ServicePortName string: ``ns/name:port``."""
        return f"{self.namespace}/{self.name}:{self.port_name}"


def own_services(server_pod_ip: str = plan.SERVER_POD_IP) -> list[ServicePort]:
    """The benchmark's own Service: VIP 198.19.0.1 fronting the server pod on every port."""
    ports = (
        ("http", plan.HTTP_PORT),
        ("iperf3", plan.IPERF3_PORT),
        ("sockperf", plan.SOCKPERF_PORT),
        ("status", plan.STATUS_PORT),
    )
    return [
        ServicePort(
            namespace=OWN_NAMESPACE,
            name=OWN_NAME,
            port_name=name,
            vip=plan.SERVICE_VIP,
            port=port,
            endpoints=(Endpoint(server_pod_ip, port),),
        )
        for name, port in ports
    ]


def _dummy_vips() -> list[ipaddress.IPv4Address]:
    skip = {
        plan.SERVICE_CIDR.network_address,
        plan.SERVICE_CIDR.broadcast_address,
        ipaddress.IPv4Address(plan.SERVICE_VIP),
    }
    return [a for a in plan.SERVICE_CIDR if a not in skip]


_VIPS: list[ipaddress.IPv4Address] | None = None
MAX_DUMMY_SERVICES = plan.SERVICE_CIDR.num_addresses - 3


def dummy_services(count: int, endpoints_per_service: int = 4) -> list[ServicePort]:
    """``count`` dummy Services (one TCP port each): VIPs from 198.19.0.0/16 skipping ours,
    endpoints from 198.18.128.0/17 reused modulo (never dialled)."""
    global _VIPS
    if count < 0 or count > MAX_DUMMY_SERVICES:
        raise ValueError(f"dummy Service count {count} outside 0..{MAX_DUMMY_SERVICES}")
    if endpoints_per_service < 1:
        raise ValueError("a dummy Service needs at least one endpoint")
    if _VIPS is None:
        _VIPS = _dummy_vips()
    first = int(plan.DUMMY_ENDPOINTS.network_address) + 1
    usable = plan.DUMMY_ENDPOINTS.num_addresses - 2
    out = []
    n = 0
    for i in range(count):
        eps = []
        for _ in range(endpoints_per_service):
            eps.append(
                Endpoint(str(ipaddress.IPv4Address(first + n % usable)), plan.DUMMY_TARGET_PORT)
            )
            n += 1
        out.append(
            ServicePort(
                namespace=DUMMY_NAMESPACE,
                name=f"svc-{i:05d}",
                port_name="http",
                vip=str(_VIPS[i]),
                port=plan.HTTP_PORT,
                endpoints=tuple(eps),
            )
        )
    return out


def lab_services(count: int, endpoints_per_service: int = 4) -> list[ServicePort]:
    """Dummy Services first, ours LAST: iptables scans KUBE-SERVICES in order, so the
    benchmark's own Service is the worst case, deterministically, at every step."""
    return [*dummy_services(count, endpoints_per_service), *own_services()]


def check_addresses(services: Sequence[ServicePort]) -> None:
    """Refuse any VIP outside 198.19.0.0/16 or endpoint outside 198.18.0.0/15."""
    for svc in services:
        if ipaddress.IPv4Address(svc.vip) not in plan.SERVICE_CIDR:
            raise ValueError(f"VIP {svc.vip} is outside {plan.SERVICE_CIDR}")
        for ep in svc.endpoints:
            if not plan.in_lab_range(ep.ip):
                raise ValueError(f"endpoint {ep.ip} is outside {plan.LAB_RANGE}")


def _hash(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:length]


def svc_chain(svc: ServicePort) -> str:
    return "KUBE-SVC-" + _hash(svc.service_port_name + svc.protocol, 16)


def sep_chain(svc: ServicePort, ep: Endpoint) -> str:
    return "KUBE-SEP-" + _hash(f"{svc.service_port_name}{svc.protocol}{ep.ip}:{ep.port}", 16)


def probability(index: int, count: int) -> str | None:
    """kube-proxy's statistic probability for endpoint ``index`` of ``count``: 1/(count-index),
    none for the last one (it takes whatever the earlier rules left)."""
    remaining = count - index
    if remaining <= 1:
        return None
    return f"{1.0 / remaining:0.11f}"


# -- iptables -----------------------------------------------------------------------------------


def iptables_ruleset(services: Sequence[ServicePort], cluster_cidr: str = "") -> str:
    """The complete nat table of node-b for ``iptables-restore`` (no --noflush).

    The whole table is replaced in one commit: node-b's nat table exists only because the lab
    created node-b, so nothing but these rules can be in it. A full restore also drops the chains
    of Services removed since the last step, which --noflush would keep unless each stale chain
    was deleted by name.
    """
    check_addresses(services)
    cidr = cluster_cidr or str(plan.CLUSTER_CIDR)
    chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    rules = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ]
    services_rules = []
    for svc in services:
        name = svc.service_port_name
        svc_name = svc_chain(svc)
        chains.append(svc_name)
        services_rules.append(
            f"-A KUBE-SERVICES -d {svc.vip}/32 -p {svc.protocol} "
            f'-m comment --comment "{name} cluster IP" -m {svc.protocol} --dport {svc.port} '
            f"-j {svc_name}"
        )
        rules.append(
            f'-A {svc_name} ! -s {cidr} -d {svc.vip}/32 -p {svc.protocol} -m comment --comment "'
            f'{name} cluster IP" -m {svc.protocol} --dport {svc.port} -j KUBE-MARK-MASQ'
        )
        k = len(svc.endpoints)
        for i, ep in enumerate(svc.endpoints):
            sep = sep_chain(svc, ep)
            chains.append(sep)
            prob = probability(i, k)
            stat = f" -m statistic --mode random --probability {prob}" if prob else ""
            rules.append(
                f'-A {svc_name} -m comment --comment "{name} -> {ep.ip}:{ep.port}"{stat} -j {sep}'
            )
            rules.append(f"-A {sep} -m comment --comment {name} -s {ep.ip}/32 -j KUBE-MARK-MASQ")
            rules.append(
                f"-A {sep} -m comment --comment {name} -p {svc.protocol} -m {svc.protocol} "
                f"-j DNAT --to-destination {ep.ip}:{ep.port}"
            )
    services_rules.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
        'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
    )
    lines = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        *(f":{c} - [0:0]" for c in chains),
        *rules,
        *services_rules,
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def iptables_empty_ruleset() -> str:
    """A nat table with nothing in it (removes the iptables datapath's rules and chains)."""
    return (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
    )


def iptables_expected(services: Sequence[ServicePort]) -> dict[str, int]:
    """Rule counts the kernel must hold after :func:`iptables_ruleset` (what verification counts:
    ``-A`` lines of ``iptables-save -t nat``)."""
    svc_rules = sum(1 + 3 * len(s.endpoints) for s in services)
    return {
        "iptables_rules": 7 + svc_rules + len(services) + 1,
        "kube_services_chain": len(services) + 1,
    }


def count_iptables_save(text: str) -> dict[str, int]:
    total = 0
    kube_services = 0
    for line in text.splitlines():
        if line.startswith("-A "):
            total += 1
            if line.startswith("-A KUBE-SERVICES "):
                kube_services += 1
    return {"iptables_rules": total, "kube_services_chain": kube_services}


# -- nftables -----------------------------------------------------------------------------------


def nft_service_chain(svc: ServicePort) -> str:
    h = _hash(svc.service_port_name + svc.protocol, 8)
    return f"service-{h}-{svc.namespace}/{svc.name}/{svc.protocol}/{svc.port_name}"


def nft_endpoint_chain(svc: ServicePort, ep: Endpoint) -> str:
    h = _hash(f"{svc.service_port_name}{svc.protocol}{ep.ip}:{ep.port}", 8)
    return (
        f"endpoint-{h}-{svc.namespace}/{svc.name}/{svc.protocol}/{svc.port_name}__{ep.ip}/{ep.port}"
    )


def nft_ruleset(
    services: Sequence[ServicePort],
    cluster_cidr: str = "",
    structure: str = "numgen-rules",
) -> str:
    """``nft -f`` input that replaces ``table ip kube-proxy`` in one transaction.

    ``structure``:

    - ``kube-proxy``: exactly kube-proxy's nftables mode: a chain per Service port, a chain per
      endpoint (``dnat to``), ``numgen random mod N vmap { ... }`` between them. Each of those
      anonymous vmaps is a kernel set; creating tens of thousands of them in one transaction is
      quadratic (measured on 6.18 / nft 1.0.6: 4,000 Services 5.9 s, 30,000 > 300 s).
    - ``numgen-rules`` (default): the same table, hooks, ``service-ips`` vmap (the O(1) Service
      lookup that is being measured) and per-Service chains with kube-proxy's masquerade rule;
      the chain then picks an endpoint like kube-proxy's iptables mode does, one rule per
      endpoint ``numgen random mod (N-i) == 0 dnat to ...`` (uniform over N), with no anonymous
      set. Loads 30,000 Services x 4 endpoints in about 6 s. Left out: the per-endpoint
      hairpin-masquerade check (a pod dialling a Service that balances back to itself, which the
      benchmark never does). Lookup cost per new connection: one hash lookup plus at most N
      cheap rules, independent of the number of Services.
    """
    if structure not in NFT_STRUCTURES:
        raise ValueError(f"unknown nft structure {structure!r}; expected one of {NFT_STRUCTURES}")
    check_addresses(services)
    cidr = cluster_cidr or str(plan.CLUSTER_CIDR)
    t = f"ip {NFT_TABLE}"
    out = [
        # add+delete+add: one transaction that works whether or not the table exists.
        f"add table {t}",
        f"delete table {t}",
        f'add table {t} {{ comment "rules for kube-proxy" ; }}',
        f"add chain {t} mark-for-masquerade",
        f"add rule {t} mark-for-masquerade mark set mark or {MASQ_MARK}",
        f"add chain {t} masquerading",
        f"add rule {t} masquerading mark and {MASQ_MARK} == 0 return",
        f"add rule {t} masquerading mark set mark xor {MASQ_MARK}",
        f"add rule {t} masquerading masquerade fully-random",
        f"add chain {t} services",
        f"add chain {t} nat-prerouting {{ type nat hook prerouting priority -100 ; }}",
        f"add rule {t} nat-prerouting jump services",
        f"add chain {t} nat-output {{ type nat hook output priority -100 ; }}",
        f"add rule {t} nat-output jump services",
        f"add chain {t} nat-postrouting {{ type nat hook postrouting priority 100 ; }}",
        f"add rule {t} nat-postrouting jump masquerading",
        f"add map {t} {NFT_SERVICE_MAP} {{ type ipv4_addr . inet_proto . inet_service : verdict "
        '; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
        f"add rule {t} services ip daddr . meta l4proto . th dport vmap @{NFT_SERVICE_MAP}",
    ]
    elements = []
    for svc in services:
        chain = nft_service_chain(svc)
        out.append(f"add chain {t} {chain}")
        out.append(
            f"add rule {t} {chain} ip daddr {svc.vip} {svc.protocol} dport {svc.port} "
            f"ip saddr != {cidr} jump mark-for-masquerade"
        )
        k = len(svc.endpoints)
        if structure == "kube-proxy":
            targets = []
            for i, ep in enumerate(svc.endpoints):
                ep_chain = nft_endpoint_chain(svc, ep)
                out.append(f"add chain {t} {ep_chain}")
                out.append(f"add rule {t} {ep_chain} ip saddr {ep.ip} jump mark-for-masquerade")
                out.append(
                    f"add rule {t} {ep_chain} meta l4proto {svc.protocol} dnat to {ep.ip}:{ep.port}"
                )
                targets.append(f"{i} : goto {ep_chain}")
            out.append(
                f"add rule {t} {chain} numgen random mod {k} vmap {{ {', '.join(targets)} }}"
            )
        else:
            for i, ep in enumerate(svc.endpoints):
                remaining = k - i
                pick = f"numgen random mod {remaining} == 0 " if remaining > 1 else ""
                out.append(
                    f"add rule {t} {chain} {pick}meta l4proto {svc.protocol} "
                    f"dnat to {ep.ip}:{ep.port}"
                )
        elements.append(f"{svc.vip} . {svc.protocol} . {svc.port} : goto {chain}")
    # Elements last, in batches: every chain they point at exists by then.
    for i in range(0, len(elements), 1000):
        out.append(f"add element {t} {NFT_SERVICE_MAP} {{ {', '.join(elements[i : i + 1000])} }}")
    return "\n".join(out) + "\n"


def nft_delete_ruleset() -> str:
    """Remove the nft datapath completely (works whether or not the table exists)."""
    return f"add table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\n"


def nft_expected(services: Sequence[ServicePort]) -> dict[str, int]:
    return {"lb_entries": len(services)}
