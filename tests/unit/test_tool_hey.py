"""hey adapter: argv, real loopback outputs, every error path, the -z tail behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools import hey

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hey"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


URL = "http://198.19.0.10:80/"


def test_build_command_duration_keepalive() -> None:
    spec = hey.HeySpec(url=URL, concurrency=64, duration_seconds=10)
    assert hey.build_command(spec) == ["hey", "-z", "10s", "-c", "64", "-t", "10", URL]


def test_build_command_short_connections_rate_limited() -> None:
    spec = hey.HeySpec(
        url=URL,
        concurrency=16,
        duration_seconds=2.5,
        qps_per_worker=62.5,
        keepalive=False,
        timeout_seconds=3,
    )
    assert hey.build_command(spec) == [
        "hey", "-z", "2500ms", "-c", "16", "-q", "62.5", "-disable-keepalive", "-t", "3", URL,
    ]  # fmt: skip


def test_build_command_request_count() -> None:
    spec = hey.HeySpec(url=URL, concurrency=8, requests=2000)
    assert hey.build_command(spec) == ["hey", "-n", "2000", "-c", "8", "-t", "10", URL]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 4}, "exactly one of duration_seconds"),
        ({"concurrency": 4, "duration_seconds": 1, "requests": 8}, "exactly one"),
        ({"concurrency": 0, "duration_seconds": 1}, "concurrency must be >= 1"),
        ({"concurrency": 8, "requests": 4}, "must be >= concurrency"),
        ({"concurrency": 8, "requests": 2001}, "hey would silently send only 2000"),
        ({"concurrency": 1, "duration_seconds": 0}, "duration_seconds must be > 0"),
        ({"concurrency": 1, "duration_seconds": 0.0005}, "whole milliseconds"),
        ({"concurrency": 1, "duration_seconds": 1, "qps_per_worker": 0}, "qps_per_worker"),
        ({"concurrency": 1, "duration_seconds": 1, "timeout_seconds": -1}, "timeout_seconds"),
        ({"concurrency": 1, "duration_seconds": 1, "url": "198.19.0.10"}, "http"),
    ],
)
def test_spec_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hey.HeySpec(**({"url": URL} | kwargs))  # type: ignore[arg-type]


def test_parse_duration_run() -> None:
    r = hey.parse(fixture("z2s_c4_ok.txt"))
    assert r.requests_per_second == 21911.0428
    assert r.total_requests == 43833
    assert dict(r.status_codes) == {200: 43833}
    assert dict(r.latency_seconds) == {
        0.1: 0.0001, 0.25: 0.0001, 0.5: 0.0001, 0.75: 0.0002, 0.9: 0.0003, 0.95: 0.0004,
        0.99: 0.0006,
    }  # fmt: skip
    assert r.average_seconds == 0.0002
    assert r.fastest_seconds == 0.0
    assert r.slowest_seconds == 0.0349
    assert r.total_seconds == 2.0005
    assert r.status_codes_sampled is False


def test_parse_request_count_run() -> None:
    r = hey.parse(fixture("n2000_c8_ok.txt"))
    assert r.total_requests == 2000
    assert r.requests_per_second == 24271.0883
    assert r.latency_seconds[0.99] == 0.002
    assert r.total_seconds == 0.0824


def test_parse_short_connections() -> None:
    r = hey.parse(fixture("z2s_c4_nokeepalive.txt"))
    assert r.total_requests == 11925
    assert r.requests_per_second == 5961.511
    assert r.latency_seconds[0.5] == 0.0005
    assert r.latency_seconds[0.99] == 0.0021


def test_parse_rate_limited() -> None:
    r = hey.parse(fixture("z2s_c2_q50.txt"))
    assert r.total_requests == 200  # 2 workers x 50 qps x 2 s
    assert r.requests_per_second == 99.8077
    assert r.latency_seconds[0.99] == 0.0022


def test_z_deadline_waits_for_requests_in_flight() -> None:
    # -z 1s against a 0.4 s server: the third round of requests was in flight at the deadline.
    # hey did not cancel it: all 12 answered 200 and Total stretched to 1.2996 s.
    r = hey.parse(fixture("z1s_c4_slow_server_tail.txt"))
    assert r.total_requests == 12
    assert dict(r.status_codes) == {200: 12}
    assert r.total_seconds == 1.2996
    assert r.requests_per_second == 9.2338
    # Too few responses for the 95/99 % lines: hey prints "0% in 0.0000 secs"; never a value.
    assert dict(r.latency_seconds) == {
        0.1: 0.4059, 0.25: 0.4062, 0.5: 0.444, 0.75: 0.4442, 0.9: 0.4487,
    }  # fmt: skip
    assert 0.99 not in r.latency_seconds


def test_result_mappings_are_read_only() -> None:
    r = hey.parse(fixture("z2s_c4_ok.txt"))
    with pytest.raises(TypeError):
        r.status_codes[500] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        r.latency_seconds[0.5] = 0.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("n200_c4_404.txt", r"non-2xx responses: 200 x 404 \(of 200\)"),
        ("z1s_c4_500.txt", r"non-2xx responses: 5758 x 500 \(of 5758\)"),
        ("n20_c2_conn_refused.txt", r"requests failed: 20 x Get .*connection refused"),
    ],
)
def test_failures_hey_exits_0_on_are_reported(name: str, message: str) -> None:
    with pytest.raises(ToolReportedError, match=message) as exc:
        hey.parse(fixture(name))
    assert exc.value.tool == "hey"


def test_mixed_codes_list_every_bad_one() -> None:
    ok = fixture("z2s_c4_ok.txt")
    bad = fixture("n200_c4_404.txt")
    # Two real status lines in one distribution (derived from two real runs).
    text = ok.replace(
        "  [200]\t43833 responses\n", "  [200]\t43633 responses\n  [404]\t200 responses\n"
    )
    assert text != ok and "[404]\t200 responses" in bad
    with pytest.raises(ToolReportedError, match=r"200 x 404 \(of 43833\)"):
        hey.parse(text)


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_output(text: str) -> None:
    with pytest.raises(ToolOutputError, match="empty output"):
        hey.parse(text)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("  Requests/sec:", "no summary line for Requests/sec"),
        ("Response time histogram:", "no 'Status code distribution:' section"),
        ("Details (average", "no 'Status code distribution:' section"),
        ("Status code distribution:", "no 'Status code distribution:' section"),
        ("  [200]\t43833", "status code distribution is empty"),
    ],
)
def test_truncated_output(marker: str, message: str) -> None:
    text = fixture("z2s_c4_ok.txt")
    with pytest.raises(ToolOutputError, match=message):
        hey.parse(text[: text.index(marker)])


def test_truncated_inside_the_status_count() -> None:
    text = fixture("z2s_c4_ok.txt")
    cut = text[: text.index("43833 responses") + len("438")]
    with pytest.raises(ToolOutputError, match="unreadable status code line"):
        hey.parse(cut)


def test_lost_status_line_is_caught_by_the_cross_check() -> None:
    # Drop the count to one digit less: Requests/sec x Total no longer matches.
    text = fixture("z2s_c4_ok.txt").replace("[200]\t43833 responses", "[200]\t4383 responses")
    with pytest.raises(ToolOutputError, match="add up to 4383 but Requests/sec x Total implies"):
        hey.parse(text)


def test_error_section_cut_before_its_entries() -> None:
    text = fixture("n20_c2_conn_refused.txt")
    cut = text[: text.index("Error distribution:") + len("Error distribution:\n")]
    with pytest.raises(ToolOutputError, match="'Error distribution:' has no entries"):
        hey.parse(cut)


def test_unreadable_latency_line() -> None:
    text = fixture("z2s_c4_ok.txt").replace("  50% in 0.0001 secs", "  50% in ? secs")
    with pytest.raises(ToolOutputError, match=r"latency at 50%: '\?' is not a number"):
        hey.parse(text)


def test_latency_section_without_entries() -> None:
    text = fixture("z2s_c4_ok.txt")
    start = text.index("Latency distribution:\n") + len("Latency distribution:\n")
    end = text.index("\nDetails (average")
    with pytest.raises(ToolOutputError, match="no 'Latency distribution:' entries"):
        hey.parse(text[:start] + text[end:])


def test_garbled_latency_line() -> None:
    text = fixture("z2s_c4_ok.txt").replace("  50% in 0.0001 secs", "  50% 0.0001")
    with pytest.raises(ToolOutputError, match="unreadable latency line"):
        hey.parse(text)


def test_non_monotonic_latency() -> None:
    text = fixture("z2s_c4_ok.txt").replace("  99% in 0.0006 secs", "  99% in 0.0000 secs")
    with pytest.raises(ToolOutputError, match="not monotonic"):
        hey.parse(text)


def test_more_than_a_million_responses_are_flagged_as_sampled() -> None:
    # hey records status codes for its first 1,000,000 responses only (maxRes). Derived from a
    # real output: 1,000,000 recorded codes, and Requests/sec x Total implying 1,200,050.
    text = (
        fixture("z2s_c4_ok.txt")
        .replace("Requests/sec:\t21911.0428", "Requests/sec:\t599875.0312")
        .replace("[200]\t43833 responses", "[200]\t1000000 responses")
    )
    r = hey.parse(text)
    assert r.status_codes_sampled is True
    assert r.total_requests == 1200050
    assert dict(r.status_codes) == {200: 1000000}
