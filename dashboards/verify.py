"""Prove the dashboards' and alerts' PromQL against a real Prometheus.

No Grafana runs on our machines, so the generated JSON (what Grafana would load) is read back,
every panel query has its variables substituted, and Prometheus's HTTP API evaluates it.

- :func:`panel_queries` / :func:`glance_queries` / :func:`alert_queries`: what to evaluate.
- :func:`evaluate`: given a Prometheus base URL, run each through ``/api/v1/query`` and return
  one :class:`Evaluation` per query (``panel``, ``expr``, ``n_results``, ``error``).
- :class:`PrometheusServer`: start a throw-away ``prometheus`` on 127.0.0.1 (random free port,
  empty TSDB in a temporary directory), optionally scraping loopback targets and loading rule
  files; stopped by its PID.

The end-to-end test (``netbench serve`` + a short lab sweep) reuses all of it::

    with PrometheusServer(scrape_targets=["127.0.0.1:9101"], rule_files=[RULE_FILE]) as prom:
        ...  # run a sweep, wait for a scrape
        results = evaluate(prom.url, panel_queries(), {"cluster": "lab", "datapath": ".*"})
        empty = [r for r in results if r.n_results == 0]
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from dashboards import queries

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "dashboards" / "generated"
RULE_FILE = ROOT / "deploy" / "prometheus" / "netbench-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "netbench-rules.test.yaml"
LOOPBACK = "127.0.0.1"

# Grafana's own macros, should a panel ever use them: a concrete value each.
GRAFANA_MACROS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it comes from."""

    source: str
    """``<dashboard uid> / <panel title> / <refId>``, ``alert <name>``, or a glance figure."""
    expr: str
    """As written (with ``$cluster``/``$datapath``)."""


@dataclass(frozen=True)
class Evaluation:
    query: Query
    expr: str
    """As sent (variables substituted)."""
    n_results: int
    error: str | None = None

    @property
    def panel(self) -> str:
        return self.query.source


def load_dashboards(directory: Path = GENERATED) -> list[dict[str, Any]]:
    """The committed dashboard JSON, sorted by file name."""
    return [json.loads(p.read_text("utf-8")) for p in sorted(directory.glob("*.json"))]


def iter_panels(dashboard: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; row panels themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(dashboards: Sequence[Mapping[str, Any]] | None = None) -> list[Query]:
    """Every target expression of every query panel (text panels have none)."""
    out: list[Query] = []
    for dashboard in load_dashboards() if dashboards is None else dashboards:
        for panel in iter_panels(dashboard):
            for target in panel.get("targets", []):
                source = f"{dashboard['uid']} / {panel['title']} / {target['refId']}"
                out.append(Query(source, target["expr"]))
    return out


def glance_queries() -> list[Query]:
    """The Overview's "At a glance" figures one by one (which rows the lab cannot fill)."""
    return [
        Query(f"netbench-overview / At a glance / {figure.title}", figure.expr)
        for figure in queries.GLANCE
    ]


def variable_queries() -> list[Query]:
    """The series behind the ``cluster``/``datapath`` variables (``label_values(<selector>)``)."""
    return [
        Query("variable cluster", queries.SCENARIO_SUCCESS),
        Query("variable datapath", f'{queries.SCENARIO_SUCCESS}{{cluster=~"$cluster"}}'),
    ]


def alert_queries(rule_file: Path = RULE_FILE) -> list[Query]:
    """Every rule expression of the committed rule file."""
    data = yaml.safe_load(rule_file.read_text("utf-8"))
    return [
        Query(f"alert {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in data["groups"]
        for rule in group["rules"]
    ]


def substitute(expr: str, variables: Mapping[str, str] | None = None) -> str:
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    return queries.substitute(expr, variables)


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (LOOPBACK, "localhost", "::1"):
        raise ValueError(f"refusing a non-loopback Prometheus: {url}")


def evaluate(
    base_url: str,
    to_run: Iterable[Query],
    variables: Mapping[str, str] | None = None,
    *,
    timeout: float = 10.0,
    loopback_only: bool = True,
) -> list[Evaluation]:
    """Instant-evaluate each query at "now"; ``n_results`` = series (or 1 for a scalar).

    A query Prometheus rejects gets ``error`` set and ``n_results`` -1; HTTP-level failures
    (Prometheus down) raise.
    """
    if loopback_only:
        _check_loopback(base_url)
    url = base_url.rstrip("/") + "/api/v1/query"
    out: list[Evaluation] = []
    with requests.Session() as session:
        for query in to_run:
            expr = substitute(query.expr, variables)
            response = session.post(url, data={"query": expr}, timeout=timeout)
            body = response.json()
            if body.get("status") != "success":
                error = f"{body.get('errorType')}: {body.get('error')}"
                out.append(Evaluation(query, expr, -1, error))
                continue
            data = body["data"]
            n = len(data["result"]) if data["resultType"] in ("vector", "matrix") else 1
            out.append(Evaluation(query, expr, n))
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """A throw-away Prometheus on 127.0.0.1 with an empty TSDB; a context manager.

    ``scrape_targets`` are ``127.0.0.1:<port>`` addresses only. Start and readiness waits are
    bounded; :meth:`stop` signals the PID it started (TERM, then KILL) and removes the tmp dir.
    """

    def __init__(
        self,
        *,
        binary: str = "prometheus",
        scrape_targets: Sequence[str] = (),
        rule_files: Sequence[Path] = (),
        scrape_interval: str = "1s",
        ready_timeout: float = 30.0,
    ) -> None:
        for target in scrape_targets:
            if target.rsplit(":", 1)[0] != LOOPBACK:
                raise ValueError(f"scrape targets must be on {LOOPBACK}: {target}")
        found = shutil.which(binary)
        if found is None:
            raise FileNotFoundError(f"{binary} not found (Debian package 'prometheus')")
        self.binary = found
        self.scrape_targets = list(scrape_targets)
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [],
        }
        if self.scrape_targets:
            config["scrape_configs"].append(
                {"job_name": "netbench", "static_configs": [{"targets": self.scrape_targets}]}
            )
        return config

    def start(self) -> PrometheusServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="netbench-prom-")
        tmp = Path(self._tmp.name)
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config()), encoding="utf-8")
        self.port = free_port()
        log = (tmp / "prometheus.log").open("wb")
        try:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address={LOOPBACK}:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited ({self.process.returncode}):\n{self.log()}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready after {self.ready_timeout}s:\n{self.log()}")

    def log(self) -> str:
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "prometheus.log"
        return path.read_text("utf-8", "replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def promtool(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``promtool`` (bounded) from the repository root."""
    found = shutil.which("promtool")
    if found is None:
        raise FileNotFoundError("promtool not found (Debian package 'prometheus')")
    return subprocess.run(
        [found, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


__all__ = [
    "Evaluation",
    "PrometheusServer",
    "Query",
    "alert_queries",
    "evaluate",
    "glance_queries",
    "panel_queries",
    "promtool",
    "variable_queries",
]
