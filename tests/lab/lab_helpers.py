"""Helpers shared by the lab tests (imported by name: tests/lab is on sys.path under pytest)."""

from __future__ import annotations

import subprocess


def namespaces_with(prefix: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.startswith(prefix + "-")]
