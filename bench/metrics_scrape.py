#!/usr/bin/env python3
"""/metrics latency and idle RSS of ``netbench serve``.

Fills a fresh history with one successful sweep holding many series (model data built with
``Summary.of``: this measures the exporter, not a datapath), starts the real ``netbench serve``
on 127.0.0.1 with no schedule, lets it settle, reads its idle RSS, then times N scrapes of
/metrics over one keep-alive connection and prints p50/p90/p99/max, the number of series and
the payload size. Aims (issue 3): p99 under 10 ms with >= 2,000 series, RSS under 80 MiB.

Usage: python bench/metrics_scrape.py [--scrapes 1000] [--steps 350] [--datapaths 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from exporter.model import (  # noqa: E402
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.store import Store  # noqa: E402

DATAPATHS = ("iptables", "nftables", "ebpf")


def fill(db: Path, steps: int, datapaths: int) -> int:
    """One sweep with ``steps`` x 2 connections x ``datapaths`` value series. Returns that count."""
    store = Store(db)
    now = time.time()
    store.create_sweep(
        "bench", cluster="bench", target="lab", profile="full", trigger="cli", started_at=now - 60
    )
    outcomes = []
    count = 0
    for dp in DATAPATHS[:datapaths]:
        ms = []
        for i in range(steps):
            services = str(100 * (i + 1))
            for conn in ("keepalive", "short"):
                values = [1000.0 + i, 1010.0 + i, 990.0 + i]
                ms.append(
                    Measurement(
                        "service_scale",
                        dp,
                        "service_scale_requests_per_second",
                        labels_of({"services": services, "connection": conn}),
                        tuple(values),
                        Summary.of(values),
                    )
                )
                count += 1
        outcome = ScenarioOutcome("service_scale", dp, True, tuple(ms), finished_at=now)
        store.record_outcome("bench", "bench", outcome)
        outcomes.append(outcome)
    store.finish_sweep(
        SweepResult(
            id="bench",
            target="lab",
            cluster="bench",
            profile="full",
            trigger="cli",
            datapaths=DATAPATHS[:datapaths],
            routing="native",
            scenarios=("service_scale",),
            started_at=now - 60,
            finished_at=now,
            status=SweepStatus.SUCCEEDED,
            outcomes=outcomes,
            info={dp: {"kube_proxy_mode": dp} for dp in DATAPATHS[:datapaths]},
        )
    )
    store.close()
    return count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def netbench_command() -> list[str]:
    script = Path(sys.executable).parent / "netbench"
    if script.exists():
        return [str(script)]
    found = shutil.which("netbench")
    if found:
        return [found]
    return [sys.executable, "-m", "exporter.cli"]


def pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=350)
    parser.add_argument("--datapaths", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before idle RSS")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="netbench-bench-") as tmp:
        db = Path(tmp) / "history.db"
        series = fill(db, args.steps, args.datapaths)
        config = Path(tmp) / "netbench.yaml"
        config.write_text(
            "cluster: bench\n"
            f"lab: {{state_dir: {tmp}/state}}\n"
            f"exporter: {{db_path: {db}, schedules: [], log_level: WARNING}}\n"
        )
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETBENCH_")}
        proc = subprocess.Popen(
            [
                *netbench_command(),
                "--config",
                str(config),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(timeout=10.0, trust_env=False) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if client.get(f"{url}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if proc.poll() is not None or time.monotonic() > deadline:
                        print("netbench serve did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.1)
                time.sleep(args.settle)
                idle_rss = rss_mib(proc.pid)
                first = client.get(f"{url}/metrics")
                first.raise_for_status()
                samples = [ln for ln in first.text.splitlines() if ln and ln[0] != "#"]
                timings = []
                for _ in range(args.scrapes):
                    t0 = time.perf_counter()
                    r = client.get(f"{url}/metrics")
                    r.read()
                    timings.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
                time.sleep(args.settle)
                after_rss = rss_mib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        timings.sort()
        print(
            f"value series: {series}  samples per scrape: {len(samples)}  "
            f"payload: {len(first.content) / 1024:.0f} KiB"
        )
        print(
            f"/metrics over {args.scrapes} scrapes (ms): p50 {pct(timings, 50):.2f}  "
            f"p90 {pct(timings, 90):.2f}  p99 {pct(timings, 99):.2f}  max {timings[-1]:.2f}  "
            f"mean {statistics.fmean(timings):.2f}"
        )
        print(
            f"RSS of netbench serve (MiB): idle {idle_rss:.1f}, after the scrapes {after_rss:.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
