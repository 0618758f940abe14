"""dumpgen: headers at the documented offsets, consistent page layouts, streaming, real-sample offsets."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime, UTC
from pathlib import Path

import pytest

from vmrepair_emulator import dumpgen
from vmrepair_emulator.dumpgen import BMP, H32, H64, CrashDumpSpec, DumpType

REALDATA = Path(__file__).resolve().parents[4] / "shared" / "realdata" / "dumps"
MIB = 1024 * 1024
PARAMS = (0xFFFFC00012345678, 0xFFFFFFFFC0000005, 0, 0)
CRASH = datetime(2026, 11, 20, 3, 14, 15, tzinfo=UTC)


def _dump(spec: CrashDumpSpec) -> bytes:
    out = io.BytesIO()
    written = dumpgen.write_crash_dump(out, spec)
    assert written == len(out.getvalue())
    return out.getvalue()


def _u32(data: bytes, offset: int) -> int:
    return struct.unpack_from("<I", data, offset)[0]


def _u64(data: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", data, offset)[0]


@pytest.mark.parametrize("kind, dump_type", [("full", 1), ("kernel", 6), ("bitmap", 5), ("summary", 2), ("triage", 4)])
def test_x64_header_fields_at_documented_offsets(kind: str, dump_type: int) -> None:
    size = 256 * 1024 if kind == "triage" else 4 * MIB
    data = _dump(CrashDumpSpec(size_bytes=size, kind=kind, bugcheck_code=0xC000021A, bugcheck_parameters=PARAMS,
                               system_time=CRASH, processors=3, build=20348))
    assert len(data) == size
    assert data[0:8] == b"PAGEDU64"
    assert _u32(data, 0x08) == 0xF
    assert _u32(data, 0x0C) == 20348
    assert _u32(data, 0x30) == 0x8664
    assert _u32(data, 0x34) == 3
    assert _u32(data, 0x38) == 0xC000021A
    assert struct.unpack_from("<4Q", data, 0x40) == PARAMS
    assert _u32(data, 0xF98) == dump_type
    assert _u64(data, 0xFA0) == size  # RequiredDumpSpace
    filetime = _u64(data, 0xFA8)
    assert datetime(1601, 1, 1, tzinfo=UTC).timestamp() + filetime / 1e7 == CRASH.timestamp()
    assert _u32(data, 0xF00) == 0x80000003  # the exception record of KeBugCheckEx
    assert _u32(data, H64.CONTEXT_RECORD + 0x30) == 0x0010001F
    assert _u64(data, 0x10) % 0x1000 == 0  # DirectoryTableBase is a page address
    assert _u64(data, 0x20) >> 44 == 0xFFFFF  # PsLoadedModuleList in kernel space


def test_full_dump_pages_follow_the_physical_memory_runs() -> None:
    size = 8 * MIB
    data = _dump(CrashDumpSpec(size_bytes=size, kind="full"))
    runs_count, pages = _u32(data, H64.PHYSICAL_MEMORY_BLOCK), _u64(data, H64.PHYSICAL_MEMORY_BLOCK + 8)
    runs = [struct.unpack_from("<QQ", data, H64.PHYSICAL_MEMORY_BLOCK + 16 + 16 * i) for i in range(runs_count)]
    assert sum(count for _first_page, count in runs) == pages
    assert 0x2000 + pages * 0x1000 == size
    ordered = all(b1 + c1 <= b2 for (b1, c1), (b2, _c2) in zip(runs, runs[1:], strict=False))
    assert ordered, "runs overlap or are unordered"


@pytest.mark.parametrize("kind, signature", [("kernel", b"SDMP"), ("bitmap", b"FDMP")])
def test_bitmap_header_is_consistent_with_the_file(kind: str, signature: bytes) -> None:
    size = 16 * MIB
    data = _dump(CrashDumpSpec(size_bytes=size, kind=kind))
    base = 0x2000
    assert data[base:base + 8] == signature + b"DUMP"
    first_page, present, pages = struct.unpack_from("<QQQ", data, base + BMP.FIRST_PAGE)
    bitmap = data[base + BMP.BITMAP:base + BMP.BITMAP + pages // 8]
    assert first_page % 0x1000 == 0
    assert sum(bin(b).count("1") for b in bitmap) == present
    assert first_page + present * 0x1000 == size
    assert pages * 0x1000 >= size  # the machine had more RAM than the dump holds


def test_kernel_dump_of_an_old_build_is_a_summary_dump() -> None:
    data = _dump(CrashDumpSpec(size_bytes=4 * MIB, kind="kernel", build=7601))
    assert _u32(data, 0xF98) == DumpType.SUMMARY
    assert data[0x2000:0x2008] == b"SDMPDUMP"


def test_triage_dump_has_its_header_and_valid_marker() -> None:
    size = 192 * 1024
    data = _dump(CrashDumpSpec(size_bytes=size, kind="triage", bugcheck_code=0xC000021A))
    service_pack, size_of_dump, valid_offset, context, exception = struct.unpack_from("<5I", data, 0x2000)
    assert size_of_dump == size and valid_offset == size - 4
    assert data[valid_offset:valid_offset + 4] == b"TRGD"
    assert (context, exception) == (0x348, 0xF00)


def test_x86_full_dump_uses_the_32_bit_layout() -> None:
    size = 2 * MIB
    data = _dump(CrashDumpSpec(size_bytes=size, kind="full", machine="x86", bugcheck_code=0x7E,
                               bugcheck_parameters=(0xC0000005, 0x8123ABCD, 0x9ABCDEF0, 0x1)))
    assert data[0:8] == b"PAGEDUMP"
    assert _u32(data, H32.MACHINE_IMAGE_TYPE) == 0x14C
    assert _u32(data, H32.BUGCHECK_CODE) == 0x7E
    assert struct.unpack_from("<4I", data, H32.BUGCHECK_PARAMETERS) == (0xC0000005, 0x8123ABCD, 0x9ABCDEF0, 0x1)
    assert _u32(data, 0xF88) == DumpType.FULL
    assert _u64(data, 0xFA0) == size
    runs, pages = struct.unpack_from("<II", data, H32.PHYSICAL_MEMORY_BLOCK)
    assert 0x1000 + pages * 0x1000 == size and runs >= 1


def test_x86_triage_header_follows_the_4k_header() -> None:
    size = 64 * 1024
    data = _dump(CrashDumpSpec(size_bytes=size, kind="triage", machine="x86", bugcheck_code=0xC000021A))
    assert data[0:8] == b"PAGEDUMP" and _u32(data, 0xF88) == DumpType.TRIAGE
    assert struct.unpack_from("<3I", data, 0x1000)[1:] == (size, size - 4)
    assert data[-4:] == b"TRGD"


def test_x86_refuses_64_bit_parameters() -> None:
    with pytest.raises(ValueError):
        _dump(CrashDumpSpec(size_bytes=MIB, kind="full", machine="x86", bugcheck_parameters=PARAMS))


def test_content_is_deterministic_per_seed_and_compresses_like_memory() -> None:
    spec = CrashDumpSpec(size_bytes=4 * MIB, kind="full", seed=7)
    first, again = _dump(spec), _dump(spec)
    other = _dump(CrashDumpSpec(size_bytes=4 * MIB, kind="full", seed=8))
    assert first == again
    assert first[0x2000:] != other[0x2000:]
    ratio = len(zlib.compress(first, 1)) / len(first)
    assert 0.2 < ratio < 0.7, ratio
    pages = [first[o:o + 0x1000] for o in range(0x2000, len(first), 0x1000)]
    zero_pages = sum(1 for p in pages if not any(p))
    assert 0.2 < zero_pages / len(pages) < 0.5


def test_output_is_streamed_in_bounded_pieces() -> None:
    pieces = list(dumpgen.iter_crash_dump(CrashDumpSpec(size_bytes=24 * MIB, kind="kernel")))
    assert sum(len(p) for p in pieces) == 24 * MIB
    assert max(len(p) for p in pieces) <= MIB


def test_scenario_mapping() -> None:
    spec = dumpgen.spec_from_scenario({"size_mb": 16, "dump_type": "kernel", "bugcheck_code": "0xC000021A",
                                       "bugcheck_parameters": ["0xFFFFC00012345678", "0x1"],
                                       "system_time": "2026-11-20T03:14:15Z", "processors": 4}, os_build="17763")
    assert (spec.size_bytes, spec.kind, spec.bugcheck_code, spec.processors, spec.build) == \
        (16 * MIB, "kernel", 0xC000021A, 4, 17763)
    assert spec.bugcheck_parameters == (0xFFFFC00012345678, 1, 0, 0)
    assert spec.system_time == CRASH
    mini = dumpgen.minidump_spec_from_scenario({"name": "x.dmp", "size_kb": 256, "bugcheck_code": "0xEF"},
                                               system_time=CRASH)
    assert (mini.kind, mini.size_bytes, mini.bugcheck_code) == ("triage", 256 * 1024, 0xEF)


@pytest.mark.parametrize("name, build, dump_type, code, processors", [
    ("kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp", 19041, 4, 0x1000007E, 16),
    ("full_dump_header16k_x64_win10-19045_dumpit_nobugcheck.bin", 19045, 1, 0x5454414D, 4),
])
def test_offsets_match_the_real_samples(name: str, build: int, dump_type: int, code: int, processors: int) -> None:
    """The constants dumpgen writes with read the documented values out of real Windows dumps."""
    data = (REALDATA / name).read_bytes()[:0x3000]
    assert data[H64.SIGNATURE:H64.SIGNATURE + 4] == b"PAGE" and data[H64.VALID_DUMP:H64.VALID_DUMP + 4] == b"DU64"
    assert _u32(data, H64.MINOR_VERSION) == build
    assert _u32(data, H64.MACHINE_IMAGE_TYPE) == 0x8664
    assert _u32(data, H64.NUMBER_PROCESSORS) == processors
    assert _u32(data, H64.BUGCHECK_CODE) == code
    assert _u32(data, H64.DUMP_TYPE) == dump_type
    if dump_type == DumpType.FULL:
        pages = _u64(data, H64.PHYSICAL_MEMORY_BLOCK + 8)
        assert _u64(data, H64.REQUIRED_DUMP_SPACE) == 0x2000 + pages * 0x1000
    else:
        assert struct.unpack_from("<4Q", data, H64.BUGCHECK_PARAMETERS)[0] == 0xFFFFFFFFC0000005
        assert _u32(data, 0x2000 + 0x0C) == H64.CONTEXT_RECORD  # TRIAGE_DUMP64.ContextOffset
        assert _u32(data, 0x2000 + 0x10) == H64.EXCEPTION
