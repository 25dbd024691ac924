"""eBPF datapath, policy, flow observer and their cleanup, on real namespaces (root)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lab_helpers import namespaces_with

from exporter.errors import ObservabilityNotToggled, PolicyNotRealized
from exporter.targets.base import Role
from exporter.targets.lab import LabTarget, clean
from exporter.targets.lab import ebpf as lab_ebpf
from exporter.targets.lab.features import FLOW_TABLE, POLICY_TABLE
from exporter.targets.lab.plan import NsRole
from exporter.targets.lab.procs import SubprocessRunner, is_alive
from exporter.tools import hey

pytestmark = pytest.mark.lab


ROOT = Path(__file__).resolve().parents[2]

PEER_SCRIPT = (
    "import socket\n"
    "s=socket.create_connection(('198.19.0.1',80),timeout=3)\n"
    "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
    "print(s.getpeername()[0], s.recv(12).decode())\n"
)


def test_ebpf_socket_lb_rewrites_connect_and_shows_the_vip(
    make_lab: Callable[..., LabTarget],
) -> None:
    lab = make_lab(datapaths=("ebpf",))
    res = lab.run(Role.CLIENT_POD, [sys.executable, "-c", PEER_SCRIPT], timeout=20)
    assert res.returncode == 0, res.stderr
    # getpeername4 restores the VIP the client dialled; the server answered.
    assert res.stdout.split() == ["198.19.0.1", "HTTP/1.1", "200"]
    report = lab.install_services(2000, 4, 60)
    assert report.entries == {"lb_entries": 2004, "bpf_map_entries": 2004 + 2000 * 4 + 4}
    # node-b holds no netfilter NAT at all: the datapath is the socket LB alone.
    nat = subprocess.run(
        ["ip", "netns", "exec", f"{lab.prefix}-node-b", "nft", "list", "ruleset"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert "dnat" not in nat.stdout


def test_switching_away_from_ebpf_detaches_everything(
    make_lab: Callable[..., LabTarget],
) -> None:
    lab = make_lab(datapaths=("ebpf", "iptables"))
    cgroup = lab_ebpf.cgroup2_root() / lab_ebpf.cgroup_name(lab.prefix)
    assert cgroup.exists()
    lab.use_datapath("iptables")
    assert not cgroup.exists()
    assert not os.path.ismount(lab.state / "bpffs")
    res = lab.run(Role.CLIENT_POD, [sys.executable, "-c", PEER_SCRIPT], timeout=20)
    assert res.stdout.split()[1:] == ["HTTP/1.1", "200"]


def _nft_delete(lab: LabTarget, what: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", f"{lab.prefix}-node-a", "nft", "delete", *what.split()],
        check=True, timeout=30,
    )  # fmt: skip


def test_policies_are_realized_and_a_broken_one_is_caught(
    make_lab: Callable[..., LabTarget],
) -> None:
    lab = make_lab(datapaths=("iptables",))
    lab.apply_policy("l3l4")
    # Sabotage: the drop rule disappears behind the policy's back -> not realized.
    _nft_delete(lab, f"table ip {POLICY_TABLE}")
    with pytest.raises(PolicyNotRealized, match="denied source was not dropped"):
        lab._policy.verify()

    lab.apply_policy("l7")
    before = lab.policy_proxy_requests()
    res = lab.run(Role.CLIENT_POD, ["hey", "-n", "20", "-c", "2", "http://198.18.64.2/"], 30)
    assert "[200]\t20 responses" in res.stdout
    assert lab.policy_proxy_requests() - before >= 20
    # Sabotage: bypass the proxy (drop the redirect) -> a POST reaches the server -> caught.
    _nft_delete(lab, f"chain ip {POLICY_TABLE} l7_redirect")
    with pytest.raises(PolicyNotRealized, match="POST got '200'"):
        lab._policy.verify()

    lab.apply_policy("none")
    assert lab.spawned_pids("l7-proxy") == []


def test_observer_toggle_is_verified_both_ways(make_lab: Callable[..., LabTarget]) -> None:
    lab = make_lab(datapaths=("nftables",))
    lab.set_observability(True)
    assert lab._observer.events() > 0
    lab.set_observability(False)
    assert lab.spawned_pids("flow-reader") == []
    assert lab._observer.events() == 0

    lab.set_observability(True)
    # Sabotage: the reader dies -> "on" can no longer be verified.
    for pid in lab.spawned_pids("flow-reader"):
        os.kill(pid, signal.SIGKILL)
    lab._observer.events_file.write_text("")
    _nft_delete(lab, f"table inet {FLOW_TABLE}")
    with pytest.raises(ObservabilityNotToggled, match="no flow event"):
        lab._observer.verify()


_CHILD = """
import sys, time
from pathlib import Path
from exporter.settings import LabSettings
from exporter.targets.lab import LabTarget
lab = LabTarget(LabSettings(state_dir=Path(sys.argv[1]), prefix=sys.argv[2],
                            datapaths=("ebpf",), routing="vxlan"))
lab.build()
lab.install_services(100, 4, 30)
lab.apply_policy("l7")
lab.set_observability(True)
print("ready", flush=True)
time.sleep(120)
"""


def test_sigkill_with_everything_on_leaves_nothing_after_the_janitor(state_dir: Path) -> None:
    prefix = "nbe" + format(os.getpid() % 4096, "03x")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(state_dir), prefix],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    cgroup = lab_ebpf.cgroup2_root() / lab_ebpf.cgroup_name(prefix)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        assert cgroup.exists()
        assert os.path.ismount(state_dir / prefix / "bpffs")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    from exporter.targets.lab.janitor import read_owner

    rec = read_owner(state_dir / prefix)
    assert rec is not None
    names = {s.name for s in rec.servers}
    assert {"l7-proxy", "flow-reader", "nginx"} <= names
    report = clean(state_dir, runner=SubprocessRunner())
    assert report.removed == (prefix,), report
    assert namespaces_with(prefix) == []
    assert not cgroup.exists()
    assert not (state_dir / prefix).exists()
    assert not any(is_alive(s.pid, s.start_time) for s in rec.servers)
    mounts = Path("/proc/mounts").read_text()
    assert str(state_dir / prefix) not in mounts
    assert NsRole.NODE_A  # the namespaces above cover every role


def _tcp_ext(lab: LabTarget, role: NsRole, counter: str) -> int:
    """One TcpExt counter of a lab namespace (/proc/net/netstat is per network namespace)."""
    text = subprocess.run(
        ["ip", "netns", "exec", lab.names.ns(role), "cat", "/proc/net/netstat"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout  # fmt: skip
    header, values = [line.split() for line in text.splitlines() if line.startswith("TcpExt:")]
    return int(dict(zip(header, values, strict=True))[counter])


def test_switching_datapaths_leaves_no_paws_rejects_on_the_server(
    make_lab: Callable[..., LabTarget],
) -> None:
    """The socket LB dials the backend, DNAT dials the VIP: with per-destination timestamp
    offsets a switch made 10-20% of the next datapath's SYNs fail PAWS against the previous
    run's TIME_WAIT sockets (10 ms retries). Short runs back to back across switches must not."""
    lab = make_lab(datapaths=("ebpf", "nftables"))
    url = f"http://{lab.endpoints().service_vip}/"
    before = _tcp_ext(lab, NsRole.SERVER_POD, "PAWSTimewait")
    served = 0
    # ~10k connections/s over ~32k even ephemeral ports: the second run already reuses
    # 4-tuples whose TIME_WAIT (60 s) the first left on the server.
    for datapath in ("ebpf", "nftables", "ebpf"):
        lab.use_datapath(datapath)
        spec = hey.HeySpec(url=url, concurrency=32, duration_seconds=3, keepalive=False)
        res = lab.run(Role.CLIENT_POD, hey.build_command(spec), timeout=30)
        assert res.returncode == 0, res.stderr
        served += hey.parse(res.stdout).status_codes[200]
    assert served > 40_000, f"only {served} connections: too few to wrap the port range"
    assert _tcp_ext(lab, NsRole.SERVER_POD, "PAWSTimewait") - before == 0
