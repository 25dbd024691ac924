import os
import subprocess
import sys

import pytest

from exporter.errors import LabError
from exporter.targets.lab.procstat import ResourceSampler, read_process


def test_reads_own_process() -> None:
    sample = read_process(os.getpid())
    assert sample is not None
    assert sample.rss_bytes > 1_000_000
    assert sample.cpu_seconds > 0


def test_gone_process_is_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert read_process(proc.pid) is None


def test_busy_process_uses_about_one_core() -> None:
    # A real busy loop, bounded in time, sampled for real: its CPU must be near one core and
    # the idle component's near zero.
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<1.5: pass"]
    )
    try:
        with ResourceSampler(
            {"busy": lambda: [busy.pid], "idle": lambda: []}, interval=0.2
        ) as sampler:
            busy.wait(timeout=10)
        usage = sampler.usage()
    finally:
        busy.kill()
        busy.wait()
    assert 0.5 < usage["busy"].cpu_cores_max <= 1.2
    assert usage["busy"].memory_bytes_max > 0
    assert usage["idle"].cpu_cores_max == 0


def test_window_without_sample_is_an_error() -> None:
    with ResourceSampler({"x": lambda: [os.getpid()]}, interval=30) as sampler:
        pass
    with pytest.raises(LabError, match="no resource sample"):
        sampler.usage()
