"""fortio adapter: argv, the upstream JSON (old and new schema) and text samples, errors, and
the short-connection validator the seed never had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.errors import MeasurementInvalid, ToolOutputError, ToolReportedError
from exporter.tools import fortio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "upstream"
URL = "http://198.19.0.10:80/"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def test_build_command_max_qps_keepalive() -> None:
    spec = fortio.FortioSpec(url=URL, concurrency=64, qps=0, duration_seconds=30)
    assert fortio.build_command(spec) == [
        "fortio", "load", "-c", "64", "-qps", "0", "-t", "30s", "-json", "-", URL,
    ]  # fmt: skip


def test_build_command_short_connections_fixed_qps() -> None:
    spec = fortio.FortioSpec(
        url=URL,
        concurrency=16,
        qps=1000,
        duration_seconds=1.5,
        keepalive=False,
        json_path="/tmp/out.json",
    )
    assert fortio.build_command(spec) == [
        "fortio", "load", "-c", "16", "-qps", "1000", "-t", "1.5s", "-json", "/tmp/out.json",
        "-keepalive=false", URL,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1"),
        ({"qps": -1}, "qps must be >= 0"),
        ({"duration_seconds": 0}, "duration_seconds must be > 0"),
        ({"json_path": ""}, "json_path"),
        ({"url": ""}, "url"),
    ],
)
def test_spec_validation(changes: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"url": URL, "concurrency": 4, "qps": 0, "duration_seconds": 5}
    with pytest.raises(ValueError, match=message):
        fortio.FortioSpec(**(base | changes))  # type: ignore[arg-type]


def test_parse_new_schema_keepalive_max() -> None:
    r = fortio.parse_json(fixture("fortio_http_keepalive_max.json"))
    assert r.requests_per_second == 1494.1922843008049
    assert r.requested_qps == 0.0
    assert r.total_requests == 89658
    assert dict(r.ret_codes) == {"200": 89658}
    assert r.socket_count == 10
    assert r.sockets_per_thread == (1,) * 10
    assert r.num_threads == 10
    assert r.version == "1.75.0"
    assert r.keepalive is True
    assert r.keepalive_reported is True
    assert r.error_count == 0
    assert r.duration_seconds == pytest.approx(60.004325375)
    assert r.average_seconds == 0.0066917157880055375
    # DurationHistogram percentiles, not ConnectionStats' (0.00094... for p50).
    assert dict(r.latency_seconds) == {
        0.5: 0.0052345206178986345,
        0.75: 0.009375327838141627,
        0.9: 0.011523358208955224,
        0.99: 0.015561068965517242,
        0.999: 0.022847583333333515,
    }


def test_parse_new_schema_fixed_qps() -> None:
    r = fortio.parse_json(fixture("fortio_http_qps50.json"))
    assert r.requested_qps == 50.0
    assert r.requests_per_second == 49.98387978223789
    assert r.total_requests == 3000
    assert r.socket_count == 4
    assert r.num_threads == 4
    assert r.latency_seconds[0.5] == 0.01276978417266187
    assert r.latency_seconds[0.99] == 0.0242857142857143


def test_parse_old_schema() -> None:
    r = fortio.parse_json(fixture("fortio_http_qps1000.json"))
    assert r.version == "1.3.1"
    assert r.requested_qps == 1000.0
    assert r.requests_per_second == 999.9820439932573
    assert r.total_requests == 240000
    assert dict(r.ret_codes) == {"200": 240000}
    assert r.socket_count == 1
    assert r.num_threads == 1
    assert r.sockets_per_thread is None
    assert r.error_count is None
    assert r.keepalive_reported is False  # no DisableKeepAlive in the old schema
    assert r.keepalive is True
    assert r.latency_seconds[0.5] == 0.0006419639885800361
    assert r.latency_seconds[0.99] == 0.003670863309352514
    assert r.latency_seconds[0.999] == 0.004943573667711599


def test_error_codes_are_reported() -> None:
    with pytest.raises(ToolReportedError) as exc:
        fortio.parse_json(fixture("fortio_http_errors.json"))
    assert "16 x -1 (socket/connection error)" in exc.value.reason
    assert "1 x 500" in exc.value.reason
    assert "(of 4339)" in exc.value.reason


def test_parse_text_tcp() -> None:
    r = fortio.parse_text(fixture("fortio_stdout_tcp.txt"))
    assert r.version == "1.8.0"
    assert r.total_requests == 100000
    assert r.requests_per_second == 80495.0
    assert r.requested_qps == 0.0
    assert dict(r.ret_codes) == {"OK": 100000}
    assert r.socket_count == 4
    assert r.num_threads == 4
    assert r.warmup_calls == 0
    assert r.keepalive_reported is False
    assert r.average_seconds == pytest.approx(0.049e-3)
    assert r.duration_seconds == pytest.approx(1.242312567)
    assert dict(r.latency_seconds) == {
        0.5: 0.00045737,
        0.75: 0.00067221,
        0.9: 0.000801115,
        0.99: 0.000878457,
        0.999: 0.000886192,
    }


def test_parse_text_with_503_is_reported() -> None:
    with pytest.raises(ToolReportedError, match=r"non-2xx return codes: 3 x 503 \(of 20\)"):
        fortio.parse_text(fixture("fortio_stdout_http_503.txt"))


def test_parse_text_takes_latency_from_the_request_histogram_only() -> None:
    # The same output with the 503 line read as 200: the "Error cases" block has its own
    # "# target" lines (p50 0.00118937) that must not leak into the request latencies.
    text = fixture("fortio_stdout_http_503.txt").replace(
        "Code 200 : 17 (85.0 %)\nCode 503 : 3 (15.0 %)", "Code 200 : 20 (100.0 %)"
    )
    r = fortio.parse_text(text)
    assert r.latency_seconds[0.5] == 0.00164286
    assert r.latency_seconds[0.99] == 0.00415064
    assert r.socket_count == 4
    assert r.num_threads == 2
    assert r.version == "1.60.3"
    assert r.duration_seconds == pytest.approx(0.016412752)


@pytest.mark.parametrize(
    "name",
    [
        "fortio_http_keepalive_max.json",
        "fortio_http_qps50.json",
        "fortio_http_qps1000.json",
        "fortio_http_errors.json",
    ],
)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.99])
def test_truncated_json(name: str, fraction: float) -> None:
    text = fixture(name)
    cut = text[: int(len(text) * fraction)]
    with pytest.raises(ToolOutputError, match=r"empty|not complete JSON"):
        fortio.parse_json(cut)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("Starting at", "no 'Starting at ... thread"),
        ("Ended after", "no 'Ended after' line"),
        ("Sockets used", "no 'Sockets used:' line"),
        ("All done", r"no 'All done N calls' \(the last line\) line"),
    ],
)
def test_truncated_text(marker: str, message: str) -> None:
    text = fixture("fortio_stdout_tcp.txt")
    with pytest.raises(ToolOutputError, match=message):
        fortio.parse_text(text[: text.index(marker)])


def test_text_without_banner() -> None:
    text = fixture("fortio_stdout_tcp.txt")
    with pytest.raises(ToolOutputError, match="'Fortio X running at' banner"):
        fortio.parse_text(text[text.index("\n") + 1 :])


def test_text_codes_disagree_with_total() -> None:
    text = fixture("fortio_stdout_tcp.txt").replace("tcp OK : 100000", "tcp OK : 99999")
    with pytest.raises(ToolOutputError, match="add up to 99999 but 'All done' says 100000"):
        fortio.parse_text(text)


def test_text_without_request_histogram() -> None:
    text = fixture("fortio_stdout_tcp.txt")
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("# target")]
    with pytest.raises(ToolOutputError, match="no '# target' lines under 'Aggregated"):
        fortio.parse_text("".join(lines))


def _doc(name: str) -> dict[str, object]:
    doc = json.loads(fixture(name))
    assert isinstance(doc, dict)
    return doc


def test_json_codes_disagree_with_count() -> None:
    doc = _doc("fortio_http_qps50.json")
    doc["RetCodes"] = {"200": 2999}
    with pytest.raises(ToolOutputError, match="RetCodes add up to 2999 but DurationHistogram"):
        fortio.parse_json(json.dumps(doc))


@pytest.mark.parametrize("key", ["RetCodes", "SocketCount", "ActualQPS", "NumThreads", "Version"])
def test_json_missing_key(key: str) -> None:
    doc = _doc("fortio_http_qps50.json")
    del doc[key]
    with pytest.raises(ToolOutputError, match=f"JSON has no '{key}'"):
        fortio.parse_json(json.dumps(doc))


def test_json_without_percentiles() -> None:
    doc = _doc("fortio_http_qps50.json")
    hist = doc["DurationHistogram"]
    assert isinstance(hist, dict)
    hist["Percentiles"] = None
    with pytest.raises(ToolOutputError, match="DurationHistogram has no Percentiles"):
        fortio.parse_json(json.dumps(doc))


def test_json_not_an_object() -> None:
    with pytest.raises(ToolOutputError, match="expected a JSON object"):
        fortio.parse_json("[1]")


def test_json_no_codes() -> None:
    doc = _doc("fortio_http_qps50.json")
    doc["RetCodes"] = {}
    with pytest.raises(ToolOutputError, match="no return codes"):
        fortio.parse_json(json.dumps(doc))


# --- check_short_connections -------------------------------------------------------------


def test_keepalive_runs_pass_unchecked() -> None:
    fortio.check_short_connections(fortio.parse_json(fixture("fortio_http_keepalive_max.json")))


def test_requested_short_but_reported_keepalive_is_invalid() -> None:
    r = fortio.parse_json(fixture("fortio_http_keepalive_max.json"))
    with pytest.raises(MeasurementInvalid, match="reports keep-alive on"):
        fortio.check_short_connections(r, requested_keepalive=False)


def test_reused_sockets_in_a_short_run_are_invalid() -> None:
    # The seed's silent failure: -keepalive=false asked for, 1 socket served 240000 calls.
    r = fortio.parse_json(fixture("fortio_http_qps1000.json"))
    with pytest.raises(MeasurementInvalid, match="only 1 sockets served 240000 requests"):
        fortio.check_short_connections(r, requested_keepalive=False)


def test_reported_short_run_with_reused_sockets_is_invalid() -> None:
    doc = _doc("fortio_http_qps50.json")
    doc["DisableKeepAlive"] = True  # what -keepalive=false records; SocketCount stays 4
    r = fortio.parse_json(json.dumps(doc))
    assert r.keepalive is False
    with pytest.raises(MeasurementInvalid, match="only 4 sockets served 3000 requests"):
        fortio.check_short_connections(r)


def test_honest_short_run_passes() -> None:
    doc = _doc("fortio_http_qps50.json")
    doc["DisableKeepAlive"] = True
    doc["SocketCount"] = 3004  # one per call plus one per thread's warm-up call
    fortio.check_short_connections(fortio.parse_json(json.dumps(doc)))
    doc["SocketCount"] = 2970  # within the default 1 % tolerance
    fortio.check_short_connections(fortio.parse_json(json.dumps(doc)))
    doc["SocketCount"] = 2969
    with pytest.raises(MeasurementInvalid, match="need >= 2970"):
        fortio.check_short_connections(fortio.parse_json(json.dumps(doc)))
