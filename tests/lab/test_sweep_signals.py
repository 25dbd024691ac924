"""SIGINT or SIGKILL at any point of a real sweep, then `netbench lab clean` (SIGKILL only):
no namespace, rule, file or process of the lab may remain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_helpers import namespaces_with

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("hey", "iperf3", "nginx", "sockperf", "conntrack")


def tool_pids(state_dir: Path) -> set[int]:
    """Benchmark tools started by the sweep under test: they inherit its environment, whose
    NETBENCH_STATE_DIR names this test's own directory (other labs on the machine don't)."""
    marker = f"NETBENCH_STATE_DIR={state_dir}".encode()
    out = subprocess.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True, check=True)
    pids = set()
    for line in out.stdout.splitlines():
        pid, _, comm = line.strip().partition(" ")
        if comm.strip() not in TOOLS:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            pids.add(int(pid))
    return pids


def start_sweep(state_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NETBENCH_STATE_DIR": str(state_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "exporter.cli", "sweep", "--target", "lab", "--profile", "quick",
         "--datapath", "iptables,ebpf", "--duration", "2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    """Read stderr until a line contains needle (bounded in time and lines)."""
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(seen) < 10_000:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"never saw {needle!r}; stderr so far: {''.join(seen)[-2000:]}")


def lab_prefixes(state_dir: Path) -> set[str]:
    return {d.name for d in state_dir.iterdir()}


def all_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()}


def assert_nothing_left(
    state_dir: Path, prefixes: set[str], before: set[int], namespaces_before: set[str]
) -> None:
    """``prefixes`` may be empty when the signal came before the lab had a name."""
    assert list(state_dir.iterdir()) == []
    assert all_namespaces() - namespaces_before == set()
    for prefix in prefixes:
        assert namespaces_with(prefix) == []
        assert not Path(f"/sys/fs/cgroup/unified/netbench-{prefix}").exists()
    assert str(state_dir) not in Path("/proc/mounts").read_text()
    new = tool_pids(state_dir) - before
    assert new == set(), f"processes left: {new}"


# (point, the stderr line to wait for before the signal)
POINTS = [
    ("lab being built", "sweep"),
    ("throughput running", "iperf3: iperf3"),
    ("datapath switch to ebpf", "throughput on ebpf"),
    ("http run", "hey: hey"),
]


@pytest.mark.parametrize(("point", "needle"), POINTS, ids=[p for p, _ in POINTS])
def test_sigint_at_any_point_cleans_up_by_itself(tmp_path: Path, point: str, needle: str) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    before, namespaces_before = tool_pids(state_dir), all_namespaces()
    proc = start_sweep(state_dir, "--scenarios", "throughput,http_rps")
    try:
        wait_for_line(proc, needle, 120)
        prefixes = lab_prefixes(state_dir)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert_nothing_left(state_dir, prefixes, before, namespaces_before)


@pytest.mark.parametrize(("point", "needle"), POINTS, ids=[p for p, _ in POINTS])
def test_sigkill_at_any_point_then_lab_clean(tmp_path: Path, point: str, needle: str) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    before, namespaces_before = tool_pids(state_dir), all_namespaces()
    proc = start_sweep(state_dir, "--scenarios", "throughput,http_rps")
    try:
        wait_for_line(proc, needle, 120)
        prefixes = lab_prefixes(state_dir)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    prefixes |= lab_prefixes(state_dir)
    env = {**os.environ, "NETBENCH_STATE_DIR": str(state_dir)}
    clean = subprocess.run(
        [sys.executable, "-m", "exporter.cli", "lab", "clean"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    # Tools the killed sweep had running were in the lab's namespaces or cgroup: gone too.
    deadline = time.monotonic() + 10
    while tool_pids(state_dir) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert_nothing_left(state_dir, prefixes, before, namespaces_before)
