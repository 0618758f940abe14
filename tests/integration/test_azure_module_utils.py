"""The collection's Azure module_utils against the emulator: real azure-identity, real SDK clients.

Covers authentication through the custom-cloud metadata, clear errors, boot-diagnostics triage,
the repair VM (check mode, creation with overlapping operations, convergence, rollback) and
cleanup. The ansible-playbook runs of the same modules are in the playbook tests.
"""
from __future__ import annotations

import hashlib
import json
import sys

import pytest

from harness import COLLECTIONS  # harness puts tests/emulator on sys.path
from vmrepair_emulator.testing import put_collection_on_path  # noqa: E402

put_collection_on_path()

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import connect  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (  # noqa: E402
    AzureAuthError,
    AzureInputError,
    AzureNotFoundError,
    VmrepairError,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._boot_diagnostics import (  # noqa: E402
    collect_boot_diagnostics,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._cleanup import cleanup_repair  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import (  # noqa: E402
    TAG_REPAIR_ID,
    TAG_SOURCE_VM,
    TAG_WINRM_SHA256,
    default_repair_id,
    vm_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_vm import (  # noqa: E402
    RepairRequest,
    ensure_repair_vm,
    presented_certificate,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import Deadline  # noqa: E402

PASSWORD = "Rep@ir-Passw0rd-42"
WRITE_METHODS = ("PUT", "POST", "PATCH", "DELETE")


def auth_options(emulator, **override) -> dict:
    env = emulator.env
    options = {
        "auth_source": "auto",
        "subscription_id": env["AZURE_SUBSCRIPTION_ID"],
        "client_id": env["AZURE_CLIENT_ID"],
        "secret": env["AZURE_SECRET"],
        "tenant": env["AZURE_TENANT"],
        "cloud_environment": env["AZURE_CLOUD_ENVIRONMENT"],
        "profile": None,
    }
    options.update(override)
    return options


@pytest.fixture
def world(emulator_for, monkeypatch, request):
    """world(scenario) -> (emulator, clients); knobs are reset afterwards (the emulator is shared)."""
    used = []

    def get(scenario: str):
        emulator = emulator_for(scenario)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.env["REQUESTS_CA_BUNDLE"])
        clients = connect(auth_options(emulator), environ={})
        used.append((emulator, clients, emulator.control("knobs")["latency_scale"]))
        return emulator, clients

    yield get
    for emulator, clients, latency_scale in used:
        clients.close()
        emulator.set_knobs(latency_scale=latency_scale, faults=[])


def last_seq(emulator) -> int:
    records = emulator.requests()
    return max((r["seq"] for r in records), default=0)


def arm_since(emulator, seq: int) -> list[dict]:
    return list(emulator.control("requests", service="arm", since=seq + 1))


def writes_since(emulator, seq: int) -> list[dict]:
    return [r for r in arm_since(emulator, seq) if r["method"] in WRITE_METHODS]


# --- authentication and errors -------------------------------------------------------------------


def test_custom_cloud_comes_from_arm_metadata_and_signs_in_there(world):
    emulator, clients = world("c21a-with-dump")
    seq = last_seq(emulator)
    vm = clients.get_vm("prod-rg", "web-01")
    assert vm["name"] == "web-01"
    assert clients.cloud.custom and clients.cloud.login_endpoint == emulator.env["AZURE_CLOUD_ENVIRONMENT"]
    records = emulator.control("requests", since=seq + 1)
    tokens = [r for r in records if r["service"] == "identity" and "/token" in r["path"]]
    assert tokens and tokens[0]["client_id"] == emulator.env["AZURE_CLIENT_ID"]
    arm = [r for r in records if r["service"] == "arm"]
    assert all("vmrepair.azure/" in (r.get("user_agent") or "") for r in arm)


def test_wrong_secret_names_the_aadsts_code_and_never_the_secret(world):
    emulator = world("c21a-with-dump")[0]
    wrong = "Wr0ng-Secret-Value-123"
    clients = connect(auth_options(emulator, secret=wrong), environ={})
    try:
        with pytest.raises(AzureAuthError) as caught:
            clients.get_vm("prod-rg", "web-01")
    finally:
        clients.close()
    assert "AADSTS7000215" in caught.value.message and "'secret'" in caught.value.message
    assert wrong not in caught.value.message and wrong not in json.dumps(caught.value.details)


def test_missing_vm_and_missing_group_are_named(world):
    clients = world("c21a-with-dump")[1]
    with pytest.raises(AzureNotFoundError) as missing_vm:
        clients.get_vm("prod-rg", "web-99")
    assert missing_vm.value.message == "Virtual machine 'web-99' was not found in resource group 'prod-rg'"
    with pytest.raises(AzureNotFoundError) as missing_group:
        clients.get_vm("nope-rg", "web-01")
    assert "Resource group 'nope-rg' was not found" in missing_group.value.message


# --- boot diagnostics ----------------------------------------------------------------------------


def test_boot_diagnostics_confirm_the_stop_code_and_save_files(world, tmp_path):
    emulator, clients = world("c21a-with-dump")
    serial_dest, screenshot_dest = tmp_path / "serial.log", tmp_path / "screen.bmp"
    result = collect_boot_diagnostics(clients, "prod-rg", "web-01", serial_log_dest=str(serial_dest),
                                      screenshot_dest=str(screenshot_dest))
    vm = result["vm"]
    assert vm["stop_code"] == {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED",
                               "source": "serial_log_ems", "confidence": "certain"}
    assert vm["stop_code_reason"] is None
    assert vm["machine_info"]["os_build"] == "20348"
    assert (vm["os_type"], vm["power_state"], vm["hyper_v_generation"]) == ("Windows", "running", "V2")
    assert vm["boot_diagnostics"] == {"enabled": True, "storage": "managed"}
    assert vm["os_disk"]["managed"] and vm["os_disk"]["id"]
    assert serial_dest.read_bytes().count(b"BLUESCREEN") >= 1 and screenshot_dest.stat().st_size > 0
    assert result["changed"] is True
    # Nothing returned may carry the SAS tokens.
    assert "sig=" not in json.dumps(result)
    again = collect_boot_diagnostics(clients, "prod-rg", "web-01", serial_log_dest=str(serial_dest),
                                     screenshot_dest=str(screenshot_dest))
    assert again["changed"] is False


def test_boot_diagnostics_off_gives_a_reason_and_asks_for_no_sas(world):
    emulator, clients = world("bootdiag-off")
    seq = last_seq(emulator)
    result = collect_boot_diagnostics(clients, "prod-rg", "web-01")
    assert result["vm"]["stop_code"] is None
    assert "boot diagnostics are disabled" in result["vm"]["stop_code_reason"]
    operations = [r.get("operation") for r in arm_since(emulator, seq)]
    assert "VirtualMachines_RetrieveBootDiagnosticsData" not in operations


def mixed_vm(**wanted) -> dict:
    """The first VM of the fleet-mixed scenario with these spec values (the scenario is the truth)."""
    from vmrepair_emulator.scenario import load_scenario

    return next(vm for vm in load_scenario("fleet-mixed").virtual_machines
                if all(vm[key] == value for key, value in wanted.items()))


def test_without_an_ems_record_the_stop_code_comes_from_the_screenshot_never_certain(world, tmp_path):
    emulator, clients = world("fleet-mixed")
    vm = mixed_vm(os_type="Windows", power_state="running", boot_diagnostics="managed", ems=False,
                  screenshot="auto", serial_log="auto")
    dests = {name: str(tmp_path / name) for name in ("serial.log", "shot.bmp", "shot.png", "thumb.png")}
    result = collect_boot_diagnostics(clients, vm["resource_group"], vm["name"], serial_log_dest=dests["serial.log"],
                                      screenshot_dest=dests["shot.bmp"], screenshot_png_dest=dests["shot.png"],
                                      screenshot_thumbnail_dest=dests["thumb.png"])
    summary = result["vm"]
    assert summary["stop_code"]["source"] == "screenshot_ocr"
    assert int(summary["stop_code"]["code"], 16) == int(vm["stop_code"], 16)
    assert summary["stop_code"]["confidence"] in ("high", "low")
    assert summary["triage_status"] in ("stop_screen", "stop_screen_uncertain")
    assert summary["screen"]["kind"] == "stop" and (summary["screen"]["width"], summary["screen"]["height"]) == \
        tuple(vm["screen_size"])
    shot = (tmp_path / "shot.bmp").read_bytes()
    assert shot[:2] == b"BM" and summary["evidence"]["screenshot"]["sha256"] == hashlib.sha256(shot).hexdigest()
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "thumb.png").stat().st_size < 12_000  # a palette thumbnail: a few KB
    assert {f["kind"] for f in result["files"]} == {"serial_log", "screenshot", "screenshot_png", "screenshot_thumbnail"}
    assert "sig=" not in json.dumps(result)


@pytest.mark.parametrize("variant,status,reason", [
    ({"screenshot": "none", "serial_log": "none"}, "unknown", "no screenshot yet"),
    ({"screenshot": "blank"}, "unknown", None),  # a deallocated VM's last console
    ({"screenshot": "lock", "stop_code": None}, "no_stop_screen", "not a stop screen"),
    ({"serial_log": "garbage", "stop_code": None}, "no_stop_screen", None),
])
def test_what_cannot_be_read_is_said_and_never_guessed(world, variant, status, reason):
    emulator, clients = world("fleet-mixed")
    vm = mixed_vm(os_type="Windows", boot_diagnostics="managed", **variant)
    summary = collect_boot_diagnostics(clients, vm["resource_group"], vm["name"])["vm"]
    assert summary["triage_status"] == status, summary["stop_code_reason"]
    assert summary["stop_code"] is None or summary["stop_code"]["confidence"] != "certain"
    assert summary["stop_code_reason"]
    if reason:
        assert reason in summary["stop_code_reason"]


def test_an_expired_sas_link_is_a_reason_not_a_failure(world, tmp_path):
    emulator, clients = world("fleet-mixed")
    vm = mixed_vm(os_type="Windows", power_state="running", boot_diagnostics="managed", ems=False,
                  screenshot="auto", serial_log="auto")
    emulator.set_knobs(bootdiag_sas_expiry_s=-60)
    try:
        result = collect_boot_diagnostics(clients, vm["resource_group"], vm["name"],
                                          screenshot_dest=str(tmp_path / "shot.bmp"))
    finally:
        emulator.set_knobs(bootdiag_sas_expiry_s=None)
    summary = result["vm"]
    assert summary["stop_code"] is None and summary["triage_status"] == "unknown"
    assert "expired" in summary["evidence"]["screenshot"]["reason"]
    assert "expired" in summary["stop_code_reason"]
    assert not (tmp_path / "shot.bmp").exists() and result["warnings"]
    assert "sig=" not in json.dumps(result)


# --- repair VM -----------------------------------------------------------------------------------


def request_for(**override) -> RepairRequest:
    values = {"resource_group": "prod-rg", "vm_name": "web-01", "admin_password": PASSWORD, "timeout": 300}
    values.update(override)
    return RepairRequest(**values)


def test_linux_vm_is_refused_before_anything_is_created(world):
    emulator, clients = world("linux-vm")
    seq = last_seq(emulator)
    with pytest.raises(AzureInputError, match="runs Linux"):
        ensure_repair_vm(clients, request_for(resource_group="lnx-rg", vm_name="lnx-01"), render_script=render_script)
    assert writes_since(emulator, seq) == []


def test_check_mode_plans_and_creates_nothing(world):
    emulator, clients = world("c21a-with-dump")
    seq = last_seq(emulator)
    result = ensure_repair_vm(clients, request_for(), check_mode=True, render_script=render_script)
    assert [s["action"] for s in result["plan"]] == [
        "create", "create", "create", "create", "create", "update_tags", "run_command", "update_tags"]
    assert result["changed"] is True and result["created"] == []
    assert writes_since(emulator, seq) == []


def test_repair_vm_is_created_converges_and_is_cleaned_up(world):
    emulator, clients = world("c21a-with-dump")
    # Long enough operations that overlapping ones visibly overlap (VM create ~12 s).
    usual_scale = emulator.control("knobs")["latency_scale"]
    emulator.set_knobs(latency_scale=0.2)
    source_disks_before = emulator.control("disks")
    seq = last_seq(emulator)

    result = ensure_repair_vm(clients, request_for(), render_script=render_script)

    repair_id = result["repair_id"]
    source_id = vm_resource_id(clients.subscription_id, "prod-rg", "web-01")
    assert repair_id == default_repair_id(source_id)
    assert result["changed"] is True and len(result["created"]) == 5
    # Every resource of the repair carries both tags, the OS disk Azure made for the repair VM too.
    tagged = {r["id"].lower(): r for r in emulator.tagged(TAG_REPAIR_ID, repair_id)}
    in_repair_group = [r["id"].lower() for r in emulator.control("resources")
                       if f"/resourcegroups/{result['repair_resource_group']}/".lower() in r["id"].lower()]
    assert len(in_repair_group) == 3  # VM, NIC, OS disk
    for resource_id in [i.lower() for i in result["created"]] + in_repair_group:
        tags = tagged[resource_id]["tags"]
        assert tags[TAG_REPAIR_ID] == repair_id and tags[TAG_SOURCE_VM].lower() == source_id.lower()
    # The repair VM: disk copy at LUN 0, NIC without public IP, in the source subnet.
    vm = clients.get_vm(result["repair_resource_group"], result["repair_vm"]["name"])
    data_disks = vm["properties"]["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["managedDisk"]["id"].lower()) for d in data_disks] == [(0, result["disk_copy"]["id"].lower())]
    assert vm["properties"]["osProfile"]["computerName"] == result["repair_vm"]["computer_name"]
    assert result["repair_vm"]["private_ip"].startswith("127.42.1.")
    # The certificate came through Run Command and is what the listener presents.
    der = presented_certificate(result["winrm"]["host"], result["winrm"]["port"])
    assert der is not None and hashlib.sha256(der).hexdigest() == result["winrm"]["thumbprint_sha256"]
    assert vm["tags"][TAG_WINRM_SHA256] == result["winrm"]["thumbprint_sha256"]
    assert result["winrm"]["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    # The source OS disk was only read.
    source_disk_id = next(k for k in source_disks_before if "web-01_osdisk" in k.lower())
    disks_after = emulator.control("disks")
    assert disks_after[source_disk_id]["sha256"] == source_disks_before[source_disk_id]["sha256"]
    assert disks_after[source_disk_id]["writes"] == source_disks_before[source_disk_id]["writes"]
    assert not any(source_disk_id.lower() in (r.get("resource_id") or "").lower() for r in writes_since(emulator, seq))
    # Independent operations overlapped: snapshot with the resource group, disk copy with the NIC.
    operations = {op["resource_id"].lower().rsplit("/", 1)[-1]: op for op in emulator.control("operations")}
    writes = writes_since(emulator, seq)
    group_put = next(r for r in writes if r.get("operation") == "ResourceGroups_CreateOrUpdate")
    snapshot = operations[f"snap-web-01-{repair_id}"]
    assert snapshot["started"] <= group_put["time"] <= snapshot["ended"]
    disk, nic = operations[f"disk-web-01-{repair_id}"], operations[f"nic-vmrepair-{repair_id}"]
    assert disk["started"] < nic["ended"] and nic["started"] < disk["ended"]

    # Again: nothing to do, nothing written, the same pinned certificate.
    seq = last_seq(emulator)
    again = ensure_repair_vm(clients, request_for(), render_script=render_script)
    assert (again["changed"], again["plan"], again["created"]) == (False, [], [])
    assert again["winrm"]["thumbprint_sha256"] == result["winrm"]["thumbprint_sha256"]
    assert writes_since(emulator, seq) == []

    # Cleanup: everything tagged goes, the group too; a second cleanup has nothing to do.
    emulator.set_knobs(latency_scale=usual_scale)
    cleaned = cleanup_repair(clients, repair_id, result["repair_resource_group"], Deadline(300))
    assert cleaned["remaining"] == [] and cleaned["changed"] is True
    assert {i.lower() for i in result["created"]} <= {i.lower() for i in cleaned["deleted"]}
    assert emulator.tagged(TAG_REPAIR_ID, repair_id) == []
    assert cleanup_repair(clients, repair_id, result["repair_resource_group"], Deadline(60))["changed"] is False


def test_failure_midway_rolls_back_what_the_run_created(world):
    emulator, clients = world("c21a-with-dump")
    emulator.set_knobs(faults=[{"match": {"operation": "VirtualMachines_CreateOrUpdate"}, "status": 409,
                                "code": "OperationNotAllowed", "message": "Operation could not be completed "
                                "as it results in exceeding approved standardDSv3Family Cores quota.",
                                "count": 1}])
    with pytest.raises(VmrepairError) as caught:
        ensure_repair_vm(clients, request_for(repair_id="rollback1"), render_script=render_script)
    error = caught.value
    assert "OperationNotAllowed" in error.message and "rolled back" in error.message
    # Everything the run sent a PUT for, the refused VM included (deleting it is a no-op).
    rolled_back = sorted(i.rsplit("/", 1)[-1] for i in error.details["rolled_back"])
    assert rolled_back == ["disk-web-01-rollback1", "nic-vmrepair-rollback1", "rg-vmrepair-rollback1",
                           "snap-web-01-rollback1", "vmrepair-rollback1"]
    assert error.details["rollback_errors"] == []
    assert len(error.details["created"]) == 4
    assert emulator.tagged(TAG_REPAIR_ID, "rollback1") == []
    assert PASSWORD not in error.message and PASSWORD not in json.dumps(error.details)


def test_keep_resources_keeps_them_and_a_rerun_converges(world):
    emulator, clients = world("c21a-with-dump")
    emulator.set_knobs(faults=[{"match": {"operation": "VirtualMachines_CreateOrUpdate"}, "status": 409,
                                "code": "OperationNotAllowed", "message": "quota", "count": 1}])
    with pytest.raises(VmrepairError) as caught:
        ensure_repair_vm(clients, request_for(repair_id="keep1", keep_resources=True), render_script=render_script)
    assert "rolled_back" not in caught.value.details
    kept = sorted(r["id"].rsplit("/", 1)[-1] for r in emulator.tagged(TAG_REPAIR_ID, "keep1"))
    assert kept == ["disk-web-01-keep1", "nic-vmrepair-keep1", "rg-vmrepair-keep1", "snap-web-01-keep1"]
    result = ensure_repair_vm(clients, request_for(repair_id="keep1"), render_script=render_script)
    assert [s["action"] for s in result["plan"]] == ["create", "update_tags", "run_command", "update_tags"]
    assert len(result["created"]) == 1
    cleaned = cleanup_repair(clients, "keep1", result["repair_resource_group"], Deadline(300))
    assert cleaned["remaining"] == []


def test_throttling_and_transient_errors_are_retried_by_the_sdk(world):
    emulator, clients = world("c21a-with-dump")
    emulator.set_knobs(faults=[
        {"match": {"operation": "VirtualMachines_Get"}, "status": 429, "retry_after": 1, "count": 2},
        {"match": {"operation": "Disks_Get"}, "status": 503, "count": 1},
    ])
    result = collect_boot_diagnostics(clients, "prod-rg", "web-01")
    assert result["vm"]["name"] == "web-01"
    fired = [f.get("fired", 0) for f in emulator.control("knobs")["faults"]]
    assert fired == [2, 1]


KILLED_RUN = """
import json, sys
sys.path.insert(0, {collections!r})
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import connect
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_vm import RepairRequest, ensure_repair_vm
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script
clients = connect(json.loads({options!r}), environ={{}})
ensure_repair_vm(clients, RepairRequest("prod-rg", "web-01", admin_password={password!r}, repair_id="killed1",
                                        timeout=300), render_script=render_script)
"""


def test_a_run_killed_midway_is_converged_by_the_next_one(world):
    import os
    import subprocess
    import time

    emulator, clients = world("c21a-with-dump")
    usual_scale = emulator.control("knobs")["latency_scale"]
    emulator.set_knobs(latency_scale=0.1)  # the repair VM stays "Creating" for ~6 s
    seq = last_seq(emulator)
    code = KILLED_RUN.format(collections=str(COLLECTIONS), options=json.dumps(auth_options(emulator)),
                             password=PASSWORD)
    process = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while not any(r.get("operation") == "VirtualMachines_CreateOrUpdate" for r in writes_since(emulator, seq)):
            assert process.poll() is None and time.monotonic() < deadline, "the first run never created the VM"
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait()

    result = ensure_repair_vm(clients, request_for(repair_id="killed1"), render_script=render_script)
    assert [(s["action"], s["resource_type"]) for s in result["plan"]] == [
        ("wait", "Microsoft.Compute/virtualMachines"),
        ("update_tags", "Microsoft.Compute/disks"),
        ("run_command", "Microsoft.Compute/virtualMachines"),
        ("update_tags", "Microsoft.Compute/virtualMachines"),
    ]
    assert result["created"] == []  # the first run created them; this one only finished the job
    vm_puts = [r for r in writes_since(emulator, seq) if r.get("operation") == "VirtualMachines_CreateOrUpdate"]
    assert len(vm_puts) == 1
    assert presented_certificate(result["winrm"]["host"]) is not None
    emulator.set_knobs(latency_scale=usual_scale)
    assert cleanup_repair(clients, "killed1", result["repair_resource_group"], Deadline(300))["remaining"] == []
