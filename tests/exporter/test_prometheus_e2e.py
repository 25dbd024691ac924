"""A real Prometheus scrapes the exporter during and after a sweep; the series come back through
Prometheus's HTTP API with their cluster and datapath labels. Plus promtool on /metrics."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH, ExporterProcess, free_port, http, require_binary, until

pytestmark = pytest.mark.prometheus


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    binary = require_binary("prometheus")
    procs: list[subprocess.Popen[bytes]] = []

    def start(target_port: int) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: netbench\n"
            "    scrape_interval: 1s\n"
            "    scrape_timeout: 900ms\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n"
        )
        with (tmp_path / "prometheus.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--storage.tsdb.retention.time=1h",
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        url = f"http://127.0.0.1:{port}"
        with http() as client:

            def ready() -> bool:
                assert procs[-1].poll() is None, (tmp_path / "prometheus.log").read_text()
                try:
                    return client.get(f"{url}/-/ready").status_code == 200
                except Exception:
                    return False

            until("prometheus to be ready", ready, 30)
        return url

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    with http() as client:
        r = client.get(f"{url}/api/v1/query", params={"query": promql})
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_reads_the_series_back_during_and_after_a_sweep(
    exporter_factory: Callable[..., ExporterProcess],
    prometheus: Callable[[int], str],
) -> None:
    exporter = exporter_factory(delay=0.7)  # 3 scenarios x 2 datapaths: about 4 s
    prom = prometheus(exporter.port)
    until("a first scrape", lambda: query(prom, 'up{job="netbench"} == 1'), 30)
    with http() as client:
        r = client.post(f"{exporter.url}/api/v1/sweeps", json={"profile": "quick"}, headers=AUTH)
        assert r.status_code == 202, r.text
        sid = r.json()["id"]
        # during: Prometheus sees the sweep running and its progress
        running = until(
            "netbench_sweep_running == 1",
            lambda: query(prom, 'netbench_sweep_running{cluster="e2e"} == 1'),
            30,
        )
        assert running[0]["metric"]["profile"] == "quick"
        assert running[0]["metric"]["trigger"] == "api"
        until(
            "progress",
            lambda: query(prom, 'netbench_sweep_progress_ratio{cluster="e2e"} > 0'),
            30,
        )

        def finished() -> bool:
            return client.get(f"{exporter.url}/api/v1/sweeps/{sid}").json()["status"] != "running"

        until("the sweep to finish", finished, 60)
        assert client.get(f"{exporter.url}/api/v1/sweeps/{sid}").json()["status"] == "failed"

    # after: the values, with cluster and datapath labels
    rps = until(
        "RPS for both datapaths",
        lambda: (
            r
            if len(r := query(prom, 'netbench_http_requests_per_second{cluster="e2e"}')) == 4
            else None
        ),
        30,
    )
    assert {s["metric"]["datapath"] for s in rps} == {"iptables", "nftables"}
    assert {s["metric"]["connection"] for s in rps} == {"keepalive", "short"}
    assert all(s["metric"]["job"] == "netbench" and s["metric"]["tool"] == "hey" for s in rps)
    # the failed scenario: success 0, and no value series (never zeros)
    latency = query(prom, 'netbench_latency_seconds{cluster="e2e"}')
    assert {s["metric"]["datapath"] for s in latency} == {"iptables"}
    success = until(
        "scenario success on both datapaths",
        lambda: (
            r
            if len(r := query(prom, 'netbench_scenario_success{cluster="e2e",scenario="latency"}'))
            == 2
            else None
        ),
        30,
    )
    assert {s["metric"]["datapath"]: s["value"][1] for s in success} == {
        "iptables": "1",
        "nftables": "0",
    }
    rounds = query(
        prom,
        'netbench_measurement_rounds{metric="netbench_http_requests_per_second",'
        'datapath="iptables",connection="short"}',
    )
    assert len(rounds) == 1
    until(
        "sweeps_total",
        lambda: query(
            prom, 'netbench_sweeps_total{cluster="e2e",status="failed",trigger="api"} == 1'
        ),
        30,
    )
    info = query(prom, 'netbench_datapath_info{cluster="e2e"}')
    assert {s["metric"]["datapath"] for s in info} == {"iptables", "nftables"}
    assert query(prom, 'netbench_sweep_running{cluster="e2e"} == 0')


def test_promtool_check_metrics_reports_nothing_on_the_served_metrics(
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    promtool = require_binary("promtool")
    exporter = exporter_factory(delay=0.0)
    with http() as client:
        r = client.post(f"{exporter.url}/api/v1/sweeps", json={}, headers=AUTH)
        sid = r.json()["id"]

        def finished() -> bool:
            return client.get(f"{exporter.url}/api/v1/sweeps/{sid}").json()["status"] != "running"

        until("the sweep to finish", finished, 30)
        text = client.get(f"{exporter.url}/metrics").text
    assert "netbench_latency_seconds" in text and "netbench_scenario_success" in text
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
