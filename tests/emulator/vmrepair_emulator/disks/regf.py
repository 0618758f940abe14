"""Write a Windows registry hive file (regf) for the emulated OS disks' SYSTEM hive.

No maintained Python library writes hives (dissect.regf, regipy and python-registry only read),
so this writes the small subset a SYSTEM hive of the emulator needs, following the public format
description (base block, one hive bin, nk/vk/lh/value-list cells; data of up to 16 KiB per value,
so no big-data cells). dissect.regf reads the result back in the tests and in find_dumps.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_MULTI_SZ = 7

BASE_BLOCK_SIZE = 4096
HBIN_HEADER_SIZE = 32
NO_CELL = 0xFFFFFFFF
_KEY_HIVE_ENTRY, _KEY_NO_DELETE, _KEY_COMP_NAME = 0x0004, 0x0008, 0x0020
_VALUE_COMP_NAME = 0x0001
_MAX_INLINE_DATA = 4
_MAX_VALUE_DATA = 16344  # larger data needs big-data (db) cells, which this writer does not make


@dataclass
class Key:
    """A registry key: values by name (type, raw data) and subkeys by name."""

    name: str
    values: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    subkeys: dict[str, "Key"] = field(default_factory=dict)

    def key(self, path: str) -> "Key":
        """The subkey at a backslash-separated path, created on the way when missing."""
        node = self
        for part in filter(None, path.split("\\")):
            child = node.subkeys.get(part.lower())
            if child is None:
                child = node.subkeys[part.lower()] = Key(part)
            node = child
        return node

    def set_dword(self, name: str, value: int) -> None:
        self.values[name] = (REG_DWORD, struct.pack("<I", value & 0xFFFFFFFF))

    def set_string(self, name: str, value: str, expand: bool = False) -> None:
        self.values[name] = (REG_EXPAND_SZ if expand else REG_SZ, (value + "\0").encode("utf-16-le"))


def _filetime(unix_seconds: float) -> int:
    return int((unix_seconds + 11644473600) * 10_000_000)


def _lh_hash(name: str) -> int:
    value = 0
    for char in name.upper():
        value = (value * 37 + ord(char)) & 0xFFFFFFFF
    return value


def _ascii(name: str) -> bytes | None:
    """The name as stored with the *_COMP_NAME flag (Latin-1), or None when it needs UTF-16."""
    try:
        return name.encode("latin-1")
    except UnicodeEncodeError:
        return None


class _Cells:
    """Cells of one hive bin; offsets are relative to the start of the hive bins data."""

    def __init__(self) -> None:
        self.data = bytearray(HBIN_HEADER_SIZE)

    def add(self, payload: bytes) -> int:
        size = (4 + len(payload) + 7) & ~7
        offset = len(self.data)
        self.data += struct.pack("<i", -size) + payload + bytes(size - 4 - len(payload))
        return offset

    def patch(self, offset: int, fmt: str, position: int, *values: int) -> None:
        struct.pack_into(fmt, self.data, offset + 4 + position, *values)


def build_hive(root: Key, file_name: str = "SYSTEM", written: float | None = None) -> bytes:
    """The bytes of a hive file whose root key is `root`."""
    stamp = _filetime(time.time() if written is None else written)
    cells = _Cells()
    root_offset = _write_key(cells, root, parent=NO_CELL, stamp=stamp, is_root=True)

    # Close the bin: a free cell over the rest of it (bins are multiples of 4 KiB).
    used = len(cells.data)
    bin_size = (used + 8 + 4095) // 4096 * 4096
    cells.data += struct.pack("<i", bin_size - used) + bytes(bin_size - used - 4)
    struct.pack_into("<4sIIIIQI", cells.data, 0, b"hbin", 0, bin_size, 0, 0, stamp, 0)

    base = bytearray(BASE_BLOCK_SIZE)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, stamp, 1, 5, 0, 1, root_offset, bin_size, 1)
    name = file_name.encode("utf-16-le")[:64]
    base[48:48 + len(name)] = name
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(base[:508])):
        checksum ^= word
    checksum = 1 if checksum == 0 else (0xFFFFFFFE if checksum == 0xFFFFFFFF else checksum)
    struct.pack_into("<I", base, 508, checksum)
    return bytes(base) + bytes(cells.data)


def _write_key(cells: _Cells, key: Key, parent: int, stamp: int, is_root: bool = False) -> int:
    encoded = _ascii(key.name)
    name_bytes = encoded if encoded is not None else key.name.encode("utf-16-le")
    flags = _KEY_COMP_NAME if encoded is not None else 0
    if is_root:
        flags |= _KEY_HIVE_ENTRY | _KEY_NO_DELETE
    subkeys = sorted(key.subkeys.values(), key=lambda k: k.name.upper())
    values = list(key.values.items())
    header = struct.pack(
        "<2sHQIIIIIIIIIIIIIIIHH", b"nk", flags, stamp, 0, parent, len(subkeys), 0, NO_CELL, NO_CELL,
        len(values), NO_CELL, NO_CELL, NO_CELL,
        max((len(k.name) * 2 for k in subkeys), default=0), 0,
        max((len(name) * 2 for name in key.values), default=0),
        max((len(data) for _kind, data in key.values.values()), default=0),
        0, len(name_bytes), 0)
    offset = cells.add(header + name_bytes)

    if values:
        value_offsets = [_write_value(cells, name, kind, data) for name, (kind, data) in values]
        list_offset = cells.add(struct.pack(f"<{len(value_offsets)}I", *value_offsets))
        cells.patch(offset, "<I", 40, list_offset)
    if subkeys:
        children = [(_write_key(cells, child, offset, stamp), child.name) for child in subkeys]
        entries = b"".join(struct.pack("<II", child_offset, _lh_hash(name)) for child_offset, name in children)
        list_offset = cells.add(struct.pack("<2sH", b"lh", len(children)) + entries)
        cells.patch(offset, "<I", 28, list_offset)
    return offset


def _write_value(cells: _Cells, name: str, kind: int, data: bytes) -> int:
    if len(data) > _MAX_VALUE_DATA:
        raise ValueError(f"value {name!r}: {len(data)} bytes needs big-data cells, which this writer does not make")
    encoded = _ascii(name)
    name_bytes = encoded if encoded is not None else name.encode("utf-16-le")
    flags = _VALUE_COMP_NAME if encoded is not None else 0
    if len(data) <= _MAX_INLINE_DATA:
        size_field, data_field = len(data) | 0x80000000, int.from_bytes(data.ljust(4, b"\0"), "little")
    else:
        size_field, data_field = len(data), cells.add(data)
    return cells.add(struct.pack("<2sHIIIHH", b"vk", len(name_bytes), size_field, data_field, kind, flags, 0)
                     + name_bytes)
