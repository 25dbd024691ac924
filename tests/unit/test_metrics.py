"""The store-backed Collector: what a scrape shows, what it must never show, promtool-clean."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics import HELP, NetbenchCollector, help_for
from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.store import Store

DOCS = Path(__file__).parents[2] / "docs" / "metrics.md"


class Clock:
    now = 10_000.0

    def __call__(self) -> float:
        return self.now


def binary(name: str) -> str:
    """The path of a tool the test needs; missing is a failure in CI, a skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


def m(datapath: str, metric: str, value: float, **labels: str) -> Measurement:
    values = [value, value * 1.1, value * 0.9]
    return Measurement(
        "http_rps", datapath, metric, labels_of(labels), tuple(values), Summary.of(values)
    )


def rps(datapath: str, value: float, connection: str = "short") -> Measurement:
    return m(
        datapath,
        "http_requests_per_second",
        value,
        path="service",
        connection=connection,
        concurrency="64",
        tool="hey",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store(tmp_path / "h.db", clock=clock)
    yield s
    s.close()


def scrape(store: Store, clock: Clock, max_age: float = 1e6) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        NetbenchCollector(store, cluster="lab", series_max_age_seconds=max_age, clock=clock)
    )
    return generate_latest(registry).decode()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def sweep(store: Store, clock: Clock, sid: str, *outcomes: ScenarioOutcome) -> None:
    store.create_sweep(
        sid,
        cluster="lab",
        target="lab",
        profile="quick",
        trigger="schedule",
        started_at=clock.now - 30,
    )
    for o in outcomes:
        store.record_outcome(sid, "lab", o)
    failed = any(not o.success for o in outcomes)
    store.finish_sweep(
        SweepResult(
            id=sid,
            target="lab",
            cluster="lab",
            profile="quick",
            trigger="schedule",
            datapaths=("iptables", "nftables"),
            routing="native",
            scenarios=("http_rps",),
            started_at=clock.now - 30,
            finished_at=clock.now,
            status=SweepStatus.FAILED if failed else SweepStatus.SUCCEEDED,
            outcomes=list(outcomes),
            info={"iptables": {"kube_proxy_mode": "iptables", "kernel": "6.1"}},
        )
    )


def ok(datapath: str, at: float, *ms: Measurement) -> ScenarioOutcome:
    return ScenarioOutcome("http_rps", datapath, True, ms, finished_at=at)


def ko(datapath: str, at: float) -> ScenarioOutcome:
    return ScenarioOutcome(
        "http_rps", datapath, False, error="MeasurementInvalid: x", finished_at=at
    )


def test_values_with_cluster_and_datapath_and_joinable_round_stats(
    store: Store, clock: Clock
) -> None:
    sweep(
        store,
        clock,
        "s1",
        ok("iptables", 9_990.0, rps("iptables", 100.0)),
        ok("nftables", 9_995.0, rps("nftables", 200.0)),
    )
    got = samples(scrape(store, clock))
    values = {lab["datapath"]: v for lab, v in got["netbench_http_requests_per_second"]}
    assert values == {"iptables": 100.0, "nftables": 200.0}
    labels, _ = got["netbench_http_requests_per_second"][0]
    assert labels == {
        "cluster": "lab",
        "datapath": "iptables",
        "path": "service",
        "connection": "short",
        "concurrency": "64",
        "tool": "hey",
    }
    rounds = got["netbench_measurement_rounds"]
    assert ({**labels, "metric": "netbench_http_requests_per_second"}, 3.0) in rounds
    rsd = dict((lab["datapath"], v) for lab, v in got["netbench_measurement_relative_stddev"])
    assert rsd["iptables"] == pytest.approx(0.1)
    success = {lab["datapath"]: v for lab, v in got["netbench_scenario_success"]}
    assert success == {"iptables": 1.0, "nftables": 1.0}
    last = {
        lab["datapath"]: v for lab, v in got["netbench_scenario_last_success_timestamp_seconds"]
    }
    assert last == {"iptables": 9_990.0, "nftables": 9_995.0}
    assert got["netbench_sweeps_total"] == [
        ({"cluster": "lab", "profile": "quick", "trigger": "schedule", "status": "succeeded"}, 1.0)
    ]
    assert got["netbench_sweep_duration_seconds"][0][1] == 30.0
    assert got["netbench_sweep_running"] == [({"cluster": "lab"}, 0.0)]
    assert got["netbench_datapath_info"] == [
        (
            {
                "cluster": "lab",
                "datapath": "iptables",
                "kube_proxy_mode": "iptables",
                "kernel": "6.1",
            },
            1.0,
        )
    ]
    assert got["netbench_build_info"][0][1] == 1.0


def test_failed_scenario_publishes_success_zero_and_no_values(store: Store, clock: Clock) -> None:
    sweep(
        store,
        clock,
        "s1",
        ok("iptables", 9_000.0, rps("iptables", 100.0)),
        ok("nftables", 9_000.0, rps("nftables", 200.0)),
    )
    clock.now += 100
    sweep(
        store,
        clock,
        "s2",
        ko("iptables", clock.now),
        ok("nftables", clock.now, rps("nftables", 210.0)),
    )
    got = samples(scrape(store, clock))
    assert [lab["datapath"] for lab, _ in got["netbench_http_requests_per_second"]] == ["nftables"]
    assert all(lab["datapath"] == "nftables" for lab, _ in got["netbench_measurement_rounds"])
    success = {lab["datapath"]: v for lab, v in got["netbench_scenario_success"]}
    assert success == {"iptables": 0.0, "nftables": 1.0}
    last = {
        lab["datapath"]: v for lab, v in got["netbench_scenario_last_success_timestamp_seconds"]
    }
    assert last["iptables"] == 9_000.0  # still says when it last worked
    assert all(v != 0.0 for _, v in got["netbench_http_requests_per_second"])


def test_stale_label_sets_disappear(store: Store, clock: Clock) -> None:
    sweep(store, clock, "s1", ok("iptables", clock.now, rps("iptables", 1.0, "keepalive")))
    assert "netbench_http_requests_per_second" in samples(scrape(store, clock, max_age=3600))
    clock.now += 7200
    got = samples(scrape(store, clock, max_age=3600))
    assert "netbench_http_requests_per_second" not in got
    assert "netbench_scenario_success" not in got
    assert "netbench_datapath_info" not in got
    assert "netbench_sweeps_total" in got  # a counter stays


def test_variant_no_longer_measured_after_a_failure_disappears(store: Store, clock: Clock) -> None:
    sweep(
        store,
        clock,
        "s1",
        ok("iptables", 9_000.0, rps("iptables", 1.0, "keepalive"), rps("iptables", 2.0, "short")),
    )
    clock.now += 10
    sweep(store, clock, "s2", ko("iptables", clock.now))
    clock.now += 10
    sweep(store, clock, "s3", ok("iptables", clock.now, rps("iptables", 3.0, "short")))
    got = samples(scrape(store, clock))
    assert [(lab["connection"], v) for lab, v in got["netbench_http_requests_per_second"]] == [
        ("short", 3.0)
    ]


def test_running_sweep_and_progress(store: Store, clock: Clock) -> None:
    store.create_sweep("r1", cluster="lab", target="lab", profile="full", trigger="api")
    store.update_progress("r1", 0.25, "step")
    got = samples(scrape(store, clock))
    assert got["netbench_sweep_running"] == [
        ({"cluster": "lab", "profile": "full", "trigger": "api"}, 1.0)
    ]
    assert got["netbench_sweep_progress_ratio"][0][1] == 0.25


def test_unknown_metric_gets_generic_help_and_bad_names_are_dropped(
    store: Store, clock: Clock
) -> None:
    sweep(
        store,
        clock,
        "s1",
        ok(
            "iptables",
            clock.now,
            m("iptables", "lab_extra_seconds", 1.5, what="x"),
            m("iptables", "bad-name", 1.0),
            m("iptables", "clash_seconds", 1.0, cluster="x"),
        ),
    )
    text = scrape(store, clock)
    assert "# HELP netbench_lab_extra_seconds netbench measurement" in text
    assert "bad-name" not in text
    assert "clash_seconds" not in text


def test_promtool_check_metrics_reports_nothing(store: Store, clock: Clock) -> None:
    promtool = binary("promtool")
    sweep(
        store,
        clock,
        "s1",
        ok(
            "iptables",
            clock.now,
            rps("iptables", 100.0),
            m(
                "iptables",
                "latency_seconds",
                0.001,
                test="tcp_rr",
                quantile="0.99",
                tool="sockperf",
            ),
        ),
        ko("nftables", clock.now),
    )
    store.create_sweep("r1", cluster="lab", target="lab", profile="full", trigger="api")
    text = scrape(store, clock)
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == ""


def test_every_metric_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for name in HELP:
        published = name + "_total" if name == "netbench_sweeps" else name
        assert f"`{published}`" in docs, published
    assert help_for("netbench_whatever").startswith("netbench measurement")
