"""python -m vmrepair_emulator serve --scenario NAME --state-dir DIR [--arm-port N] | scenarios"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .scenario import ScenarioError, list_scenarios, load_scenario


def _serve(args: argparse.Namespace) -> int:
    from .app import Emulator

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Signals only set the event; the main thread does the orderly stop.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emulator = Emulator(scenario, Path(args.state_dir), arm_port=args.arm_port, with_blob=not args.no_blob)
    try:
        emulator.start()
        if not stop.is_set():
            print(emulator.env_text(), end="", flush=True)
            print(f"# emulator ready: scenario {scenario.name}; stop with Ctrl-C or SIGTERM", flush=True)
            while not stop.wait(1.0):
                pass
    finally:
        emulator.stop()
    print("# emulator stopped", flush=True)
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    for name in list_scenarios():
        try:
            description = load_scenario(name).description
        except ScenarioError as exc:
            description = f"INVALID: {exc}"
        print(f"{name:24} {description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmrepair_emulator", description="Local Azure + repair-VM emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the emulator for a scenario until SIGTERM/SIGINT")
    serve.add_argument("--scenario", required=True, help="scenario name (scenarios/<name>.yaml) or a .yaml path")
    serve.add_argument("--state-dir", required=True, help="directory for env, env.json, ca.pem, disks, logs")
    serve.add_argument("--arm-port", type=int, default=0, help="HTTPS port for ARM/Entra/control (0: any free one)")
    serve.add_argument("--no-blob", action="store_true", help="do not start Azurite (no boot diagnostics blobs)")
    serve.add_argument("--log-level", default="WARNING")
    sub.add_parser("scenarios", help="list the scenario files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(getattr(args, "log_level", "WARNING")).upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _serve(args) if args.command == "serve" else _scenarios(args)


if __name__ == "__main__":
    sys.exit(main())
