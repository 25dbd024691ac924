"""``netbench sweep --target kubernetes`` end to end through the CLI, the factory and the
plan resolver, with the fake API injected as the Kubernetes client."""

from __future__ import annotations

import json
from pathlib import Path

from kube_fixtures import cilium_config_map, cilium_daemon_set, kube_proxy_config_map

from exporter.cli import main
from exporter.settings import KubernetesSettings
from exporter.targets.kubernetes.fake import ExecScript, FakeKubeClient, make_node, rbac_rules

BPFTOOL = Path(__file__).parents[1] / "fixtures" / "bpftool" / "map_show_socket_lb.json"


def _client(cilium: bool) -> FakeKubeClient:
    client = FakeKubeClient(namespace_termination_seconds=1)
    for name, ip in (("worker-a", "192.0.2.11"), ("worker-b", "192.0.2.12")):
        client.add_node(make_node(name, internal_ip=ip))
    if cilium:
        client.seed(cilium_config_map("1.17", **{"kube-proxy-replacement": "true"}))
        client.seed(cilium_daemon_set("1.17.2"))
        client.install_crd("ciliumnetworkpolicies")
        for node in ("worker-a", "worker-b"):
            client.add_daemon_set_pod(
                "kube-system", "cilium", node, {"k8s-app": "cilium"}, ["cilium-agent"]
            )
        client.script_exec(ExecScript(r"bpftool map show -j", stdout=BPFTOOL.read_text()))
    else:
        client.seed(kube_proxy_config_map("nftables"))
        client.script_exec(ExecScript(r"proxyMode", stdout="nftables", pod="nb-probe"))
    return client


def _sweep(client: FakeKubeClient, tmp_path: Path, scenarios: str) -> tuple[int, dict[str, object]]:
    config = tmp_path / "netbench.yaml"
    config.write_text(
        "target: kubernetes\ncluster: fake\nkubernetes:\n"
        f"  journal_path: {tmp_path / 'journal.jsonl'}\n"
    )
    seen: list[KubernetesSettings] = []

    def factory(k: KubernetesSettings) -> FakeKubeClient:
        seen.append(k)
        return client

    out = tmp_path / "report.json"
    code = main(
        [
            "--config",
            str(config),
            "sweep",
            "--scenarios",
            scenarios,
            "--rounds",
            "1",
            "--output",
            "json",
            "--out",
            str(out),
            "--quiet",
        ],
        env={},
        kube_client_factory=factory,
    )
    assert seen and all(k.connection == "in-cluster" for k in seen)
    return code, json.loads(out.read_text())


def test_cli_sweep_on_cilium_measures_bpf_maps_and_cleans_up(tmp_path: Path) -> None:
    client = _client(cilium=True)
    code, report = _sweep(client, tmp_path, "bpf_memory")
    assert code == 0, report
    assert report["datapaths"] == ["ebpf"]  # detected when planning
    assert [n["metadata"]["name"] for n in client.stored("namespaces")] == ["kube-system"]
    rules = rbac_rules(client.calls)
    assert ("create", "", "pods/exec", True) in rules
    assert ("list", "", "pods", True) in rules
    assert ("list", "", "nodes", False) in rules


def test_cli_sweep_on_kube_proxy_skips_cilium_only_scenarios(tmp_path: Path) -> None:
    client = _client(cilium=False)
    code, report = _sweep(client, tmp_path, "bpf_memory,policy,observability")
    assert code == 0, report
    assert report["datapaths"] == ["nftables"]
    skipped = " ".join(str(s) for s in report["skipped"])  # type: ignore[attr-defined]
    for scenario in ("bpf_memory", "policy", "observability"):
        assert f"{scenario} on nftables" in skipped
