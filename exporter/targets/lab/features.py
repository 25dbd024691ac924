"""The lab's optional capabilities: NetworkPolicy, a flow observer, BPF map dumps and component
resources (see the capability protocols in exporter.targets.base).

Every switch is verified before it counts as done: a policy is "realized" only when a denied
source is really dropped (and for L7 a POST really gets the proxy's 403), and the observer is
"on" only when events really arrive. Everything runs inside the lab's namespaces; processes
started here are recorded for the janitor and stopped by PID.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from exporter.errors import LabError, ObservabilityNotToggled, PolicyNotRealized
from exporter.targets.base import CommandResult, ComponentUsage
from exporter.targets.lab import plan, policy, stub_status
from exporter.targets.lab.plan import NsRole
from exporter.targets.lab.procstat import ResourceSampler
from exporter.tools import bpftool, conntrack

POLICY_TABLE = "netbench-policy"
FLOW_TABLE = "netbench-flows"
PROXY_PORT = 15001
PROXY_STATUS_PORT = 15002
DENIED_PROBE_SECONDS = 1.0
VERIFY_SECONDS = 5.0

# A tiny HTTP/TCP probe run inside a namespace: prints the status code, "timeout" or "refused".
PROBE_SCRIPT = """\
import socket, sys
method, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    s = socket.create_connection((host, port), timeout=timeout)
except socket.timeout:
    print("timeout"); sys.exit(0)
except OSError as e:
    print("refused" if isinstance(e, ConnectionRefusedError) else "error:" + str(e)); sys.exit(0)
if method == "CONNECT":
    print("connected"); sys.exit(0)
body = b"x" if method == "POST" else b""
head = f"{method} / HTTP/1.0\\r\\nHost: lab\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n"
s.sendall(head.encode() + body)
data = b""
try:
    for _ in range(1000):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    print("timeout"); sys.exit(0)
print(data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "garbage")
"""


class LabHost(Protocol):
    """What the features need from the lab target."""

    state: Path

    def ns_exec(
        self, role: NsRole, argv: Sequence[str], *, input: str | None = None, timeout: float = 60
    ) -> CommandResult: ...

    def spawn_in(self, name: str, role: NsRole, argv: Sequence[str]) -> int: ...

    def stop_spawned(self, name: str) -> None: ...

    def spawned_pids(self, name: str) -> list[int]: ...


def probe(host: LabHost, role: NsRole, method: str, address: str, port: int, timeout: float) -> str:
    res = host.ns_exec(
        role,
        ["python3", "-I", "-S", "-c", PROBE_SCRIPT, method, address, str(port), str(timeout)],
        timeout=timeout + 10,
    )
    if res.returncode != 0:
        raise LabError(f"probe failed: {res.stderr.strip()[:300]}")
    return res.stdout.strip()


def _nft(host: LabHost, role: NsRole, text: str) -> None:
    res = host.ns_exec(role, ["nft", "-f", "-"], input=text)
    if res.returncode != 0:
        raise LabError(f"nft in {role}: {res.stderr.strip()[:300]}")


def _delete_table(host: LabHost, role: NsRole, family: str, table: str) -> None:
    # "add" first makes the delete idempotent in one transaction.
    _nft(host, role, f"add table {family} {table}\ndelete table {family} {table}\n")


class LabPolicy:
    """NetworkPolicy on node-a, in front of the server pod."""

    def __init__(self, host: LabHost) -> None:
        self.host = host
        self.active = "none"
        self.spec = policy.PolicySpec(
            table=POLICY_TABLE,
            server=plan.SERVER_POD_IP,
            ports=(plan.HTTP_PORT, plan.IPERF3_PORT, plan.SOCKPERF_PORT),
            allowed_sources=(plan.CLIENT_POD_IP,),
            http_port=plan.HTTP_PORT,
            proxy_port=PROXY_PORT,
        )

    def apply(self, name: str) -> None:
        if name not in policy.POLICIES:
            raise LabError(f"unknown policy {name!r}; expected one of {policy.POLICIES}")
        self.host.stop_spawned("l7-proxy")
        _delete_table(self.host, NsRole.NODE_A, "ip", POLICY_TABLE)
        self.active = "none"
        if name == "l7":
            self._start_proxy()
        if name != "none":
            _nft(self.host, NsRole.NODE_A, policy.nft_ruleset(self.spec, name))
        self.active = name
        self.verify()

    def verify(self) -> None:
        """Prove the active policy is what the datapath enforces, or raise PolicyNotRealized."""
        allowed = probe(
            self.host, NsRole.CLIENT_POD, "GET", plan.SERVER_POD_IP, plan.HTTP_PORT, VERIFY_SECONDS
        )
        if allowed != "200":
            raise PolicyNotRealized(f"policy {self.active}: the allowed client got {allowed!r}")
        # node-b's own address is not in the allowed set: the "denied source".
        denied = probe(
            self.host, NsRole.NODE_B, "CONNECT", plan.SERVER_POD_IP, plan.HTTP_PORT,
            DENIED_PROBE_SECONDS,
        )  # fmt: skip
        if self.active == "none" and denied != "connected":
            raise PolicyNotRealized(f"no policy, yet node-b could not connect ({denied})")
        if self.active != "none" and denied != "timeout":
            raise PolicyNotRealized(
                f"policy {self.active}: a denied source was not dropped ({denied})"
            )
        if self.active == "l7":
            post = probe(
                self.host, NsRole.CLIENT_POD, "POST", plan.SERVER_POD_IP, plan.HTTP_PORT,
                VERIFY_SECONDS,
            )  # fmt: skip
            if post != "403":
                raise PolicyNotRealized(f"L7 policy: a POST got {post!r}, not the proxy's 403")

    def proxy_requests(self) -> int:
        if self.active != "l7":
            return 0
        res = self.host.ns_exec(
            NsRole.NODE_A,
            [
                "python3",
                "-I",
                "-S",
                "-c",
                stub_status.READ_SCRIPT,
                "127.0.0.1",
                str(PROXY_STATUS_PORT),
            ],
            timeout=15,
        )
        return stub_status.parse(res.stdout).requests

    def _start_proxy(self) -> None:
        tmp = self.host.state / "proxy-tmp"
        tmp.mkdir(exist_ok=True)
        conf = self.host.state / "l7-proxy.conf"
        conf.write_text(
            policy.l7_proxy_config(
                server=plan.SERVER_POD_IP,
                http_port=plan.HTTP_PORT,
                listen_port=PROXY_PORT,
                status_port=PROXY_STATUS_PORT,
                pid_file=str(self.host.state / "l7-proxy.pid"),
                temp_dir=str(tmp),
            )
        )
        self.host.spawn_in(
            "l7-proxy",
            NsRole.NODE_A,
            ["nginx", "-p", str(self.host.state), "-c", str(conf), "-e",
             str(self.host.state / "l7-proxy.error.log")],
        )  # fmt: skip
        deadline = time.monotonic() + VERIFY_SECONDS
        while time.monotonic() < deadline:
            got = probe(self.host, NsRole.NODE_A, "CONNECT", "127.0.0.1", PROXY_STATUS_PORT, 1)
            if got == "connected":
                return
            time.sleep(0.05)
        raise PolicyNotRealized("the L7 proxy did not start listening")


class FlowObserver:
    """Per-flow events like Hubble's: conntrack events on node-a (the server's node), consumed
    by a reader process into a file. Connection tracking is switched on for forwarded traffic
    by a one-rule nft table, which is part of what the observer costs."""

    feature = "conntrack_events"

    def __init__(self, host: LabHost) -> None:
        self.host = host
        self.events_file = host.state / "flow-events.txt"
        self.enabled = False

    def set(self, enabled: bool) -> None:
        self.host.stop_spawned("flow-reader")
        _delete_table(self.host, NsRole.NODE_A, "inet", FLOW_TABLE)
        self.enabled = False
        self.events_file.write_text("")
        if enabled:
            _nft(
                self.host,
                NsRole.NODE_A,
                f"table inet {FLOW_TABLE} {{\n"
                "  chain forward {\n"
                "    type filter hook forward priority filter - 10; policy accept;\n"
                "    ct state new counter\n"
                "  }\n"
                "}\n",
            )
            self.host.spawn_in(
                "flow-reader",
                NsRole.NODE_A,
                ["sh", "-c", 'exec "$@" > "$0"', str(self.events_file),
                 *conntrack.build_command(), "-e", "NEW,DESTROY"],
            )  # fmt: skip
            self.enabled = True
        self.verify()

    def events(self) -> int:
        text = self.events_file.read_text() if self.events_file.exists() else ""
        return sum(conntrack.count_events(text).values())

    def verify(self) -> None:
        before = self.events()
        deadline = time.monotonic() + VERIFY_SECONDS
        while True:
            got = probe(self.host, NsRole.CLIENT_POD, "GET", plan.SERVER_POD_IP, plan.HTTP_PORT, 2)
            if got != "200":
                raise ObservabilityNotToggled(f"probe request failed ({got})")
            seen = self.events() - before
            if not self.enabled:
                if seen or self.host.spawned_pids("flow-reader"):
                    raise ObservabilityNotToggled(
                        f"observer is off but {seen} events arrived / a reader still runs"
                    )
                return
            if seen > 0:
                return
            if time.monotonic() > deadline:
                raise ObservabilityNotToggled("observer is on but no flow event arrived")
            time.sleep(0.1)


def bpf_map_dump(host: LabHost, datapath: str) -> Mapping[str, tuple[str, tuple[str, ...]]]:
    """The raw ``bpftool map show -j`` and our map-name prefix, when the socket LB is active.
    BPF maps are host-global; the lab's socket LB serves the client node."""
    if datapath != "ebpf":
        return {}
    res = host.ns_exec(NsRole.NODE_B, bpftool.build_command(), timeout=30)
    if res.returncode != 0:
        raise LabError(f"bpftool map show failed: {res.stderr.strip()[:300]}")
    return {"node-b": (res.stdout, ("nb_",))}


def sample_components(
    host: LabHost, seconds: float, load: Callable[[], object], components: Mapping[str, str]
) -> Mapping[str, ComponentUsage]:
    """Sample each component (label -> spawned process name, children included) while ``load``
    runs."""

    def pids_of(spawned: str) -> Callable[[], Sequence[int]]:
        return lambda: _with_children(host.spawned_pids(spawned))

    sources = {label: pids_of(spawned) for label, spawned in components.items()}
    interval = max(0.1, min(0.5, seconds / 10))
    with ResourceSampler(sources, interval=interval) as sampler:
        load()
    return sampler.usage()


def _with_children(pids: Sequence[int], proc: Path = Path("/proc")) -> list[int]:
    out: list[int] = []
    todo = list(pids)
    while todo and len(out) < 4096:
        pid = todo.pop()
        out.append(pid)
        for task in (proc / str(pid) / "task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return out
