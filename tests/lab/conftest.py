"""Lab fixtures: real namespaces (root). Every lab made here is removed by a finalizer, and the
janitor then sweeps the test's own state directory, whatever the test did."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lab_helpers import namespaces_with

from exporter.settings import LabSettings
from exporter.targets.lab import LabTarget, clean
from exporter.targets.lab.procs import SubprocessRunner


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="lab tests need root (network namespaces)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "state"
    d.mkdir()
    yield d
    report = clean(d, include_manual=True, runner=SubprocessRunner())
    assert not report.errors, report.errors


@pytest.fixture
def make_lab(state_dir: Path) -> Iterator[Callable[..., LabTarget]]:
    labs: list[LabTarget] = []

    def make(**kwargs: object) -> LabTarget:
        lab = LabTarget(LabSettings(state_dir=state_dir, **kwargs))  # type: ignore[arg-type]
        labs.append(lab)
        lab.build()
        return lab

    yield make
    for lab in labs:
        lab.close()
        assert namespaces_with(lab.prefix) == []
