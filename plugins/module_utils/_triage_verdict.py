# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What triage concludes about one VM, from what its serial log and its screenshot say.

Pure logic (no Azure, no files), so every combination is unit-tested. The serial log's EMS record
is Windows' own account of its stop: certain. The screenshot is read by OCR: never certain. When
both speak and disagree, the EMS code stands and the disagreement is said.

Statuses:
  stop_screen            a stop code known for sure (EMS) or read cleanly (OCR, high confidence)
  stop_screen_uncertain  a stop screen whose code was read with corrections, or not at all
  no_stop_screen         the console shows something else (lock screen, boot manager error ...)
  unknown                nothing to tell by: boot diagnostics off, no log or screenshot yet ...
  not_windows            the procedure is for Windows VMs
"""

from __future__ import annotations

import shlex
from typing import Any

STATUSES = ("stop_screen", "stop_screen_uncertain", "no_stop_screen", "unknown", "not_windows")
# The stop code this collection's first procedure is for.
PROCEDURE_STOP_CODE = "0xC000021A"


def decide(serial: dict[str, Any] | None, screen: dict[str, Any] | None) -> dict[str, Any]:
    """{stop_code, stop_code_reason, triage_status} from a serial-log reading and a screen reading.

    serial: {stop_code: {...}|None, reason: str|None, records: int, booted_since: bool, ems: bool} or None
            (not read); `ems` says the log shows SAC starting, so a stop would have left a record.
    screen: read_screenshot()'s result, or None (not read).
    """
    ems = (serial or {}).get("stop_code")
    ocr = (screen or {}).get("stop_code")
    kind = (screen or {}).get("screen")
    reasons: list[str] = []

    if ems:
        if (serial or {}).get("booted_since") and kind in ("other", "blank", "boot_manager"):
            reason = (f"the serial log's last stop ({ems['code']}) was followed by a new boot, and the screenshot "
                      "shows no stop screen now")
            return {"stop_code": ems, "stop_code_reason": reason, "triage_status": "no_stop_screen"}
        if ocr and ocr["code"].lower() != ems["code"].lower():
            reasons.append(f"the screenshot reads {ocr['code']} ({ocr['confidence']} confidence); the serial log's "
                           "EMS record is Windows' own and stands")
        return {"stop_code": ems, "stop_code_reason": "; ".join(reasons) or None, "triage_status": "stop_screen"}

    if (serial or {}).get("reason"):
        reasons.append((serial or {})["reason"])
    if ocr:
        if screen and screen.get("reason"):
            reasons.insert(0, screen["reason"])
        status = "stop_screen" if ocr.get("confidence") == "high" else "stop_screen_uncertain"
        return {"stop_code": ocr, "stop_code_reason": "; ".join(reasons) or None, "triage_status": status}
    if screen and screen.get("reason"):
        reasons.insert(0, screen["reason"])
    status = {"stop": "stop_screen_uncertain", "other": "no_stop_screen", "boot_manager": "no_stop_screen"}.get(
        kind or "", "unknown")
    if screen is None and (serial or {}).get("ems") and not (serial or {}).get("records"):
        status = "no_stop_screen"  # EMS on and no record: Windows has not stopped since it booted
    return {"stop_code": None, "stop_code_reason": "; ".join(reasons) or "nothing to read the stop code from",
            "triage_status": status}


def _command(playbook: str, vm: dict[str, Any], *extra: str) -> str:
    words = ["ansible-playbook", playbook, "-e", f"vm_name={vm.get('name')}",
             "-e", f"resource_group={vm.get('resource_group')}", *extra]
    return " ".join(shlex.quote(word) for word in words)


def next_steps(vm: dict[str, Any], expected: str = PROCEDURE_STOP_CODE) -> list[str]:
    """What an operator does next, as sentences with the exact commands."""
    status = vm.get("triage_status")
    code = (vm.get("stop_code") or {}).get("code")
    name = (vm.get("stop_code") or {}).get("name")
    az_target = f"--name {shlex.quote(str(vm.get('name')))} --resource-group {shlex.quote(str(vm.get('resource_group')))}"
    if status == "not_windows":
        return [f"Nothing to do here: this procedure is for Windows VMs and {vm.get('name')} runs {vm.get('os_type')}."]
    if status == "stop_screen" and code and code.lower() == expected.lower():
        return [
            "If a backup from before the failure exists, restoring the VM from it may be enough "
            "(Microsoft's procedure for this stop error, step 2).",
            f"Otherwise collect the memory dump for Microsoft support: {_command('vmrepair.azure.collect_dump', vm)}",
        ]
    if status == "stop_screen":
        what = f"{code} ({name})" if name else str(code)
        return [
            f"The VM stopped with {what}, not {expected}: follow Microsoft's troubleshooting article for {what}.",
            f"To collect its memory dump anyway: {_command('vmrepair.azure.collect_dump', vm, '-e', 'force=true')}",
        ]
    if status == "stop_screen_uncertain":
        return [
            "Confirm the stop code: look at the screenshot in this report (OCR could not read it for sure).",
            "For a certain reading next time, keep EMS/SAC on in the VM (bcdedit /ems {current} on): Windows then "
            "writes the stop code to the serial log.",
            f"To collect the memory dump without confirmation: "
            f"{_command('vmrepair.azure.collect_dump', vm, '-e', 'force=true')}",
        ]
    if status == "no_stop_screen":
        screen = vm.get("screen") or {}
        if screen.get("kind") == "boot_manager":
            return [f"The VM stops in Windows Boot Manager (status {screen.get('status_code') or 'unknown'}), not at a "
                    "stop error: follow Microsoft's article for that boot error; this procedure does not apply."]
        if not screen:
            return ["Nothing to collect: EMS shows no stop since the VM booted. If it still does not respond, read "
                    "its screenshot too: " + _command("vmrepair.azure.triage", vm, "-e", "ocr=always")]
        return ["Nothing to collect: the VM's console shows no stop screen."]
    # unknown
    if not (vm.get("boot_diagnostics") or {}).get("enabled"):
        return [f"Enable boot diagnostics (managed storage): az vm boot-diagnostics enable {az_target}; wait for the "
                "VM to reach its stop screen again, then re-run triage.",
                f"Or collect the memory dump without confirmation: "
                f"{_command('vmrepair.azure.collect_dump', vm, '-e', 'force=true')}"]
    if vm.get("power_state") in ("deallocated", "stopped"):
        return [f"The VM is {vm.get('power_state')}: start it (az vm start {az_target}) so that its console shows "
                "where it stops, then re-run triage."]
    return ["Re-run triage in a few minutes: the VM has not written a readable screenshot or serial log yet "
            "(a running VM refreshes them as its console changes)."]
