from __future__ import annotations

from pathlib import Path

import pytest
from kube_fixtures import cilium_config_map, cilium_daemon_set, existing_service

from exporter.targets.kubernetes.detect import parse_cilium_config
from exporter.targets.kubernetes.errors import LbMapCapacityError, ScaleError
from exporter.targets.kubernetes.fake import FakeClock, FakeKubeClient
from exporter.targets.kubernetes.janitor import Janitor, MutationJournal
from exporter.targets.kubernetes.objects import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    SLICE_MANAGED_BY_LABEL,
    SWEEP_LABEL,
    ObjectSettings,
    dummy_service,
)
from exporter.targets.kubernetes.scale import (
    RetryPolicy,
    ScaleInstaller,
    lb_map_entries,
    lb_map_preflight,
)

NS = "netbench-scale"


def _installer(client: FakeKubeClient, parallel: int = 4, **kw: object) -> ScaleInstaller:
    return ScaleInstaller(
        client,
        ObjectSettings(),
        namespace_name=NS,
        sweep="s1",
        parallel=parallel,
        clock=client.clock,
        **kw,  # type: ignore[arg-type]
    )


def test_creates_verifies_and_grows_by_the_difference() -> None:
    client = FakeKubeClient()
    inst = _installer(client)
    report = inst.ensure(20, 4, teardown_timeout=10)
    assert (report.services, report.created, report.already_there) == (20, 40, 0)
    slices = client.stored("endpointslices", NS)
    assert len(slices) == 20
    s0 = next(s for s in slices if s["metadata"]["name"] == "nb-scale-00000-1")
    assert s0["metadata"]["labels"][SERVICE_NAME_LABEL] == "nb-scale-00000"
    assert s0["metadata"]["labels"][SLICE_MANAGED_BY_LABEL] == "netbench.dev/scale"
    assert s0["metadata"]["labels"][MANAGED_BY_LABEL] == "netbench"
    assert s0["metadata"]["labels"][SWEEP_LABEL] == "s1"
    addrs = [e["addresses"][0] for s in slices for e in s["endpoints"]]
    assert all(a.startswith(("198.18.", "198.19.")) for a in addrs)
    svc = client.stored("services", NS)[0]
    assert "selector" not in svc["spec"]

    before = len(client.calls_of("create", "services"))
    report = inst.ensure(30, 4, teardown_timeout=10)
    assert report.created == 20  # only the 10 new Services and their slices
    assert len(client.calls_of("create", "services")) - before == 10
    assert len(client.stored("services", NS)) == 30


def test_429_storm_is_retried_honouring_retry_after() -> None:
    client = FakeKubeClient()
    client.throttle("create", "services", times=7, retry_after=3.0)
    client.throttle("create", "endpointslices", times=2, retry_after=120.0)
    inst = _installer(client, parallel=3, retry=RetryPolicy(max_attempts=10, max_wait_seconds=5))
    report = inst.ensure(5, 2, teardown_timeout=10)
    assert report.services == 5
    assert report.throttled == 9
    assert report.waited_seconds == pytest.approx(7 * 3.0 + 2 * 5.0)  # 120 s capped at 5
    assert sorted(s for s in client.clock.sleeps if s) == [3.0] * 7 + [5.0] * 2
    # every throttled call was really made again
    assert len(client.calls_of("create", "services")) == 5 + 7


def test_endless_429_fails_the_step_with_a_typed_error() -> None:
    client = FakeKubeClient()
    client.throttle("create", "services", times=1000, retry_after=1.0)
    inst = _installer(client, parallel=2, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ScaleError, match="throttled"):
        inst.ensure(50, 4, teardown_timeout=10)
    # bounded: the pool stopped early rather than hammering 50 x 3 times
    assert len(client.calls_of("create", "services")) < 50 * 3


def test_409_counts_as_already_there() -> None:
    client = FakeKubeClient()
    first = _installer(client)
    first.ensure(6, 4, teardown_timeout=10)
    # a fresh installer (e.g. after a restart) that does not know they exist
    second = _installer(client)
    report = second.ensure(8, 4, teardown_timeout=10)
    assert report.already_there == 12 and report.created == 4
    assert report.services == 8


def test_count_is_verified_by_listing() -> None:
    client = FakeKubeClient()
    _installer(client).ensure(3, 1, teardown_timeout=10)
    # a leftover of a bigger earlier step that this (restarted) installer does not know about
    client.create_service(NS, dummy_service(ObjectSettings(), index=99, ns=NS, sweep="s1"))
    with pytest.raises(ScaleError, match=r"expected 3 Services .* found 4"):
        _installer(client).ensure(3, 1, teardown_timeout=10)


def test_other_errors_fail_fast() -> None:
    client = FakeKubeClient()
    client.fail("create", "services", 403, times=1, reason="Forbidden")
    with pytest.raises(ScaleError, match="403"):
        _installer(client, parallel=1).ensure(100, 4, teardown_timeout=10)
    assert len(client.calls_of("create", "services")) == 1


def test_teardown_deletes_namespace_and_verifies() -> None:
    client = FakeKubeClient(namespace_termination_seconds=4.0)
    inst = _installer(client)
    inst.ensure(4, 4, teardown_timeout=10)
    inst.ensure(0, 4, teardown_timeout=10)
    assert not client.exists("namespaces", None, NS)
    assert client.stored("services", NS) == []
    assert len(client.calls_of("get", "namespaces")) >= 2  # polled until gone

    stuck = FakeKubeClient(namespace_termination_seconds=1e9)
    inst = _installer(stuck)
    inst.ensure(2, 4, teardown_timeout=10)
    with pytest.raises(ScaleError, match="still present"):
        inst.teardown(timeout=5)


def test_shrinking_or_new_endpoint_count_starts_over() -> None:
    client = FakeKubeClient(namespace_termination_seconds=0.5)
    inst = _installer(client)
    inst.ensure(5, 4, teardown_timeout=10)
    inst.ensure(5, 2, teardown_timeout=10)
    assert all(len(s["endpoints"]) == 2 for s in client.stored("endpointslices", NS))


def _cilium_cluster(existing: int, lb_map_max: str | None) -> FakeKubeClient:
    client = FakeKubeClient()
    opts = {"bpf_lb_map_max": lb_map_max} if lb_map_max else {}
    client.seed(cilium_config_map("1.16", kube_proxy_replacement="true", **opts))
    client.seed(cilium_daemon_set("1.16.5"))
    for i in range(existing):
        client.seed(existing_service("default" if i % 2 else "kube-system", f"svc-{i}"))
    return client


def _preflight(client: FakeKubeClient, tmp_path: Path, requested: int, auto_fix: bool) -> object:
    cfg = parse_cilium_config(client.get_config_map("kube-system", "cilium-config")["data"])
    janitor = Janitor(
        client,
        MutationJournal(tmp_path / "journal"),
        ObjectSettings(),
        clock=client.clock,
        now=lambda: "2026-01-01T00:00:00Z",
    )
    return lb_map_preflight(
        client,
        cfg,
        requested=requested,
        endpoints_per_service=4,
        scale_namespace=NS,
        auto_fix=auto_fix,
        janitor=janitor,
        clock=client.clock,
    )


def test_lb_map_preflight_counts_existing_services(tmp_path: Path) -> None:
    assert lb_map_entries(13100, 4) == 65500
    client = _cilium_cluster(existing=100, lb_map_max=None)
    ok = _preflight(client, tmp_path, requested=13000, auto_fix=False)
    assert "(100 existing + 13000)" in ok.describe()  # type: ignore[attr-defined]
    with pytest.raises(LbMapCapacityError, match="auto_fix_lb_map"):
        _preflight(client, tmp_path, requested=13010, auto_fix=False)
    assert client.calls_of("patch", "configmaps") == []


def test_lb_map_raise_is_journalled_restarted_and_reported(tmp_path: Path) -> None:
    client = _cilium_cluster(existing=10, lb_map_max="65536")
    report = _preflight(client, tmp_path, requested=30000, auto_fix=True)
    assert report.raised_to == 196608  # type: ignore[attr-defined]
    assert "raised to 196608" in report.describe()  # type: ignore[attr-defined]
    data = client.get_config_map("kube-system", "cilium-config")["data"]
    assert data["bpf-lb-map-max"] == "196608"
    assert [c.name for c in client.calls_of("patch", "daemonsets")] == ["cilium"]
    pending = MutationJournal(tmp_path / "journal").pending()
    assert [(p.key, p.before, p.after) for p in pending] == [("bpf-lb-map-max", "65536", "196608")]


def test_parallel_is_bounded() -> None:
    with pytest.raises(ScaleError):
        _installer(FakeKubeClient(), parallel=0)
    _ = FakeClock  # the fake's clock is shared by installer and API
