#!/usr/bin/env bash
# The test command: linters, type checks, and the whole test suite (unit, lab, Prometheus).
# Lab and Prometheus tests need root and the Debian packages from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin

$PY/ruff check .
$PY/ruff format --check .
$PY/mypy
set +e
$PY/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
