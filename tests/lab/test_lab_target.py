"""The lab on real kernel datapaths (root). Each test builds its own lab in seconds."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lab_helpers import namespaces_with

from exporter.targets.base import Role
from exporter.targets.lab import LabTarget, clean, lab_down, lab_status, rules
from exporter.targets.lab.janitor import read_owner
from exporter.targets.lab.procs import SubprocessRunner, is_alive

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


def hey(lab: LabTarget, role: Role, url: str, n: int = 50, short: bool = True) -> str:
    argv = ["hey", "-n", str(n), "-c", "5", "-t", "5"]
    if short:
        argv.append("-disable-keepalive")
    res = lab.run(role, [*argv, url], timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


def ok_responses(out: str) -> int:
    m = re.search(r"\[200\]\s+(\d+) responses", out)
    return int(m.group(1)) if m else 0


def dnat_seen(lab: LabTarget, vip: str, port: int, backend: str) -> bool:
    res = lab.run(
        Role.CLIENT_NODE,
        ["conntrack", "-L", "-p", "tcp", "--orig-dst", vip, "--orig-port-dst", str(port)],
        timeout=15,
    )
    return f"src={backend}" in res.stdout


@pytest.mark.parametrize("routing", ["native", "vxlan"])
def test_both_datapaths_dnat_on_both_routings(
    make_lab: Callable[..., LabTarget], routing: str
) -> None:
    lab = make_lab(routing=routing)
    ep = lab.endpoints()
    assert lab.info()["tunnel_protocol"] == ("vxlan" if routing == "vxlan" else "disabled")
    for datapath in ("iptables", "nftables"):
        lab.use_datapath(datapath)
        assert lab.info()["kube_proxy_mode"] == datapath
        report = lab.install_services(20, 4, 60)
        assert report.services == 20
        # pod2pod, service VIP from the pod and from the node (OUTPUT chain)
        assert ok_responses(hey(lab, Role.CLIENT_POD, f"http://{ep.server_pod}/")) == 50
        before = lab.http_accepted_connections()
        assert ok_responses(hey(lab, Role.CLIENT_POD, f"http://{ep.service_vip}/")) == 50
        after = lab.http_accepted_connections()
        assert after - before - 1 >= 50  # one connection per request (+1: the status read)
        assert dnat_seen(lab, ep.service_vip, ep.http_port, ep.server_pod)
        assert ok_responses(hey(lab, Role.CLIENT_NODE, f"http://{ep.service_vip}/", n=10)) == 10
        # keepalive really reuses connections
        before = lab.http_accepted_connections()
        hey(lab, Role.CLIENT_POD, f"http://{ep.service_vip}/", n=200, short=False)
        assert lab.http_accepted_connections() - before - 1 <= 10
        # host-to-host baseline and the Service's iperf3/sockperf ports
        for role, server in ((Role.CLIENT_NODE, ep.server_node), (Role.CLIENT_POD, ep.service_vip)):
            res = lab.run(role, ["iperf3", "-c", server, "-t", "1", "-J"], timeout=20)
            assert res.returncode == 0, res.stdout[-500:]
        res = lab.run(
            Role.CLIENT_POD,
            ["sockperf", "ping-pong", "--tcp", "-i", ep.service_vip, "-p", str(ep.sockperf_port),
             "-t", "1"],
            timeout=20,
        )  # fmt: skip
        assert res.returncode == 0 and "avg-lat" in res.stdout


def test_switching_removes_the_other_datapath(make_lab: Callable[..., LabTarget]) -> None:
    lab = make_lab(routing="native")
    lab.use_datapath("nftables")
    nat = lab.run(Role.CLIENT_NODE, ["nft", "list", "ruleset"], timeout=15).stdout
    assert "kube-proxy" in nat and "KUBE-SERVICES" not in nat and "table ip nat" not in nat
    lab.use_datapath("iptables")
    nat = lab.run(Role.CLIENT_NODE, ["nft", "list", "ruleset"], timeout=15).stdout
    assert "table ip kube-proxy" not in nat and "KUBE-SERVICES" in nat


def test_run_times_out_and_kills_the_process_group(make_lab: Callable[..., LabTarget]) -> None:
    from exporter.errors import ToolExecutionError

    lab = make_lab()
    started = time.monotonic()
    with pytest.raises(ToolExecutionError, match="timeout"):
        lab.run(Role.CLIENT_POD, ["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
    assert time.monotonic() - started < 5
    pids = subprocess.run(
        ["ip", "netns", "pids", f"{lab.prefix}-pod-cli"], capture_output=True, text=True, timeout=10
    ).stdout.split()
    assert pids == []
    res = lab.run(Role.CLIENT_POD, ["sh", "-c", "exit 3"], timeout=5)
    assert res.returncode == 3


def test_30000_services_and_short_connection_rps(make_lab: Callable[..., LabTarget]) -> None:
    lab = make_lab()
    ep = lab.endpoints()
    url = f"http://{ep.service_vip}/"
    rps: dict[int, float] = {}
    for count in (0, 30000):
        report = lab.install_services(count, 4, 300)
        assert report.entries == rules.iptables_expected(rules.lab_services(count, 4))
        print(f"\niptables {count} Services: {dict(report.entries)} in {report.seconds:.1f} s")
        res = lab.run(
            Role.CLIENT_POD, ["hey", "-z", "3s", "-c", "16", "-disable-keepalive", url], timeout=30
        )
        rps[count] = float(re.search(r"Requests/sec:\s+([\d.]+)", res.stdout).group(1))  # type: ignore[union-attr]
        print(f"iptables short-connection RPS at {count} Services: {rps[count]:.0f}")
    lab.use_datapath("nftables")
    for count in (30000, 0):
        report = lab.install_services(count, 4, 300)
        assert report.entries == {"lb_entries": count + 4}
        print(f"nftables {count} Services: {dict(report.entries)} in {report.seconds:.1f} s")
        if count:
            res = lab.run(
                Role.CLIENT_POD,
                ["hey", "-z", "3s", "-c", "16", "-disable-keepalive", url],
                timeout=30,
            )
            print(
                "nftables short-connection RPS at 30000:",
                re.findall(r"Requests/sec:\s+\S+", res.stdout),
            )


_CHILD = """
import sys, time
from pathlib import Path
from exporter.settings import LabSettings
from exporter.targets.lab import LabTarget
lab = LabTarget(LabSettings(state_dir=Path(sys.argv[1]), prefix=sys.argv[2]))
lab.build()
print("ready", flush=True)
time.sleep(120)
"""


def test_sigkilled_owner_is_cleaned_by_the_janitor(state_dir: Path) -> None:
    prefix = "nbk" + format(os.getpid() % 4096, "03x")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(state_dir), prefix],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        rec = read_owner(state_dir / prefix)
        assert rec is not None and len(rec.servers) == 4
        assert len(namespaces_with(prefix)) == 4
        # a live owner is never touched
        report = clean(state_dir, include_manual=True, runner=SubprocessRunner())
        assert prefix in report.kept
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    [st] = lab_status(state_dir)
    assert st.prefix == prefix and not st.owner_alive
    report = clean(state_dir, runner=SubprocessRunner())
    assert report.removed == (prefix,), report
    assert namespaces_with(prefix) == []
    assert not (state_dir / prefix).exists()
    assert not any(is_alive(s.pid, s.start_time) for s in rec.servers)


def test_lab_up_survives_its_command_and_lab_down_removes_it(state_dir: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from exporter.settings import LabSettings; "
        "from exporter.targets.lab import lab_up; "
        "print(lab_up(LabSettings(state_dir=Path(sys.argv[1]), routing='vxlan')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    prefix = out.stdout.strip()
    rec = read_owner(state_dir / prefix)
    assert rec is not None and rec.persistent
    assert all(is_alive(s.pid, s.start_time) for s in rec.servers)
    res = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            f"{prefix}-pod-cli",
            "hey",
            "-n",
            "5",
            "-c",
            "1",
            "http://198.19.0.1/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok_responses(res.stdout) == 5
    assert clean(state_dir, runner=SubprocessRunner()).kept == (prefix,)
    assert lab_down(state_dir) == prefix
    assert namespaces_with(prefix) == []
    assert not any(is_alive(s.pid, s.start_time) for s in rec.servers)
