"""Which dump dump_find selects."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.action.dump_find import newest_first, select_dump

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
    (ALL, "minidump", MINI_NEW, "the newest minidump dump"),
    ([MINI_OLD, MINI_NEW], "memory", MINI_NEW, "there is no memory dump"),
    ([MEMORY_OLD], "minidump", MEMORY_OLD, "there is no minidump dump"),
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
