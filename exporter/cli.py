"""The ``netbench`` command line: sweeps, the lab, reports, and the exporter.

Exit status: 0 all scenarios succeeded, 1 a scenario or the sweep failed, 2 bad configuration
or arguments, 130 cancelled (SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from exporter import __version__
from exporter.errors import ConfigError, NetbenchError
from exporter.model import SweepStatus
from exporter.settings import ROUTING_MODES, Settings
from exporter.sweep import EventKind, SweepEvent, SweepRequest, SweepRunner, Trigger
from exporter.targets.factory import KubeClientFactory, plan_resolver_for
from exporter.targets.factory import lab_target_factory as lab_target_factory
from exporter.targets.factory import target_factory_for as target_factory_for

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int_csv(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _csv(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from err


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from err
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"netbench {__version__}")
    parser.add_argument(
        "--config", type=Path, help="YAML settings file (default: $NETBENCH_CONFIG)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sweep = sub.add_parser("sweep", help="run one benchmark sweep and print its report")
    sweep.add_argument("--target", choices=("lab", "kubernetes"))
    sweep.add_argument("--cluster", help="value of the cluster label")
    sweep.add_argument("--profile", default="quick", help="quick, full, or one from the config")
    sweep.add_argument("--datapath", type=_csv, help="comma-separated, e.g. iptables,nftables")
    sweep.add_argument("--routing", choices=ROUTING_MODES)
    sweep.add_argument("--scenarios", type=_csv, help="comma-separated scenario names")
    sweep.add_argument("--scale-steps", type=_int_csv, help="e.g. 5000,10000,20000,30000")
    sweep.add_argument(
        "--duration", type=_positive_float, help="seconds per iperf3 and HTTP/RR run"
    )
    sweep.add_argument("--rounds", type=_positive_int)
    sweep.add_argument("--output", choices=("table", "markdown", "json"), default="table")
    sweep.add_argument("--out", type=Path, help="write the report here instead of stdout")
    sweep.add_argument("--json-out", type=Path, help="also write the JSON report here")
    sweep.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    report = sub.add_parser("report", help="render a saved JSON report")
    report.add_argument("file", type=Path)
    report.add_argument("--output", choices=("table", "markdown", "json"), default="table")

    lab = sub.add_parser("lab", help="build, inspect and clean the lab by hand")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    up = lab_sub.add_parser("up", help="build a lab that stays up until 'lab down'")
    up.add_argument("--datapath", type=_csv)
    up.add_argument("--routing", choices=ROUTING_MODES)
    down = lab_sub.add_parser("down", help="remove a lab built with 'lab up'")
    down.add_argument("prefix", nargs="?", help="lab prefix (default: the only manual lab)")
    lab_sub.add_parser("status", help="list labs and whether their owner is alive")
    lab_sub.add_parser("clean", help="remove every lab whose owner process is gone")

    serve = sub.add_parser("serve", help="run the exporter (scheduler, HTTP API, /metrics)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    return parser


def load(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    from exporter.config import load_settings

    path = args.config or (Path(env["NETBENCH_CONFIG"]) if env.get("NETBENCH_CONFIG") else None)
    settings = load_settings(path, env)
    if getattr(args, "target", None):
        settings = dataclasses.replace(settings, target=args.target)
    if getattr(args, "cluster", None):
        settings = dataclasses.replace(settings, cluster=args.cluster)
    return settings


class _ProgressPrinter:
    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet

    def __call__(self, event: SweepEvent) -> None:
        if self.quiet and event.kind is EventKind.STEP:
            return
        print(f"[{event.progress:4.0%}] {event.message}", file=self.stream, flush=True)


def _raise_cancel(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM gets the same orderly path as Ctrl-C: unwind, clean the lab, report what finished.
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_sweep(
    args: argparse.Namespace,
    settings: Settings,
    kube_client_factory: KubeClientFactory | None = None,
) -> int:
    from exporter.report import render

    request = SweepRequest(
        profile=args.profile,
        trigger=Trigger.CLI,
        scenarios=args.scenarios,
        datapaths=args.datapath,
        routing=args.routing,
        rounds=args.rounds,
        iperf_seconds=args.duration,
        http_seconds=args.duration,
        scale_steps=args.scale_steps,
    )
    resolve = plan_resolver_for(settings, kube_client_factory=kube_client_factory)
    resolve(settings, request)  # validate before building anything
    runner = SweepRunner(
        settings,
        target_factory_for(settings, kube_client_factory=kube_client_factory),
        resolve,
    )
    previous = signal.signal(signal.SIGTERM, _raise_cancel)
    try:
        result = runner.run(
            request,
            uuid.uuid4().hex[:12],
            threading.Event(),
            _ProgressPrinter(sys.stderr, args.quiet),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = render(result, args.output)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    if args.json_out:
        args.json_out.write_text(render(result, "json"))
    if result.status is SweepStatus.CANCELLED:
        return EXIT_CANCELLED
    return EXIT_OK if result.status is SweepStatus.SUCCEEDED else EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from exporter.report import from_json, render

    try:
        result = from_json(args.file.read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"netbench: cannot read report {args.file}: {err}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(render(result, args.output))
    return EXIT_OK


def cmd_lab(args: argparse.Namespace, settings: Settings) -> int:
    from exporter.targets import lab

    state_dir = settings.lab.state_dir
    if args.lab_command == "up":
        lab_settings = settings.lab
        if args.datapath:
            lab_settings = dataclasses.replace(lab_settings, datapaths=args.datapath)
        if args.routing:
            lab_settings = dataclasses.replace(lab_settings, routing=args.routing)
        print(lab.lab_up(lab_settings))
    elif args.lab_command == "down":
        lab.lab_down(state_dir, args.prefix)
    elif args.lab_command == "status":
        print(
            json.dumps(
                [dataclasses.asdict(s) for s in lab.lab_status(state_dir)], indent=2, default=str
            )
        )
    elif args.lab_command == "clean":
        report = lab.lab_clean(state_dir)
        print(json.dumps(dataclasses.asdict(report), indent=2, default=str))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from exporter.server import serve

    return serve(settings, host=args.host, port=args.port)


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    kube_client_factory: KubeClientFactory | None = None,
) -> int:
    """``kube_client_factory`` replaces the real Kubernetes client (tests inject the fake)."""
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    try:
        if args.command == "report":
            return cmd_report(args)
        settings = load(args, env)
        if args.command == "sweep":
            return cmd_sweep(args, settings, kube_client_factory)
        if args.command == "lab":
            return cmd_lab(args, settings)
        if args.command == "serve":
            return cmd_serve(args, settings)
    except ConfigError as err:
        print(f"netbench: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("netbench: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except NetbenchError as err:
        print(f"netbench: {err}", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
