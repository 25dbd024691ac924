"""Overview: the article's "At a glance" as a live table, and sweep health."""

from dashboards import queries as q
from dashboards.panels import (
    NONE,
    PERCENT_UNIT,
    SECONDS,
    SHORT,
    Cell,
    Section,
    make_dashboard,
    stat,
    table,
    target,
    timeseries,
)

UID = "netbench-overview"

glance = table(
    "At a glance",
    "The seed study's headline table, live: one row per figure (unit in its name), one column "
    "per cluster/datapath, latest published value (median of the rounds). Empty cells: the "
    "scenario has not run there (e.g. the lab has no Hubble).",
    [target(q.GLANCE_TABLE, instant=True, table=True)],
    NONE,
    decimals=2,
    transformations=[
        {
            "id": "groupingToMatrix",
            "options": {"columnField": "column", "rowField": "figure", "valueField": "Value"},
        },
        {"id": "organize", "options": {"renameByName": {"figure\\column": "Figure"}}},
        {"id": "sortBy", "options": {"sort": [{"field": "Figure", "desc": False}]}},
    ],
    overrides=[
        {
            "matcher": {"id": "byName", "options": "Figure"},
            "properties": [{"id": "custom.width", "value": 360}],
        }
    ],
)

failing = stat(
    "Scenarios failing",
    "(cluster, datapath, scenario) whose latest run failed (netbench_scenario_success == 0).",
    [target(q.SCENARIOS_FAILING, instant=True)],
    SHORT,
    decimals=0,
    steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
)

oldest = stat(
    "Age of the oldest last success",
    "Time since the least recent scenario last succeeded. The quick profile runs hourly, the "
    "full profile weekly: beyond three periods the NetbenchResultsStale alert fires.",
    [target(q.OLDEST_SUCCESS_AGE, instant=True)],
    SECONDS,
    steps=[
        {"color": "green", "value": None},
        {"color": "orange", "value": 3 * 3600},
        {"color": "red", "value": 3 * 7 * 86400},
    ],
)

running = stat(
    "Sweep running",
    "Whether a sweep is running now (one at a time per exporter).",
    [target(q.SWEEP_RUNNING_NOW, instant=True)],
    NONE,
    mappings=[
        {
            "options": {
                "0": {"index": 0, "text": "idle"},
                "1": {"index": 1, "text": "running", "color": "blue"},
            },
            "type": "value",
        }
    ],
)

progress = stat(
    "Sweep progress",
    "Progress of the running sweep (0 when idle).",
    [target(q.SWEEP_PROGRESS_NOW, instant=True)],
    PERCENT_UNIT,
)

scenario_status = table(
    "Scenario status",
    "Latest outcome per scenario (1 = success) and the age of its last success.",
    [
        target(q.SCENARIO_SUCCESS_TABLE, ref="A", instant=True, table=True),
        target(q.SCENARIO_AGE_TABLE, ref="B", instant=True, table=True),
    ],
    NONE,
    transformations=[
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True},
                "renameByName": {"Value #A": "Success", "Value #B": "Age of last success"},
            },
        },
    ],
    overrides=[
        {
            "matcher": {"id": "byName", "options": "Age of last success"},
            "properties": [{"id": "unit", "value": SECONDS}],
        },
        {
            "matcher": {"id": "byName", "options": "Success"},
            "properties": [
                {
                    "id": "mappings",
                    "value": [
                        {
                            "options": {
                                "0": {"color": "red", "index": 0, "text": "failed"},
                                "1": {"color": "green", "index": 1, "text": "ok"},
                            },
                            "type": "value",
                        }
                    ],
                },
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ],
        },
    ],
)

sweeps = timeseries(
    "Sweeps per day by status",
    "Finished sweeps over the last 24 h, by profile, trigger and status.",
    [target(q.SWEEPS_PER_DAY, "{{cluster}} {{profile}} {{trigger}} {{status}}")],
    SHORT,
    minimum=0,
)

duration = timeseries(
    "Sweep duration",
    "Duration of the latest finished sweep, by profile.",
    [target(q.SWEEP_DURATION_TREND, "{{cluster}} {{profile}}")],
    SECONDS,
    minimum=0,
)

noisy = table(
    "Noisiest measurements",
    "Relative standard deviation across rounds (top 20). Above 10% the NetbenchNoisyMeasurements "
    "alert fires; one-round profiles have none.",
    [target(q.NOISIEST_MEASUREMENTS, instant=True, table=True)],
    PERCENT_UNIT,
    transformations=[
        {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}},
        {"id": "sortBy", "options": {"sort": [{"field": "Value", "desc": True}]}},
    ],
)

rounds = stat(
    "Fewest rounds per value",
    "Smallest number of rounds behind a published value, per cluster/datapath.",
    [target(q.MEASUREMENT_ROUNDS, "{{cluster}}/{{datapath}}", instant=True)],
    SHORT,
    decimals=0,
)

info = table(
    "Datapaths",
    "What each cluster/datapath is: CNI, kube-proxy mode, routing, tunnel, kernel.",
    [target(q.DATAPATH_INFO_TABLE, instant=True, table=True)],
    NONE,
    transformations=[
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
        }
    ],
)

dashboard = make_dashboard(
    UID,
    "netbench / Overview",
    "Headline datapath figures per cluster/datapath and the health of the benchmark sweeps.",
    [
        Section("Headline figures", [Cell(glance, 24, 13)]),
        Section(
            "Sweep health",
            [
                Cell(failing, 6, 4),
                Cell(oldest, 6, 4),
                Cell(running, 6, 4),
                Cell(progress, 6, 4),
                Cell(scenario_status, 12, 10),
                Cell(sweeps, 12, 5),
                Cell(duration, 12, 5),
            ],
        ),
        Section(
            "Measurement quality and inventory",
            [Cell(noisy, 12, 8), Cell(rounds, 12, 8), Cell(info, 24, 6)],
        ),
    ],
)
