"""Waiting for a DaemonSet rollout (after ``rollout restart``), verified from its status."""

from __future__ import annotations

from exporter.targets.kubernetes.client import KubeClient
from exporter.targets.kubernetes.clock import Clock
from exporter.targets.kubernetes.errors import KubeError


def daemon_set_rolled_out(ds: dict[str, object]) -> bool:
    """What ``kubectl rollout status ds`` checks: the controller observed the latest generation
    and every scheduled pod is updated and available."""
    meta = ds.get("metadata") or {}
    status = ds.get("status") or {}
    assert isinstance(meta, dict) and isinstance(status, dict)
    generation = int(meta.get("generation") or 0)
    desired = int(status.get("desiredNumberScheduled") or 0)
    return (
        int(status.get("observedGeneration") or 0) >= generation
        and int(status.get("updatedNumberScheduled") or 0) == desired
        and int(status.get("numberAvailable") or 0) == desired
    )


def wait_daemon_set(
    client: KubeClient, namespace: str, name: str, timeout: float, clock: Clock, poll: float = 2.0
) -> float:
    """Block until the DaemonSet is rolled out; returns the seconds waited. Raises KubeError."""
    start = clock.monotonic()
    while True:
        if daemon_set_rolled_out(client.get_daemon_set(namespace, name)):
            return clock.monotonic() - start
        if clock.monotonic() - start >= timeout:
            raise KubeError(f"DaemonSet {namespace}/{name} not rolled out after {timeout:.0f}s")
        clock.sleep(poll)
