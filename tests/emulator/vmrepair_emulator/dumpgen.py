"""Crash-dump files with valid Windows headers, streamed to a file object.

Layouts (public: the DUMP_HEADER64/DUMP_HEADER32 definitions, the bitmap 'SDMP'/'FDMP' header and
TRIAGE_DUMP64/32; checked against the real samples in ../shared/realdata/dumps/):

- 64-bit: a 0x2000-byte DUMP_HEADER64 ('PAGE' 'DU64'); unused bytes hold the 'PAGE' filler, as
  Windows leaves them.
  full (DumpType 1): the pages of the PhysicalMemoryBlock runs follow at 0x2000.
  bitmap kernel/full (6/5) and summary (2): at 0x2000 'SDMP'/'FDMP' 'DUMP', FirstPage (file
  offset of the first page) at +0x20, TotalPresentPages at +0x28, Pages (bits) at +0x30, the
  bitmap at +0x38; present pages follow from FirstPage.
  triage (4, the Windows\\Minidump\\*.dmp kind): TRIAGE_DUMP64 at 0x2000, 'TRGD' at ValidOffset.
- 32-bit: a 0x1000-byte DUMP_HEADER32 ('PAGE' 'DUMP'), DumpType at 0xF88; full and triage.

Page contents are deterministic from a seed and compress roughly like memory does: zero pages,
pages built from a small pool of repeated "cache lines" (pointers, small integers) and random
pages. Nothing proportional to the dump size is ever held in memory.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from datetime import datetime, UTC
from enum import IntEnum
from typing import BinaryIO, Literal
from collections.abc import Iterator

PAGE_SIZE = 0x1000
HEADER64_SIZE = 0x2000
HEADER32_SIZE = 0x1000
_FILLER = b"PAGE"
_WRITE_BATCH_PAGES = 256  # 1 MiB per write


class DumpType(IntEnum):
    FULL = 1
    SUMMARY = 2
    HEADER = 3
    TRIAGE = 4
    BITMAP_FULL = 5
    BITMAP_KERNEL = 6
    AUTOMATIC = 7


class MachineType(IntEnum):
    I386 = 0x014C
    AMD64 = 0x8664


# DUMP_HEADER64 field offsets.
class H64:
    SIGNATURE = 0x00
    VALID_DUMP = 0x04
    MAJOR_VERSION = 0x08
    MINOR_VERSION = 0x0C
    DIRECTORY_TABLE_BASE = 0x10
    PFN_DATABASE = 0x18
    PS_LOADED_MODULE_LIST = 0x20
    PS_ACTIVE_PROCESS_HEAD = 0x28
    MACHINE_IMAGE_TYPE = 0x30
    NUMBER_PROCESSORS = 0x34
    BUGCHECK_CODE = 0x38
    BUGCHECK_PARAMETERS = 0x40  # 4 x ULONG64
    KD_DEBUGGER_DATA_BLOCK = 0x80
    PHYSICAL_MEMORY_BLOCK = 0x88  # 700 bytes
    CONTEXT_RECORD = 0x348  # 3000 bytes
    EXCEPTION = 0xF00  # EXCEPTION_RECORD64, 0x98 bytes
    DUMP_TYPE = 0xF98
    REQUIRED_DUMP_SPACE = 0xFA0
    SYSTEM_TIME = 0xFA8
    COMMENT = 0xFB0  # 128 bytes
    SYSTEM_UP_TIME = 0x1030
    MINI_DUMP_FIELDS = 0x1038
    SECONDARY_DATA_STATE = 0x103C
    PRODUCT_TYPE = 0x1040
    SUITE_MASK = 0x1044
    WRITER_STATUS = 0x1048
    KD_SECONDARY_VERSION = 0x104D


# DUMP_HEADER32 field offsets.
class H32:
    SIGNATURE = 0x00
    VALID_DUMP = 0x04
    MAJOR_VERSION = 0x08
    MINOR_VERSION = 0x0C
    DIRECTORY_TABLE_BASE = 0x10
    PFN_DATABASE = 0x14
    PS_LOADED_MODULE_LIST = 0x18
    PS_ACTIVE_PROCESS_HEAD = 0x1C
    MACHINE_IMAGE_TYPE = 0x20
    NUMBER_PROCESSORS = 0x24
    BUGCHECK_CODE = 0x28
    BUGCHECK_PARAMETERS = 0x2C  # 4 x ULONG
    PAE_ENABLED = 0x5C
    KD_DEBUGGER_DATA_BLOCK = 0x60
    PHYSICAL_MEMORY_BLOCK = 0x64
    CONTEXT_RECORD = 0x320  # 1200 bytes
    EXCEPTION = 0x7D0  # EXCEPTION_RECORD32, 0x50 bytes
    COMMENT = 0x820
    DUMP_TYPE = 0xF88
    MINI_DUMP_FIELDS = 0xF8C
    SECONDARY_DATA_STATE = 0xF90
    PRODUCT_TYPE = 0xF94
    SUITE_MASK = 0xF98
    WRITER_STATUS = 0xF9C
    REQUIRED_DUMP_SPACE = 0xFA0
    SYSTEM_UP_TIME = 0xFB8
    SYSTEM_TIME = 0xFC0


# Bitmap ('SDMP'/'FDMP') header, relative to its start at HEADER64_SIZE.
class BMP:
    SIGNATURE = 0x00
    VALID_DUMP = 0x04
    FIRST_PAGE = 0x20
    TOTAL_PRESENT_PAGES = 0x28
    PAGES = 0x30
    BITMAP = 0x38


_STATUS_BREAKPOINT = 0x80000003
_EXCEPTION_NONCONTINUABLE = 1
_VER_NT_SERVER = 3
_SUITE_DATACENTER_TERMINAL = 0x190  # VER_SUITE_DATACENTER | TERMINAL | SINGLEUSERTS
_MINIDUMP_FIELDS = 0xCFF  # what the real samples carry
_FIRST_BITMAP_BUILD = 9200  # Windows 8 / Server 2012 write bitmap kernel dumps; older: summary

DumpKind = Literal["full", "kernel", "bitmap", "summary", "triage"]


@dataclass(frozen=True)
class CrashDumpSpec:
    """What a dump file says. size_bytes is the file size (rounded down to whole pages)."""

    size_bytes: int
    kind: DumpKind = "kernel"
    bugcheck_code: int = 0xC000021A
    bugcheck_parameters: tuple[int, int, int, int] = (0, 0, 0, 0)
    system_time: datetime = datetime(2026, 11, 20, 3, 14, 15, tzinfo=UTC)
    processors: int = 2
    build: int = 20348
    machine: Literal["x64", "x86"] = "x64"
    seed: int = 0
    uptime_s: int = field(default=3 * 86400 + 4512)

    @property
    def dump_type(self) -> DumpType:
        if self.kind == "full":
            return DumpType.FULL
        if self.kind == "bitmap":
            return DumpType.BITMAP_FULL
        if self.kind == "triage":
            return DumpType.TRIAGE
        if self.kind == "summary" or (self.kind == "kernel" and self.build < _FIRST_BITMAP_BUILD):
            return DumpType.SUMMARY
        if self.kind == "kernel":
            return DumpType.BITMAP_KERNEL
        raise ValueError(f"unknown dump kind {self.kind!r}")


def filetime(moment: datetime) -> int:
    """100-ns intervals since 1601-01-01 UTC (FILETIME)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    epoch = datetime(1601, 1, 1, tzinfo=UTC)
    delta = moment - epoch
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def parse_hex(value: str | int) -> int:
    return value if isinstance(value, int) else int(str(value), 16)


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def spec_from_scenario(memory_dump: dict, *, os_build: str | int = 20348, seed: int = 0) -> CrashDumpSpec:
    """A MEMORY.DMP spec from a scenario's os_disk.memory_dump mapping."""
    params = [parse_hex(p) for p in memory_dump.get("bugcheck_parameters") or []]
    params = (params + [0, 0, 0, 0])[:4]
    return CrashDumpSpec(
        size_bytes=int(float(memory_dump.get("size_mb", 16)) * 1024 * 1024),
        kind=memory_dump.get("dump_type", "kernel"),
        bugcheck_code=parse_hex(memory_dump.get("bugcheck_code") or "0xC000021A"),
        bugcheck_parameters=tuple(params),  # type: ignore[arg-type]
        system_time=parse_time(memory_dump.get("system_time") or "2026-11-20T03:14:15Z"),
        processors=int(memory_dump.get("processors", 2)),
        build=int(os_build or 20348),
        seed=seed,
    )


def minidump_spec_from_scenario(minidump: dict, *, os_build: str | int = 20348,
                                system_time: str | datetime = "2026-11-20T03:14:15Z",
                                processors: int = 2, seed: int = 0) -> CrashDumpSpec:
    """A Windows\\Minidump\\*.dmp (kernel triage dump) spec from a scenario's minidumps entry."""
    params = [parse_hex(p) for p in minidump.get("bugcheck_parameters") or []]
    return CrashDumpSpec(
        size_bytes=int(float(minidump.get("size_kb", 256)) * 1024),
        kind="triage",
        bugcheck_code=parse_hex(minidump.get("bugcheck_code") or "0xC000021A"),
        bugcheck_parameters=tuple((params + [0, 0, 0, 0])[:4]),  # type: ignore[arg-type]
        system_time=parse_time(minidump.get("system_time") or system_time),
        processors=processors,
        build=int(os_build or 20348),
        seed=seed,
    )


def write_crash_dump(out: BinaryIO, spec: CrashDumpSpec) -> int:
    """Write the whole dump to `out` (sequentially, 1 MiB at a time). Returns the bytes written."""
    return sum(out.write(part) or 0 for part in iter_crash_dump(spec))


def iter_crash_dump(spec: CrashDumpSpec) -> Iterator[bytes]:
    """The dump file as a sequence of byte strings (none larger than about 1 MiB)."""
    layout = _layout(spec)
    yield from layout.header_parts
    yield from _pages(spec.seed, layout.page_count)
    if layout.trailer:
        yield layout.trailer


# --- layout --------------------------------------------------------------------------------------

@dataclass
class _Layout:
    header_parts: list[bytes]
    page_count: int
    trailer: bytes = b""


def _layout(spec: CrashDumpSpec) -> _Layout:
    size = spec.size_bytes - spec.size_bytes % PAGE_SIZE
    is64 = spec.machine == "x64"
    header_size = HEADER64_SIZE if is64 else HEADER32_SIZE
    if size < header_size + 2 * PAGE_SIZE:
        raise ValueError(f"a dump needs at least {header_size + 2 * PAGE_SIZE} bytes, got {spec.size_bytes}")
    kernel = _KernelAddresses(spec.seed, is64)
    dump_type = spec.dump_type
    header = _header64(spec, kernel, size) if is64 else _header32(spec, kernel, size)

    if dump_type == DumpType.FULL:
        pages = (size - header_size) // PAGE_SIZE
        _put_memory_descriptor(header, is64, _memory_runs(pages, spec.seed))
        return _Layout([bytes(header)], pages)

    if dump_type == DumpType.TRIAGE:
        triage = _triage_header(spec, kernel, size, header_size)
        body = header_size + len(triage)
        filler_pages, tail = divmod(size - body - 4, PAGE_SIZE)
        trailer = _pseudo_random(spec.seed ^ 0x7E1A6E, tail) + b"TRGD"
        return _Layout([bytes(header), triage], filler_pages, trailer)

    if not is64:
        raise ValueError(f"32-bit dumps are generated as full or triage dumps only, not {dump_type.name}")
    bitmap_header, bitmap, present = _bitmap_part(spec, size)
    _put_memory_descriptor(header, is64, _memory_runs(_physical_pages(size), spec.seed))
    return _Layout([bytes(header), bitmap_header, *bitmap], present)


def _header64(spec: CrashDumpSpec, kernel: _KernelAddresses, size: int) -> bytearray:
    h = bytearray(_FILLER * (HEADER64_SIZE // 4))
    struct.pack_into("<4s4sII", h, H64.SIGNATURE, b"PAGE", b"DU64", 0xF, spec.build)
    struct.pack_into("<QQQQ", h, H64.DIRECTORY_TABLE_BASE, kernel.directory_table_base, kernel.pfn_database,
                     kernel.ps_loaded_module_list, kernel.ps_active_process_head)
    struct.pack_into("<III", h, H64.MACHINE_IMAGE_TYPE, MachineType.AMD64, spec.processors, spec.bugcheck_code)
    struct.pack_into("<4Q", h, H64.BUGCHECK_PARAMETERS, *spec.bugcheck_parameters)
    struct.pack_into("<Q", h, H64.KD_DEBUGGER_DATA_BLOCK, kernel.kd_debugger_data_block)
    _put_context64(h, kernel)
    struct.pack_into("<IIQQI", h, H64.EXCEPTION, _STATUS_BREAKPOINT, _EXCEPTION_NONCONTINUABLE, 0,
                     kernel.ke_bugcheck_ex, 0)
    struct.pack_into("<I", h, H64.DUMP_TYPE, spec.dump_type)
    struct.pack_into("<QQ", h, H64.REQUIRED_DUMP_SPACE, size, filetime(spec.system_time))
    struct.pack_into("<QI", h, H64.SYSTEM_UP_TIME, spec.uptime_s * 10_000_000, _MINIDUMP_FIELDS)
    struct.pack_into("<III", h, H64.PRODUCT_TYPE, _VER_NT_SERVER, _SUITE_DATACENTER_TERMINAL, 0)
    h[H64.KD_SECONDARY_VERSION] = 0
    return h


def _header32(spec: CrashDumpSpec, kernel: _KernelAddresses, size: int) -> bytearray:
    if spec.bugcheck_code > 0xFFFFFFFF or any(p > 0xFFFFFFFF for p in spec.bugcheck_parameters):
        raise ValueError("a 32-bit dump holds 32-bit bugcheck parameters only")
    h = bytearray(_FILLER * (HEADER32_SIZE // 4))
    struct.pack_into("<4s4sII", h, H32.SIGNATURE, b"PAGE", b"DUMP", 0xF, spec.build)
    struct.pack_into("<IIII", h, H32.DIRECTORY_TABLE_BASE, kernel.directory_table_base & 0xFFFFFFFF,
                     kernel.pfn_database, kernel.ps_loaded_module_list, kernel.ps_active_process_head)
    struct.pack_into("<III", h, H32.MACHINE_IMAGE_TYPE, MachineType.I386, spec.processors, spec.bugcheck_code)
    struct.pack_into("<4I", h, H32.BUGCHECK_PARAMETERS, *spec.bugcheck_parameters)
    h[H32.PAE_ENABLED] = 1
    struct.pack_into("<I", h, H32.KD_DEBUGGER_DATA_BLOCK, kernel.kd_debugger_data_block)
    h[H32.CONTEXT_RECORD:H32.CONTEXT_RECORD + 0x2CC] = bytes(0x2CC)
    struct.pack_into("<I", h, H32.CONTEXT_RECORD, 0x0001003F)  # CONTEXT_i386 | FULL | DEBUG_REGISTERS
    struct.pack_into("<IIIII", h, H32.EXCEPTION, _STATUS_BREAKPOINT, _EXCEPTION_NONCONTINUABLE, 0,
                     kernel.ke_bugcheck_ex, 0)
    struct.pack_into("<IIIIII", h, H32.DUMP_TYPE, spec.dump_type, _MINIDUMP_FIELDS, 0, _VER_NT_SERVER,
                     _SUITE_DATACENTER_TERMINAL, 0)
    struct.pack_into("<Q", h, H32.REQUIRED_DUMP_SPACE, size)
    struct.pack_into("<QQ", h, H32.SYSTEM_UP_TIME, spec.uptime_s * 10_000_000, filetime(spec.system_time))
    return h


def _put_context64(h: bytearray, kernel: _KernelAddresses) -> None:
    """A minimal AMD64 CONTEXT (0x4D0 bytes): flags, segments, stack and instruction pointers."""
    base = H64.CONTEXT_RECORD
    h[base:base + 0x4D0] = bytes(0x4D0)
    struct.pack_into("<II6HI", h, base + 0x30, 0x0010001F, 0x1F80, 0x10, 0x2B, 0x2B, 0x53, 0x2B, 0x18, 0x282)
    struct.pack_into("<Q", h, base + 0x98, kernel.stack_pointer)  # Rsp
    struct.pack_into("<Q", h, base + 0xF8, kernel.ke_bugcheck_ex)  # Rip


def _put_memory_descriptor(h: bytearray, is64: bool, runs: list[tuple[int, int]]) -> None:
    total = sum(count for _first_page, count in runs)
    if is64:
        struct.pack_into("<IIQ", h, H64.PHYSICAL_MEMORY_BLOCK, len(runs), 0, total)
        for i, run in enumerate(runs):
            struct.pack_into("<QQ", h, H64.PHYSICAL_MEMORY_BLOCK + 16 + 16 * i, *run)
    else:
        struct.pack_into("<II", h, H32.PHYSICAL_MEMORY_BLOCK, len(runs), total)
        for i, run in enumerate(runs):
            struct.pack_into("<II", h, H32.PHYSICAL_MEMORY_BLOCK + 8 + 8 * i, *run)


def _memory_runs(pages: int, seed: int) -> list[tuple[int, int]]:
    """Physical memory as firmware reports it: a low run below 640 KiB, then larger runs with holes."""
    rng = random.Random(seed ^ 0x5EED)
    runs: list[tuple[int, int]] = []
    base, left = 1, pages
    for limit in (0x9E, 0x2F0 + rng.randrange(0x40)):
        count = min(limit, left - 1) if left > 1 else left
        if count <= 0:
            break
        runs.append((base, count))
        left -= count
        base += count + 0x60 + rng.randrange(0x40)
    if left:
        runs.append((base, left))
    return runs


def _physical_pages(size: int) -> int:
    """RAM of the machine a kernel dump of `size` bytes came from: a kernel dump is a fraction of RAM."""
    pages = max(4 * (size // PAGE_SIZE), 0x40000)  # at least 1 GiB
    return (pages + 63) // 64 * 64


def _bitmap_part(spec: CrashDumpSpec, size: int) -> tuple[bytes, list[bytes], int]:
    ram_pages = _physical_pages(size)
    bitmap_bytes = ram_pages // 8
    first_page = -(-(HEADER64_SIZE + BMP.BITMAP + bitmap_bytes) // PAGE_SIZE) * PAGE_SIZE
    present = (size - first_page) // PAGE_SIZE
    if present <= 0:
        raise ValueError(f"{size} bytes cannot hold a bitmap dump of a {ram_pages * PAGE_SIZE >> 20} MiB machine")
    signature = b"FDMP" if spec.dump_type == DumpType.BITMAP_FULL else b"SDMP"
    header = bytearray(BMP.BITMAP)
    struct.pack_into("<4s4s", header, BMP.SIGNATURE, signature, b"DUMP")
    struct.pack_into("<QQQ", header, BMP.FIRST_PAGE, first_page, present, ram_pages)
    padding = first_page - HEADER64_SIZE - BMP.BITMAP - bitmap_bytes
    return bytes(header), [*_bitmap_bytes(ram_pages, present), bytes(padding)], present


def _bitmap_bytes(ram_pages: int, present: int) -> Iterator[bytes]:
    """Bits for `present` pages spread evenly over RAM in 64-page blocks (kernel dumps look like that)."""
    blocks = ram_pages // 64
    used_blocks = -(-present // 64)
    partial_bits = present % 64
    chosen = [i * blocks // used_blocks for i in range(used_blocks)]  # distinct: blocks >= used_blocks
    last = chosen[-1]
    selected = set(chosen)
    out = bytearray()
    for block in range(blocks):
        if block == last and partial_bits:
            out += ((1 << partial_bits) - 1).to_bytes(8, "little")
        elif block in selected:
            out += b"\xff" * 8
        else:
            out += bytes(8)
        if len(out) >= 1 << 20:
            yield bytes(out)
            out.clear()
    if out:
        yield bytes(out)


def _triage_header(spec: CrashDumpSpec, kernel: _KernelAddresses, size: int, header_size: int) -> bytes:
    """TRIAGE_DUMP64/32 with its sections laid out one after another; driver list and data blocks empty."""
    sections = (("mm", 0x50), ("unloaded", 0xE8), ("prcb", 0xAF00), ("process", 0xA40), ("thread", 0x898),
                ("stack", 0x2118))
    room = size - 4 - header_size - 0x80
    wanted = sum(length for _section_name, length in sections)
    scale = min(1.0, room / wanted)  # small minidumps get proportionally smaller sections
    offsets = {}
    cursor = header_size + 0x80
    for name, length in sections:
        offsets[name] = cursor
        cursor += max(int(length * scale) // 8 * 8, 8)
    stack_size = cursor - offsets["stack"]
    is64 = spec.machine == "x64"
    context, exception = (H64.CONTEXT_RECORD, H64.EXCEPTION) if is64 else (H32.CONTEXT_RECORD, H32.EXCEPTION)
    common = (0, size, size - 4, context, exception, offsets["mm"], offsets["unloaded"], offsets["prcb"],
              offsets["process"], offsets["thread"], offsets["stack"], stack_size, cursor, 0, cursor, 0, 0, 0)
    if spec.machine == "x64":
        triage = struct.pack("<18IQIIQQIIIIII", *common, kernel.stack_pointer, 0, 0, 0,
                             0, 0, 0, 0, 0, cursor, 0)
    else:
        triage = struct.pack("<26I", *common, kernel.stack_pointer & 0xFFFFFFFF, 0, 0, 0, 0, 0, cursor, 0)
    return triage + bytes(0x80 - len(triage))


class _KernelAddresses:
    """Plausible, seed-dependent kernel addresses (x64: 0xFFFFF80x..., x86: 0x8xxxxxxx)."""

    def __init__(self, seed: int, is64: bool) -> None:
        rng = random.Random(seed ^ 0xC0DE)
        if is64:
            base = 0xFFFFF80000000000 + (0x400000000 + rng.randrange(0x100) * 0x200000)
            self.pfn_database = 0xFFFF000000000000 | (rng.randrange(0x8000, 0xFFFF) << 32) & 0xFFFFFF0000000000
        else:
            base = 0x82000000 + rng.randrange(0x80) * 0x200000
            self.pfn_database = 0x84000000 + rng.randrange(0x100) * 0x100000
        self.directory_table_base = 0x1AD000 if is64 else 0x185000
        self.ps_loaded_module_list = base + 0xC2A390
        self.ps_active_process_head = base + 0xC1E600
        self.kd_debugger_data_block = base + 0xC00B20
        self.ke_bugcheck_ex = base + 0x3F5A80
        self.stack_pointer = (0xFFFFF80000000000 + 0x100000000 + rng.randrange(0x1000) * 0x6000) if is64 \
            else 0x8D000000 + rng.randrange(0x1000) * 0x3000


# --- page contents -------------------------------------------------------------------------------

def _pages(seed: int, count: int) -> Iterator[bytes]:
    """`count` pages, batched into 1 MiB writes."""
    rng = random.Random(seed)
    lines = [_cache_line(rng) for _line_number in range(192)]
    batch: list[bytes] = []
    zero = bytes(PAGE_SIZE)
    for _page_number in range(count):
        pick = rng.random()
        if pick < 0.35:
            batch.append(zero)
        elif pick < 0.75:
            batch.append(b"".join(rng.choices(lines, k=PAGE_SIZE // 64)))
        else:
            batch.append(rng.randbytes(PAGE_SIZE))
        if len(batch) == _WRITE_BATCH_PAGES:
            yield b"".join(batch)
            batch.clear()
    if batch:
        yield b"".join(batch)


def _cache_line(rng: random.Random) -> bytes:
    """64 bytes like a kernel structure: pointers, small counters, flags and zero padding."""
    words = []
    for _word_number in range(8):
        kind = rng.random()
        if kind < 0.35:
            words.append(0xFFFF800000000000 | rng.randrange(1 << 44) & ~0x7)
        elif kind < 0.6:
            words.append(rng.randrange(0x100))
        elif kind < 0.85:
            words.append(0)
        else:
            words.append(rng.getrandbits(64))
    return struct.pack("<8Q", *words)


def _pseudo_random(seed: int, length: int) -> bytes:
    return random.Random(seed).randbytes(length) if length > 0 else b""
