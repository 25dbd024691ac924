"""The lab target: a two-node Kubernetes-shaped cluster made of network namespaces.

    client pod --veth-- node-b ==underlay veth (or VXLAN over it)== node-a --veth-- server pod
    198.18.65.2    .65.1  198.18.0.2                            198.18.0.1  .64.1   198.18.64.2

Services are programmed in node-b, where kube-proxy would DNAT the client pod's traffic. See
docs/lab.md for the address plan, datapaths, sysctls and the janitor.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from exporter import __version__
from exporter.errors import (
    ConfigError,
    DatapathNotProgrammed,
    LabError,
    ToolExecutionError,
)
from exporter.settings import LabSettings
from exporter.targets.base import (
    CommandResult,
    ComponentUsage,
    Endpoints,
    ProgrammingReport,
    Role,
)
from exporter.targets.lab import features, plan, rules, stub_status
from exporter.targets.lab.datapaths import DATAPATHS, Datapath, EbpfDatapath
from exporter.targets.lab.ebpf import SocketLB
from exporter.targets.lab.janitor import (
    OwnerRecord,
    ServerRecord,
    list_namespaces,
    remove_lab,
    write_owner,
)
from exporter.targets.lab.procs import (
    PROC,
    CommandRunner,
    Kill,
    SubprocessRunner,
    is_alive,
    start_time,
)
from exporter.targets.lab.procs import stop as stop_process

NsRole = plan.NsRole
ROLE_NS: Mapping[Role, NsRole] = {
    Role.CLIENT_POD: NsRole.CLIENT_POD,
    Role.SERVER_POD: NsRole.SERVER_POD,
    Role.CLIENT_NODE: NsRole.NODE_B,
    Role.SERVER_NODE: NsRole.NODE_A,
}
CLIENT_ROLES = frozenset({Role.CLIENT_POD, Role.CLIENT_NODE})
SETUP_TIMEOUT = 60.0
READY_TIMEOUT = 15.0
MAX_NEW_CONNECTIONS_PER_SECOND = 25_000
"""Short-connection rate the conntrack TIME_WAIT timeout in node-b is sized for."""
HTTP_BODY = "x" * 511 + "\n"
"""The server's ``location /`` body: 512 bytes."""


def nginx_config(state: Path, *, workers: int | str = "auto") -> str:
    """The server pod's nginx: 512-byte ``/``, stub_status on :18080, keepalive that never
    closes a benchmark connection early (keepalive_requests), no access log."""
    return f"""\
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 65536;
pid {state}/nginx.pid;
error_log {state}/nginx.error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 10000000;
    keepalive_timeout 65s;
    client_body_temp_path {state}/nginx-tmp/body;
    proxy_temp_path {state}/nginx-tmp/proxy;
    fastcgi_temp_path {state}/nginx-tmp/fastcgi;
    uwsgi_temp_path {state}/nginx-tmp/uwsgi;
    scgi_temp_path {state}/nginx-tmp/scgi;
    server {{
        listen {plan.SERVER_POD_IP}:{plan.HTTP_PORT} backlog=4096 reuseport;
        location / {{ return 200 "{HTTP_BODY.rstrip(chr(10))}\\n"; }}
    }}
    server {{
        listen {plan.SERVER_POD_IP}:{plan.STATUS_PORT};
        location = /status {{ stub_status; }}
    }}
}}
"""


def parse_stub_status(text: str) -> int:
    """The ``accepts`` counter of the server's stub_status page."""
    return stub_status.parse(text).accepts


def conntrack_time_wait_seconds(conntrack_max: int) -> int:
    """Conntrack TIME_WAIT timeout for node-b: short enough that MAX_NEW_CONNECTIONS_PER_SECOND
    never fills half of nf_conntrack_max (global, shared by every netns, left untouched), at
    most the kernel default of 120 s."""
    return max(1, min(120, math.floor(conntrack_max / 2 / MAX_NEW_CONNECTIONS_PER_SECOND)))


def listening_ports(ss_output: str) -> set[int]:
    ports = set()
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and ":" in fields[3]:
            port = fields[3].rsplit(":", 1)[1]
            if port.isdigit():
                ports.add(int(port))
    return ports


class LabTarget:
    """Network-namespace lab implementing :class:`exporter.targets.base.Target`."""

    kind = "lab"

    def __init__(
        self,
        settings: LabSettings,
        *,
        runner: CommandRunner | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        persistent: bool = False,
        proc: Path = PROC,
        kill: Kill = os.kill,
    ) -> None:
        for dp in settings.datapaths:
            if dp not in DATAPATHS and dp != "ebpf":
                raise ConfigError("lab.datapaths", f"the lab cannot run {dp!r}")
        if not settings.datapaths:
            raise ConfigError("lab.datapaths", "at least one datapath is needed")
        if settings.routing not in ("native", "vxlan"):
            raise ConfigError("lab.routing", f"unknown routing {settings.routing!r}")
        self.settings = settings
        self.runner: CommandRunner = runner or SubprocessRunner()
        self.clock = clock
        self.sleep = sleep
        self.persistent = persistent
        self.proc = proc
        self.kill = kill
        try:
            prefix = plan.check_prefix(settings.prefix or plan.new_prefix())
        except ValueError as err:
            raise ConfigError("lab.prefix", str(err)) from err
        self.names = plan.LabNames(prefix)
        self.state = settings.state_dir / prefix
        self._record: OwnerRecord | None = None
        self._datapath: Datapath | None = None
        self._services = 0
        self._endpoints_per_service = 4
        self._built = False
        self._closed = False
        self._policy = features.LabPolicy(self)
        self._observer = features.FlowObserver(self)

    # -- Target protocol ------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return self.names.prefix

    @property
    def datapaths(self) -> tuple[str, ...]:
        return tuple(self.settings.datapaths)

    @property
    def datapath(self) -> str:
        if self._datapath is None:
            raise LabError("the lab has no active datapath (not built?)")
        return self._datapath.name

    def __enter__(self) -> LabTarget:
        self.build()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        """Create everything; on any failure (or Ctrl-C) remove what was made, then re-raise."""
        if self._built:
            return
        try:
            self._create_state()
            self._create_namespaces()
            self._wire()
            self._sysctls()
            self.use_datapath(self.settings.datapaths[0])
            self._start_servers()
            self._built = True
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Remove everything this lab made. Idempotent; safe after a partial build."""
        if self._closed or self._record is None:
            self._closed = True
            return
        self._closed = True
        errors = remove_lab(
            self.state, runner=self.runner, proc=self.proc, kill=self.kill, sleep=self.sleep
        )
        if errors:
            raise LabError(f"lab {self.prefix} not fully removed: {'; '.join(errors)}")

    def endpoints(self) -> Endpoints:
        return Endpoints(
            server_pod=plan.SERVER_POD_IP,
            server_node=plan.NODE_A_IP,
            service_vip=plan.SERVICE_VIP,
            http_port=plan.HTTP_PORT,
            iperf3_port=plan.IPERF3_PORT,
            sockperf_port=plan.SOCKPERF_PORT,
        )

    def run(self, role: Role, argv: Sequence[str], timeout: float) -> CommandResult:
        if not argv:
            raise ToolExecutionError("?", "empty argv")
        ns = self.names.ns(ROLE_NS[role])
        full = ["ip", "netns", "exec", ns, *argv]
        if isinstance(self._datapath, EbpfDatapath) and role in CLIENT_ROLES:
            # The socket LB acts on connect() of processes in the lab's cgroup.
            full = self._datapath.lb.wrap(full)
        return self.runner.run(full, timeout=timeout)

    def use_datapath(self, datapath: str) -> None:
        if datapath not in self.datapaths:
            raise LabError(f"datapath {datapath!r} is not configured for this lab {self.datapaths}")
        if self._datapath is not None and self._datapath.name == datapath:
            return
        if self._datapath is not None:
            self._datapath.remove()
            self._datapath = None
        dp: Datapath
        if datapath == "ebpf":
            dp = EbpfDatapath(SocketLB(self.prefix, self.settings.state_dir, clock=self.clock))
        else:
            dp = DATAPATHS[datapath](self._node_b_exec, self.settings.iptables_command)
        # Start the newcomer from a clean slate too (a crashed switch may have left it).
        dp.remove()
        self._datapath = dp
        self._services = 0
        self._install(0, self._endpoints_per_service, SETUP_TIMEOUT)
        if self._record is not None:
            self._record.datapath = datapath
            write_owner(self.state, self._record)

    def install_services(
        self, count: int, endpoints_per_service: int, timeout: float
    ) -> ProgrammingReport:
        return self._install(count, endpoints_per_service, timeout)

    def http_accepted_connections(self) -> int:
        res = self.run(
            Role.CLIENT_POD,
            [
                sys.executable or "python3",
                "-I",
                "-S",
                "-c",
                stub_status.READ_SCRIPT,
                plan.SERVER_POD_IP,
                str(plan.STATUS_PORT),
            ],
            timeout=15,
        )
        if res.returncode != 0:
            raise LabError(f"cannot read nginx stub_status: {res.stderr.strip()[:300]}")
        return parse_stub_status(res.stdout)

    def info(self) -> Mapping[str, str]:
        vxlan = self.settings.routing == "vxlan"
        mode = self._datapath.kube_proxy_mode if self._datapath else ""
        return {
            "cni": "lab",
            "cni_version": __version__,
            "kube_proxy_mode": mode,
            "routing_mode": "tunnel" if vxlan else "native",
            "tunnel_protocol": "vxlan" if vxlan else "disabled",
            "kpr": "false",
            "kernel": os.uname().release,
            "k8s_version": "none",
            "node_type": "netns",
        }

    # -- optional capabilities (policy, observability, BPF maps, resources) ----------------------

    observability_feature = features.FlowObserver.feature

    def apply_policy(self, policy: str) -> None:
        self._policy.apply(policy)

    def policy_proxy_requests(self) -> int:
        return self._policy.proxy_requests()

    def set_observability(self, enabled: bool) -> None:
        self._observer.set(enabled)

    def bpf_map_dumps(self) -> Mapping[str, tuple[str, tuple[str, ...]]]:
        return features.bpf_map_dump(self, self.datapath)

    def sample_components(
        self, seconds: float, load: Callable[[], object]
    ) -> Mapping[str, ComponentUsage]:
        # component label -> name of the spawned process group
        components = {"http-server": "nginx"}
        if self._policy.active == "l7":
            components["l7-proxy"] = "l7-proxy"
        if self._observer.enabled:
            components["flow-reader"] = "flow-reader"
        return features.sample_components(self, seconds, load, components)

    # -- host services for the features ---------------------------------------------------------

    def ns_exec(
        self, role: NsRole, argv: Sequence[str], *, input: str | None = None, timeout: float = 60
    ) -> CommandResult:
        return self.runner.run(
            ["ip", "netns", "exec", self._ns(role), *argv], timeout=timeout, input=input
        )

    def spawn_in(self, name: str, role: NsRole, argv: Sequence[str]) -> int:
        if self._record is None:
            raise LabError("the lab is not built")
        ns = self._ns(role)
        pid = self.runner.spawn(["ip", "netns", "exec", ns, *argv], log=self.state / f"{name}.log")
        self._record.servers.append(ServerRecord(name, pid, start_time(pid, self.proc), ns))
        write_owner(self.state, self._record)
        return pid

    def spawned_pids(self, name: str) -> list[int]:
        if self._record is None:
            return []
        return [
            s.pid
            for s in self._record.servers
            if s.name == name and is_alive(s.pid, s.start_time, self.proc)
        ]

    def stop_spawned(self, name: str) -> None:
        if self._record is None:
            return
        for server in [s for s in self._record.servers if s.name == name]:
            stop_process(
                server.pid, server.start_time, proc=self.proc, kill=self.kill, sleep=self.sleep
            )
            self._record.servers.remove(server)
        write_owner(self.state, self._record)

    # -- building -------------------------------------------------------------------------------

    def _cmd(self, argv: Sequence[str], *, input: str | None = None) -> CommandResult:
        res = self.runner.run(argv, timeout=SETUP_TIMEOUT, input=input)
        if res.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def _ns(self, role: NsRole) -> str:
        return self.names.ns(role)

    def _ip(self, role: NsRole, *args: str) -> None:
        self._cmd(["ip", "-n", self._ns(role), *args])

    def _create_state(self) -> None:
        try:
            self.state.mkdir(parents=True, exist_ok=False)
        except FileExistsError as err:
            raise LabError(f"lab state {self.state} already exists (prefix in use?)") from err
        self._record = OwnerRecord.for_current_process(
            self.prefix, persistent=self.persistent, routing=self.settings.routing, proc=self.proc
        )
        write_owner(self.state, self._record)
        (self.state / "nginx-tmp").mkdir()

    def _create_namespaces(self) -> None:
        clash = list_namespaces(self.runner) & set(self.names.namespaces)
        if clash:
            raise LabError(f"namespaces {sorted(clash)} already exist; refusing to reuse them")
        for ns in self.names.namespaces:
            self._cmd(["ip", "netns", "add", ns])

    def _wire(self) -> None:
        n = self.names
        a, b, s, c = NsRole.NODE_A, NsRole.NODE_B, NsRole.SERVER_POD, NsRole.CLIENT_POD
        vxlan = self.settings.routing == "vxlan"
        pod_mtu = ["mtu", str(plan.VXLAN_MTU)] if vxlan else []
        for role in NsRole:
            self._ip(role, "link", "set", "lo", "up")
        # veths are created inside the namespaces: nothing ever appears in the root namespace.
        self._ip(a, "link", "add", n.underlay_a, "type", "veth", "peer", "name", n.underlay_b,
                 "netns", self._ns(b))  # fmt: skip
        self._ip(a, "link", "add", n.server_host_if, *pod_mtu, "type", "veth", "peer", "name",
                 n.pod_if, *pod_mtu, "netns", self._ns(s))  # fmt: skip
        self._ip(b, "link", "add", n.client_host_if, *pod_mtu, "type", "veth", "peer", "name",
                 n.pod_if, *pod_mtu, "netns", self._ns(c))  # fmt: skip
        self._ip(a, "addr", "add", f"{plan.NODE_A_IP}/24", "dev", n.underlay_a)
        self._ip(b, "addr", "add", f"{plan.NODE_B_IP}/24", "dev", n.underlay_b)
        self._ip(a, "addr", "add", f"{plan.SERVER_GW}/24", "dev", n.server_host_if)
        self._ip(s, "addr", "add", f"{plan.SERVER_POD_IP}/24", "dev", n.pod_if)
        self._ip(b, "addr", "add", f"{plan.CLIENT_GW}/24", "dev", n.client_host_if)
        self._ip(c, "addr", "add", f"{plan.CLIENT_POD_IP}/24", "dev", n.pod_if)
        for role, dev in (
            (a, n.underlay_a),
            (b, n.underlay_b),
            (a, n.server_host_if),
            (b, n.client_host_if),
            (s, n.pod_if),
            (c, n.pod_if),
        ):
            self._ip(role, "link", "set", dev, "up")
        self._ip(s, "route", "add", "default", "via", plan.SERVER_GW, "dev", n.pod_if)
        self._ip(c, "route", "add", "default", "via", plan.CLIENT_GW, "dev", n.pod_if)
        if vxlan:
            for role, local, remote, dev, addr in (
                (a, plan.NODE_A_IP, plan.NODE_B_IP, n.underlay_a, plan.TUNNEL_A_IP),
                (b, plan.NODE_B_IP, plan.NODE_A_IP, n.underlay_b, plan.TUNNEL_B_IP),
            ):
                self._ip(role, "link", "add", n.vxlan_if, "type", "vxlan", "id",
                         str(plan.VXLAN_ID), "local", local, "remote", remote, "dstport",
                         str(plan.VXLAN_PORT), "dev", dev)  # fmt: skip
                self._ip(role, "addr", "add", f"{addr}/24", "dev", n.vxlan_if)
                self._ip(role, "link", "set", n.vxlan_if, "up")
            via_a, via_b, dev_a, dev_b = (
                plan.TUNNEL_B_IP,
                plan.TUNNEL_A_IP,
                n.vxlan_if,
                n.vxlan_if,
            )
        else:
            via_a, via_b, dev_a, dev_b = plan.NODE_B_IP, plan.NODE_A_IP, n.underlay_a, n.underlay_b
        self._ip(a, "route", "add", str(plan.POD_CIDR_B), "via", via_a, "dev", dev_a)
        self._ip(b, "route", "add", str(plan.POD_CIDR_A), "via", via_b, "dev", dev_b)
        # node-b's own connections to a VIP (CLIENT_NODE role) need a route before the OUTPUT
        # DNAT rewrites them; kube-proxy nodes use their default route for that.
        self._ip(b, "route", "add", str(plan.SERVICE_CIDR), "via", via_b, "dev", dev_b)

    def _sysctl(self, role: NsRole, *settings: str) -> None:
        self._cmd(["ip", "netns", "exec", self._ns(role), "sysctl", "-q", "-w", *settings])

    def _sysctls(self) -> None:
        for node in (NsRole.NODE_A, NsRole.NODE_B):
            self._sysctl(node, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0")
        # The client opens one connection per request in short-connection runs.
        self._sysctl(
            NsRole.CLIENT_POD,
            "net.ipv4.ip_local_port_range=1024 65535",
            "net.ipv4.tcp_tw_reuse=1",
        )
        # TCP timestamps without the per-destination random offset (2, not the default 1).
        # The offset is keyed on the address connect() dials: the VIP through kube-proxy's DNAT,
        # the backend itself through the eBPF socket LB. The server sees the same 4-tuples in
        # both, and a short-connection run wraps the client's ~32k ephemeral ports within the
        # 60 s its TIME_WAIT sockets live; after a datapath switch, a SYN whose timestamp the
        # other offset made "older" fails PAWS against them, is answered with an ACK, reset and
        # retried ~10 ms later (TcpExtPAWSTimewait, TCPSynRetrans). That put a 10-16 ms mode in
        # every datapath's TCP_CRR p99 and cost the second datapath of a pair short-connection
        # RPS: an artefact of interleaving, which a cluster that keeps its datapath never sees.
        for client in (NsRole.CLIENT_POD, NsRole.NODE_B):
            self._sysctl(client, "net.ipv4.tcp_timestamps=2")
        # nginx closes first (Connection: close), so TIME_WAIT sits on the server pod: bounded
        # by the per-netns tcp_max_tw_buckets (left at its default); a client port reused into
        # a TIME_WAIT 4-tuple is accepted on its newer timestamp. Deep accept queues for bursts.
        self._sysctl(
            NsRole.SERVER_POD, "net.core.somaxconn=4096", "net.ipv4.tcp_max_syn_backlog=4096"
        )
        # Conntrack (node-b DNATs): nf_conntrack_max is global, read but never changed; the
        # per-netns TIME_WAIT timeout is shortened so short-connection runs cannot fill it.
        try:
            ct_max = int(Path("/proc/sys/net/netfilter/nf_conntrack_max").read_text())
        except (OSError, ValueError):
            ct_max = 262144
        tw = conntrack_time_wait_seconds(ct_max)
        res = self.runner.run(
            ["ip", "netns", "exec", self._ns(NsRole.NODE_B), "sysctl", "-q", "-w",
             f"net.netfilter.nf_conntrack_tcp_timeout_time_wait={tw}"],
            timeout=SETUP_TIMEOUT,
        )  # fmt: skip
        self.conntrack_note = (
            f"nf_conntrack_max={ct_max}, node-b conntrack TIME_WAIT timeout={tw}s"
            if res.returncode == 0
            else f"nf_conntrack_max={ct_max}; conntrack TIME_WAIT timeout left at default"
        )

    # -- servers --------------------------------------------------------------------------------

    def _server_argv(self) -> list[tuple[str, NsRole, list[str], int]]:
        conf = self.state / "nginx.conf"
        conf.write_text(nginx_config(self.state))
        return [
            ("nginx", NsRole.SERVER_POD,
             ["nginx", "-p", str(self.state), "-c", str(conf), "-e",
              str(self.state / "nginx.error.log")], plan.HTTP_PORT),
            ("iperf3-pod", NsRole.SERVER_POD,
             ["iperf3", "-s", "-B", plan.SERVER_POD_IP, "-p", str(plan.IPERF3_PORT)],
             plan.IPERF3_PORT),
            ("iperf3-node", NsRole.NODE_A,
             ["iperf3", "-s", "-B", plan.NODE_A_IP, "-p", str(plan.IPERF3_PORT)],
             plan.IPERF3_PORT),
            ("sockperf", NsRole.SERVER_POD,
             ["sockperf", "server", "--tcp", "-i", plan.SERVER_POD_IP, "-p",
              str(plan.SOCKPERF_PORT)], plan.SOCKPERF_PORT),
        ]  # fmt: skip

    def _start_servers(self) -> None:
        assert self._record is not None
        waits: list[tuple[str, NsRole, int, int]] = []
        for name, role, argv, port in self._server_argv():
            ns = self._ns(role)
            pid = self.runner.spawn(
                ["ip", "netns", "exec", ns, *argv], log=self.state / f"{name}.log"
            )
            self._record.servers.append(ServerRecord(name, pid, start_time(pid, self.proc), ns))
            write_owner(self.state, self._record)
            waits.append((name, role, port, pid))
        for name, role, port, pid in waits:
            self._wait_listening(name, role, port, pid)
        self._wait_listening("nginx status", NsRole.SERVER_POD, plan.STATUS_PORT, waits[0][3])

    def _wait_listening(self, name: str, role: NsRole, port: int, pid: int) -> None:
        deadline = self.clock() + READY_TIMEOUT
        for _ in range(int(READY_TIMEOUT / 0.02) + 1):
            res = self.runner.run(
                ["ip", "netns", "exec", self._ns(role), "ss", "-Hltn"], timeout=10
            )
            if port in listening_ports(res.stdout):
                return
            if not is_alive(pid, None, self.proc):
                log = self.state / f"{name}.log"
                tail = log.read_text()[-500:] if log.exists() else ""
                raise LabError(f"{name} exited before listening on :{port}: {tail}")
            if self.clock() > deadline:
                break
            self.sleep(0.02)
        raise LabError(f"{name} is not listening on :{port} after {READY_TIMEOUT:g} s")

    def stop_servers(self) -> None:
        """Stop the servers gracefully (SIGTERM, then SIGKILL) by recorded PID."""
        for server in self._record.servers if self._record else []:
            stop_process(
                server.pid, server.start_time, proc=self.proc, kill=self.kill, sleep=self.sleep
            )

    # -- datapath -------------------------------------------------------------------------------

    def _node_b_exec(self, argv: Sequence[str], input: str | None, timeout: float) -> CommandResult:
        return self.runner.run(
            ["ip", "netns", "exec", self._ns(NsRole.NODE_B), *argv], timeout=timeout, input=input
        )

    def _install(self, count: int, endpoints_per_service: int, timeout: float) -> ProgrammingReport:
        if self._datapath is None:
            raise LabError("no active datapath")
        started = self.clock()
        services = rules.lab_services(count, endpoints_per_service)
        try:
            expected = self._datapath.program(services, timeout)
        except ToolExecutionError as err:
            raise DatapathNotProgrammed(f"{self._datapath.name}: {err}") from err
        deadline = started + timeout
        held: dict[str, int] = {}
        for _ in range(10_000):
            remaining = max(1.0, deadline - self.clock())
            try:
                held = self._datapath.count(remaining)
            except ToolExecutionError as err:
                raise DatapathNotProgrammed(f"{self._datapath.name}: {err}") from err
            if held == expected:
                self._services = count
                self._endpoints_per_service = endpoints_per_service
                return ProgrammingReport(
                    services=count, entries=held, seconds=self.clock() - started
                )
            if self.clock() > deadline:
                break
            self.sleep(0.1)
        raise DatapathNotProgrammed(
            f"{self._datapath.name} holds {held}, expected {expected} for {count} Services"
        )
