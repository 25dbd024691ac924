"""Lab NetworkPolicy: L3/L4 as an nft set lookup, L7 as a redirect through an HTTP proxy.

Both are enforced on the server's node (node-a), in front of the server pod, as Cilium enforces
ingress policy at the endpoint:

- ``l3l4``: packets to the server pod's port are dropped unless their source is in an nft set
  of allowed addresses (a hash lookup: constant time, like Cilium's policy map).
- ``l7``: the same L3/L4 rule, plus connections to the server pod's HTTP port are redirected to
  an nginx proxy on node-a that forwards only GET and answers 403 otherwise, as Cilium redirects
  to Envoy for ``rules.http``.

This module only renders configuration text; the lab target applies it and proves it realized
(a denied source dropped, a POST answered 403) before anything is measured.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

POLICIES: tuple[str, ...] = ("none", "l3l4", "l7")


@dataclass(frozen=True)
class PolicySpec:
    table: str
    """nft table name (carries the lab prefix)."""
    server: str
    """Server pod address."""
    ports: tuple[int, ...]
    """Server ports the policy covers (HTTP, and the other benchmark ports)."""
    allowed_sources: tuple[str, ...]
    """Addresses allowed to reach the ports (the client pod, the L7 proxy)."""
    http_port: int = 80
    proxy_port: int = 15001
    """Where the L7 proxy listens on node-a."""


def _check(addresses: Sequence[str]) -> None:
    for addr in addresses:
        ip = ipaddress.IPv4Address(addr)
        if ip not in ipaddress.IPv4Network("198.18.0.0/15"):
            raise ValueError(f"{addr} is outside the lab's 198.18.0.0/15")


def nft_ruleset(spec: PolicySpec, policy: str) -> str:
    """The node-a nft table for ``policy`` (empty string for ``none``)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; expected one of {POLICIES}")
    if policy == "none":
        return ""
    _check([spec.server, *spec.allowed_sources])
    ports = ", ".join(str(p) for p in spec.ports)
    allowed = ", ".join(spec.allowed_sources)
    lines = [
        f"table ip {spec.table} {{",
        "  set allowed {",
        "    type ipv4_addr",
        f"    elements = {{ {allowed} }}",
        "  }",
        # Prerouting, before dstnat: the L3/L4 verdict must come before the L7 redirect, or a
        # denied source would be redirected to the (local) proxy and never meet a forward rule.
        "  chain ingress {",
        "    type filter hook prerouting priority -200; policy accept;",
        f"    ip daddr {spec.server} tcp dport {{ {ports} }} ip saddr != @allowed counter drop",
        "  }",
    ]
    if policy == "l7":
        lines += [
            "  chain l7_redirect {",
            "    type nat hook prerouting priority dstnat; policy accept;",
            f"    ip daddr {spec.server} tcp dport {spec.http_port} counter "
            f"redirect to :{spec.proxy_port}",
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def l7_proxy_config(
    *,
    server: str,
    http_port: int,
    listen_port: int,
    status_port: int,
    pid_file: str,
    temp_dir: str,
    workers: int = 1,
) -> str:
    """nginx as the L7 policy proxy: GET allowed, everything else 403; upstream keepalive so
    the proxy costs what an L7 proxy costs, not a TCP handshake per request."""
    _check([server])
    return f"""\
daemon off;
master_process on;
worker_processes {workers};
pid {pid_file};
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp_dir}/body;
    proxy_temp_path {temp_dir}/proxy;
    fastcgi_temp_path {temp_dir}/fastcgi;
    uwsgi_temp_path {temp_dir}/uwsgi;
    scgi_temp_path {temp_dir}/scgi;
    upstream server_pod {{
        server {server}:{http_port};
        keepalive 256;
    }}
    server {{
        listen {listen_port} reuseport backlog=4096;
        location / {{
            limit_except GET {{ deny all; }}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://server_pod;
        }}
    }}
    server {{
        listen 127.0.0.1:{status_port};
        location = /status {{ stub_status; }}
    }}
}}
"""
