# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of stop codes and NTSTATUS values, and what a stop code's parameters say.

Sources: Microsoft's bug check code reference (learn.microsoft.com, "Bug Check Code Reference"
and the per-code pages), the NTSTATUS values of ntstatus.h, and Microsoft's article on stop error
0xC000021A for Azure VMs (shared/seed/). Only codes checked against those sources are listed;
an unknown code is reported as unknown, never guessed.
"""

from __future__ import annotations

import typing as t

# Stop (bug check) codes -> the name the bug check reference gives them.
BUGCHECK_NAMES: dict[int, str] = {
    0x0000000A: "IRQL_NOT_LESS_OR_EQUAL",
    0x00000019: "BAD_POOL_HEADER",
    0x0000001A: "MEMORY_MANAGEMENT",
    0x0000001E: "KMODE_EXCEPTION_NOT_HANDLED",
    0x00000024: "NTFS_FILE_SYSTEM",
    0x00000032: "PHASE1_INITIALIZATION_FAILED",
    0x0000003B: "SYSTEM_SERVICE_EXCEPTION",
    0x00000050: "PAGE_FAULT_IN_NONPAGED_AREA",
    0x0000006E: "SESSION2_INITIALIZATION_FAILED",
    0x00000074: "BAD_SYSTEM_CONFIG_INFO",
    0x0000007B: "INACCESSIBLE_BOOT_DEVICE",
    0x0000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x0000007F: "UNEXPECTED_KERNEL_MODE_TRAP",
    0x00000080: "NMI_HARDWARE_FAILURE",
    0x0000009F: "DRIVER_POWER_STATE_FAILURE",
    0x000000C2: "BAD_POOL_CALLER",
    0x000000D1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    0x000000E2: "MANUALLY_INITIATED_CRASH",
    0x000000ED: "UNMOUNTABLE_BOOT_VOLUME",
    0x000000EF: "CRITICAL_PROCESS_DIED",
    0x000000F4: "CRITICAL_OBJECT_TERMINATION",
    0x00000101: "CLOCK_WATCHDOG_TIMEOUT",
    0x00000109: "CRITICAL_STRUCTURE_CORRUPTION",
    0x00000116: "VIDEO_TDR_FAILURE",
    0x00000124: "WHEA_UNCORRECTABLE_ERROR",
    0x00000133: "DPC_WATCHDOG_VIOLATION",
    0x00000139: "KERNEL_SECURITY_CHECK_FAILURE",
    0x00000154: "UNEXPECTED_STORE_EXCEPTION",
    0x00000161: "LIVE_SYSTEM_DUMP",
    0x000001C8: "MANUALLY_INITIATED_POWER_BUTTON_HOLD",
    0x1000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M",
    0x1000008E: "KERNEL_MODE_EXCEPTION_NOT_HANDLED_M",
    0xC000021A: "STATUS_SYSTEM_PROCESS_TERMINATED",
    0xC0000218: "STATUS_CANNOT_LOAD_REGISTRY_FILE",
    0xC0000221: "STATUS_IMAGE_CHECKSUM_MISMATCH",
    0xC00002E2: "STATUS_DS_INIT_FAILURE",
    0xDEADDEAD: "MANUALLY_INITIATED_CRASH1",
}

# Names the debugger (!analyze) prints where they differ from the ones above.
DEBUGGER_NAMES: dict[int, str] = {
    0xC000021A: "WINLOGON_FATAL_ERROR",
}

# One line on what each stop code means (Microsoft's reference pages, shortened).
BUGCHECK_SUMMARIES: dict[int, str] = {
    0x00000074: "an error in the registry (typically the SYSTEM hive) stopped Windows from starting",
    0x0000007B: "Windows lost access to the system partition while starting",
    0x0000007E: "a system thread raised an exception that no handler caught",
    0x00000080: "a hardware non-maskable interrupt (NMI); on Azure usually the NMI sent from the serial "
                "console to force a crash dump",
    0x000000D1: "a kernel-mode driver touched pageable or invalid memory at a raised IRQL",
    0x000000E2: "a crash started on purpose (keyboard or debugger) to capture a dump",
    0x000000EF: "a process critical to Windows ended",
    0x000000F4: "a process or thread critical to Windows ended",
    0x000001C8: "a crash started on purpose by holding the power button, to capture a dump",
    0x1000007E: "a system thread raised an exception that no handler caught (same as 0x7E)",
    0xC000021A: "a critical user-mode process (winlogon.exe or csrss.exe) ended, so Windows stopped",
    0xC00002E2: "Active Directory Domain Services could not start on a domain controller",
    0xDEADDEAD: "a crash started on purpose (debugger or NotMyFault) to capture a dump",
}

# NTSTATUS values that show up as the status of a crashed critical process, or as the exception
# code of 0x7E / 0x1000007E (values from ntstatus.h).
NTSTATUS_NAMES: dict[int, str] = {
    0x80000003: "STATUS_BREAKPOINT",
    0xC0000001: "STATUS_UNSUCCESSFUL",
    0xC0000005: "STATUS_ACCESS_VIOLATION",
    0xC0000006: "STATUS_IN_PAGE_ERROR",
    0xC0000017: "STATUS_NO_MEMORY",
    0xC000001D: "STATUS_ILLEGAL_INSTRUCTION",
    0xC0000022: "STATUS_ACCESS_DENIED",
    0xC0000034: "STATUS_OBJECT_NAME_NOT_FOUND",
    0xC000003A: "STATUS_OBJECT_PATH_NOT_FOUND",
    0xC000007B: "STATUS_INVALID_IMAGE_FORMAT",
    0xC000009A: "STATUS_INSUFFICIENT_RESOURCES",
    0xC00000FD: "STATUS_STACK_OVERFLOW",
    0xC0000102: "STATUS_FILE_CORRUPT_ERROR",
    0xC0000135: "STATUS_DLL_NOT_FOUND",
    0xC0000139: "STATUS_ENTRYPOINT_NOT_FOUND",
    0xC0000142: "STATUS_DLL_INIT_FAILED",
    0xC0000143: "STATUS_MISSING_SYSTEMFILE",
    0xC000014C: "STATUS_REGISTRY_CORRUPT",
    0xC000014D: "STATUS_REGISTRY_IO_FAILED",
    0xC0000218: "STATUS_CANNOT_LOAD_REGISTRY_FILE",
    0xC000021A: "STATUS_SYSTEM_PROCESS_TERMINATED",
    0xC0000221: "STATUS_IMAGE_CHECKSUM_MISMATCH",
    0xC00002C4: "STATUS_CORRUPT_SYSTEM_FILE",
    0xC00002E2: "STATUS_DS_INIT_FAILURE",
    0xC0000374: "STATUS_HEAP_CORRUPTION",
    0xC0000409: "STATUS_STACK_BUFFER_OVERRUN",
    0xC0000420: "STATUS_ASSERTION_FAILURE",
    0xC0000428: "STATUS_INVALID_IMAGE_HASH",
}

# What a status usually means when winlogon.exe or csrss.exe died with it (stop 0xC000021A).
# Microsoft's article names the usual causes: mismatched system files, a failed service pack or
# KB update, a backup program that restored files that were in use, an incompatible third-party
# program. Each line ties the status to those causes; it is a lead for the engineer, not a verdict.
_C21A_STATUS_MEANINGS: dict[int, str] = {
    0xC0000005: "the process crashed on an invalid memory access; most often third-party code loaded into "
                "winlogon.exe or csrss.exe (a credential provider, GINA, hook or security agent DLL) or a "
                "damaged system DLL: look at recently installed programs and updates",
    0xC0000006: "the process could not read its code or data from disk: look for disk or file-system damage "
                "on the OS disk (chkdsk on the copy attached to the repair VM)",
    0xC0000017: "the process ran out of memory while starting",
    0xC000009A: "the process ran out of a system resource while starting",
    0xC0000022: "the process was denied access to a file or registry key it needs: permissions on system "
                "files or keys were changed",
    0xC0000034: "a file or registry value the process needs is missing: typical of an interrupted update or "
                "of a restore that skipped system files that were in use",
    0xC000003A: "a folder or registry path the process needs is missing: typical of an interrupted update "
                "or of a restore that skipped system files that were in use",
    0xC000007B: "a system binary is damaged or of the wrong architecture: mismatched system files",
    0xC0000102: "a system file is corrupt on disk",
    0xC0000135: "a DLL the process imports is missing: mismatched or deleted system files",
    0xC0000139: "a DLL lacks a function the process imports: the classic sign of mismatched system file "
                "versions after a failed or partial update",
    0xC0000142: "a DLL the process loads failed to initialize: usually mismatched system files after a "
                "failed update, or an incompatible third-party DLL",
    0xC0000143: "a system file is missing",
    0xC000014C: "a registry hive is corrupt",
    0xC000014D: "a registry hive could not be read or written",
    0xC0000218: "a registry hive could not be loaded: damaged or missing hive file",
    0xC0000221: "a system binary failed its checksum: a damaged or replaced system file",
    0xC00002C4: "a system file is corrupt",
    0xC0000374: "the process detected heap corruption and stopped itself: usually faulty code running in the "
                "process (often third-party)",
    0xC0000409: "the process detected a stack buffer overrun and stopped itself: usually faulty code running "
                "in the process (often third-party)",
    0xC0000428: "code integrity rejected a file's signature: a replaced or modified system file, or an "
                "unsigned third-party module loaded into the process",
}

_C21A_CAUSES = (
    "mismatched system files",
    "a service pack or KB update that failed to install",
    "a backup program that restored files that were in use",
    "an incompatible third-party program",
)


def parse_code(value: int | str) -> int:
    """A code given as an int, "0xC000021A", "C000021A" or '"0x80"' (as the SAC prints it)."""
    if isinstance(value, bool):
        raise ValueError("a code cannot be a boolean")
    if isinstance(value, int):
        code = value
    else:
        text = str(value).strip().strip('"').strip()
        if not text:
            raise ValueError("empty code")
        try:
            code = int(text, 16)
        except ValueError:
            raise ValueError(f"{value!r} is not a hexadecimal code") from None
    if code < 0 or code > 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"{value!r} is out of range for a code")
    return code


def format_code(code: int) -> str:
    """The collection's spelling of a code: 0x prefix, upper-case hex digits, no padding."""
    return f"0x{code:X}"


def status_from_parameter(value: int) -> int:
    """An NTSTATUS carried in a 64-bit parameter: Windows sign-extends it (0xFFFFFFFFC0000005)."""
    high = value >> 32
    if high in (0, 0xFFFFFFFF):
        return value & 0xFFFFFFFF
    return value


def bugcheck_name(code: int | str) -> str | None:
    """The reference name of a stop code, or None when it is not in the table."""
    return BUGCHECK_NAMES.get(parse_code(code))


def ntstatus_name(code: int | str) -> str | None:
    """The ntstatus.h name of a status code, or None when it is not in the table."""
    return NTSTATUS_NAMES.get(status_from_parameter(parse_code(code)))


def _is_error_status(status: int) -> bool:
    # NTSTATUS severity bits 31-30: 11 = error, 10 = warning.
    return status <= 0xFFFFFFFF and (status >> 30) in (0b10, 0b11)


def _status_entry(value: int) -> dict[str, t.Any]:
    status = status_from_parameter(value)
    return {"code": format_code(status), "name": NTSTATUS_NAMES.get(status)}


def _interpret_c000021a(parameters: list[int]) -> tuple[list[dict[str, t.Any]], dict[str, t.Any]]:
    described: list[dict[str, t.Any]] = []
    extra: dict[str, t.Any] = {"usual_causes": list(_C21A_CAUSES)}
    param1 = parameters[0] if parameters else None
    param2 = parameters[1] if len(parameters) > 1 else None
    if param1 is not None:
        described.append({
            "index": 1, "value": format_code(param1),
            "meaning": "address, in the crashed system's memory, of a string naming the process or problem "
                       "(for example 'Windows SubSystem' for csrss.exe or 'Windows Logon Process' for "
                       "winlogon.exe); read it from the dump with a debugger (da / du on this address)",
        })
    if param2 is not None:
        status = status_from_parameter(param2)
        entry: dict[str, t.Any] = {"index": 2, "value": format_code(param2)}
        if _is_error_status(status):
            entry["meaning"] = "the status the process ended with"
            entry["status"] = _status_entry(param2)
            extra["process_status"] = _status_entry(param2)
            extra["process_status"]["meaning"] = _C21A_STATUS_MEANINGS.get(status)
        else:
            entry["meaning"] = ("documented as the status the process ended with, but this value is not an "
                                "NTSTATUS error code; old Windows versions placed the status elsewhere")
        described.append(entry)
    for index, value in enumerate(parameters[2:4], start=3):
        described.append({"index": index, "value": format_code(value), "meaning": "reserved"})
    return described, extra


def _interpret_exception_code(parameters: list[int]) -> tuple[list[dict[str, t.Any]], dict[str, t.Any]]:
    meanings = ("the exception code that was not handled", "the address where the exception occurred",
                "the address of the exception record", "the address of the context record")
    described = []
    for index, value in enumerate(parameters[:4], start=1):
        entry: dict[str, t.Any] = {"index": index, "value": format_code(value), "meaning": meanings[index - 1]}
        if index == 1:
            entry["status"] = _status_entry(value)
        described.append(entry)
    extra = {"exception": _status_entry(parameters[0])} if parameters else {}
    return described, extra


def _interpret_listed(meanings: tuple[str, ...]) -> t.Callable[[list[int]], tuple[list[dict[str, t.Any]], dict]]:
    def interpret(parameters: list[int]) -> tuple[list[dict[str, t.Any]], dict]:
        return [
            {"index": index, "value": format_code(value), "meaning": meanings[index - 1]}
            for index, value in enumerate(parameters[:4], start=1)
        ], {}
    return interpret


_PARAMETER_INTERPRETERS: dict[int, t.Callable[[list[int]], tuple[list[dict[str, t.Any]], dict]]] = {
    0xC000021A: _interpret_c000021a,
    0x0000007E: _interpret_exception_code,
    0x1000007E: _interpret_exception_code,
    0x000000D1: _interpret_listed((
        "the memory address referenced", "the IRQL at the time of the reference",
        "0 = read, 1 = write, 8 = execute", "the address of the instruction that referenced the memory")),
    0x000000EF: _interpret_listed((
        "the process object that died", "0 = a process died, 1 = a thread died", "reserved", "reserved")),
    0x000000F4: _interpret_listed((
        "the object type (3 = process, 6 = thread)", "the terminating object",
        "the process image file name", "the address of an explanatory message (ASCII)")),
    0x000001C8: _interpret_listed((
        "how long the power button was held, in milliseconds",
        "pointer to nt!_POP_POWER_BUTTON_TRIAGE_BLOCK", "reserved", "reserved")),
}


def interpret_bugcheck(code: int | str, parameters: t.Sequence[int | str] = ()) -> dict[str, t.Any]:
    """What a stop code and its four parameters say, as a JSON-friendly dict.

    ``summary`` is one sentence for a report; ``parameters`` lists each parameter with its meaning
    where the reference documents it. For 0xC000021A, ``process_status`` names the NTSTATUS the
    critical process died with and what that usually means for this stop code.
    """
    value = parse_code(code)
    params = [parse_code(p) for p in parameters]
    name = BUGCHECK_NAMES.get(value)
    result: dict[str, t.Any] = {
        "code": format_code(value),
        "name": name,
        "debugger_name": DEBUGGER_NAMES.get(value, name),
        "known": name is not None,
        "description": BUGCHECK_SUMMARIES.get(value),
    }
    interpreter = _PARAMETER_INTERPRETERS.get(value)
    if interpreter is not None:
        described, extra = interpreter(params)
    else:
        described = [{"index": i, "value": format_code(p), "meaning": None} for i, p in enumerate(params[:4], 1)]
        extra = {}
    result["parameters"] = described
    result.update(extra)
    result["summary"] = _summary(result)
    return result


def _summary(result: dict[str, t.Any]) -> str:
    head = f"{result['code']} {result['name']}" if result["name"] else f"{result['code']} (not a stop code this collection knows)"
    if result.get("description"):
        head += f": {result['description']}"
    status = result.get("process_status")
    if status:
        named = f"{status['code']} {status['name']}" if status["name"] else status["code"]
        head += f". The process ended with {named}"
        if status.get("meaning"):
            head += f": {status['meaning']}"
    exception = result.get("exception")
    if exception:
        named = f"{exception['code']} {exception['name']}" if exception["name"] else exception["code"]
        head += f". Unhandled exception {named}"
    return head + "."
