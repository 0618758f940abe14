"""Serial console logs as Azure's boot diagnostics keep them (CRLF line endings, as SAC writes).

Windows with EMS: the SAC banner, then on a bugcheck the EMS record
`SAC><?xml><BP>` ... `<INSTANCE CLASSNAME="BLUESCREEN">` ... `</BP>` `!SAC>` (the sequence the
Azure Serial Console shows, see ../shared/realdata/README.md). Windows without EMS: the guest
agent's "VM Health Report" only. Linux: kernel and getty lines. `garbage_log`: what a noisy or
cut-off console leaves (line noise, a BLUESCREEN record that stops mid-way), for parsers that must
not invent a stop code.
"""
from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timezone

CRLF = "\r\n"

SAC_BANNER = CRLF.join([
    "",
    "Computer is booting, SAC started and initialized.",
    "",
    'Use the "ch -?" command for information about using channels.',
    'Use the "?" command for general help.',
    "",
    "",
    "SAC>",
])


def bluescreen_record(stop_code: str, computer_name: str, machine_guid: str, os_build: str, product: str) -> str:
    lines = [
        "<?xml><BP>",
        '<INSTANCE CLASSNAME="BLUESCREEN">',
        f'<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"{stop_code}"</VALUE></PROPERTY><machine-info>',
        f"<name>{computer_name}</name>",
        f"<guid>{machine_guid}</guid>",
        "<processor-architecture>AMD64</processor-architecture>",
        "<os-version>10.0</os-version>",
        f"<os-build>{os_build}</os-build>",
        f"<os-product>{product}</os-product>",
        "<os-service-pack>None</os-service-pack>",
        "</machine-info>",
        "</INSTANCE>",
        "</BP>",
        "!SAC>",
    ]
    return CRLF.join(lines) + CRLF


def windows_log(stop_code: str | None, ems: bool, computer_name: str, machine_guid: str, os_build: str,
                product: str, private_ip: str, booted_at: datetime | None = None) -> str:
    if ems:
        text = SAC_BANNER
        if stop_code:
            # The record follows the prompt on the same line: "SAC><?xml><BP>".
            text += bluescreen_record(stop_code, computer_name, machine_guid, os_build, product)
        else:
            text += CRLF
        return text
    if stop_code:
        return ""  # no SAC and the guest died before its agent reported: the console stays empty
    return health_report(private_ip, booted_at)


def health_report(private_ip: str, booted_at: datetime | None = None) -> str:
    moment = (booted_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    report = {"reportTime": moment, "networkAdapters": [{
        "name": "Ethernet", "status": "Up", "macAddress": "00-0D-3A-00-00-01",
        "ipProperties": [{"protocolVersion": 4, "address": private_ip, "isDhcpEnabled": True}]}]}
    return CRLF.join([f"======== Microsoft Azure VM Health Report - Start {moment} ========",
                      json.dumps(report, separators=(",", ":")),
                      f"======== Microsoft Azure VM Health Report - End {moment} ========", ""])


def linux_log(computer_name: str, product: str) -> str:
    lines = [
        "[    0.000000] Linux version 6.8.0-1021-azure (buildd@lcy02-amd64-043) #25~22.04.1-Ubuntu SMP",
        "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.8.0-1021-azure root=PARTUUID=1f0e7c2a ro console=tty1 console=ttyS0 earlyprintk=ttyS0",
        "[    2.104312] EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.",
        "[  OK  ] Reached target Multi-User System.",
        "",
        f"{product} {computer_name.lower()} ttyS0",
        "",
        f"{computer_name.lower()} login: ",
    ]
    return CRLF.join(lines)


def garbage_log(seed: str, stop_code: str | None) -> bytes:
    """Serial noise, the same for the same seed: the SAC banner, bytes that are not UTF-8 (a console
    at the wrong baud rate), then a BLUESCREEN record cut off inside the stop code's value (the
    VM reset mid-write), so no complete record and no complete stop code appear."""
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big"))
    code = stop_code or "0xC000021A"
    cut = "\r\n".join([
        "<?xml><BP>", '<INSTANCE CLASSNAME="BLUESCREEN">',
        f'<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"{code[:len(code) // 2]}'])
    noise = bytes(rng.randrange(256) for _byte in range(rng.randint(300, 700)))
    # The cut ends with a NUL so that no random hex digit can seem to continue the stop code.
    tail = b"\x00" + bytes(rng.randrange(256) for _byte in range(rng.randint(40, 120)))
    return SAC_BANNER.encode("ascii") + noise + CRLF.encode("ascii") + cut.encode("ascii") + tail
