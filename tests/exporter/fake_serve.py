"""Run the real exporter (server.run: janitor, store, scheduler, API, uvicorn, signals) with the
fake runner, for the end-to-end tests: ``fake_serve.py CONFIG PORT DELAY JANITOR_LOG``.

The janitor's lab hook appends the state directory it was given to JANITOR_LOG (the real
``lab_clean`` is covered by the lab tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fakes import FakeRunner

from exporter.config import effective_plan, load_settings
from exporter.server import run


def main() -> int:
    config, port, delay, janitor_log = sys.argv[1:5]
    settings = load_settings(Path(config), os.environ)
    runner = FakeRunner(settings, delay=float(delay), fail={("latency", "nftables")})

    def lab_clean(state_dir: Path) -> str:
        with open(janitor_log, "a", encoding="utf-8") as f:
            f.write(f"{state_dir}\n")
        return "cleaned"

    return run(
        settings,
        host="127.0.0.1",
        port=int(port),
        runner=runner,
        validate=lambda request: effective_plan(settings, request),
        lab_clean=lab_clean,
    )


if __name__ == "__main__":
    sys.exit(main())
