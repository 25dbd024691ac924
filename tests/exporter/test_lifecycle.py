"""Lifecycle of the exporter process: kill -9 mid-sweep then restart; SIGTERM mid-sweep."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
from conftest import AUTH, ExporterProcess, http, until
from prometheus_client.parser import text_string_to_metric_families

from exporter.store import Store

pytestmark = pytest.mark.prometheus


def start_sweep(exporter: ExporterProcess) -> str:
    with http() as client:
        r = client.post(f"{exporter.url}/api/v1/sweeps", json={"profile": "quick"}, headers=AUTH)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def sweep(exporter: ExporterProcess, sid: str) -> dict[str, object]:
    with http() as client:
        body: dict[str, object] = client.get(f"{exporter.url}/api/v1/sweeps/{sid}").json()
    return body


def test_kill_9_mid_sweep_then_restart(
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    first = exporter_factory(delay=1.0)
    sid = start_sweep(first)
    until("two finished outcomes", lambda: len(sweep(first, sid)["outcomes"]) >= 2, 30)  # type: ignore[arg-type]
    first.signal(signal.SIGKILL)
    first.wait(10)

    second = exporter_factory(delay=1.0, db=first.db)
    # the janitor ran at each start, on the lab state directory
    assert first.janitor_log.read_text().splitlines() == [str(first.state_dir)] * 2
    dead = sweep(second, sid)
    assert dead["status"] == "aborted"
    assert len(dead["outcomes"]) >= 2  # type: ignore[arg-type]
    with http() as client:
        text = client.get(f"{second.url}/metrics").text
    samples = {
        (s.name, s.labels.get("datapath"), s.labels.get("status"))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    # throughput finished on both datapaths before the kill: still exposed after the restart
    assert ("netbench_throughput_bytes_per_second", "iptables", None) in samples
    assert ("netbench_throughput_bytes_per_second", "nftables", None) in samples
    assert ("netbench_sweeps_total", None, "aborted") in samples
    # and the new process runs sweeps normally
    new = start_sweep(second)
    until("the new sweep to finish", lambda: sweep(second, new)["status"] != "running", 60)


def test_sigterm_cancels_the_sweep_and_exits_in_time(
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    exporter = exporter_factory(delay=5.0)
    sid = start_sweep(exporter)
    until("the sweep to run", lambda: sweep(exporter, sid)["status"] == "running", 10)
    time.sleep(0.5)
    began = time.monotonic()
    exporter.signal(signal.SIGTERM)
    assert exporter.wait(30) == 0
    assert time.monotonic() - began < 30
    store = Store(exporter.db)
    try:
        record = store.get_sweep(sid)
        assert record is not None and record.status == "cancelled"
    finally:
        store.close()
    assert '"sweep_id": "' + sid in exporter.logs()  # JSON logs carry the sweep id
