import pytest

from exporter.errors import MeasurementInvalid
from exporter.scenarios.http import check_connections


def test_short_run_needs_one_connection_per_request() -> None:
    check_connections(keepalive=False, requests=1000, concurrency=64, accepted=1000)
    with pytest.raises(MeasurementInvalid, match="not a short-connection result"):
        check_connections(keepalive=False, requests=1000, concurrency=64, accepted=64)


def test_keepalive_run_is_judged_by_reuse() -> None:
    # a few spare sockets: fine
    check_connections(keepalive=True, requests=500, concurrency=64, accepted=140)
    # 149 connections for 145k requests (seen on the lab): ~975 requests each, clearly reused
    check_connections(keepalive=True, requests=145_278, concurrency=64, accepted=149)
    # a "keepalive" run that opened a connection every few requests is a failed measurement
    with pytest.raises(MeasurementInvalid, match="sockets were not reused"):
        check_connections(keepalive=True, requests=20_000, concurrency=64, accepted=5_000)


def test_a_run_without_requests_is_invalid() -> None:
    with pytest.raises(MeasurementInvalid, match="no request"):
        check_connections(keepalive=True, requests=0, concurrency=1, accepted=0)
