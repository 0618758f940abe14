"""Which dump dump_find selects, and which dumps are worth fetching."""
from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_selection import (
    assess_dump,
    newest_first,
    no_dump_message,
    select_dump,
)

REALDATA = Path("/work/shared/realdata/dumps")

MEMORY_OLD = {"path": "F:\\Windows\\MEMORY.DMP", "kind": "memory", "size": 1, "last_write_time_utc": "2026-11-01T00:00:00Z"}
MEMORY_NEW = {"path": "G:\\Windows\\MEMORY.DMP", "kind": "memory", "size": 1, "last_write_time_utc": "2026-11-20T03:14:15Z"}
MINI_OLD = {"path": "F:\\Windows\\Minidump\\a.dmp", "kind": "minidump", "size": 1, "last_write_time_utc": "2026-10-01T00:00:00Z"}
MINI_NEW = {"path": "F:\\Windows\\Minidump\\b.dmp", "kind": "minidump", "size": 1, "last_write_time_utc": "2026-11-21T00:00:00Z"}
ALL = [MEMORY_OLD, MINI_OLD, MEMORY_NEW, MINI_NEW]


def test_newest_first_orders_by_last_write_time():
    assert newest_first(ALL) == [MINI_NEW, MEMORY_NEW, MEMORY_OLD, MINI_OLD]


def test_dumps_without_a_time_go_last():
    undated = {"path": "X", "kind": "memory", "size": 1, "last_write_time_utc": None}
    assert newest_first([undated, MEMORY_OLD])[-1] is undated


@pytest.mark.parametrize(("dumps", "prefer", "expected", "reason"), [
    (ALL, "memory", MEMORY_NEW, "the newest memory dump"),
    (ALL, "minidump", MINI_NEW, "the newest minidump"),
    (ALL, "newest", MINI_NEW, "the newest dump"),
    ([MINI_OLD, MINI_NEW], "memory", MINI_NEW, "there is no usable memory dump"),
    ([MEMORY_OLD], "minidump", MEMORY_OLD, "there is no usable minidump"),
    (ALL, "f:/windows/minidump/A.DMP", MINI_OLD, "named by prefer"),
    (ALL, "F:\\Windows\\MEMORY.DMP", MEMORY_OLD, "named by prefer"),
])
def test_select_dump(dumps, prefer, expected, reason):
    selected, why = select_dump(dumps, prefer)
    assert selected == expected
    assert reason in why


def test_a_path_that_is_not_there_selects_nothing_and_lists_what_is():
    selected, why = select_dump(ALL, "H:\\Windows\\MEMORY.DMP")
    assert selected is None
    assert "H:\\Windows\\MEMORY.DMP is not among the dumps found" in why and "G:\\Windows\\MEMORY.DMP" in why


def test_nothing_to_select():
    assert select_dump([], "memory") == (None, "there is no dump")


def test_a_dedicated_dump_file_counts_as_a_memory_dump():
    dedicated = dict(MEMORY_NEW, path="F:\\DedicatedDump.sys", kind="dedicated",
                     last_write_time_utc="2026-11-22T00:00:00Z")
    assert select_dump(ALL + [dedicated], "memory")[0] == dedicated


def test_unusable_dumps_are_skipped_and_named():
    broken = dict(MEMORY_NEW, usable=False, problem="the file is 0 bytes")
    selected, why = select_dump([broken, MEMORY_OLD], "memory")
    assert selected == MEMORY_OLD
    selected, why = select_dump([broken], "memory")
    assert selected is None and "G:\\Windows\\MEMORY.DMP: the file is 0 bytes" in why
    selected, why = select_dump([broken, MEMORY_OLD], "G:\\Windows\\MEMORY.DMP")
    assert selected is None and "cannot be used: the file is 0 bytes" in why


def test_the_dump_that_records_the_stop_code_comes_first():
    other = dict(MEMORY_NEW, header={"bugcheck_code": "0x000000EF"})
    ours = dict(MEMORY_OLD, header={"bugcheck_code": "0xC000021A"})
    selected, why = select_dump([other, ours], "memory", stop_code="0xc000021a")
    assert selected == ours and "recording stop code 0xc000021a" in why
    selected, why = select_dump([other], "memory", stop_code="0xC000021A")
    assert selected == other and "no usable dump records stop code 0xC000021A" in why


def _entry(data: bytes, size: int | None = None) -> dict:
    return {"path": "F:\\Windows\\MEMORY.DMP", "kind": "memory", "size": len(data) if size is None else size,
            "last_write_time_utc": "2026-11-20T03:14:15Z", "header_base64": base64.b64encode(data[:12288]).decode()}


def test_assess_a_real_triage_dump_header():
    data = (REALDATA / "kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp").read_bytes()
    entry = assess_dump(_entry(data))
    assert entry["usable"] and entry["problem"] is None and "header_base64" not in entry
    assert entry["header"]["bugcheck_code"] == "0x1000007E"


def test_assess_zero_length_and_garbage_and_cut_short():
    assert "0 bytes" in assess_dump(_entry(b""))["problem"]
    junk = assess_dump(_entry(b"\0" * 9000))
    assert not junk["usable"] and "not a usable dump" in junk["problem"]
    data = bytearray((REALDATA / "kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp").read_bytes())
    # A kernel dump whose header says it takes 1 GiB, in a file of a few KiB: still being written.
    struct.pack_into("<I", data, 0xF98, 1)  # DumpType 1: full dump, sized by RequiredDumpSpace
    struct.pack_into("<Q", data, 0xFA0, 1 << 30)  # RequiredDumpSpace
    partial = assess_dump(_entry(bytes(data)))
    assert not partial["usable"] and "still writing it" in partial["problem"]


def test_assess_without_header_bytes_trusts_the_size():
    entry = assess_dump(dict(_entry(b"x" * 10), header_base64=""))
    assert entry["usable"] and entry["header"] is None


def test_no_dump_message_says_why():
    volumes = [{"windows_dir": "F:\\Windows", "crash_control": {"crash_dump_enabled": 0, "control_set": "ControlSet001"},
                "crash_control_error": None}]
    not_found = [{"path": "D:\\MEMORY.DMP", "source": "DumpFile", "why": "it is on drive D: of the broken VM"}]
    message = no_dump_message(volumes, not_found)
    assert "CrashDumpEnabled = 0 in ControlSet001" in message and "DumpFile D:\\MEMORY.DMP" in message
    assert "enable_crash_dump" in message
