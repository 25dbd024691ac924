"""Modern Grafana panel dicts and the dashboard frame shared by every ``*.dashboard.py``.

grafanalib 0.7 still emits legacy panel JSON (``datasource`` as a name, ``styles`` tables,
``graph`` panels, schemaVersion 12). We keep grafanalib for the dashboard, its variables and its
JSON encoder, and pass panels as plain dicts in today's schema (``timeseries``, ``stat``,
``table``, ``barchart``, ``bargauge`` with ``fieldConfig``), so what Grafana loads is what we
wrote. Panel ids and grid positions are assigned here, in declaration order, so the generated
JSON is stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grafanalib.core import Dashboard, DashboardLink, Template, Templating, Time

from dashboards import queries

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
"""Every panel and every target points at the ``datasource`` variable."""

NO_VALUE = "no data"
SCHEMA_VERSION = 39
TAGS = ["netbench"]
GRID_WIDTH = 24

# Grafana unit ids.
BITS_PER_SECOND = "bps"
BYTES = "bytes"
SECONDS = "s"
PERCENT_UNIT = "percentunit"
REQUESTS_PER_SECOND = "reqps"
SHORT = "short"
NONE = "none"


def target(
    expr: str,
    legend: str = "",
    *,
    ref: str = "A",
    instant: bool = False,
    table: bool = False,
) -> Json:
    """One Prometheus query. ``instant`` for latest values; ``table`` for label columns."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "format": "table" if table else "time_series",
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref,
    }


def _field_defaults(
    unit: str, *, decimals: int | None = None, minimum: float | None = None
) -> Json:
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "noValue": NO_VALUE,
        "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    return defaults


def _panel(kind: str, title: str, description: str, targets: list[Json], defaults: Json) -> Json:
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
        "targets": targets,
        "title": title,
        "type": kind,
    }


def timeseries(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    minimum: float | None = None,
    threshold: float | None = None,
) -> Json:
    """A trend over time; ``threshold`` draws a dashed line (e.g. ratio 1.0)."""
    defaults = _field_defaults(unit, minimum=minimum)
    defaults["custom"] = {
        "drawStyle": "line",
        "lineWidth": 1,
        "pointSize": 5,
        "showPoints": "always",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "off" if threshold is None else "dashed"},
    }
    if threshold is not None:
        defaults["thresholds"]["steps"].append({"color": "red", "value": threshold})
    panel = _panel("timeseries", title, description, targets, defaults)
    panel["options"] = {
        "legend": {"calcs": ["lastNotNull"], "displayMode": "table", "placement": "bottom"},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel


def stat(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    mappings: list[Json] | None = None,
    steps: list[Json] | None = None,
    decimals: int | None = None,
) -> Json:
    """One number; shows ``no data`` when the query returns nothing."""
    defaults = _field_defaults(unit, decimals=decimals)
    defaults["color"] = {"mode": "thresholds"}
    defaults["mappings"] = mappings or []
    if steps:
        defaults["thresholds"]["steps"] = steps
    panel = _panel("stat", title, description, targets, defaults)
    panel["options"] = {
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    }
    return panel


def table(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    transformations: list[Json] | None = None,
    overrides: list[Json] | None = None,
    decimals: int | None = None,
) -> Json:
    """Latest values as rows (instant queries in table format)."""
    panel = _panel("table", title, description, targets, _field_defaults(unit, decimals=decimals))
    panel["fieldConfig"]["overrides"] = overrides or []
    panel["options"] = {"cellHeight": "sm", "showHeader": True}
    panel["transformations"] = transformations or []
    return panel


def barchart(
    title: str,
    description: str,
    expr: str,
    unit: str,
    *,
    row_label: str = "services",
    threshold: float | None = None,
    log_scale: bool = False,
) -> Json:
    """Latest value per ``row_label`` step (x axis), one bar per ``column`` label value.

    The query returns one series per (step, column); groupingToMatrix turns them into a wide
    frame (a row per step, a field per column), and the step is sorted numerically, so the x
    axis reads 5000, 10000, 20000, 30000 whatever order Prometheus returns.
    """
    defaults = _field_defaults(unit)
    defaults["custom"] = {
        "axisSoftMin": 0,
        "fillOpacity": 80,
        "lineWidth": 1,
        "scaleDistribution": {"type": "log", "log": 10} if log_scale else {"type": "linear"},
        "thresholdsStyle": {"mode": "off" if threshold is None else "dashed"},
    }
    if threshold is not None:
        defaults["thresholds"]["steps"].append({"color": "red", "value": threshold})
    panel = _panel(
        "barchart", title, description, [target(expr, instant=True, table=True)], defaults
    )
    matrix_field = f"{row_label}\\column"
    panel["transformations"] = [
        {
            "id": "groupingToMatrix",
            "options": {"columnField": "column", "rowField": row_label, "valueField": "Value"},
        },
        {"id": "organize", "options": {"renameByName": {matrix_field: row_label}}},
        {
            "id": "convertFieldType",
            "options": {
                "conversions": [{"targetField": row_label, "destinationType": "number"}],
                "fields": {},
            },
        },
        {"id": "sortBy", "options": {"sort": [{"field": row_label, "desc": False}]}},
        {
            "id": "convertFieldType",
            "options": {
                "conversions": [{"targetField": row_label, "destinationType": "string"}],
                "fields": {},
            },
        },
    ]
    panel["options"] = {
        "barWidth": 0.9,
        "groupWidth": 0.8,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "orientation": "vertical",
        "showValue": "auto",
        "tooltip": {"mode": "multi", "sort": "none"},
        "xField": row_label,
        "xTickLabelRotation": 0,
    }
    return panel


def bargauge(title: str, description: str, targets: list[Json], unit: str) -> Json:
    """Horizontal bars of latest values (e.g. the top BPF maps)."""
    panel = _panel("bargauge", title, description, targets, _field_defaults(unit, minimum=0))
    panel["options"] = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showUnfilled": True,
    }
    return panel


def text(title: str, content: str) -> Json:
    """Markdown notes (no query; excluded from the query checks by its type)."""
    return {
        "datasource": DATASOURCE,
        "options": {"content": content, "mode": "markdown"},
        "title": title,
        "type": "text",
    }


@dataclass(frozen=True)
class Cell:
    panel: Json
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Section:
    """A dashboard row: a title and its panels, laid out left to right, wrapping at 24."""

    title: str
    cells: Sequence[Cell] = field(default_factory=tuple)


def layout(sections: Sequence[Section]) -> list[Json]:
    """Row panels and panels with ids (1, 2, ... in order) and grid positions."""
    out: list[Json] = []
    y = 0
    next_id = 1
    for section in sections:
        out.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
                "title": section.title,
                "type": "row",
            }
        )
        next_id += 1
        y += 1
        x = 0
        row_height = 0
        for cell in section.cells:
            if cell.width > GRID_WIDTH:
                raise ValueError(f"panel {cell.panel['title']!r} wider than the grid")
            if x + cell.width > GRID_WIDTH:
                y += row_height
                x = 0
                row_height = 0
            panel = dict(cell.panel)
            panel["id"] = next_id
            panel["gridPos"] = {"h": cell.height, "w": cell.width, "x": x, "y": y}
            next_id += 1
            out.append(panel)
            x += cell.width
            row_height = max(row_height, cell.height)
        y += row_height
    return out


def _variables() -> Templating:
    datasource = Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default="default",
        hide=0,
    )
    common: dict[str, Any] = {
        "dataSource": DATASOURCE,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "default": "$__all",
        "refresh": 2,
        "sort": 1,
    }
    cluster = Template(name="cluster", label="Cluster", query=queries.CLUSTER_VALUES, **common)
    datapath = Template(name="datapath", label="Datapath", query=queries.DATAPATH_VALUES, **common)
    return Templating(list=[datasource, cluster, datapath])


def make_dashboard(
    uid: str, title: str, description: str, sections: Sequence[Section]
) -> Dashboard:
    """The netbench dashboard frame: variables, links to the sibling dashboards, 7-day range."""
    return Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=list(TAGS),
        timezone="browser",
        refresh="1m",
        schemaVersion=SCHEMA_VERSION,
        time=Time("now-7d", "now"),
        templating=_variables(),
        links=[
            DashboardLink(
                title="netbench",
                tags=list(TAGS),
                asDropdown=True,
                includeVars=True,
                keepTime=True,
                type="dashboards",
            )
        ],
        panels=layout(sections),
    )


LEGACY_KEYS = ("rows", "hideControls", "sharedCrosshair", "style", "gnetId", "__inputs")
"""Top-level keys grafanalib emits for pre-5.0 Grafana; dropped from the generated JSON."""
