"""dump_fetch's progress lines."""
from __future__ import annotations

from ansible_collections.vmrepair.azure.plugins.action.dump_fetch import DecileProgress, display, progress_emitter

MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_decile_reached_never_backwards_with_rate_and_time_left():
    lines: list[str] = []
    clock = Clock()
    progress = DecileProgress("dump_fetch F:\\Windows\\MEMORY.DMP", lines.append, clock=clock)
    progress(0, 10 * MIB)
    for done in (1 * MIB, 2 * MIB, 2 * MIB, 5 * MIB, 4 * MIB, 9 * MIB, 10 * MIB):
        clock.now += 1.0
        progress(done, 10 * MIB)
    assert [line.split(": ")[1].split("%")[0] for line in lines] == ["10", "20", "50", "90", "100"]
    assert lines[2] == "dump_fetch F:\\Windows\\MEMORY.DMP: 50% (5.0 MiB of 10.0 MiB, 1.2 MiB/s, 4 s left)"
    assert lines[-1] == "dump_fetch F:\\Windows\\MEMORY.DMP: 100% (10.0 MiB of 10.0 MiB, 1.4 MiB/s)"


def test_a_resumed_transfer_starts_at_its_decile():
    lines: list[str] = []
    clock = Clock()
    progress = DecileProgress("x", lines.append, clock=clock)
    progress(7 * MIB, 10 * MIB)
    clock.now += 2.0
    progress(8 * MIB, 10 * MIB)
    # The 7 MiB already there do not count in the rate.
    assert lines == ["x: 70% (7.0 MiB of 10.0 MiB)", "x: 80% (8.0 MiB of 10.0 MiB, 512.0 KiB/s, 4 s left)"]


def test_progress_goes_to_the_screen_only_on_a_terminal():
    assert progress_emitter(True) == display.display
    assert progress_emitter(False) == display.vv
