"""Stop code names and the meaning of their parameters."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import (
    bugcheck_name,
    format_code,
    interpret_bugcheck,
    ntstatus_name,
    parse_code,
    status_from_parameter,
)


@pytest.mark.parametrize(("code", "name"), [
    ("0xC000021A", "STATUS_SYSTEM_PROCESS_TERMINATED"),
    (0xEF, "CRITICAL_PROCESS_DIED"),
    ("0x7E", "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED"),
    ("0x1000007E", "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M"),
    ("0xD1", "DRIVER_IRQL_NOT_LESS_OR_EQUAL"),
    ("0x74", "BAD_SYSTEM_CONFIG_INFO"),
    ("0x80", "NMI_HARDWARE_FAILURE"),
    ("0x1C8", "MANUALLY_INITIATED_POWER_BUTTON_HOLD"),
    ("0xc00002e2", "STATUS_DS_INIT_FAILURE"),
    ('"0x0000007E"', "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED"),
])
def test_bugcheck_names(code, name):
    assert bugcheck_name(code) == name


def test_unknown_code_has_no_name():
    assert bugcheck_name("0x12345") is None


@pytest.mark.parametrize(("value", "expected"), [("0xc000021a", 0xC000021A), ("C000021A", 0xC000021A),
                                                 (' "0x80" ', 0x80), (0x1C8, 0x1C8)])
def test_parse_code(value, expected):
    assert parse_code(value) == expected


@pytest.mark.parametrize("value", ["", "zz", "0x", True, -1])
def test_parse_code_refuses_non_codes(value):
    with pytest.raises(ValueError):
        parse_code(value)


def test_format_code_is_upper_hex_without_padding():
    assert [format_code(c) for c in (0xC000021A, 0x1C8, 0)] == ["0xC000021A", "0x1C8", "0x0"]


def test_sign_extended_status_is_reduced_to_32_bits():
    assert status_from_parameter(0xFFFFFFFFC0000005) == 0xC0000005
    assert status_from_parameter(0xC0000142) == 0xC0000142
    # A real 64-bit value (an address) is left alone.
    assert status_from_parameter(0xFFFFF8048B58334C) == 0xFFFFF8048B58334C


@pytest.mark.parametrize(("status", "name"), [
    ("0xFFFFFFFFC0000005", "STATUS_ACCESS_VIOLATION"), ("0xC0000142", "STATUS_DLL_INIT_FAILED"),
    ("0xC0000034", "STATUS_OBJECT_NAME_NOT_FOUND"), ("0xC000003A", "STATUS_OBJECT_PATH_NOT_FOUND"),
    ("0xC0000428", "STATUS_INVALID_IMAGE_HASH"), ("0x80000003", "STATUS_BREAKPOINT")])
def test_ntstatus_names(status, name):
    assert ntstatus_name(status) == name


@pytest.mark.parametrize(("status", "name", "hint"), [
    ("0xFFFFFFFFC0000005", "STATUS_ACCESS_VIOLATION", "third-party"),
    ("0xC0000142", "STATUS_DLL_INIT_FAILED", "failed update"),
    ("0xFFFFFFFFC0000034", "STATUS_OBJECT_NAME_NOT_FOUND", "missing"),
    ("0xC0000139", "STATUS_ENTRYPOINT_NOT_FOUND", "mismatched system file"),
])
def test_c000021a_names_the_status_the_process_died_with(status, name, hint):
    result = interpret_bugcheck("0xC000021A", ["0xFFFFC00012345678", status, "0x0", "0x0"])
    assert result["name"] == "STATUS_SYSTEM_PROCESS_TERMINATED"
    assert result["debugger_name"] == "WINLOGON_FATAL_ERROR"
    process_status = result["process_status"]
    assert process_status["name"] == name
    assert process_status["code"] == format_code(status_from_parameter(parse_code(status)))
    assert hint in process_status["meaning"]
    assert f"{process_status['code']} {name}" in result["summary"]
    assert [p["index"] for p in result["parameters"]] == [1, 2, 3, 4]
    assert "string" in result["parameters"][0]["meaning"]
    assert [p["meaning"] for p in result["parameters"][2:]] == ["reserved", "reserved"]
    assert len(result["usual_causes"]) == 4


def test_c000021a_with_a_status_outside_the_table_keeps_the_code():
    result = interpret_bugcheck("0xC000021A", ["0x1", "0xC0001234", "0x0", "0x0"])
    assert result["process_status"] == {"code": "0xC0001234", "name": None, "meaning": None}
    assert "0xC0001234" in result["summary"]


def test_c000021a_parameter_2_that_is_not_a_status_is_not_named():
    result = interpret_bugcheck("0xC000021A", ["0x950FDA60", "0x1", "0xC0000001", "0x100768"])
    assert "process_status" not in result
    assert "not an NTSTATUS" in result["parameters"][1]["meaning"]


def test_0x1000007e_names_the_unhandled_exception():
    result = interpret_bugcheck("0x1000007E", ["0xFFFFFFFFC0000005", "0xFFFFF8048B58334C", "0x1", "0x2"])
    assert result["exception"]["name"] == "STATUS_ACCESS_VIOLATION"
    assert "Unhandled exception 0xC0000005 STATUS_ACCESS_VIOLATION" in result["summary"]


def test_unknown_code_is_reported_as_unknown():
    result = interpret_bugcheck("0x12345", ["0x1", "0x2", "0x3", "0x4"])
    assert result["known"] is False and result["name"] is None
    assert "not a stop code this collection knows" in result["summary"]
    assert [p["meaning"] for p in result["parameters"]] == [None] * 4
