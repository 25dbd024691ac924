"""iperf3: TCP throughput from ``iperf3 -c SERVER -J``.

What the installed iperf3 (3.12, Debian 12) does, found with real loopback runs
(tests/fixtures/COMMANDS.md):

- ``-t`` and ``-O`` are whole seconds: ``-t 1.5`` runs 1 s and ``-O 0.5`` reports ``"omit": 0``.
  The spec therefore refuses fractional values instead of letting iperf3 round them silently.
- With ``-J`` iperf3 **exits 0 when it fails** and puts the reason in ``"error"`` (connection
  refused, server busy). Only the parser can catch that, so ``"error"`` always raises
  :class:`ToolReportedError`, even when some intervals were measured before the failure.
- The JSON is tab-indented; a capture through ``kubectl exec`` may carry CRLF line endings
  (upstream 3.6 sample). Both are plain JSON whitespace.

Throughput is taken from ``end.sum_sent`` / ``end.sum_received`` (omitted warm-up seconds are
already excluded there) and converted from bits to **bytes** per second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from exporter.errors import ToolOutputError, ToolReportedError
from exporter.tools._common import check_port, require_text, to_float, to_int, whole_seconds

TOOL = "iperf3"
MAX_STREAMS = 128
"""iperf3's own limit for ``-P``."""


@dataclass(frozen=True)
class Iperf3Spec:
    server: str
    port: int = 5201
    seconds: float = 10
    """Measured seconds after the omitted warm-up (``-t``, whole seconds)."""
    streams: int = 1
    omit_seconds: float = 0
    """Warm-up seconds excluded from the result (``-O``, whole seconds)."""
    reverse: bool = False
    """``-R``: the server sends, the client receives."""
    connect_timeout_ms: int = 3000

    def __post_init__(self) -> None:
        if not self.server:
            raise ValueError("iperf3 server must not be empty")
        check_port(self.port)
        whole_seconds(self.seconds, "iperf3 seconds (-t)")
        whole_seconds(self.omit_seconds, "iperf3 omit_seconds (-O)", minimum=0)
        if isinstance(self.streams, bool) or not 1 <= self.streams <= MAX_STREAMS:
            raise ValueError(f"iperf3 streams must be 1..{MAX_STREAMS}, got {self.streams!r}")
        if isinstance(self.connect_timeout_ms, bool) or self.connect_timeout_ms <= 0:
            raise ValueError(
                f"iperf3 connect_timeout_ms must be > 0, got {self.connect_timeout_ms}"
            )


@dataclass(frozen=True)
class Iperf3Result:
    sent_bytes_per_second: float
    received_bytes_per_second: float
    streams: int
    seconds: float
    """Duration of the receiver's measurement (``end.sum_received.seconds``)."""
    retransmits: int | None
    """TCP retransmits of the sender; None when iperf3 did not report them."""
    version: str | None
    """e.g. ``3.12`` (from ``start.version``), None when absent."""
    sent_bytes: int = 0
    received_bytes: int = 0
    reverse: bool = False
    omit_seconds: float = 0.0


def build_command(spec: Iperf3Spec) -> list[str]:
    argv = [
        "iperf3",
        "-c",
        spec.server,
        "-p",
        str(spec.port),
        "-J",
        "-t",
        str(int(spec.seconds)),
        "-O",
        str(int(spec.omit_seconds)),
        "-P",
        str(spec.streams),
        "--connect-timeout",
        str(spec.connect_timeout_ms),
    ]
    if spec.reverse:
        argv.append("-R")
    return argv


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ToolOutputError(TOOL, f"{where} is missing or not an object")
    return value


def parse(text: str) -> Iperf3Result:
    require_text(TOOL, text, "output from 'iperf3 -J'")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ToolOutputError(
            TOOL, f"output is not complete JSON (truncated?): {err.msg} at char {err.pos}"
        ) from err
    doc = _obj(doc, "the JSON document")
    if "error" in doc:
        raise ToolReportedError(TOOL, f"iperf3 reported an error: {doc['error']}")
    start = _obj(doc.get("start"), "start")
    end = _obj(doc.get("end"), "end")
    if "sum_sent" not in end or "sum_received" not in end:
        raise ToolOutputError(
            TOOL, "end has no sum_sent/sum_received (not a TCP client run, or incomplete)"
        )
    sent = _obj(end["sum_sent"], "end.sum_sent")
    received = _obj(end["sum_received"], "end.sum_received")
    try:
        sent_bps = to_float(TOOL, sent["bits_per_second"], "end.sum_sent.bits_per_second")
        recv_bps = to_float(TOOL, received["bits_per_second"], "end.sum_received.bits_per_second")
        sent_bytes = to_int(TOOL, sent["bytes"], "end.sum_sent.bytes")
        received_bytes = to_int(TOOL, received["bytes"], "end.sum_received.bytes")
        seconds = to_float(TOOL, received["seconds"], "end.sum_received.seconds")
    except KeyError as err:
        raise ToolOutputError(TOOL, f"end sums lack the field {err}") from err
    if received_bytes == 0 or seconds == 0:
        raise ToolReportedError(
            TOOL, f"the receiver got {received_bytes} bytes in {seconds} s: nothing was measured"
        )
    streams_list = end.get("streams")
    if not isinstance(streams_list, list) or not streams_list:
        raise ToolOutputError(TOOL, "end.streams is missing or empty")
    test_start = start.get("test_start")
    if isinstance(test_start, dict) and "num_streams" in test_start:
        declared = to_int(TOOL, test_start["num_streams"], "start.test_start.num_streams")
        if declared != len(streams_list):
            raise ToolOutputError(
                TOOL,
                f"start.test_start.num_streams is {declared} but end.streams has "
                f"{len(streams_list)} entries",
            )
    reverse = bool(test_start.get("reverse", 0)) if isinstance(test_start, dict) else False
    omit = (
        to_float(TOOL, test_start.get("omit", 0), "start.test_start.omit")
        if isinstance(test_start, dict)
        else 0.0
    )
    retransmits = (
        to_int(TOOL, sent["retransmits"], "end.sum_sent.retransmits")
        if "retransmits" in sent
        else None
    )
    version_raw = start.get("version")
    version = (
        str(version_raw).removeprefix("iperf ").strip() if isinstance(version_raw, str) else None
    )
    return Iperf3Result(
        sent_bytes_per_second=sent_bps / 8,
        received_bytes_per_second=recv_bps / 8,
        streams=len(streams_list),
        seconds=seconds,
        retransmits=retransmits,
        version=version or None,
        sent_bytes=sent_bytes,
        received_bytes=received_bytes,
        reverse=reverse,
        omit_seconds=omit,
    )
