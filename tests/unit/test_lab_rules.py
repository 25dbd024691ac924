import ipaddress
import re

import pytest

from exporter.targets.lab import plan, rules
from exporter.targets.lab.datapaths import count_nft_map_elements


def test_probabilities_are_kube_proxys() -> None:
    assert [rules.probability(i, 4) for i in range(4)] == [
        "0.25000000000",
        "0.33333333333",
        "0.50000000000",
        None,
    ]
    assert rules.probability(0, 1) is None


def test_dummy_services_stay_in_the_plan_and_skip_our_vip() -> None:
    svcs = rules.dummy_services(40000, 4)
    vips = {s.vip for s in svcs}
    assert len(vips) == 40000
    assert plan.SERVICE_VIP not in vips
    for s in svcs:
        assert ipaddress.IPv4Address(s.vip) in plan.SERVICE_CIDR
        assert len(s.endpoints) == 4
        for ep in s.endpoints:
            addr = ipaddress.IPv4Address(ep.ip)
            assert addr in plan.DUMMY_ENDPOINTS
            assert addr not in (plan.DUMMY_ENDPOINTS.network_address,
                                plan.DUMMY_ENDPOINTS.broadcast_address)  # fmt: skip


def test_too_many_services_refused() -> None:
    with pytest.raises(ValueError):
        rules.dummy_services(rules.MAX_DUMMY_SERVICES + 1)


def test_own_services_are_last() -> None:
    svcs = rules.lab_services(3)
    assert [s.vip for s in svcs[-4:]] == [plan.SERVICE_VIP] * 4
    assert [s.port for s in svcs[-4:]] == [80, 5201, 11111, plan.STATUS_PORT]
    assert all(s.endpoints == (rules.Endpoint(plan.SERVER_POD_IP, s.port),) for s in svcs[-4:])


def test_iptables_ruleset_structure() -> None:
    svcs = rules.lab_services(2, 4)
    text = rules.iptables_ruleset(svcs)
    lines = text.splitlines()
    assert lines[0] == "*nat" and lines[-1] == "COMMIT"
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in (
        lines
    )
    assert '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in lines
    ks = [ln for ln in lines if ln.startswith("-A KUBE-SERVICES ")]
    # dummies, then ours (worst case: scanned last), then the nodeports rule
    assert ks[0].startswith("-A KUBE-SERVICES -d 198.19.0.2/32 -p tcp -m comment --comment ")
    assert re.search(r"-m tcp --dport 80 -j KUBE-SVC-[A-Z2-7]{16}$", ks[0])
    assert [ln.split()[3] for ln in ks[2:6]] == ["198.19.0.1/32"] * 4
    assert "KUBE-NODEPORTS" in ks[-1]
    svc = rules.svc_chain(svcs[0])
    chain = [ln for ln in lines if ln.startswith(f"-A {svc} ")]
    assert "-j KUBE-MARK-MASQ" in chain[0] and "! -s 198.18.64.0/23" in chain[0]
    probs = [re.search(r"--probability (\S+)", ln) for ln in chain[1:]]
    assert [p.group(1) if p else None for p in probs] == [
        "0.25000000000",
        "0.33333333333",
        "0.50000000000",
        None,
    ]
    sep = rules.sep_chain(svcs[0], svcs[0].endpoints[0])
    assert f":{sep} - [0:0]" in lines
    assert (
        f"-A {sep} -m comment --comment netbench-scale/svc-00000:http "
        "-s 198.18.128.1/32 -j KUBE-MARK-MASQ" in lines
    )
    assert any(
        ln.startswith(f"-A {sep} ") and ln.endswith("-j DNAT --to-destination 198.18.128.1:8080")
        for ln in lines
    )
    # chain names fit iptables' 28 characters and each is declared once
    declared = [ln[1:].split()[0] for ln in lines if ln.startswith(":")]
    assert len(declared) == len(set(declared))
    assert max(len(c) for c in declared) <= 28


def test_iptables_expected_matches_generated_text() -> None:
    for n in (0, 1, 7):
        svcs = rules.lab_services(n, 3)
        assert rules.count_iptables_save(rules.iptables_ruleset(svcs)) == rules.iptables_expected(
            svcs
        )


def test_nft_ruleset_default_structure() -> None:
    svcs = rules.lab_services(2, 4)
    text = rules.nft_ruleset(svcs)
    lines = text.splitlines()
    assert lines[:3] == [
        "add table ip kube-proxy",
        "delete table ip kube-proxy",
        'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    ]
    assert any("map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : "
               "verdict" in ln for ln in lines)  # fmt: skip
    assert (
        "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips"
        in (lines)
    )
    chain = rules.nft_service_chain(svcs[0])
    body = [ln for ln in lines if ln.startswith(f"add rule ip kube-proxy {chain} ")]
    assert body[0].endswith("ip saddr != 198.18.64.0/23 jump mark-for-masquerade")
    assert [re.search(r"numgen random mod (\d) == 0", ln) is not None for ln in body[1:]] == [
        True,
        True,
        True,
        False,
    ]
    assert body[1].endswith("dnat to 198.18.128.1:8080")
    elements = [ln for ln in lines if ln.startswith("add element")]
    assert f"198.19.0.2 . tcp . 80 : goto {chain}" in elements[0]
    assert "vmap {" not in text  # no anonymous sets: they make big loads quadratic


def test_nft_kube_proxy_structure_is_exact() -> None:
    svcs = rules.lab_services(1, 2)
    text = rules.nft_ruleset(svcs, structure="kube-proxy")
    ep = rules.nft_endpoint_chain(svcs[0], svcs[0].endpoints[0])
    assert f"add chain ip kube-proxy {ep}" in text
    assert f"add rule ip kube-proxy {ep} meta l4proto tcp dnat to 198.18.128.1:8080" in text
    assert "numgen random mod 2 vmap { 0 : goto endpoint-" in text
    with pytest.raises(ValueError):
        rules.nft_ruleset(svcs, structure="nope")


def test_element_batches_and_count_parser() -> None:
    svcs = rules.lab_services(2500, 1)
    text = rules.nft_ruleset(svcs)
    assert len([ln for ln in text.splitlines() if ln.startswith("add element")]) == 3
    js = '{"nftables": [{"metainfo": {}}, {"map": {"name": "service-ips", "elem": [1, 2, 3]}}]}'
    assert count_nft_map_elements(js) == 3


def test_foreign_addresses_refused() -> None:
    bad = rules.ServicePort("a", "b", "c", "192.0.2.1", 80, (rules.Endpoint("198.18.128.1", 1),))
    with pytest.raises(ValueError, match="outside"):
        rules.iptables_ruleset([bad])
    bad_ep = rules.ServicePort("a", "b", "c", "198.19.0.9", 80, (rules.Endpoint("192.0.2.1", 1),))
    with pytest.raises(ValueError, match="outside"):
        rules.nft_ruleset([bad_ep])
