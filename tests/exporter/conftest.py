"""Helpers for the exporter's end-to-end tests: free loopback ports, the exporter as a process,
required binaries (missing = failure in CI, skip elsewhere), bounded polling."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

HERE = Path(__file__).parent
TOKEN = "e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T = TypeVar("T")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` (bounded in time) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def http() -> httpx.Client:
    # trust_env=False: never route loopback through a proxy from the environment
    return httpx.Client(timeout=5.0, trust_env=False)


class ExporterProcess:
    """``fake_serve.py`` (the real server.run with the fake runner) on 127.0.0.1."""

    def __init__(self, tmp: Path, *, delay: float, db: Path | None = None) -> None:
        self.tmp = tmp
        self.db = db or tmp / "history.db"
        self.janitor_log = tmp / "janitor.log"
        self.state_dir = tmp / "state"
        self.config = tmp / "netbench.yaml"
        self.config.write_text(
            "cluster: e2e\n"
            "lab:\n"
            f"  state_dir: {self.state_dir}\n"
            "  datapaths: [iptables, nftables]\n"
            "exporter:\n"
            f"  db_path: {self.db}\n"
            "  schedules: []\n"
            "  on_demand_cooldown_seconds: 0\n"
            "  log_format: json\n"
            "  shutdown_timeout_seconds: 10\n"
        )
        self.delay = delay
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = tmp / "exporter.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ExporterProcess:
        self.port = free_port()
        env = {**os.environ, "NETBENCH_API_TOKEN": TOKEN}
        env.pop("NETBENCH_CONFIG", None)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "fake_serve.py"),
                    str(self.config),
                    str(self.port),
                    str(self.delay),
                    str(self.janitor_log),
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        with http() as client:

            def healthy() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.logs()
                try:
                    return client.get(f"{self.url}/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            until("the exporter to answer /healthz", healthy, 30)
        return self

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def exporter_factory(tmp_path: Path) -> Iterator[Callable[..., ExporterProcess]]:
    started: list[ExporterProcess] = []

    def make(delay: float = 0.2, db: Path | None = None) -> ExporterProcess:
        proc = ExporterProcess(tmp_path, delay=delay, db=db)
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        proc.stop()
