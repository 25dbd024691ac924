"""Cleanup by label, and a durable journal of every cluster mutation, reverted even after a crash.

Two kinds of cluster state netbench touches:

- objects it creates (namespaces and everything in them): all carry our labels, so the janitor
  finds and deletes them by label at start (what a dead sweep left) and after each sweep;
- objects it does NOT own but must change (``cilium-config`` keys: ``bpf-lb-map-max``,
  ``enable-hubble``): every such change goes through :meth:`Janitor.patch_config_map`, which
  appends the intent (old and new value) to the journal file and fsyncs it BEFORE patching.
  :meth:`Janitor.revert_all` restores every change not yet marked reverted, newest first, and is
  called at start (after a crash) as well as at the end of a sweep.

A revert only writes when the key still holds the value we put there: if someone changed it
since, we do not clobber their change; the conflict is reported. The journal is JSON lines; a
truncated last line (a crash while writing the intent, before the patch) is ignored.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter.targets.kubernetes.client import KubeClient
from exporter.targets.kubernetes.clock import Clock, SystemClock
from exporter.targets.kubernetes.errors import JournalError, KubeError, KubeNotFound
from exporter.targets.kubernetes.objects import ObjectSettings, owned_selector


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ConfigMapChange:
    id: str
    namespace: str
    name: str
    key: str
    before: str | None
    """None = the key did not exist (the revert deletes it)."""
    after: str
    restart_namespace: str | None = None
    restart_daemon_set: str | None = None
    """DaemonSet to rollout-restart after applying and after reverting (the agent reads the
    ConfigMap only at start)."""
    reason: str = ""


@dataclass(frozen=True)
class RevertOutcome:
    change: ConfigMapChange
    outcome: str
    """``reverted``, ``not-applied`` (key still held the old value), ``conflict`` (someone
    else changed it since: left alone), ``gone`` (the ConfigMap no longer exists)."""
    current: str | None = None

    def describe(self) -> str:
        c = self.change
        where = f"{c.namespace}/{c.name} {c.key}"
        if self.outcome == "conflict":
            return (
                f"{where}: NOT reverted, it now holds {self.current!r} (we set {c.after!r}, "
                f"it was {c.before!r})"
            )
        return f"{where}: {self.outcome} (back to {c.before!r})"


class MutationJournal:
    """Append-only JSON-lines journal at ``path`` (its directory must be durable storage,
    e.g. the exporter's state volume)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise JournalError(f"cannot write mutation journal {self.path}: {err}") from err

    def record(self, change: ConfigMapChange) -> None:
        with self._lock:
            self._append({"op": "apply", **asdict(change)})

    def mark(self, change_id: str, outcome: str) -> None:
        with self._lock:
            self._append({"op": "revert", "id": change_id, "outcome": outcome})

    def pending(self) -> list[ConfigMapChange]:
        """Changes recorded and not yet marked reverted, oldest first."""
        with self._lock:
            try:
                text = self.path.read_text()
            except FileNotFoundError:
                return []
            except OSError as err:
                raise JournalError(f"cannot read mutation journal {self.path}: {err}") from err
            lines = text.split("\n")
            applied: dict[str, ConfigMapChange] = {}
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as err:
                    if number == len(lines) and not text.endswith("\n"):
                        break  # torn final write: the patch after it never happened
                    raise JournalError(f"{self.path}:{number}: unreadable record") from err
                op = record.pop("op", None)
                if op == "apply":
                    applied[record["id"]] = ConfigMapChange(**record)
                elif op == "revert":
                    applied.pop(record["id"], None)
                else:
                    raise JournalError(f"{self.path}:{number}: unknown op {op!r}")
            return list(applied.values())

    def compact(self) -> None:
        """Empty the journal once nothing is pending (atomic replace)."""
        if self.pending():
            return
        with self._lock:
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            try:
                tmp.write_text("")
                os.replace(tmp, self.path)
            except FileNotFoundError:
                return
            except OSError as err:
                raise JournalError(f"cannot compact {self.path}: {err}") from err


class Janitor:
    def __init__(
        self,
        client: KubeClient,
        journal: MutationJournal,
        settings: ObjectSettings,
        *,
        clock: Clock | None = None,
        now: Callable[[], str] = utc_now,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.settings = settings
        self.clock = clock or SystemClock()
        self.now = now
        self.log = log

    # -- owned objects --------------------------------------------------------------------

    def delete_owned(self, sweep: str | None = None) -> list[str]:
        """Delete every namespace this installation (or one sweep of it) created; everything
        we create lives in them. Returns the namespaces deleted."""
        names = [
            str(ns["metadata"]["name"])
            for ns in self.client.list_namespaces(owned_selector(self.settings, sweep))
        ]
        for name in names:
            try:
                self.client.delete_namespace(name)
            except KubeNotFound:
                continue
            self.log(f"janitor: deleting namespace {name}")
        return names

    def wait_namespaces_gone(self, names: list[str], timeout: float, poll: float = 1.0) -> None:
        """Verify the namespaces are really gone (finalizers done), else raise KubeError."""
        deadline = self.clock.monotonic() + timeout
        remaining = list(names)
        while remaining:
            still = []
            for name in remaining:
                try:
                    self.client.get_namespace(name)
                except KubeNotFound:
                    continue
                still.append(name)
            remaining = still
            if not remaining:
                return
            if self.clock.monotonic() >= deadline:
                raise KubeError(
                    f"namespaces still terminating after {timeout:.0f}s: {', '.join(remaining)}"
                )
            self.clock.sleep(poll)

    # -- mutations of objects we do not own -----------------------------------------------

    def patch_config_map(
        self,
        namespace: str,
        name: str,
        key: str,
        value: str,
        *,
        restart: tuple[str, str] | None = None,
        reason: str = "",
    ) -> ConfigMapChange | None:
        """Set ``data[key] = value``, journalled first; None when it already held ``value``."""
        cm = self.client.get_config_map(namespace, name)
        before = (cm.get("data") or {}).get(key)
        if before == value:
            return None
        change = ConfigMapChange(
            id=uuid.uuid4().hex,
            namespace=namespace,
            name=name,
            key=key,
            before=before,
            after=value,
            restart_namespace=restart[0] if restart else None,
            restart_daemon_set=restart[1] if restart else None,
            reason=reason,
        )
        self.journal.record(change)
        self.client.patch_config_map_data(namespace, name, {key: value})
        self.log(f"changed {namespace}/{name} {key}: {before!r} -> {value!r} ({reason})")
        self._restart(change)
        return change

    def _restart(self, change: ConfigMapChange) -> None:
        if change.restart_namespace and change.restart_daemon_set:
            self.client.rollout_restart_daemon_set(
                change.restart_namespace, change.restart_daemon_set, self.now()
            )

    def revert_all(self) -> list[RevertOutcome]:
        """Revert every pending change, newest first. Conflicts are reported, not raised:
        the remaining changes are still reverted."""
        outcomes = []
        for change in reversed(self.journal.pending()):
            try:
                cm = self.client.get_config_map(change.namespace, change.name)
            except KubeNotFound:
                outcome = RevertOutcome(change, "gone")
            else:
                current = (cm.get("data") or {}).get(change.key)
                if current == change.after:
                    self.client.patch_config_map_data(
                        change.namespace, change.name, {change.key: change.before}
                    )
                    self._restart(change)
                    outcome = RevertOutcome(change, "reverted", current)
                elif current == change.before:
                    outcome = RevertOutcome(change, "not-applied", current)
                else:
                    outcome = RevertOutcome(change, "conflict", current)
            self.journal.mark(change.id, outcome.outcome)
            self.log(f"janitor: {outcome.describe()}")
            outcomes.append(outcome)
        self.journal.compact()
        return outcomes

    def startup(self, timeout: float) -> tuple[list[RevertOutcome], list[str]]:
        """What a fresh exporter does first: revert a dead sweep's mutations, delete its
        objects and verify they are gone."""
        reverted = self.revert_all()
        deleted = self.delete_owned()
        self.wait_namespaces_gone(deleted, timeout)
        return reverted, deleted
