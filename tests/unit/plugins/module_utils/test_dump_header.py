"""Crash dump header parsing: the real samples in shared/realdata/dumps and headers built here."""
from __future__ import annotations

import datetime
import io
import struct
from pathlib import Path

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_header import (
    DumpFormatError,
    parse_dump_header,
    parse_dump_stream,
)

# shared/ sits beside the repository (locally and in CI).
REALDATA = Path(__file__).resolve().parents[5] / "shared" / "realdata" / "dumps"


# --- a small header builder of our own (independent of the emulator's dumpgen) ---------------

def _filetime(iso: str) -> int:
    moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    delta = moment - datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 10_000_000


def header64(*, code: int | bytes = 0xC000021A, params=(0, 0, 0, 0), dump_type: int = 1, build: int = 20348,
             machine: int = 0x8664, processors: int = 2, major: int = 0xF, required: int | None = None,
             time: str = "2026-11-20T03:14:15Z", total_size: int = 0x3000) -> bytearray:
    """A DUMP_HEADER64 (0x2000 bytes, 'PAGE'-filled like Windows) followed by zeros up to total_size."""
    data = bytearray(b"PAGE" * (total_size // 4))
    struct.pack_into("<8sII", data, 0, b"PAGEDU64", major, build)
    struct.pack_into("<II", data, 0x30, machine, processors)
    if isinstance(code, bytes):
        data[0x38:0x3C] = code
    else:
        struct.pack_into("<I", data, 0x38, code)
    struct.pack_into("<4Q", data, 0x40, *params)
    struct.pack_into("<I", data, 0xF98, dump_type)
    struct.pack_into("<QQ", data, 0xFA0, total_size if required is None else required, _filetime(time))
    data[0x2000:] = bytes(len(data) - 0x2000)
    return data


def with_bitmap(data: bytearray, signature: bytes = b"SDMP", first_page: int = 0x3000, present: int = 1,
                total: int = 64) -> bytearray:
    struct.pack_into("<4s4s", data, 0x2000, signature, b"DUMP")
    struct.pack_into("<3Q", data, 0x2020, first_page, present, total)
    return data


def header32(*, code: int = 0xC000021A, params=(0, 0, 0, 0), dump_type: int = 1, build: int = 2600,
             processors: int = 1, time: str = "2008-04-14T12:00:00Z", total_size: int = 0x2000) -> bytearray:
    data = bytearray(b"PAGE" * (total_size // 4))
    struct.pack_into("<8sII", data, 0, b"PAGEDUMP", 0xF, build)
    struct.pack_into("<III4I", data, 0x20, 0x14C, processors, code, *params)
    data[0x5C] = 1
    struct.pack_into("<I", data, 0xF88, dump_type)
    struct.pack_into("<Q", data, 0xFA0, total_size)
    struct.pack_into("<Q", data, 0xFC0, _filetime(time))
    return data


def minidump(*, streams: list[tuple[int, bytes]], stamp: int = 1_700_000_000, version: int = 0x0000A793,
             count: int | None = None) -> bytes:
    """MINIDUMP_HEADER, a stream directory right after it, then the streams' data."""
    directory_rva = 32
    data_rva = directory_rva + 12 * len(streams)
    directory, body = b"", b""
    for stream_type, payload in streams:
        directory += struct.pack("<3I", stream_type, len(payload), data_rva + len(body))
        body += payload
    header = struct.pack("<4s5IQ", b"MDMP", version, len(streams) if count is None else count, directory_rva, 0,
                         stamp, 0)
    return header + directory + body


def system_info_stream(arch: int = 9, major: int = 10, minor: int = 0, build: int = 20348, cpus: int = 4) -> bytes:
    return struct.pack("<3H2B5I2H", arch, 6, 0, cpus, 3, major, minor, build, 2, 0, 0, 0) + bytes(24)


def exception_stream(code: int, address: int, thread: int = 42) -> bytes:
    return struct.pack("<2I2I2Q2I", thread, 0, code, 0, 0, address, 0, 0) + bytes(15 * 8) + bytes(8)


def parse_bytes(data: bytes) -> dict:
    return parse_dump_stream(io.BytesIO(bytes(data)), len(data))


# --- the real samples ------------------------------------------------------------------------

REAL_KERNEL = [
    ("kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp", {
        "format": "PAGEDU64", "dump_type": "triage", "dump_type_code": 4, "os_build": 19041, "machine": "x64",
        "machine_image_type": "0x8664", "processors": 16, "bugcheck_recorded": True, "bugcheck_code": "0x1000007E",
        "bugcheck_name": "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M",
        "bugcheck_parameters": ["0xFFFFFFFFC0000005", "0xFFFFF8048B58334C", "0xFFFF850429891EE8",
                                "0xFFFF850429891720"],
        "system_time": "2021-02-21T01:38:22Z", "file_size": 1444532}),
    ("kernel_triage_arm64_win11-22000_bugcheck_1C8.dmp", {
        "format": "PAGEDU64", "dump_type": "triage", "dump_type_code": 4, "os_build": 22000, "machine": "ARM64",
        "machine_image_type": "0xAA64", "processors": 8, "bugcheck_recorded": True, "bugcheck_code": "0x1C8",
        "bugcheck_name": "MANUALLY_INITIATED_POWER_BUTTON_HOLD",
        "bugcheck_parameters": ["0x1B58", "0xFFFFF803F3A20860", "0x0", "0x0"],
        "system_time": "2021-09-14T02:51:58Z", "file_size": 1216428}),
    ("full_dump_header16k_x64_win10-19045_dumpit_nobugcheck.bin", {
        "format": "PAGEDU64", "dump_type": "full", "dump_type_code": 1, "os_build": 19045, "machine": "x64",
        "processors": 4, "bugcheck_recorded": False, "bugcheck_code": None, "bugcheck_name": None,
        "bugcheck_parameters": [], "required_dump_space": 2145943552, "system_time": "2024-10-12T12:57:59Z",
        "file_size": 16384, "complete": False}),
]


@pytest.mark.parametrize(("name", "expected"), REAL_KERNEL, ids=[case[0] for case in REAL_KERNEL])
def test_real_kernel_dump_headers(name, expected):
    parsed = parse_dump_header(REALDATA / name)
    assert {key: parsed[key] for key in expected} == expected


def test_dumpit_capture_reports_no_bugcheck_and_why():
    parsed = parse_dump_header(REALDATA / "full_dump_header16k_x64_win10-19045_dumpit_nobugcheck.bin")
    assert "MATT" in parsed["no_bugcheck_reason"]
    assert "not a crash" in parsed["no_bugcheck_reason"]
    # Header-only sample: the header is valid, the body is missing, and the parser says so.
    assert any("2145943552" in w for w in parsed["warnings"])


REAL_MINIDUMPS = [
    ("usermode_mdmp_calc_win7sp1_x64.dmp", {
        "format": "MDMP", "kind": "user", "minidump_version": "0xA0F1A793", "stream_count": 13,
        "system_time": "2016-10-29T12:43:47Z", "machine": "x64", "os_version": "6.1.7601", "os_build": 7601,
        "service_pack": "Service Pack 1", "bugcheck_recorded": False, "bugcheck_code": None}),
    ("usermode_mdmp_winxp_x86.dmp", {
        "format": "MDMP", "kind": "user", "minidump_version": "0x5128A793", "stream_count": 9,
        "system_time": "2007-02-14T19:13:55Z", "machine": "x86", "os_version": "5.1.2600", "os_build": 2600,
        "bugcheck_recorded": False}),
]


@pytest.mark.parametrize(("name", "expected"), REAL_MINIDUMPS, ids=[case[0] for case in REAL_MINIDUMPS])
def test_real_user_minidumps(name, expected):
    parsed = parse_dump_header(REALDATA / name)
    assert {key: parsed[key] for key in expected} == expected


@pytest.mark.parametrize(("name", "code", "status"), [
    ("usermode_mdmp_calc_win7sp1_x64.dmp", "0x80000003", "STATUS_BREAKPOINT"),
    ("usermode_mdmp_winxp_x86.dmp", "0xC0000005", "STATUS_ACCESS_VIOLATION"),
])
def test_real_minidump_exception_streams(name, code, status):
    exception = parse_dump_header(REALDATA / name)["exception"]
    assert (exception["code"], exception["name"]) == (code, status)


# --- generated headers -----------------------------------------------------------------------

def test_generated_full_dump_with_c000021a():
    params = (0xFFFFC00012345678, 0xFFFFFFFFC0000005, 0, 0)
    parsed = parse_bytes(header64(params=params, build=20348, processors=2))
    assert parsed["bugcheck_code"] == "0xC000021A"
    assert parsed["bugcheck_name"] == "STATUS_SYSTEM_PROCESS_TERMINATED"
    assert parsed["bugcheck_parameters"] == ["0xFFFFC00012345678", "0xFFFFFFFFC0000005", "0x0", "0x0"]
    assert (parsed["os_build"], parsed["processors"], parsed["dump_type"]) == (20348, 2, "full")
    assert parsed["system_time"] == "2026-11-20T03:14:15Z"
    assert parsed["complete"] is True and parsed["warnings"] == []


@pytest.mark.parametrize(("signature", "dump_type", "name"), [
    (b"SDMP", 6, "bitmap_kernel"), (b"FDMP", 5, "bitmap_full"), (b"SDMP", 5, "bitmap_kernel")])
def test_generated_bitmap_dumps(signature, dump_type, name):
    parsed = parse_bytes(with_bitmap(header64(dump_type=dump_type, total_size=0x4000), signature, present=1))
    assert parsed["dump_type"] == name
    assert parsed["bitmap"]["signature"] == signature.decode()
    assert parsed["bitmap"]["first_page_offset"] == 0x3000


def test_summary_dump_reads_its_bitmap_header():
    parsed = parse_bytes(with_bitmap(header64(dump_type=2, total_size=0x4000), b"SDMP"))
    assert parsed["dump_type"] == "kernel"
    assert parsed["bitmap"]["scope"] == "kernel"


def test_bitmap_pages_past_the_end_mark_the_dump_incomplete():
    data = with_bitmap(header64(dump_type=6, total_size=0x4000, required=0x4000), present=5)
    parsed = parse_bytes(data)
    assert parsed["complete"] is False
    assert any("cut short" in w for w in parsed["warnings"])


def test_generated_32bit_dump():
    parsed = parse_bytes(header32(params=(0xE1234567, 0xC0000142, 0, 0)))
    assert parsed["format"] == "PAGEDUMP" and parsed["pointer_bits"] == 32
    assert parsed["bugcheck_code"] == "0xC000021A"
    assert parsed["bugcheck_parameters"] == ["0xE1234567", "0xC0000142", "0x0", "0x0"]
    assert parsed["system_time"] == "2008-04-14T12:00:00Z"
    assert (parsed["machine"], parsed["os_build"], parsed["pae_enabled"]) == ("x86", 2600, True)


@pytest.mark.parametrize(("code", "reason"), [
    (0, "is 0"), (b"PAGE", "fill"), (b"MOON", "'MOON'")])
def test_fields_that_hold_no_stop_code_are_not_turned_into_one(code, reason):
    parsed = parse_bytes(header64(code=code))
    assert parsed["bugcheck_recorded"] is False
    assert parsed["bugcheck_code"] is None and parsed["bugcheck_parameters"] == []
    assert reason in parsed["no_bugcheck_reason"]


def test_unknown_code_keeps_its_value_without_a_name():
    parsed = parse_bytes(header64(code=0x12345))
    assert (parsed["bugcheck_code"], parsed["bugcheck_name"]) == ("0x12345", None)


def test_unset_system_time_is_none():
    data = header64()
    struct.pack_into("<Q", data, 0xFA8, 0x4547415045474150)
    assert parse_bytes(data)["system_time"] is None


def test_generated_minidump():
    data = minidump(streams=[(3, bytes(16)), (7, system_info_stream(build=17763)),
                             (6, exception_stream(0xC0000409, 0x7FF612340000))])
    parsed = parse_bytes(data)
    assert (parsed["os_version"], parsed["machine"], parsed["processors"]) == ("10.0.17763", "x64", 4)
    assert parsed["exception"]["code"] == "0xC0000409"
    assert parsed["exception"]["name"] == "STATUS_STACK_BUFFER_OVERRUN"
    assert parsed["exception"]["address"] == "0x7FF612340000"
    assert parsed["system_time"] == "2023-11-14T22:13:20Z"


# --- truncated and damaged files: a clear error, never an answer ------------------------------

def test_64bit_header_cut_short_names_sizes():
    with pytest.raises(DumpFormatError, match=r"file is 812 bytes; a 64-bit dump header needs 8192"):
        parse_bytes(header64()[:812])


def test_real_triage_dump_cut_inside_its_header(tmp_path):
    cut = tmp_path / "cut.dmp"
    cut.write_bytes((REALDATA / "kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp").read_bytes()[:5000])
    with pytest.raises(DumpFormatError, match="file is 5000 bytes; a 64-bit dump header needs 8192"):
        parse_dump_header(cut)


def test_32bit_header_cut_short():
    with pytest.raises(DumpFormatError, match="file is 4000 bytes; a 32-bit dump header needs 4096"):
        parse_bytes(header32()[:4000])


def test_bitmap_dump_without_its_bitmap_header():
    with pytest.raises(DumpFormatError, match="bitmap"):
        parse_bytes(header64(dump_type=5, total_size=0x2000))
    with pytest.raises(DumpFormatError, match="'SDMP' or 'FDMP'"):
        parse_bytes(header64(dump_type=5, total_size=0x3000))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.__setitem__(slice(4, 8), b"XXXX"), "starts with 'PAGE' but then"),
    (lambda d: struct.pack_into("<I", d, 0xF98, 0x45474150), "no known dump type"),
    (lambda d: struct.pack_into("<I", d, 0x8, 7), "MajorVersion"),
    (lambda d: struct.pack_into("<I", d, 0x30, 0x1234), "no known machine"),
])
def test_damaged_64bit_headers(change, message):
    data = header64()
    change(data)
    with pytest.raises(DumpFormatError, match=message):
        parse_bytes(data)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "file is 0 bytes"),
    (b"MZ\x90\x00" + bytes(200), "not a crash dump"),
    (b"PK\x03\x04" + bytes(5000), "not a crash dump"),
])
def test_files_that_are_not_dumps(data, message):
    with pytest.raises(DumpFormatError, match=message):
        parse_bytes(data)


def test_minidump_with_directory_past_the_end():
    data = minidump(streams=[(7, system_info_stream())], count=50)
    with pytest.raises(DumpFormatError, match="runs past the end"):
        parse_bytes(data)


def test_minidump_with_stream_past_the_end():
    data = minidump(streams=[(7, system_info_stream())])
    with pytest.raises(DumpFormatError, match="cut short"):
        parse_bytes(data[:-10])


def test_minidump_with_wrong_version():
    with pytest.raises(DumpFormatError, match="version"):
        parse_bytes(minidump(streams=[(7, system_info_stream())], version=0x1234))


def test_missing_file_is_a_dump_format_error(tmp_path):
    with pytest.raises(DumpFormatError, match="cannot read"):
        parse_dump_header(tmp_path / "absent.dmp")
