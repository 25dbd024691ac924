"""bpftool: BPF map memory from ``bpftool map show -j``.

The same parser and aggregation serve the lab (our socket LB's maps) and Kubernetes (bpftool in
each cilium-agent pod, Cilium's maps only, selected by name prefix). ``bytes_memlock`` is what
the kernel charges for the map: for preallocated maps (Cilium's default) that is the full
capacity, whatever the number of entries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.errors import ToolOutputError, ToolReportedError

TOOL = "bpftool"


@dataclass(frozen=True)
class BpfMap:
    id: int
    name: str
    type: str
    max_entries: int
    bytes_memlock: int


@dataclass(frozen=True)
class MapMemory:
    """Maps selected by name prefix, with their total charged memory."""

    maps: tuple[BpfMap, ...]
    total_bytes: int

    @property
    def count(self) -> int:
        return len(self.maps)

    def top(self, n: int) -> tuple[BpfMap, ...]:
        """The ``n`` largest maps, largest first (ties by name, for stable series)."""
        return tuple(sorted(self.maps, key=lambda m: (-m.bytes_memlock, m.name))[:n])


def build_command() -> list[str]:
    return ["bpftool", "map", "show", "-j"]


def parse(text: str) -> tuple[BpfMap, ...]:
    if not text.strip():
        raise ToolOutputError(TOOL, "empty output from 'bpftool map show -j'")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ToolOutputError(TOOL, f"output is not JSON ({err.msg} at char {err.pos})") from err
    if isinstance(doc, dict) and "error" in doc:
        raise ToolReportedError(TOOL, str(doc["error"]))
    if not isinstance(doc, list):
        raise ToolOutputError(TOOL, f"expected a JSON list of maps, got {type(doc).__name__}")
    maps = []
    for i, entry in enumerate(doc):
        try:
            maps.append(
                BpfMap(
                    id=int(entry["id"]),
                    # Maps created without a name (older loaders) have no "name" key.
                    name=str(entry.get("name", "")),
                    type=str(entry["type"]),
                    max_entries=int(entry["max_entries"]),
                    bytes_memlock=int(entry["bytes_memlock"]),
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ToolOutputError(TOOL, f"map #{i} lacks a usable field: {err!r}") from err
    return tuple(maps)


def aggregate(maps: Sequence[BpfMap], name_prefixes: Sequence[str]) -> MapMemory:
    """Keep maps whose name starts with one of ``name_prefixes`` (all when empty)."""
    chosen = tuple(m for m in maps if not name_prefixes or m.name.startswith(tuple(name_prefixes)))
    return MapMemory(maps=chosen, total_bytes=sum(m.bytes_memlock for m in chosen))
