"""Process: lazy output with backpressure, exit codes, stdin, terminate, internal errors."""

from __future__ import annotations

import threading
import time

from vmrepair_emulator.windows.process import STATUS_CONTROL_C_EXIT, Process, finished


def _drain(process: Process, timeout: float = 10.0) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while not process.done:
        assert time.monotonic() < deadline, "process did not finish"
        out.extend(process.read(timeout=0.5))
    return out


def test_output_and_exit_code() -> None:
    def produce(_stdin):
        yield "stdout", b"a"
        yield "stdout", b"b"
        yield "stderr", b"warning"
        return 3

    process = Process(produce)
    output = _drain(process)
    assert b"".join(d for s, d in output if s == "stdout") == b"ab"
    assert b"".join(d for s, d in output if s == "stderr") == b"warning"
    assert [s for s, _data in output][-1] == "stderr"
    assert process.exit_code == 3 and process.done


def test_a_slow_reader_holds_the_producer_back() -> None:
    produced = 0

    def produce(_stdin):
        nonlocal produced
        for _piece_number in range(1000):
            produced += 1
            yield "stdout", b"x" * 65536
        return 0

    process = Process(produce, buffer_bytes=256 * 1024)
    time.sleep(0.3)
    assert produced <= 6, f"{produced} pieces of 64 KiB produced with a 256 KiB buffer and no reader"
    assert process.exit_code is None and not process.done
    total = sum(len(d) for _stream, d in _drain(process, timeout=30))
    assert total == 1000 * 65536 and process.exit_code == 0


def test_read_honours_max_bytes() -> None:
    def produce(_stdin):
        yield "stdout", b"1" * 100
        yield "stdout", b"2" * 100
        return 0

    process = Process(produce)
    process.wait(5)
    first = process.read(timeout=1, max_bytes=150)
    assert sum(len(d) for _stream, d in first) == 100
    assert sum(len(d) for _stream, d in process.read(timeout=1)) == 100


def test_read_times_out_with_nothing() -> None:
    release = threading.Event()

    def produce(_stdin):
        release.wait(5)
        yield "stdout", b"late"
        return 0

    process = Process(produce)
    started = time.monotonic()
    assert process.read(timeout=0.2) == []
    assert 0.15 < time.monotonic() - started < 2
    release.set()
    assert _drain(process) == [("stdout", b"late")]


def test_terminate_stops_the_producer() -> None:
    closed = threading.Event()

    def produce(_stdin):
        try:
            while True:
                yield "stdout", b"y" * 4096
        finally:
            closed.set()

    process = Process(produce, buffer_bytes=8192)
    process.read(timeout=1)
    process.terminate()
    assert closed.wait(5)
    assert process.wait(5)
    assert process.exit_code == STATUS_CONTROL_C_EXIT


def test_stdin_reaches_the_producer() -> None:
    def produce(stdin):
        yield "stdout", stdin.read_to_end(5).upper()
        return 0

    process = Process(produce)
    process.write_stdin(b"abc")
    process.write_stdin(b"def", end=True)
    assert _drain(process) == [("stdout", b"ABCDEF")]


def test_an_emulator_bug_is_never_a_success() -> None:
    def produce(_stdin):
        yield "stdout", b"partial"
        raise RuntimeError("boom")

    process = Process(produce)
    output = _drain(process)
    assert process.exit_code == 1
    assert b"internal error" in b"".join(d for s, d in output if s == "stderr")


def test_finished() -> None:
    process = finished(1, stderr=b"nope\r\n")
    assert _drain(process) == [("stderr", b"nope\r\n")] and process.exit_code == 1
