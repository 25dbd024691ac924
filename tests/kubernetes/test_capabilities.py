"""Programming verification on ipvs / nftables / Cilium (real output formats), and the optional
capabilities of KubernetesTarget (CNP policy, Hubble toggle, BPF maps, component resources)
against the fake: objects sent, realized-checks, journal, skipped-not-failed on other CNIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kube_fixtures import cilium_config_map, cilium_daemon_set, kube_proxy_config_map

from exporter.errors import NotApplicable, ObservabilityNotToggled, PolicyNotRealized
from exporter.targets.base import BpfMapTarget, ObservabilityTarget, PolicyTarget, ResourceTarget
from exporter.targets.kubernetes.cnp import cilium_network_policy, validate_cnp
from exporter.targets.kubernetes.errors import ManifestRejected
from exporter.targets.kubernetes.fake import ExecScript, FakeKubeClient, make_node, rbac_rules
from exporter.targets.kubernetes.objects import ObjectSettings
from exporter.targets.kubernetes.programming import (
    parse_cilium_service_list,
    parse_ipvsadm,
    parse_nft_service_ips,
)
from exporter.targets.kubernetes.target import (
    CiliumView,
    KubernetesTarget,
    ResourcesView,
    TargetSettings,
    parse_cpu,
    parse_memory,
)

FIXTURES = Path(__file__).parent / "fixtures"
STUB = "server accepts handled requests\n 1 1 1 \n"


# -- real output formats ------------------------------------------------------------------------


def test_ipvsadm_counts_virtual_servers_not_real_servers() -> None:
    count, addresses = parse_ipvsadm((FIXTURES / "ipvsadm_Ln.txt").read_text())
    assert count == 3 and addresses == {"10.0.0.1", "10.0.0.10"}


def test_nft_service_ips_elements_from_real_nft_json() -> None:
    count, addresses = parse_nft_service_ips(
        (FIXTURES / "nft_list_map_service_ips.json").read_text()
    )
    assert count == 3 and addresses == {"198.19.0.1", "198.19.0.2", "198.19.0.10"}


def test_cilium_service_list_counts_realized_frontends() -> None:
    text = (FIXTURES / "cilium_service_list.json").read_text()
    count, realized = parse_cilium_service_list(text)
    assert count == 8 and "10.96.0.1" in realized and "10.111.74.126" in realized
    doc = json.loads(text)
    del doc[0]["status"]["realized"]  # known to the agent, not yet in the BPF maps
    _count, realized = parse_cilium_service_list(json.dumps(doc))
    assert "10.96.0.1" not in realized


# -- a Cilium cluster in the fake ---------------------------------------------------------------


def _cilium_cluster(kpr: str = "true") -> FakeKubeClient:
    client = FakeKubeClient(namespace_termination_seconds=1)
    for node in (
        make_node("worker-a", internal_ip="192.0.2.11"),
        make_node("worker-b", internal_ip="192.0.2.12"),
    ):
        client.add_node(node)
    client.seed(cilium_config_map("1.16", **{"kube-proxy-replacement": kpr}))
    client.seed(cilium_daemon_set("1.16.5"))
    client.install_crd("ciliumnetworkpolicies")
    for node in ("worker-a", "worker-b"):
        client.add_daemon_set_pod(
            "kube-system", "cilium", node, {"k8s-app": "cilium"}, ["cilium-agent"]
        )
    client.script_exec(ExecScript(r"nginx_status", stdout=STUB, pod="nb-server"))
    return client


def _policies(client: FakeKubeClient) -> set[str]:
    return {p["metadata"]["name"] for p in client.stored("ciliumnetworkpolicies")}


def _script_datapath_policy(client: FakeKubeClient, *, realizes: bool = True) -> None:
    """The datapath as Cilium enforces the policies stored in the fake (when ``realizes``)."""

    def enforced() -> set[str]:
        return _policies(client) if realizes else set()

    def host_get() -> str:
        return "unreachable timed out\n" if enforced() else "200\n"

    def post() -> str:
        return "403\n" if "netbench-l7" in enforced() else "200\n"

    client.script_exec(ExecScript(r"method='GET'", stdout="200\n", pod=r"^nb-client$"))
    client.script_exec(ExecScript(r"method='POST'", stdout=post, pod=r"^nb-client$"))
    client.script_exec(ExecScript(r"method='GET'", stdout=host_get, pod=r"^nb-host-client$"))


def _target(client: FakeKubeClient, tmp_path: Path, **kw: object) -> KubernetesTarget:
    settings = TargetSettings(journal_path=tmp_path / "journal.jsonl", **kw)  # type: ignore[arg-type]
    return KubernetesTarget(client, settings, sweep="s1", clock=client.clock, now=lambda: "t0")


def test_cnp_fits_the_schema_and_l7_keeps_from_and_to_in_one_item() -> None:
    cnp = cilium_network_policy(ObjectSettings(), "l7", ns="netbench-s1", sweep="s1")
    validate_cnp(cnp)
    (rule,) = cnp["spec"]["ingress"]
    assert set(rule) == {"fromEndpoints", "toPorts"}
    assert rule["toPorts"][0]["rules"] == {"http": [{"method": "GET"}]}
    cnp["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["port"] = 80
    with pytest.raises(ManifestRejected, match="must be a string"):
        validate_cnp(cnp)


def test_policy_is_applied_proven_and_removed(tmp_path: Path) -> None:
    client = _cilium_cluster()
    _script_datapath_policy(client)
    with _target(client, tmp_path) as view:
        assert isinstance(view, CiliumView) and isinstance(view, PolicyTarget)
        assert not isinstance(view, ObservabilityTarget)  # mutations not allowed
        view.apply_policy("l3l4")
        assert _policies(client) == {"netbench-l3l4"}
        view.apply_policy("l7")
        assert _policies(client) == {"netbench-l7"}
        (cnp,) = client.stored("ciliumnetworkpolicies")
        assert cnp["metadata"]["namespace"] == "netbench-s1"
        view.apply_policy("none")
        assert _policies(client) == set()
    assert client.stored("ciliumnetworkpolicies") == []


def test_a_policy_that_never_realizes_fails_after_its_timeout(tmp_path: Path) -> None:
    client = _cilium_cluster()
    _script_datapath_policy(client, realizes=False)
    with _target(client, tmp_path, policy_timeout_seconds=20.0) as view:
        assert isinstance(view, PolicyTarget)
        start = client.clock.monotonic()
        with pytest.raises(PolicyNotRealized, match="hostNetwork client is dropped"):
            view.apply_policy("l3l4")
        assert 20.0 <= client.clock.monotonic() - start < 40.0


def test_l7_proxy_requests_from_the_agent_metrics(tmp_path: Path) -> None:
    client = _cilium_cluster()
    metrics = [
        {
            "name": "cilium_policy_l7_total",
            "labels": {"rule": "received", "proxy_type": "http"},
            "value": 1234,
        },
        {
            "name": "cilium_policy_l7_total",
            "labels": {"rule": "forwarded", "proxy_type": "http"},
            "value": 1200,
        },
        {"name": "cilium_drop_count_total", "labels": {"reason": "Policy denied"}, "value": 9},
    ]
    client.script_exec(
        ExecScript(r"cilium-dbg metrics list -o json", stdout=json.dumps(metrics), pod="cilium-")
    )
    with _target(client, tmp_path) as view:
        assert isinstance(view, PolicyTarget)
        assert view.policy_proxy_requests() == 1234


def test_hubble_toggle_is_journalled_verified_and_reverted(tmp_path: Path) -> None:
    client = _cilium_cluster()
    _script_datapath_policy(client)
    flows = {"n": 0}

    def status() -> str:
        running = client.started_with[("kube-system", "cilium")]["cilium-config"]
        if running.get("enable-hubble") != "true":
            return json.dumps({"hubble": {"state": "Disabled"}})
        flows["n"] += 5
        return json.dumps({"hubble": {"state": "Ok", "observer": {"seen-flows": flows["n"]}}})

    client.script_exec(ExecScript(r"cilium-dbg status -o json", stdout=status, pod="cilium-"))
    agents_before = {p["metadata"]["name"] for p in client.stored("pods", "kube-system")}
    with _target(client, tmp_path, allow_cluster_mutations=True) as target:
        assert isinstance(target, KubernetesTarget) and isinstance(target, ObservabilityTarget)
        assert target.observability_feature == "hubble"
        for enabled in (False, True, False):
            target.set_observability(enabled)
            cm = client.get_config_map("kube-system", "cilium-config")
            assert cm["data"]["enable-hubble"] == str(enabled).lower()
        agents = {p["metadata"]["name"] for p in client.stored("pods", "kube-system")}
        assert agents.isdisjoint(agents_before)  # restarted; exec found the new pods
        assert client.calls_of("patch", "daemonsets")
    # the journal restored the original value
    data = client.get_config_map("kube-system", "cilium-config")["data"]
    assert data.get("enable-hubble") == cilium_config_map("1.16")["data"].get("enable-hubble")


def test_hubble_that_never_comes_up_is_an_error_and_still_reverted(tmp_path: Path) -> None:
    client = _cilium_cluster()
    client.script_exec(
        ExecScript(r"cilium-dbg status", stdout='{"hubble": {"state": "Failure"}}', pod="cilium-")
    )
    with _target(
        client, tmp_path, allow_cluster_mutations=True, observability_timeout_seconds=30.0
    ) as target:
        assert isinstance(target, ObservabilityTarget)
        with pytest.raises(ObservabilityNotToggled, match="Failure"):
            target.set_observability(True)
    assert client.get_config_map("kube-system", "cilium-config")["data"].get(
        "enable-hubble"
    ) == cilium_config_map("1.16")["data"].get("enable-hubble")


def test_bpf_maps_and_components_on_cilium(tmp_path: Path) -> None:
    client = _cilium_cluster()
    bpftool = (Path(__file__).parents[1] / "fixtures/bpftool/map_show_socket_lb.json").read_text()
    client.script_exec(ExecScript(r"bpftool map show -j", stdout=bpftool, pod="cilium-"))
    with _target(client, tmp_path) as view:
        assert isinstance(view, BpfMapTarget) and isinstance(view, ResourceTarget)
        dumps = view.bpf_map_dumps()
        assert set(dumps) == {"worker-a", "worker-b"}
        assert dumps["worker-a"] == (bpftool, ("cilium_",))
        agents = client.stored("pods", "kube-system")
        client.pod_metrics = [
            {
                "metadata": {
                    "name": p["metadata"]["name"],
                    "namespace": "kube-system",
                    "labels": {"k8s-app": "cilium"},
                },
                "containers": [{"name": "cilium-agent", "usage": {"cpu": "250m", "memory": "1Gi"}}],
            }
            for p in agents
        ]
        ran = []
        usage = view.sample_components(1.0, lambda: ran.append(1))
        assert ran == [1]
        assert set(usage) == {"cilium-agent"}  # kube-proxy replaced: not sampled
        u = usage["cilium-agent"]
        assert u.cpu_cores_avg == pytest.approx(0.5) and u.memory_bytes_max == 2 * 1024**3
        assert u.samples >= 2
        client.metrics_available = False
        with pytest.raises(NotApplicable, match="metrics-server"):
            view.sample_components(1.0, lambda: None)


def test_without_cilium_only_resources_and_reasons(tmp_path: Path) -> None:
    client = FakeKubeClient(namespace_termination_seconds=1)
    for node in (
        make_node("worker-a", internal_ip="192.0.2.11"),
        make_node("worker-b", internal_ip="192.0.2.12"),
    ):
        client.add_node(node)
    client.seed(kube_proxy_config_map("nftables"))
    client.script_exec(ExecScript(r"proxyMode", stdout="nftables", pod="nb-probe"))
    with _target(client, tmp_path) as view:
        assert isinstance(view, ResourcesView) and isinstance(view, ResourceTarget)
        assert not isinstance(view, PolicyTarget | ObservabilityTarget | BpfMapTarget)
        target = view.target
        for call in (
            lambda: target.apply_policy("l3l4"),
            lambda: target.set_observability(True),
            target.bpf_map_dumps,
        ):
            with pytest.raises(NotApplicable, match="needs Cilium"):
                call()


def test_quantities() -> None:
    assert parse_cpu("123456789n") == pytest.approx(0.123456789)
    assert parse_cpu("250m") == 0.25 and parse_cpu("2") == 2.0
    assert parse_memory("1024Ki") == 1024**2 and parse_memory("1G") == 1e9


def test_rbac_rules_normalise_exec_and_metrics() -> None:
    client = _cilium_cluster()
    client.list_pod_metrics("kube-system", "k8s-app=cilium")
    client.list_nodes()
    assert rbac_rules(client.calls) == {
        ("list", "metrics.k8s.io", "pods", True),
        ("list", "", "nodes", False),
    }
