"""The HTTP API: every status code path, the status page, and 50 concurrent triggers."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from exporter.config import effective_plan
from exporter.exporter_settings import ExporterSettings, SweepBounds, token_provider
from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.server import Exporter, build
from exporter.settings import Settings
from exporter.sweep import EventKind, SweepEvent, SweepRequest

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class GatedRunner:
    """One outcome per datapath of the plan, each waiting for ``gate``; honours cancel."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.gate = threading.Event()
        self.runs: list[str] = []

    def run(
        self,
        request: SweepRequest,
        sweep_id: str,
        cancel: threading.Event,
        on_event: Callable[[SweepEvent], None],
    ) -> SweepResult:
        self.runs.append(sweep_id)
        plan = effective_plan(self.settings, request)
        result = SweepResult(
            id=sweep_id,
            target="lab",
            cluster=self.settings.cluster,
            profile=plan.profile,
            trigger=str(request.trigger),
            datapaths=plan.datapaths,
            routing=plan.routing,
            scenarios=("http_rps",),
            started_at=time.time(),
        )
        on_event(SweepEvent(sweep_id, EventKind.STARTED, 0.0, "started"))
        try:
            for i, dp in enumerate(plan.datapaths):
                while not self.gate.wait(0.02):
                    if cancel.is_set():
                        result.status = SweepStatus.CANCELLED
                        return result
                values = [100.0 + i, 101.0 + i]
                m = Measurement(
                    "http_rps",
                    dp,
                    "http_requests_per_second",
                    labels_of({"path": "service", "connection": "short", "tool": "hey"}),
                    tuple(values),
                    Summary.of(values),
                )
                o = ScenarioOutcome("http_rps", dp, True, (m,), finished_at=time.time())
                result.outcomes.append(o)
                on_event(SweepEvent(sweep_id, EventKind.OUTCOME, (i + 1) / 2, dp, o))
            result.status = SweepStatus.SUCCEEDED
            return result
        finally:
            result.finished_at = time.time()
            on_event(SweepEvent(sweep_id, EventKind.FINISHED, 1.0, "done", result=result))


@contextmanager
def served(ex: Exporter) -> Iterator[httpx.Client]:
    """The app under a real uvicorn on 127.0.0.1 (a free port), with a bounded client."""
    server = uvicorn.Server(
        uvicorn.Config(ex.app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn died"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def make(tmp_path: Path, **exporter: object) -> tuple[Exporter, GatedRunner, Callable[[], None]]:
    options: dict[str, object] = {
        "db_path": tmp_path / "h.db",
        "schedules": (),
        "on_demand_cooldown_seconds": 0.0,
        "bounds": SweepBounds(max_rounds=5, max_duration_seconds=60.0),
        **exporter,
    }
    cfg = ExporterSettings(**options)  # type: ignore[arg-type]
    settings = Settings(exporter=cfg)
    runner = GatedRunner(settings)
    ex = build(
        settings,
        runner=runner,
        validate=lambda r: effective_plan(settings, r),
        token=token_provider(cfg, env={}),
    )

    def close() -> None:
        runner.gate.set()
        ex.close(5)

    return ex, runner, close


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, Exporter, GatedRunner]]:
    ex, runner, close = make(tmp_path, api_token=TOKEN)
    try:
        with served(ex) as client:
            yield client, ex, runner
    finally:
        close()


def wait_idle(ex: Exporter) -> None:
    assert ex.coordinator.wait(5)


def test_401_without_or_with_a_wrong_token(api: tuple[httpx.Client, Exporter, GatedRunner]) -> None:
    client, _, _ = api
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer \u00e9t\u00e9".encode("latin-1")},
    ):
        r = client.post("/api/v1/sweeps", json={}, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # authentication comes before the body: no validation details for strangers
    assert client.post("/api/v1/sweeps", json={"rounds": "x"}).status_code == 401


def test_403_when_no_token_is_configured(tmp_path: Path) -> None:
    ex, _, close = make(tmp_path)
    with served(ex) as client:
        r = client.post("/api/v1/sweeps", json={}, headers=AUTH)
        assert r.status_code == 403
        assert "no API token" in r.json()["detail"]
    close()


def test_open_trigger_needs_explicit_config(tmp_path: Path) -> None:
    ex, _runner, close = make(tmp_path, allow_unauthenticated_trigger=True)
    with served(ex) as client:
        assert client.post("/api/v1/sweeps", json={}).status_code == 202
    close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rounds": 0}, "rounds"),
        ({"rounds": 6}, "rounds"),  # above the configured bound
        ({"iperf_seconds": 0.5}, "iperf_seconds"),
        ({"http_seconds": 3600}, "http_seconds"),
        ({"scale_steps": [1] * 9}, "scale_steps"),
        ({"scale_steps": [200_000]}, "scale_steps"),
        ({"scale_steps": [10, 5]}, "scale_steps"),  # not ascending (effective_plan)
        ({"profile": "nope"}, "profile"),
        ({"profile": "<script>"}, "profile"),
        ({"scenarios": ["dance"]}, "scenarios"),
        ({"datapaths": ["cilium"]}, "datapaths"),
        ({"routing": "geneve"}, "routing"),
        ({"color": "red"}, "color"),
    ],
)
def test_422_names_the_field(
    api: tuple[httpx.Client, Exporter, GatedRunner], body: dict[str, object], field: str
) -> None:
    client, _ex, runner = api
    r = client.post("/api/v1/sweeps", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["body", field]
    assert runner.runs == []


def test_422_for_a_body_that_is_not_json(api: tuple[httpx.Client, Exporter, GatedRunner]) -> None:
    client, _, _ = api
    r = client.post("/api/v1/sweeps", content=b"{nope", headers=AUTH)
    assert r.status_code == 422
    r = client.post("/api/v1/sweeps", content=b"[]", headers=AUTH)
    assert r.status_code == 422


def test_202_then_409_with_the_running_id_then_results(
    api: tuple[httpx.Client, Exporter, GatedRunner],
) -> None:
    client, ex, runner = api
    r = client.post("/api/v1/sweeps", json={"profile": "quick", "rounds": 2}, headers=AUTH)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    assert r.headers["Location"] == f"/api/v1/sweeps/{sid}"
    r2 = client.post("/api/v1/sweeps", json={}, headers=AUTH)
    assert r2.status_code == 409
    assert r2.json()["running_id"] == sid
    detail = client.get(f"/api/v1/sweeps/{sid}").json()
    assert detail["status"] == "running" and detail["request"]["rounds"] == 2
    page = client.get("/").text
    assert sid in page and "Running" in page
    runner.gate.set()
    wait_idle(ex)
    detail = client.get(f"/api/v1/sweeps/{sid}").json()
    assert detail["status"] == "succeeded"
    assert detail["progress"] == 1.0
    assert {o["datapath"] for o in detail["outcomes"]} == {"iptables", "nftables"}
    assert detail["outcomes"][0]["measurements"][0]["summary"]["rounds"] == 2
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = [x for x in metrics.text.splitlines() if x.startswith("netbench_http_requests")]
    assert any('cluster="lab"' in x and 'datapath="iptables"' in x for x in lines), lines


def test_429_with_retry_after_inside_the_cooldown(tmp_path: Path) -> None:
    ex, runner, close = make(tmp_path, api_token=TOKEN, on_demand_cooldown_seconds=120.0)
    runner.gate.set()
    with served(ex) as client:
        assert client.post("/api/v1/sweeps", json={}, headers=AUTH).status_code == 202
        wait_idle(ex)
        r = client.post("/api/v1/sweeps", json={}, headers=AUTH)
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 120
    close()


def test_list_paged_and_404(api: tuple[httpx.Client, Exporter, GatedRunner]) -> None:
    client, ex, _runner = api
    for i in range(3):
        ex.store.record_skipped(
            f"k{i}", cluster="lab", target="lab", profile="quick", trigger="schedule", reason="x"
        )
        time.sleep(0.002)
    page = client.get("/api/v1/sweeps", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 3 and page["limit"] == 2
    assert [s["id"] for s in page["items"]] == ["k1", "k0"]
    assert client.get("/api/v1/sweeps", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/sweeps/unknown").status_code == 404
    assert client.get("/api/v1/sweeps/bad%20id").status_code == 422


def test_cancel_paths(api: tuple[httpx.Client, Exporter, GatedRunner]) -> None:
    client, ex, _runner = api
    assert client.post("/api/v1/sweeps/nope/cancel", headers=AUTH).status_code == 404
    sid = client.post("/api/v1/sweeps", json={}, headers=AUTH).json()["id"]
    assert client.post(f"/api/v1/sweeps/{sid}/cancel").status_code == 401
    r = client.post(f"/api/v1/sweeps/{sid}/cancel", headers=AUTH)
    assert r.status_code == 202
    wait_idle(ex)
    assert client.get(f"/api/v1/sweeps/{sid}").json()["status"] == "cancelled"
    assert client.post(f"/api/v1/sweeps/{sid}/cancel", headers=AUTH).status_code == 409


def test_health_and_readiness(api: tuple[httpx.Client, Exporter, GatedRunner]) -> None:
    client, ex, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 503  # scheduler not started yet
    ex.scheduler.start()
    assert client.get("/readyz").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/api/v1/sweeps"]["post"]


def test_status_page_escapes_everything(api: tuple[httpx.Client, Exporter, GatedRunner]) -> None:
    client, ex, _ = api
    ex.store.record_skipped(
        "x1",
        cluster="lab",
        target="lab",
        profile="quick",
        trigger="schedule",
        reason='<script>alert("x")</script>',
    )
    r = client.get("/")
    assert r.status_code == 200
    assert "<script>alert" not in r.text
    assert "&lt;script&gt;alert(&quot;x&quot;)" in r.text
    assert "script-src 'sha256-" in r.headers["Content-Security-Policy"]
    assert 'type="password" name="token"' in r.text


def test_token_provider_env_file_rotation_and_fail_closed(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text("one\n")
    cfg = ExporterSettings(api_token_file=file)
    provide = token_provider(cfg, env={})
    assert provide() == "one"
    file.write_text("two")
    assert provide() == "two"
    file.write_text("")
    empty = provide()
    assert empty not in (None, "")  # a configured but empty file must not open the API
    file.unlink()
    assert provide() not in (None, "", "two")
    assert token_provider(ExporterSettings(), env={"NETBENCH_API_TOKEN": " t "})() == "t"
    assert token_provider(ExporterSettings(), env={})() is None
    assert "s3cret" not in repr(dataclasses.replace(cfg, api_token="s3cret"))


def test_50_concurrent_posts_start_exactly_one_sweep(tmp_path: Path) -> None:
    ex, runner, close = make(tmp_path, api_token=TOKEN)
    with served(ex) as client:
        run_50(client, runner)
    close()


def run_50(client: httpx.Client, runner: GatedRunner) -> None:
    url = str(client.base_url.join("/api/v1/sweeps"))
    barrier = threading.Barrier(50)
    answers: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()

    def post() -> None:
        with httpx.Client(timeout=10.0) as http:
            barrier.wait(10)
            r = http.post(url, json={"profile": "quick"}, headers=AUTH)
            with lock:
                answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=post) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    accepted = [body for code, body in answers if code == 202]
    assert len(answers) == 50
    assert len(accepted) == 1, answers
    sid = accepted[0]["id"]
    conflicts = [body for code, body in answers if code == 409]
    assert len(conflicts) == 49
    assert {c["running_id"] for c in conflicts} == {sid}
    assert runner.runs == [sid]
