"""Integration helpers: a real emulator process per scenario, real ansible-playbook runs against it.

The pytest fixtures built on these live in conftest.py."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

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

    def stop(self) -> None:
        stop_emulator(self.process)


def launch_emulator(scenario: str, state_dir: Path) -> Emulator:
    """A running emulator process serving `scenario`, keeping its state in `state_dir`."""
    process, env = start_emulator(scenario, state_dir)
    return Emulator(scenario, state_dir, env, process)


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def ensure_collection_link() -> None:
    link = COLLECTIONS / "ansible_collections" / "vmrepair" / "azure"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)


def run_ansible_playbook(work_dir: Path, emulator: Emulator, playbook: str, *extra_args: str,
                         env: dict | None = None, timeout: float = 900) -> PlaybookRun:
    """Run the real ansible-playbook against `emulator` in `work_dir`; output_dir is work_dir/out."""
    ensure_collection_link()
    run_env = dict(os.environ)
    run_env.update(emulator.env)
    run_env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(work_dir / "ansible-local"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    run_env.update(env or {})
    command = [str(Path(sys.executable).with_name("ansible-playbook")), playbook,
               "-e", f"output_dir={work_dir / 'out'}", *extra_args]
    done = subprocess.run(command, cwd=work_dir, env=run_env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(done.returncode, done.stdout, done.stderr)


def writes_in(records: list[dict]) -> list[dict]:
    """ARM requests that change something (anything but GET/HEAD and token/metadata calls)."""
    return [r for r in records if r.get("method") not in ("GET", "HEAD")]


def query(url: str) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant. ansible-playbook's workers call setsid(), so killing
    the playbook's process group would leave them running the task on their own."""
    import psutil

    try:
        root = psutil.Process(pid)
        members = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for member in members:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(members, timeout=30)
