"""conntrack -E: the lab's per-flow event stream, standing in for Hubble's flow events.

``conntrack -E -o timestamp,id`` prints one line per connection-tracking event (NEW, UPDATE,
DESTROY) as the kernel emits them; a reader consuming that stream costs the datapath what a flow
observer costs. The parser counts and decodes events so the toggle can be verified both ways:
events appear while it is on, none while it is off.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.errors import ToolOutputError

TOOL = "conntrack"

_EVENT = re.compile(
    r"^\[(?P<ts>\d+\.\d+)\]\s+\[(?P<type>NEW|UPDATE|DESTROY)\]\s+(?P<proto>\w+)\s+(?P<rest>.*)$"
)
_FIELD = re.compile(r"(src|dst|sport|dport|id)=(\S+)")
_SUMMARY = re.compile(r"(\d+) flow events have been shown")


@dataclass(frozen=True)
class FlowEvent:
    timestamp: float
    type: str
    protocol: str
    src: str
    dst: str
    sport: int | None
    dport: int | None
    id: int | None


def build_command() -> list[str]:
    return ["conntrack", "-E", "-o", "timestamp,id"]


def parse_line(line: str) -> FlowEvent:
    match = _EVENT.match(line.strip())
    if not match:
        raise ToolOutputError(TOOL, f"not a conntrack event line: {line[:120]!r}")
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(match["rest"]):
        fields.setdefault(key, value)  # the first tuple is the original direction
    if "src" not in fields or "dst" not in fields:
        raise ToolOutputError(TOOL, f"event without addresses: {line[:120]!r}")
    return FlowEvent(
        timestamp=float(match["ts"]),
        type=match["type"],
        protocol=match["proto"],
        src=fields["src"],
        dst=fields["dst"],
        sport=int(fields["sport"]) if "sport" in fields else None,
        dport=int(fields["dport"]) if "dport" in fields else None,
        id=int(fields["id"]) if "id" in fields else None,
    )


def count_events(text: str) -> Mapping[str, int]:
    """Events by type. A last line cut off mid-write (the stream was being read live) is
    ignored; any other malformed line is an error."""
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and not text.endswith("\n"):
        lines = lines[:-1]
    counts: Counter[str] = Counter()
    for line in lines:
        counts[parse_line(line).type] += 1
    return dict(counts)


def parse_summary(stderr: str) -> int:
    """The total conntrack prints on exit ('N flow events have been shown.')."""
    match = _SUMMARY.search(stderr)
    if not match:
        raise ToolOutputError(TOOL, "no 'flow events have been shown' summary on stderr")
    return int(match[1])
