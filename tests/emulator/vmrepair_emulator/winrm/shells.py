"""The WinRS shells of one machine, with the per-user quotas Windows enforces."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .command import Command
from .executor import Process
from .faults import WsmanFault
from .quotas import WinrsQuotas


def new_id() -> str:
    """Shell and command ids look like Windows': upper-case GUIDs."""
    return str(uuid.uuid4()).upper()


@dataclass
class Shell:
    id: str
    owner: str  # user key (lower-case user name) the quotas count against
    owner_display: str  # as rsp:Owner reports it
    client_ip: str
    input_streams: list[str]
    output_streams: list[str]
    code_page: int
    codec: str
    idle_timeout_s: float
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, Command] = field(default_factory=dict)
    # Commands started in this shell: Windows releases these operations only with the shell.
    operations: int = 0

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def command(self, command_id: str) -> Command:
        found = self.commands.get(command_id.upper())
        if found is None:
            raise WsmanFault.command_not_found()
        return found


class ShellTable:
    """Thread-safe: every HTTP connection thread of the listener goes through it."""

    def __init__(self, quotas: WinrsQuotas) -> None:
        self.quotas = quotas
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()

    def create(self, owner: str, owner_display: str, client_ip: str, input_streams: list[str],
               output_streams: list[str], code_page: int, codec: str, idle_timeout_s: float | None) -> Shell:
        idle = min(idle_timeout_s or self.quotas.idle_timeout_s, self.quotas.idle_timeout_s)
        with self._lock:
            self._expire_idle()
            owned = sum(1 for shell in self._shells.values() if shell.owner == owner)
            if owned >= self.quotas.max_shells_per_user:
                raise WsmanFault.max_shells(self.quotas.max_shells_per_user)
            shell = Shell(new_id(), owner, owner_display, client_ip, input_streams, output_streams,
                          code_page, codec, idle)
            self._shells[shell.id] = shell
            return shell

    def get(self, shell_id: str | None) -> Shell:
        with self._lock:
            shell = self._shells.get((shell_id or "").upper())
            if shell is None:
                raise WsmanFault.shell_not_found(shell_id or "")
            shell.touch()
            return shell

    def start_command(self, shell: Shell, command_id: str | None, start: Callable[[], Process]) -> Command:
        with self._lock:
            used = sum(s.operations for s in self._shells.values() if s.owner == shell.owner)
            if used >= self.quotas.max_concurrent_operations_per_user:
                raise WsmanFault.max_operations(self.quotas.max_concurrent_operations_per_user)
            shell.operations += 1
        # The process starts outside the lock: the executor may take its time.
        try:
            process = start()
        except BaseException:
            with self._lock:
                shell.operations -= 1
            raise
        command = Command((command_id or new_id()).upper(), process, shell.codec, shell.output_streams)
        with self._lock:
            shell.commands[command.id] = command
        return command

    def forget_command(self, shell: Shell, command_id: str) -> Command:
        with self._lock:
            command = shell.commands.pop(command_id.upper(), None)
        if command is None:
            raise WsmanFault.command_not_found()
        return command

    def delete(self, shell_id: str | None) -> None:
        with self._lock:
            shell = self._shells.pop((shell_id or "").upper(), None)
        if shell is None:
            raise WsmanFault.shell_not_found(shell_id or "")
        _terminate_all(shell)

    def close_all(self) -> None:
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            _terminate_all(shell)

    def count(self, owner: str | None = None) -> int:
        with self._lock:
            return sum(1 for shell in self._shells.values() if owner is None or shell.owner == owner)

    def _expire_idle(self) -> None:
        now = time.monotonic()
        expired = [s for s in self._shells.values() if now - s.last_used > s.idle_timeout_s]
        for shell in expired:
            del self._shells[shell.id]
            _terminate_all(shell)


def _terminate_all(shell: Shell) -> None:
    for command in list(shell.commands.values()):
        try:
            command.terminate()
        except Exception:  # a misbehaving process must not keep the shell alive
            pass
    shell.commands.clear()
