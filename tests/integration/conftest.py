"""Fixtures for integration tests: see harness.py."""
from harness import emulator_for, run_playbook  # noqa: F401  (pytest fixtures)
