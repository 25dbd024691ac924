"""A quick sweep against a real cluster (see tests/e2e/README.md); skipped without one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exporter.cli import main

KUBECONFIG = os.environ.get("NETBENCH_E2E_KUBECONFIG")

pytestmark = pytest.mark.skipif(
    not KUBECONFIG,
    reason="NETBENCH_E2E_KUBECONFIG is not set: no Kubernetes cluster to run against "
    "(see tests/e2e/README.md)",
)


def test_quick_sweep_on_a_real_cluster(tmp_path: Path) -> None:
    assert KUBECONFIG is not None
    out = Path(os.environ.get("NETBENCH_E2E_OUT", str(tmp_path / "report.json")))
    config = tmp_path / "netbench.yaml"
    context = os.environ.get("NETBENCH_E2E_CONTEXT")
    config.write_text(
        "target: kubernetes\n"
        "cluster: e2e\n"
        "kubernetes:\n"
        f"  kubeconfig: {json.dumps(str(Path(KUBECONFIG).expanduser()))}\n"
        + (f"  context: {json.dumps(context)}\n" if context else "")
        + "  namespace: netbench-e2e\n"
        f"  image: {json.dumps(os.environ.get('NETBENCH_E2E_IMAGE', 'netbench:latest'))}\n"
        f"  journal_path: {json.dumps(str(tmp_path / 'mutations.jsonl'))}\n"
        "  allow_cluster_mutations: false\n"
    )
    scenarios = os.environ.get("NETBENCH_E2E_SCENARIOS", "throughput,http_rps,latency")
    code = main(
        [
            "--config",
            str(config),
            "sweep",
            "--profile",
            "quick",
            "--scenarios",
            scenarios,
            "--rounds",
            "1",
            "--output",
            "json",
            "--out",
            str(out),
        ],
        env={},
    )
    report = json.loads(out.read_text())
    assert code == 0, f"sweep failed: {report.get('error')}"
    assert report["target"] == "kubernetes"
