"""Conformance: the emulator answers with the shape of Microsoft's official REST examples.

For every example file in ../shared/azure-rest-api-specs (x-ms-examples of the real specs) the
table EXAMPLES says which operation it documents and how to send its request to the emulator
(names and ids adapted to the emulator's world). The response the emulator gives must have
every key of the example's response for that status code, recursively, with the same JSON
value type; documented response headers must be there too. The only allowed differences are
in EXCEPTIONS, each with a one-line reason, and an exception that no longer applies fails.

Coverage: every emulator route whose operation has an example must have at least one checked
example, so a new route with an example cannot slip in without a conformance check.
"""
from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from vmrepair_emulator.arm.compute.testing import ADMIN_PASSWORD, RawArm, create_nic, repair_vm_body, unique
from vmrepair_emulator.testing import EmulatorProcess

REPO_ROOT = Path(__file__).resolve().parents[3]
SPECS = Path(os.environ.get("VMREPAIR_REST_SPECS", REPO_ROOT.parent / "shared" / "azure-rest-api-specs"))
# Examples of providers the shared copy lacks, kept beside the tests (rest-examples/README.md).
LOCAL_SPECS = Path(__file__).resolve().parent / "rest-examples"
SCENARIO_RG = "prod-rg"  # the scenario's broken VM web-01 lives there (read only here)
LOCATION = "westeurope"


# ---- talking to the emulator ---------------------------------------------------------------------


@dataclass
class Exchange:
    """What a case got: the first response and, for long-running operations, the final one."""

    response: requests.Response
    final: requests.Response | None = None  # compared with the example's 200 response


class World:
    """The emulator seen by the cases: raw HTTP for the example requests, SDK clients for setup."""

    def __init__(self, emulator: EmulatorProcess, start: Callable[[str], EmulatorProcess] | None = None) -> None:
        from azure.mgmt.resource.resources import ResourceManagementClient

        self.emulator = emulator
        self._start = start  # starts (once per session) an emulator of another scenario
        self._relay: tuple[RawArm, str] | None = None
        self.raw = RawArm(emulator.arm_url, emulator.credential(), emulator.ca_bundle)
        self.compute = emulator.mgmt_client(ComputeManagementClient)
        self.network = emulator.mgmt_client(NetworkManagementClient)
        self.resources = emulator.mgmt_client(ResourceManagementClient)
        self.sub = emulator.env["AZURE_SUBSCRIPTION_ID"]
        self._vm: Any = None
        # Everything the cases create lives in a group of its own, deleted at the end.
        self.rg = unique("conformance-rg")
        self.resources.resource_groups.create_or_update(self.rg, {"location": LOCATION})
        self.vnet = self.network.virtual_networks.begin_create_or_update(self.rg, "cf-vnet", {
            "location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["127.61.0.0/16"]},
                                                 "subnets": [{"name": "default",
                                                              "properties": {"addressPrefix": "127.61.1.0/24"}}]}}
        ).result()
        self.subnet_id = self.vnet.subnets[0].id

    def close(self) -> None:
        self.resources.resource_groups.begin_delete(self.rg).result()

    def path(self, rest: str) -> str:
        return f"/subscriptions/{self.sub}{rest}"

    def rg_path(self, rest: str) -> str:
        return self.path(f"/resourceGroups/{self.rg}{rest}")

    def relay(self) -> tuple[RawArm, str]:
        """Raw ARM and subscription of the storage-relay scenario (storage account vmrepairrelay in prod-rg)."""
        if self._relay is None:
            assert self._start is not None, "the storage cases need the emulator factory"
            relay = self._start("storage-relay")
            self._relay = RawArm(relay.arm_url, relay.credential(), relay.ca_bundle), relay.env["AZURE_SUBSCRIPTION_ID"]
        return self._relay

    def send(self, method: str, path: str, example: dict[str, Any], body: Any = None, **query: Any) -> requests.Response:
        return self.raw.call(method, path, example["parameters"]["api-version"], body,
                             **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items()})

    def settle(self, response: requests.Response, timeout: float = 60) -> requests.Response | None:
        """Follow a long-running operation to its end; the final Location answer (None if not an LRO)."""
        if response.status_code not in (201, 202) and "Azure-AsyncOperation" not in response.headers:
            return None
        deadline = time.time() + timeout
        if "Location" in response.headers:
            while True:
                final = self.raw.call("GET", response.headers["Location"])
                if final.status_code != 202:
                    return final
                assert time.time() < deadline, "operation did not finish"
                time.sleep(0.05)
        while True:
            status = self.raw.call("GET", response.headers["Azure-AsyncOperation"]).json()
            if status["status"] != "InProgress":
                return None
            assert time.time() < deadline, "operation did not finish"
            time.sleep(0.05)

    def broken_os_disk_id(self) -> str:
        return self.compute.virtual_machines.get(SCENARIO_RG, "web-01").storage_profile.os_disk.managed_disk.id

    def copy_of_broken_os_disk(self, tags: dict[str, str] | None = None) -> Any:
        source = self.broken_os_disk_id()
        return self.compute.disks.begin_create_or_update(self.rg, unique("cf-copy"), {
            "location": LOCATION, "tags": tags or {},
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source}}}).result()

    def snapshot(self, tags: dict[str, str] | None = None) -> Any:
        source = self.broken_os_disk_id()
        return self.compute.snapshots.begin_create_or_update(self.rg, unique("cf-snap"), {
            "location": LOCATION, "tags": tags or {},
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source}}}).result()

    def nic(self) -> Any:
        return create_nic(self.network, self.rg, unique("cf-nic"), LOCATION, self.subnet_id)

    def vm(self) -> Any:
        """One Trusted Launch repair VM with a data disk, tags, user data and custom boot diagnostics,
        its agent Ready (shared by the VM cases; each case leaves it running)."""
        if self._vm is None:
            copy_ = self.copy_of_broken_os_disk()
            body = repair_vm_body(LOCATION, self.nic().id, [copy_.id], computer_name="cfvm")
            props = body["properties"]
            props["securityProfile"] = {"securityType": "TrustedLaunch",
                                        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
            props["userData"] = "RXhhbXBsZSBVc2VyRGF0YQ=="
            props["extensionsTimeBudget"] = "PT50M"
            props["diagnosticsProfile"] = {"bootDiagnostics": {
                "enabled": True, "storageUri": self.emulator.env["VMREPAIR_EMULATOR_BLOB_URL"] + "/"}}
            name = unique("cf-vm")
            self._vm = self.compute.virtual_machines.begin_create_or_update(self.rg, name, body).result()
            self.compute.virtual_machines.retrieve_boot_diagnostics_data(self.rg, name)  # writes its blobs
            deadline = time.time() + 60
            while self.compute.virtual_machines.instance_view(self.rg, name).vm_agent.statuses[0].display_status \
                    != "Ready":
                assert time.time() < deadline
                time.sleep(0.1)
        return self._vm

    def running_vm(self) -> Any:
        vm = self.vm()
        view = self.compute.virtual_machines.instance_view(self.rg, vm.name)
        if not any(s.code == "PowerState/running" for s in view.statuses):
            self.compute.virtual_machines.begin_start(self.rg, vm.name).result()
        return vm

    def temporary_vm(self, nic_id: str | None = None) -> Any:
        return self.compute.virtual_machines.begin_create_or_update(
            self.rg, unique("cf-tmp"), repair_vm_body(LOCATION, nic_id or self.nic().id)).result()

    def nic_in_use(self) -> tuple[Any, Any]:
        """A NIC with a public IP and an NSG, used by a VM (what the NIC/PIP GET examples show)."""
        pip = self.network.public_ip_addresses.begin_create_or_update(self.rg, unique("cf-pip"), {
            "location": LOCATION, "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static"}}).result()
        nsg = self.network.network_security_groups.begin_create_or_update(self.rg, unique("cf-nsg"),
                                                                          {"location": LOCATION}).result()
        nic = self.network.network_interfaces.begin_create_or_update(self.rg, unique("cf-nic"), {
            "location": LOCATION, "properties": {
                "networkSecurityGroup": {"id": nsg.id},
                "ipConfigurations": [{"name": "ipconfig1", "properties": {
                    "subnet": {"id": self.subnet_id}, "publicIPAddress": {"id": pip.id}}}]}}).result()
        self.temporary_vm(nic.id)
        return nic, pip


# ---- the cases: one function per example file ------------------------------------------------------


def _located(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["location"] = LOCATION
    return body


def disk_create_copy_of_snapshot(w: World, example: dict[str, Any]) -> Exchange:
    snapshot = w.snapshot()
    body = _located(example["parameters"]["disk"])
    # The example's id has no leading slash; Disk RP accepts that, so the adapted one keeps that form.
    body["properties"]["creationData"]["sourceResourceId"] = snapshot.id.lstrip("/")
    path = w.rg_path(f"/providers/Microsoft.Compute/disks/{unique('cf-disk')}")
    first = w.send("PUT", path, example, body)
    w.settle(first)
    return Exchange(first, w.send("GET", path, example))


def disk_delete(w: World, example: dict[str, Any]) -> Exchange:
    disk = w.copy_of_broken_os_disk()
    return Exchange(w.send("DELETE", disk.id, example))


def snapshot_create_instant_access(w: World, example: dict[str, Any]) -> Exchange:
    body = _located(example["parameters"]["snapshot"])
    body["properties"]["creationData"]["sourceResourceId"] = w.broken_os_disk_id().lstrip("/")
    path = w.rg_path(f"/providers/Microsoft.Compute/snapshots/{unique('cf-snap')}")
    first = w.send("PUT", path, example, body)
    w.settle(first)
    return Exchange(first, w.send("GET", path, example))


def snapshot_get(w: World, example: dict[str, Any]) -> Exchange:
    snapshot = w.snapshot(tags={"department": "Development", "project": "Snapshots"})
    return Exchange(w.send("GET", snapshot.id, example))


def snapshot_delete(w: World, example: dict[str, Any]) -> Exchange:
    return Exchange(w.send("DELETE", w.snapshot().id, example))


def disk_create_empty(w: World, example: dict[str, Any]) -> Exchange:
    path = w.rg_path(f"/providers/Microsoft.Compute/disks/{unique('cf-empty')}")
    first = w.send("PUT", path, example, _located(example["parameters"]["disk"]))
    w.settle(first)
    return Exchange(first, w.send("GET", path, example))


def disk_get(w: World, example: dict[str, Any]) -> Exchange:
    vm = w.vm()  # its OS disk: managed by the VM, Trusted Launch, from a platform image
    disk_id = vm.storage_profile.os_disk.managed_disk.id
    w.compute.disks.begin_update(w.rg, vm.storage_profile.os_disk.name, {"tags": {"project": "ManagedDisks"}}).result()
    return Exchange(w.send("GET", disk_id, example))


def vm_create_with_empty_data_disks(w: World, example: dict[str, Any]) -> Exchange:
    body = _located(example["parameters"]["parameters"])
    props = body["properties"]
    props["osProfile"].update({"adminUsername": "cfadmin", "adminPassword": ADMIN_PASSWORD, "computerName": "cfvm2"})
    props["networkProfile"]["networkInterfaces"][0]["id"] = w.nic().id
    name = unique("cf-vm2")
    props["storageProfile"]["osDisk"]["name"] = f"{name}-os"
    path = w.rg_path(f"/providers/Microsoft.Compute/virtualMachines/{name}")
    first = w.send("PUT", path, example, body)
    w.settle(first)
    return Exchange(first, w.send("GET", path, example))


def vm_delete_force(w: World, example: dict[str, Any]) -> Exchange:
    vm = w.temporary_vm()
    first = w.send("DELETE", vm.id, example, forceDeletion=True)
    w.settle(first)
    return Exchange(first)


def vm_list(w: World, example: dict[str, Any]) -> Exchange:
    w.vm()  # the example lists VMs: the group holds one
    return Exchange(w.send("GET", w.rg_path("/providers/Microsoft.Compute/virtualMachines"), example))


def vm_list_all(w: World, example: dict[str, Any]) -> Exchange:
    return Exchange(w.send("GET", w.path("/providers/Microsoft.Compute/virtualMachines"), example))


def vm_retrieve_boot_diagnostics_data(w: World, example: dict[str, Any]) -> Exchange:
    path = w.path(f"/resourceGroups/{SCENARIO_RG}/providers/Microsoft.Compute/virtualMachines/web-01"
                  "/retrieveBootDiagnosticsData")
    return Exchange(w.send("POST", path, example, sasUriExpirationTimeInMinutes=60))


def _action(action: str, **query: Any) -> Callable[[World, dict[str, Any]], Exchange]:
    def case(w: World, example: dict[str, Any]) -> Exchange:
        vm = w.running_vm()
        first = w.send("POST", f"{vm.id}/{action}", example, **query)
        w.settle(first)
        return Exchange(first)

    case.__name__ = f"vm_{action}"
    return case


def vm_run_command(w: World, example: dict[str, Any]) -> Exchange:
    vm = w.running_vm()
    body = dict(example["parameters"]["parameters"], script=["Write-Output 'conformance'"])
    first = w.send("POST", f"{vm.id}/runCommand", example, body)
    return Exchange(first, w.settle(first))


def vm_get(w: World, example: dict[str, Any]) -> Exchange:
    return Exchange(w.send("GET", w.vm().id, example, **{"$expand": example["parameters"]["$expand"]}))


def vm_instance_view(w: World, example: dict[str, Any]) -> Exchange:
    return Exchange(w.send("GET", f"{w.running_vm().id}/instanceView", example))


def nic_create(w: World, example: dict[str, Any]) -> Exchange:
    body = _located(example["parameters"]["parameters"])
    pip = w.network.public_ip_addresses.begin_create_or_update(w.rg, unique("cf-pip"), {
        "location": LOCATION, "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}}).result()
    first_config = body["properties"]["ipConfigurations"][0]["properties"]
    first_config["publicIPAddress"]["id"] = pip.id
    first_config["subnet"]["id"] = w.subnet_id
    # ipconfig2 (a secondary prefix, privateIPAddressPrefixLength) is not modelled: the request keeps ipconfig1.
    body["properties"]["ipConfigurations"] = body["properties"]["ipConfigurations"][:1]
    path = w.rg_path(f"/providers/Microsoft.Network/networkInterfaces/{unique('cf-nic')}")
    first = w.send("PUT", path, example, body)
    w.settle(first)
    return Exchange(first)


def nic_get(w: World, example: dict[str, Any]) -> Exchange:
    nic, _public_ip = w.nic_in_use()
    return Exchange(w.send("GET", nic.id, example))


def public_ip_get(w: World, example: dict[str, Any]) -> Exchange:
    _nic, pip = w.nic_in_use()
    return Exchange(w.send("GET", pip.id, example))


def public_ip_create(w: World, example: dict[str, Any]) -> Exchange:
    path = w.rg_path(f"/providers/Microsoft.Network/publicIPAddresses/{unique('cf-pip')}")
    first = w.send("PUT", path, example, _located(example["parameters"]["parameters"]))
    w.settle(first)
    return Exchange(first)


def nsg_create(w: World, example: dict[str, Any]) -> Exchange:
    path = w.rg_path(f"/providers/Microsoft.Network/networkSecurityGroups/{unique('cf-nsg')}")
    first = w.send("PUT", path, example, _located(example["parameters"]["parameters"]))
    w.settle(first)
    return Exchange(first)


def subnet_get(w: World, example: dict[str, Any]) -> Exchange:
    return Exchange(w.send("GET", w.subnet_id, example))


def vnet_create(w: World, example: dict[str, Any]) -> Exchange:
    body = _located(example["parameters"]["parameters"])
    body["properties"]["addressSpace"]["addressPrefixes"] = ["127.60.0.0/16"]  # the emulator's loopback networks
    path = w.rg_path(f"/providers/Microsoft.Network/virtualNetworks/{unique('cf-vnet')}")
    first = w.send("PUT", path, example, body)
    w.settle(first)
    return Exchange(first)


def vnet_get(w: World, example: dict[str, Any]) -> Exchange:
    w.nic()  # the example's subnet lists the IP configurations that use it
    return Exchange(w.send("GET", w.vnet.id, example))


def resource_group_create(w: World, example: dict[str, Any]) -> Exchange:
    path = w.path(f"/resourceGroups/{unique('cf-rg')}")
    first = w.send("PUT", path, example, _located(example["parameters"]["parameters"]))
    w.raw.call("DELETE", path, example["parameters"]["api-version"])
    return Exchange(first)


def resource_group_force_delete(w: World, example: dict[str, Any]) -> Exchange:
    path = w.path(f"/resourceGroups/{unique('cf-rg')}")
    w.raw.call("PUT", path, example["parameters"]["api-version"], {"location": LOCATION})
    first = w.send("DELETE", path, example, forceDeletionTypes=example["parameters"]["forceDeletionTypes"])
    w.settle(first)
    return Exchange(first)


def _relay_send(w: World, method: str, rest: str, example: dict[str, Any]) -> Exchange:
    raw, sub = w.relay()
    return Exchange(raw.call(method, f"/subscriptions/{sub}{rest}", example["parameters"]["api-version"]))


_RELAY_ACCOUNT = "/resourceGroups/prod-rg/providers/Microsoft.Storage/storageAccounts"


def storage_account_get(w: World, example: dict[str, Any]) -> Exchange:
    return _relay_send(w, "GET", f"{_RELAY_ACCOUNT}/vmrepairrelay", example)


def storage_account_list_by_group(w: World, example: dict[str, Any]) -> Exchange:
    return _relay_send(w, "GET", _RELAY_ACCOUNT, example)


def storage_account_list(w: World, example: dict[str, Any]) -> Exchange:
    return _relay_send(w, "GET", "/providers/Microsoft.Storage/storageAccounts", example)


def storage_account_list_keys(w: World, example: dict[str, Any]) -> Exchange:
    return _relay_send(w, "POST", f"{_RELAY_ACCOUNT}/vmrepairrelay/listKeys", example)


@dataclass(frozen=True)
class Case:
    operation: str  # the operationId the example documents
    check: Callable[[World, dict[str, Any]], Exchange] | None
    reason: str = ""  # why the example is not checked (check is None)


_NO_SUPPORT = "Microsoft.Support is not served by the emulator"
_NO_SERIAL = "Microsoft.SerialConsole is not served by the emulator"
_NO_TAGS = "the Tags-at-scope API is not served by the emulator"

EXAMPLES: dict[str, Case] = {
    "Microsoft.Compute/2025-01-02/Disk_Create_ByCopyingASnapshot.json":
        Case("Disks_CreateOrUpdate", disk_create_copy_of_snapshot),
    "Microsoft.Compute/2025-01-02/Disk_Delete.json": Case("Disks_Delete", disk_delete),
    "Microsoft.Compute/2025-01-02/Snapshot_BeginGetAccess.json":
        Case("Snapshots_GrantAccess", None, "snapshot SAS export (beginGetAccess) is not served yet"),
    "Microsoft.Compute/2025-01-02/Snapshot_Create_InstantAccessSnapshot.json":
        Case("Snapshots_CreateOrUpdate", snapshot_create_instant_access),
    "Microsoft.Compute/2025-01-02/Snapshot_Get.json": Case("Snapshots_Get", snapshot_get),
    "Microsoft.Compute/2025-04-01/VirtualMachineRunCommand_Get.json":
        Case("VirtualMachineRunCommands_Get", None, "managed Run Commands (runCommands child resources) are not served"),
    "Microsoft.Compute/2025-04-01/VirtualMachine_Delete_Force.json": Case("VirtualMachines_Delete", vm_delete_force),
    "Microsoft.Compute/2025-04-01/VirtualMachine_List_MinimumSet_Gen.json": Case("VirtualMachines_List", vm_list),
    "Microsoft.Compute/2025-04-01/VirtualMachine_RetrieveBootDiagnosticsData.json":
        Case("VirtualMachines_RetrieveBootDiagnosticsData", vm_retrieve_boot_diagnostics_data),
    "Microsoft.Compute/2025-04-01/VirtualMachine_Start_MaximumSet_Gen.json": Case("VirtualMachines_Start",
                                                                                  _action("start")),
    "Microsoft.Compute/2025-11-01/VirtualMachineRunCommand_CreateOrUpdate.json":
        Case("VirtualMachineRunCommands_CreateOrUpdate", None,
             "managed Run Commands (runCommands child resources) are not served"),
    "Microsoft.Compute/2025-11-01/VirtualMachine_Create_WithEmptyDataDisks.json":
        Case("VirtualMachines_CreateOrUpdate", vm_create_with_empty_data_disks),
    "Microsoft.Compute/2025-11-01/VirtualMachine_Deallocate_MinimumSet_Gen.json":
        Case("VirtualMachines_Deallocate", _action("deallocate")),
    "Microsoft.Compute/2025-11-01/VirtualMachine_Deallocate_WithForceDeallocate.json":
        Case("VirtualMachines_Deallocate", _action("deallocate", forceDeallocate=True)),
    "Microsoft.Compute/2025-11-01/VirtualMachine_PowerOff_MaximumSet_Gen.json":
        Case("VirtualMachines_PowerOff", _action("powerOff", skipShutdown=True)),
    "Microsoft.Compute/2026-03-02/Disk_BeginGetAccess.json":
        Case("Disks_GrantAccess", None, "disk SAS export (beginGetAccess) is not served yet"),
    "Microsoft.Compute/2026-03-02/Disk_Create_ByImportingBlobFromADifferentSubscription.json":
        Case("Disks_CreateOrUpdate", None, "createOption Import (a VHD blob in a storage account) is not modelled"),
    "Microsoft.Compute/2026-03-02/Disk_Create_Empty.json": Case("Disks_CreateOrUpdate", disk_create_empty),
    "Microsoft.Compute/2026-03-02/Disk_EndGetAccess.json":
        Case("Disks_RevokeAccess", None, "disk SAS export (endGetAccess) is not served yet"),
    "Microsoft.Compute/2026-03-02/Disk_Get.json": Case("Disks_Get", disk_get),
    "Microsoft.Compute/2026-03-02/Snapshot_Delete.json": Case("Snapshots_Delete", snapshot_delete),
    "Microsoft.Compute/2026-04-01/VirtualMachineRunCommand.json": Case("VirtualMachines_RunCommand", vm_run_command),
    "Microsoft.Compute/2026-04-01/VirtualMachine_Get.json": Case("VirtualMachines_Get", vm_get),
    "Microsoft.Compute/2026-04-01/VirtualMachine_Get_InstanceView.json":
        Case("VirtualMachines_InstanceView", vm_instance_view),
    "Microsoft.Compute/2026-04-01/VirtualMachine_ListAll_MinimumSet_Gen.json":
        Case("VirtualMachines_ListAll", vm_list_all),
    "Microsoft.Compute/2026-04-01/VirtualMachine_Restart_MaximumSet_Gen.json":
        Case("VirtualMachines_Restart", _action("restart")),
    "Microsoft.Network/2026-01-01/NetworkInterfaceCreate.json": Case("NetworkInterfaces_CreateOrUpdate", nic_create),
    "Microsoft.Network/2026-01-01/NetworkInterfaceGet.json": Case("NetworkInterfaces_Get", nic_get),
    "Microsoft.Network/2026-01-01/PublicIpAddressGet.json": Case("PublicIPAddresses_Get", public_ip_get),
    "Microsoft.Network/2026-03-01/NetworkSecurityGroupCreate.json":
        Case("NetworkSecurityGroups_CreateOrUpdate", nsg_create),
    "Microsoft.Network/2026-03-01/PublicIpAddressCreateDefaults.json":
        Case("PublicIPAddresses_CreateOrUpdate", public_ip_create),
    "Microsoft.Network/2026-03-01/SubnetGet.json": Case("Subnets_Get", subnet_get),
    "Microsoft.Network/2026-03-01/VirtualNetworkCreate.json": Case("VirtualNetworks_CreateOrUpdate", vnet_create),
    "Microsoft.Network/2026-03-01/VirtualNetworkGet.json": Case("VirtualNetworks_Get", vnet_get),
    "Microsoft.Resources/2025-04-01/CreateResourceGroup.json":
        Case("ResourceGroups_CreateOrUpdate", resource_group_create),
    "Microsoft.Resources/2025-04-01/DeleteTagsResource.json": Case("Tags_DeleteAtScope", None, _NO_TAGS),
    "Microsoft.Resources/2025-04-01/ForceDeleteVMsInResourceGroup.json":
        Case("ResourceGroups_Delete", resource_group_force_delete),
    "Microsoft.Resources/2025-04-01/GetTagsResource.json": Case("Tags_GetAtScope", None, _NO_TAGS),
    "Microsoft.Resources/2025-04-01/PatchTagsResource.json": Case("Tags_UpdateAtScope", None, _NO_TAGS),
    "Microsoft.Resources/2025-04-01/PutTagsResource.json": Case("Tags_CreateOrUpdateAtScope", None, _NO_TAGS),
    "Microsoft.SerialConsole/2024-07-01/CreateSerialPort.json": Case("SerialPorts_Create", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/DisableConsoleExamples.json": Case("DisableConsole", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/EnableConsoleExamples.json": Case("EnableConsole", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/GetSerialPort.json": Case("SerialPorts_Get", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/ListSerialPort.json": Case("SerialPorts_List", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/ListSerialPortSubscription.json":
        Case("SerialPorts_ListBySubscriptions", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/SerialConsoleStatus.json": Case("GetConsoleStatus", None, _NO_SERIAL),
    "Microsoft.SerialConsole/2024-07-01/SerialPortConnectVM.json": Case("SerialPorts_Connect", None, _NO_SERIAL),
    "Microsoft.Support/2024-04-01/CheckNameAvailabilityWithSubscription.json":
        Case("SupportTickets_CheckNameAvailability", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/CreateFileForSubscription.json": Case("Files_Create", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/CreateFileWorkspaceForSubscription.json":
        Case("FileWorkspaces_Create", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/CreateTechnicalSupportTicketForSubscription.json":
        Case("SupportTickets_Create", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/GetFileDetailsForSubscription.json": Case("Files_Get", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/GetFileWorkspaceDetailsForSubscription.json":
        Case("FileWorkspaces_Get", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/GetSubscriptionSupportTicketDetails.json":
        Case("SupportTickets_Get", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/ListProblemClassifications.json":
        Case("ProblemClassifications_List", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/ListServices.json": Case("Services_List", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/ListSupportTicketsBySubscription.json":
        Case("SupportTickets_List", None, _NO_SUPPORT),
    "Microsoft.Support/2024-04-01/UploadFileForSubscription.json": Case("Files_Upload", None, _NO_SUPPORT),
    "Microsoft.Storage/2025-01-01/StorageAccountGetProperties.json":
        Case("StorageAccounts_GetProperties", storage_account_get),
    "Microsoft.Storage/2025-01-01/StorageAccountList.json": Case("StorageAccounts_List", storage_account_list),
    "Microsoft.Storage/2025-01-01/StorageAccountListByResourceGroup.json":
        Case("StorageAccounts_ListByResourceGroup", storage_account_list_by_group),
    "Microsoft.Storage/2025-01-01/StorageAccountListKeys.json":
        Case("StorageAccounts_ListKeys", storage_account_list_keys),
}

# Allowed differences: example file -> {JSON path of the example's key: one-line reason}.
# Paths: "properties.storageProfile.dataDisks[]" is an element of that list; "@status" is the status code.
_NOT_MODELLED_PLAN = "marketplace purchase plans: the scenario's images are free platform images"
_NO_HIBERNATION = "hibernation is not modelled"
_NO_ADE = "Azure Disk Encryption settings: present only for ADE-encrypted disks, none in this scenario"
_NO_IP_PREFIX = "IP prefix configurations (privateIPAddressPrefixLength) are not modelled"
_NO_GEO = "geo-redundancy is not modelled: the emulator's accounts are LRS/ZRS, without a secondary region"
_NO_HNS = "the accounts have no hierarchical namespace (Azure reports isHnsEnabled only for those that have)"
_NO_ROUTING = "routing preferences (and the endpoints they publish) are not modelled"
_NO_ACCESS_RULES = "network resource access rules: the emulator's accounts have none"
_NO_MIGRATION = "SKU conversions and account migrations are not modelled (Azure reports these flags around them)"
_STORAGE_COMMON = {
    "properties.geoReplicationStats": _NO_GEO,
    "properties.secondaryLocation": _NO_GEO,
    "properties.statusOfSecondary": _NO_GEO,
    "properties.isHnsEnabled": _NO_HNS,
    "properties.routingPreference": _NO_ROUTING,
    "properties.primaryEndpoints.microsoftEndpoints": _NO_ROUTING,
    "properties.primaryEndpoints.internetEndpoints": _NO_ROUTING,
    "properties.networkAcls.resourceAccessRules[]": _NO_ACCESS_RULES,
}
EXCEPTIONS: dict[str, dict[str, str]] = {
    "Microsoft.Storage/2025-01-01/StorageAccountGetProperties.json": {
        **_STORAGE_COMMON,
        "properties.isSkuConversionBlocked": _NO_MIGRATION,
        "properties.accountMigrationInProgress": _NO_MIGRATION,
    },
    "Microsoft.Storage/2025-01-01/StorageAccountList.json": {
        **{f"value[].{path}": reason for path, reason in _STORAGE_COMMON.items()},
        "value[].identity": "managed identities of storage accounts are not modelled",
        "value[].properties.encryption.keyvaultproperties":
            "customer-managed keys of storage accounts are not modelled",
    },
    "Microsoft.Storage/2025-01-01/StorageAccountListByResourceGroup.json": {
        "value[].properties.isHnsEnabled": _NO_HNS,
        "value[].properties.secondaryLocation": _NO_GEO,
        "value[].properties.statusOfSecondary": _NO_GEO,
    },
    "Microsoft.Compute/2025-01-02/Snapshot_Get.json": {
        "properties.purchasePlan": _NOT_MODELLED_PLAN,
        "properties.supportsHibernation": _NO_HIBERNATION,
        "properties.encryptionSettingsCollection": _NO_ADE,
    },
    "Microsoft.Compute/2026-03-02/Disk_Get.json": {
        "properties.purchasePlan": _NOT_MODELLED_PLAN,
        "properties.supportsHibernation": _NO_HIBERNATION,
        "properties.encryptionSettingsCollection": _NO_ADE,
    },
    "Microsoft.Compute/2026-04-01/VirtualMachine_Get.json": {
        "properties.availabilitySet": "availability sets are not modelled",
        "properties.proximityPlacementGroup": "proximity placement groups are not modelled",
        "properties.applicationProfile": "VM applications (gallery applications) are not modelled",
        "resources": "VM extensions are not modelled",
        "managedBy": "scale sets are not modelled (a standalone VM has no managedBy)",
    },
    "Microsoft.Network/2026-01-01/NetworkInterfaceCreate.json": {
        "properties.ipConfigurations[].properties.privateIPAddressPrefixLength": _NO_IP_PREFIX,
    },
    "Microsoft.Network/2026-01-01/NetworkInterfaceGet.json": {
        "properties.ipConfigurations[].properties.privateIPAddressPrefixLength": _NO_IP_PREFIX,
        "properties.dscpConfiguration": "DSCP configurations are not modelled",
    },
    "Microsoft.Network/2026-01-01/PublicIpAddressGet.json": {
        "properties.ipTags[]": "IP tags (FirstPartyUsage) are not modelled",
        "properties.ddosSettings.ddosProtectionPlan": "DDoS protection plans are not modelled",
    },
    "Microsoft.Network/2026-03-01/PublicIpAddressCreateDefaults.json": {
        "properties.ipConfiguration": "a public IP just created is used by no NIC (the example shows one that is)",
    },
    "Microsoft.Network/2026-03-01/VirtualNetworkGet.json": {
        "properties.defaultPublicNatGateway": "NAT gateways are not modelled",
    },
    "Microsoft.Compute/2026-04-01/VirtualMachine_Get_InstanceView.json": {
        "vmAgent.extensionHandlers[]": "VM extensions are not modelled: the agent reports no handler",
        "extensions": "VM extensions are not modelled",
        "patchStatus": "guest patching (assess/install patches) is not modelled",
    },
}


# ---- the comparison ----------------------------------------------------------------------------------

FREE_FORM_MAPS = {"tags"}  # maps whose keys the caller chooses


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


@dataclass
class Comparison:
    allowed: dict[str, str]
    used: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def compare(self, expected: Any, actual: Any, path: str = "") -> None:
        if path in self.allowed:
            self.used.add(path)
            return
        if expected is None:
            return  # the example shows null: any value (or null) is fine
        if _kind(expected) != _kind(actual):
            self.problems.append(f"{path or '<body>'}: expected a {_kind(expected)}, got {_kind(actual)} "
                                 f"({json.dumps(actual)[:80]})")
            return
        if path.rsplit(".", 1)[-1] in FREE_FORM_MAPS:
            return  # user-chosen keys (tags): only the type is the API's
        if isinstance(expected, dict):
            for key, value in expected.items():
                child = f"{path}.{key}" if path else key
                if key not in actual:
                    if child in self.allowed:
                        self.used.add(child)
                    else:
                        self.problems.append(f"{child}: missing")
                    continue
                self.compare(value, actual[key], child)
        elif isinstance(expected, list) and expected:
            child = f"{path}[]"
            if child in self.allowed:
                self.used.add(child)
                return
            if not actual:
                self.problems.append(f"{child}: the example has elements, the emulator's list is empty")
                return
            for i, item in enumerate(expected):
                self.compare(item, actual[min(i, len(actual) - 1)], child)


def _json(response: requests.Response) -> Any:
    return response.json() if response.content else None


def check_exchange(example: dict[str, Any], exchange: Exchange, allowed: dict[str, str]) -> Comparison:
    comparison = Comparison(allowed)
    response = exchange.response
    documented = example["responses"]
    status = str(response.status_code)
    if status not in documented:
        comparison.problems.append(f"status {status} ({response.text[:200]}) is not one the example documents "
                                   f"({', '.join(documented)})")
        return comparison
    expected = documented[status]
    for header in (expected.get("headers") or {}):
        if header.lower() not in {h.lower() for h in response.headers}:
            comparison.problems.append(f"header {header}: missing")
    if "body" in expected:
        comparison.compare(expected["body"], _json(response))
    if exchange.final is not None and "body" in documented.get("200", {}):
        final = exchange.final
        if final.status_code != 200:
            comparison.problems.append(f"final answer {final.status_code} ({final.text[:200]}), the example's is 200")
        else:
            comparison.compare(documented["200"]["body"], _json(final))
    return comparison


# ---- the tests ------------------------------------------------------------------------------------------


def _example_files() -> list[str]:
    return sorted(str(p.relative_to(root)) for root in (SPECS, LOCAL_SPECS) for p in root.glob("Microsoft.*/*/*.json"))


def _example(name: str) -> dict[str, Any]:
    path = SPECS / name if (SPECS / name).is_file() else LOCAL_SPECS / name
    return json.loads(path.read_text(encoding="utf-8"))


pytestmark = pytest.mark.skipif(not SPECS.is_dir(), reason=f"no REST examples at {SPECS}")


@pytest.fixture(scope="module")
def world(default_emulator: EmulatorProcess, emulator: Callable[..., EmulatorProcess]) -> Iterator[World]:
    world = World(default_emulator, emulator)
    yield world
    world.close()


def test_every_example_file_is_in_the_table() -> None:
    files = set(_example_files())
    assert files == set(EXAMPLES), (f"not in EXAMPLES: {sorted(files - set(EXAMPLES))}; "
                                    f"in EXAMPLES without a file: {sorted(set(EXAMPLES) - files)}")
    for name, case in EXAMPLES.items():
        documented = _example(name).get("operationId")
        assert documented in (None, case.operation), f"{name} documents {documented}, the table says {case.operation}"
        assert case.check is not None or case.reason, f"{name}: an unchecked example needs a reason"
    assert set(EXCEPTIONS) <= {name for name, case in EXAMPLES.items() if case.check is not None}
    assert all(reason.strip() for allowed in EXCEPTIONS.values() for reason in allowed.values())


def test_every_route_with_an_example_is_checked() -> None:
    from vmrepair_emulator.arm.core import load_routes

    checked = {case.operation for case in EXAMPLES.values() if case.check is not None}
    documented = {case.operation for case in EXAMPLES.values()}
    served = {route.operation for route in load_routes()}
    unchecked = sorted((served & documented) - checked)
    assert not unchecked, f"routes with an example file but no conformance check: {unchecked}"


@pytest.mark.parametrize("name", [n for n, c in EXAMPLES.items() if c.check is not None])
def test_response_has_the_example_shape(world: World, name: str) -> None:
    example = _example(name)
    case = EXAMPLES[name]
    assert case.check is not None
    exchange = case.check(world, example)
    allowed = EXCEPTIONS.get(name, {})
    comparison = check_exchange(example, exchange, allowed)
    assert not comparison.problems, f"{name} ({case.operation}):\n  " + "\n  ".join(comparison.problems)
    stale = sorted(set(allowed) - comparison.used)
    assert not stale, f"{name}: exceptions that no longer apply (remove them): {stale}"


# ---- the comparison itself (pure logic) -----------------------------------------------------------------


def test_comparison_finds_missing_keys_wrong_types_and_empty_lists() -> None:
    expected = {"a": 1, "b": {"c": "x", "d": [{"e": True}]}, "f": None, "g": []}
    ok = Comparison({})
    ok.compare(expected, {"a": 2.5, "b": {"c": "y", "d": [{"e": False}, {"e": True}]}, "f": 3, "g": [1]})
    assert ok.problems == []
    bad = Comparison({})
    bad.compare(expected, {"a": "1", "b": {"d": []}, "f": None, "g": []})
    assert bad.problems == ["a: expected a number, got string (\"1\")", "b.c: missing",
                            "b.d[]: the example has elements, the emulator's list is empty"]
    allowed = Comparison({"b.c": "reason", "b.d[]": "reason"})
    allowed.compare(expected, {"a": 1, "b": {"d": []}, "f": None, "g": []})
    assert allowed.problems == [] and allowed.used == {"b.c", "b.d[]"}
