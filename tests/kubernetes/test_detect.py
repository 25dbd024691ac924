from __future__ import annotations

import pytest
from kube_fixtures import (
    cilium_config_data,
    cilium_config_map,
    cilium_daemon_set,
    daemon_set,
    kube_proxy_config_map,
)

from exporter.targets.kubernetes.detect import (
    detect,
    image_version,
    parse_cilium_config,
    parse_kube_proxy_mode,
)
from exporter.targets.kubernetes.errors import DetectionError
from exporter.targets.kubernetes.fake import FakeKubeClient, make_node
from exporter.targets.kubernetes.placement import NodeInfo

NODE = NodeInfo.of(
    make_node(
        "worker-a",
        internal_ip="192.0.2.11",
        kernel="6.8.0-45-generic",
        kubelet="v1.31.4",
        labels={"node.kubernetes.io/instance-type": "m6i.xlarge"},
    )
)


@pytest.mark.parametrize(
    ("written", "mode"),
    [('""', "iptables"), ("iptables", "iptables"), ("ipvs", "ipvs"), ("nftables", "nftables")],
)
def test_kubeadm_kube_proxy_modes(written: str, mode: str) -> None:
    conf = kube_proxy_config_map(written)["data"]["config.conf"]
    assert parse_kube_proxy_mode(conf) == mode


def test_kube_proxy_rejects_removed_userspace_mode_and_garbage() -> None:
    conf = kube_proxy_config_map("userspace")["data"]["config.conf"]
    with pytest.raises(DetectionError, match="userspace"):
        parse_kube_proxy_mode(conf)
    with pytest.raises(DetectionError, match="KubeProxyConfiguration"):
        parse_kube_proxy_mode("apiVersion: v1\nkind: Config\n")


@pytest.mark.parametrize("version", ["1.14", "1.15", "1.16", "1.17", "1.18", "1.19"])
def test_cilium_defaults_are_vxlan_tunnel_without_kpr(version: str) -> None:
    cfg = parse_cilium_config(cilium_config_data(version))
    assert (cfg.routing_mode, cfg.tunnel_protocol, cfg.kpr) == ("tunnel", "vxlan", "false")
    assert cfg.hubble is True
    assert cfg.lb_map_max == 65536
    assert not cfg.replaces_kube_proxy


@pytest.mark.parametrize("version", ["1.14", "1.15", "1.16", "1.17", "1.18", "1.19"])
def test_cilium_native_geneve_kpr_and_lb_map(version: str) -> None:
    native = parse_cilium_config(
        cilium_config_data(
            version,
            routing_mode="native",
            ipv4_native_routing_cidr="10.0.0.0/8",
            auto_direct_node_routes="true",
            kube_proxy_replacement="true",
            bpf_lb_map_max="131072",
            enable_hubble="false",
        )
    )
    assert (native.routing_mode, native.tunnel_protocol) == ("native", "none")
    assert native.replaces_kube_proxy
    assert native.lb_map_max == 131072
    assert native.hubble is False
    geneve = parse_cilium_config(cilium_config_data(version, tunnel_protocol="geneve"))
    assert (geneve.routing_mode, geneve.tunnel_protocol) == ("tunnel", "geneve")


@pytest.mark.parametrize(
    ("tunnel", "routing", "protocol"),
    [("vxlan", "tunnel", "vxlan"), ("geneve", "tunnel", "geneve"), ("disabled", "native", "none")],
)
def test_cilium_old_tunnel_spelling(tunnel: str, routing: str, protocol: str) -> None:
    cfg = parse_cilium_config(cilium_config_data("1.13", tunnel=tunnel))
    assert (cfg.routing_mode, cfg.tunnel_protocol) == (routing, protocol)


def test_cilium_1_14_with_deprecated_tunnel_value_still_rendered() -> None:
    # 1.14 renders routing-mode/tunnel-protocol AND the deprecated `tunnel` when it is set:
    # routing-mode is authoritative.
    data = cilium_config_data("1.14", routing_mode="native", tunnel="vxlan")
    assert parse_cilium_config(data).routing_mode == "native"


@pytest.mark.parametrize(
    ("kpr", "replaces"),
    [("strict", True), ("partial", False), ("probe", False), ("disabled", False)],
)
def test_cilium_old_kpr_values(kpr: str, replaces: bool) -> None:
    cfg = parse_cilium_config(cilium_config_data("1.13", kube_proxy_replacement=kpr))
    assert cfg.kpr == kpr
    assert cfg.replaces_kube_proxy is replaces


def test_cilium_bad_values_are_typed_errors() -> None:
    with pytest.raises(DetectionError, match="routing-mode"):
        parse_cilium_config({"routing-mode": "bgp"})
    with pytest.raises(DetectionError, match="bpf-lb-map-max"):
        parse_cilium_config({"bpf-lb-map-max": "lots"})
    with pytest.raises(DetectionError, match="kube-proxy-replacement"):
        parse_cilium_config({"kube-proxy-replacement": "maybe"})


def test_image_version() -> None:
    assert image_version("quay.io/cilium/cilium:v1.16.5@sha256:" + "a" * 64) == "1.16.5"
    assert image_version("registry:5000/cilium/cilium:1.19.0-rc.1") == "1.19.0-rc.1"
    assert image_version("registry:5000/cilium/cilium") == "unknown"


def test_detect_kube_proxy_ipvs_with_flannel() -> None:
    client = FakeKubeClient()
    client.seed(kube_proxy_config_map("ipvs"))
    client.seed(daemon_set("kube-flannel", "kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.26.1"))
    d = detect(client, NODE)
    assert d.datapath == "ipvs"
    assert d.info() == {
        "cni": "flannel",
        "cni_version": "0.26.1",
        "kube_proxy_mode": "ipvs",
        "routing_mode": "unknown",
        "tunnel_protocol": "unknown",
        "kpr": "none",
        "kernel": "6.8.0-45-generic",
        "k8s_version": "v1.31.4",
        "node_type": "m6i.xlarge",
    }


def test_detect_cilium_kpr_without_kube_proxy() -> None:
    client = FakeKubeClient()
    client.seed(cilium_config_map("1.17", routing_mode="native", kube_proxy_replacement="true"))
    client.seed(cilium_daemon_set("1.17.2"))
    d = detect(client, NODE)
    assert d.datapath == "ebpf"
    assert (d.cni, d.cni_version, d.kube_proxy_mode, d.kpr) == ("cilium", "1.17.2", "none", "true")
    assert d.cilium is not None and d.cilium.lb_map_max == 65536
    reads = [(c.verb, c.resource, c.namespace, c.name) for c in client.calls]
    assert ("get", "configmaps", "kube-system", "kube-proxy") in reads
    assert ("get", "configmaps", "kube-system", "cilium-config") in reads


def test_detect_cilium_on_kube_proxy_nftables_and_kpr_notes() -> None:
    client = FakeKubeClient()
    client.seed(kube_proxy_config_map("nftables"))
    client.seed(cilium_config_map("1.19", tunnel_protocol="geneve"))
    client.seed(cilium_daemon_set("1.19.1"))
    d = detect(client, NODE)
    assert (d.datapath, d.routing_mode, d.tunnel_protocol) == ("nftables", "tunnel", "geneve")

    client2 = FakeKubeClient()
    client2.seed(kube_proxy_config_map('""'))
    client2.seed(cilium_config_map("1.15", kube_proxy_replacement="true"))
    d2 = detect(client2, NODE)
    assert d2.datapath == "ebpf"
    assert d2.cni_version == "unknown"  # no cilium DaemonSet readable
    assert any("Cilium replaces it" in n for n in d2.notes)


def test_runtime_proxy_mode_wins_over_config_map() -> None:
    client = FakeKubeClient()
    client.seed(kube_proxy_config_map('""'))
    d = detect(client, NODE, runtime_mode=lambda: "ipvs")
    assert d.datapath == "ipvs"
    assert "runtime" in d.notes[0]


def test_no_service_datapath_is_an_error_and_overrides_apply() -> None:
    client = FakeKubeClient()
    with pytest.raises(DetectionError, match="no Service datapath"):
        detect(client, NODE)
    client.seed(kube_proxy_config_map('""'))
    d = detect(client, NODE).with_overrides({"datapath": "iptables", "node_type": "bare-metal"})
    assert d.info()["node_type"] == "bare-metal"
    with pytest.raises(DetectionError, match="unknown detection override"):
        d.with_overrides({"colour": "blue"})
