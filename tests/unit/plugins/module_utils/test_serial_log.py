"""EMS BLUESCREEN records in Azure serial console logs."""
from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._serial_log import (
    NO_RECORD_REASON,
    find_bluescreen_records,
    parse_serial_log,
)

SERIAL = Path(__file__).resolve().parents[5] / "shared" / "realdata" / "serial"

BANNER = ("Computer is booting, SAC started and initialized.\n\nUse the \"ch -?\" command for information about "
          "using channels.\nUse the \"?\" command for general help.\n\n\nSAC>\nEVENT: The CMD command is now "
          "available.\n")


def bluescreen(code: str = '"0xC000021A"', name: str = "WEB-01", build_tag: str = "os-build-number",
               build: str = "20348") -> str:
    """One record as SAC writes it (the sequence seen in a real Azure serial console capture)."""
    return (
        "SAC><?xml><BP>\n"
        '<INSTANCE CLASSNAME="BLUESCREEN">\n'
        f'<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>{code}</VALUE></PROPERTY><machine-info>\n'
        f"<name>{name}</name>\n"
        "<guid>19a9d57a-e6be-4d44-80f2-9402a4e3326e</guid>\n"
        "<processor-architecture>AMD64</processor-architecture>\n"
        "<os-version>10.0</os-version>\n"
        f"<{build_tag}>{build}</{build_tag}>\n"
        "<os-product>Windows Server 2022 Datacenter</os-product>\n"
        "<os-service-pack>None</os-service-pack>\n"
        "</machine-info>\n\n"
        "</INSTANCE>\n</BP>\n!SAC>\n"
        "Your PC ran into a problem and needs to restart.\n"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in SERIAL.glob("*.txt")))
def test_real_logs_without_a_stop_have_no_stop_code(name):
    result = parse_serial_log((SERIAL / name).read_bytes())
    assert result["stop_code"] is None
    assert result["record_count"] == 0
    assert result["reason"] == NO_RECORD_REASON


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_record_with_lf_or_crlf(newline):
    log = (BANNER + bluescreen()).replace("\n", newline)
    result = parse_serial_log(log.encode())
    assert result["stop_code"] == "0xC000021A"
    assert result["stop_code_name"] == "STATUS_SYSTEM_PROCESS_TERMINATED"
    assert result["reason"] is None and result["record_count"] == 1
    assert result["machine_info"] == {
        "name": "WEB-01", "guid": "19a9d57a-e6be-4d44-80f2-9402a4e3326e", "processor_architecture": "AMD64",
        "os_version": "10.0", "os_build": "20348", "os_product": "Windows Server 2022 Datacenter",
        "os_service_pack": "None"}


def test_record_transcribed_from_the_real_0x80_screenshot():
    log = BANNER + bluescreen(code='"0x80"', name="DumpLab01", build="19041")
    result = parse_serial_log(log)
    assert (result["stop_code"], result["stop_code_name"]) == ("0x80", "NMI_HARDWARE_FAILURE")
    assert result["machine_info"]["os_build"] == "19041"


def test_record_without_the_bp_wrapper():
    # The shape Microsoft's serial console documentation shows (0xD1, myfault.sys).
    log = ('<INSTANCE CLASSNAME="BLUESCREEN">\n<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0xD1"</VALUE>'
           "</PROPERTY><machine-info>\n<name>vmCrash</name>\n<os-build-number>17763</os-build-number>\n"
           "</machine-info>\n</INSTANCE>\n\n!SAC>\nDRIVER_IRQL_NOT_LESS_OR_EQUAL\n")
    result = parse_serial_log(log)
    assert result["stop_code"] == "0xD1"
    assert result["machine_info"] == {"name": "vmCrash", "os_build": "17763"}


def test_os_build_tag_is_accepted_as_well():
    result = parse_serial_log(bluescreen(build_tag="os-build", build="17763"))
    assert result["machine_info"]["os_build"] == "17763"


def test_the_last_record_wins_and_all_are_counted():
    log = BANNER + bluescreen(code='"0xEF"') + BANNER + bluescreen(code='"0xC000021A"', name="WEB-01B")
    result = parse_serial_log(log)
    assert result["record_count"] == 2
    assert result["stop_code"] == "0xC000021A"
    assert result["machine_info"]["name"] == "WEB-01B"
    assert [r["stop_code"] for r in result["records"]] == ["0xEF", "0xC000021A"]


def test_a_cut_short_last_record_gives_no_code_even_after_a_good_one():
    good = bluescreen(code='"0xEF"')
    cut = bluescreen()[: bluescreen().index("<guid>")]
    result = parse_serial_log(BANNER + good + BANNER + cut)
    assert result["record_count"] == 2
    assert result["stop_code"] is None
    assert "cut short" in result["reason"]
    assert result["records"][0]["stop_code"] == "0xEF"


def test_a_record_cut_short_before_the_next_one_is_reported_as_such():
    cut = bluescreen()[: bluescreen().index("</machine-info>")]
    records = find_bluescreen_records(cut + bluescreen(code='"0x7E"'))
    assert [r.stop_code for r in records] == [None, "0x7E"]
    assert "cut short" in records[0].reason


@pytest.mark.parametrize(("record", "reason"), [
    (bluescreen(code='"0xZZ"'), "not a hexadecimal stop code"),
    (bluescreen(code='"C000021A"'), "not a hexadecimal stop code"),
    (bluescreen(code='"0x1C000021A"'), "not a hexadecimal stop code"),
    (bluescreen().replace("<name>WEB-01</name>", "<name>WEB<01</name>"), "not well-formed XML"),
    (bluescreen().replace('NAME="STOPCODE"', 'NAME="OTHER"'), "no STOPCODE"),
])
def test_garbage_records_give_a_reason_not_a_code(record, reason):
    result = parse_serial_log(BANNER + record)
    assert result["stop_code"] is None and result["stop_code_name"] is None
    assert reason in result["reason"]


def test_binary_noise_around_a_record_is_tolerated():
    log = b"\x00\xff\xfe garbage \x1b[2J" + bluescreen().encode() + b"\x00\x00\xc3\x28"
    assert parse_serial_log(log)["stop_code"] == "0xC000021A"
