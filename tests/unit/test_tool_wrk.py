"""wrk adapter: argv, real loopback outputs, every error path."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools import wrk

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wrk"
URL = "http://198.19.0.10:80/"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def test_build_command() -> None:
    spec = wrk.WrkSpec(url=URL, connections=64, threads=2, duration_seconds=10.0)
    assert wrk.build_command(spec) == ["wrk", "-t", "2", "-c", "64", "-d", "10s", "--latency", URL]


def test_build_command_headers_timeout_no_latency() -> None:
    spec = wrk.WrkSpec(
        url=URL,
        connections=8,
        threads=2,
        duration_seconds=3,
        headers=("Connection: close", "Host: svc"),
        latency=False,
        timeout_seconds=1,
    )
    assert wrk.build_command(spec) == [
        "wrk", "-t", "2", "-c", "8", "-d", "3s", "--timeout", "1s",
        "-H", "Connection: close", "-H", "Host: svc", URL,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duration_seconds": 1.5}, "whole number of seconds"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"connections": 1}, r"connections \(1\) must be >= threads"),
        ({"headers": ("NoColon",)}, "Name: value"),
        ({"timeout_seconds": 0.2}, "whole number of seconds"),
        ({"url": "127.0.0.1"}, "http"),
    ],
)
def test_spec_validation(changes: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"url": URL, "connections": 8, "threads": 2, "duration_seconds": 2}
    with pytest.raises(ValueError, match=message):
        wrk.WrkSpec(**(base | changes))  # type: ignore[arg-type]


def test_parse_with_latency() -> None:
    r = wrk.parse(fixture("t2_c8_d2s_latency_ok.txt"))
    assert r.requests_per_second == 63885.72
    assert r.total_requests == 134131
    assert r.duration_seconds == pytest.approx(2.10)
    assert r.threads == 2
    assert r.connections == 8
    assert dict(r.latency_seconds) == pytest.approx(
        {0.5: 109.00e-6, 0.75: 113.00e-6, 0.9: 131.00e-6, 0.99: 221.00e-6}
    )
    assert r.average_latency_seconds == pytest.approx(120.63e-6)
    assert r.max_latency_seconds == pytest.approx(3.12e-3)
    assert r.socket_errors == wrk.WrkSocketErrors(0, 0, 0, 0)
    assert r.socket_errors.total == 0
    assert r.non_2xx == 0
    assert r.read_bytes == pytest.approx(19.19 * 1024**2)


def test_parse_without_latency() -> None:
    r = wrk.parse(fixture("t2_c8_d2s_nolatency_ok.txt"))
    assert r.requests_per_second == 62924.52
    assert r.total_requests == 132134
    assert dict(r.latency_seconds) == {}
    assert r.average_latency_seconds == pytest.approx(122.03e-6)
    assert r.max_latency_seconds == pytest.approx(2.77e-3)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("t2_c8_d1s_latency_404.txt", "69926 of 69926 responses had a status >= 400"),
        (
            "t2_c8_d1s_latency_read_errors.txt",
            "socket errors: connect 0, read 9242, write 0, timeout 0",
        ),
        (
            "t1_c4_d2s_latency_timeout_errors.txt",
            "socket errors: connect 0, read 0, write 0, timeout 4",
        ),
    ],
)
def test_failures_wrk_exits_0_on_are_reported(name: str, message: str) -> None:
    with pytest.raises(ToolReportedError, match=message) as exc:
        wrk.parse(fixture(name))
    assert exc.value.tool == "wrk"


def test_connection_refused_at_start_leaves_stdout_empty() -> None:
    assert fixture("t2_c8_d1s_latency_conn_refused.txt") == ""
    with pytest.raises(ToolOutputError, match="empty output"):
        wrk.parse(fixture("t2_c8_d1s_latency_conn_refused.txt"))


def test_stderr_text_is_not_wrk_output() -> None:
    with pytest.raises(ToolOutputError, match="does not start with 'Running"):
        wrk.parse(fixture("t2_c8_d1s_latency_conn_refused.stderr.txt"))


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("  2 threads and", "no 'T threads and C connections' line"),
        ("  Latency Distribution", "no 'N requests in T, B read' line"),
        ("  134131 requests", "no 'N requests in T, B read' line"),
        ("Requests/sec:", "no 'Requests/sec:' line"),
        ("Transfer/sec:", r"no 'Transfer/sec:' \(the last line\) line"),
    ],
)
def test_truncated_output(marker: str, message: str) -> None:
    text = fixture("t2_c8_d2s_latency_ok.txt")
    with pytest.raises(ToolOutputError, match=message):
        wrk.parse(text[: text.index(marker)])


def test_missing_quantile_line() -> None:
    text = fixture("t2_c8_d2s_latency_ok.txt").replace("     99%  221.00us\n", "")
    with pytest.raises(ToolOutputError, match=r"latency distribution is incomplete"):
        wrk.parse(text)


def test_truncated_in_the_last_value() -> None:
    text = fixture("t2_c8_d2s_latency_ok.txt")
    with pytest.raises(ToolOutputError, match="Transfer/sec"):
        wrk.parse(text[: text.index("9.14MB") + len("9.14M")])


def test_missing_thread_stats() -> None:
    text = fixture("t2_c8_d2s_latency_ok.txt")
    lines = [line for line in text.splitlines(keepends=True) if "Latency   120.63us" not in line]
    with pytest.raises(ToolOutputError, match="no 'Latency avg stdev max' thread-stats line"):
        wrk.parse("".join(lines))


def test_non_monotonic_quantiles() -> None:
    text = fixture("t2_c8_d2s_latency_ok.txt").replace("99%  221.00us", "99%  21.00us")
    with pytest.raises(ToolOutputError, match="not monotonic"):
        wrk.parse(text)


@pytest.mark.parametrize("text", ["", " \n"])
def test_empty(text: str) -> None:
    with pytest.raises(ToolOutputError, match="empty output"):
        wrk.parse(text)
