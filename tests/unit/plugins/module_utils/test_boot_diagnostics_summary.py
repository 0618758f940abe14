"""Triage summary of a VM, stop code from the serial log, saving files."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError
from ansible_collections.vmrepair.azure.plugins.module_utils._local_files import save_file
from ansible_collections.vmrepair.azure.plugins.module_utils._boot_diagnostics import (
    read_serial_log,
    summarize_vm,
)

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "azure-rest-api-specs"
REALDATA_SERIAL = Path("/work/shared/realdata/serial")

# What Windows writes to COM1 when EMS is on and it stops (the shape of SAC's BLUESCREEN record).
EMS_LOG = (
    "Computer is booting, SAC started and initialized.\r\n\r\n"
    "SAC><?xml><BP>\r\n"
    '<INSTANCE CLASSNAME="BLUESCREEN">\r\n'
    '<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0xC000021A"</VALUE></PROPERTY><machine-info>\r\n'
    "<name>WEB-01</name>\r\n<guid>5f0b7c9e-0000-4000-8000-000000000001</guid>\r\n"
    "<processor-architecture>AMD64</processor-architecture>\r\n<os-version>10.0</os-version>\r\n"
    "<os-build-number>20348</os-build-number>\r\n<os-product>Windows Server 2022 Datacenter</os-product>\r\n"
    "<os-service-pack>None</os-service-pack>\r\n</machine-info>\r\n"
    "</INSTANCE>\r\n</BP>\r\n!SAC>\r\n"
)


def example_body(name: str) -> dict:
    return copy.deepcopy(json.loads((EXAMPLES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"])


@pytest.fixture
def vm():
    body = example_body("VirtualMachine_Get.json")
    body["properties"]["instanceView"] = example_body("VirtualMachine_Get_InstanceView.json")
    return body


def test_summary_of_the_official_vm_example(vm):
    disk = example_body("Disk_Get.json")
    disk["properties"]["hyperVGeneration"] = "V2"
    summary = summarize_vm(vm, disk)
    assert summary["name"] == "myVM"
    assert summary["resource_group"] == "myResourceGroup"
    assert summary["location"] == "West US"
    assert summary["os_type"] == "Windows"
    assert summary["power_state"] == "running"
    assert summary["provisioning_state"] == "Succeeded"
    assert summary["vm_size"] == "Standard_DS3_v2"
    assert summary["zones"] == []
    assert summary["hyper_v_generation"] == "V2"  # from the disk, over the instance view's V1
    assert summary["os_disk"]["name"] == "myOsDisk" and summary["os_disk"]["managed"] is True
    # The example has a storageUri: boot diagnostics in a storage account of the customer.
    assert summary["boot_diagnostics"] == {"enabled": True, "storage": "custom"}


def test_generation_falls_back_to_instance_view_and_managed_storage(vm):
    del vm["properties"]["diagnosticsProfile"]["bootDiagnostics"]["storageUri"]
    summary = summarize_vm(vm, None)
    assert summary["hyper_v_generation"] == "V1"
    assert summary["boot_diagnostics"] == {"enabled": True, "storage": "managed"}


def test_boot_diagnostics_off(vm):
    vm["properties"]["diagnosticsProfile"]["bootDiagnostics"] = {"enabled": False}
    assert summarize_vm(vm, None)["boot_diagnostics"] == {"enabled": False, "storage": None}


def test_stop_code_from_ems_record():
    reading = read_serial_log(EMS_LOG.encode())
    stop_code, machine_info, reason = reading["stop_code"], reading["machine_info"], reading["reason"]
    assert stop_code == {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED",
                         "source": "serial_log_ems", "confidence": "certain"}
    assert machine_info["name"] == "WEB-01" and machine_info["os_build"] == "20348"
    assert reason is None and reading["ems"] and reading["records"] == 1 and not reading["booted_since"]


def test_no_stop_code_without_ems_record_says_why():
    text = "Microsoft Azure VM Health Report\n{...}\n"
    if (REALDATA_SERIAL / "azure_serial_vm_health_report_no_sac_fragment.txt").exists():
        text = (REALDATA_SERIAL / "azure_serial_vm_health_report_no_sac_fragment.txt").read_text()
    reading = read_serial_log(text)
    assert reading["stop_code"] is None and "BLUESCREEN" in reading["reason"] and not reading["ems"]


def test_empty_serial_log_says_so():
    reading = read_serial_log(b"")
    assert reading["stop_code"] is None and "empty" in reading["reason"]


def test_a_new_boot_after_the_last_stop_is_noticed():
    reading = read_serial_log(EMS_LOG + "\r\nComputer is booting, SAC started and initialized.\r\n\r\nSAC>")
    assert reading["stop_code"]["code"] == "0xC000021A" and reading["booted_since"]


def test_ems_on_without_a_record_says_no_stop_since_boot():
    reading = read_serial_log("Computer is booting, SAC started and initialized.\r\n\r\nSAC>")
    assert reading["stop_code"] is None and reading["ems"] and "recorded no stop" in reading["reason"]


def test_save_file_writes_only_when_content_differs(tmp_path):
    target = tmp_path / "serial.log"
    first = save_file(str(target), b"abc", check_mode=False)
    assert first["changed"] and target.read_bytes() == b"abc"
    assert save_file(str(target), b"abc", check_mode=False)["changed"] is False
    would = save_file(str(target), b"xyz", check_mode=True)
    assert would["changed"] and target.read_bytes() == b"abc"
    assert [p.name for p in tmp_path.iterdir()] == ["serial.log"]  # no temporary file left behind


def test_save_file_into_a_missing_directory_fails(tmp_path):
    with pytest.raises(AzureInputError, match="does not exist"):
        save_file(str(tmp_path / "missing" / "x.bmp"), b"x", check_mode=False)
