"""Render a :class:`~exporter.model.SweepResult` as a terminal table, Markdown, or JSON.

The text formats mirror the reference article: a header saying how the sweep was measured, the
"At a glance" table (one row per headline figure, one column per datapath), the Service-scale
table with the crossover between datapaths' short-connection curves, and the failures.

JSON (:func:`to_json` / :func:`from_json`) is the stable machine format, documented in
``docs/report-json.md``; it round-trips a SweepResult exactly. Values are stored in base units
(bytes/s, seconds, ratios); only the text formats convert (Gbit/s, µs, ms, %).

Reading rules for the text formats: a cell is the median of the rounds, followed by
``±<relative stddev>`` when there was more than one round and ``!`` when the series is noisy;
``—`` means not measured, ``failed`` that the scenario failed on that datapath (see Failures).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)

T = TypeVar("T")

FORMATS: tuple[str, ...] = ("table", "markdown", "json")
SCHEMA_VERSION = 1
MISSING = "—"
FAILED = "failed"
NOISY_MARK = "!"

SCALE_RPS = "service_scale_requests_per_second"
SCALE_DEGRADATION = "service_scale_degradation_ratio"
SCALE_ENTRIES = "datapath_entries"
SCALE_PROGRAMMING = "datapath_programming_seconds"


def render(result: SweepResult, fmt: str) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "table":
        return render_table(result)
    if fmt == "markdown":
        return render_markdown(result)
    if fmt == "json":
        return to_json(result)
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")


# --------------------------------------------------------------------------------------------
# Crossover


def crossover(
    steps: Sequence[float], a_values: Sequence[float], b_values: Sequence[float]
) -> float | None:
    """The Service count where curve ``a`` and curve ``b`` first swap places, or None.

    ``steps`` are ascending x values (Service counts, the baseline 0 included), ``a_values`` and
    ``b_values`` the two curves measured there. Where the sign of ``a - b`` changes between two
    neighbouring steps, the crossing is linearly interpolated between them. Where the curves are
    level at one or more steps and then swap, they crossed at the first level step. Curves that
    only touch (level, then the same one ahead again) or start level and part do not cross.
    """
    if not len(steps) == len(a_values) == len(b_values):
        raise ValueError("steps, a_values and b_values must have the same length")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(f"steps must be strictly ascending, got {list(steps)}")
    diffs = [a - b for a, b in zip(a_values, b_values, strict=True)]
    last: int | None = None  # index of the last step where the curves were not level
    for i, d in enumerate(diffs):
        if d == 0:
            continue
        if last is not None and (d > 0) != (diffs[last] > 0):
            if last < i - 1:
                return float(steps[last + 1])
            d0 = diffs[last]
            return float(steps[last] + (steps[i] - steps[last]) * d0 / (d0 - d))
        last = i
    return None


# --------------------------------------------------------------------------------------------
# The document both text formats render


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()
    groups: tuple[tuple[str, int], ...] = ()
    """Column groups after the first column: (title, how many columns), e.g. per datapath."""
    text_columns: int = 1
    """How many leading columns hold text (left-aligned); the rest hold numbers."""


@dataclass(frozen=True)
class Document:
    title: str
    header: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class _Headline:
    scenario: str
    label: str
    metric: str
    labels: Mapping[str, str]
    """Labels the series must carry; a ``tool`` label on top is allowed and shown."""
    fmt: Callable[[float], str]
    spread: str = "relative"
    """``relative`` (±% of the median) or ``points`` (±percentage points, for signed ratios)."""
    extra: frozenset[str] = frozenset({"tool"})
    """Labels a matching series may carry on top (``tool`` is shown, others are not)."""


def _gbit(v: float) -> str:
    return f"{v * 8 / 1e9:,.2f}"


def _count(v: float) -> str:
    return f"{v:,.0f}"


def _micro(v: float) -> str:
    return f"{v * 1e6:,.0f}"


def _milli(v: float) -> str:
    return f"{v * 1e3:,.2f}"


def _percent(v: float) -> str:
    return f"{v * 100:+.1f}%"


def _seconds(v: float) -> str:
    return f"{v:,.2f} s"


def _mib(v: float) -> str:
    return f"{v / 2**20:,.1f}"


def _headlines(steps: Sequence[int]) -> list[_Headline]:
    def tput(label: str, path: str) -> _Headline:
        return _Headline(
            "throughput",
            f"{label} throughput x8 (Gbit/s)",
            "throughput_bytes_per_second",
            {"path": path, "streams": "8"},
            _gbit,
        )

    def rps(label: str, connection: str) -> _Headline:
        return _Headline(
            "http_rps",
            f"RPS {label} c64, svc (req/s)",
            "http_requests_per_second",
            {"path": "service", "connection": connection, "concurrency": "64"},
            _count,
        )

    def p99(label: str, test: str, fmt: Callable[[float], str]) -> _Headline:
        return _Headline(
            "latency", label, "latency_seconds", {"test": test, "quantile": "0.99"}, fmt
        )

    rows = [
        tput("Pod2Pod", "pod2pod"),
        tput("Host network", "hostnet"),
        tput("Service", "service"),
        rps("keepalive", "keepalive"),
        rps("short conn", "short"),
        p99("TCP_RR p99 (µs)", "tcp_rr", _micro),
        p99("Short-conn TCP_CRR p99 (µs)", "tcp_crr", _micro),
        p99("HTTP p99 @1000 QPS (ms)", "http_fixed_qps", _milli),
    ]
    rows += [
        _Headline(
            "service_scale",
            f"Short-conn RPS @{step:,} svc (req/s)",
            SCALE_RPS,
            {"services": str(step), "connection": "short"},
            _count,
        )
        for step in steps
    ]
    if steps:
        rows.append(
            _Headline(
                "service_scale",
                f"Short-conn degradation @{steps[-1]:,} svc",
                SCALE_DEGRADATION,
                {"services": str(steps[-1]), "connection": "short"},
                _percent,
                spread="points",
            )
        )
    rows += [
        _Headline(
            "policy",
            f"{label} NetworkPolicy overhead",
            "policy_overhead_ratio",
            {"policy": policy},
            _percent,
            spread="points",
        )
        for label, policy in (("L3/L4", "l3l4"), ("L7", "l7"))
    ]
    rows.append(
        _Headline(
            "observability",
            "Flow observer overhead (short conn)",
            "observability_overhead_ratio",
            {},
            _percent,
            spread="points",
            extra=frozenset({"feature"}),
        )
    )
    rows.append(
        _Headline(
            "bpf_memory",
            "BPF map memory / node (MiB)",
            "bpf_map_memory_bytes",
            {"map": "_total"},
            _mib,
            extra=frozenset({"node"}),
        )
    )
    return rows


def _matching(
    result: SweepResult,
    datapath: str,
    metric: str,
    wanted: Mapping[str, str],
    allowed: frozenset[str] = frozenset({"tool"}),
) -> list[Measurement]:
    out = []
    for m in result.measurements():
        if m.datapath != datapath or m.metric != metric:
            continue
        labels = m.label_dict
        extra = set(labels) - set(wanted)
        if extra <= allowed and all(labels.get(k) == v for k, v in wanted.items()):
            out.append(m)
    return out


def _failed(result: SweepResult, scenario: str, datapath: str) -> bool:
    return any(
        not o.success and o.scenario == scenario and o.datapath == datapath for o in result.outcomes
    )


def _cell(
    m: Measurement | None,
    failed: bool,
    fmt: Callable[[float], str],
    spread: str = "relative",
) -> str:
    if m is None:
        return FAILED if failed else MISSING
    s = m.summary
    text = fmt(s.value)
    if s.rounds > 1:
        if spread == "points":
            text += f" ±{s.relative_stddev * abs(s.mean) * 100:.1f}pp"
        else:
            text += f" ±{s.relative_stddev * 100:.1f}%"
    if s.noisy and spread == "relative":
        text += f" {NOISY_MARK}"
    return text


def _steps(result: SweepResult) -> list[int]:
    """Scale steps: the planned ones (settings) and any measured, ascending, without 0."""
    found: set[int] = set()
    planned = result.settings.get("scale_steps")
    if isinstance(planned, list | tuple):
        found.update(s for s in planned if isinstance(s, int) and not isinstance(s, bool))
    for m in result.measurements():
        services = m.label_dict.get("services")
        if m.scenario == "service_scale" and services is not None and services.isdigit():
            found.add(int(services))
    return sorted(s for s in found if s > 0)


def _glance(result: SweepResult, steps: Sequence[int]) -> Section:
    rows: list[tuple[str, ...]] = []
    for h in _headlines(steps):
        if h.scenario not in result.scenarios:
            continue
        per_dp = {dp: _matching(result, dp, h.metric, h.labels, h.extra) for dp in result.datapaths}
        tools = sorted({m.label_dict.get("tool", "") for ms in per_dp.values() for m in ms})
        for tool in tools or [""]:
            cells = []
            for dp in result.datapaths:
                found = [m for m in per_dp[dp] if m.label_dict.get("tool", "") == tool]
                failed = _failed(result, h.scenario, dp)
                cells.append(_cell(found[0] if found else None, failed, h.fmt, h.spread))
            rows.append((f"{h.label} [{tool}]" if tool else h.label, *cells))
    legend = (
        "Median of the rounds; ±: relative standard deviation (pp: percentage points); "
        f"{NOISY_MARK}: noisy; {MISSING}: not measured; {FAILED}: see Failures; "
        "[tool]: the tool that measured the row."
    )
    return Section(
        title="At a glance",
        columns=("", *result.datapaths),
        rows=tuple(rows),
        notes=(legend,) if rows else ("No headline scenario ran in this sweep.",),
    )


def _exact(result: SweepResult, datapath: str, metric: str, **labels: str) -> Measurement | None:
    wanted = labels_of(labels)
    for m in result.measurements():
        if m.datapath == datapath and m.metric == metric and m.labels == wanted:
            return m
    return None


def _short_rps(result: SweepResult, datapath: str, services: int) -> float | None:
    m = _exact(result, datapath, SCALE_RPS, services=str(services), connection="short")
    return None if m is None else m.summary.value


def _scale(result: SweepResult, steps: Sequence[int]) -> Section | None:
    if "service_scale" not in result.scenarios:
        return None
    per_dp = ("keepalive req/s", "short req/s", "Δ keepalive / short", "entries", "programming")
    columns = ("Services", *(per_dp * len(result.datapaths)))
    kinds = {dp: _entry_kinds(result, dp) for dp in result.datapaths}
    rows: list[tuple[str, ...]] = []
    for services in (0, *steps):
        n = str(services)
        row = [f"{services:,}" + (" (baseline)" if services == 0 else "")]
        for dp in result.datapaths:
            failed = _failed(result, "service_scale", dp)
            if failed:
                row += [FAILED] * 5
                continue
            ka = _exact(result, dp, SCALE_RPS, services=n, connection="keepalive")
            short = _exact(result, dp, SCALE_RPS, services=n, connection="short")
            row += [_cell(ka, failed, _count), _cell(short, failed, _count)]
            if services == 0:
                row.append(MISSING)
            else:
                ka_d = _exact(result, dp, SCALE_DEGRADATION, services=n, connection="keepalive")
                sh_d = _exact(result, dp, SCALE_DEGRADATION, services=n, connection="short")
                row.append(
                    f"{_cell(ka_d, failed, _percent, 'points')} / "
                    f"{_cell(sh_d, failed, _percent, 'points')}"
                )
            row.append(_entries(result, dp, n, kinds[dp]))
            row.append(_cell(_exact(result, dp, SCALE_PROGRAMMING, services=n), failed, _seconds))
        rows.append(tuple(row))
    entry_notes = tuple(
        f"Entries on {dp}: {' / '.join(kinds[dp])}." for dp in result.datapaths if kinds[dp]
    )
    return Section(
        title="Service scale",
        columns=columns,
        rows=tuple(rows),
        groups=tuple((dp, len(per_dp)) for dp in result.datapaths),
        notes=(
            "Δ: degradation vs the baseline measured in the same sweep, "
            "(step - baseline) / baseline, keepalive / short. Entries: rules or map elements "
            "counted in the datapath. Programming: time until the datapath verifiably held the "
            "step.",
            *entry_notes,
            *_crossovers(result, steps),
        ),
    )


def _entry_kinds(result: SweepResult, datapath: str) -> tuple[str, ...]:
    """The ``kind`` values of a datapath's entry counts, in the order its cells list them."""
    return tuple(
        sorted(
            {
                m.label_dict.get("kind", "")
                for m in result.measurements()
                if m.datapath == datapath and m.metric == SCALE_ENTRIES
            }
        )
    )


def _entries(result: SweepResult, datapath: str, services: str, kinds: Sequence[str]) -> str:
    if not kinds:
        return MISSING
    cells = []
    for kind in kinds:
        m = _exact(result, datapath, SCALE_ENTRIES, services=services, kind=kind)
        cells.append(MISSING if m is None else _count(m.summary.value))
    return " / ".join(cells)


def _crossovers(result: SweepResult, steps: Sequence[int]) -> list[str]:
    """One sentence per pair of datapaths about their short-connection RPS curves."""
    lines = []
    for a, b in itertools.combinations(result.datapaths, 2):
        points = []
        for services in (0, *steps):
            va, vb = _short_rps(result, a, services), _short_rps(result, b, services)
            if va is not None and vb is not None:
                points.append((services, va, vb))
        prefix = f"Crossover {a} / {b} (short-connection RPS): "
        if len(points) < 2:
            lines.append(prefix + "not enough data (both need two or more Service counts).")
            continue
        at = crossover([p[0] for p in points], [p[1] for p in points], [p[2] for p in points])
        first = next((va - vb for _, va, vb in points if va != vb), 0.0)
        leader, trailer = (a, b) if first > 0 else (b, a)
        if at is not None:
            lines.append(prefix + f"{trailer} overtakes {leader} at ≈ {at:,.0f} Services.")
        elif first == 0:
            lines.append(prefix + "no crossover in the measured range (level throughout).")
        else:
            lines.append(
                prefix + f"no crossover in the measured range ({leader} ahead throughout)."
            )
    return lines


def _all_series(result: SweepResult) -> Section | None:
    """Every published series, one row each, one column per datapath: nothing measured is
    hidden from the report, whether or not a headline shows it."""
    keys: dict[tuple[str, str, tuple[tuple[str, str], ...]], None] = {}
    for m in result.measurements():
        keys.setdefault((m.scenario, m.metric, m.labels), None)
    if not keys:
        return None
    values = {(m.scenario, m.metric, m.labels, m.datapath): m for m in result.measurements()}
    rows = []
    for scenario, metric, labels in keys:
        name = metric + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else "")
        cells = []
        for dp in result.datapaths:
            found = values.get((scenario, metric, labels, dp))
            cells.append(_cell(found, _failed(result, scenario, dp), _general))
        rows.append((scenario, name, *cells))
    return Section(
        title="All series",
        columns=("scenario", "series", *result.datapaths),
        rows=tuple(rows),
        text_columns=2,
        notes=("Base units (bytes, seconds, requests/s, ratios), median of the rounds.",),
    )


def _general(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _skipped(result: SweepResult) -> Section | None:
    if not result.skipped:
        return None
    return Section(title="Not applicable", notes=tuple(result.skipped))


def _failures(result: SweepResult) -> Section:
    rows = tuple((o.scenario, o.datapath, o.error or "") for o in result.outcomes if not o.success)
    notes: tuple[str, ...] = () if rows or result.error else ("None.",)
    if result.error:
        notes = (f"Sweep: {result.error}", *notes)
    return Section(
        title="Failures",
        columns=("scenario", "datapath", "error") if rows else (),
        rows=rows,
        text_columns=3,
        notes=notes,
    )


def _time(ts: float | None) -> str:
    if ts is None:
        return MISSING
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _elapsed(start: float, end: float | None) -> str:
    if end is None:
        return "still running"
    hours, rest = divmod(round(end - start), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _setting(settings: Mapping[str, object], key: str, unit: str = "") -> str:
    value = settings.get(key)
    if value is None:
        return MISSING
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}{unit}"


def _header(result: SweepResult) -> tuple[tuple[str, str], ...]:
    s = result.settings
    durations = (
        f"iperf3 {_setting(s, 'iperf_seconds', ' s')} "
        f"(warm-up {_setting(s, 'warmup_seconds', ' s')}), "
        f"HTTP/RR {_setting(s, 'http_seconds', ' s')}, "
        f"round sleep {_setting(s, 'round_sleep_seconds', ' s')}"
    )
    finished = _time(result.finished_at)
    rows = [
        ("sweep", result.id),
        ("target", result.target),
        ("cluster", result.cluster),
        ("profile", result.profile),
        ("trigger", result.trigger),
        ("datapaths", ", ".join(result.datapaths) or MISSING),
        ("routing", result.routing),
        ("scenarios", ", ".join(result.scenarios) or MISSING),
        ("rounds", _setting(s, "rounds")),
        ("durations", durations),
        ("started", _time(result.started_at)),
        ("finished", f"{finished} ({_elapsed(result.started_at, result.finished_at)})"),
        ("status", str(result.status)),
    ]
    if result.error:
        rows.append(("error", result.error))
    return tuple(rows)


def build_document(result: SweepResult) -> Document:
    """What both text formats show, as plain strings (for other renderers, e.g. HTML)."""
    steps = _steps(result)
    scale = _scale(result, steps)
    optional = [section for section in (_all_series(result), _skipped(result)) if section]
    sections = (
        _glance(result, steps),
        *([scale] if scale else []),
        *optional,
        _failures(result),
    )
    return Document(title=f"netbench sweep {result.id}", header=_header(result), sections=sections)


# --------------------------------------------------------------------------------------------
# Plain text


def render_table(result: SweepResult) -> str:
    """Plain text for a terminal: aligned columns, numbers right-aligned."""
    doc = build_document(result)
    out = [doc.title, "=" * len(doc.title), ""]
    width = max(len(k) for k, _ in doc.header)
    out += [f"{k.ljust(width)}  {v}" for k, v in doc.header]
    for section in doc.sections:
        out += ["", section.title, "-" * len(section.title)]
        if section.columns:
            out += _aligned(section)
            if section.notes:
                out.append("")
        out += section.notes
    return "\n".join(out) + "\n"


def _aligned(section: Section) -> list[str]:
    table = [list(section.columns), *(list(r) for r in section.rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(section.columns))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < section.text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = []
    if section.groups:
        # A title line over each group, e.g. the datapath over its columns.
        titles, start = [" " * widths[0]], 1
        for title, span in section.groups:
            width = sum(widths[start : start + span]) + 2 * (span - 1)
            titles.append(title.center(width, "-") if len(title) + 2 <= width else title)
            start += span
        out.append("  ".join(titles).rstrip())
    return [*out, line(table[0]), "  ".join("-" * w for w in widths), *map(line, table[1:])]


# --------------------------------------------------------------------------------------------
# Markdown


def render_markdown(result: SweepResult) -> str:
    """GitHub-flavoured Markdown: the header as a list, then one table per section."""
    doc = build_document(result)
    out = [f"# {_md(doc.title)}", ""]
    out += [f"- **{k}**: {_md(v)}" for k, v in doc.header]
    for section in doc.sections:
        out += ["", f"## {section.title}", ""]
        if section.columns:
            columns = list(section.columns)
            start = 1
            for title, span in section.groups:
                for i in range(start, start + span):
                    columns[i] = f"{title} {columns[i]}"
                start += span
            align = ["---"] * section.text_columns
            align += ["---:"] * (len(columns) - section.text_columns)
            out.append("| " + " | ".join(_md(c) for c in columns) + " |")
            out.append("| " + " | ".join(align) + " |")
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in section.rows]
            if section.notes:
                out.append("")
        for i, note in enumerate(section.notes):
            out += [_md(note)] if i == 0 else ["", _md(note)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------------------------
# JSON


def to_json(result: SweepResult) -> str:
    """The stable machine format (``docs/report-json.md``), base units, ending with a newline."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "id": result.id,
        "target": result.target,
        "cluster": result.cluster,
        "profile": result.profile,
        "trigger": result.trigger,
        "datapaths": list(result.datapaths),
        "routing": result.routing,
        "scenarios": list(result.scenarios),
        "started_at": float(result.started_at),
        "finished_at": None if result.finished_at is None else float(result.finished_at),
        "status": str(result.status),
        "error": result.error,
        "settings": result.settings,
        "info": result.info,
        "outcomes": [_outcome_json(o) for o in result.outcomes],
        "skipped": list(result.skipped),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _outcome_json(o: ScenarioOutcome) -> dict[str, object]:
    return {
        "scenario": o.scenario,
        "datapath": o.datapath,
        "success": o.success,
        "error": o.error,
        "finished_at": float(o.finished_at),
        "measurements": [
            {
                "metric": m.metric,
                "labels": dict(m.labels),
                "values": [float(v) for v in m.values],
                "summary": {
                    "value": float(m.summary.value),
                    "minimum": float(m.summary.minimum),
                    "maximum": float(m.summary.maximum),
                    "mean": float(m.summary.mean),
                    "relative_stddev": float(m.summary.relative_stddev),
                    "rounds": m.summary.rounds,
                    "noisy": m.summary.noisy,
                },
            }
            for m in o.measurements
        ],
    }


def from_json(text: str) -> SweepResult:
    """Parse :func:`to_json` output. Raises ValueError saying which field is wrong."""
    doc = _obj(json.loads(text), "$")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"unsupported report schema_version {version!r} (this netbench reads {SCHEMA_VERSION})"
        )
    status = _get(doc, "status", str, "$")
    try:
        sweep_status = SweepStatus(status)
    except ValueError:
        raise ValueError(f"$.status: unknown sweep status {status!r}") from None
    info = _obj(doc.get("info", {}), "$.info")
    return SweepResult(
        id=_get(doc, "id", str, "$"),
        target=_get(doc, "target", str, "$"),
        cluster=_get(doc, "cluster", str, "$"),
        profile=_get(doc, "profile", str, "$"),
        trigger=_get(doc, "trigger", str, "$"),
        datapaths=tuple(_strings(doc, "datapaths", "$")),
        routing=_get(doc, "routing", str, "$"),
        scenarios=tuple(_strings(doc, "scenarios", "$")),
        started_at=_number(doc, "started_at", "$"),
        finished_at=None if doc.get("finished_at") is None else _number(doc, "finished_at", "$"),
        status=sweep_status,
        outcomes=[
            _outcome(_obj(o, f"$.outcomes[{i}]"), f"$.outcomes[{i}]")
            for i, o in enumerate(_get(doc, "outcomes", list, "$"))
        ],
        info={
            str(dp): {str(k): str(v) for k, v in _obj(labels, f"$.info.{dp}").items()}
            for dp, labels in info.items()
        },
        settings=dict(_obj(doc.get("settings", {}), "$.settings")),
        error=_optional_str(doc, "error", "$"),
        skipped=_strings(doc, "skipped", "$") if "skipped" in doc else [],
    )


def _outcome(o: Mapping[str, Any], where: str) -> ScenarioOutcome:
    scenario = _get(o, "scenario", str, where)
    datapath = _get(o, "datapath", str, where)
    measurements = []
    for i, raw in enumerate(_get(o, "measurements", list, where)):
        at = f"{where}.measurements[{i}]"
        m = _obj(raw, at)
        s = _obj(m.get("summary"), f"{at}.summary")
        labels = _obj(m.get("labels"), f"{at}.labels")
        values = _get(m, "values", list, at)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{at}.values: must be numbers")
        measurements.append(
            Measurement(
                scenario=scenario,
                datapath=datapath,
                metric=_get(m, "metric", str, at),
                labels=labels_of({str(k): str(v) for k, v in labels.items()}),
                values=tuple(float(v) for v in values),
                summary=Summary(
                    value=_number(s, "value", f"{at}.summary"),
                    minimum=_number(s, "minimum", f"{at}.summary"),
                    maximum=_number(s, "maximum", f"{at}.summary"),
                    mean=_number(s, "mean", f"{at}.summary"),
                    relative_stddev=_number(s, "relative_stddev", f"{at}.summary"),
                    rounds=_get(s, "rounds", int, f"{at}.summary"),
                    noisy=_get(s, "noisy", bool, f"{at}.summary"),
                ),
            )
        )
    return ScenarioOutcome(
        scenario=scenario,
        datapath=datapath,
        success=_get(o, "success", bool, where),
        measurements=tuple(measurements),
        error=_optional_str(o, "error", where),
        finished_at=_number(o, "finished_at", where),
    )


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be an object")
    return value


def _get(doc: Mapping[str, Any], key: str, kind: type[T], where: str) -> T:
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}.{key}: must be {kind.__name__}, got {value!r}")
    return value


def _number(doc: Mapping[str, Any], key: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key}: must be a number, got {value!r}")
    return float(value)


def _optional_str(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}.{key}: must be a string or null, got {value!r}")
    return value


def _strings(doc: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = _get(doc, key, list, where)
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}.{key}: must be a list of strings")
    return values
