"""nginx ``stub_status``: read inside a namespace, parsed into its counters.

The server's counters prove how many connections a run opened (short vs keepalive); the L7
proxy's prove every request went through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.errors import LabError

READ_SCRIPT = (
    "import socket,sys\n"
    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5)\n"
    "s.sendall(b'GET /status HTTP/1.0\\r\\nHost: lab\\r\\n\\r\\n')\n"
    "b=b''\n"
    "for _ in range(1000):\n"
    "    c=s.recv(65536)\n"
    "    if not c: break\n"
    "    b+=c\n"
    "sys.stdout.write(b.decode(errors='replace'))\n"
)
"""``python3 -c READ_SCRIPT HOST PORT``: the page on stdout (one accepted connection)."""

_COUNTERS = re.compile(r"server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)")


@dataclass(frozen=True)
class StubStatus:
    accepts: int
    handled: int
    requests: int


def parse(text: str) -> StubStatus:
    m = _COUNTERS.search(text)
    if not m:
        raise LabError(f"not an nginx stub_status page: {text[:200]!r}")
    return StubStatus(int(m.group(1)), int(m.group(2)), int(m.group(3)))
