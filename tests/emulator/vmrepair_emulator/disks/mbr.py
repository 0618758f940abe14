"""A master boot record with one or more primary partitions (what Gen1 Windows disks carry)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

SECTOR = 512
PARTITION_TYPE_NTFS = 0x07
_HEADS, _SECTORS = 255, 63  # the geometry mkntfs is told, and the one Windows assumes for LBA disks


@dataclass(frozen=True)
class MbrPartition:
    start_lba: int
    sector_count: int
    type: int = PARTITION_TYPE_NTFS
    bootable: bool = False


def _chs(lba: int) -> bytes:
    cylinder, rest = divmod(lba, _HEADS * _SECTORS)
    head, sector = divmod(rest, _SECTORS)
    if cylinder > 1023:  # beyond CHS: the conventional "use LBA" marker
        cylinder, head, sector = 1023, 254, 62
    return bytes([head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def build_mbr(disk_signature: int, partitions: list[MbrPartition]) -> bytes:
    if not 1 <= len(partitions) <= 4:
        raise ValueError("an MBR holds one to four primary partitions")
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 0x1B8, disk_signature & 0xFFFFFFFF)
    for i, part in enumerate(partitions):
        last = part.start_lba + part.sector_count - 1
        entry = bytes([0x80 if part.bootable else 0]) + _chs(part.start_lba) + bytes([part.type]) + _chs(last)
        entry += struct.pack("<II", part.start_lba, part.sector_count)
        sector[0x1BE + 16 * i:0x1BE + 16 * (i + 1)] = entry
    sector[0x1FE:0x200] = b"\x55\xaa"
    return bytes(sector)
