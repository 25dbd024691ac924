#!/usr/bin/env python3
"""Fidelity: does netbench report what the tool itself says?

The same tool command is run directly (``ip netns exec <client pod> ...``, its output read with
an independent few-line parser here) and through netbench (target.run -> adapter parse ->
scenario sample), interleaved pair by pair with alternating order, on one lab. The ratio of the
medians must stay within 3%: the pipeline adds no overhead and no bias.

Usage (root): python bench/fidelity.py [--pairs 9] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.scenarios.base import RoundContext  # noqa: E402
from exporter.scenarios.http import http_url, run_http  # noqa: E402
from exporter.scenarios.throughput import Throughput, ThroughputVariant  # noqa: E402
from exporter.settings import Durations, LabSettings  # noqa: E402
from exporter.targets.lab import LabTarget  # noqa: E402
from exporter.tools import hey, iperf3  # noqa: E402

TOLERANCE = 0.03


def direct(lab: LabTarget, argv: list[str], timeout: float) -> str:
    ns = f"{lab.prefix}-pod-cli"
    out = subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise SystemExit(f"direct run failed: {out.stderr[-500:]}")
    return out.stdout


def iperf3_direct(text: str) -> float:
    return float(json.loads(text)["end"]["sum_received"]["bits_per_second"]) / 8


def hey_direct(text: str) -> float:
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if not m:
        raise SystemExit("no Requests/sec in hey output")
    return float(m.group(1))


def compare(
    name: str, pairs: int, run_direct: Callable[[], float], run_netbench: Callable[[], float]
) -> tuple[str, float, float, float]:
    d: list[float] = []
    n: list[float] = []
    for i in range(pairs):
        order = (run_direct, run_netbench) if i % 2 == 0 else (run_netbench, run_direct)
        for fn in order:
            (d if fn is run_direct else n).append(fn())
        print(f"  {name} pair {i + 1}: direct {d[-1]:,.0f}  netbench {n[-1]:,.0f}", flush=True)
    md, mn = statistics.median(d), statistics.median(n)
    return name, md, mn, mn / md


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="netbench-fidelity-"))
    ctx = RoundContext(
        durations=Durations(iperf_seconds=args.seconds, http_seconds=args.seconds,
                            warmup_seconds=1, round_sleep_seconds=0),
        round_index=0, rounds=1, cancel=threading.Event(),
    )  # fmt: skip
    rows = []
    with LabTarget(LabSettings(state_dir=state, datapaths=("iptables",))) as lab:
        ep = lab.endpoints()
        spec = iperf3.Iperf3Spec(server=ep.server_pod, port=ep.iperf3_port, seconds=args.seconds,
                                 streams=8, omit_seconds=1)  # fmt: skip
        throughput = Throughput((ThroughputVariant("pod2pod", 8),))
        rows.append(compare(
            "iperf3 pod2pod x8 (bytes/s)", args.pairs,
            lambda: iperf3_direct(direct(lab, iperf3.build_command(spec), args.seconds + 30)),
            lambda: throughput.run_round(lab, ctx)[0].value,
        ))  # fmt: skip
        url = http_url(ep.service_vip, ep.http_port)
        hspec = hey.HeySpec(url=url, concurrency=64, duration_seconds=args.seconds)
        rows.append(compare(
            "hey svc c64 keepalive (req/s)", args.pairs,
            lambda: hey_direct(direct(lab, hey.build_command(hspec), args.seconds + 30)),
            lambda: run_http(lab, ctx, url=url, concurrency=64, keepalive=True,
                             seconds=args.seconds).result.requests_per_second,
        ))  # fmt: skip
    print(f"\n{'figure':32} {'direct':>14} {'netbench':>14} {'ratio':>7}")
    ok = True
    for name, md, mn, ratio in rows:
        within = abs(ratio - 1) <= TOLERANCE
        ok &= within
        print(f"{name:32} {md:14,.0f} {mn:14,.0f} {ratio:7.3f} {'PASS' if within else 'FAIL'}")
    print(f"(median of {args.pairs} interleaved pairs each; tolerance ±{TOLERANCE:.0%})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
