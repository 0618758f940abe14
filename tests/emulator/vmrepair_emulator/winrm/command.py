"""One running WinRS command: pulls its output for Receive, pushes Send data to its stdin.

Output is pulled from the process only when a Receive asks for it; what was pulled but
did not fit in the envelope waits for the next Receive. Nothing reads ahead, so when no
client receives, the process's own bounded buffer holds its producer back (Windows'
default "Block" output buffering) and memory stays flat whatever the command prints.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from .codepage import Transcoder, input_transcoder, output_transcoder
from .executor import Process
from .faults import WsmanFault

# Longest single wait on the process: a Signal or a listener stop is noticed this fast.
_POLL_SLICE_S = 0.5


@dataclass
class ReceiveResult:
    chunks: list[tuple[str, bytes]]  # (stream, raw bytes), consecutive chunks on different streams
    done: bool
    exit_code: int | None


def base64_length(raw: int) -> int:
    return 4 * ((raw + 2) // 3)


class Command:
    def __init__(self, command_id: str, process: Process, codec: str, output_streams: list[str]) -> None:
        self.id = command_id
        self.process = process
        self.receive_lock = threading.Lock()  # one Receive at a time per command
        self._pending: deque[tuple[str, memoryview]] = deque()
        self._pending_bytes = 0
        self._out: dict[str, Transcoder] = {name: output_transcoder(codec) for name in output_streams}
        self._stdin = input_transcoder(codec)
        self._drained = False  # the process has ended and everything it wrote has been pulled

    # --- stdin ------------------------------------------------------------------------

    def send(self, data: bytes, end: bool) -> None:
        converted = self._stdin.convert(data)
        if end:
            converted += self._stdin.flush()
        self.process.write_stdin(converted, end)

    # --- stdout/stderr ----------------------------------------------------------------

    def _queue(self, stream: str, data: bytes) -> None:
        if data:
            self._pending.append((stream, memoryview(data)))
            self._pending_bytes += len(data)

    def _pull(self, timeout: float) -> None:
        # `done` is read before `read`: done-then-nothing-read means nothing is left to read.
        was_done = self.process.done
        items = self.process.read(timeout)
        for stream, data in items:
            transcoder = self._out.get(stream)
            if transcoder is not None:  # streams the shell did not open are dropped, as WinRS does
                self._queue(stream, transcoder.convert(bytes(data)))
        if was_done and not items:
            for stream, transcoder in self._out.items():
                self._queue(stream, transcoder.flush())
            self._drained = True

    def receive(self, envelope_budget: int, element_overhead: int, timeout_s: float) -> ReceiveResult:
        """The next output that fits in `envelope_budget` bytes of envelope (each stream element
        costs `element_overhead` plus its base64 text). Waits up to `timeout_s` for the first
        byte; raises the OperationTimeout fault when none came."""
        deadline = time.monotonic() + timeout_s
        while not self._pending and not self._drained:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WsmanFault.operation_timed_out()
            self._pull(min(remaining, _POLL_SLICE_S))
        # Top up with what is ready now, without waiting, up to what one envelope can carry.
        capacity = (envelope_budget // 4) * 3
        while self._pending_bytes < capacity and not self._drained:
            before = self._pending_bytes
            self._pull(0)
            if self._pending_bytes == before and not self._drained:
                break
        chunks = self._take(envelope_budget, element_overhead)
        done = self._drained and not self._pending
        exit_code = self.process.exit_code if done else None
        return ReceiveResult(chunks, done, exit_code)

    def _take(self, budget: int, element_overhead: int) -> list[tuple[str, bytes]]:
        chunks: list[tuple[str, bytes]] = []
        while self._pending:
            stream = self._pending[0][0]
            room = budget - element_overhead
            if room < 4:
                break
            limit = (room // 4) * 3  # raw bytes whose base64 fits in `room`
            parts: list[memoryview] = []
            taken = 0
            # One element per run of the same stream: merge consecutive pieces.
            while self._pending and self._pending[0][0] == stream and taken < limit:
                _stream, view = self._pending[0]
                part = view[: limit - taken]
                if len(part) == len(view):
                    self._pending.popleft()
                else:
                    self._pending[0] = (stream, view[len(part):])
                parts.append(part)
                taken += len(part)
            self._pending_bytes -= taken
            chunks.append((stream, b"".join(parts)))
            budget -= element_overhead + base64_length(taken)
        return chunks

    def terminate(self) -> None:
        self.process.terminate()
