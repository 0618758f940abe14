"""The broken_vms inventory plugin through the real ansible-inventory, against the emulator's fleets.

Expectations come from the scenario itself (every fleet VM's stop code, EMS, screenshot and serial-log
variant), so each host's stop code, source and status is checked against what its console really shows.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from harness import COLLECTIONS, ROOT, ensure_collection_link

sys.path.insert(0, str(ROOT / "tests" / "emulator"))
from vmrepair_emulator.scenario import load_scenario  # noqa: E402
from vmrepair_emulator.triage_truth import expected_triage as expected, plain  # noqa: E402

ALL_STATUSES = ["stop_screen", "stop_screen_uncertain", "no_stop_screen", "unknown"]
RETRIEVE = "VirtualMachines_RetrieveBootDiagnosticsData"


def run_inventory(emulator, work_dir: Path, config: dict, *args: str, env: dict | None = None):
    ensure_collection_link()
    path = work_dir / "fleet.broken_vms.yml"
    path.write_text(yaml.safe_dump({"plugin": "vmrepair.azure.broken_vms", **config}))
    run_env = dict(os.environ, **emulator.env)
    run_env.update({"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_LOCAL_TEMP": str(work_dir / "tmp")})
    run_env.update(env or {})
    command = [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(path), "--list", *args]
    done = subprocess.run(command, cwd=work_dir, env=run_env, capture_output=True, text=True, timeout=600,
                          check=False)
    listing = plain(json.loads(done.stdout)) if done.returncode == 0 else None
    return done, listing


def arm_since(emulator, seq: int) -> list[dict]:
    return [r for r in emulator.requests("arm") if r["seq"] >= seq]


def last_seq(emulator) -> int:
    records = emulator.requests()
    return records[-1]["seq"] + 1 if records else 0


def same_code(a: str | None, b: str | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and int(a, 16) == int(b, 16))


def test_every_vm_of_a_fleet_with_its_stop_code_in_the_fewest_requests(emulator_for, tmp_path):
    emulator = emulator_for("fleet-mixed")
    seq = last_seq(emulator)
    done, listing = run_inventory(emulator, tmp_path, {"include_statuses": ALL_STATUSES})
    assert done.returncode == 0, done.stderr[-4000:]
    hostvars = listing["_meta"]["hostvars"]
    vms = load_scenario("fleet-mixed").virtual_machines
    wanted = {vm["name"]: expected(vm) for vm in vms if expected(vm) is not None}
    assert set(hostvars) == set(wanted)

    for name, (status, code, source) in wanted.items():
        host = hostvars[name]
        where = f"{name}: {host['vmrepair_triage_status']} {host['vmrepair_stop_code']} ({host['vmrepair_stop_code_reason']})"
        if source == "screenshot_ocr":
            # OCR finds the code; it may be unsure of it, but never certain and never another code.
            assert host["vmrepair_triage_status"] in ("stop_screen", "stop_screen_uncertain"), where
            assert host["vmrepair_stop_code_confidence"] in ("high", "low"), where
            assert same_code(host["vmrepair_stop_code"], code), where
        else:
            assert host["vmrepair_triage_status"] == status, where
            assert same_code(host["vmrepair_stop_code"], code), where
        assert host["vmrepair_stop_code_source"] == source, where
        if host["vmrepair_stop_code"] is None:
            assert host["vmrepair_stop_code_reason"], where  # always a reason when there is no code
        assert host["vm_name"] == name and host["resource_group"]
        assert host["vmrepair_next_steps"], where

    # Groups: one per sure stop code, one per status.
    for name, (status, code, source) in wanted.items():
        assert name in listing[hostvars[name]["vmrepair_triage_status"]]["hosts"]
        if hostvars[name]["vmrepair_triage_status"] == "stop_screen":
            assert name in listing[f"stop_0x{int(code, 16):X}"]["hosts"]
    c21a = {name for name, (status, code, source) in wanted.items()
            if code and int(code, 16) == 0xC000021A and hostvars[name]["vmrepair_triage_status"] == "stop_screen"}
    assert c21a and set(listing["stop_0xC000021A"]["hosts"]) == c21a

    # The fewest ARM requests: one page of the VM list, one retrieveBootDiagnosticsData per candidate with
    # boot diagnostics on; none for Linux, stopped, deallocated or boot-diagnostics-off VMs.
    records = arm_since(emulator, seq)
    operations = [r["operation"] for r in records]
    with_bootdiag = {vm["name"] for vm in vms if expected(vm) and vm["boot_diagnostics"] != "disabled"}
    assert operations.count("VirtualMachines_ListAll") == 1
    assert operations.count(RETRIEVE) == len(with_bootdiag) == len(records) - 1
    assert {r["path"].split("/virtualMachines/")[1].split("/")[0] for r in records if r["operation"] == RETRIEVE} \
        == with_bootdiag
    # The SAS links are secrets: never in the inventory.
    assert "sig=" not in done.stdout and "sig=" not in done.stderr
    summary = next(iter(hostvars.values()))["vmrepair_fleet_summary"]
    assert summary["listed"] == len(vms) and summary["errors"] == []


def test_filters_keyed_groups_and_the_cache(emulator_for, tmp_path):
    emulator = emulator_for("fleet-mixed")
    vms = [vm for vm in load_scenario("fleet-mixed").virtual_machines
           if vm["resource_group"] == "mixed-test-rg" and vm["tags"].get("env") == "prod" and expected(vm)]
    config = {"resource_groups": ["mixed-test-rg"], "tags": {"env": "prod"}, "include_statuses": ALL_STATUSES,
              "keyed_groups": [{"key": "vmrepair_tags.app", "prefix": "app"}],
              "compose": {"ansible_connection": "'local'"},
              "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(tmp_path / "cache"), "cache_timeout": 600}
    seq = last_seq(emulator)
    done, listing = run_inventory(emulator, tmp_path, config)
    assert done.returncode == 0, done.stderr[-4000:]
    hostvars = listing["_meta"]["hostvars"]
    assert set(hostvars) == {vm["name"] for vm in vms}
    for vm in vms:
        assert vm["name"] in listing[f"app_{vm['tags']['app']}"]["hosts"]
        assert hostvars[vm["name"]]["ansible_connection"] == "local"
    records = arm_since(emulator, seq)
    # Named resource groups are listed group by group (a principal may read only those).
    assert [r["operation"] for r in records].count("VirtualMachines_List") == 1
    assert not [r for r in records if "mixed-prod-rg" in r["path"]]

    seq = last_seq(emulator)
    again, cached = run_inventory(emulator, tmp_path, config)
    assert again.returncode == 0, again.stderr[-4000:]
    assert cached["_meta"]["hostvars"] == hostvars
    assert arm_since(emulator, seq) == []  # served from the cache: not one ARM request


def test_expired_sas_links_and_subscriptions_without_access_are_said_never_crash(emulator_for, tmp_path):
    emulator = emulator_for("fleet-mixed")
    emulator.set_knobs(bootdiag_sas_expiry_s=-60)
    try:
        done, listing = run_inventory(emulator, tmp_path, {"include_statuses": ALL_STATUSES,
                                                           "resource_groups": ["mixed-dev-rg"]})
    finally:
        emulator.set_knobs(bootdiag_sas_expiry_s=None)
    assert done.returncode == 0, done.stderr[-4000:]
    for name, host in listing["_meta"]["hostvars"].items():
        assert host["vmrepair_stop_code"] is None and host["vmrepair_triage_status"] == "unknown", name
        assert "expired" in host["vmrepair_stop_code_reason"], host["vmrepair_stop_code_reason"]

    good = emulator.env["AZURE_SUBSCRIPTION_ID"]
    stranger = "00000000-1111-2222-3333-444444444444"
    done, listing = run_inventory(emulator, tmp_path, {"subscription_ids": [good, stranger],
                                                       "resource_groups": ["mixed-dev-rg"]})
    assert done.returncode == 0, done.stderr[-4000:]
    assert listing["_meta"]["hostvars"], "the readable subscription still gives its hosts"
    assert f"subscription {stranger}" in done.stderr and "No hosts from it" in done.stderr
    summary = next(iter(listing["_meta"]["hostvars"].values()))["vmrepair_fleet_summary"]
    assert [e["subscription_id"] for e in summary["errors"]] == [stranger]

    done, _listing = run_inventory(emulator, tmp_path, {"subscription_ids": [stranger]})
    assert done.returncode != 0
    assert "no subscription could be read" in done.stderr and stranger in done.stderr
    assert "Traceback" not in done.stderr

    emulator.set_knobs(rbac_role={"actions": ["Microsoft.Resources/subscriptions/resourceGroups/read"]})
    try:
        done, _listing = run_inventory(emulator, tmp_path, {})
    finally:
        emulator.set_knobs(rbac_role=None)
    assert done.returncode != 0
    assert "AuthorizationFailed" in done.stderr or "does not have authorization" in done.stderr
    assert "Microsoft.Compute/virtualMachines/read" in done.stderr


def test_a_large_fleet_stays_inside_arms_write_budget(emulator_for, tmp_path):
    emulator = emulator_for("fleet-500")
    emulator.set_knobs(arm_throttling=True)
    seq = last_seq(emulator)
    started = time.monotonic()
    try:
        done, listing = run_inventory(emulator, tmp_path, {})
    finally:
        emulator.set_knobs(arm_throttling=False)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-4000:]
    records = arm_since(emulator, seq)
    retrieves = [r for r in records if r["operation"] == RETRIEVE]
    assert [r for r in records if r["status"] == 429] == []  # paced, never throttled
    # More POSTs than the write bucket holds: the plugin had to slow down, and said so.
    assert len(retrieves) > 200
    assert "slowing to its refill rate" in done.stderr
    summary = next(iter(listing["_meta"]["hostvars"].values()))["vmrepair_fleet_summary"]
    assert summary["subscriptions"][emulator.env["AZURE_SUBSCRIPTION_ID"]]["arm"]["waits"] > 0
    # ARM refills 10 writes a second once the burst is spent (20 kept in reserve).
    assert seconds >= (len(retrieves) - 180) / 10 * 0.9


def test_one_play_over_the_inventory_works_through_every_0xc000021a_vm(emulator_for, run_playbook, tmp_path):
    """The plugin's group as the play's hosts: the triage playbook reports exactly those VMs."""
    emulator = emulator_for("fleet-mixed")
    config = tmp_path / "fleet.broken_vms.yml"
    config.write_text(yaml.safe_dump({"plugin": "vmrepair.azure.broken_vms"}))
    vms = load_scenario("fleet-mixed").virtual_machines
    c21a = {vm["name"] for vm in vms if expected(vm) == ("stop_screen", "0xC000021A", "serial_log_ems")}
    run = run_playbook(emulator, "vmrepair.azure.triage", "-i", str(config), "-e", "vmrepair_hosts=stop_0xC000021A",
                       env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert run.returncode == 0, run.output[-6000:]
    out = tmp_path / "out"
    fleet = json.loads((out / "fleet-report.json").read_text())
    reported = {vm["id"] for group in fleet["groups"] for vm in group["vms"]}
    assert c21a <= reported <= {vm["name"] for vm in vms if expected(vm) and expected(vm)[1]
                                and int(expected(vm)[1], 16) == 0xC000021A}
    for name in c21a:
        report = json.loads((out / name / "report.json").read_text())
        assert report["vm"]["stop_code"]["code"] == "0xC000021A"
        assert report["vm"]["stop_code"]["confidence"] == "certain"
        assert any("vmrepair.azure.collect_dump" in step for step in report["next_steps"])


def test_a_vm_azure_refuses_is_unknown_with_the_reason_and_transient_errors_are_retried(emulator_for, tmp_path):
    emulator = emulator_for("fleet-mixed")
    vms = [vm for vm in load_scenario("fleet-mixed").virtual_machines
           if expected(vm) == ("stop_screen", vm["stop_code"], "serial_log_ems")]
    gone, flaky = vms[0], vms[1]
    emulator.set_knobs(faults=[
        # Deleted between the list and its boot diagnostics.
        {"match": {"operation": RETRIEVE, "path_regex": f"/virtualMachines/{gone['name']}/"}, "status": 404,
         "code": "ResourceNotFound",
         "message": f"The Resource 'Microsoft.Compute/virtualMachines/{gone['name']}' was not found."},
        # A transient error: the SDK's retry policy takes it.
        {"match": {"operation": RETRIEVE, "path_regex": f"/virtualMachines/{flaky['name']}/"}, "status": 503,
         "count": 1},
    ])
    try:
        done, listing = run_inventory(emulator, tmp_path, {"include_statuses": ALL_STATUSES})
    finally:
        emulator.set_knobs(faults=[])
    assert done.returncode == 0, done.stderr[-4000:]
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars[gone["name"]]["vmrepair_triage_status"] == "unknown"
    assert hostvars[gone["name"]]["vmrepair_stop_code"] is None
    assert "was not found" in hostvars[gone["name"]]["vmrepair_stop_code_reason"]
    assert same_code(hostvars[flaky["name"]]["vmrepair_stop_code"], flaky["stop_code"])
    assert hostvars[flaky["name"]]["vmrepair_stop_code_confidence"] == "certain"
