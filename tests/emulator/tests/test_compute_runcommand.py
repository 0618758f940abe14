"""Run Command (POST virtualMachines/{vm}/runCommand) through the real SDK, into the simulated Windows."""
from __future__ import annotations

import base64
import hashlib
import json
import random
import socket
import ssl
from pathlib import Path
from typing import Any, Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from vmrepair_emulator.arm.compute.runcommand import OUTPUT_LIMIT, _Tail, clixml_to_text
from vmrepair_emulator.arm.compute.testing import create_nic, repair_vm_body, script_with_params, unique
from vmrepair_emulator.testing import ControlClient, EmulatorProcess

RG = "prod-rg"
LOCATION = "westeurope"
POWERSHELL = Path(__file__).resolve().parents[3] / "powershell"


@pytest.fixture(scope="module")
def compute(default_emulator: EmulatorProcess) -> ComputeManagementClient:
    return default_emulator.mgmt_client(ComputeManagementClient)


@pytest.fixture(scope="module")
def repair(default_emulator: EmulatorProcess, compute: ComputeManagementClient) -> Iterator[dict[str, Any]]:
    network = default_emulator.mgmt_client(NetworkManagementClient)
    # A network of its own with a random loopback prefix: the WinRM listener binds <ip>:5986, and
    # other emulators on this host (same scenario, same addresses) may hold 127.42.1.x:5986.
    prefix = f"127.{random.randint(100, 199)}.{random.randint(1, 250)}"
    vnet = network.virtual_networks.begin_create_or_update(RG, unique("rc-vnet"), {
        "location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": [f"{prefix}.0/24"]},
                                             "subnets": [{"name": "default",
                                                          "properties": {"addressPrefix": f"{prefix}.0/24"}}]}}
    ).result()
    subnet = vnet.subnets[0]
    source = compute.virtual_machines.get(RG, "web-01").storage_profile.os_disk.managed_disk.id
    copy = compute.disks.begin_create_or_update(RG, unique("copy"), {"location": LOCATION, "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": source}}}).result()
    name = unique("rc")
    nic = create_nic(network, RG, f"{name}-nic", LOCATION, subnet.id)
    vm = compute.virtual_machines.begin_create_or_update(RG, name, repair_vm_body(LOCATION, nic.id, [copy.id])).result()
    yield {"vm": vm, "ip": nic.ip_configurations[0].private_ip_address, "copy": copy}
    compute.virtual_machines.begin_delete(RG, name).result()  # a no-op if a test deleted it
    compute.disks.begin_delete(RG, copy.name).result()
    network.virtual_networks.begin_delete(RG, vnet.name).result()


def _run(compute: ComputeManagementClient, vm_name: str, script: list[str]) -> tuple[str, str]:
    result = compute.virtual_machines.begin_run_command(
        RG, vm_name, {"commandId": "RunPowerShellScript", "script": script}).result()
    stdout, stderr = result.value
    assert (stdout.code, stderr.code) == ("ComponentStatus/StdOut/succeeded", "ComponentStatus/StdErr/succeeded")
    assert stdout.level == stderr.level == "Info"
    assert stdout.display_status == "Provisioning succeeded"
    return stdout.message, stderr.message


def _script(name: str, params: dict[str, Any]) -> list[str]:
    return script_with_params((POWERSHELL / f"{name}.ps1").read_text(encoding="utf-8"), params)


def test_enable_winrm_https_through_run_command(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    stdout, stderr = _run(compute, repair["vm"].name, _script("enable_winrm_https", {"subject_names": [repair["ip"]]}))
    assert stderr == ""
    answer = json.loads(stdout.strip().splitlines()[-1])
    assert answer["listener"] == f"https://{repair['ip']}:5986/wsman"
    # The listener now serves exactly the certificate the script returned (what the collection pins).
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((repair["ip"], 5986)))
    assert hashlib.sha1(der).hexdigest().upper() == answer["thumbprint"]
    assert der == base64.b64decode(answer["certificate"])


def test_output_is_the_last_4096_bytes(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    found, _stderr = _run(compute, repair["vm"].name, _script("find_dumps", {"header_bytes": 0}))
    dumps = json.loads(found.strip().splitlines()[-1])["dumps"]
    memory = next(d for d in dumps if d["kind"] == "memory")
    stdout, stderr = _run(compute, repair["vm"].name, _script("read_file_chunks", {
        "path": memory["path"], "offset": 0, "length": 65536, "chunk_size": 8192, "compression": "none"}))
    assert stderr == ""
    assert len(stdout.encode("utf-8")) == OUTPUT_LIMIT  # the full output is ~88 KB of base64
    assert stdout.rstrip().endswith("END 65536")
    assert not stdout.startswith("0 8192 ")  # the head was dropped


def test_failing_script_reports_plain_text_stderr(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    stdout, stderr = _run(compute, repair["vm"].name, ["Get-ChildItem C:\\"])
    assert stdout == ""
    assert "CLIXML" not in stderr and "_x000D_" not in stderr
    assert "vmrepair emulator: cannot run this PowerShell script" in stderr


def test_one_run_command_at_a_time(compute: ComputeManagementClient, repair: dict[str, Any],
                                   control: ControlClient) -> None:
    control.set_knobs(latency_scale=0.05)  # a 2 s Run Command; the fixture restores the knob
    first = compute.virtual_machines.begin_run_command(
        RG, repair["vm"].name, {"commandId": "RunPowerShellScript", "script": _script("find_dumps", {"header_bytes": 0})})
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_run_command(
            RG, repair["vm"].name, {"commandId": "RunPowerShellScript", "script": _script("find_dumps", {"header_bytes": 0})})
    assert info.value.error.code == "Conflict"
    assert info.value.error.message.startswith("Run command extension execution is in progress.")
    assert json.loads(first.result().value[0].message.strip().splitlines()[-1])["dumps"]
    second = compute.virtual_machines.begin_run_command(
        RG, repair["vm"].name, {"commandId": "RunPowerShellScript", "script": _script("find_dumps", {"header_bytes": 0})})
    assert second.result().value[0].message


def test_broken_vm_agent_never_answers(compute: ComputeManagementClient) -> None:
    poller = compute.virtual_machines.begin_run_command(
        RG, "web-01", {"commandId": "RunPowerShellScript", "script": ["Write-Output hi"]})
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error.code == "VMAgentStatusCommunicationError"


def test_run_command_needs_a_running_vm(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    name = repair["vm"].name
    compute.virtual_machines.begin_power_off(RG, name).result()
    try:
        with pytest.raises(ResourceExistsError) as info:
            compute.virtual_machines.begin_run_command(RG, name, {"commandId": "RunPowerShellScript",
                                                                  "script": ["Write-Output hi"]})
        assert info.value.error.code == "OperationNotAllowed"
    finally:
        compute.virtual_machines.begin_start(RG, name).result()
    # After the restart the agent comes back and Run Command works again.
    stdout, _stderr = _run(compute, name, _script("find_dumps", {"header_bytes": 0}))
    assert json.loads(stdout.strip().splitlines()[-1])["windows_volumes"]


def test_deleting_the_vm_closes_its_winrm_listener(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    """Runs after the WinRM test above: the listener it started goes away with the VM."""
    with socket.create_connection((repair["ip"], 5986), timeout=5):
        pass
    compute.virtual_machines.begin_delete(RG, repair["vm"].name).result()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((repair["ip"], 5986), timeout=5).close()
    assert compute.disks.get(RG, repair["copy"].name).managed_by is None


def test_linux_vm_refuses_run_powershell_script(emulator: Any) -> None:
    linux = emulator("linux-vm")
    compute = linux.mgmt_client(ComputeManagementClient)
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_run_command("lnx-rg", "lnx-01", {"commandId": "RunPowerShellScript",
                                                                        "script": ["Write-Output hi"]})
    assert info.value.error.code == "Conflict"
    assert info.value.error.message == "Run command OS type 'Windows' does not match the target OS Linux."


# ---- the pure pieces ------------------------------------------------------------------------------


def test_tail_keeps_the_last_bytes_without_a_split_character() -> None:
    tail = _Tail()
    tail.add(b"a" * 5000)
    tail.add("é".encode("utf-8") * 3000)  # 2 bytes each
    text = tail.text()
    assert text == "é" * (OUTPUT_LIMIT // 2)
    short = _Tail()
    short.add(b"hello\n")
    assert short.text() == "hello\n"


def test_clixml_error_stream_becomes_text() -> None:
    document = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
                '<S S="Error">first line_x000D__x000A_</S><S S="Error">+ second_x000D__x000A_</S></Objs>')
    assert clixml_to_text(document) == "first line\r\n+ second\r\n"
    assert clixml_to_text("plain error\r\n") == "plain error\r\n"
    assert clixml_to_text("#< CLIXML\r\n<Objs") == "#< CLIXML\r\n<Objs"
