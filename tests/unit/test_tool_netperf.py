"""netperf adapter: argv and the upstream omni CSV / keyval / classic samples, and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.errors import ToolOutputError
from exporter.tools import netperf

FIXTURES = Path(__file__).parent.parent / "fixtures" / "upstream"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def test_build_command_rr_default_selectors() -> None:
    spec = netperf.NetperfSpec(host="198.18.64.10", test="TCP_RR", seconds=60)
    assert netperf.build_command(spec) == [
        "netperf", "-H", "198.18.64.10", "-t", "TCP_RR", "-l", "60", "--", "-r", "1,1",
        "-o", "min_latency,mean_latency,p50_latency,p90_latency,p99_latency,transaction_rate",
    ]  # fmt: skip


def test_build_command_crr_custom() -> None:
    spec = netperf.NetperfSpec(
        host="h",
        test="TCP_CRR",
        seconds=10.0,
        request_size=32,
        response_size=128,
        output_selectors=("p99_latency", "transaction_rate"),
    )
    assert netperf.build_command(spec) == [
        "netperf", "-H", "h", "-t", "TCP_CRR", "-l", "10", "--", "-r", "32,128",
        "-o", "p99_latency,transaction_rate",
    ]  # fmt: skip


def test_build_command_stream() -> None:
    spec = netperf.NetperfSpec(host="h", test="TCP_STREAM", seconds=30)
    assert netperf.build_command(spec) == [
        "netperf", "-H", "h", "-t", "TCP_STREAM", "-l", "30", "--", "-o",
        "throughput,throughput_units",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"test": "UDP_RR"}, "TCP_RR, TCP_CRR or TCP_STREAM"),
        ({"seconds": 1.5}, "whole number of seconds"),
        ({"request_size": 0}, "request_size must be >= 1"),
        ({"output_selectors": ("a,b",)}, "bad netperf output selector"),
        ({"host": ""}, "host must not be empty"),
    ],
)
def test_spec_validation(changes: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"host": "h", "test": "TCP_RR", "seconds": 10}
    with pytest.raises(ValueError, match=message):
        netperf.NetperfSpec(**(base | changes))  # type: ignore[arg-type]


def test_parse_omni_csv_crr_with_migrated_banner() -> None:
    r = netperf.parse_omni_csv(fixture("netperf_tcp_crr_omni.txt"))
    assert r.banner is not None and r.banner.startswith("MIGRATED TCP Connect/Request/Response")
    assert dict(r.columns) == {
        "Minimum Latency Microseconds": "41",
        "Mean Latency Microseconds": "56.63",
        "Maximum Latency Microseconds": "848",
        "Stddev Latency Microseconds": "11.14",
        "Transaction Rate Tran/s": "17730.719",
    }
    assert r.min_latency_seconds == pytest.approx(41e-6)
    assert r.mean_latency_seconds == pytest.approx(56.63e-6)
    assert r.max_latency_seconds == pytest.approx(848e-6)
    assert r.stddev_latency_seconds == pytest.approx(11.14e-6)
    assert r.transaction_rate == 17730.719
    assert dict(r.latency_seconds) == {}  # no p50/p90/p99 selectors in that run


def test_quantile_accessor_names_what_is_missing() -> None:
    r = netperf.parse_omni_csv(fixture("netperf_tcp_crr_omni.txt"))
    with pytest.raises(ToolOutputError, match=r"no P99_LATENCY .*99th Percentile Latency"):
        r.number("p99_latency")


def test_parse_omni_csv_native_omni_banner() -> None:
    r = netperf.parse_omni_csv(fixture("netperf_omni_rr_csv.txt"))
    assert r.banner is not None and r.banner.startswith("OMNI TEST")
    assert dict(r.columns) == {"Throughput": "60999.07", "Throughput Units": "Trans/s"}
    assert r.transaction_rate == 60999.07
    with pytest.raises(ToolOutputError, match="'Trans/s' is not a data rate"):
        _ = r.throughput_bytes_per_second


def test_parse_omni_csv_without_banner() -> None:
    # -P 0 drops the banner: the same real header and value rows without their first line.
    text = fixture("netperf_tcp_crr_omni.txt").split("\n", 1)[1]
    r = netperf.parse_omni_csv(text)
    assert r.banner is None
    assert r.transaction_rate == 17730.719


def test_parse_keyval() -> None:
    r = netperf.parse_keyval(fixture("netperf_tcp_rr_omni_keyval.txt"))
    assert r.form == "keyval"
    assert r.banner is not None and "TCP REQUEST/RESPONSE" in r.banner
    assert dict(r.columns) == {"THROUGHPUT": "60074.74", "THROUGHPUT_UNITS": "Trans/s"}
    assert r.transaction_rate == 60074.74


def test_parse_classic_rr() -> None:
    r = netperf.parse_classic(fixture("netperf_tcp_rr_classic.txt"))
    assert r.test == "TCP_RR"
    assert r.transactions_per_second == 22596.51
    assert r.elapsed_seconds == 10.0
    assert (r.request_size, r.response_size) == (32, 128)
    assert r.bytes_per_second is None


def test_parse_classic_stream() -> None:
    r = netperf.parse_classic(fixture("netperf_tcp_stream_classic.txt"))
    assert r.test == "TCP_STREAM"
    assert r.bytes_per_second == pytest.approx(9412.12e6 / 8)
    assert r.elapsed_seconds == 30.0
    assert r.message_size == 1500
    assert r.transactions_per_second is None


def test_classic_parser_refuses_omni_output() -> None:
    with pytest.raises(ToolOutputError, match="expected one 6-column result row, found 0"):
        netperf.parse_classic(fixture("netperf_tcp_crr_omni.txt"))


@pytest.mark.parametrize(
    ("name", "parser", "message"),
    [
        ("netperf_tcp_crr_omni.txt", netperf.parse_omni_csv, "header row and one value row"),
        ("netperf_omni_rr_csv.txt", netperf.parse_omni_csv, "header row and one value row"),
        ("netperf_tcp_rr_omni_keyval.txt", netperf.parse_keyval, "empty output|no KEY=value"),
        ("netperf_tcp_rr_classic.txt", netperf.parse_classic, "result row, found 0"),
        ("netperf_tcp_stream_classic.txt", netperf.parse_classic, "result row, found 0"),
    ],
)
def test_truncated_before_the_values(
    name: str, parser: Callable[[str], object], message: str
) -> None:
    text = fixture(name)
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:-1]) if "classic" not in name else "".join(lines[:-2])
    if name == "netperf_tcp_rr_omni_keyval.txt":
        cut = lines[0]
    with pytest.raises(ToolOutputError, match=message):
        parser(cut)


def test_csv_value_row_cut_short() -> None:
    text = fixture("netperf_tcp_crr_omni.txt")
    with pytest.raises(ToolOutputError, match="5 columns but 3 values"):
        netperf.parse_omni_csv(text[: text.rindex(",11.14")])


def test_csv_garbled_value_fails_in_the_accessor() -> None:
    text = fixture("netperf_tcp_crr_omni.txt").replace("17730.719", "17730.7x9")
    r = netperf.parse_omni_csv(text)
    with pytest.raises(ToolOutputError, match=r"TRANSACTION_RATE: '17730\.7x9' is not a number"):
        _ = r.transaction_rate


def test_keyval_garbage_line() -> None:
    text = fixture("netperf_tcp_rr_omni_keyval.txt") + "oops\n"
    with pytest.raises(ToolOutputError, match="not a KEY=value line: 'oops'"):
        netperf.parse_keyval(text)


def test_classic_without_banner() -> None:
    text = fixture("netperf_tcp_rr_classic.txt").split("\n", 1)[1]
    with pytest.raises(ToolOutputError, match=r"no 'MIGRATED \.\.\. TEST' banner"):
        netperf.parse_classic(text)


@pytest.mark.parametrize(
    "parser", [netperf.parse_omni_csv, netperf.parse_keyval, netperf.parse_classic]
)
def test_empty(parser: Callable[[str], object]) -> None:
    with pytest.raises(ToolOutputError, match="empty output"):
        parser("")
