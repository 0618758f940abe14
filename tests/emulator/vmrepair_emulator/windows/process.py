"""A running command: output produced lazily by a generator in a worker thread.

The generator yields ("stdout" | "stderr", bytes) and returns the exit code. Its output goes
through a buffer bounded in bytes, so a slow reader (a WinRM client polling Receive) holds the
producer back instead of the process buffering, say, a whole dump in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator

Output = tuple[str, bytes]
Producer = Generator[Output, None, int]

STATUS_CONTROL_C_EXIT = 0xC000013A  # exit code of a Windows process ended by a signal
DEFAULT_BUFFER_BYTES = 4 << 20
_log = logging.getLogger(__name__)


class StdinBuffer:
    """What the client sent on stdin (WinRM Send); a producer may wait for its end."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._ended = False
        self._cond = threading.Condition()

    def write(self, data: bytes, end: bool) -> None:
        with self._cond:
            if self._ended:  # the pipe is closed (or the process ended): the bytes go nowhere
                return
            if data:
                self._chunks.append(data)
            self._ended = end
            self._cond.notify_all()

    def read_to_end(self, timeout: float | None = None) -> bytes:
        with self._cond:
            if not self._cond.wait_for(lambda: self._ended, timeout):
                raise TimeoutError("stdin was not closed")
            return b"".join(self._chunks)

    def end(self) -> None:
        """Close stdin if the client has not (the process is being ended)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()


class Process:
    def __init__(self, producer_factory: Callable[[StdinBuffer], Producer], *,
                 buffer_bytes: int = DEFAULT_BUFFER_BYTES, name: str = "process", start_delay: float = 0.0) -> None:
        self.stdin = StdinBuffer()
        self._start_delay = start_delay  # the program's own start-up, before it produces anything
        self._buffer: deque[Output] = deque()
        self._buffered = 0
        self._limit = buffer_bytes
        self._cond = threading.Condition()
        self._finished = False
        self._terminated = False
        self._exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, args=(producer_factory,), name=name, daemon=True)
        self._thread.start()

    # --- consumer side -----------------------------------------------------------------------

    def read(self, timeout: float | None = None, max_bytes: int | None = None) -> list[Output]:
        """Output available now, waiting up to `timeout` seconds for some (None: until some comes
        or the process ends). Consecutive pieces of one stream are merged. Returns [] on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._buffer or self._finished, timeout)
            result: list[Output] = []
            taken = 0
            while self._buffer and (max_bytes is None or taken == 0 or taken + len(self._buffer[0][1]) <= max_bytes):
                stream, data = self._buffer.popleft()
                self._buffered -= len(data)
                taken += len(data)
                if result and result[-1][0] == stream:
                    result[-1] = (stream, result[-1][1] + data)
                else:
                    result.append((stream, data))
            self._cond.notify_all()
            return result

    @property
    def done(self) -> bool:
        """The command has ended and all its output has been read."""
        with self._cond:
            return self._finished and not self._buffer

    @property
    def exit_code(self) -> int | None:
        with self._cond:
            return self._exit_code if self._finished else None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the producer has finished (output may still be unread)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._finished, timeout)

    def write_stdin(self, data: bytes, end: bool = False) -> None:
        self.stdin.write(data, end)

    def terminate(self) -> None:
        """End the command (WinRM Signal terminate); unread output is dropped."""
        with self._cond:
            self._terminated = True
            self._buffer.clear()
            self._buffered = 0
            self._cond.notify_all()
        self.stdin.end()

    def communicate(self, timeout: float = 60.0) -> tuple[int, bytes, bytes]:
        """Read everything (for tests and Run Command): (exit code, stdout, stderr)."""
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while not self.done:
            left = deadline - time.monotonic()
            if left <= 0:
                self.terminate()
                raise TimeoutError("the command did not finish")
            for stream, data in self.read(timeout=min(left, 1.0)):
                (out if stream == "stdout" else err).extend(data)
        return int(self.exit_code or 0), bytes(out), bytes(err)

    # --- producer side -----------------------------------------------------------------------

    def _run(self, producer_factory: Callable[[StdinBuffer], Producer]) -> None:
        exit_code = 1
        producer: Producer | None = None
        try:
            if self._start_delay > 0:
                time.sleep(self._start_delay)
            producer = producer_factory(self.stdin)
            while True:
                try:
                    item = next(producer)
                except StopIteration as stop:
                    exit_code = int(stop.value or 0)
                    break
                if not self._put(item):
                    exit_code = STATUS_CONTROL_C_EXIT
                    break
        except Exception as exc:  # a bug in the emulator must not look like a successful command
            _log.exception("command failed inside the emulator")
            self._put(("stderr", f"vmrepair emulator internal error: {exc!r}\r\n".encode()))
            exit_code = 1
        finally:
            if producer is not None:
                producer.close()
            with self._cond:
                self._exit_code = STATUS_CONTROL_C_EXIT if self._terminated else exit_code
                self._finished = True
                self._cond.notify_all()

    def _put(self, item: Output) -> bool:
        stream, data = item
        if not data:
            return not self._terminated
        with self._cond:
            # One piece may exceed the budget when the buffer is empty, or nothing would move.
            self._cond.wait_for(lambda: self._terminated or not self._buffer
                                or self._buffered + len(data) <= self._limit)
            if self._terminated:
                return False
            self._buffer.append((stream, data))
            self._buffered += len(data)
            self._cond.notify_all()
            return True


def finished(exit_code: int, stdout: bytes = b"", stderr: bytes = b"") -> Process:
    """A process whose whole output is known up front (errors, one-line answers)."""
    def produce(_stdin: StdinBuffer) -> Iterator[Output]:
        if stdout:
            yield "stdout", stdout
        if stderr:
            yield "stderr", stderr
        return exit_code
    return Process(produce)  # type: ignore[arg-type]
