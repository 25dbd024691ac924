"""Sweep history in SQLite (WAL): sweeps, scenario outcomes, measurements, errors.

The exporter's memory across restarts. Outcomes are written as each scenario finishes, so a
sweep killed midway keeps what it finished; the janitor marks such a sweep ``aborted`` at the
next start (:meth:`Store.mark_running_as_aborted`).

Scrapes must be cheap whatever the history length, so two small tables are maintained on write:
``latest_outcome`` (per cluster, scenario, datapath: the latest outcome and the last success)
and ``latest_series`` (per cluster, datapath, metric, labels: the latest successful
measurement). Retention rebuilds them from what remains.

One connection guarded by a lock: the API threads, the runner thread and the scheduler share
the store, and SQLite writes are serialised anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from exporter.model import Labels, ScenarioOutcome, Summary, SweepResult, SweepStatus

SKIPPED = "skipped"
"""Status of a scheduled run that found a sweep running (recorded, never silently dropped)."""

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    target TEXT NOT NULL,
    profile TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,
    request TEXT NOT NULL DEFAULT '{}',
    settings TEXT NOT NULL DEFAULT '{}',
    info TEXT NOT NULL DEFAULT '{}',
    datapaths TEXT NOT NULL DEFAULT '[]',
    scenarios TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS sweeps_started ON sweeps (started_at DESC);
CREATE INDEX IF NOT EXISTS sweeps_status ON sweeps (status);
CREATE INDEX IF NOT EXISTS sweeps_trigger ON sweeps (trigger, started_at DESC);

CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY,
    sweep_id TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    scenario TEXT NOT NULL,
    datapath TEXT NOT NULL,
    success INTEGER NOT NULL,
    error TEXT,
    finished_at REAL NOT NULL,
    UNIQUE (sweep_id, scenario, datapath)
);

CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    outcome_id INTEGER NOT NULL REFERENCES outcomes (id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL,
    minimum REAL NOT NULL,
    maximum REAL NOT NULL,
    mean REAL NOT NULL,
    relative_stddev REAL NOT NULL,
    rounds INTEGER NOT NULL,
    noisy INTEGER NOT NULL,
    samples TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_outcome ON measurements (outcome_id);

CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY,
    sweep_id TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    scenario TEXT,
    datapath TEXT,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS errors_sweep ON errors (sweep_id);

CREATE TABLE IF NOT EXISTS latest_outcome (
    cluster TEXT NOT NULL,
    scenario TEXT NOT NULL,
    datapath TEXT NOT NULL,
    outcome_id INTEGER NOT NULL,
    success INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    last_success_at REAL,
    last_failure_at REAL,
    PRIMARY KEY (cluster, scenario, datapath)
);

CREATE TABLE IF NOT EXISTS latest_series (
    cluster TEXT NOT NULL,
    datapath TEXT NOT NULL,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    scenario TEXT NOT NULL,
    measurement_id INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (cluster, datapath, metric, labels)
);

CREATE TABLE IF NOT EXISTS sweep_counts (
    profile TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_duration_seconds REAL,
    last_finished_at REAL,
    PRIMARY KEY (profile, trigger, status)
);

CREATE TABLE IF NOT EXISTS datapath_info (
    cluster TEXT NOT NULL,
    datapath TEXT NOT NULL,
    labels TEXT NOT NULL,
    sweep_id TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (cluster, datapath)
);
"""


@dataclass(frozen=True)
class SweepRecord:
    id: str
    cluster: str
    target: str
    profile: str
    trigger: str
    status: str
    started_at: float
    updated_at: float
    finished_at: float | None
    progress: float
    """Fraction of the planned work done, 0..1."""
    message: str
    """The latest step (what it is doing now, or how it ended)."""
    error: str | None
    request: dict[str, object]
    settings: dict[str, object]
    info: dict[str, dict[str, str]]
    datapaths: tuple[str, ...]
    scenarios: tuple[str, ...]

    @property
    def duration_seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True)
class MeasurementRecord:
    sweep_id: str
    scenario: str
    datapath: str
    metric: str
    labels: Labels
    summary: Summary
    samples: tuple[float, ...]
    finished_at: float


@dataclass(frozen=True)
class OutcomeRecord:
    sweep_id: str
    scenario: str
    datapath: str
    success: bool
    error: str | None
    finished_at: float
    measurements: tuple[MeasurementRecord, ...]


@dataclass(frozen=True)
class LatestOutcome:
    """The latest outcome of one scenario on one datapath, and when it last succeeded."""

    scenario: str
    datapath: str
    success: bool
    finished_at: float
    last_success_at: float | None
    sweep_id: str
    error: str | None


@dataclass(frozen=True)
class ErrorRecord:
    at: float
    scenario: str | None
    datapath: str | None
    message: str


@dataclass(frozen=True)
class SweepCount:
    """``netbench_sweeps_total`` and the latest duration, per profile, trigger and status.

    Kept in their own table: retention deletes sweeps but a counter must never go down."""

    profile: str
    trigger: str
    status: str
    count: int
    last_duration_seconds: float | None


def _labels_json(labels: Labels) -> str:
    return json.dumps([list(kv) for kv in sorted(labels)], separators=(",", ":"))


def _labels_of_json(text: str) -> Labels:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class Store:
    """Thread-safe SQLite history. ``path`` may be ``":memory:"`` in tests."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._generation = 0
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=10000")
        # executescript commits on its own; run it outside an explicit transaction.
        with self._lock:
            self._db.executescript(_SCHEMA)
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version == 0:
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: schema version {version}, this netbench knows {SCHEMA_VERSION}"
                )

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._generation += 1

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @property
    def generation(self) -> int:
        """Incremented on every committed write (lets readers cache)."""
        return self._generation

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ping(self) -> bool:
        try:
            return bool(self._read("SELECT 1")[0][0] == 1)
        except sqlite3.Error:
            return False

    def journal_mode(self) -> str:
        return str(self._read("PRAGMA journal_mode")[0][0])

    # -- writes ---------------------------------------------------------------------------

    def create_sweep(
        self,
        sweep_id: str,
        *,
        cluster: str,
        target: str,
        profile: str,
        trigger: str,
        request: Mapping[str, object] | None = None,
        started_at: float | None = None,
    ) -> None:
        now = self.clock() if started_at is None else started_at
        with self._tx() as db:
            db.execute(
                "INSERT INTO sweeps (id, cluster, target, profile, trigger, status, started_at,"
                " updated_at, message, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sweep_id,
                    cluster,
                    target,
                    profile,
                    trigger,
                    str(SweepStatus.RUNNING),
                    now,
                    now,
                    "queued",
                    _dumps(dict(request or {})),
                ),
            )

    def update_progress(self, sweep_id: str, progress: float, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE sweeps SET progress = ?, message = ?, updated_at = ?"
                " WHERE id = ? AND status = ?",
                (
                    min(max(progress, 0.0), 1.0),
                    message,
                    self.clock(),
                    sweep_id,
                    str(SweepStatus.RUNNING),
                ),
            )

    def record_outcome(self, sweep_id: str, cluster: str, outcome: ScenarioOutcome) -> bool:
        """Persist one scenario outcome with its measurements. Idempotent: False if known."""
        with self._tx() as db:
            exists = db.execute(
                "SELECT 1 FROM outcomes WHERE sweep_id = ? AND scenario = ? AND datapath = ?",
                (sweep_id, outcome.scenario, outcome.datapath),
            ).fetchone()
            if exists:
                return False
            cur = db.execute(
                "INSERT INTO outcomes (sweep_id, scenario, datapath, success, error, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    sweep_id,
                    outcome.scenario,
                    outcome.datapath,
                    int(outcome.success),
                    outcome.error,
                    outcome.finished_at,
                ),
            )
            outcome_id = cur.lastrowid
            if not outcome.success:
                db.execute(
                    "INSERT INTO errors (sweep_id, at, scenario, datapath, message)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        sweep_id,
                        outcome.finished_at,
                        outcome.scenario,
                        outcome.datapath,
                        outcome.error or "failed",
                    ),
                )
            for m in outcome.measurements:
                s = m.summary
                mcur = db.execute(
                    "INSERT INTO measurements (outcome_id, metric, labels, value, minimum,"
                    " maximum, mean, relative_stddev, rounds, noisy, samples)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        outcome_id,
                        m.metric,
                        _labels_json(m.labels),
                        s.value,
                        s.minimum,
                        s.maximum,
                        s.mean,
                        s.relative_stddev,
                        s.rounds,
                        int(s.noisy),
                        json.dumps(list(m.values)),
                    ),
                )
                db.execute(
                    "INSERT INTO latest_series (cluster, datapath, metric, labels, scenario,"
                    " measurement_id, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (cluster, datapath, metric, labels) DO UPDATE SET"
                    " scenario = excluded.scenario, measurement_id = excluded.measurement_id,"
                    " finished_at = excluded.finished_at"
                    " WHERE excluded.finished_at >= latest_series.finished_at",
                    (
                        cluster,
                        outcome.datapath,
                        m.metric,
                        _labels_json(m.labels),
                        outcome.scenario,
                        mcur.lastrowid,
                        outcome.finished_at,
                    ),
                )
            db.execute(
                "INSERT INTO latest_outcome (cluster, scenario, datapath, outcome_id, success,"
                " finished_at, last_success_at, last_failure_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (cluster, scenario, datapath) DO UPDATE SET"
                # An outcome arriving late (older than the one held) must not replace it, but
                # its success or failure time still counts.
                " outcome_id = CASE WHEN excluded.finished_at >= latest_outcome.finished_at"
                "   THEN excluded.outcome_id ELSE latest_outcome.outcome_id END,"
                " success = CASE WHEN excluded.finished_at >= latest_outcome.finished_at"
                "   THEN excluded.success ELSE latest_outcome.success END,"
                " finished_at = max(latest_outcome.finished_at, excluded.finished_at),"
                " last_success_at = nullif(max(coalesce(latest_outcome.last_success_at, 0),"
                "   coalesce(excluded.last_success_at, 0)), 0),"
                " last_failure_at = nullif(max(coalesce(latest_outcome.last_failure_at, 0),"
                "   coalesce(excluded.last_failure_at, 0)), 0)",
                (
                    cluster,
                    outcome.scenario,
                    outcome.datapath,
                    outcome_id,
                    int(outcome.success),
                    outcome.finished_at,
                    outcome.finished_at if outcome.success else None,
                    None if outcome.success else outcome.finished_at,
                ),
            )
            db.execute("UPDATE sweeps SET updated_at = ? WHERE id = ?", (self.clock(), sweep_id))
        return True

    def record_error(
        self,
        sweep_id: str,
        message: str,
        *,
        scenario: str | None = None,
        datapath: str | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO errors (sweep_id, at, scenario, datapath, message)"
                " VALUES (?, ?, ?, ?, ?)",
                (sweep_id, self.clock(), scenario, datapath, message),
            )

    def finish_sweep(self, result: SweepResult) -> None:
        """Record the end of a sweep (and any outcome the runner did not report yet)."""
        for outcome in result.outcomes:
            self.record_outcome(result.id, result.cluster, outcome)
        finished_at = result.finished_at if result.finished_at is not None else self.clock()
        status = str(result.status)
        if status == str(SweepStatus.RUNNING):
            status = str(SweepStatus.FAILED)
        with self._tx() as db:
            row = db.execute(
                "SELECT status, started_at, profile, trigger FROM sweeps WHERE id = ?",
                (result.id,),
            ).fetchone()
            if row is None or row["status"] != str(SweepStatus.RUNNING):
                return
            db.execute(
                "UPDATE sweeps SET status = ?, finished_at = ?, updated_at = ?, error = ?,"
                " message = ?, progress = CASE WHEN ? THEN 1.0 ELSE progress END,"
                " settings = ?, info = ?, datapaths = ?, scenarios = ?, cluster = ?,"
                " target = ? WHERE id = ?",
                (
                    status,
                    finished_at,
                    self.clock(),
                    result.error,
                    f"{status}" + (f": {result.error}" if result.error else ""),
                    status == str(SweepStatus.SUCCEEDED),
                    _dumps(result.settings),
                    _dumps(result.info),
                    _dumps(list(result.datapaths)),
                    _dumps(list(result.scenarios)),
                    result.cluster,
                    result.target,
                    result.id,
                ),
            )
            if result.error:
                db.execute(
                    "INSERT INTO errors (sweep_id, at, message) VALUES (?, ?, ?)",
                    (result.id, finished_at, result.error),
                )
            for datapath, labels in result.info.items():
                db.execute(
                    "INSERT INTO datapath_info (cluster, datapath, labels, sweep_id, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster, datapath) DO UPDATE SET"
                    " labels = excluded.labels, sweep_id = excluded.sweep_id,"
                    " updated_at = excluded.updated_at",
                    (result.cluster, datapath, _dumps(dict(labels)), result.id, finished_at),
                )
            self._count(db, row["profile"], row["trigger"], status, finished_at - row["started_at"])

    def fail_sweep(self, sweep_id: str, status: str, error: str) -> None:
        """End a sweep that produced no result (the runner itself raised)."""
        now = self.clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT status, started_at, profile, trigger FROM sweeps WHERE id = ?",
                (sweep_id,),
            ).fetchone()
            if row is None or row["status"] != str(SweepStatus.RUNNING):
                return
            db.execute(
                "UPDATE sweeps SET status = ?, finished_at = ?, updated_at = ?, error = ?,"
                " message = ? WHERE id = ?",
                (status, now, now, error, f"{status}: {error}", sweep_id),
            )
            db.execute(
                "INSERT INTO errors (sweep_id, at, message) VALUES (?, ?, ?)",
                (sweep_id, now, error),
            )
            self._count(db, row["profile"], row["trigger"], status, now - row["started_at"])

    def record_skipped(
        self,
        sweep_id: str,
        *,
        cluster: str,
        target: str,
        profile: str,
        trigger: str,
        reason: str,
    ) -> None:
        """A run that did not happen (a sweep was running, or the schedule misfired)."""
        now = self.clock()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sweeps (id, cluster, target, profile, trigger, status, started_at,"
                " updated_at, finished_at, message, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sweep_id,
                    cluster,
                    target,
                    profile,
                    trigger,
                    SKIPPED,
                    now,
                    now,
                    now,
                    f"skipped: {reason}",
                    reason,
                ),
            )
            self._count(db, profile, trigger, SKIPPED, None)

    def mark_running_as_aborted(self, reason: str = "the exporter died mid-sweep") -> list[str]:
        """Janitor, at start: every sweep still 'running' belonged to a dead process."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, started_at, updated_at, profile, trigger FROM sweeps WHERE status = ?",
                (str(SweepStatus.RUNNING),),
            ).fetchall()
            for row in rows:
                # The last sign of life is the best estimate of when it died.
                db.execute(
                    "UPDATE sweeps SET status = ?, finished_at = ?, error = ?, message = ?"
                    " WHERE id = ?",
                    (
                        str(SweepStatus.ABORTED),
                        row["updated_at"],
                        reason,
                        f"aborted: {reason}",
                        row["id"],
                    ),
                )
                db.execute(
                    "INSERT INTO errors (sweep_id, at, message) VALUES (?, ?, ?)",
                    (row["id"], self.clock(), reason),
                )
                self._count(
                    db,
                    row["profile"],
                    row["trigger"],
                    str(SweepStatus.ABORTED),
                    row["updated_at"] - row["started_at"],
                )
        return [str(r["id"]) for r in rows]

    @staticmethod
    def _count(
        db: sqlite3.Connection, profile: str, trigger: str, status: str, duration: float | None
    ) -> None:
        db.execute(
            "INSERT INTO sweep_counts (profile, trigger, status, count, last_duration_seconds)"
            " VALUES (?, ?, ?, 1, ?) ON CONFLICT (profile, trigger, status) DO UPDATE SET"
            " count = count + 1,"
            " last_duration_seconds = coalesce(excluded.last_duration_seconds,"
            "   sweep_counts.last_duration_seconds)",
            (profile, trigger, status, duration),
        )

    def prune(self, *, max_age_seconds: float, keep_last: int, now: float | None = None) -> int:
        """Delete finished sweeps older than ``max_age_seconds`` or beyond the newest
        ``keep_last``. Running sweeps are never deleted. Returns how many were deleted."""
        cutoff = (self.clock() if now is None else now) - max_age_seconds
        with self._tx() as db:
            running = str(SweepStatus.RUNNING)
            doomed = db.execute(
                "SELECT id FROM sweeps WHERE status != ? AND (started_at < ? OR id NOT IN"
                " (SELECT id FROM sweeps WHERE status != ? ORDER BY started_at DESC, rowid DESC"
                "  LIMIT ?))",
                (running, cutoff, running, keep_last),
            ).fetchall()
            ids = [str(r["id"]) for r in doomed]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                db.execute(f"DELETE FROM sweeps WHERE id IN ({marks})", tuple(part))
            if ids:
                self._rebuild_latest(db)
        return len(ids)

    @staticmethod
    def _rebuild_latest(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM latest_outcome")
        db.execute(
            "INSERT INTO latest_outcome (cluster, scenario, datapath, outcome_id, success,"
            " finished_at, last_success_at, last_failure_at)"
            " SELECT cluster, scenario, datapath, id, success, finished_at, last_ok, last_ko"
            " FROM ("
            "  SELECT s.cluster, o.scenario, o.datapath, o.id, o.success, o.finished_at,"
            "   max(CASE WHEN o.success THEN o.finished_at END) OVER w AS last_ok,"
            "   max(CASE WHEN NOT o.success THEN o.finished_at END) OVER w AS last_ko,"
            "   row_number() OVER (w ORDER BY o.finished_at DESC, o.id DESC) AS rn"
            "  FROM outcomes o JOIN sweeps s ON s.id = o.sweep_id"
            "  WINDOW w AS (PARTITION BY s.cluster, o.scenario, o.datapath)"
            " ) WHERE rn = 1"
        )
        db.execute("DELETE FROM latest_series")
        db.execute(
            "INSERT INTO latest_series (cluster, datapath, metric, labels, scenario,"
            " measurement_id, finished_at)"
            " SELECT cluster, datapath, metric, labels, scenario, mid, finished_at FROM ("
            "  SELECT s.cluster, o.datapath, m.metric, m.labels, o.scenario, m.id AS mid,"
            "   o.finished_at, row_number() OVER (PARTITION BY s.cluster, o.datapath,"
            "   m.metric, m.labels ORDER BY o.finished_at DESC, m.id DESC) AS rn"
            "  FROM measurements m JOIN outcomes o ON o.id = m.outcome_id"
            "  JOIN sweeps s ON s.id = o.sweep_id WHERE o.success"
            " ) WHERE rn = 1"
        )

    # -- reads ----------------------------------------------------------------------------

    @staticmethod
    def _sweep(row: sqlite3.Row) -> SweepRecord:
        return SweepRecord(
            id=row["id"],
            cluster=row["cluster"],
            target=row["target"],
            profile=row["profile"],
            trigger=row["trigger"],
            status=row["status"],
            started_at=row["started_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
            progress=row["progress"],
            message=row["message"],
            error=row["error"],
            request=json.loads(row["request"]),
            settings=json.loads(row["settings"]),
            info=json.loads(row["info"]),
            datapaths=tuple(json.loads(row["datapaths"])),
            scenarios=tuple(json.loads(row["scenarios"])),
        )

    def get_sweep(self, sweep_id: str) -> SweepRecord | None:
        rows = self._read("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
        return self._sweep(rows[0]) if rows else None

    def list_sweeps(self, *, limit: int, offset: int = 0) -> tuple[list[SweepRecord], int]:
        """Newest first, with the total count."""
        with self._lock:
            total = int(self._db.execute("SELECT count(*) FROM sweeps").fetchone()[0])
            rows = self._db.execute(
                "SELECT * FROM sweeps ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [self._sweep(r) for r in rows], total

    def running_sweeps(self) -> list[SweepRecord]:
        rows = self._read(
            "SELECT * FROM sweeps WHERE status = ? ORDER BY started_at",
            (str(SweepStatus.RUNNING),),
        )
        return [self._sweep(r) for r in rows]

    def last_started(self, trigger: str) -> float | None:
        """Start time of the newest sweep this trigger started (skipped runs excluded)."""
        rows = self._read(
            "SELECT max(started_at) FROM sweeps WHERE trigger = ? AND status != ?",
            (trigger, SKIPPED),
        )
        value = rows[0][0]
        return None if value is None else float(value)

    @staticmethod
    def _measurement(row: sqlite3.Row) -> MeasurementRecord:
        return MeasurementRecord(
            sweep_id=row["sweep_id"],
            scenario=row["scenario"],
            datapath=row["datapath"],
            metric=row["metric"],
            labels=_labels_of_json(row["labels"]),
            summary=Summary(
                value=row["value"],
                minimum=row["minimum"],
                maximum=row["maximum"],
                mean=row["mean"],
                relative_stddev=row["relative_stddev"],
                rounds=row["rounds"],
                noisy=bool(row["noisy"]),
            ),
            samples=tuple(json.loads(row["samples"])),
            finished_at=row["finished_at"],
        )

    def outcomes(self, sweep_id: str) -> list[OutcomeRecord]:
        with self._lock:
            outs = self._db.execute(
                "SELECT * FROM outcomes WHERE sweep_id = ? ORDER BY id", (sweep_id,)
            ).fetchall()
            meas = self._db.execute(
                "SELECT m.*, o.sweep_id, o.scenario, o.datapath, o.finished_at"
                " FROM measurements m JOIN outcomes o ON o.id = m.outcome_id"
                " WHERE o.sweep_id = ? ORDER BY m.id",
                (sweep_id,),
            ).fetchall()
        by_outcome: dict[int, list[MeasurementRecord]] = {}
        for m in meas:
            by_outcome.setdefault(int(m["outcome_id"]), []).append(self._measurement(m))
        return [
            OutcomeRecord(
                sweep_id=o["sweep_id"],
                scenario=o["scenario"],
                datapath=o["datapath"],
                success=bool(o["success"]),
                error=o["error"],
                finished_at=o["finished_at"],
                measurements=tuple(by_outcome.get(int(o["id"]), ())),
            )
            for o in outs
        ]

    def errors(self, sweep_id: str) -> list[ErrorRecord]:
        rows = self._read(
            "SELECT at, scenario, datapath, message FROM errors WHERE sweep_id = ? ORDER BY id",
            (sweep_id,),
        )
        return [ErrorRecord(r["at"], r["scenario"], r["datapath"], r["message"]) for r in rows]

    def latest_outcomes(self, cluster: str) -> list[LatestOutcome]:
        rows = self._read(
            "SELECT l.scenario, l.datapath, l.success, l.finished_at, l.last_success_at,"
            " o.sweep_id, o.error FROM latest_outcome l JOIN outcomes o ON o.id = l.outcome_id"
            " WHERE l.cluster = ? ORDER BY l.scenario, l.datapath",
            (cluster,),
        )
        return [
            LatestOutcome(
                scenario=r["scenario"],
                datapath=r["datapath"],
                success=bool(r["success"]),
                finished_at=r["finished_at"],
                last_success_at=r["last_success_at"] or None,
                sweep_id=r["sweep_id"],
                error=r["error"],
            )
            for r in rows
        ]

    def latest_measurements(self, cluster: str, *, since: float) -> list[MeasurementRecord]:
        """The latest successful measurement of every series measured since ``since``,
        except the series of a (scenario, datapath) whose latest outcome failed, and series
        older than that scenario's latest failure (a variant no longer measured since)."""
        rows = self._read(
            "SELECT m.*, o.sweep_id, ls.scenario, ls.datapath, ls.finished_at"
            " FROM latest_series ls"
            " JOIN measurements m ON m.id = ls.measurement_id"
            " JOIN outcomes o ON o.id = m.outcome_id"
            " LEFT JOIN latest_outcome lo ON lo.cluster = ls.cluster"
            "  AND lo.scenario = ls.scenario AND lo.datapath = ls.datapath"
            " WHERE ls.cluster = ? AND ls.finished_at >= ? AND coalesce(lo.success, 1) = 1"
            "  AND ls.finished_at >= coalesce(lo.last_failure_at, 0)"
            " ORDER BY ls.metric, ls.datapath, ls.labels",
            (cluster, since),
        )
        return [self._measurement(r) for r in rows]

    def sweep_counts(self) -> list[SweepCount]:
        rows = self._read(
            "SELECT * FROM sweep_counts ORDER BY profile, trigger, status",
        )
        return [
            SweepCount(
                r["profile"], r["trigger"], r["status"], r["count"], r["last_duration_seconds"]
            )
            for r in rows
        ]

    def datapath_info(self, cluster: str, *, since: float) -> dict[str, dict[str, str]]:
        rows = self._read(
            "SELECT datapath, labels FROM datapath_info WHERE cluster = ? AND updated_at >= ?"
            " ORDER BY datapath",
            (cluster, since),
        )
        return {
            str(r["datapath"]): {str(k): str(v) for k, v in json.loads(r["labels"]).items()}
            for r in rows
        }
