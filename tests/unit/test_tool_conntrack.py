from pathlib import Path

import pytest

from exporter.errors import ToolOutputError
from exporter.tools import conntrack

FIXTURES = Path(__file__).parent.parent / "fixtures" / "conntrack"
EVENTS = (FIXTURES / "events_3_connections.txt").read_text()


def test_counts_real_events_by_type() -> None:
    assert conntrack.count_events(EVENTS) == {"NEW": 3, "UPDATE": 15}


def test_summary_matches_lines() -> None:
    stderr = (FIXTURES / "events_3_connections.stderr.txt").read_text()
    assert conntrack.parse_summary(stderr) == 18
    assert sum(conntrack.count_events(EVENTS).values()) == 18


def test_decodes_original_direction() -> None:
    first = conntrack.parse_line(EVENTS.splitlines()[0])
    assert first.type == "NEW"
    assert first.protocol == "tcp"
    assert (first.src, first.dst, first.sport, first.dport) == (
        "127.0.0.1",
        "127.0.0.1",
        44552,
        18080,
    )
    assert first.id == 2010866276
    assert first.timestamp == pytest.approx(1796522178.924552)


def test_partial_last_line_of_a_live_stream_is_ignored() -> None:
    cut = EVENTS[: len(EVENTS) - 40]
    assert sum(conntrack.count_events(cut).values()) == 17


def test_garbage_line_is_an_error() -> None:
    with pytest.raises(ToolOutputError, match="not a conntrack event"):
        conntrack.count_events(EVENTS + "conntrack v1.4.7: Operation not permitted\n")


def test_missing_summary_is_an_error() -> None:
    with pytest.raises(ToolOutputError, match="summary"):
        conntrack.parse_summary("")
