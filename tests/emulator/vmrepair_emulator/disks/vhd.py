"""The 512-byte footer of a fixed VHD (Microsoft's "Virtual Hard Disk Image Format Specification").

A fixed VHD is the raw disk followed by this footer; Azure managed disks and page-blob exports
are fixed VHDs whose virtual size is a whole number of MiB. The creator is written as Hyper-V's
("win "), which tells readers such as qemu to trust current_size rather than the CHS geometry.
"""

from __future__ import annotations

import struct
from datetime import datetime, UTC
from pathlib import Path

FOOTER_SIZE = 512
COOKIE = b"conectix"
DISK_TYPE_FIXED = 2
_VHD_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_FOOTER = struct.Struct(">8sIIQI4sI4sQQHBBII16sB")  # up to SavedState; 427 reserved bytes follow
_CHECKSUM_OFFSET = 64


def chs_geometry(size_bytes: int) -> tuple[int, int, int]:
    """(cylinders, heads, sectors per track) as the specification's appendix computes them."""
    total = min(size_bytes // 512, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        sectors, heads = 255, 16
        cyl_times_heads = total // sectors
    else:
        sectors = 17
        cyl_times_heads = total // sectors
        heads = max((cyl_times_heads + 1023) // 1024, 4)
        if cyl_times_heads >= heads * 1024 or heads > 16:
            sectors, heads = 31, 16
            cyl_times_heads = total // sectors
        if cyl_times_heads >= heads * 1024:
            sectors, heads = 63, 16
            cyl_times_heads = total // sectors
    return cyl_times_heads // heads, heads, sectors


def build_footer(size_bytes: int, unique_id: bytes, created: datetime | None = None) -> bytes:
    """Footer of a fixed VHD whose raw disk is `size_bytes` long (a multiple of 512)."""
    if size_bytes % 512:
        raise ValueError(f"a VHD's size is whole sectors, not {size_bytes} bytes")
    if len(unique_id) != 16:
        raise ValueError("unique_id is 16 bytes")
    created = created or datetime.now(UTC)
    timestamp = max(int((created - _VHD_EPOCH).total_seconds()), 0)
    cylinders, heads, sectors = chs_geometry(size_bytes)
    fields = [COOKIE, 0x00000002, 0x00010000, 0xFFFFFFFFFFFFFFFF, timestamp, b"win ", 0x000A0000, b"Wi2k",
              size_bytes, size_bytes, cylinders, heads, sectors, DISK_TYPE_FIXED, 0, unique_id, 0]
    raw = bytearray(_FOOTER.pack(*fields).ljust(FOOTER_SIZE, b"\0"))
    struct.pack_into(">I", raw, _CHECKSUM_OFFSET, (~sum(raw)) & 0xFFFFFFFF)
    return bytes(raw)


def read_footer(path: Path) -> dict:
    """The footer's fields; raises ValueError when the file is not a fixed VHD."""
    with open(path, "rb") as fh:
        fh.seek(-FOOTER_SIZE, 2)
        raw = fh.read(FOOTER_SIZE)
    values = _FOOTER.unpack_from(raw)
    if values[0] != COOKIE:
        raise ValueError(f"{path} has no VHD footer")
    stored = values[14]
    check = bytearray(raw)
    check[_CHECKSUM_OFFSET:_CHECKSUM_OFFSET + 4] = bytes(4)
    if (~sum(check)) & 0xFFFFFFFF != stored:
        raise ValueError(f"{path}: VHD footer checksum mismatch")
    if values[13] != DISK_TYPE_FIXED:
        raise ValueError(f"{path} is not a fixed VHD (disk type {values[13]})")
    return {"current_size": values[9], "original_size": values[8], "unique_id": values[15],
            "geometry": (values[10], values[11], values[12]), "disk_type": values[13]}


def virtual_size(path: Path) -> int:
    """Size of the disk the VHD holds (file size minus the footer)."""
    return read_footer(path)["current_size"]
