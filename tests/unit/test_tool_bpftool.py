from pathlib import Path

import pytest

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools import bpftool

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bpftool"


def test_parses_real_map_show_output() -> None:
    maps = bpftool.parse((FIXTURES / "map_show_socket_lb.json").read_text())
    assert [m.name for m in maps] == ["nb_services", "nb_backends", "nb_revnat"]
    assert maps[0].bytes_memlock == 16778184
    assert maps[1].max_entries == 4194304
    assert maps[2].type == "lru_hash"


def test_aggregate_filters_by_prefix_and_ranks() -> None:
    maps = bpftool.parse((FIXTURES / "map_show_socket_lb.json").read_text())
    memory = bpftool.aggregate(maps, ["nb_"])
    assert memory.count == 3
    assert memory.total_bytes == 16778184 + 67109832 + 5768064
    assert [m.name for m in memory.top(2)] == ["nb_backends", "nb_services"]
    assert bpftool.aggregate(maps, ["cilium_"]).count == 0
    assert bpftool.aggregate(maps, []).count == 3


def test_truncated_output_is_an_error() -> None:
    text = (FIXTURES / "map_show_socket_lb.json").read_text()
    with pytest.raises(ToolOutputError, match="not JSON"):
        bpftool.parse(text[: len(text) // 2])


@pytest.mark.parametrize("text", ["", "  \n"])
def test_empty_output_is_an_error(text: str) -> None:
    with pytest.raises(ToolOutputError, match="empty"):
        bpftool.parse(text)


def test_error_object_is_reported() -> None:
    with pytest.raises(ToolReportedError, match="permission"):
        bpftool.parse('{"error":"permission denied"}')


def test_entry_without_memlock_is_an_error() -> None:
    with pytest.raises(ToolOutputError, match="map #0"):
        bpftool.parse('[{"id":1,"type":"hash","max_entries":4}]')
