"""The whole 0xC000021A procedure, through the real ansible-playbook, against the emulator."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from harness import COLLECTIONS, ROOT, writes_in

SCENARIOS = ROOT / "tests" / "emulator" / "scenarios"
PLAYBOOK = "vmrepair.azure.collect_dump"
TAG = "vmrepair-repair-id"


def scenario_vm(scenario: str, name: str) -> dict:
    spec = yaml.safe_load((SCENARIOS / f"{scenario}.yaml").read_text())
    return next(vm for vm in spec["virtual_machines"] if vm["name"] == name)


def creating(records: list[dict]) -> list[dict]:
    """Requests that create or change resources (retrieveBootDiagnosticsData is a POST that reads)."""
    return [r for r in writes_in(records) if r.get("operation") != "VirtualMachines_RetrieveBootDiagnosticsData"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_collects_verified_dump_and_leaves_nothing(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    disks_before = emulator.control("disks")
    since = len(emulator.requests())

    run = run_playbook(emulator, PLAYBOOK, "-e", "vm_name=web-01", "-e", "resource_group=prod-rg")
    assert run.returncode == 0, run.output[-6000:]

    spec = scenario_vm("c21a-with-dump", "web-01")["os_disk"]["memory_dump"]
    out = tmp_path / "out" / "web-01"
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "succeeded"

    fetched = report["fetched"]
    dump_file = Path(fetched["dest"])
    assert dump_file.parent == out and dump_file.name == "MEMORY.DMP"
    assert dump_file.stat().st_size == spec["size_mb"] * 1024 * 1024 == fetched["size"]
    # The controller's own hash of the file equals the hash the repair VM computed.
    assert sha256_of(dump_file) == fetched["sha256"] == fetched["remote_sha256"]

    header = report["dump"]
    assert header["bugcheck_code"].lower() == spec["bugcheck_code"].lower()
    assert [int(p, 16) for p in header["bugcheck_parameters"]] == [int(p, 16) for p in spec["bugcheck_parameters"]]

    # The demo's closing lines say where the dump is, its hash, the bugcheck and the cleanup result.
    assert str(dump_file) in run.stdout
    assert fetched["sha256"] in run.stdout
    assert "remaining in the subscription: none" in run.stdout
    assert (out / "report.html").is_file()

    # Nothing tagged with the repair id remains, and the repair VM's secrets are gone from disk.
    repair_id = report["repair"]["repair_id"]
    assert report["cleanup"]["remaining"] == []
    assert emulator.tagged(TAG, repair_id) == []
    assert not (out / "admin-password").exists()

    # The source VM's OS disk was read (snapshot source) and never written.
    disks_after = emulator.control("disks")
    source_disk = next(d for d in disks_before if "web-01_osdisk" in d.lower())
    assert disks_after[source_disk]["sha256"] == disks_before[source_disk]["sha256"]
    # The only write the disk ever saw is the emulator building it from the scenario.
    assert disks_after[source_disk]["writes"] == disks_before[source_disk]["writes"]
    assert [w["reason"] for w in disks_after[source_disk]["writes"]] == ["scenario OS disk"]

    records = emulator.requests()[since:]
    by_service = {}
    for record in records:
        by_service.setdefault(record["service"], []).append(record)
    # Real azure-identity got the token, the real SDK drove ARM, real pywinrm spoke WinRM (NTLM),
    # Azurite served boot diagnostics.
    assert any("azsdk-python-identity" in r.get("user_agent", "") for r in by_service["identity"])
    arm_agents = {r.get("user_agent", "") for r in by_service["arm"]}
    assert any("azsdk-python-mgmt-compute" in a for a in arm_agents)
    assert any("vmrepair.azure" in a for a in arm_agents)
    assert any("Python WinRM client" in r.get("user_agent", "") for r in by_service["winrm"])
    assert {r.get("winrm_action") for r in by_service["winrm"]} >= {"Create", "Command", "Receive", "Delete"}
    assert any(r.get("principal", "").lower().endswith("vmrepair") for r in by_service["winrm"])
    assert any("serial" in r["path"].lower() for r in emulator.control("requests", service="blob"))
    operations = {r.get("operation") for r in by_service["arm"]}
    assert {"Snapshots_CreateOrUpdate", "Disks_CreateOrUpdate", "VirtualMachines_CreateOrUpdate",
            "VirtualMachines_RunCommand", "VirtualMachines_RetrieveBootDiagnosticsData"} <= operations


@pytest.mark.parametrize(
    ("scenario", "extra", "message"),
    [
        ("c21a-with-dump", ["-e", "vm_name=no-such-vm", "-e", "resource_group=prod-rg"],
         "'no-such-vm' was not found in resource group 'prod-rg'"),
        ("c21a-with-dump", ["-e", "vm_name=web-01", "-e", "resource_group=no-such-rg"],
         "no-such-rg"),
        ("linux-vm", ["-e", "vm_name=lnx-01", "-e", "resource_group=lnx-rg"],
         "is a Linux VM"),
        ("bootdiag-off", ["-e", "vm_name=web-01", "-e", "resource_group=prod-rg"],
         "Boot diagnostics are off"),
        ("healthy-vm", ["-e", "vm_name=app-01", "-e", "resource_group=prod-rg"],
         "does not show stop error 0xC000021A"),
    ],
    ids=["vm-missing", "group-missing", "linux", "bootdiag-off", "no-stop-code"],
)
def test_bad_input_fails_before_creating_anything(emulator_for, run_playbook, scenario, extra, message):
    emulator = emulator_for(scenario)
    since = len(emulator.requests("arm"))
    run = run_playbook(emulator, PLAYBOOK, *extra)
    assert run.returncode != 0
    assert message in run.output
    assert creating(emulator.requests("arm")[since:]) == []


# --- finding the dump (issue 5) -------------------------------------------------------------------

SOURCE = ["-e", "vm_name=web-01", "-e", "resource_group=prod-rg"]


def test_no_dump_says_why_and_what_to_do_and_cleans_up(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-no-dump")
    run = run_playbook(emulator, PLAYBOOK, *SOURCE)
    assert run.returncode != 0
    assert "No crash dump found on the broken OS disk" in run.output
    assert "crash dumps are disabled (CrashDumpEnabled = 0 in ControlSet001)" in run.output
    assert "enable_crash_dump" in run.output
    report = json.loads((tmp_path / "out" / "web-01" / "report.json").read_text())
    assert report["status"] == "failed" and report["dumps"] == []
    assert report["dump_search"]["windows_volumes"][0]["crash_control"]["dump_type"] == "none"
    assert emulator.tagged(TAG, report["repair"]["repair_id"]) == []


def test_the_dump_crash_control_names_is_found_and_fetched(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("dump-elsewhere")
    run = run_playbook(emulator, PLAYBOOK, *SOURCE)
    assert run.returncode == 0, run.output[-6000:]
    report = json.loads((tmp_path / "out" / "web-01" / "report.json").read_text())
    volume = report["dump_search"]["windows_volumes"][0]
    # Select\Current names ControlSet002; ControlSet001 holds stale values that must not be used.
    assert volume["crash_control"]["control_set"] == "ControlSet002"
    assert volume["crash_control"]["dump_type"] == "complete"
    drive = volume["drive_letter"]
    assert report["fetched"]["src"] == f"{drive}:\\CrashDumps\\MEMORY.DMP"
    assert report["dump"]["dump_type"] == "full" and report["dump"]["bugcheck_code"].lower() == "0xc000021a"
    by_path = {d["path"]: d for d in report["dumps"]}
    leftover = by_path[f"{drive}:\\Windows\\MEMORY.DMP"]
    assert leftover["usable"] is False and "not a usable dump" in leftover["problem"]
    assert [(m["source"], m["path"]) for m in report["dump_search"]["not_found"]] == [
        ("DedicatedDumpFile", "D:\\DedicatedDump.sys")]
    assert "temporary disk" in report["dump_search"]["not_found"][0]["why"]
    html = (tmp_path / "out" / "web-01" / "report.html").read_text()
    assert "ControlSet002" in html and "temporary disk" in html
    assert emulator.tagged(TAG, report["repair"]["repair_id"]) == []


def test_an_unfinished_dump_is_not_fetched_the_minidump_is(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("dump-unfinished")
    run = run_playbook(emulator, PLAYBOOK, *SOURCE)
    assert run.returncode == 0, run.output[-6000:]
    report = json.loads((tmp_path / "out" / "web-01" / "report.json").read_text())
    memory = next(d for d in report["dumps"] if d["kind"] == "memory")
    assert memory["usable"] is False and "still writing it" in memory["problem"]
    assert report["fetched"]["src"].endswith("\\Minidump\\112026-10000-01.dmp")
    assert "there is no usable memory dump" in report["dump_search"]["selected_reason"]
    assert "recording stop code 0xC000021A" in report["dump_search"]["selected_reason"]
    assert report["fetched"]["size"] == 256 * 1024
    assert emulator.tagged(TAG, report["repair"]["repair_id"]) == []


def test_wrong_credentials_fail_with_a_clear_message_and_no_secret(emulator_for, run_playbook):
    emulator = emulator_for("c21a-with-dump")
    since = len(emulator.requests("arm"))
    wrong = "not-the-secret-" + "x" * 12
    run = run_playbook(emulator, PLAYBOOK, "-e", "vm_name=web-01", "-e", "resource_group=prod-rg",
                       env={"AZURE_SECRET": wrong})
    assert run.returncode != 0
    assert "AADSTS7000215" in run.output or "invalid client secret" in run.output.lower()
    assert wrong not in run.output
    assert creating(emulator.requests("arm")[since:]) == []


# --- the storage relay (issue 5) -------------------------------------------------------------------

def relay_blobs(emulator, monkeypatch, account: str = "vmrepairrelay", group: str = "prod-rg") -> list[str]:
    """The blobs left in the relay container, read with the account's key as an operator would."""
    from azure.storage.blob import BlobServiceClient

    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import connect

    env = emulator.env
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"])
    clients = connect({"auth_source": "auto", "profile": None, "subscription_id": env["AZURE_SUBSCRIPTION_ID"],
                       "client_id": env["AZURE_CLIENT_ID"], "secret": env["AZURE_SECRET"],
                       "tenant": env["AZURE_TENANT"], "cloud_environment": env["AZURE_CLOUD_ENVIRONMENT"]}, environ={})
    try:
        endpoint = clients.storage.storage_accounts.get_properties(group, account).primary_endpoints.blob
        key = clients.storage.storage_accounts.list_keys(group, account).keys_property[0].value
    finally:
        clients.close()
    container = BlobServiceClient(endpoint, credential={"account_name": account, "account_key": key}) \
        .get_container_client("vmrepair-dumps")
    return [b.name for b in container.list_blobs()] if container.exists() else []


def test_the_dump_comes_through_the_storage_relay(emulator_for, run_playbook, tmp_path, monkeypatch):
    emulator = emulator_for("storage-relay")
    run = run_playbook(emulator, PLAYBOOK, *SOURCE, "-e", "transfer=storage", "-e", "storage_account=vmrepairrelay",
                       "-e", "storage_resource_group=prod-rg")
    assert run.returncode == 0, run.output[-6000:]
    report = json.loads((tmp_path / "out" / "web-01" / "report.json").read_text())
    fetched = report["fetched"]
    assert fetched["transfer"] == "storage" and fetched["relay"]["deleted"] is True
    assert sha256_of(Path(fetched["dest"])) == fetched["sha256"] == fetched["remote_sha256"]
    assert report["dump"]["bugcheck_code"].lower() == "0xc000021a"
    # The relay blob is gone; the SAS and the account key appear nowhere in the output or the report.
    assert relay_blobs(emulator, monkeypatch) == []
    text = run.output + (tmp_path / "out" / "web-01" / "report.json").read_text()
    assert "sig=" not in text and "AccountKey" not in text
    assert emulator.tagged(TAG, report["repair"]["repair_id"]) == []
