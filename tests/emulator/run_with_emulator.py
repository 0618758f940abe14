"""Start the emulator with a scenario, run one command with its environment, stop the emulator.

    run_with_emulator.py --scenario c21a-with-dump --state-dir DIR -- ansible-playbook ...

The command's exit code is this script's exit code. The emulator is stopped however the
command ends (SIGTERM, then SIGKILL after a grace period), so nothing is left running.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start_emulator(scenario: str, state_dir: Path, startup_timeout: float = 180.0) -> tuple[subprocess.Popen, dict]:
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(HERE))
    log = open(state_dir / "emulator.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vmrepair_emulator", "serve", "--scenario", scenario, "--state-dir", str(state_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    env_file = state_dir / "env.json"
    deadline = time.monotonic() + startup_timeout
    while not env_file.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the emulator exited with {proc.returncode}; see {state_dir / 'emulator.log'}")
        if time.monotonic() > deadline:
            stop_emulator(proc)
            raise SystemExit(f"the emulator did not start within {startup_timeout:.0f} s; see {state_dir / 'emulator.log'}")
        time.sleep(0.1)
    return proc, json.loads(env_file.read_text())


def stop_emulator(proc: subprocess.Popen, grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    proc, emulator_env = start_emulator(args.scenario, args.state_dir.resolve())
    try:
        print(f"emulator: scenario {args.scenario}, ARM at {emulator_env.get('AZURE_CLOUD_ENVIRONMENT')}", flush=True)
        return subprocess.call(command, env=dict(os.environ, **emulator_env))
    finally:
        stop_emulator(proc)


if __name__ == "__main__":
    sys.exit(main())
