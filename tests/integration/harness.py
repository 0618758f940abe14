"""Integration fixtures: a real emulator process per scenario, real ansible-playbook runs against it."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))

from run_with_emulator import start_emulator, stop_emulator  # noqa: E402

COLLECTIONS = ROOT / ".build" / "collections"


@dataclass
class Emulator:
    scenario: str
    state_dir: Path
    env: dict
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return self.env["VMREPAIR_EMULATOR_URL"].rstrip("/")

    def control(self, path: str, **params) -> object:
        response = requests.get(f"{self.url}/_emulator/{path}", params=params,
                                verify=self.env["REQUESTS_CA_BUNDLE"], timeout=30)
        response.raise_for_status()
        return response.json()

    def set_knobs(self, **knobs) -> None:
        response = requests.put(f"{self.url}/_emulator/knobs", json=knobs,
                                verify=self.env["REQUESTS_CA_BUNDLE"], timeout=30)
        response.raise_for_status()

    def requests(self, service: str | None = None) -> list[dict]:
        return self.control("requests", **({"service": service} if service else {}))

    def tagged(self, tag_name: str, tag_value: str) -> list[dict]:
        return self.control("resources", tag=f"{tag_name}:{tag_value}")


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _ensure_collection_link() -> None:
    link = COLLECTIONS / "ansible_collections" / "vmrepair" / "azure"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)


@pytest.fixture(scope="session")
def emulator_for(tmp_path_factory):
    """emulator_for(scenario) -> a running Emulator, one per scenario for the whole session."""
    running: dict[str, Emulator] = {}

    def get(scenario: str) -> Emulator:
        if scenario not in running:
            state_dir = tmp_path_factory.mktemp(f"emu-{scenario}")
            process, env = start_emulator(scenario, state_dir)
            running[scenario] = Emulator(scenario, state_dir, env, process)
        return running[scenario]

    yield get
    for emulator in running.values():
        stop_emulator(emulator.process)


@pytest.fixture
def run_playbook(tmp_path):
    """run_playbook(emulator, playbook, *extra_args, env=None) runs the real ansible-playbook."""
    _ensure_collection_link()

    def run(emulator: Emulator, playbook: str, *extra_args: str, env: dict | None = None,
            timeout: float = 900) -> PlaybookRun:
        run_env = dict(os.environ)
        run_env.update(emulator.env)
        run_env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        })
        run_env.update(env or {})
        command = [str(Path(sys.executable).with_name("ansible-playbook")), playbook,
                   "-e", f"output_dir={tmp_path / 'out'}", *extra_args]
        done = subprocess.run(command, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=timeout, check=False)
        return PlaybookRun(done.returncode, done.stdout, done.stderr)

    return run


def writes_in(records: list[dict]) -> list[dict]:
    """ARM requests that change something (anything but GET/HEAD and token/metadata calls)."""
    return [r for r in records if r.get("method") not in ("GET", "HEAD")]


def query(url: str) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
