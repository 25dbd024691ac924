"""Running commands for the lab: a replaceable runner, process identity and killing by PID.

Everything the lab starts is either a command it waits for (:meth:`CommandRunner.run`, killed
with its whole process group on timeout) or a detached server (:meth:`CommandRunner.spawn`,
recorded by PID *and* start time so a reused PID is never mistaken for ours). Nothing here
kills by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from exporter.errors import ToolExecutionError
from exporter.targets.base import CommandResult

PROC = Path("/proc")


class CommandRunner(Protocol):
    """How the lab runs commands (replace it in unit tests to check the generated argv)."""

    def run(
        self, argv: Sequence[str], *, timeout: float, input: str | None = None
    ) -> CommandResult:
        """Run to completion in a new session. Non-zero exit is returned. Raises
        ToolExecutionError if argv cannot start or outlives ``timeout`` (its process group is
        killed first)."""
        ...

    def spawn(self, argv: Sequence[str], *, log: Path) -> int:
        """Start a detached server (new session, output to ``log``); return its PID."""
        ...


class SubprocessRunner:
    def run(
        self, argv: Sequence[str], *, timeout: float, input: str | None = None
    ) -> CommandResult:
        args = tuple(argv)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except OSError as err:
            raise ToolExecutionError(args[0] if args else "?", f"cannot start: {err}") from err
        try:
            out, err_text = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            out, err_text = proc.communicate()
            raise ToolExecutionError(
                args[0],
                f"outlived its timeout of {timeout:g} s and was killed",
                returncode=proc.returncode,
                stderr=err_text,
            ) from None
        except BaseException:
            # KeyboardInterrupt while waiting: never leave the child running.
            kill_group(proc.pid)
            proc.wait()
            raise
        return CommandResult(
            argv=args,
            returncode=proc.returncode,
            stdout=out,
            stderr=err_text,
            seconds=time.monotonic() - started,
        )

    def spawn(self, argv: Sequence[str], *, log: Path) -> int:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Detached on purpose: servers of a persistent lab outlive this process. The janitor and
        # close() reap them by PID; drop our Popen so no ResourceWarning fires if they do.
        proc.returncode = 0
        return proc.pid


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def start_time(pid: int, proc: Path = PROC) -> int | None:
    """Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat, or None if gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        if fields[0] == "Z":
            return None  # a zombie has finished: it is not alive for our purposes
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def is_alive(pid: int, started: int | None, proc: Path = PROC) -> bool:
    """Is ``pid`` still the process that had start time ``started``?"""
    now = start_time(pid, proc)
    return now is not None and (started is None or now == started)


Kill = Callable[[int, int], None]


def stop(
    pid: int,
    started: int | None,
    *,
    proc: Path = PROC,
    kill: Kill = os.kill,
    grace: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """SIGTERM the process group led by ``pid`` (if it is still ours), then SIGKILL it after
    ``grace`` seconds. Returns whether anything was signalled. Bounded in time and count."""
    if not is_alive(pid, started, proc):
        return False

    def group(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(-pid, sig)  # the server leads its own session/process group (spawn)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, sig)

    group(signal.SIGTERM)
    steps = max(1, int(grace / 0.05))
    for _ in range(steps):
        if not is_alive(pid, started, proc):
            break
        _reap(pid)
        sleep(0.05)
    group(signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    # Servers spawned by this process are our children: collect them so they don't linger as
    # zombies. Harmless for processes that are not our children.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
