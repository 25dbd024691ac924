"""Lab ownership records, status and the janitor.

Every lab writes ``<state_dir>/<prefix>/owner.json`` before it creates anything: the owner's PID
and its start time from /proc/<pid>/stat (so a reused PID never passes for a live owner), whether
the lab is persistent (built by ``netbench lab up``, meant to outlive its owner), and the PIDs of
the servers it started. The janitor only ever acts on labs recorded in its state directory, only
when their owner is dead, and only on namespaces named exactly ``<prefix>-<role>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from exporter.errors import LabError, ToolExecutionError
from exporter.targets.lab import plan
from exporter.targets.lab.procs import PROC, CommandRunner, Kill, is_alive, start_time, stop

OWNER_FILE = "owner.json"
STALE_UNRECORDED_SECONDS = 60.0
"""A lab directory without owner.json younger than this may be a lab being created right now."""


@dataclass(frozen=True)
class ServerRecord:
    name: str
    pid: int
    start_time: int | None
    namespace: str


@dataclass
class OwnerRecord:
    prefix: str
    pid: int
    start_time: int | None
    persistent: bool = False
    created: float = 0.0
    datapath: str = ""
    routing: str = ""
    namespaces: list[str] = field(default_factory=list)
    servers: list[ServerRecord] = field(default_factory=list)

    @classmethod
    def for_current_process(
        cls, prefix: str, *, persistent: bool, routing: str, proc: Path = PROC
    ) -> OwnerRecord:
        pid = os.getpid()
        return cls(
            prefix=prefix,
            pid=pid,
            start_time=start_time(pid, proc),
            persistent=persistent,
            created=time.time(),
            routing=routing,
            namespaces=list(plan.LabNames(prefix).namespaces),
        )


def write_owner(lab_dir: Path, record: OwnerRecord) -> None:
    """Atomically (write + rename), so a reader never sees half a record."""
    tmp = lab_dir / f".{OWNER_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, lab_dir / OWNER_FILE)


def read_owner(lab_dir: Path) -> OwnerRecord | None:
    try:
        raw = json.loads((lab_dir / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    try:
        servers = [ServerRecord(**s) for s in raw.pop("servers", [])]
        return OwnerRecord(**raw, servers=servers)
    except TypeError:
        return None


def owner_alive(record: OwnerRecord, proc: Path = PROC) -> bool:
    return is_alive(record.pid, record.start_time, proc)


@dataclass(frozen=True)
class LabStatus:
    prefix: str
    owner_pid: int | None
    owner_alive: bool
    persistent: bool
    datapath: str
    routing: str
    namespaces_present: tuple[str, ...]
    state_dir: str


@dataclass(frozen=True)
class CleanReport:
    removed: tuple[str, ...]
    """Prefixes of labs removed."""
    kept: tuple[str, ...]
    """Prefixes left alone (owner alive, or persistent and include_manual not set)."""
    errors: tuple[str, ...]


def list_namespaces(runner: CommandRunner) -> set[str]:
    res = runner.run(["ip", "netns", "list"], timeout=30)
    if res.returncode != 0:
        raise LabError(f"ip netns list failed: {res.stderr.strip()}")
    return {line.split()[0] for line in res.stdout.splitlines() if line.strip()}


def _lab_dirs(state_dir: Path) -> list[Path]:
    if not state_dir.is_dir():
        return []
    return sorted(
        p for p in state_dir.iterdir() if p.is_dir() and plan.PREFIX_RE.match(p.name) is not None
    )


def status(state_dir: Path, *, runner: CommandRunner, proc: Path = PROC) -> list[LabStatus]:
    present = list_namespaces(runner)
    out = []
    for lab_dir in _lab_dirs(state_dir):
        rec = read_owner(lab_dir)
        names = plan.LabNames(lab_dir.name).namespaces
        out.append(
            LabStatus(
                prefix=lab_dir.name,
                owner_pid=rec.pid if rec else None,
                owner_alive=owner_alive(rec, proc) if rec else False,
                persistent=rec.persistent if rec else False,
                datapath=rec.datapath if rec else "",
                routing=rec.routing if rec else "",
                namespaces_present=tuple(n for n in names if n in present),
                state_dir=str(lab_dir),
            )
        )
    return out


def remove_lab(
    lab_dir: Path,
    *,
    runner: CommandRunner,
    proc: Path = PROC,
    kill: Kill = os.kill,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Remove one lab: its servers (by recorded PID), every other process inside its
    namespaces, the namespaces (and with them veths, routes and rules), eBPF leftovers, the
    state directory. Idempotent. Returns errors (empty when everything is gone)."""
    prefix = lab_dir.name
    names = plan.LabNames(prefix)  # validates the prefix: never act on a foreign name
    errors: list[str] = []
    rec = read_owner(lab_dir)
    for server in rec.servers if rec else []:
        stop(server.pid, server.start_time, proc=proc, kill=kill, sleep=sleep)
    try:
        present = list_namespaces(runner)
    except (LabError, ToolExecutionError) as err:
        return [str(err)]
    for ns in names.namespaces:
        if ns not in present:
            continue
        errors += _kill_namespace_processes(ns, runner=runner, kill=kill, sleep=sleep)
        res = runner.run(["ip", "netns", "delete", ns], timeout=30)
        if res.returncode != 0:
            errors.append(f"ip netns delete {ns}: {res.stderr.strip()}")
    errors += _remove_ebpf(lab_dir, prefix)
    if not errors:
        shutil.rmtree(lab_dir, ignore_errors=True)
        if lab_dir.exists():
            errors.append(f"cannot remove {lab_dir}")
    return errors


def _kill_namespace_processes(
    ns: str, *, runner: CommandRunner, kill: Kill, sleep: Callable[[float], None]
) -> list[str]:
    """Every process in a namespace this lab created is one the lab (or a tool it ran)
    started: SIGKILL them and wait until none is left (bounded)."""
    for _ in range(100):
        res = runner.run(["ip", "netns", "pids", ns], timeout=30)
        pids = [int(p) for p in res.stdout.split() if p.isdigit()]
        if not pids or pids == [os.getpid()]:
            return []
        for pid in pids:
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
        sleep(0.05)
    return [f"processes still running in {ns} after SIGKILL"]


def _remove_ebpf(lab_dir: Path, prefix: str) -> list[str]:
    """Hook for the ``ebpf`` datapath (exporter.targets.lab.ebpf): detach and unpin whatever a
    crashed lab left. Nothing to do unless that datapath left a bpffs behind."""
    from exporter.targets.lab import ebpf

    bpffs = lab_dir / "bpffs"
    try:
        cgroup = ebpf.cgroup2_root() / ebpf.cgroup_name(prefix)
    except LabError:
        return []  # no cgroup2 here: the ebpf datapath can never have run
    if not bpffs.exists() and not cgroup.exists():
        return []
    try:
        ebpf.teardown(prefix, bpffs, cgroup)
    except LabError as err:
        return [str(err)]
    return []


def clean(
    state_dir: Path,
    include_manual: bool = False,
    *,
    runner: CommandRunner,
    proc: Path = PROC,
    kill: Kill = os.kill,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> CleanReport:
    """Remove every lab in ``state_dir`` whose owner process is dead. Persistent (``lab up``)
    labs only with ``include_manual``. Never touches a lab whose owner is alive, nor any
    namespace that is not exactly one of a recorded lab's."""
    removed: list[str] = []
    kept: list[str] = []
    errors: list[str] = []
    for lab_dir in _lab_dirs(state_dir):
        rec = read_owner(lab_dir)
        if rec is None:
            # Created this instant (owner.json is written right after mkdir) or a crash before
            # anything was built: only the second, once it is old enough.
            try:
                age = now() - lab_dir.stat().st_mtime
            except OSError:
                continue
            if age < STALE_UNRECORDED_SECONDS:
                kept.append(lab_dir.name)
                continue
        elif owner_alive(rec, proc) or (rec.persistent and not include_manual):
            kept.append(lab_dir.name)
            continue
        errs = remove_lab(lab_dir, runner=runner, proc=proc, kill=kill, sleep=sleep)
        if errs:
            errors += [f"{lab_dir.name}: {e}" for e in errs]
        else:
            removed.append(lab_dir.name)
    return CleanReport(removed=tuple(removed), kept=tuple(kept), errors=tuple(errors))


def manual_labs(state_dir: Path) -> Sequence[str]:
    return [d.name for d in _lab_dirs(state_dir) if (r := read_owner(d)) and r.persistent]
