"""Fixtures that start a real emulator process (shared by every emulator test suite).

- `emulator(scenario)`: factory; one process per scenario per test session, stopped at the end.
- `arm_env`: the env dict (env.json) of the default scenario (c21a-with-dump).
- `default_emulator`: the EmulatorProcess behind arm_env (credential(), mgmt_client(), control()).
- `control`: ControlClient of the default emulator; knobs changed in a test are reset after it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

EMULATOR_DIR = Path(__file__).resolve().parent.parent
if str(EMULATOR_DIR) not in sys.path:
    sys.path.insert(0, str(EMULATOR_DIR))

from vmrepair_emulator.testing import ControlClient, EmulatorProcess  # noqa: E402

DEFAULT_SCENARIO = "c21a-with-dump"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., EmulatorProcess]]:
    running: dict[str, EmulatorProcess] = {}

    def start(scenario: str = DEFAULT_SCENARIO) -> EmulatorProcess:
        if scenario not in running:
            state_dir = tmp_path_factory.mktemp(f"emulator-{Path(scenario).stem}")
            running[scenario] = EmulatorProcess(scenario, state_dir).start()
        return running[scenario]

    yield start
    for process in running.values():
        process.stop()


@pytest.fixture(scope="session")
def default_emulator(emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return emulator(DEFAULT_SCENARIO)


@pytest.fixture(scope="session")
def arm_env(default_emulator: EmulatorProcess) -> dict[str, str]:
    return dict(default_emulator.env)


@pytest.fixture
def control(default_emulator: EmulatorProcess) -> Iterator[ControlClient]:
    client = default_emulator.control()
    before = client.knobs()
    yield client
    client.set_knobs(**before)
