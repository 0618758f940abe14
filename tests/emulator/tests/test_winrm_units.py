"""Pure pieces of the WinRM endpoint: command-line splitting, xs:duration, code pages, fault XML."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # PYTHONPATH=tests/emulator when run alone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmrepair_emulator.winrm.cmdline import split_command_line  # noqa: E402
from vmrepair_emulator.winrm.codepage import codec_for, input_transcoder, output_transcoder  # noqa: E402
from vmrepair_emulator.winrm.faults import WsmanFault  # noqa: E402
from vmrepair_emulator.winrm.request import parse_duration, parse_request  # noqa: E402


@pytest.mark.parametrize(("line", "argv"), [
    # pywinrm/Ansible: every argument in one rsp:Arguments element, joined by spaces
    ("PowerShell -NoProfile -NonInteractive -EncodedCommand SQBFAFgA",
     ["PowerShell", "-NoProfile", "-NonInteractive", "-EncodedCommand", "SQBFAFgA"]),
    ('cmd /c "dir C:\\Program Files"', ["cmd", "/c", "dir C:\\Program Files"]),
    ('a\\\\\\"b c', ['a\\"b', "c"]),  # 2n+1 backslashes before a quote: n backslashes, literal quote
    ('"a\\\\" b', ["a\\", "b"]),  # 2n backslashes before a quote: n backslashes, the quote closes
    ('x  \t y', ["x", "y"]),
    ('"" z', ["", "z"]),  # an empty quoted argument is an argument
    ('"say ""hi"""', ['say "hi"']),
    ("", []),
])
def test_split_command_line_follows_windows_rules(line: str, argv: list[str]) -> None:
    assert split_command_line(line) == argv


@pytest.mark.parametrize(("text", "seconds"), [
    ("PT20S", 20.0), ("PT60.000S", 60.0), ("P0DT0H0M5S", 5.0), ("PT1H2M3.5S", 3723.5), ("P1D", 86400.0),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["20", "PT", "P", "PTS", "PT-1S"])
def test_parse_duration_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_output_transcoding_keeps_characters_split_across_chunks() -> None:
    text = "héllo ✓ wörld"
    encoded = text.encode("utf-8")
    transcoder = output_transcoder(codec_for(437) or "")
    # Feed one byte at a time: multi-byte sequences arrive split.
    out = b"".join(transcoder.convert(encoded[i:i + 1]) for i in range(len(encoded))) + transcoder.flush()
    assert out == text.encode("cp437", errors="replace")  # é and ö exist in 437, ✓ becomes '?'
    assert out.count(b"?") == 1


def test_utf8_code_page_passes_bytes_through_untouched() -> None:
    data = bytes(range(256))  # not even valid UTF-8: a UTF-8 console does not touch it
    assert output_transcoder(codec_for(65001) or "").convert(data) == data


def test_input_transcoding_turns_console_code_page_into_utf8() -> None:
    transcoder = input_transcoder(codec_for(850) or "")
    assert transcoder.convert("Grüße".encode("cp850")) + transcoder.flush() == "Grüße".encode("utf-8")


def test_unknown_code_page_has_no_codec() -> None:
    assert codec_for(12345) is None
    assert codec_for(1200) is None  # UTF-16 is not ASCII-compatible: not a console code page


def test_oversized_request_is_refused_with_encoding_limit() -> None:
    with pytest.raises(WsmanFault) as caught:
        parse_request(b"<x/>" + b" " * (500 * 1024))
    assert caught.value.subcode == "w:EncodingLimit"


def test_request_with_dtd_is_refused() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(WsmanFault) as caught:
        parse_request(evil)
    assert caught.value.subcode == "w:SchemaValidationError"


def test_fault_xml_is_what_pywinrm_parses() -> None:
    """pywinrm's own fault parsing reads code, subcode, reason and the WSMan / WMI error codes."""
    from winrm.exceptions import WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError
    from winrm.protocol import Protocol

    protocol = Protocol("https://127.0.0.1:5986/wsman", transport="ntlm", username="u", password="p")

    def answer(fault: WsmanFault) -> Exception:
        def send(message: bytes) -> bytes:
            raise WinRMTransportError("http", 500, fault.to_xml("uuid:1", "VM").decode())

        protocol.transport.send_message = send  # narrow: only the fault parser is under test
        try:
            protocol.open_shell()
        except Exception as exc:  # noqa: BLE001 - returned for the assertions
            return exc
        raise AssertionError("no exception")

    assert isinstance(answer(WsmanFault.operation_timed_out()), WinRMOperationTimeoutError)
    shells = answer(WsmanFault.max_shells(30))
    assert isinstance(shells, WSManFaultError)
    assert (shells.fault_code, shells.fault_subcode, shells.wsman_fault_code) == ("s:Sender", "w:QuotaLimit",
                                                                                  0x803381A5)
    assert "maximum number of 30 concurrent shells" in shells.response
    operations = answer(WsmanFault.max_operations(1500))
    assert isinstance(operations, WSManFaultError)
    assert operations.wmierror_code == 0x803381A6  # what Ansible's winrm plugin checks before re-creating its shell
