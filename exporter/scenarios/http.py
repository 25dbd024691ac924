"""HTTP load runs shared by http_rps, latency and service_scale, with connection accounting.

The seed script never checked fortio's SocketCount, so a "short connection" run could silently
reuse sockets. Here every HTTP run is checked against the server's own accepted-connections
counter (nginx stub_status): a short run must have opened at least one connection per request,
and a keepalive run must not have opened more than a few per client connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.errors import MeasurementInvalid
from exporter.scenarios.base import TOOL_GRACE_SECONDS, RoundContext, run_tool
from exporter.targets.base import Role, Target
from exporter.tools import hey

# Reading stub_status is itself one accepted connection. A keepalive client also opens a few
# spare sockets (Go's transport dials a new one when a pooled connection is busy or was just
# closed), so a keepalive run is judged by reuse: up to two connections per client connection
# plus slack is always fine; beyond that, each connection must have carried at least
# _KEEPALIVE_MIN_REUSE requests on average, or sockets were not really reused.
_KEEPALIVE_CONNECTIONS_PER_WORKER = 2
_KEEPALIVE_SLACK = 16
_KEEPALIVE_MIN_REUSE = 100
_STATUS_READ_CONNECTIONS = 1


@dataclass(frozen=True)
class HttpRun:
    result: hey.HeyResult
    accepted_connections: int
    """New TCP connections the server accepted during the run (-1: not counted)."""


def http_url(host: str, port: int, path: str = "/") -> str:
    return f"http://{host}:{port}{path}"


def run_http(
    target: Target,
    ctx: RoundContext,
    *,
    url: str,
    concurrency: int,
    keepalive: bool,
    seconds: float,
    qps_per_worker: float | None = None,
    role: Role = Role.CLIENT_POD,
    count_connections: bool = True,
) -> HttpRun:
    """One hey run, validated: no errors, no non-2xx (the parser), and honest connections.

    ``count_connections=False`` is for runs behind an L7 proxy: the server then counts the
    proxy's upstream pool, not the client's connections, and the caller proves instead that
    the proxy handled every request.
    """
    spec = hey.HeySpec(
        url=url,
        concurrency=concurrency,
        duration_seconds=seconds,
        qps_per_worker=qps_per_worker,
        keepalive=keepalive,
    )
    before = target.http_accepted_connections() if count_connections else 0
    result = run_tool(
        target,
        role,
        hey.build_command(spec),
        tool="hey",
        timeout=seconds + spec.timeout_seconds + TOOL_GRACE_SECONDS,
        parse=hey.parse,
        ctx=ctx,
    )
    if not count_connections:
        return HttpRun(result=result, accepted_connections=-1)
    accepted = target.http_accepted_connections() - before - _STATUS_READ_CONNECTIONS
    check_connections(
        keepalive=keepalive,
        requests=result.total_requests,
        concurrency=concurrency,
        accepted=accepted,
    )
    return HttpRun(result=result, accepted_connections=accepted)


def check_connections(*, keepalive: bool, requests: int, concurrency: int, accepted: int) -> None:
    """Raise MeasurementInvalid when the connection count contradicts the connection mode."""
    if requests <= 0:
        raise MeasurementInvalid("the HTTP run completed no request")
    if keepalive:
        limit = concurrency * _KEEPALIVE_CONNECTIONS_PER_WORKER + _KEEPALIVE_SLACK
        if accepted > limit and requests < accepted * _KEEPALIVE_MIN_REUSE:
            raise MeasurementInvalid(
                f"keepalive run opened {accepted} connections for {requests} requests "
                f"at concurrency {concurrency} (fewer than {_KEEPALIVE_MIN_REUSE} requests "
                "per connection): sockets were not reused"
            )
    elif accepted < requests:
        raise MeasurementInvalid(
            f"short-connection run completed {requests} requests over only {accepted} new "
            "connections: connections were reused, so this is not a short-connection result"
        )
