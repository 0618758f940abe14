"""The repair VM as an Azure engineer would build it, through the real ansible-playbook.

Failure injection at each step (emulator `faults` knob), rollback and cleanup leaving nothing
tagged, a run killed midway and re-run, the plan in check mode, and the scenarios of issue 4
(skipped with the reason when the emulator does not ship them yet).
"""
from __future__ import annotations

import hashlib
import json
import os
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness import COLLECTIONS, ROOT, Emulator, ensure_collection_link, kill_tree, writes_in

SCENARIOS = ROOT / "tests" / "emulator" / "scenarios"
PLAYBOOK = "vmrepair.azure.collect_dump"
PLAN_PLAYBOOK = str(Path(__file__).with_name("playbooks") / "repair_plan.yml")
PIN_PLAYBOOK = str(Path(__file__).with_name("playbooks") / "repair_and_pin.yml")
TAG = "vmrepair-repair-id"
SOURCE = ["-e", "vm_name=web-01", "-e", "resource_group=prod-rg"]


def creating(records: list[dict]) -> list[dict]:
    return [r for r in writes_in(records) if r.get("operation") != "VirtualMachines_RetrieveBootDiagnosticsData"]


def need_scenario(name: str) -> dict:
    path = SCENARIOS / f"{name}.yaml"
    if not path.is_file():
        pytest.skip(f"emulator scenario '{name}' is not in tests/emulator/scenarios yet (the emulator side adds it)")
    return yaml.safe_load(path.read_text())


def first_vm(spec: dict) -> list[str]:
    vm = spec["virtual_machines"][0]
    return ["-e", f"vm_name={vm['name']}", "-e", f"resource_group={vm['resource_group']}"]


def read_plan(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "plan.json").read_text())


def report_of(tmp_path: Path, vm_name: str) -> dict:
    return json.loads((tmp_path / "out" / vm_name / "report.json").read_text())


def with_faults(emulator: Emulator, *faults: dict) -> None:
    emulator.set_knobs(faults=list(faults))


# --- failure injection at each step ---------------------------------------------------------------


@pytest.mark.parametrize("operation", [
    "Snapshots_CreateOrUpdate",
    "Disks_CreateOrUpdate",
    "NetworkInterfaces_CreateOrUpdate",
    "VirtualMachines_CreateOrUpdate",
    "VirtualMachines_RunCommand",
])
def test_a_failing_step_rolls_back_and_leaves_nothing_tagged(emulator_for, run_playbook, tmp_path, operation):
    emulator = emulator_for("c21a-with-dump")
    repair_id = "fault-" + operation.split("_")[0].lower()[:12]
    message = f"injected failure of {operation}"
    with_faults(emulator, {"match": {"operation": operation}, "status": 400, "code": "InjectedFault",
                           "message": message})
    since = len(emulator.requests("arm"))
    try:
        run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", f"repair_id={repair_id}")
    finally:
        with_faults(emulator)
    assert run.returncode != 0
    assert message in run.output and "InjectedFault" in run.output
    records = emulator.requests("arm")[since:]
    assert any(r.get("fault") and r.get("operation") == operation for r in records)
    # What was created before the failure was deleted again; nothing of the repair remains.
    assert emulator.tagged(TAG, repair_id) == []
    report = report_of(tmp_path, "web-01")
    assert report["status"] == "failed" and report["cleanup"]["remaining"] == []


def test_a_resource_lock_rolls_back_and_names_the_lock(emulator_for, run_playbook):
    emulator = emulator_for("c21a-with-dump")
    lock_scope = "/subscriptions/x/resourceGroups/prod-rg/providers/Microsoft.Authorization/locks/do-not-delete"
    with_faults(emulator, {
        "match": {"operation": "Disks_CreateOrUpdate"}, "status": 409, "code": "ScopeLocked",
        "message": "The scope '/subscriptions/x/resourceGroups/prod-rg/providers/Microsoft.Compute/disks/d' cannot "
                   f"perform write operation because following scope(s) are locked: '{lock_scope}'. Please remove "
                   "the lock and try again."})
    try:
        run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", "repair_id=locked")
    finally:
        with_faults(emulator)
    assert run.returncode != 0
    assert "ScopeLocked" in run.output and lock_scope in run.output and "resource lock" in run.output
    assert "rolled back" in run.output
    assert emulator.tagged(TAG, "locked") == []


def test_a_missing_permission_rolls_back_and_names_the_action(emulator_for, run_playbook):
    emulator = emulator_for("c21a-with-dump")
    emulator.set_knobs(rbac_role={"actions": ["*"], "not_actions": ["Microsoft.Network/networkInterfaces/write"]})
    try:
        run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", "repair_id=norbac")
    finally:
        emulator.set_knobs(rbac_role=None)
    assert run.returncode != 0
    assert "AuthorizationFailed" in run.output and "Microsoft.Network/networkInterfaces/write" in run.output
    assert emulator.tagged(TAG, "norbac") == []


# --- plan and size ----------------------------------------------------------------------------------


def test_check_mode_shows_the_plan_with_its_reasons_and_creates_nothing(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    since = len(emulator.requests("arm"))
    run = run_playbook(emulator, PLAN_PLAYBOOK, *SOURCE)
    assert run.returncode == 0, run.output[-4000:]
    plan = read_plan(tmp_path)
    assert not plan.get("failed"), plan.get("msg")
    assert not (tmp_path / "out" / "winrm-certificate.pem").exists(), "check mode wrote the certificate"
    vm = yaml.safe_load((SCENARIOS / "c21a-with-dump.yaml").read_text())["virtual_machines"][0]
    facts = plan["facts"]
    assert facts["hyper_v_generation"] == vm.get("hyper_v_generation", "V2")
    assert facts["zone"] == vm.get("zone")
    assert plan["vm_size"] == "Standard_D2s_v3" and "as requested" in plan["vm_size_reason"]
    by_type = {step["resource_type"]: step for step in plan["plan"] if step["action"] == "create"}
    assert "Standard_D2s_v3" in by_type["Microsoft.Compute/virtualMachines"]["why"]
    assert "no public IP" in by_type["Microsoft.Network/networkInterfaces"]["why"]
    assert creating(emulator.requests("arm")[since:]) == []


def test_an_unknown_size_fails_before_anything_is_created(emulator_for, run_playbook):
    emulator = emulator_for("c21a-with-dump")
    since = len(emulator.requests("arm"))
    run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", "vm_size=Standard_Nope_v9", "-e", "repair_id=nosize")
    assert run.returncode != 0
    assert "'Standard_Nope_v9' is not a VM size Azure offers" in run.output
    assert creating(emulator.requests("arm")[since:]) == []


def test_isolated_network_refuses_an_open_controller_address(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    run = run_playbook(emulator, PLAN_PLAYBOOK, *SOURCE, "-e", "network=isolated", "-e", "controller_address=0.0.0.0/0")
    assert run.returncode == 0, run.output[-4000:]
    plan = read_plan(tmp_path)
    assert plan["failed"] and "would open WinRM to the internet" in plan["msg"]


def test_isolated_network_plan_admits_only_the_controller(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    run = run_playbook(emulator, PLAN_PLAYBOOK, *SOURCE, "-e", "network=isolated", "-e", "controller_address=127.0.0.1")
    assert run.returncode == 0, run.output[-4000:]
    plan = read_plan(tmp_path)
    assert not plan.get("failed"), plan.get("msg")
    by_type = {step["resource_type"]: step for step in plan["plan"] if step["action"] == "create"}
    assert "from 127.0.0.1 only" in by_type["Microsoft.Network/networkSecurityGroups"]["why"]
    assert {"Microsoft.Network/publicIPAddresses", "Microsoft.Network/virtualNetworks"} <= set(by_type)


def emulated_controller_address(emulator: Emulator) -> str:
    address = emulator.control("knobs").get("controller_address")
    if not address:
        pytest.skip("the emulator has no controller_address knob yet (public IPs with NSG evaluation)")
    return address


def test_isolated_network_end_to_end(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    controller = emulated_controller_address(emulator)
    # The emulator's VMs listen on their private address, which must be a loopback address here.
    run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", "network=isolated", "-e", f"controller_address={controller}",
                       "-e", "isolated_address_prefix=127.60.0.0/24", "-e", "repair_id=isolated")
    assert run.returncode == 0, run.output[-6000:]
    report = report_of(tmp_path, "web-01")
    assert report["status"] == "succeeded"
    repair_vm = report["repair"]["repair_vm"]
    assert repair_vm["public_ip"] and report["repair"]["winrm"]["host"] == repair_vm["public_ip"]
    assert emulator.tagged(TAG, "isolated") == []


def test_isolated_network_admits_no_one_but_the_controller(emulator_for, run_playbook):
    emulator = emulator_for("c21a-with-dump")
    controller = emulated_controller_address(emulator)
    other = "198.51.100.7" if controller != "198.51.100.7" else "198.51.100.8"
    run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", "network=isolated", "-e", f"controller_address={other}",
                       "-e", "isolated_address_prefix=127.61.0.0/24", "-e", "repair_id=notme")
    # The NSG admits `other`, the controller comes from `controller`: WinRM is never reached.
    assert run.returncode != 0
    assert emulator.tagged(TAG, "notme") == []


# --- the force path of the triage role ---------------------------------------------------------------


def test_a_healthy_vm_is_repaired_only_with_force(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("healthy-vm")
    spec = yaml.safe_load((SCENARIOS / "healthy-vm.yaml").read_text())
    source = first_vm(spec)
    vm_name = spec["virtual_machines"][0]["name"]
    since = len(emulator.requests("arm"))
    refused = run_playbook(emulator, PLAYBOOK, *source)
    assert refused.returncode != 0 and "does not show stop error 0xC000021A" in refused.output
    assert creating(emulator.requests("arm")[since:]) == []
    forced = run_playbook(emulator, PLAYBOOK, *source, "-e", "force=true", "-e", "repair_id=forced")
    # With force the repair VM is built; the healthy scenario has no dump, so the dump step may fail,
    # but the repair was attempted and everything of it was cleaned up.
    operations = {r.get("operation") for r in emulator.requests("arm")[since:]}
    assert "Snapshots_CreateOrUpdate" in operations, forced.output[-4000:]
    assert emulator.tagged(TAG, "forced") == []
    report = report_of(tmp_path, vm_name)
    assert report["repair"]["repair_id"] == "forced"


# --- kill and re-run ---------------------------------------------------------------------------------


def start_playbook(work_dir: Path, emulator: Emulator, *args: str) -> subprocess.Popen:
    """ansible-playbook in its own process group, so that a kill takes its workers too."""
    ensure_collection_link()
    env = dict(os.environ)
    env.update(emulator.env)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(work_dir / "ansible-local"), "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    command = [str(Path(sys.executable).with_name("ansible-playbook")), PLAYBOOK,
               "-e", f"output_dir={work_dir / 'out'}", *args]
    return subprocess.Popen(command, cwd=work_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_when(emulator: Emulator, process: subprocess.Popen, since: int, operation: str, timeout: float = 300) -> None:
    """Kill the playbook as soon as the request log shows `operation` answered with success."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r.get("operation") == operation and 200 <= int(r.get("status") or 0) < 300
               for r in emulator.requests("arm")[since:]):
            kill_tree(process.pid)
            process.wait(timeout=30)
            return
        if process.poll() is not None:
            pytest.fail(f"the playbook ended before {operation} was seen")
        time.sleep(0.2)
    kill_tree(process.pid)
    pytest.fail(f"{operation} was not seen within {timeout} s")


@pytest.mark.parametrize("operation", [
    "Snapshots_CreateOrUpdate",
    "Disks_CreateOrUpdate",
    "VirtualMachines_CreateOrUpdate",
])
def test_a_run_killed_after_a_step_is_finished_by_the_next_run(emulator_for, run_playbook, tmp_path, operation):
    emulator = emulator_for("c21a-with-dump")
    repair_id = "killed-" + operation.split("_")[0].lower()[:10]
    since = len(emulator.requests("arm"))
    kill_when(emulator, start_playbook(tmp_path, emulator, *SOURCE, "-e", f"repair_id={repair_id}"), since, operation)
    left = emulator.tagged(TAG, repair_id)
    assert left, "the killed run left nothing behind: the kill came too late to test a re-run"

    rerun_since = len(emulator.requests("arm"))
    run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", f"repair_id={repair_id}")
    assert run.returncode == 0, run.output[-6000:]
    assert report_of(tmp_path, "web-01")["status"] == "succeeded"
    rerun = emulator.requests("arm")[rerun_since:]
    # What the killed run had already created was found and used, not created a second time.
    for kind, put in (("Microsoft.Compute/snapshots", "Snapshots_CreateOrUpdate"),
                      ("Microsoft.Compute/disks", "Disks_CreateOrUpdate"),
                      ("Microsoft.Compute/virtualMachines", "VirtualMachines_CreateOrUpdate")):
        names = {r["name"] for r in left if r.get("type", "").lower() == kind.lower()}
        resent = [r for r in rerun if r.get("operation") == put and r.get("method") == "PUT"
                  and any(r["path"].split("?")[0].endswith("/" + name) for name in names)]
        assert resent == [], f"{kind} {names} was created again"
    assert emulator.tagged(TAG, repair_id) == []


def test_the_certificate_written_for_pinning_is_the_listeners(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    run = run_playbook(emulator, PIN_PLAYBOOK, *SOURCE, "-e", "repair_id=pinned1")
    assert run.returncode == 0, run.output[-4000:]
    result = json.loads((tmp_path / "out" / "repair.json").read_text())
    pem_path = tmp_path / "out" / "winrm-certificate.pem"
    assert result["winrm"]["ca_trust_path"] == str(pem_path)
    assert pem_path.read_text() == result["winrm"]["certificate_pem"]
    assert stat.S_IMODE(pem_path.stat().st_mode) == 0o600
    der = ssl.PEM_cert_to_DER_cert(pem_path.read_text())
    assert hashlib.sha256(der).hexdigest() == result["winrm"]["thumbprint_sha256"]
    assert "Pin-test-Passw0rd" not in run.output
    assert emulator.tagged(TAG, "pinned1") == []


def test_a_run_killed_during_run_command_waits_for_it_and_finishes(emulator_for, run_playbook, tmp_path):
    """Azure runs one Run Command per VM at a time: the re-run meets the killed run's and waits it out."""
    emulator = emulator_for("c21a-with-dump")
    usual_scale = emulator.control("knobs")["latency_scale"]
    # Slow enough that the killed run's Run Command (guest agent ~14 s, script ~4 s) is still going
    # when the re-run reaches it.
    emulator.set_knobs(latency_scale=0.1)
    try:
        repair_id = "killed-runcommand"
        since = len(emulator.requests("arm"))
        kill_when(emulator, start_playbook(tmp_path, emulator, *SOURCE, "-e", f"repair_id={repair_id}"), since,
                  "VirtualMachines_RunCommand")
        rerun_since = len(emulator.requests("arm"))
        run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", f"repair_id={repair_id}")
        assert run.returncode == 0, run.output[-6000:]
        assert report_of(tmp_path, "web-01")["status"] == "succeeded"
        run_commands = [r for r in emulator.requests("arm")[rerun_since:] if r.get("operation") == "VirtualMachines_RunCommand"]
        assert [r["status"] for r in run_commands][:1] == [409], "the re-run never met the killed run's Run Command"
        assert run_commands[-1]["status"] == 202
        creates = [r for r in emulator.requests("arm")[since:] if r.get("operation") == "VirtualMachines_CreateOrUpdate"
                   and r.get("method") == "PUT"]
        assert len(creates) == 1
    finally:
        emulator.set_knobs(latency_scale=usual_scale)
    assert emulator.tagged(TAG, repair_id) == []


# --- issue 4 scenarios ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["gen1-regional", "gen2-zonal-trustedlaunch", "des-encrypted"])
def test_scenario_collects_the_dump(emulator_for, run_playbook, tmp_path, scenario):
    spec = need_scenario(scenario)
    vm = spec["virtual_machines"][0]
    emulator = emulator_for(scenario)
    run = run_playbook(emulator, PLAYBOOK, *first_vm(spec))
    assert run.returncode == 0, run.output[-6000:]
    report = report_of(tmp_path, vm["name"])
    assert report["status"] == "succeeded"
    facts = report["repair"]["facts"]
    assert facts["hyper_v_generation"] == vm.get("hyper_v_generation", "V2")
    assert facts["zone"] == vm.get("zone")
    assert facts["security_type"] == (vm.get("security_type") or "Standard")
    if scenario == "des-encrypted":
        assert facts["encryption"]["type"] == "customer_key" and facts["encryption"]["disk_encryption_set_id"]
    assert emulator.tagged(TAG, report["repair"]["repair_id"]) == []


def test_ade_encrypted_scenario_stops_before_creating_anything(emulator_for, run_playbook):
    spec = need_scenario("ade-encrypted")
    emulator = emulator_for("ade-encrypted")
    since = len(emulator.requests("arm"))
    run = run_playbook(emulator, PLAYBOOK, *first_vm(spec))
    assert run.returncode != 0
    assert "Azure Disk Encryption" in run.output and "--unlock-encrypted-vm" in run.output
    assert creating(emulator.requests("arm")[since:]) == []


def test_size_unavailable_scenario_falls_back_and_says_why(emulator_for, run_playbook, tmp_path):
    spec = need_scenario("size-unavailable")
    emulator = emulator_for("size-unavailable")
    run = run_playbook(emulator, PLAN_PLAYBOOK, *first_vm(spec))
    assert run.returncode == 0, run.output[-4000:]
    plan = read_plan(tmp_path)
    assert not plan.get("failed"), plan.get("msg")
    assert plan["vm_size"] != "Standard_D2s_v3"
    assert "Standard_D2s_v3" in plan["vm_size_reason"] and "fits instead" in plan["vm_size_reason"]


def test_locked_rg_scenario_is_refused_before_anything_is_created(emulator_for, run_playbook, tmp_path):
    spec = need_scenario("locked-rg")
    emulator = emulator_for("locked-rg")
    lock = spec["resource_groups"][0]["locks"][0]
    since = len(emulator.requests("arm"))
    run = run_playbook(emulator, PLAN_PLAYBOOK, *first_vm(spec))
    assert run.returncode == 0, run.output[-4000:]
    plan = read_plan(tmp_path)
    assert plan["failed"]
    assert f"lock '{lock['name']}' ({lock['level']}" in plan["msg"] and "Nothing was created" in plan["msg"]
    assert creating(emulator.requests("arm")[since:]) == []

    # The whole procedure stops too (a ReadOnly lock refuses writes and POST actions alike) and
    # leaves nothing of a repair behind.
    run = run_playbook(emulator, PLAYBOOK, *first_vm(spec))
    assert run.returncode != 0
    assert "ScopeLocked" in run.output or f"lock '{lock['name']}'" in run.output
    source_vm = spec["virtual_machines"][0]
    vm_id = (f"/subscriptions/{spec.get('subscription_id', '6a3bb0c2-4f4e-4e1b-9d7a-0c2f1c5b1e01')}/resourceGroups/"
             f"{source_vm['resource_group']}/providers/Microsoft.Compute/virtualMachines/{source_vm['name']}")
    repair_id = hashlib.sha256(vm_id.lower().encode()).hexdigest()[:8]
    assert emulator.tagged(TAG, repair_id) == []
