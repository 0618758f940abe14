"""The serve command: env files, clean stop (no Azurite left behind), concurrency."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

from vmrepair_emulator.testing import EMULATOR_DIR, EmulatorProcess


def _azurite_children(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children(recursive=True) if "azurite" in " ".join(c.cmdline())]
    except psutil.NoSuchProcess:
        return []


def test_env_files_and_clean_sigterm(tmp_path: Path) -> None:
    process = EmulatorProcess("healthy-vm", tmp_path / "state").start()
    try:
        env = process.env
        shell = (tmp_path / "state" / "env").read_text()
        assert json.loads((tmp_path / "state" / "env.json").read_text()) == env
        for key in ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT",
                    "AZURE_CLOUD_ENVIRONMENT", "REQUESTS_CA_BUNDLE", "VMREPAIR_EMULATOR_URL",
                    "VMREPAIR_EMULATOR_BLOB_URL"):
            assert env[key] and f"{key}=" in shell
        assert env["AZURE_CLOUD_ENVIRONMENT"].startswith("https://127.0.0.1:")
        assert Path(env["REQUESTS_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        azurite = _azurite_children(process.process.pid)
        assert len(azurite) == 1
    finally:
        code = process.stop()
    assert code == 0
    psutil.wait_procs(azurite, timeout=10)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in azurite)


def test_sigkilled_emulator_takes_azurite_with_it(tmp_path: Path) -> None:
    process = EmulatorProcess("healthy-vm", tmp_path / "state").start()
    azurite = _azurite_children(process.process.pid)
    assert azurite
    os.kill(process.process.pid, signal.SIGKILL)
    process.process.wait()
    gone, alive = psutil.wait_procs(azurite, timeout=10)
    assert not alive


def test_scenarios_command_lists_files() -> None:
    out = subprocess.run([sys.executable, "-m", "vmrepair_emulator", "scenarios"], cwd=EMULATOR_DIR,
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[0] for line in out.splitlines()]
    assert "c21a-with-dump" in names and "linux-vm" in names


def test_unknown_scenario_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "vmrepair_emulator", "serve", "--scenario", "no-such",
                             "--state-dir", str(tmp_path)], cwd=EMULATOR_DIR, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "no scenario file" in result.stderr and "c21a-with-dump" in result.stderr


def test_many_concurrent_keep_alive_connections(default_emulator: EmulatorProcess) -> None:
    url = default_emulator.env["VMREPAIR_EMULATOR_URL"] + "_emulator/health"

    def client(_client_number: int) -> int:
        with requests.Session() as session:
            return sum(session.get(url, verify=default_emulator.ca_bundle, timeout=30).status_code == 200
                       for _request_number in range(5))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(client, range(64)))
    assert sum(results) == 64 * 5
    assert time.monotonic() - started < 60
