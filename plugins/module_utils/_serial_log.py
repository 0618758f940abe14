# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stop code of a Windows VM from its serial console log (EMS / SAC BLUESCREEN records).

When Emergency Management Services are on, Windows writes one XML record to the serial port as it
stops, between SAC prompt noise:

    SAC><?xml><BP>
    <INSTANCE CLASSNAME="BLUESCREEN">
    <PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0x80"</VALUE></PROPERTY><machine-info>
    <name>DumpLab01</name>
    ...
    <os-build-number>19041</os-build-number>
    ...
    </machine-info>
    </INSTANCE>
    </BP>
    !SAC>

(SAC writes CRLF; copies of logs often have LF.) Only the INSTANCE element is handed to the XML
parser, so the noise around it does not matter. A record that is cut short, is not XML, or whose
STOPCODE is not a hexadecimal code gives no stop code and a reason, never a guess.
"""

from __future__ import annotations

import re
import typing as t
import xml.etree.ElementTree as ET

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import bugcheck_name, format_code

_INSTANCE_START = re.compile(r"<INSTANCE\s+CLASSNAME\s*=\s*\"BLUESCREEN\"\s*>", re.IGNORECASE)
_ANY_INSTANCE_START = re.compile(r"<INSTANCE[\s>]", re.IGNORECASE)
_INSTANCE_END = re.compile(r"</INSTANCE\s*>", re.IGNORECASE)
# SAC's first line at every boot: after a BLUESCREEN record it means Windows has started again since.
_BOOT_BANNER = re.compile(r"SAC started and initialized", re.IGNORECASE)
# Stop codes are 32-bit; SAC prints them as "0x..." in double quotes.
_STOP_CODE = re.compile(r"^0x([0-9A-Fa-f]{1,8})$")
# machine-info child -> result key. SAC writes <os-build-number>; <os-build> is accepted too.
_MACHINE_INFO_FIELDS = {
    "name": "name",
    "guid": "guid",
    "processor-architecture": "processor_architecture",
    "os-version": "os_version",
    "os-build-number": "os_build",
    "os-build": "os_build",
    "os-product": "os_product",
    "os-service-pack": "os_service_pack",
}
# A record larger than this is not a SAC record (it has a handful of short lines).
_MAX_RECORD_CHARS = 64 * 1024

NO_RECORD_REASON = ("the serial log has no BLUESCREEN record: EMS/SAC is off on this VM, or Windows has not "
                    "stopped since the log began")


class BluescreenRecord(t.NamedTuple):
    """One BLUESCREEN record: a stop code and machine info, or the reason there is none."""

    stop_code: str | None
    machine_info: dict[str, str]
    reason: str | None


def _text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _parse_record(xml_text: str) -> BluescreenRecord:
    if len(xml_text) > _MAX_RECORD_CHARS:
        return BluescreenRecord(None, {}, f"the BLUESCREEN record is {len(xml_text)} characters long, far more than "
                                          "SAC writes: the log is garbled")
    try:
        instance = ET.fromstring(xml_text)
    except ET.ParseError as error:
        return BluescreenRecord(None, {}, f"the BLUESCREEN record is not well-formed XML ({error}): the log is garbled")
    machine_info: dict[str, str] = {}
    info = instance.find("machine-info")
    if info is not None:
        for child in info:
            key = _MACHINE_INFO_FIELDS.get(child.tag)
            if key is not None and key not in machine_info and child.text is not None:
                machine_info[key] = child.text.strip()
    value_node = None
    for prop in instance.findall("PROPERTY"):
        if (prop.get("NAME") or "").upper() == "STOPCODE":
            value_node = prop.find("VALUE")
            break
    if value_node is None:
        return BluescreenRecord(None, machine_info, "the BLUESCREEN record has no STOPCODE property")
    raw = (value_node.text or "").strip()
    match = _STOP_CODE.match(raw.strip('"').strip())
    if match is None:
        return BluescreenRecord(None, machine_info,
                                f"the BLUESCREEN record's STOPCODE is {raw!r}, not a hexadecimal stop code")
    return BluescreenRecord(format_code(int(match.group(1), 16)), machine_info, None)


def find_bluescreen_records(log: str | bytes) -> list[BluescreenRecord]:
    """Every BLUESCREEN record in the log, oldest first (cut-short ones included, with a reason)."""
    text = _text(log)
    records: list[BluescreenRecord] = []
    for start in _INSTANCE_START.finditer(text):
        end = _INSTANCE_END.search(text, start.end())
        next_start = _ANY_INSTANCE_START.search(text, start.end())
        if end is None or (next_start is not None and next_start.start() < end.start()):
            records.append(BluescreenRecord(None, {}, "the BLUESCREEN record is cut short (no </INSTANCE> before "
                                                      "the next record or the end of the log)"))
            continue
        records.append(_parse_record(text[start.start():end.end()]))
    return records


def parse_serial_log(log: str | bytes) -> dict[str, t.Any]:
    """The most recent stop code in a serial console log, as a JSON-friendly dict.

    ``stop_code`` comes from the LAST BLUESCREEN record (the most recent stop). When that record is
    unusable, or there is none, ``stop_code`` is None and ``reason`` says why; an older record is
    never substituted for it (``records`` lists them all).
    """
    text = _text(log)
    records = find_bluescreen_records(text)
    result: dict[str, t.Any] = {
        "record_count": len(records),
        "stop_code": None,
        "stop_code_name": None,
        "machine_info": {},
        "reason": NO_RECORD_REASON,
        "records": [{"stop_code": r.stop_code, "reason": r.reason} for r in records],
        "booted_since": False,
        # The SAC banner means EMS is on: Windows would have written a record had it stopped since.
        "ems": _BOOT_BANNER.search(text) is not None,
    }
    if not records:
        return result
    last = records[-1]
    last_start = list(_INSTANCE_START.finditer(text))[-1].end()
    result.update({
        "booted_since": _BOOT_BANNER.search(text, last_start) is not None,
        "stop_code": last.stop_code,
        "stop_code_name": bugcheck_name(last.stop_code) if last.stop_code else None,
        "machine_info": last.machine_info,
        "reason": last.reason,
    })
    return result
