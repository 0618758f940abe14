"""The hive writer: what dissect.regf (an independent reader) reads back."""
from __future__ import annotations

import io
import struct

import pytest
from dissect.regf import RegistryHive

from vmrepair_emulator.disks import regf
from vmrepair_emulator.disks.image import STALE_CRASH_CONTROL, build_system_hive


def read(data: bytes) -> RegistryHive:
    return RegistryHive(io.BytesIO(data))


def test_keys_values_and_types_read_back() -> None:
    root = regf.Key("ROOT")
    key = root.key("Software\\Vendor\\Product")
    key.set_dword("Count", 0xFFFFFFFE)
    key.set_string("Name", "caf\u00e9 \u2713")
    key.set_string("Path", "%SystemRoot%\\x", expand=True)
    key.values["Blob"] = (regf.REG_BINARY, bytes(range(200)))
    root.key("Software\\Zeta")
    root.key("software\\alpha")  # the same parent key, whatever the case
    hive = read(regf.build_hive(root))
    product = hive.open("SOFTWARE\\vendor\\product")
    assert product.value("Count").value == 0xFFFFFFFE
    assert product.value("Name").value == "caf\u00e9 \u2713"
    assert product.value("Path").value == "%SystemRoot%\\x"
    assert product.value("Blob").value == bytes(range(200))
    assert sorted(k.name for k in hive.open("Software").subkeys()) == ["Vendor", "Zeta", "alpha"]


def test_many_subkeys_are_all_found() -> None:
    root = regf.Key("ROOT")
    for number in range(300):
        root.key(f"Set{number:03d}").set_dword("N", number)
    hive = read(regf.build_hive(root))
    assert all(hive.open(f"Set{n:03d}").value("N").value == n for n in (0, 1, 150, 299))


def test_base_block_checksum_and_sizes() -> None:
    data = regf.build_hive(regf.Key("ROOT"))
    assert data[:4] == b"regf" and len(data) % 4096 == 0
    checksum = 0
    for (word,) in struct.iter_unpack("<I", data[:508]):
        checksum ^= word
    assert struct.unpack_from("<I", data, 508)[0] == checksum
    assert struct.unpack_from("<I", data, 40)[0] == len(data) - 4096  # hive bins data size
    assert data[4096:4100] == b"hbin"


def test_data_too_big_for_one_cell_is_refused() -> None:
    root = regf.Key("ROOT")
    root.values["Huge"] = (regf.REG_BINARY, bytes(20000))
    with pytest.raises(ValueError, match="big-data"):
        regf.build_hive(root)


def test_system_hive_follows_select_current() -> None:
    control = {"current_control_set": 3, "crash_dump_enabled": 1, "dump_file": "C:\\d\\M.DMP",
               "minidump_dir": "%SystemRoot%\\Minidump", "dedicated_dump_file": "C:\\dd.sys", "filter_pages": 1}
    hive = read(build_system_hive(control))
    select = hive.open("Select")
    assert (select.value("Current").value, select.value("LastKnownGood").value) == (3, 4)
    crash = hive.open("ControlSet003\\Control\\CrashControl")
    assert crash.value("DumpFile").value == "C:\\d\\M.DMP"
    assert crash.value("DedicatedDumpFile").value == "C:\\dd.sys"
    assert crash.value("FilterPages").value == 1
    stale = hive.open("ControlSet004\\Control\\CrashControl")
    assert stale.value("DumpFile").value == STALE_CRASH_CONTROL["dump_file"]
