"""The whole product on the lab: a real `netbench serve` runs a real lab sweep (two datapaths)
triggered over its API, a real Prometheus scrapes it during and after, every dashboard panel and
alert expression is evaluated through Prometheus, and a kill -9 mid-sweep followed by a restart
keeps the results, marks the dead sweep aborted and leaves no lab behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH, free_port, http, require_binary, until

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboards import verify  # noqa: E402

pytestmark = [
    pytest.mark.lab,
    pytest.mark.prometheus,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)"),
]

CLUSTER = "e2e-lab"
DATAPATHS = ("iptables", "ebpf")
TOKEN = AUTH["Authorization"].removeprefix("Bearer ")

# Panels a short lab sweep cannot feed, and why. Everything else must return data.
LAB_CANNOT_FEED = {
    "7-day": "needs a week of history (regression vs the 7-day median)",
    "Hubble overhead": "the lab's flow observer is feature=conntrack_events; Hubble is Cilium's",
    "at 20000 Services": "this short sweep's scale steps are 1000 and 2000",
    "at 30000 Services": "this short sweep's scale steps are 1000 and 2000",
    "Sweep progress": "only while a sweep runs; this is evaluated after it finished",
}


class Serve:
    """`netbench serve` as a real process, on loopback, marked by an environment variable so
    every process it starts (servers, tools) can be found afterwards."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state_dir = tmp / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.config = tmp / "netbench.yaml"
        self.config.write_text(
            f"cluster: {CLUSTER}\n"
            "lab:\n"
            f"  state_dir: {self.state_dir}\n"
            f"  datapaths: [{', '.join(DATAPATHS)}]\n"
            "exporter:\n"
            f"  db_path: {tmp / 'history.db'}\n"
            "  schedules: []\n"
            "  on_demand_cooldown_seconds: 0\n"
            "  log_format: json\n"
        )
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Serve:
        env = {**os.environ, "NETBENCH_API_TOKEN": TOKEN, "NETBENCH_E2E_MARK": str(self.tmp)}
        env.pop("NETBENCH_CONFIG", None)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exporter.cli", "--config", str(self.config), "serve",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdout=log, stderr=log, cwd=ROOT,
            )  # fmt: skip
        with http() as client:

            def healthy() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.logs()
                try:
                    return client.get(f"{self.url}/healthz").status_code == 200
                except Exception:
                    return False

            until("netbench serve to answer /healthz", healthy, 60)
        return self

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    def post(self, body: dict[str, Any]) -> str:
        with http() as client:
            r = client.post(f"{self.url}/api/v1/sweeps", json=body, headers=AUTH)
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def sweep(self, sid: str) -> dict[str, Any]:
        with http() as client:
            r = client.get(f"{self.url}/api/v1/sweeps/{sid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def marked_pids(mark: str) -> set[int]:
    wanted = f"NETBENCH_E2E_MARK={mark}".encode()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                pids.add(int(entry.name))
        except OSError:
            continue
    return pids


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()}


def query(url: str, promql: str) -> list[dict[str, Any]]:
    with http() as client:
        r = client.get(f"{url}/api/v1/query", params={"query": promql})
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["result"])


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def make() -> Serve:
        s = Serve(tmp_path)
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.stop()
    # Whatever happened, the lab this test made is removed.
    from exporter.targets.lab import lab_clean

    lab_clean(tmp_path / "state", include_manual=True)


def test_serve_lab_sweep_prometheus_dashboards_and_kill_9(serve_factory: Any) -> None:
    require_binary("prometheus")
    before_ns = namespaces()
    serve = serve_factory()
    with verify.PrometheusServer(
        scrape_targets=[f"127.0.0.1:{serve.port}"], rule_files=[verify.RULE_FILE]
    ) as prom:
        sid = serve.post(
            {
                "profile": "quick",
                "scenarios": ["throughput", "http_rps", "latency", "service_scale", "policy",
                              "observability", "bpf_memory", "resources"],
                "rounds": 1,
                "iperf_seconds": 1,
                "http_seconds": 2,
                "scale_steps": [1000, 2000],
            }
        )  # fmt: skip
        # During: Prometheus sees the sweep running.
        until(
            "Prometheus to see the sweep running",
            lambda: query(prom.url, f'netbench_sweep_running{{cluster="{CLUSTER}"}} == 1'),
            90,
        )
        done = until(
            "the lab sweep to finish",
            lambda: (s := serve.sweep(sid))["status"] not in ("running", "queued") and s,
            600,
        )
        assert done["status"] == "succeeded", (done, serve.logs())

        # After: the series come back through Prometheus with cluster and datapath labels.
        for datapath in DATAPATHS:
            until(
                f"http RPS of {datapath} in Prometheus",
                lambda dp=datapath: query(
                    prom.url,
                    f'netbench_http_requests_per_second{{cluster="{CLUSTER}",'
                    f'datapath="{dp}",connection="short"}}',
                ),
                30,
            )
        rows = query(prom.url, f'netbench_scenario_success{{cluster="{CLUSTER}"}}')
        assert {(r["metric"]["scenario"], r["metric"]["datapath"]) for r in rows} >= {
            (s, d) for s in ("throughput", "http_rps", "latency") for d in DATAPATHS
        }
        assert all(r["value"][1] == "1" for r in rows)
        time.sleep(3)  # a few more scrapes, so rate()/changes() panels have two samples

        # Every panel and alert expression: parses, and returns data unless listed with a
        # reason in LAB_CANNOT_FEED.
        variables = {"cluster": CLUSTER, "datapath": "|".join(DATAPATHS)}
        results = verify.evaluate(
            prom.url, [*verify.panel_queries(), *verify.glance_queries()], variables
        )
        errors = [(r.panel, r.error) for r in results if r.error]
        assert errors == []
        empty = sorted({r.panel for r in results if r.n_results == 0})
        unexplained = [p for p in empty if not any(k in p for k in LAB_CANNOT_FEED)]
        print("\npanels the lab cannot feed:")
        for p in empty:
            why = next((w for k, w in LAB_CANNOT_FEED.items() if k in p), "UNEXPLAINED")
            print(f"  {p}: {why}")
        assert unexplained == []
        alert_results = verify.evaluate(prom.url, verify.alert_queries(), variables)
        assert [(r.panel, r.error) for r in alert_results if r.error] == []

    # kill -9 mid-sweep, then restart.
    sid2 = serve.post({"profile": "quick", "scenarios": ["throughput"], "datapaths": ["iptables"]})
    until("the second sweep's lab to exist", lambda: list(serve.state_dir.iterdir()), 60)
    until("the second sweep to make progress", lambda: serve.sweep(sid2)["progress"] > 0, 60)
    assert serve.proc is not None
    serve.proc.send_signal(signal.SIGKILL)
    serve.proc.wait(10)
    assert list(serve.state_dir.iterdir()), "the killed sweep's lab should still be there"

    restarted = serve_factory()
    assert restarted.sweep(sid2)["status"] == "aborted"
    assert restarted.sweep(sid)["status"] == "succeeded"
    with http() as client:
        metrics = client.get(f"{restarted.url}/metrics").text
    kept = [
        line
        for line in metrics.splitlines()
        if line.startswith("netbench_http_requests_per_second{")
        and f'cluster="{CLUSTER}"' in line
        and 'datapath="ebpf"' in line
    ]
    assert kept, "the first sweep's results must survive the kill -9 and the restart"
    # The janitor at start removed the dead sweep's lab: namespaces, processes, files.
    assert list(restarted.state_dir.iterdir()) == []
    assert namespaces() - before_ns == set()
    assert marked_pids(str(serve.tmp)) - {restarted.proc.pid if restarted.proc else -1} == set()
