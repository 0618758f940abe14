"""dump_fetch's progress lines."""
from __future__ import annotations

from ansible_collections.vmrepair.azure.plugins.action.dump_fetch import DecileProgress, display, progress_emitter

MIB = 1024 * 1024


def test_one_line_per_decile_reached_never_backwards():
    lines: list[str] = []
    progress = DecileProgress("dump_fetch F:\\Windows\\MEMORY.DMP", lines.append)
    for done in (1 * MIB, 2 * MIB, 2 * MIB, 5 * MIB, 4 * MIB, 9 * MIB, 10 * MIB):
        progress(done, 10 * MIB)
    assert [line.split(": ")[1].split("%")[0] for line in lines] == ["10", "20", "50", "90", "100"]
    assert lines[-1] == "dump_fetch F:\\Windows\\MEMORY.DMP: 100% (10.0 MiB of 10.0 MiB)"


def test_a_resumed_transfer_starts_at_its_decile():
    lines: list[str] = []
    progress = DecileProgress("x", lines.append)
    progress(7 * MIB, 10 * MIB)
    assert lines == ["x: 70% (7.0 MiB of 10.0 MiB)"]


def test_progress_goes_to_the_screen_only_on_a_terminal():
    assert progress_emitter(True) == display.display
    assert progress_emitter(False) == display.vv
