"""What triage concludes from a serial-log reading and a screen reading, and the next steps it gives."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._triage_verdict import decide, next_steps

EMS = {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED", "source": "serial_log_ems",
       "confidence": "certain"}


def ocr(code: str, confidence: str) -> dict:
    return {"code": code, "name": None, "source": "screenshot_ocr", "confidence": confidence, "read_as": code}


def screen(kind: str, stop_code: dict | None = None, reason: str | None = None, **extra) -> dict:
    return {"screen": kind, "stop_code": stop_code, "reason": reason, **extra}


def serial(stop_code: dict | None = None, reason: str | None = None, booted_since: bool = False) -> dict:
    return {"stop_code": stop_code, "reason": reason, "booted_since": booted_since}


def test_the_ems_record_is_certain_and_stands_against_ocr():
    verdict = decide(serial(EMS), screen("stop", ocr("0xC000021B", "low")))
    assert verdict["stop_code"] is EMS and verdict["triage_status"] == "stop_screen"
    assert "0xC000021B" in verdict["stop_code_reason"] and "stands" in verdict["stop_code_reason"]


def test_an_old_ems_record_with_a_healthy_screen_now_is_not_a_stop_screen():
    verdict = decide(serial(EMS, booted_since=True), screen("other", reason="the screenshot is not a stop screen"))
    assert verdict["triage_status"] == "no_stop_screen"
    assert "followed by a new boot" in verdict["stop_code_reason"]


def test_an_old_ems_record_while_the_vm_is_at_a_stop_screen_again_stays_certain():
    verdict = decide(serial(EMS, booted_since=True), screen("stop", ocr("0xC000021A", "high")))
    assert verdict["triage_status"] == "stop_screen" and verdict["stop_code"]["confidence"] == "certain"


@pytest.mark.parametrize("confidence,status", [("high", "stop_screen"), ("low", "stop_screen_uncertain")])
def test_ocr_alone_is_never_certain(confidence, status):
    verdict = decide(serial(reason="no BLUESCREEN record"), screen("stop", ocr("0xC000021A", confidence)))
    assert verdict["triage_status"] == status
    assert verdict["stop_code"]["confidence"] == confidence != "certain"
    assert "no BLUESCREEN record" in verdict["stop_code_reason"]


@pytest.mark.parametrize("kind,status", [
    ("stop", "stop_screen_uncertain"),  # a stop screen whose code could not be read
    ("other", "no_stop_screen"),
    ("boot_manager", "no_stop_screen"),
    ("blank", "unknown"),
    ("unreadable", "unknown"),
    (None, "unknown"),  # no screenshot at all
])
def test_no_code_anywhere(kind, status):
    verdict = decide(serial(reason="the serial log is empty"), screen(kind, reason=f"screen {kind}"))
    assert verdict["stop_code"] is None and verdict["triage_status"] == status
    assert verdict["stop_code_reason"].startswith(f"screen {kind}")


def test_nothing_read_at_all_still_gives_a_reason():
    verdict = decide(None, None)
    assert verdict == {"stop_code": None, "stop_code_reason": "nothing to read the stop code from",
                       "triage_status": "unknown"}


VM = {"name": "web-01", "resource_group": "prod-rg", "os_type": "Windows", "power_state": "running",
      "boot_diagnostics": {"enabled": True, "storage": "managed"}}


def test_next_steps_for_0xc000021a_give_the_collect_dump_command():
    steps = next_steps(dict(VM, triage_status="stop_screen", stop_code=EMS))
    assert any("ansible-playbook vmrepair.azure.collect_dump -e vm_name=web-01 -e resource_group=prod-rg" in s
               for s in steps)
    assert any("backup" in s for s in steps)


def test_next_steps_for_another_code_say_so_and_need_force():
    steps = next_steps(dict(VM, triage_status="stop_screen",
                            stop_code={"code": "0x000000EF", "name": "CRITICAL_PROCESS_DIED"}))
    assert "0x000000EF (CRITICAL_PROCESS_DIED), not 0xC000021A" in steps[0]
    assert "-e force=true" in steps[1]


def test_next_steps_quote_names_for_the_shell():
    steps = next_steps(dict(VM, name="web 01", triage_status="stop_screen", stop_code=EMS))
    assert "-e 'vm_name=web 01'" in steps[1]


@pytest.mark.parametrize("vm,expected", [
    (dict(VM, triage_status="unknown", boot_diagnostics={"enabled": False}), "az vm boot-diagnostics enable"),
    (dict(VM, triage_status="unknown", power_state="deallocated"), "az vm start"),
    (dict(VM, triage_status="unknown"), "Re-run triage"),
    (dict(VM, triage_status="no_stop_screen", screen={"kind": "boot_manager", "status_code": "0xC0000017"}),
     "Windows Boot Manager (status 0xC0000017)"),
    (dict(VM, triage_status="no_stop_screen", screen={"kind": "other"}), "no stop screen"),
    (dict(VM, triage_status="stop_screen_uncertain"), "Confirm the stop code"),
    (dict(VM, triage_status="not_windows", os_type="Linux"), "runs Linux"),
])
def test_next_steps_per_status(vm, expected):
    assert expected in " ".join(next_steps(vm))


def test_ems_on_without_a_record_means_no_stop_since_boot():
    verdict = decide({"stop_code": None, "reason": "EMS is on", "records": 0, "ems": True}, None)
    assert verdict["triage_status"] == "no_stop_screen" and verdict["stop_code"] is None
