"""iperf3 adapter: argv, real outputs (loopback captures and upstream samples), every error."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools import iperf3

FIXTURES = Path(__file__).parent.parent / "fixtures"


def fixture(name: str) -> str:
    # Bytes, decoded: keeps CRLF line endings exactly as captured.
    return (FIXTURES / name).read_bytes().decode("utf-8")


def test_build_command_defaults() -> None:
    assert iperf3.build_command(iperf3.Iperf3Spec(server="198.18.64.10")) == [
        "iperf3", "-c", "198.18.64.10", "-p", "5201", "-J", "-t", "10", "-O", "0",
        "-P", "1", "--connect-timeout", "3000",
    ]  # fmt: skip


def test_build_command_all_options() -> None:
    spec = iperf3.Iperf3Spec(
        server="198.18.64.2",
        port=15201,
        seconds=30.0,
        streams=8,
        omit_seconds=5,
        reverse=True,
        connect_timeout_ms=500,
    )
    assert iperf3.build_command(spec) == [
        "iperf3", "-c", "198.18.64.2", "-p", "15201", "-J", "-t", "30", "-O", "5",
        "-P", "8", "--connect-timeout", "500", "-R",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seconds": 1.5}, "whole number of seconds"),
        ({"seconds": 0}, "at least 1"),
        ({"omit_seconds": 0.5}, "whole number of seconds"),
        ({"omit_seconds": -1}, "at least 0"),
        ({"streams": 0}, "streams must be 1..128"),
        ({"streams": 129}, "streams must be 1..128"),
        ({"port": 0}, "port must be"),
        ({"server": ""}, "server must not be empty"),
        ({"connect_timeout_ms": 0}, "connect_timeout_ms"),
    ],
)
def test_spec_refuses_what_iperf3_would_round_or_reject(
    changes: dict[str, object], message: str
) -> None:
    base = {"server": "127.0.0.1"} | changes
    with pytest.raises(ValueError, match=message):
        iperf3.Iperf3Spec(**base)  # type: ignore[arg-type]


def test_spec_is_frozen() -> None:
    spec = iperf3.Iperf3Spec(server="127.0.0.1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.streams = 2  # type: ignore[misc]


def test_parse_single_stream_with_omit() -> None:
    r = iperf3.parse(fixture("iperf3/tcp_p1_t2_o1.json"))
    assert r.sent_bytes_per_second == pytest.approx(23435802496.913734 / 8)
    assert r.received_bytes_per_second == pytest.approx(23435388421.308346 / 8)
    assert r.sent_bytes == 5858918400
    assert r.received_bytes == 5860622336
    assert r.seconds == pytest.approx(2.000606)
    assert r.streams == 1
    assert r.retransmits == 0
    assert r.version == "3.12"
    assert r.omit_seconds == 1
    assert r.reverse is False


def test_parse_eight_streams() -> None:
    r = iperf3.parse(fixture("iperf3/tcp_p8_t2.json"))
    assert r.streams == 8
    assert r.sent_bytes_per_second == pytest.approx(20582313063.182434 / 8)
    assert r.received_bytes_per_second == pytest.approx(20404946115.4739 / 8)
    assert r.seconds == pytest.approx(2.004453)
    assert r.retransmits == 0


def test_parse_reverse() -> None:
    r = iperf3.parse(fixture("iperf3/tcp_reverse_t2.json"))
    assert r.reverse is True
    assert r.retransmits == 4
    assert r.sent_bytes_per_second == pytest.approx(22353363325.841034 / 8)
    assert r.received_bytes_per_second == pytest.approx(22359711645.585945 / 8)


def test_parse_upstream_3_9_tab_indented() -> None:
    text = fixture("upstream/iperf3_3.9_tcp.json")
    assert "\t" in text
    r = iperf3.parse(text)
    assert r.version == "3.9"
    assert r.streams == 1
    assert r.omit_seconds == 3
    assert r.sent_bytes_per_second == pytest.approx(94372519.48214027 / 8)
    assert r.received_bytes_per_second == pytest.approx(94558398.62248093 / 8)
    assert r.seconds == pytest.approx(10.353686)
    assert r.retransmits == 0


def test_upstream_3_6_crlf_error_is_reported() -> None:
    text = fixture("upstream/iperf3_3.6_error_control_socket_closed.json")
    assert "\r\n" in text
    with pytest.raises(ToolReportedError, match="control socket has closed unexpectedly") as exc:
        iperf3.parse(text)
    assert exc.value.tool == "iperf3"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("iperf3/error_connection_refused.json", "unable to connect to server: Connection refused"),
        ("iperf3/error_server_busy.json", "the server is busy running a test"),
    ],
)
def test_error_json_is_reported_even_though_iperf3_exited_0(name: str, message: str) -> None:
    with pytest.raises(ToolReportedError, match=message):
        iperf3.parse(fixture(name))


def test_error_wins_over_partial_results() -> None:
    doc = json.loads(fixture("iperf3/tcp_p1_t2_o1.json"))
    doc["error"] = "interrupt - the client has terminated"
    with pytest.raises(ToolReportedError, match="the client has terminated"):
        iperf3.parse(json.dumps(doc))


@pytest.mark.parametrize("cut", [1, 100, 0.5, 0.99])
def test_truncated_output(cut: float) -> None:
    text = fixture("iperf3/tcp_p8_t2.json")
    end = int(len(text) * cut) if isinstance(cut, float) else cut
    with pytest.raises(ToolOutputError, match="not complete JSON"):
        iperf3.parse(text[:end])


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_output(text: str) -> None:
    with pytest.raises(ToolOutputError, match="empty output"):
        iperf3.parse(text)


def test_not_an_object() -> None:
    with pytest.raises(ToolOutputError, match="not an object"):
        iperf3.parse("[]")


def test_missing_sums() -> None:
    doc = json.loads(fixture("iperf3/tcp_p1_t2_o1.json"))
    del doc["end"]["sum_received"]
    with pytest.raises(ToolOutputError, match="no sum_sent/sum_received"):
        iperf3.parse(json.dumps(doc))


def test_missing_field_in_sum() -> None:
    doc = json.loads(fixture("iperf3/tcp_p1_t2_o1.json"))
    del doc["end"]["sum_received"]["bits_per_second"]
    with pytest.raises(ToolOutputError, match="bits_per_second"):
        iperf3.parse(json.dumps(doc))


def test_zero_bytes_received_is_not_a_measurement() -> None:
    doc = json.loads(fixture("iperf3/tcp_p1_t2_o1.json"))
    doc["end"]["sum_received"]["bytes"] = 0
    with pytest.raises(ToolReportedError, match="got 0 bytes"):
        iperf3.parse(json.dumps(doc))


def test_stream_count_mismatch() -> None:
    doc = json.loads(fixture("iperf3/tcp_p8_t2.json"))
    doc["end"]["streams"] = doc["end"]["streams"][:7]
    with pytest.raises(ToolOutputError, match=r"num_streams is 8 but end\.streams has 7"):
        iperf3.parse(json.dumps(doc))


def test_negative_rate_refused() -> None:
    doc = json.loads(fixture("iperf3/tcp_p1_t2_o1.json"))
    doc["end"]["sum_sent"]["bits_per_second"] = -1
    with pytest.raises(ToolOutputError, match="below 0"):
        iperf3.parse(json.dumps(doc))


def test_empty_end_object() -> None:
    doc = json.loads(fixture("iperf3/tcp_p1_t2_o1.json"))
    doc["end"] = {}
    with pytest.raises(ToolOutputError, match="no sum_sent/sum_received"):
        iperf3.parse(json.dumps(doc))
