"""sockperf adapter: argv, real loopback outputs (one-way and round trip), every error path."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools import sockperf

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sockperf"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def test_build_command_defaults() -> None:
    spec = sockperf.SockperfSpec(server="198.18.64.10", seconds=10)
    assert sockperf.build_command(spec) == [
        "sockperf", "ping-pong", "-i", "198.18.64.10", "-p", "11111", "--tcp", "-m", "14",
        "-t", "10", "--full-rtt",
    ]  # fmt: skip


def test_build_command_udp_one_way() -> None:
    spec = sockperf.SockperfSpec(
        "198.18.64.2", 21111, seconds=3.0, tcp=False, message_size=64, full_rtt=False
    )
    assert sockperf.build_command(spec) == [
        "sockperf", "ping-pong", "-i", "198.18.64.2", "-p", "21111", "-m", "64", "-t", "3",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"message_size": 1}, "message_size must be >= 14"),
        ({"seconds": 1.5}, "whole number of seconds"),
        ({"port": 70000}, "port must be"),
        ({"server": ""}, "server must not be empty"),
    ],
)
def test_spec_validation(changes: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"server": "127.0.0.1", "seconds": 2}
    with pytest.raises(ValueError, match=message):
        sockperf.SockperfSpec(**(base | changes))  # type: ignore[arg-type]


def test_parse_full_rtt() -> None:
    r = sockperf.parse(fixture("pp_tcp_m14_t2_full_rtt.txt"))
    assert r.round_trip is True
    assert r.observations == 69281
    assert r.average_seconds == pytest.approx(22.326e-6)
    assert r.stddev_seconds == pytest.approx(137.932e-6)
    assert dict(r.latency_seconds) == pytest.approx(
        {
            0.0: 13.610e-6,
            0.25: 14.621e-6,
            0.5: 16.254e-6,
            0.75: 16.904e-6,
            0.9: 17.816e-6,
            0.99: 34.831e-6,
            0.999: 2704.529e-6,
            0.9999: 5130.236e-6,
            0.99999: 5426.635e-6,
            1.0: 5447.475e-6,
        }
    )
    assert r.valid_seconds == 1.549
    assert (r.sent_messages, r.received_messages) == (69281, 69281)
    assert (r.dropped_messages, r.duplicated_messages, r.out_of_order_messages) == (0, 0, 0)


def test_parse_one_way_is_half_rtt_and_says_so() -> None:
    r = sockperf.parse(fixture("pp_tcp_m14_t2.txt"))
    assert r.round_trip is False
    assert r.observations == 105712
    assert r.average_seconds == pytest.approx(7.318e-6)
    assert r.latency_seconds[0.5] == pytest.approx(6.950e-6)
    assert r.latency_seconds[0.9] == pytest.approx(7.385e-6)
    assert r.latency_seconds[0.99] == pytest.approx(9.388e-6)
    assert r.latency_seconds[0.999] == pytest.approx(28.987e-6)
    assert r.valid_seconds == 1.550


def test_closed_port_is_reported_despite_exit_0() -> None:
    with pytest.raises(ToolReportedError, match=r"Can`t connect socket \(errno=111"):
        sockperf.parse(fixture("pp_tcp_closed_port.txt"))


def test_refused_arguments_are_reported() -> None:
    with pytest.raises(ToolReportedError, match="refused its arguments: '-m' Invalid message size"):
        sockperf.parse(fixture("pp_tcp_m1_invalid_size.txt"))


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("sockperf: Test ended", "no 'Summary:' line"),
        ("sockperf: Summary:", "no 'Summary:' line"),
        ("sockperf: ---> percentile 90.000", "no percentile 90 line|MIN"),
        ("sockperf: ---> <MIN>", r"no '<MIN> observation' \(the last line\) line"),
    ],
)
def test_truncated_output(marker: str, message: str) -> None:
    text = fixture("pp_tcp_m14_t2_full_rtt.txt")
    with pytest.raises(ToolOutputError, match=message):
        sockperf.parse(text[: text.index(marker)])


def test_label_mismatch() -> None:
    text = fixture("pp_tcp_m14_t2_full_rtt.txt").replace("Round trip is", "Latency is")
    with pytest.raises(ToolOutputError, match="avg-rtt disagrees"):
        sockperf.parse(text)


def test_statistics_for_two_servers_are_refused() -> None:
    text = fixture("pp_tcp_m14_t2.txt")
    text += text.replace("Server No: 0", "Server No: 1")
    with pytest.raises(ToolOutputError, match="one server, found 2"):
        sockperf.parse(text)


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty(text: str) -> None:
    with pytest.raises(ToolOutputError, match="empty output"):
        sockperf.parse(text)
