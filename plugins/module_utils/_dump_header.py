# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Headers of Windows crash dumps: kernel dumps (PAGEDU64 / PAGEDUMP) and user-mode minidumps (MDMP).

Only the header is read (at most 8 KiB plus the bitmap header for a kernel dump; the header,
stream directory and two small streams for a minidump), so a dump of any size parses in constant
memory. Layouts (DUMP_HEADER64, DUMP_HEADER32, the bitmap header at 0x2000, MINIDUMP_HEADER and its
streams) follow the public definitions (dbghelp's minidumpapiset.h, the dump headers published by
debugger and forensics projects) and were checked against the real samples in shared/realdata/.

The kdmp-parser package was tried and not used: it rejects triage dumps (DumpType 4, the files in
Windows\\Minidump) and prints to stdout. The minidump package was tried and not used: it reads
MINIDUMP_HEADER.TimeDateStamp from the wrong offset and parses the whole file (threads, memory, PEB)
where only the system-info and exception streams are needed.
"""

from __future__ import annotations

import datetime
import os
import struct
import typing as t

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import bugcheck_name, format_code, ntstatus_name


class DumpFormatError(ValueError):
    """The file is not a crash dump this parser understands, or is cut short or damaged."""


KERNEL64_HEADER_SIZE = 0x2000
KERNEL32_HEADER_SIZE = 0x1000
BITMAP_HEADER_OFFSET = 0x2000
BITMAP_HEADER_SIZE = 0x40
MINIDUMP_HEADER_SIZE = 32
_PAGE_SIZE = 0x1000

# Windows fills every header field it does not set with the bytes "PAGE".
_PAGE_FILL_32 = 0x45474150
_PAGE_FILL_64 = 0x4547415045474150

# DUMP_HEADER64 field offsets.
_H64_MAJOR = 0x08
_H64_MINOR = 0x0C
_H64_MACHINE = 0x30
_H64_PROCESSORS = 0x34
_H64_BUGCHECK = 0x38
_H64_PARAMETERS = 0x40
_H64_DUMP_TYPE = 0xF98
_H64_REQUIRED_SPACE = 0xFA0
_H64_SYSTEM_TIME = 0xFA8
_H64_PRODUCT_TYPE = 0x1040

# DUMP_HEADER32 field offsets.
_H32_MAJOR = 0x08
_H32_MINOR = 0x0C
_H32_MACHINE = 0x20
_H32_PROCESSORS = 0x24
_H32_BUGCHECK = 0x28
_H32_PARAMETERS = 0x2C
_H32_PAE = 0x5C
_H32_DUMP_TYPE = 0xF88
_H32_PRODUCT_TYPE = 0xF94
_H32_REQUIRED_SPACE = 0xFA0
_H32_SYSTEM_TIME = 0xFC0

# DumpType -> (short name, description). 5 and 6 carry a bitmap header at 0x2000.
DUMP_TYPES: dict[int, tuple[str, str]] = {
    1: ("full", "complete memory dump (physical memory runs)"),
    2: ("kernel", "kernel memory dump (summary format)"),
    3: ("header", "header only"),
    4: ("triage", "small memory dump (triage), as written to Windows\\Minidump"),
    5: ("bitmap", "bitmap memory dump"),
    6: ("bitmap", "bitmap memory dump"),
    7: ("automatic", "automatic memory dump"),
    8: ("kernel_memory", "kernel memory dump (.dump /k)"),
    9: ("kernel_and_user_memory", "kernel and user memory dump (.dump /ka)"),
    10: ("complete_memory", "complete memory dump (.dump /f)"),
}
_BITMAP_TYPES = (5, 6)
# A summary (kernel) dump carries the same 'SDMP' header at 0x2000.
_SUMMARY_TYPE = 2
# Dump types whose file holds all the data the header counts in RequiredDumpSpace.
_SIZED_TYPES = (1, 2, 5, 6)
_BITMAP_SIGNATURES = {b"SDMP": "kernel", b"FDMP": "full"}

MACHINE_TYPES: dict[int, str] = {0x014C: "x86", 0x8664: "x64", 0xAA64: "ARM64", 0x01C4: "ARM", 0x0200: "IA64"}
_PRODUCT_TYPES = {1: "workstation", 2: "domain_controller", 3: "server"}
_BUILD_KINDS = {0x0F: "free", 0x0C: "checked"}

# MINIDUMP_HEADER / streams.
_MDMP_VERSION = 0xA793
_MDMP_EXCEPTION_STREAM = 6
_MDMP_SYSTEM_INFO_STREAM = 7
_MDMP_SYSTEM_INFO_SIZE = 56
_MDMP_EXCEPTION_STREAM_SIZE = 168
_MDMP_MAX_STREAMS = 4096
_PROCESSOR_ARCHITECTURES = {0: "x86", 5: "ARM", 6: "IA64", 9: "x64", 12: "ARM64"}

_FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
# Dumps older than Windows NT or from the far future mean a damaged field, not a real date.
_PLAUSIBLE_YEARS = range(1993, 2200)


def _read_at(handle: t.BinaryIO, offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)


def _u32(data: bytes, offset: int) -> int:
    return struct.unpack_from("<I", data, offset)[0]


def _u64(data: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", data, offset)[0]


def _filetime(value: int) -> str | None:
    """A FILETIME as ISO 8601 UTC, or None when the field was never set or is implausible."""
    if value in (0, _PAGE_FILL_64):
        return None
    try:
        moment = _FILETIME_EPOCH + datetime.timedelta(microseconds=value // 10)
    except OverflowError:
        return None
    if moment.year not in _PLAUSIBLE_YEARS:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix_time(value: int) -> str | None:
    if value == 0:
        return None
    moment = datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ascii_marker(raw: bytes) -> str | None:
    """The text of a field that holds ASCII letters instead of a number, e.g. DumpIt's 'MATT'."""
    if len(raw) == 4 and all(0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A for b in raw):
        return raw.decode("ascii")
    return None


def _bugcheck_fields(code_raw: bytes, parameters: list[int]) -> dict[str, t.Any]:
    """The bugcheck part of the result, refusing to turn fill patterns or markers into a code."""
    code = struct.unpack("<I", code_raw)[0]
    reason = None
    if code == 0:
        reason = "the BugCheckCode field is 0: the dump does not record a stop error"
    elif code == _PAGE_FILL_32:
        reason = "the BugCheckCode field holds Windows' unset-field fill ('PAGE'): no stop error was recorded"
    else:
        marker = _ascii_marker(code_raw)
        if marker is not None:
            reason = (f"the BugCheckCode field holds the ASCII marker {marker!r} that live memory acquisition "
                      "tools (DumpIt-style) write: this is a memory capture, not a crash")
    if reason is not None:
        return {
            "bugcheck_recorded": False,
            "bugcheck_code": None,
            "bugcheck_name": None,
            "bugcheck_parameters": [],
            "no_bugcheck_reason": reason,
        }
    return {
        "bugcheck_recorded": True,
        "bugcheck_code": format_code(code),
        "bugcheck_name": bugcheck_name(code),
        "bugcheck_parameters": [format_code(p) for p in parameters],
        "no_bugcheck_reason": None,
    }


def _too_short(file_size: int, needed: int, what: str) -> DumpFormatError:
    return DumpFormatError(f"file is {file_size} bytes; {what} needs {needed}: the dump is cut short")


def _completeness(result: dict[str, t.Any], dump_type: int, required: int, file_size: int) -> None:
    result["required_dump_space"] = None if required in (0, _PAGE_FILL_64) else required
    complete = None
    if dump_type in _SIZED_TYPES and result["required_dump_space"] is not None:
        complete = file_size >= required
        if not complete:
            result["warnings"].append(
                f"file is {file_size} bytes but the header says the dump takes {required}: only the first "
                f"{file_size} bytes are here (a copy that stopped early, or a header-only sample)")
    result["complete"] = complete


def _kernel_common(kind_bits: int, major: int, minor: int, machine: int, processors: int, dump_type: int,
                   file_size: int) -> dict[str, t.Any]:
    if major not in _BUILD_KINDS:
        raise DumpFormatError(
            f"MajorVersion at 0x8 is 0x{major:X}; a Windows dump header has 0xF (free build) or 0xC (checked "
            "build): the header is damaged")
    if dump_type not in DUMP_TYPES:
        raise DumpFormatError(f"DumpType is 0x{dump_type:X}, which is no known dump type: the header is damaged")
    if machine not in MACHINE_TYPES:
        raise DumpFormatError(f"MachineImageType is 0x{machine:X}, which is no known machine: the header is damaged")
    name, description = DUMP_TYPES[dump_type]
    return {
        "format": "PAGEDU64" if kind_bits == 64 else "PAGEDUMP",
        "kind": "kernel",
        "pointer_bits": kind_bits,
        "dump_type": name,
        "dump_type_code": dump_type,
        "dump_type_description": description,
        "os_build": minor,
        "os_build_kind": _BUILD_KINDS[major],
        "machine": MACHINE_TYPES[machine],
        "machine_image_type": f"0x{machine:X}",
        "processors": processors,
        "file_size": file_size,
        "warnings": [],
    }


def _parse_kernel64(handle: t.BinaryIO, file_size: int) -> dict[str, t.Any]:
    if file_size < KERNEL64_HEADER_SIZE:
        raise _too_short(file_size, KERNEL64_HEADER_SIZE, "a 64-bit dump header")
    header = _read_at(handle, 0, KERNEL64_HEADER_SIZE)
    if len(header) < KERNEL64_HEADER_SIZE:
        raise _too_short(len(header), KERNEL64_HEADER_SIZE, "a 64-bit dump header")
    dump_type = _u32(header, _H64_DUMP_TYPE)
    result = _kernel_common(64, _u32(header, _H64_MAJOR), _u32(header, _H64_MINOR), _u32(header, _H64_MACHINE),
                            _u32(header, _H64_PROCESSORS), dump_type, file_size)
    parameters = list(struct.unpack_from("<4Q", header, _H64_PARAMETERS))
    result.update(_bugcheck_fields(header[_H64_BUGCHECK:_H64_BUGCHECK + 4], parameters))
    result["system_time"] = _filetime(_u64(header, _H64_SYSTEM_TIME))
    product = _u32(header, _H64_PRODUCT_TYPE)
    result["product_type"] = _PRODUCT_TYPES.get(product)
    _completeness(result, dump_type, _u64(header, _H64_REQUIRED_SPACE), file_size)
    result["bitmap"] = None
    if dump_type in _BITMAP_TYPES or (dump_type == _SUMMARY_TYPE and _bitmap_signature(handle, file_size)):
        bitmap = _parse_bitmap_header(handle, file_size)
        result["bitmap"] = bitmap
        if dump_type in _BITMAP_TYPES:
            result["dump_type"] = f"bitmap_{bitmap['scope']}"
            result["dump_type_description"] += f" of {bitmap['scope']} memory ({bitmap['signature']})"
        data_end = bitmap["first_page_offset"] + bitmap["present_pages"] * _PAGE_SIZE
        if data_end > file_size and result["complete"] is not False:
            result["complete"] = False
            result["warnings"].append(f"file is {file_size} bytes but its bitmap header places pages up to byte "
                                      f"{data_end}: the dump is cut short")
    return result


def _bitmap_signature(handle: t.BinaryIO, file_size: int) -> bool:
    if file_size < BITMAP_HEADER_OFFSET + 8:
        return False
    return _read_at(handle, BITMAP_HEADER_OFFSET, 4) in _BITMAP_SIGNATURES


def _parse_bitmap_header(handle: t.BinaryIO, file_size: int) -> dict[str, t.Any]:
    needed = BITMAP_HEADER_OFFSET + BITMAP_HEADER_SIZE
    if file_size < needed:
        raise _too_short(file_size, needed, "a bitmap dump (header plus the bitmap header at 0x2000)")
    raw = _read_at(handle, BITMAP_HEADER_OFFSET, BITMAP_HEADER_SIZE)
    signature, valid = raw[0:4], raw[4:8]
    if signature not in _BITMAP_SIGNATURES or valid != b"DUMP":
        raise DumpFormatError(
            f"a bitmap dump needs 'SDMP' or 'FDMP' followed by 'DUMP' at 0x2000; found {raw[0:8]!r}: "
            "the dump is damaged")
    first_page, present_pages, total_pages = struct.unpack_from("<3Q", raw, 0x20)
    if first_page < needed or first_page % _PAGE_SIZE:
        raise DumpFormatError(f"the bitmap header's first page offset 0x{first_page:X} is impossible: "
                              "the dump is damaged")
    if present_pages > total_pages:
        raise DumpFormatError(f"the bitmap header counts {present_pages} present pages out of {total_pages}: "
                              "the dump is damaged")
    return {
        "signature": signature.decode("ascii"),
        "scope": _BITMAP_SIGNATURES[signature],
        "first_page_offset": first_page,
        "present_pages": present_pages,
        "total_pages": total_pages,
    }


def _parse_kernel32(handle: t.BinaryIO, file_size: int) -> dict[str, t.Any]:
    if file_size < KERNEL32_HEADER_SIZE:
        raise _too_short(file_size, KERNEL32_HEADER_SIZE, "a 32-bit dump header")
    header = _read_at(handle, 0, KERNEL32_HEADER_SIZE)
    if len(header) < KERNEL32_HEADER_SIZE:
        raise _too_short(len(header), KERNEL32_HEADER_SIZE, "a 32-bit dump header")
    dump_type = _u32(header, _H32_DUMP_TYPE)
    result = _kernel_common(32, _u32(header, _H32_MAJOR), _u32(header, _H32_MINOR), _u32(header, _H32_MACHINE),
                            _u32(header, _H32_PROCESSORS), dump_type, file_size)
    parameters = list(struct.unpack_from("<4I", header, _H32_PARAMETERS))
    result.update(_bugcheck_fields(header[_H32_BUGCHECK:_H32_BUGCHECK + 4], parameters))
    result["system_time"] = _filetime(_u64(header, _H32_SYSTEM_TIME))
    result["product_type"] = _PRODUCT_TYPES.get(_u32(header, _H32_PRODUCT_TYPE))
    result["pae_enabled"] = bool(header[_H32_PAE]) if header[_H32_PAE] in (0, 1) else None
    _completeness(result, dump_type, _u64(header, _H32_REQUIRED_SPACE), file_size)
    # The 32-bit layout after the header is not interpreted here.
    result["bitmap"] = None
    return result


def _minidump_string(handle: t.BinaryIO, rva: int, file_size: int) -> str | None:
    if rva == 0 or rva + 4 > file_size:
        return None
    length = _u32(_read_at(handle, rva, 4), 0)
    if length % 2 or length > 1024 or rva + 4 + length > file_size:
        return None
    return _read_at(handle, rva + 4, length).decode("utf-16-le", errors="replace")


def _parse_minidump(handle: t.BinaryIO, file_size: int) -> dict[str, t.Any]:
    if file_size < MINIDUMP_HEADER_SIZE:
        raise _too_short(file_size, MINIDUMP_HEADER_SIZE, "a minidump header")
    header = _read_at(handle, 0, MINIDUMP_HEADER_SIZE)
    version, streams, directory_rva, _checksum, stamp = struct.unpack_from("<5I", header, 4)
    if version & 0xFFFF != _MDMP_VERSION:
        raise DumpFormatError(f"minidump version is 0x{version:08X}; a minidump's low word is 0x{_MDMP_VERSION:X}: "
                              "the header is damaged")
    if streams == 0 or streams > _MDMP_MAX_STREAMS:
        raise DumpFormatError(f"the minidump header counts {streams} streams: the header is damaged")
    directory_end = directory_rva + streams * 12
    if directory_rva < MINIDUMP_HEADER_SIZE or directory_end > file_size:
        raise DumpFormatError(
            f"the stream directory ({streams} entries at 0x{directory_rva:X}) runs past the end of the "
            f"{file_size}-byte file: the dump is cut short or damaged")
    directory = _read_at(handle, directory_rva, streams * 12)
    located: dict[int, tuple[int, int]] = {}
    for index in range(streams):
        stream_type, size, rva = struct.unpack_from("<3I", directory, index * 12)
        if stream_type in (_MDMP_EXCEPTION_STREAM, _MDMP_SYSTEM_INFO_STREAM) and stream_type not in located:
            if rva + size > file_size:
                raise DumpFormatError(
                    f"stream {stream_type} ({size} bytes at 0x{rva:X}) runs past the end of the {file_size}-byte "
                    "file: the dump is cut short")
            located[stream_type] = (rva, size)

    result: dict[str, t.Any] = {
        "format": "MDMP",
        "kind": "user",
        "dump_type": "user_minidump",
        "dump_type_code": None,
        "dump_type_description": "user-mode minidump (MiniDumpWriteDump) of one process",
        "minidump_version": f"0x{version:08X}",
        "stream_count": streams,
        "system_time": _unix_time(stamp),
        "file_size": file_size,
        "complete": None,
        "required_dump_space": None,
        "warnings": [],
        "bitmap": None,
        "bugcheck_recorded": False,
        "bugcheck_code": None,
        "bugcheck_name": None,
        "bugcheck_parameters": [],
        "no_bugcheck_reason": "a user-mode minidump records one process's exception, not a stop error",
        "machine": None,
        "processors": None,
        "os_version": None,
        "os_build": None,
        "service_pack": None,
        "exception": None,
    }
    if _MDMP_SYSTEM_INFO_STREAM in located:
        rva, size = located[_MDMP_SYSTEM_INFO_STREAM]
        if size < _MDMP_SYSTEM_INFO_SIZE:
            raise DumpFormatError(f"the system info stream is {size} bytes; it needs {_MDMP_SYSTEM_INFO_SIZE}")
        info = _read_at(handle, rva, _MDMP_SYSTEM_INFO_SIZE)
        arch, _level, _revision, processors, _product = struct.unpack_from("<3H2B", info, 0)
        major, minor, build, _platform, csd_rva = struct.unpack_from("<5I", info, 8)
        result.update({
            "machine": _PROCESSOR_ARCHITECTURES.get(arch, f"unknown (0x{arch:X})"),
            "processors": processors,
            "os_version": f"{major}.{minor}.{build}",
            "os_build": build,
            "service_pack": _minidump_string(handle, csd_rva, file_size) or None,
        })
    if _MDMP_EXCEPTION_STREAM in located:
        rva, size = located[_MDMP_EXCEPTION_STREAM]
        if size < _MDMP_EXCEPTION_STREAM_SIZE:
            raise DumpFormatError(f"the exception stream is {size} bytes; it needs {_MDMP_EXCEPTION_STREAM_SIZE}")
        raw = _read_at(handle, rva, 32)
        thread_id, _align, code, flags, _record, address = struct.unpack_from("<4I2Q", raw, 0)
        result["exception"] = {
            "thread_id": thread_id,
            "code": format_code(code),
            "name": ntstatus_name(code),
            "flags": f"0x{flags:X}",
            "address": format_code(address),
        }
    return result


def parse_dump_stream(handle: t.BinaryIO, file_size: int) -> dict[str, t.Any]:
    """Parse the header of an open dump file whose size is ``file_size``.

    Raises DumpFormatError naming what is wrong when the file is not a dump, is cut short or its
    header is damaged.
    """
    if file_size < 8:
        raise DumpFormatError(f"file is {file_size} bytes; the smallest dump signature needs 8: "
                              "this is not a crash dump")
    magic = _read_at(handle, 0, 8)
    if magic == b"PAGEDU64":
        return _parse_kernel64(handle, file_size)
    if magic == b"PAGEDUMP":
        return _parse_kernel32(handle, file_size)
    if magic[:4] == b"MDMP":
        return _parse_minidump(handle, file_size)
    if magic[:4] == b"PAGE":
        raise DumpFormatError(f"the file starts with 'PAGE' but then {magic[4:8]!r}; a kernel dump has 'DU64' "
                              "(64-bit) or 'DUMP' (32-bit) there: the header is damaged")
    raise DumpFormatError(f"the file starts with {magic!r}; a Windows crash dump starts with 'PAGEDU64', "
                          "'PAGEDUMP' or 'MDMP': this is not a crash dump")


def parse_dump_header(path: str | os.PathLike) -> dict[str, t.Any]:
    """Parse the header of the dump file at ``path`` (see parse_dump_stream)."""
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise DumpFormatError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        return parse_dump_stream(handle, size)
