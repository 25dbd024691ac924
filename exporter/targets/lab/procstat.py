"""CPU and memory of the lab's datapath components, sampled from /proc.

The lab counterpart of kube-proxy / cilium-agent resources from metrics.k8s.io: each component is
a set of PIDs (the nginx L7 proxy's master and workers, the flow reader, ...). CPU is the
increase of utime+stime between samples divided by wall time, in cores; memory is resident set
size in bytes. A PID that exits between samples simply stops counting.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exporter.errors import LabError
from exporter.targets.base import ComponentUsage

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcSample:
    cpu_seconds: float
    rss_bytes: int


def read_process(pid: int, proc: Path = Path("/proc")) -> ProcSample | None:
    """utime+stime and RSS of one process, or None if it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        statm = (proc / str(pid) / "statm").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    rss_pages = int(statm.split()[1])
    return ProcSample(cpu_seconds=(utime + stime) / _TICKS, rss_bytes=rss_pages * _PAGE)


@dataclass
class _Series:
    cpu: list[float] = field(default_factory=list)
    mem: list[float] = field(default_factory=list)


class ResourceSampler:
    """Samples components in a background thread over a steady window.

    ``components`` maps a component name to a callable returning its current PIDs, so a proxy
    that forks workers is followed as it changes.
    """

    def __init__(
        self,
        components: Mapping[str, Callable[[], Sequence[int]]],
        *,
        interval: float = 0.5,
        proc: Path = Path("/proc"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.components = dict(components)
        self.interval = interval
        self.proc = proc
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._series: dict[str, _Series] = {name: _Series() for name in self.components}

    def __enter__(self) -> ResourceSampler:
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5 * self.interval + 1)

    def _snapshot(self) -> dict[str, tuple[float, int]]:
        out = {}
        for name, pids in self.components.items():
            cpu, rss = 0.0, 0
            for pid in pids():
                s = read_process(pid, self.proc)
                if s:
                    cpu += s.cpu_seconds
                    rss += s.rss_bytes
            out[name] = (cpu, rss)
        return out

    def _loop(self) -> None:
        prev, prev_t = self._snapshot(), self.clock()
        while not self._stop.wait(self.interval):
            now, now_t = self._snapshot(), self.clock()
            elapsed = now_t - prev_t
            for name, (cpu, rss) in now.items():
                series = self._series[name]
                if elapsed > 0:
                    # A component whose PIDs changed can go backwards; clamp, never negative.
                    series.cpu.append(max(0.0, cpu - prev[name][0]) / elapsed)
                series.mem.append(float(rss))
            prev, prev_t = now, now_t

    def usage(self) -> dict[str, ComponentUsage]:
        """Per component, over the samples taken; raises if the window gave no sample."""
        out = {}
        for name, series in self._series.items():
            if not series.cpu or not series.mem:
                raise LabError(
                    f"no resource sample of {name!r}: the steady window was shorter than "
                    f"the sampling interval ({self.interval} s)"
                )
            out[name] = ComponentUsage(
                cpu_cores_avg=sum(series.cpu) / len(series.cpu),
                cpu_cores_max=max(series.cpu),
                memory_bytes_avg=sum(series.mem) / len(series.mem),
                memory_bytes_max=max(series.mem),
                samples=len(series.cpu),
            )
        return out
