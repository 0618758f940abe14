"""Fixtures for integration tests; the helpers behind them are in harness.py."""
from __future__ import annotations

from functools import partial

import pytest

from harness import Emulator, launch_emulator, run_ansible_playbook


@pytest.fixture(scope="session")
def emulator_for(tmp_path_factory):
    """emulator_for(scenario) -> a running Emulator, one per scenario for the whole session."""
    running: dict[str, Emulator] = {}

    def get(scenario: str) -> Emulator:
        if scenario not in running:
            running[scenario] = launch_emulator(scenario, tmp_path_factory.mktemp(f"emu-{scenario}"))
        return running[scenario]

    yield get
    for emulator in running.values():
        emulator.stop()


@pytest.fixture
def run_playbook(tmp_path):
    """run_playbook(emulator, playbook, *extra_args, env=None, timeout=900) runs the real ansible-playbook
    in this test's tmp_path."""
    return partial(run_ansible_playbook, tmp_path)
