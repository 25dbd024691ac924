"""The HTTP side of ``netbench serve``: trigger API, history, health, /metrics, a status page.

Built by :func:`create_app` from injected parts (store, coordinator, settings, token source,
registry, clock), so tests run it without a runner, a scheduler or a lab.

Triggering (``POST /api/v1/sweeps`` and ``.../cancel``) needs ``Authorization: Bearer <token>``,
compared in constant time. With no token configured the trigger is refused (403) unless the
configuration explicitly opens it. The order of checks is fixed: authentication, then the body
(422 naming the field), then the single-sweep rule (409 with the running id), then the on-demand
cooldown (429 with Retry-After).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from exporter import __version__
from exporter.coordinator import AlreadyRunning, CoolingDown, Coordinator
from exporter.errors import ConfigError, NetbenchError
from exporter.settings import Settings
from exporter.store import OutcomeRecord, Store, SweepRecord
from exporter.sweep import SweepRequest, Trigger

MAX_BODY_BYTES = 16 * 1024
SWEEP_ID = r"^[A-Za-z0-9_-]{1,64}$"

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


# --------------------------------------------------------------------------------------------
# Request and response bodies


class SweepCreate(BaseModel):
    """Body of ``POST /api/v1/sweeps``. Unset fields come from the profile and settings; the
    overrides must lie within the exporter's configured bounds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    profile: Name = "quick"
    scenarios: list[Name] | None = Field(default=None, min_length=1, max_length=16)
    datapaths: list[Name] | None = Field(default=None, min_length=1, max_length=16)
    routing: Name | None = None
    rounds: int | None = Field(default=None, ge=1, le=1000)
    iperf_seconds: float | None = Field(default=None, gt=0, le=86400)
    http_seconds: float | None = Field(default=None, gt=0, le=86400)
    scale_steps: list[Annotated[int, Field(ge=1, le=10_000_000)]] | None = Field(
        default=None, min_length=1, max_length=64
    )

    def request(self) -> SweepRequest:
        return SweepRequest(
            profile=self.profile,
            trigger=Trigger.API,
            scenarios=tuple(self.scenarios) if self.scenarios is not None else None,
            datapaths=tuple(self.datapaths) if self.datapaths is not None else None,
            routing=self.routing,
            rounds=self.rounds,
            iperf_seconds=self.iperf_seconds,
            http_seconds=self.http_seconds,
            scale_steps=tuple(self.scale_steps) if self.scale_steps is not None else None,
        )


class Accepted(BaseModel):
    id: str
    status: str
    url: str


class Problem(BaseModel):
    detail: str


class Conflict(BaseModel):
    detail: str
    running_id: str


class SummaryOut(BaseModel):
    value: float
    minimum: float
    maximum: float
    mean: float
    relative_stddev: float
    rounds: int
    noisy: bool


class MeasurementOut(BaseModel):
    metric: str
    labels: dict[str, str]
    summary: SummaryOut
    samples: list[float]


class OutcomeOut(BaseModel):
    scenario: str
    datapath: str
    success: bool
    error: str | None
    finished_at: float
    measurements: list[MeasurementOut]


class ErrorOut(BaseModel):
    at: float
    scenario: str | None
    datapath: str | None
    message: str


class SweepOut(BaseModel):
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
    message: str
    error: str | None
    request: dict[str, Any]
    settings: dict[str, Any]
    info: dict[str, dict[str, str]]
    datapaths: list[str]
    scenarios: list[str]


class SweepDetail(SweepOut):
    outcomes: list[OutcomeOut]
    errors: list[ErrorOut]


class SweepPage(BaseModel):
    items: list[SweepOut]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: str


def _sweep_out(r: SweepRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "cluster": r.cluster,
        "target": r.target,
        "profile": r.profile,
        "trigger": r.trigger,
        "status": r.status,
        "started_at": r.started_at,
        "updated_at": r.updated_at,
        "finished_at": r.finished_at,
        "progress": r.progress,
        "message": r.message,
        "error": r.error,
        "request": r.request,
        "settings": r.settings,
        "info": r.info,
        "datapaths": list(r.datapaths),
        "scenarios": list(r.scenarios),
    }


def _outcome_out(o: OutcomeRecord) -> dict[str, Any]:
    return {
        "scenario": o.scenario,
        "datapath": o.datapath,
        "success": o.success,
        "error": o.error,
        "finished_at": o.finished_at,
        "measurements": [
            {
                "metric": m.metric,
                "labels": dict(m.labels),
                "summary": {
                    "value": m.summary.value,
                    "minimum": m.summary.minimum,
                    "maximum": m.summary.maximum,
                    "mean": m.summary.mean,
                    "relative_stddev": m.summary.relative_stddev,
                    "rounds": m.summary.rounds,
                    "noisy": m.summary.noisy,
                },
                "samples": list(m.samples),
            }
            for m in o.measurements
        ],
    }


def _unprocessable(field: str, message: str, kind: str = "value_error") -> JSONResponse:
    """422 in FastAPI's own shape, naming the field."""
    return JSONResponse(
        status_code=422,
        content={"detail": [{"loc": ["body", field], "msg": message, "type": kind}]},
    )


def _bounds_error(body: SweepCreate, settings: Settings) -> JSONResponse | None:
    b = settings.exporter.bounds
    if body.rounds is not None and body.rounds > b.max_rounds:
        return _unprocessable("rounds", f"must be at most {b.max_rounds}")
    for name in ("iperf_seconds", "http_seconds"):
        value = getattr(body, name)
        if value is not None and not b.min_duration_seconds <= value <= b.max_duration_seconds:
            return _unprocessable(
                name,
                f"must be between {b.min_duration_seconds:g} and {b.max_duration_seconds:g} s",
            )
    if body.scale_steps is not None:
        if len(body.scale_steps) > b.max_scale_steps:
            return _unprocessable("scale_steps", f"at most {b.max_scale_steps} steps")
        if max(body.scale_steps) > b.max_scale_services:
            return _unprocessable(
                "scale_steps", f"steps must be at most {b.max_scale_services} Services"
            )
    return None


# --------------------------------------------------------------------------------------------
# The app


def create_app(
    *,
    settings: Settings,
    store: Store,
    coordinator: Coordinator,
    registry: CollectorRegistry,
    token: Callable[[], str | None],
    clock: Callable[[], float] = time.time,
    ready: Callable[[], bool] | None = None,
    metrics_key: Callable[[], Hashable] | None = None,
) -> FastAPI:
    """The FastAPI application. ``token`` returns the configured bearer token (None: none).

    ``metrics_key`` (optional) versions the /metrics payload: while it returns the same value,
    the rendered text is reused (the server keys it on the store's write generation and a
    10-second clock bucket, so a scrape costs a render only after something changed)."""
    app = FastAPI(
        title="netbench exporter",
        version=__version__,
        description="Kubernetes datapath benchmarks: sweeps, history, Prometheus metrics.",
        docs_url=None,  # the Swagger UI loads assets from a CDN; /openapi.json is enough
        redoc_url=None,
    )
    cfg = settings.exporter
    render_lock = threading.Lock()
    rendered: list[tuple[Hashable, bytes] | None] = [None]

    def authorize(request: Request) -> JSONResponse | None:
        expected = token()
        if expected is None:
            if cfg.allow_unauthenticated_trigger:
                return None
            return JSONResponse(
                status_code=403,
                content={"detail": "triggering is disabled: no API token is configured"},
            )
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), expected.encode("utf-8")
        ):
            return None
        return JSONResponse(
            status_code=401,
            content={"detail": "missing or wrong bearer token"},
            headers={"WWW-Authenticate": 'Bearer realm="netbench"'},
        )

    auth_responses: dict[int | str, dict[str, Any]] = {
        401: {"model": Problem, "description": "Missing or wrong bearer token"},
        403: {"model": Problem, "description": "No token configured; triggering disabled"},
    }

    @app.post(
        "/api/v1/sweeps",
        status_code=202,
        response_model=Accepted,
        summary="Start a sweep now",
        responses={
            **auth_responses,
            409: {"model": Conflict, "description": "A sweep is running"},
            413: {"model": Problem, "description": "Body too large"},
            429: {"model": Problem, "description": "Inside the on-demand cooldown"},
        },
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": SweepCreate.model_json_schema()}},
            }
        },
    )
    async def create_sweep(request: Request) -> Response:
        denied = authorize(request)
        if denied is not None:
            return denied
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return JSONResponse(status_code=413, content={"detail": "body too large"})
        try:
            body = SweepCreate.model_validate_json(raw.strip() or b"{}")
        except ValidationError as err:
            return JSONResponse(
                status_code=422,
                content={
                    "detail": [
                        {
                            "loc": ["body", *(str(p) for p in e["loc"])],
                            "msg": e["msg"],
                            "type": e["type"],
                        }
                        for e in err.errors(include_url=False, include_input=False)
                    ]
                },
            )
        bad = _bounds_error(body, settings)
        if bad is not None:
            return bad
        try:
            sweep_id = coordinator.try_start(
                body.request(), cooldown_seconds=cfg.on_demand_cooldown_seconds
            )
        except ConfigError as err:
            return _unprocessable(err.key, err.reason)
        except AlreadyRunning as err:
            return JSONResponse(
                status_code=409,
                content={"detail": str(err), "running_id": err.running_id},
                headers={"Location": f"/api/v1/sweeps/{err.running_id}"},
            )
        except CoolingDown as err:
            return JSONResponse(
                status_code=429,
                content={"detail": str(err)},
                headers={"Retry-After": Coordinator.retry_after_header(err.retry_after)},
            )
        except NetbenchError as err:  # shutting down
            return JSONResponse(status_code=503, content={"detail": str(err)})
        url = f"/api/v1/sweeps/{sweep_id}"
        return JSONResponse(
            status_code=202,
            content={"id": sweep_id, "status": "running", "url": url},
            headers={"Location": url},
        )

    @app.get("/api/v1/sweeps", response_model=SweepPage, summary="Sweeps, newest first")
    def list_sweeps(
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        items, total = store.list_sweeps(limit=limit, offset=offset)
        return {
            "items": [_sweep_out(r) for r in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @app.get(
        "/api/v1/sweeps/{sweep_id}",
        response_model=SweepDetail,
        summary="One sweep: status, progress, results, errors",
        responses={404: {"model": Problem, "description": "Unknown sweep"}},
    )
    def get_sweep(sweep_id: Annotated[str, Path(pattern=SWEEP_ID)]) -> Any:
        record = store.get_sweep(sweep_id)
        if record is None:
            return JSONResponse(status_code=404, content={"detail": "no such sweep"})
        return {
            **_sweep_out(record),
            "outcomes": [_outcome_out(o) for o in store.outcomes(sweep_id)],
            "errors": [
                {"at": e.at, "scenario": e.scenario, "datapath": e.datapath, "message": e.message}
                for e in store.errors(sweep_id)
            ],
        }

    @app.post(
        "/api/v1/sweeps/{sweep_id}/cancel",
        status_code=202,
        response_model=Accepted,
        summary="Cancel the running sweep",
        responses={
            **auth_responses,
            404: {"model": Problem, "description": "Unknown sweep"},
            409: {"model": Problem, "description": "The sweep is not running"},
        },
    )
    def cancel_sweep(request: Request, sweep_id: Annotated[str, Path(pattern=SWEEP_ID)]) -> Any:
        denied = authorize(request)
        if denied is not None:
            return denied
        record = store.get_sweep(sweep_id)
        if record is None:
            return JSONResponse(status_code=404, content={"detail": "no such sweep"})
        if not coordinator.cancel(sweep_id):
            return JSONResponse(
                status_code=409, content={"detail": f"sweep {sweep_id} is {record.status}"}
            )
        url = f"/api/v1/sweeps/{sweep_id}"
        return JSONResponse(
            status_code=202, content={"id": sweep_id, "status": "cancelling", "url": url}
        )

    @app.get("/healthz", response_model=Health, summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Health,
        summary="Readiness: the history answers and the scheduler runs",
        responses={503: {"model": Health, "description": "Not ready"}},
    )
    def readyz() -> Any:
        if store.ping() and (ready is None or ready()):
            return {"status": "ready"}
        return JSONResponse(status_code=503, content={"status": "not ready"})

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def metrics() -> Response:
        if metrics_key is None:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
        with render_lock:
            key = metrics_key()
            cached = rendered[0]
            if cached is None or cached[0] != key:
                cached = rendered[0] = (key, generate_latest(registry))
            payload = cached[1]
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, summary="Status page")
    def status_page() -> HTMLResponse:
        return HTMLResponse(
            _status_html(settings, store, coordinator, clock),
            headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"},
        )

    return app


# --------------------------------------------------------------------------------------------
# The status page (everything dynamic goes through html.escape)

_SCRIPT = """
document.getElementById("run").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = document.getElementById("answer");
  const form = ev.target;
  const res = await fetch("/api/v1/sweeps", {
    method: "POST",
    headers: {"Content-Type": "application/json",
              "Authorization": "Bearer " + form.token.value},
    body: JSON.stringify({profile: form.profile.value}),
  });
  out.textContent = res.status + " " + await res.text();
});
"""
_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    ".ok{color:#060}.ko{color:#a00}"
)


def _sha(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


_CSP = (
    f"default-src 'none'; script-src 'sha256-{_sha(_SCRIPT)}'; "
    f"style-src 'sha256-{_sha(_STYLE)}'; connect-src 'self'; form-action 'self'"
)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    out = ["<table><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _status_html(
    settings: Settings, store: Store, coordinator: Coordinator, clock: Callable[[], float]
) -> str:
    e = html.escape
    cluster = settings.cluster
    running = store.running_sweeps()
    if running:
        r = running[0]
        now_line = (
            f"<p>Running: <b>{e(r.id)}</b> profile {e(r.profile)} ({e(r.trigger)}), "
            f"{math.floor(max(r.progress, coordinator.progress) * 100)}% — {e(r.message)}</p>"
        )
    else:
        now_line = "<p>No sweep is running.</p>"
    outcomes = [
        [
            o.scenario,
            o.datapath,
            "ok" if o.success else f"FAILED: {o.error or ''}",
            _when(o.finished_at),
            _when(o.last_success_at),
            o.sweep_id,
        ]
        for o in store.latest_outcomes(cluster)
    ]
    since = clock() - settings.exporter.series_max_age_seconds
    values = [
        [
            m.scenario,
            m.datapath,
            "netbench_" + m.metric,
            ",".join(f"{k}={v}" for k, v in m.labels),
            f"{m.summary.value:.6g}",
            str(m.summary.rounds),
            f"{m.summary.relative_stddev:.1%}" + (" noisy" if m.summary.noisy else ""),
        ]
        for m in store.latest_measurements(cluster, since=since)[:1000]
    ]
    recent, _ = store.list_sweeps(limit=10)
    sweeps = [
        [r.id, r.profile, r.trigger, r.status, _when(r.started_at), r.error or ""] for r in recent
    ]
    options = "".join(
        f'<option value="{e(name, quote=True)}">{e(name)}</option>'
        for name in sorted(settings.profiles)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>netbench — {e(cluster)}</title>
<style>{_STYLE}</style></head><body>
<h1>netbench exporter — cluster {e(cluster)}</h1>
{now_line}
<h2>Run now</h2>
<form id="run"><label>profile <select name="profile">{options}</select></label>
<label>token <input type="password" name="token" autocomplete="off" required></label>
<button type="submit">Run now</button></form><pre id="answer"></pre>
<h2>Latest outcome per scenario</h2>
{_table(["scenario", "datapath", "result", "finished", "last success", "sweep"], outcomes)}
<h2>Latest values</h2>
{_table(["scenario", "datapath", "metric", "labels", "value", "rounds", "rel. stddev"], values)}
<h2>Recent sweeps</h2>
{_table(["id", "profile", "trigger", "status", "started", "error"], sweeps)}
<p><a href="/metrics">/metrics</a> · <a href="/api/v1/sweeps">/api/v1/sweeps</a> ·
<a href="/openapi.json">/openapi.json</a></p>
<script>{_SCRIPT}</script>
</body></html>
"""
