"""The lab's ``ebpf`` datapath: a Cilium-style socket load balancer.

A cgroup/connect4 program rewrites connect() to a Service VIP into a backend chosen at random
from BPF hash maps (O(1) whatever the number of Services); cgroup/getpeername4 shows the VIP
back to the client. Client processes run inside this lab's cgroup, so only they are affected.

Everything here is named after the lab prefix and recorded on disk so the janitor can remove it
after a crash: the cgroup ``<cgroup2>/netbench-<prefix>``, a private bpffs mounted at
``<state_dir>/<prefix>/bpffs`` holding the program and map pins, and the attachments (detached by
program id before the pins go).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from exporter.errors import DatapathNotProgrammed, LabError
from exporter.targets.lab.bpf_syscall import PinnedMap

SOURCE = Path(__file__).with_name("sock_lb.c")
PROGRAMS = {"connect4": "nb_connect4", "getpeername4": "nb_getpeername4"}
SERVICES_MAP = "nb_services"
BACKENDS_MAP = "nb_backends"
MAP_SIZES = {SERVICES_MAP: (8, 8), BACKENDS_MAP: (4, 8)}
TCP = 6

Run = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class Backend:
    address: str
    port: int


@dataclass(frozen=True)
class Service:
    vip: str
    port: int
    backends: tuple[Backend, ...]


def service_key(vip: str, port: int) -> bytes:
    """struct svc_key: addr and port in network byte order, proto, pad."""
    return ipaddress.IPv4Address(vip).packed + struct.pack("!H", port) + bytes((TCP, 0))


def service_value(count: int, backend_base: int) -> bytes:
    return struct.pack("=II", count, backend_base)


def backend_key(backend_id: int) -> bytes:
    return struct.pack("=I", backend_id)


def backend_value(backend: Backend) -> bytes:
    return ipaddress.IPv4Address(backend.address).packed + struct.pack("!H", backend.port) + b"\0\0"


def map_entries(
    services: Iterable[Service],
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The (key, value) pairs of the service and backend maps, backend ids allocated densely."""
    svc_items: list[tuple[bytes, bytes]] = []
    be_items: list[tuple[bytes, bytes]] = []
    next_id = 0
    for svc in services:
        svc_items.append(
            (service_key(svc.vip, svc.port), service_value(len(svc.backends), next_id))
        )
        for be in svc.backends:
            be_items.append((backend_key(next_id), backend_value(be)))
            next_id += 1
    return svc_items, be_items


def cgroup2_root(mounts: str | None = None) -> Path:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` or a hybrid's ``unified``)."""
    text = mounts if mounts is not None else Path("/proc/mounts").read_text()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise LabError("no cgroup2 hierarchy is mounted: the ebpf datapath needs one")


def cgroup_name(prefix: str) -> str:
    return f"netbench-{prefix}"


class SocketLB:
    """Build, program and tear down the socket load balancer of one lab."""

    def __init__(
        self,
        prefix: str,
        state_dir: Path,
        *,
        run: Run = _run,
        clock: Callable[[], float] = time.monotonic,
        cgroup_root: Path | None = None,
    ) -> None:
        self.prefix = prefix
        self.dir = state_dir / prefix / "ebpf"
        self.bpffs = state_dir / prefix / "bpffs"
        self.run = run
        self.clock = clock
        self.cgroup = (cgroup_root or cgroup2_root()) / cgroup_name(prefix)
        self._installed_services: set[bytes] = set()
        self._installed_backends: set[bytes] = set()
        self.loaded = False

    # -- life cycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """Compile, load, pin and attach. Cleans up what it did if any step fails."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            obj = self.dir / "sock_lb.o"
            self.run(
                [
                    "clang",
                    "-O2",
                    "-g",
                    "-target",
                    "bpf",
                    "-I/usr/include/x86_64-linux-gnu",
                    "-I/usr/include/aarch64-linux-gnu",
                    "-c",
                    str(SOURCE),
                    "-o",
                    str(obj),
                ]
            )
            self.bpffs.mkdir(parents=True, exist_ok=True)
            if not os.path.ismount(self.bpffs):
                self.run(["mount", "-t", "bpf", "bpf", str(self.bpffs)])
            self.run(
                [
                    "bpftool",
                    "prog",
                    "loadall",
                    str(obj),
                    str(self.bpffs / "progs"),
                    "pinmaps",
                    str(self.bpffs / "maps"),
                ]
            )
            self.cgroup.mkdir(exist_ok=True)
            for attach_type, prog in PROGRAMS.items():
                self.run(
                    [
                        "bpftool",
                        "cgroup",
                        "attach",
                        str(self.cgroup),
                        attach_type,
                        "pinned",
                        str(self.bpffs / "progs" / prog),
                    ]
                )
            self.loaded = True
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Detach by program id, remove pins and the bpffs, then the cgroup. Idempotent."""
        teardown(self.prefix, self.bpffs, self.cgroup, run=self.run)
        self._installed_services.clear()
        self._installed_backends.clear()
        self.loaded = False

    # -- client placement ---------------------------------------------------------------------

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv that first joins this lab's cgroup, then execs ``argv``.

        Join before entering a network namespace: ``ip netns exec`` remounts /sys, after which
        the cgroup path is no longer the one we attached to.
        """
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup), *argv]

    # -- programming --------------------------------------------------------------------------

    def program(self, services: Sequence[Service], timeout: float) -> tuple[int, float]:
        """Make the maps hold exactly ``services``; verify by counting. Returns (entries, s)."""
        started = self.clock()
        svc_items, be_items = map_entries(services)
        svc_keys = {k for k, _ in svc_items}
        be_keys = {k for k, _ in be_items}
        with self._map(BACKENDS_MAP) as backends, self._map(SERVICES_MAP) as svcs:
            # Backends first so no Service ever points at an id that is not there yet.
            backends.update_batch(be_items)
            svcs.update_batch(svc_items)
            svcs.delete_batch(sorted(self._installed_services - svc_keys))
            backends.delete_batch(sorted(self._installed_backends - be_keys))
            self._installed_services = svc_keys
            self._installed_backends = be_keys
            deadline = started + timeout
            while True:
                held = svcs.count()
                if held == len(svc_keys):
                    return held, self.clock() - started
                if self.clock() > deadline:
                    raise DatapathNotProgrammed(
                        f"ebpf service map holds {held} entries, expected {len(svc_keys)}"
                    )
                time.sleep(0.05)

    def count_entries(self) -> tuple[int, int]:
        """(service-map elements, backend-map elements) the kernel holds now."""
        if not self.loaded:
            return 0, 0
        with self._map(SERVICES_MAP) as svcs, self._map(BACKENDS_MAP) as backends:
            return svcs.count(), backends.count()

    def _map(self, name: str) -> PinnedMap:
        key_size, value_size = MAP_SIZES[name]
        return PinnedMap(str(self.bpffs / "maps" / name), key_size, value_size)


def _attached_program_ids(cgroup: Path, run: Run) -> Iterator[tuple[str, int]]:
    try:
        out = run(["bpftool", "cgroup", "show", str(cgroup), "-j"]).stdout
    except LabError:
        return
    for entry in json.loads(out or "[]"):
        yield str(entry.get("attach_type", "")), int(entry["id"])


def teardown(prefix: str, bpffs: Path, cgroup: Path, *, run: Run = _run) -> list[str]:
    """Remove one lab's eBPF objects, in the only order that works: detach the programs by id,
    drop the pins (unmount our private bpffs), then remove the emptied cgroup.

    Also the janitor's entry point after a crash. Returns what it removed.
    """
    removed: list[str] = []
    if cgroup.exists():
        for attach_type, prog_id in _attached_program_ids(cgroup, run):
            try:
                run(["bpftool", "cgroup", "detach", str(cgroup), attach_type, "id", str(prog_id)])
                removed.append(f"program {prog_id} ({attach_type}) from {cgroup}")
            except LabError:
                pass
    if os.path.ismount(bpffs):
        run(["umount", str(bpffs)])
        removed.append(f"bpffs {bpffs}")
    if bpffs.exists():
        shutil.rmtree(bpffs, ignore_errors=True)
    if cgroup.exists():
        _remove_cgroup(cgroup)
        removed.append(f"cgroup {cgroup}")
    return removed


def _remove_cgroup(cgroup: Path) -> None:
    procs = (cgroup / "cgroup.procs").read_text().split() if cgroup.exists() else []
    if procs:
        # Every process in this cgroup was started by this lab (clients join it on purpose).
        for pid in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        deadline = time.monotonic() + 5
        while (cgroup / "cgroup.procs").read_text().split() and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        cgroup.rmdir()
    except OSError as err:
        raise LabError(f"cannot remove cgroup {cgroup}: {err}") from err
