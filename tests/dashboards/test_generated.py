"""Generated dashboards and rules: fresh, well-formed, and every PromQL accepted by Prometheus."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import alerts, build, queries, verify
from dashboards.panels import LEGACY_KEYS

DASHBOARDS = verify.load_dashboards()
PANELS = [(d["uid"], p) for d in DASHBOARDS for p in verify.iter_panels(d)]
PANEL_IDS = [f"{uid}/{p['title']}" for uid, p in PANELS]
EXPECTED_UIDS = {
    "netbench-overview",
    "netbench-trends",
    "netbench-service-scale",
    "netbench-overhead",
    "netbench-bpf-memory",
    "netbench-components",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


# --- staleness and determinism -------------------------------------------------------------


def test_committed_outputs_are_fresh() -> None:
    """CI fails when a source changed and `python -m dashboards.build` was not re-run."""
    stale = build.stale(build.outputs())
    assert not stale, f"stale generated files {stale}: run .venv/bin/python -m dashboards.build"


def test_generation_is_deterministic() -> None:
    assert build.outputs() == build.outputs()


def test_check_mode_reports_fresh() -> None:
    assert build.main(["--check"]) == 0


def test_every_source_generates_one_dashboard() -> None:
    assert {d["uid"] for d in DASHBOARDS} == EXPECTED_UIDS
    assert len(build.dashboard_sources()) == len(EXPECTED_UIDS)


# --- dashboard shape -----------------------------------------------------------------------


def test_variables() -> None:
    for dashboard in DASHBOARDS:
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert list(variables) == ["datasource", "cluster", "datapath"]
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for name in ("cluster", "datapath"):
            assert variables[name]["multi"] is True
            assert variables[name]["includeAll"] is True
            assert variables[name]["datasource"] == DATASOURCE


def test_no_legacy_grafanalib_keys() -> None:
    for dashboard in DASHBOARDS:
        for key in LEGACY_KEYS:
            assert key not in dashboard
        assert dashboard["schemaVersion"] >= 36
        for _, panel in PANELS:
            assert panel["type"] not in ("graph", "singlestat", "table-old")
            assert "styles" not in panel


@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=PANEL_IDS)
def test_panel_has_datasource_and_query(uid: str, panel: dict[str, Any]) -> None:
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"], "a panel without a query"
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert target["expr"].strip()


@pytest.mark.parametrize(("uid", "panel"), PANELS, ids=PANEL_IDS)
def test_panel_units_and_no_value(uid: str, panel: dict[str, Any]) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["noValue"] == "no data"
    assert defaults["unit"]
    exprs = " ".join(t["expr"] for t in panel["targets"])
    if panel["type"] == "timeseries" and exprs.endswith(queries.sel(queries.THROUGHPUT)):
        # bytes/s on the wire, shown as bits/s
        assert defaults["unit"] == "bps"
        assert exprs.startswith("8 * ")
    # (the glance table converts each row to the unit named in the row instead)
    plotted = panel["type"] in ("timeseries", "barchart")
    if plotted and re.search(r"netbench_(service_scale_)?latency_seconds", exprs):
        assert defaults["unit"] == "s"


def test_ids_and_grid_are_stable_and_unique() -> None:
    for dashboard in DASHBOARDS:
        ids = [p["id"] for p in dashboard["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24


def test_overview_glance_table_has_every_headline_figure() -> None:
    overview = next(d for d in DASHBOARDS if d["uid"] == "netbench-overview")
    glance = next(p for p in overview["panels"] if p["title"] == "At a glance")
    assert glance["type"] == "table"
    (target,) = glance["targets"]
    assert target["instant"] is True and target["format"] == "table"
    for index, figure in enumerate(queries.GLANCE):
        assert f'"{index + 1:02d} {figure.title}"' in target["expr"]
    kinds = [t["id"] for t in glance["transformations"]]
    assert kinds[0] == "groupingToMatrix"


def test_service_scale_bars_are_keyed_by_services() -> None:
    scale = next(d for d in DASHBOARDS if d["uid"] == "netbench-service-scale")
    bars = [p for p in scale["panels"] if p["type"] == "barchart"]
    assert len(bars) >= 5
    for panel in bars:
        assert panel["options"]["xField"] == "services"
        matrix = panel["transformations"][0]
        assert matrix["id"] == "groupingToMatrix"
        assert matrix["options"]["rowField"] == "services"


def test_every_metric_of_the_design_is_on_a_dashboard() -> None:
    exprs = " ".join(q.expr for q in verify.panel_queries())
    metrics = {
        v for k, v in vars(queries).items() if k.isupper() and str(v).startswith("netbench_")
    }
    missing = sorted(m for m in metrics if m not in exprs)
    assert not missing


# --- alert rules ---------------------------------------------------------------------------

EXPECTED_ALERTS = {
    "NetbenchShortConnectionDegradationAtScale",
    "NetbenchShortConnectionRegression",
    "NetbenchThroughputRegression",
    "NetbenchSweepsFailing",
    "NetbenchResultsStale",
    "NetbenchNoisyMeasurements",
    "NetbenchExporterDown",
}


def _rules(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in document["groups"]:
        yield from group["rules"]


def test_rule_file_and_prometheusrule_carry_the_same_groups() -> None:
    plain = yaml.safe_load(build.RULE_FILE.read_text("utf-8"))
    operator = yaml.safe_load(build.PROMETHEUS_RULE.read_text("utf-8"))
    assert operator["apiVersion"] == "monitoring.coreos.com/v1"
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"] == plain["groups"]


def test_every_alert_is_complete() -> None:
    rules = list(_rules(alerts.rule_file()))
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        annotations = rule["annotations"]
        assert annotations["summary"]
        # the numbers: the alert's value, or a looked-up one
        assert re.search(r"\{\{ \$value|\| query", annotations["description"]), rule["alert"]
        assert annotations["dashboard_url"].startswith("http")
        uid = annotations["dashboard_url"].split("/d/")[1].split("?")[0]
        assert uid in EXPECTED_UIDS


def test_thresholds_are_configurable() -> None:
    settings = alerts.AlertSettings(
        short_degradation_threshold=0.5, grafana_url="https://grafana.example.test/"
    )
    rules = {r["alert"]: r for r in _rules(alerts.rule_file(settings))}
    rule = rules["NetbenchShortConnectionDegradationAtScale"]
    assert rule["expr"].endswith("< -0.5")
    assert rule["annotations"]["dashboard_url"].startswith(
        "https://grafana.example.test/d/netbench-service-scale?"
    )
    stale = [r for r in _rules(alerts.rule_file(settings)) if r["alert"] == "NetbenchResultsStale"]
    assert sorted(r["expr"].rsplit(" ", 1)[1] for r in stale) == ["10800", str(3 * 7 * 86400)]


def test_promtool_tests_cover_every_alert() -> None:
    tests = yaml.safe_load(verify.RULE_TESTS.read_text("utf-8"))
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert fired == EXPECTED_ALERTS
    assert quiet == EXPECTED_ALERTS


# --- promtool ------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_promtool_check_rules() -> None:
    for path in (build.RULE_FILE,):
        result = verify.promtool("check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_promtool_test_rules() -> None:
    result = verify.promtool("test", "rules", str(verify.RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus parses every expression ---------------------------------------------


@pytest.fixture(scope="module")
def prometheus(request: pytest.FixtureRequest) -> verify.PrometheusServer:
    server = verify.PrometheusServer(rule_files=[build.RULE_FILE])
    request.addfinalizer(server.stop)
    return server.start()


ALL_QUERIES = (
    verify.panel_queries()
    + verify.glance_queries()
    + verify.variable_queries()
    + verify.alert_queries()
)


@pytest.mark.prometheus
@pytest.mark.parametrize(
    "variables",
    [{}, {"cluster": "lab", "datapath": "iptables|nftables"}],
    ids=["all", "lab-two-datapaths"],
)
def test_every_expression_parses(
    prometheus: verify.PrometheusServer, variables: dict[str, str]
) -> None:
    results = verify.evaluate(prometheus.url, ALL_QUERIES, variables)
    assert len(results) == len(ALL_QUERIES)
    errors = [f"{r.panel}: {r.error}\n  {r.expr}" for r in results if r.error]
    assert not errors, "\n".join(errors)
    for result in results:
        assert "$" not in result.expr, result.expr
        # an empty TSDB: nothing but constant expressions return data
        assert result.n_results in (0, 1)


@pytest.mark.prometheus
def test_prometheus_loads_the_rules(prometheus: verify.PrometheusServer) -> None:
    import requests

    body = requests.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()
    names = {r["name"] for g in body["data"]["groups"] for r in g["rules"]}
    assert names == EXPECTED_ALERTS


def test_evaluate_refuses_non_loopback() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        verify.evaluate("http://192.0.2.1:9090", [])
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        verify.PrometheusServer(scrape_targets=["192.0.2.1:9101"])


def test_substitution_covers_variables_and_macros() -> None:
    expr = 'x{cluster=~"$cluster",datapath=~"${datapath}"}[$__rate_interval]'
    assert verify.substitute(expr, {"cluster": "lab"}) == 'x{cluster=~"lab",datapath=~".*"}[5m]'


def test_outputs_paths_are_ours() -> None:
    allowed = (
        build.GENERATED,
        build.RULE_FILE,
        build.PROMETHEUS_RULE,
    )
    for path in build.outputs():
        assert any(path == a or Path(a) in path.parents for a in allowed), path


def test_evaluate_reports_rejected_expressions(prometheus: verify.PrometheusServer) -> None:
    (result,) = verify.evaluate(prometheus.url, [verify.Query("bad", "sum(")])
    assert result.n_results == -1 and result.error


# --- every panel returns data when fed: synthetic exporter -> real Prometheus -------------
# A stand-in for `netbench serve` (the real end-to-end replaces it): a loopback HTTP server
# publishing every DESIGN metric for cluster "lab" and two datapaths, scraped by Prometheus.


def _synthetic_exposition() -> str:
    lines: list[str] = []

    def gauge(name: str, value: float, **labels: str) -> None:
        body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{body}}} {value}")

    steps = ("5000", "10000", "20000", "30000")
    for datapath, slope in (("iptables", 0.3), ("nftables", 0.0)):
        dp = {"cluster": "lab", "datapath": datapath}
        for path, streams in (
            ("hostnet", "8"),
            ("pod2pod", "1"),
            ("pod2pod", "8"),
            ("service", "8"),
        ):
            gauge(queries.THROUGHPUT, 1.2e9, path=path, streams=streams, tool="iperf3", **dp)
        for path, conn, conc in (
            ("pod2pod", "keepalive", "64"),
            ("service", "keepalive", "64"),
            ("service", "keepalive", "256"),
            ("service", "short", "64"),
        ):
            gauge(
                queries.HTTP_RPS,
                9000.0,
                path=path,
                connection=conn,
                concurrency=conc,
                tool="hey",
                **dp,
            )
        for test in ("tcp_rr", "tcp_crr", "http_fixed_qps"):
            for quantile in ("0.5", "0.9", "0.99"):
                gauge(queries.LATENCY, 1e-4, test=test, quantile=quantile, tool="sockperf", **dp)
        for i, services in enumerate(steps):
            for conn in ("keepalive", "short"):
                drop = slope * (i + 1) if conn == "short" else 0.0
                gauge(
                    queries.SCALE_RPS,
                    10000.0 * (1 - drop),
                    services=services,
                    connection=conn,
                    **dp,
                )
                gauge(queries.SCALE_DEGRADATION, -drop, services=services, connection=conn, **dp)
            for test in ("tcp_rr", "tcp_crr"):
                gauge(
                    queries.SCALE_LATENCY, 2e-4, services=services, test=test, quantile="0.99", **dp
                )
            gauge(
                queries.DATAPATH_ENTRIES,
                float(services) * 5,
                services=services,
                kind="lb_entries",
                **dp,
            )
            gauge(queries.PROGRAMMING, 1.5, services=services, **dp)
        for policy, overhead in (("none", 0.0), ("l3l4", 0.01), ("l7", 0.86)):
            gauge(queries.POLICY_RPS, 9000.0 * (1 - overhead), policy=policy, **dp)
            gauge(queries.POLICY_OVERHEAD, overhead, policy=policy, **dp)
        gauge(queries.OBSERVABILITY_OVERHEAD, 0.003, feature="hubble", **dp)
        for node in ("node-a", "node-b"):
            gauge(queries.BPF_MAP_MEMORY, 4096.0, node=node, map="lb4_services", **dp)
            gauge(queries.BPF_MAPS, 12.0, node=node, **dp)
        for stat in ("avg", "max"):
            gauge(queries.COMPONENT_CPU, 0.05, component="kube-proxy", stat=stat, **dp)
            gauge(queries.COMPONENT_MEMORY, 4e7, component="kube-proxy", stat=stat, **dp)
        gauge(queries.ROUNDS, 3.0, scenario="http_rps", **dp)
        gauge(queries.RELATIVE_STDDEV, 0.02, scenario="http_rps", metric=queries.HTTP_RPS, **dp)
        for scenario in ("throughput", "http_rps", "latency", "service_scale"):
            gauge(queries.SCENARIO_SUCCESS, 1.0, scenario=scenario, **dp)
            gauge(queries.LAST_SUCCESS, 1.7e9, scenario=scenario, **dp)
        gauge(
            queries.DATAPATH_INFO,
            1.0,
            cni="none",
            kube_proxy_mode=datapath,
            routing_mode="native",
            **dp,
        )
    sweep = {
        "cluster": "lab",
        "datapath": "iptables,nftables",
        "profile": "quick",
        "trigger": "schedule",
    }
    gauge(queries.SWEEP_DURATION, 120.0, status="succeeded", **sweep)
    gauge(queries.SWEEPS_TOTAL, 3.0, status="succeeded", **sweep)
    gauge(queries.SWEEP_RUNNING, 0.0, **sweep)
    gauge(queries.SWEEP_PROGRESS, 0.0, **sweep)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fed_prometheus(request: pytest.FixtureRequest) -> verify.PrometheusServer:
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    payload = _synthetic_exposition().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def close() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)

    request.addfinalizer(close)
    server = verify.PrometheusServer(scrape_targets=[f"127.0.0.1:{httpd.server_address[1]}"])
    request.addfinalizer(server.stop)
    server.start()
    deadline = time.monotonic() + 30
    probe = [verify.Query("probe", f"count_over_time({queries.SCENARIO_SUCCESS}[1m])")]
    while time.monotonic() < deadline:  # two scrapes, so rate/increase have data
        (result,) = verify.evaluate(server.url, probe)
        if result.n_results > 0:
            import requests

            body = requests.get(
                f"{server.url}/api/v1/query",
                params={"query": f"max(count_over_time({queries.SCENARIO_SUCCESS}[1m]))"},
                timeout=5,
            ).json()
            if float(body["data"]["result"][0]["value"][1]) >= 2:
                return server
        time.sleep(0.5)
    raise TimeoutError("Prometheus did not scrape the synthetic exporter twice in 30 s")


@pytest.mark.prometheus
def test_every_panel_returns_data_when_fed(fed_prometheus: verify.PrometheusServer) -> None:
    variables = {"cluster": "lab", "datapath": "iptables|nftables"}
    to_run = verify.panel_queries() + verify.glance_queries() + verify.variable_queries()
    results = verify.evaluate(fed_prometheus.url, to_run, variables)
    errors = [f"{r.panel}: {r.error}" for r in results if r.error]
    assert not errors, "\n".join(errors)
    empty = [f"{r.panel}\n  {r.expr}" for r in results if r.n_results == 0]
    assert not empty, "panels without data:\n" + "\n".join(empty)
