"""The lab target: a miniature two-node cluster of network namespaces with real datapaths.

Public API:

- :class:`LabTarget` (the :class:`~exporter.targets.base.Target` for ``target: lab``)
- :func:`lab_up`, :func:`lab_down`, :func:`lab_status`, :func:`lab_clean` (``netbench lab ...``)
- :func:`clean` / :func:`status` (the janitor, also run at exporter start)
"""

from __future__ import annotations

from pathlib import Path

from exporter.errors import LabError
from exporter.settings import LabSettings
from exporter.targets.lab.janitor import (
    CleanReport,
    LabStatus,
    clean,
    manual_labs,
    remove_lab,
    status,
)
from exporter.targets.lab.procs import CommandRunner, SubprocessRunner
from exporter.targets.lab.target import LabTarget

__all__ = [
    "CleanReport",
    "LabStatus",
    "LabTarget",
    "clean",
    "lab_clean",
    "lab_down",
    "lab_status",
    "lab_up",
    "status",
]


def lab_up(settings: LabSettings, *, runner: CommandRunner | None = None) -> str:
    """Build a persistent lab (servers detached, PIDs recorded) and return its prefix. It stays
    up after this process exits, until :func:`lab_down`."""
    lab = LabTarget(settings, runner=runner, persistent=True)
    lab.build()  # on failure build() has already removed everything
    return lab.prefix


def lab_down(
    state_dir: Path, prefix: str | None = None, *, runner: CommandRunner | None = None
) -> str:
    """Remove a lab built with :func:`lab_up` (``prefix`` defaults to the only one). Refuses a
    lab whose owner is a live sweep. Returns the prefix removed."""
    from exporter.targets.lab.janitor import owner_alive, read_owner

    if prefix is None:
        manual = manual_labs(state_dir)
        if len(manual) != 1:
            raise LabError(
                f"{len(manual)} manual labs in {state_dir} ({', '.join(manual) or 'none'}): "
                "name the one to remove"
            )
        prefix = manual[0]
    lab_dir = state_dir / prefix
    rec = read_owner(lab_dir)
    if rec is None:
        raise LabError(f"no lab {prefix!r} in {state_dir}")
    if not rec.persistent and owner_alive(rec):
        raise LabError(f"lab {prefix} belongs to running process {rec.pid}; not removing it")
    errors = remove_lab(lab_dir, runner=runner or SubprocessRunner())
    if errors:
        raise LabError(f"lab {prefix} not fully removed: {'; '.join(errors)}")
    return prefix


def lab_status(state_dir: Path, *, runner: CommandRunner | None = None) -> list[LabStatus]:
    return status(state_dir, runner=runner or SubprocessRunner())


def lab_clean(
    state_dir: Path, include_manual: bool = False, *, runner: CommandRunner | None = None
) -> CleanReport:
    """Remove every lab whose owner process is gone (``lab up`` labs only with
    ``include_manual``: their owner is gone by design; use ``lab down`` for those)."""
    return clean(state_dir, include_manual, runner=runner or SubprocessRunner())
