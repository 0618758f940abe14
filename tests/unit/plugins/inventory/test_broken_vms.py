"""The inventory plugin's pure parts: host names, groups, host variables."""
from __future__ import annotations

from ansible.template import Templar

from ansible_collections.vmrepair.azure.plugins.inventory.broken_vms import (
    _host_names,
    host_variables,
    stop_code_group,
)

EMS = {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED", "source": "serial_log_ems",
       "confidence": "certain"}


def vm(name: str, group: str = "prod-rg", sub: str = "s1", **extra) -> dict:
    return {"name": name, "resource_group": group, "subscription_id": sub, **extra}


def test_host_names_are_the_vm_names_unless_they_repeat():
    vms = [vm("web-01"), vm("web-02", "a"), vm("WEB-02", "b"), vm("db", "x", "s1"), vm("db", "x", "s2")]
    assert _host_names(vms) == ["web-01", "web-02.a", "WEB-02.b", "db.x.s1", "db.x.s2"]


def test_only_sure_stop_codes_make_a_stop_code_group():
    assert stop_code_group(vm("a", triage_status="stop_screen", stop_code=EMS)) == "stop_0xC000021A"
    assert stop_code_group(vm("a", triage_status="stop_screen",
                              stop_code={"code": "0xc000021a", "confidence": "high"})) == "stop_0xC000021A"
    assert stop_code_group(vm("a", triage_status="stop_screen_uncertain",
                              stop_code={"code": "0xC000021A", "confidence": "low"})) is None
    assert stop_code_group(vm("a", triage_status="unknown", stop_code=None)) is None
    # Whatever OCR read never becomes a group name unless it is a hexadecimal code.
    assert stop_code_group(vm("a", triage_status="stop_screen", stop_code={"code": "0x12; rm -rf"})) is None


def test_host_variables_carry_the_stop_code_and_are_never_templated():
    hostvars = host_variables(vm("web-01", triage_status="stop_screen", stop_code=EMS, power_state="running",
                                 stop_code_reason="{{ lookup('pipe', 'id') }}"))
    assert hostvars["vm_name"] == "web-01" and hostvars["resource_group"] == "prod-rg"
    assert hostvars["vmrepair_stop_code"] == "0xC000021A"
    assert hostvars["vmrepair_stop_code_source"] == "serial_log_ems"
    assert hostvars["vmrepair_stop_code_confidence"] == "certain"
    assert hostvars["vmrepair_triage_status"] == "stop_screen"
    # Text from Azure or OCR that looks like Jinja stays text: it is never run.
    templar = Templar(loader=None, variables={})
    assert templar.template(hostvars["vmrepair_stop_code_reason"]) == "{{ lookup('pipe', 'id') }}"
