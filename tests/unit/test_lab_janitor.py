"""Janitor and target decisions with a fake /proc and a fake command runner (no root)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from exporter.errors import ConfigError, LabError
from exporter.settings import LabSettings
from exporter.targets.base import CommandResult, Role
from exporter.targets.lab import janitor, lab_down, plan, rules
from exporter.targets.lab.janitor import OwnerRecord, ServerRecord, write_owner
from exporter.targets.lab.procs import is_alive, start_time
from exporter.targets.lab.target import (
    LabTarget,
    conntrack_time_wait_seconds,
    listening_ports,
    nginx_config,
    parse_stub_status,
)


def fake_proc(root: Path, pid: int, start: int, state: str = "S") -> None:
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    rest = [state] + ["0"] * 18 + [str(start)] + ["0"] * 10
    (d / "stat").write_text(f"{pid} (some (odd) name) {' '.join(rest)}\n")


class FakeRunner:
    def __init__(self, namespaces: Sequence[str] = (), pids: dict[str, list[int]] | None = None):
        self.namespaces = set(namespaces)
        self.pids = pids or {}
        self.calls: list[tuple[str, ...]] = []
        self.inputs: list[str | None] = []
        self.spawned: list[tuple[str, ...]] = []
        self.proc: Path | None = None
        self._saved = ""
        self._nft = ""

    def run(
        self, argv: Sequence[str], *, timeout: float, input: str | None = None
    ) -> CommandResult:
        a = tuple(argv)
        self.calls.append(a)
        self.inputs.append(input)
        out = ""
        if a[:3] == ("ip", "netns", "list"):
            out = "".join(f"{n} (id: 1)\n" for n in sorted(self.namespaces))
        elif a[:3] == ("ip", "netns", "add"):
            self.namespaces.add(a[3])
        elif a[:3] == ("ip", "netns", "delete"):
            self.namespaces.discard(a[3])
        elif a[:3] == ("ip", "netns", "pids"):
            out = "\n".join(str(p) for p in self.pids.pop(a[3], []))
        elif "ss" in a:
            out = "".join(
                f"LISTEN 0 4096 198.18.64.2:{p} 0.0.0.0:*\n"
                for p in (80, 5201, 11111, plan.STATUS_PORT)
            )
        elif a[-2:] == ("-w", "5") and input is not None:
            self._saved = input
        elif a[-2:] == ("-t", "nat"):
            out = self._saved
        elif "nft" in a and "-f" in a and input is not None:
            self._nft = input
        elif "nft" in a and "-j" in a:
            n = sum(ln.count(" : goto ") for ln in self._nft.splitlines() if "add element" in ln)
            out = json.dumps({"nftables": [{"map": {"name": "service-ips", "elem": [0] * n}}]})
        return CommandResult(a, 0, out, "", 0.0)

    def spawn(self, argv: Sequence[str], *, log: Path) -> int:
        self.spawned.append(tuple(argv))
        pid = 50000 + len(self.spawned)
        assert self.proc is not None
        fake_proc(self.proc, pid, 777)
        return pid


def record(prefix: str, pid: int, start: int | None, persistent: bool = False) -> OwnerRecord:
    return OwnerRecord(
        prefix=prefix,
        pid=pid,
        start_time=start,
        persistent=persistent,
        namespaces=list(plan.LabNames(prefix).namespaces),
    )


def make_lab(state: Path, rec: OwnerRecord) -> Path:
    d = state / rec.prefix
    d.mkdir(parents=True)
    write_owner(d, rec)
    return d


def test_start_time_parses_comm_with_parentheses(tmp_path: Path) -> None:
    fake_proc(tmp_path, 42, 1234)
    assert start_time(42, tmp_path) == 1234
    assert is_alive(42, 1234, tmp_path)
    assert not is_alive(42, 999, tmp_path)  # PID reused by another process
    assert not is_alive(43, None, tmp_path)
    fake_proc(tmp_path, 44, 5, state="Z")
    assert not is_alive(44, 5, tmp_path)


def test_real_proc_start_time_of_this_process() -> None:
    assert start_time(os.getpid()) is not None


def test_janitor_removes_dead_keeps_live_and_manual(tmp_path: Path) -> None:
    proc, state = tmp_path / "proc", tmp_path / "state"
    fake_proc(proc, 100, 5000)  # live owner
    fake_proc(proc, 200, 6000)  # PID 200 now belongs to someone else
    dead = make_lab(state, record("nb0001", 200, 1))
    make_lab(state, record("nb0002", 100, 5000))
    make_lab(state, record("nb0003", 300, 7, persistent=True))
    dead_rec = janitor.read_owner(dead)
    assert dead_rec is not None
    dead_rec.servers.append(ServerRecord("nginx", 201, 9, "nb0001-pod-srv"))
    write_owner(dead, dead_rec)
    foreign = ["other-ns", "nb0001-node-x", "nb9999-node-a"]
    ours = list(plan.LabNames("nb0001").namespaces)
    live = list(plan.LabNames("nb0002").namespaces)
    runner = FakeRunner([*foreign, *ours, *live], pids={"nb0001-pod-srv": [201, 202]})
    killed: list[tuple[int, int]] = []
    report = janitor.clean(
        state,
        runner=runner,
        proc=proc,
        kill=lambda pid, sig: killed.append((pid, sig)),
        sleep=lambda _s: None,
    )
    assert report.removed == ("nb0001",)
    assert set(report.kept) == {"nb0002", "nb0003"}
    assert report.errors == ()
    assert not dead.exists()
    assert runner.namespaces == {*foreign, *live}
    deleted = [c[3] for c in runner.calls if c[:3] == ("ip", "netns", "delete")]
    assert sorted(deleted) == sorted(ours)
    assert {p for p, _ in killed} == {201, 202}  # only processes inside its namespaces

    report = janitor.clean(state, True, runner=runner, proc=proc, sleep=lambda _s: None)
    assert report.removed == ("nb0003",)
    assert (state / "nb0002").exists()


def test_janitor_waits_before_touching_an_unrecorded_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "nb00aa").mkdir(parents=True)
    (state / "not-a-lab").mkdir()
    runner = FakeRunner()
    mtime = (state / "nb00aa").stat().st_mtime
    report = janitor.clean(state, runner=runner, now=lambda: mtime + 1)
    assert report.kept == ("nb00aa",)
    report = janitor.clean(state, runner=runner, now=lambda: mtime + 3600)
    assert report.removed == ("nb00aa",)
    assert (state / "not-a-lab").exists()


def test_status_lists_labs(tmp_path: Path) -> None:
    proc, state = tmp_path / "proc", tmp_path / "state"
    fake_proc(proc, 100, 5000)
    rec = record("nb0002", 100, 5000)
    rec.datapath, rec.routing = "nftables", "vxlan"
    make_lab(state, rec)
    runner = FakeRunner(["nb0002-node-a", "nb0002-pod-cli"])
    [st] = janitor.status(state, runner=runner, proc=proc)
    assert st.prefix == "nb0002" and st.owner_alive and st.datapath == "nftables"
    assert st.namespaces_present == ("nb0002-node-a", "nb0002-pod-cli")


def test_lab_down_refuses_a_live_sweep_lab(tmp_path: Path) -> None:
    state = tmp_path / "state"
    make_lab(state, record("nb0002", os.getpid(), start_time(os.getpid())))
    with pytest.raises(LabError, match="running process"):
        lab_down(state, "nb0002", runner=FakeRunner())
    with pytest.raises(LabError, match="0 manual labs"):
        lab_down(state, runner=FakeRunner())


def test_target_builds_and_closes_with_generated_commands(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.proc = tmp_path / "proc"
    settings = LabSettings(state_dir=tmp_path / "state", prefix="nbabcd", routing="vxlan")
    killed: list[tuple[int, int]] = []
    lab = LabTarget(
        settings,
        runner=runner,
        sleep=lambda _s: None,
        proc=runner.proc,
        kill=lambda pid, sig: killed.append((pid, sig)),
    )
    with lab:
        owner = json.loads((tmp_path / "state" / "nbabcd" / "owner.json").read_text())
        assert owner["pid"] == os.getpid() and owner["datapath"] == "iptables"
        assert len(owner["servers"]) == 4
        assert set(runner.namespaces) == set(plan.LabNames("nbabcd").namespaces)
        # veths are created inside namespaces, never in the root one
        adds = [c for c in runner.calls if "link" in c and "add" in c]
        assert adds and all(c[:3] in {("ip", "-n", ns) for ns in runner.namespaces} for c in adds)
        assert any("vxlan" in c for c in adds)
        sysctls = [c for c in runner.calls if "sysctl" in c]
        assert any(
            "nbabcd-pod-cli" in c and "net.ipv4.ip_local_port_range=1024 65535" in c
            for c in sysctls
        )
        every_addr = " ".join(" ".join(c) for c in runner.calls)
        for literal in set(every_addr.split()):
            for part in literal.split("/")[:1]:
                if part.count(".") == 3 and part.replace(".", "").isdigit():
                    assert plan.in_lab_range(part), literal
        assert runner.spawned[0][-2] == "-e"  # nginx with our error log
        report = lab.install_services(10, 4, 30)
        assert report.entries == rules.iptables_expected(rules.lab_services(10, 4))
        lab.use_datapath("nftables")
        assert lab.datapath == "nftables"
        assert lab.install_services(5, 4, 30).entries == {"lb_entries": 9}
        assert lab.info()["kube_proxy_mode"] == "nftables"
        assert lab.info()["tunnel_protocol"] == "vxlan"
        res = lab.run(Role.CLIENT_NODE, ["true"], 5)
        assert res.argv == ("ip", "netns", "exec", "nbabcd-node-b", "true")
    assert runner.namespaces == set()
    assert not (tmp_path / "state" / "nbabcd").exists()
    assert {abs(p) for p, _ in killed} == {50001, 50002, 50003, 50004}  # by recorded PID only


def test_target_cleans_up_when_setup_fails(tmp_path: Path) -> None:
    class Failing(FakeRunner):
        def run(
            self, argv: Sequence[str], *, timeout: float, input: str | None = None
        ) -> CommandResult:
            if "vxlan" in argv:
                raise KeyboardInterrupt
            return super().run(argv, timeout=timeout, input=input)

    runner = Failing()
    runner.proc = tmp_path / "proc"
    settings = LabSettings(state_dir=tmp_path, prefix="nbdead", routing="vxlan")
    with pytest.raises(KeyboardInterrupt), LabTarget(settings, runner=runner, proc=runner.proc):
        pass
    assert runner.namespaces == set()
    assert not (tmp_path / "nbdead").exists()


def test_bad_datapath_or_prefix_is_a_config_error() -> None:
    LabTarget(LabSettings(datapaths=("ebpf",)))  # built lazily: constructing touches nothing
    with pytest.raises(ConfigError, match="cannot run 'ipvs'"):
        LabTarget(LabSettings(datapaths=("ipvs",)))
    with pytest.raises(ConfigError, match="prefix"):
        LabTarget(LabSettings(prefix="Bad-Prefix"))


def test_helpers() -> None:
    assert (
        parse_stub_status(
            "Active connections: 1 \nserver accepts handled requests\n 17 17 20 \nReading: 0\n"
        )
        == 17
    )
    with pytest.raises(LabError):
        parse_stub_status("<html>")
    assert listening_ports("LISTEN 0 511 198.18.64.2:80 0.0.0.0:*\nLISTEN 0 5 *:5201 *:*\n") == {
        80,
        5201,
    }
    assert conntrack_time_wait_seconds(262144) == 5
    assert conntrack_time_wait_seconds(10) == 1
    assert conntrack_time_wait_seconds(10**9) == 120
    conf = nginx_config(Path("/run/netbench/nb1234"))
    assert "daemon off;" in conf and "access_log off;" in conf and "stub_status;" in conf
    assert "pid /run/netbench/nb1234/nginx.pid;" in conf
    body = conf.split('return 200 "')[1].split('";')[0].replace("\\n", "\n")
    assert len(body.encode()) == 512
