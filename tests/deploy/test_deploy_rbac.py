"""RBAC equals what the code calls.

Every scenario of the real sweep runner is driven through :class:`KubernetesTarget` against
:class:`FakeKubeClient` (which records every API call) on the kinds of cluster each overlay is
for. Each recorded call must be granted by that overlay's Roles/ClusterRoles as bound to the
netbench ServiceAccount, and every grant must be used by some call: an unused grant fails the
test and is named in the message.

The check follows the API server's RBAC rules: a ClusterRole bound by a ClusterRoleBinding
grants in every namespace, a Role only in its own; ``resourceNames`` never cover ``list`` or
``create``; cluster-scoped resources need a ClusterRoleBinding. An exec needs ``get`` (WebSocket
exec up to Kubernetes 1.34) and ``create`` (SPDY, and WebSocket from 1.35) on ``pods/exec``.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import OVERLAYS, ROOT, build

from exporter.config import effective_plan
from exporter.scenarios import ROUND_SCENARIOS
from exporter.settings import SCENARIOS, Durations, ScaleSettings, Settings
from exporter.sweep import SweepRequest, SweepRunner, Trigger
from exporter.targets.kubernetes.fake import Call, ExecScript, FakeKubeClient, make_node
from exporter.targets.kubernetes.target import KubernetesSettings, KubernetesTarget

sys.path.insert(0, str(ROOT / "tests" / "kubernetes"))
from kube_fixtures import (
    cilium_config_map,
    cilium_daemon_set,
    daemon_set,
    kube_proxy_config_map,
)

FIXTURES = ROOT / "tests" / "fixtures"
SA_NAMESPACE, SA_NAME = "netbench", "netbench"
WORKERS = ("worker-a", "worker-b")
CLUSTER_SCOPED = {"nodes", "namespaces"}
NOT_REACHED: dict[str, set[tuple[str, str, str]]] = {}
"""Grants the code needs but this drive does not reach, per overlay: (group, resource, verb).
Empty: with Cilium's policy enforcement modelled (_model_cilium_policy) every scenario runs
to the end on every cluster. Each entry must really be unused (test below), so the list
cannot rot."""
NAMELESS_VERBS = {"list", "create", "watch", "deletecollection"}
"""Verbs that ``resourceNames`` cannot restrict (the name is not known at authorization)."""


# -- grants -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One atomic permission: a verb on a (group, resource[, name]) in a namespace or everywhere."""

    source: str
    group: str
    resource: str
    verb: str
    name: str | None
    namespace: str | None
    """None: cluster-wide (a ClusterRole bound by a ClusterRoleBinding)."""

    def __str__(self) -> str:
        where = f"ns {self.namespace}" if self.namespace else "cluster-wide"
        res = f"{self.group or 'core'}/{self.resource}" + (f"/{self.name}" if self.name else "")
        return f"{self.verb} {res} ({where}, from {self.source})"


@dataclass(frozen=True)
class Need:
    """One permission a recorded call needs."""

    group: str
    resource: str
    verb: str
    name: str | None
    namespace: str | None

    def __str__(self) -> str:
        where = f"ns {self.namespace}" if self.namespace else "cluster-scope/all namespaces"
        res = f"{self.group or 'core'}/{self.resource}" + (f" {self.name}" if self.name else "")
        return f"{self.verb} {res} in {where}"


def _binds_netbench(binding: dict[str, Any]) -> bool:
    return any(
        s.get("kind") == "ServiceAccount"
        and s.get("name") == SA_NAME
        and s.get("namespace") == SA_NAMESPACE
        for s in binding.get("subjects") or []
    )


def _expand(rules: Iterable[dict[str, Any]], source: str, namespace: str | None) -> set[Grant]:
    out = set()
    for rule in rules:
        assert "nonResourceURLs" not in rule, f"{source}: non-resource URL grant"
        names = rule.get("resourceNames") or [None]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"{source}: wildcard grant"
                    for name in names:
                        out.add(Grant(source, group, resource, verb, name, namespace))
    return out


def grants_of(objs: list[dict[str, Any]]) -> set[Grant]:
    """Every atomic permission the netbench ServiceAccount holds in these manifests."""
    cluster_roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRole"}
    roles = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs if o["kind"] == "Role"
    }
    out: set[Grant] = set()
    for b in objs:
        if b["kind"] not in ("ClusterRoleBinding", "RoleBinding") or not _binds_netbench(b):
            continue
        ref = b["roleRef"]
        ns = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
        if ref["kind"] == "ClusterRole":
            role = cluster_roles[ref["name"]]
            source = f"ClusterRole/{ref['name']}"
        else:
            role = roles[(ns, ref["name"])]
            source = f"Role/{ns}/{ref['name']}"
        out |= _expand(role.get("rules") or [], source, ns)
    bound = {g.source for g in out}
    for name in cluster_roles:
        assert f"ClusterRole/{name}" in bound, f"ClusterRole {name} is bound to nothing"
    for ns, name in roles:
        assert f"Role/{ns}/{name}" in bound, f"Role {ns}/{name} is bound to nothing"
    return out


def needs_of(call: Call) -> list[Need]:
    group, resource = call.group, call.resource
    if "." in resource and resource.endswith(group) and group:  # pods.metrics.k8s.io
        resource = resource[: -len(group) - 1]
    namespace = None if resource in CLUSTER_SCOPED else call.namespace
    if resource == "pods/exec":
        return [Need(group, resource, v, call.name, namespace) for v in ("get", "create")]
    return [Need(group, resource, call.verb, call.name, namespace)]


def covers(grant: Grant, need: Need) -> bool:
    if (grant.group, grant.resource, grant.verb) != (need.group, need.resource, need.verb):
        return False
    if grant.name is not None and (need.verb in NAMELESS_VERBS or grant.name != need.name):
        return False
    if grant.namespace is None:
        return True
    return need.namespace is not None and need.namespace == grant.namespace


# -- driving every scenario through the Kubernetes target on the fake ----------------------------


@dataclass
class Cluster:
    """One kind of cluster an overlay is for."""

    name: str
    seed: Callable[[FakeKubeClient], None]
    datapath: str
    auto_fix_lb_map: bool = False
    expect_scale_programmed: bool = True
    proxy_mode: str | None = "iptables"
    """What kube-proxy's /proxyMode answers on the node (None: no kube-proxy there)."""
    expect: list[tuple[str, str, str]] = field(default_factory=list)
    """(verb, resource, name) calls this cluster must produce (so coverage is not vacuous)."""


def _kube_proxy(mode: str, cni: dict[str, Any] | None = None) -> Callable[[FakeKubeClient], None]:
    def seed(client: FakeKubeClient) -> None:
        client.seed(kube_proxy_config_map(mode))
        _kube_proxy_pods(client)
        if cni is not None:
            client.seed(cni)

    return seed


def _kube_proxy_pods(client: FakeKubeClient) -> None:
    client.seed(daemon_set("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.31.4"))
    for node in WORKERS:
        client.add_daemon_set_pod(
            "kube-system", "kube-proxy", node, {"k8s-app": "kube-proxy"}, ["kube-proxy"]
        )


def _cilium(kube_proxy: bool, **options: str) -> Callable[[FakeKubeClient], None]:
    def seed(client: FakeKubeClient) -> None:
        client.seed(cilium_config_map("1.16", **options))
        client.seed(cilium_daemon_set("1.16.5"))
        client.install_crd("ciliumnetworkpolicies")
        for node in WORKERS:
            client.add_daemon_set_pod(
                "kube-system", "cilium", node, {"k8s-app": "cilium"}, ["cilium-agent"]
            )
        if kube_proxy:
            client.seed(kube_proxy_config_map('""'))
            _kube_proxy_pods(client)

    return seed


CLUSTERS: dict[str, list[Cluster]] = {
    "kube-proxy": [
        Cluster(
            "kube-proxy iptables, CNI not recognised",
            _kube_proxy('""'),
            "iptables",
            expect=[("create", "endpointslices", ""), ("get", "daemonsets", "aws-node")],
        ),
        Cluster(
            "kube-proxy ipvs, Calico (operator)",
            _kube_proxy(
                "ipvs",
                daemon_set("calico-system", "calico-node", "docker.io/calico/node:v3.29.1"),
            ),
            "ipvs",
            expect_scale_programmed=False,  # no ipvs programming check yet
            proxy_mode="ipvs",
        ),
    ],
    "cilium": [
        Cluster(
            "Cilium with kube-proxy replacement",
            _cilium(False, kube_proxy_replacement="true"),
            "ebpf",
            expect_scale_programmed=False,  # no eBPF programming check yet
            proxy_mode=None,
        ),
        Cluster(
            "Cilium next to kube-proxy iptables",
            _cilium(True, kube_proxy_replacement="false"),
            "iptables",
            expect=[("list", "services", "")],
        ),
    ],
}
CLUSTERS["mutations"] = [
    *CLUSTERS["cilium"],
    Cluster(
        "Cilium next to kube-proxy, LB map too small, auto-fix on",
        _cilium(True, kube_proxy_replacement="false", bpf_lb_map_max="16"),
        "iptables",
        auto_fix_lb_map=True,
        expect=[("patch", "configmaps", "cilium-config"), ("patch", "daemonsets", "cilium")],
    ),
]


def _fixture(path: str) -> str:
    return (FIXTURES / path).read_text(encoding="utf-8")


def _script_tools(client: FakeKubeClient, proxy_mode: str | None) -> None:
    """Tool outputs recorded from the real tools (tests/fixtures), and a server whose
    accepted-connections counter moves like nginx's: by the requests of a short-connection run."""
    accepted = {"n": 1000}
    hey_text = _fixture("hey/z2s_c4_ok.txt")

    def hey() -> str:
        if "-disable-keepalive" in client.calls[-1].detail:
            accepted["n"] += 10**7
        return hey_text

    def stub_status() -> str:
        n = accepted["n"]
        return (
            f"Active connections: 1 \nserver accepts handled requests\n {n} {n} {n} \n"
            "Reading: 0 Writing: 1 Waiting: 0 \n"
        )

    def iptables_save() -> str:
        lines = ["# Generated by iptables-nft-save v1.8.9", "*nat", ":KUBE-SERVICES - [0:0]"]
        for i, svc in enumerate(client.stored("services")):
            vip = svc["spec"]["clusterIP"]
            lines.append(
                f"-A KUBE-SERVICES -d {vip}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-{i:016X}"
            )
        return "\n".join([*lines, "COMMIT"]) + "\n"

    # HTTP status probes (policy realized-checks): the answer of an open path. Scripts added
    # later win, so the specific python3 commands below (stub_status, /proxyMode) still match.
    client.script_exec(ExecScript(r"python3 -c", stdout="200\n"))
    if proxy_mode is None:
        client.script_exec(ExecScript(r"proxyMode", returncode=1, stderr="refused", pod="nb-probe"))
    else:
        client.script_exec(ExecScript(r"proxyMode", stdout=proxy_mode, pod="nb-probe"))
    client.script_exec(ExecScript(r"nginx_status", stdout=stub_status, pod="nb-server"))
    client.script_exec(ExecScript(r"iptables-nft-save -t nat", stdout=iptables_save))
    client.script_exec(ExecScript(r" hey ", stdout=hey))
    client.script_exec(ExecScript(r" iperf3 -c", stdout=_fixture("iperf3/tcp_p8_t2.json")))
    client.script_exec(ExecScript(r" sockperf ", stdout=_fixture("sockperf/pp_tcp_m14_t2.txt")))
    client.script_exec(
        ExecScript(r"bpftool map show", stdout=_fixture("bpftool/map_show_socket_lb.json"))
    )
    client.script_exec(
        ExecScript(r"cilium-dbg status", stdout='{"hubble": {"state": "Ok", "observer": {}}}')
    )
    _model_cilium_policy(client)


def _model_cilium_policy(client: FakeKubeClient) -> None:
    """Answer the policy realized-checks the way Cilium enforces the CNPs the fake holds: with
    any CNP on the server the hostNetwork client (not selected by fromEndpoints) is dropped;
    with an L7 rule a POST gets the proxy's 403, and the proxy's received counter grows.
    Without this, every probe answered 200, policy never realized on the Cilium clusters, and
    the drive never reached the resources scenario's metrics.k8s.io calls."""

    def cnps() -> list[dict[str, Any]]:
        return client.stored("ciliumnetworkpolicies")

    def l7() -> bool:
        return any(
            "rules" in port
            for cnp in cnps()
            for rule in cnp.get("spec", {}).get("ingress", [])
            for port in rule.get("toPorts", [])
        )

    received = itertools.count(start=0, step=1_000_000)

    def l7_metrics() -> str:
        value = next(received) if l7() else 0
        return json.dumps(
            [{"name": "cilium_policy_l7_total", "labels": {"rule": "received"}, "value": value}]
        )

    client.script_exec(
        ExecScript(
            r"method='GET'",
            stdout=lambda: "unreachable timed out\n" if cnps() else "200\n",
            pod=r"host-client",
        )
    )
    client.script_exec(
        ExecScript(r"method='POST'", stdout=lambda: "403\n" if l7() else "200\n", pod=r"nb-client")
    )
    client.script_exec(ExecScript(r"cilium-dbg metrics list", stdout=l7_metrics))


@dataclass
class Drive:
    calls: list[Call]
    outcomes: dict[str, str]
    """scenario -> "ok" or the error."""
    skipped: list[str]


def drive(cluster: Cluster, tmp: Path) -> Drive:
    client = FakeKubeClient(namespace_termination_seconds=1)
    for node in (
        make_node("cp-1", internal_ip="198.18.0.10", control_plane=True),
        make_node("worker-a", internal_ip="198.18.0.11"),
        make_node("worker-b", internal_ip="198.18.0.12"),
    ):
        client.add_node(node)
    cluster.seed(client)
    _script_tools(client, cluster.proxy_mode)
    scale = ScaleSettings(
        steps=(3, 6),
        endpoints_per_service=2,
        create_parallel=2,
        auto_fix_lb_map=cluster.auto_fix_lb_map,
        programming_timeout_seconds=30.0,
    )
    durations = Durations(
        iperf_seconds=1.0, http_seconds=1.0, warmup_seconds=0.0, round_sleep_seconds=0.0
    )
    settings = Settings(
        cluster="rbac", target="kubernetes", rounds=1, durations=durations, scale=scale
    )

    def factory(_s: Settings, _plan: object) -> KubernetesTarget:
        return KubernetesTarget(
            client,
            KubernetesSettings(
                journal_path=tmp / "journal.jsonl",
                scale=scale,
                allow_cluster_mutations=cluster.auto_fix_lb_map,
            ),
            sweep="s1",
            clock=client.clock,
            now=lambda: "2026-01-01T00:00:00Z",
        )

    request = SweepRequest(
        profile="full",
        trigger=Trigger.API,
        scenarios=SCENARIOS,
        datapaths=(cluster.datapath,),
        rounds=1,
    )
    result = SweepRunner(settings, factory, effective_plan).run(
        request, "rbac", threading.Event(), lambda _e: None
    )
    assert result.error is None, f"{cluster.name}: sweep failed: {result.error}"
    outcomes = {o.scenario: "ok" if o.success else str(o.error) for o in result.outcomes}
    return Drive(list(client.calls), outcomes, list(result.skipped))


@pytest.fixture(scope="module")
def drives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Cluster, Drive]]]:
    out: dict[str, list[tuple[Cluster, Drive]]] = {}
    cache: dict[str, Drive] = {}
    for overlay, clusters in CLUSTERS.items():
        for cluster in clusters:
            if cluster.name not in cache:
                cache[cluster.name] = drive(cluster, tmp_path_factory.mktemp("rbac"))
            out.setdefault(overlay, []).append((cluster, cache[cluster.name]))
    return out


def test_every_scenario_is_driven() -> None:
    assert set(SCENARIOS) == {*ROUND_SCENARIOS, "service_scale"}


def test_clusters_exist_for_every_overlay() -> None:
    assert set(CLUSTERS) == set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_drives_reach_the_calls_that_matter(
    overlay: str, drives: dict[str, list[tuple[Cluster, Drive]]]
) -> None:
    """Coverage is only as good as the drive: the scenarios must really have run."""
    for cluster, d in drives[overlay]:
        runnable = {"throughput", "http_rps", "latency"}
        failed = {s: e for s, e in d.outcomes.items() if s in runnable and e != "ok"}
        assert not failed, f"{cluster.name}: {failed}"
        assert d.outcomes.get("service_scale") == "ok" or not cluster.expect_scale_programmed, (
            f"{cluster.name}: service_scale {d.outcomes.get('service_scale')}"
        )
        made = {(c.verb, c.resource, c.name or "") for c in d.calls}
        for verb, resource, name in cluster.expect:
            assert any(
                v == verb and r == resource and (not name or n == name) for v, r, n in made
            ), f"{cluster.name}: no {verb} {resource} {name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_call_is_granted_and_every_grant_used(
    overlay: str, drives: dict[str, list[tuple[Cluster, Drive]]]
) -> None:
    grants = grants_of(build(overlay))
    needs: dict[Need, str] = {}
    for cluster, d in drives[overlay]:
        for call in d.calls:
            for need in needs_of(call):
                needs.setdefault(need, cluster.name)
    denied = sorted(
        f"{need}  [{where}]"
        for need, where in needs.items()
        if not any(covers(g, need) for g in grants)
    )
    not_reached = NOT_REACHED.get(overlay, set())
    idle = [g for g in grants if not any(covers(g, n) for n in needs)]
    unused = sorted(str(g) for g in idle if (g.group, g.resource, g.verb) not in not_reached)
    still_listed = not_reached - {(g.group, g.resource, g.verb) for g in idle}
    assert not still_listed, f"{overlay}: now reached, drop from NOT_REACHED: {still_listed}"
    problems = []
    if denied:
        problems.append("calls the overlay does not grant:\n  " + "\n  ".join(denied))
    if unused:
        problems.append("grants nothing uses:\n  " + "\n  ".join(unused))
    assert not problems, f"overlay {overlay}:\n" + "\n".join(problems)


# -- the checker itself --------------------------------------------------------------------------


def _role(kind: str, rules: list[dict[str, Any]], ns: str | None = None) -> list[dict[str, Any]]:
    meta: dict[str, Any] = {"name": "r"}
    bmeta: dict[str, Any] = {"name": "b"}
    if ns:
        meta["namespace"] = bmeta["namespace"] = ns
    binding = {
        "kind": "RoleBinding" if kind == "Role" else "ClusterRoleBinding",
        "metadata": bmeta,
        "roleRef": {"kind": kind, "name": "r", "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}],
    }
    return [{"kind": kind, "metadata": meta, "rules": rules}, binding]


def test_checker_follows_rbac_semantics() -> None:
    named = _role(
        "Role",
        [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["a"],
                "verbs": ["get"],
            }
        ],
        ns="kube-system",
    )
    (g,) = grants_of(named)
    assert covers(g, Need("", "configmaps", "get", "a", "kube-system"))
    assert not covers(g, Need("", "configmaps", "get", "b", "kube-system"))
    assert not covers(g, Need("", "configmaps", "get", "a", "default"))
    assert not covers(g, Need("", "configmaps", "get", "a", None))
    cluster = _role(
        "ClusterRole",
        [{"apiGroups": [""], "resources": ["services"], "resourceNames": ["x"], "verbs": ["list"]}],
    )
    (g,) = grants_of(cluster)
    assert not covers(g, Need("", "services", "list", None, "any"))  # names never cover list
    exec_call = Call("create", "", "pods/exec", "ns1", "nb-client", "timeout ...")
    assert {n.verb for n in needs_of(exec_call)} == {"get", "create"}
    assert needs_of(Call("delete", "", "namespaces", None, "x"))[0].namespace is None


def test_checker_rejects_unbound_roles_and_wildcards() -> None:
    objs = _role("ClusterRole", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    objs[1]["subjects"][0]["name"] = "someone-else"
    with pytest.raises(AssertionError, match="bound to nothing"):
        grants_of(objs)
    wild = _role("ClusterRole", [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}])
    with pytest.raises(AssertionError, match="wildcard"):
        grants_of(wild)


def test_needs_agree_with_the_fake_helper(
    drives: dict[str, list[tuple[Cluster, Drive]]],
) -> None:
    """``fake.rbac_rules`` (verb, group, resource, namespaced) is the coarse view of the same
    calls; every rule it derives is among the needs checked above."""
    from exporter.targets.kubernetes.fake import rbac_rules

    for overlay in OVERLAYS:
        calls = [c for _cluster, d in drives[overlay] for c in d.calls]
        mine = {(n.verb, n.group, n.resource) for c in calls for n in needs_of(c)}
        theirs = {(verb, group, resource) for verb, group, resource, _ns in rbac_rules(calls)}
        assert theirs <= mine, theirs - mine
