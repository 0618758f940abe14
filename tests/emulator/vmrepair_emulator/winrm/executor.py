"""What WinRS's Command runs: the simulated Windows' executor (windows/shell.py), seen
from the WinRM side as two small protocols."""
from __future__ import annotations

from typing import Any, Callable, Protocol


class Process(Protocol):
    """A running command (ARCHITECTURE.md, "Simulated Windows")."""

    done: bool
    exit_code: int | None

    def read(self, timeout: float) -> list[tuple[str, bytes]]:
        """What is available now as (stream, data) pairs, "stdout"/"stderr"; waits up to `timeout`
        seconds when nothing is."""

    def write_stdin(self, data: bytes, end: bool) -> None: ...

    def terminate(self) -> None: ...


Executor = Callable[[Any, str, list[str]], Process]


def default_executor() -> Executor:
    """windows.shell.execute, imported only when a command runs (the WinRM side does not
    depend on the simulated Windows to start)."""
    from vmrepair_emulator.windows.shell import execute

    return execute
