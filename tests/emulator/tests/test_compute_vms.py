"""Virtual machines through the real azure-mgmt-compute client: create, attach rules, power, delete."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from vmrepair_emulator.arm.compute.testing import ADMIN_PASSWORD, RawArm, create_nic, repair_vm_body, unique
from vmrepair_emulator.testing import EmulatorProcess

RG = "prod-rg"
LOCATION = "westeurope"
VM_API = "2026-04-01"


@pytest.fixture(scope="module")
def compute(default_emulator: EmulatorProcess) -> ComputeManagementClient:
    return default_emulator.mgmt_client(ComputeManagementClient)


@pytest.fixture(scope="module")
def network(default_emulator: EmulatorProcess) -> NetworkManagementClient:
    return default_emulator.mgmt_client(NetworkManagementClient)


@pytest.fixture(scope="module")
def raw(default_emulator: EmulatorProcess) -> RawArm:
    return RawArm(default_emulator.arm_url, default_emulator.credential(), default_emulator.ca_bundle)


@pytest.fixture(scope="module")
def subnet_id(network: NetworkManagementClient) -> str:
    return network.subnets.get(RG, "prod-vnet", "default").id


def _copy_of_broken_os_disk(compute: ComputeManagementClient, zone: str | None = None) -> Any:
    source = compute.virtual_machines.get(RG, "web-01").storage_profile.os_disk.managed_disk.id
    body: dict[str, Any] = {"location": LOCATION, "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": source}}}
    if zone:
        body["zones"] = [zone]
    return compute.disks.begin_create_or_update(RG, unique("copy"), body).result()


def _create_repair_vm(compute: ComputeManagementClient, network: NetworkManagementClient, subnet_id: str,
                      disk_ids: list[str], zone: str | None = None) -> tuple[Any, Any]:
    name = unique("repair")
    nic = create_nic(network, RG, f"{name}-nic", LOCATION, subnet_id)
    vm = compute.virtual_machines.begin_create_or_update(
        RG, name, repair_vm_body(LOCATION, nic.id, disk_ids, zone=zone)).result()
    return vm, nic


@pytest.fixture(scope="module")
def repair(compute: ComputeManagementClient, network: NetworkManagementClient,
           subnet_id: str) -> Iterator[dict[str, Any]]:
    """A repair VM with a copy of web-01's OS disk at LUN 0 (shared by the tests below, deleted at the end)."""
    copy = _copy_of_broken_os_disk(compute)
    vm, nic = _create_repair_vm(compute, network, subnet_id, [copy.id])
    yield {"vm": vm, "nic": nic, "copy": copy}
    try:
        compute.virtual_machines.begin_delete(RG, vm.name).result()
    except ResourceNotFoundError:
        pass
    compute.disks.begin_delete(RG, copy.name).result()


def _power_code(compute: ComputeManagementClient, name: str) -> str:
    view = compute.virtual_machines.instance_view(RG, name)
    return next(s.code for s in view.statuses if s.code.startswith("PowerState/"))


def test_repair_vm_holds_the_copy(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    vm, copy = repair["vm"], repair["copy"]
    assert vm.provisioning_state == "Succeeded"
    assert vm.hardware_profile.vm_size == "Standard_D2s_v3"
    assert vm.storage_profile.image_reference.sku == "2022-datacenter-g2"
    assert vm.storage_profile.image_reference.exact_version.startswith("20348.")
    os_disk = vm.storage_profile.os_disk
    assert (os_disk.create_option, os_disk.os_type, os_disk.delete_option) == ("FromImage", "Windows", "Delete")
    assert os_disk.managed_disk.storage_account_type == "StandardSSD_LRS"
    [data] = vm.storage_profile.data_disks
    assert (data.lun, data.create_option, data.name) == (0, "Attach", copy.name)
    assert data.managed_disk.id.lower() == copy.id.lower()
    attached = compute.disks.get(RG, copy.name)
    assert attached.managed_by.lower() == vm.id.lower() and attached.disk_state == "Attached"
    own_os_disk = compute.disks.get(RG, os_disk.name)
    assert own_os_disk.managed_by.lower() == vm.id.lower()
    assert (own_os_disk.creation_data.create_option, own_os_disk.hyper_v_generation) == ("FromImage", "V2")
    assert vm.os_profile.computer_name == "repairvm"
    assert vm.os_profile.admin_password is None


def test_admin_password_never_comes_back(raw: RawArm, repair: dict[str, Any]) -> None:
    vm_id = repair["vm"].id
    for query in ({}, {"$expand": "instanceView"}):
        text = raw.call("GET", vm_id, VM_API, **query).text
        assert "adminPassword" not in text and ADMIN_PASSWORD not in text
    listed = raw.call("GET", vm_id.rsplit("/", 1)[0], VM_API).text
    assert ADMIN_PASSWORD not in listed


def test_vm_put_is_a_compute_long_running_operation(raw: RawArm, repair: dict[str, Any]) -> None:
    vm_id = repair["vm"].id
    current = raw.call("GET", vm_id, VM_API).json()
    current["tags"] = {"vmrepair": "test", "touched": "yes"}
    response = raw.call("PUT", vm_id, VM_API, current)
    assert response.status_code == 200
    assert response.json()["properties"]["provisioningState"] == "Updating"
    assert "/providers/Microsoft.Compute/locations/westeurope/operations/" in response.headers["Azure-AsyncOperation"]
    status = raw.call("GET", response.headers["Azure-AsyncOperation"]).json()
    assert status["status"] in ("InProgress", "Succeeded") and "startTime" in status


def test_broken_vm_instance_view(compute: ComputeManagementClient) -> None:
    vm = compute.virtual_machines.get(RG, "web-01", expand="instanceView")
    view = vm.instance_view
    codes = [s.code for s in view.statuses]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    # The guest is at its stop screen: the agent never reported, so nothing the guest tells is there.
    assert view.vm_agent.statuses[0].display_status == "Not Ready"
    assert view.computer_name is None and view.os_name is None
    assert view.hyper_v_generation == "V2"
    assert [d.name for d in view.disks] == [vm.storage_profile.os_disk.name]
    assert compute.virtual_machines.instance_view(RG, "web-01").statuses[1].code == "PowerState/running"


def test_repair_vm_agent_becomes_ready(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    deadline = time.time() + 30
    while True:
        view = compute.virtual_machines.instance_view(RG, repair["vm"].name)
        if view.vm_agent.statuses[0].display_status == "Ready":
            break
        assert view.vm_agent.statuses[0].code == "ProvisioningState/Unavailable"
        assert time.time() < deadline
        time.sleep(0.1)
    assert view.computer_name == "repairvm"
    assert view.os_name == "Windows Server 2022 Datacenter"
    assert len(view.disks) == 2


def test_attach_rules(compute: ComputeManagementClient, network: NetworkManagementClient, subnet_id: str,
                      repair: dict[str, Any]) -> None:
    taken = repair["copy"]
    nic = create_nic(network, RG, unique("nic"), LOCATION, subnet_id)
    name = unique("second")
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_create_or_update(RG, name, repair_vm_body(LOCATION, nic.id, [taken.id]))
    assert info.value.status_code == 400 and info.value.error.code == "ConflictingUserInput"
    assert "already attached to VM" in info.value.error.message
    assert repair["vm"].id.lower() in info.value.error.message.lower()

    zonal = _copy_of_broken_os_disk(compute, zone="2")
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_create_or_update(RG, name, repair_vm_body(LOCATION, nic.id, [zonal.id],
                                                                                 zone="1"))
    assert info.value.error.code == "BadRequest"
    assert "VM zone: '1'. Disk zone: '2'." in info.value.error.message
    regional = _copy_of_broken_os_disk(compute)
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_create_or_update(RG, name, repair_vm_body(LOCATION, nic.id, [regional.id],
                                                                                 zone="1"))
    assert info.value.error.message.endswith("because it is not in zone '1'.")
    # Refused requests change nothing: the disks stay free, the NIC unused, no VM.
    assert compute.disks.get(RG, zonal.name).managed_by is None
    assert network.network_interfaces.get(RG, nic.name).virtual_machine is None
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(RG, name)
    in_zone = compute.virtual_machines.begin_create_or_update(
        RG, name, repair_vm_body(LOCATION, nic.id, [zonal.id], zone="2")).result()
    assert in_zone.zones == ["2"]
    assert compute.disks.get(RG, in_zone.storage_profile.os_disk.name).zones == ["2"]
    compute.virtual_machines.begin_delete(RG, name).result()
    for disk in (zonal, regional):
        compute.disks.begin_delete(RG, disk.name).result()


def test_request_validation(compute: ComputeManagementClient, network: NetworkManagementClient,
                            subnet_id: str) -> None:
    nic = create_nic(network, RG, unique("nic"), LOCATION, subnet_id)
    name = unique("bad")

    def refused(body: dict[str, Any]) -> Any:
        with pytest.raises(HttpResponseError) as info:
            compute.virtual_machines.begin_create_or_update(RG, name, body)
        return info.value

    body = repair_vm_body(LOCATION, nic.id)
    body["properties"]["osProfile"]["adminPassword"] = "password"
    error = refused(body)
    assert (error.status_code, error.error.code, error.error.target) == (400, "InvalidParameter", "adminPassword")
    body = repair_vm_body(LOCATION, nic.id)
    body["properties"]["osProfile"]["adminUsername"] = "administrator"
    assert refused(body).error.target == "adminUsername"
    body = repair_vm_body(LOCATION, nic.id)
    body["properties"]["storageProfile"]["imageReference"]["sku"] = "2022-datacenter-nope"
    error = refused(body)
    assert (error.status_code, error.error.code) == (404, "PlatformImageNotFound")
    error = refused(repair_vm_body(LOCATION, nic.id, size="Standard_Nope_v9"))  # unknown size (not restricted)
    assert (error.status_code, error.error.code) == (400, "InvalidParameter")
    error = refused(repair_vm_body(LOCATION, nic.id, size="Standard_D2_v2"))  # Gen1-only size, Gen2 image
    assert error.error.code == "BadRequest" and "Hypervisor Generation '2'" in error.error.message
    missing_nic = nic.id.rsplit("/", 1)[0] + "/no-such-nic"
    error = refused(repair_vm_body(LOCATION, missing_nic))
    assert error.error.code == "InvalidResourceReference"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(RG, name)
    network.network_interfaces.begin_delete(RG, nic.name).result()


def test_os_disk_attach_and_swap_rules(compute: ComputeManagementClient, network: NetworkManagementClient,
                                       subnet_id: str) -> None:
    """A VM booting an existing disk (createOption Attach); its OS disk swaps only while deallocated."""
    first, second = _copy_of_broken_os_disk(compute), _copy_of_broken_os_disk(compute)
    nic = create_nic(network, RG, unique("nic"), LOCATION, subnet_id)
    name = unique("restored")
    body = {"location": LOCATION, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"osDisk": {"createOption": "Attach", "managedDisk": {"id": first.id}}},
        "networkProfile": {"networkInterfaces": [{"id": nic.id}]}}}
    with_profile = {**body, "properties": {**body["properties"],
                                           "osProfile": {"computerName": "x", "adminUsername": "someone"}}}
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_create_or_update(RG, name, with_profile)
    assert info.value.error.code == "InvalidParameter" and info.value.error.target == "osProfile"
    vm = compute.virtual_machines.begin_create_or_update(RG, name, body).result()
    assert vm.storage_profile.os_disk.os_type == "Windows"
    assert vm.storage_profile.image_reference is None and vm.os_profile is None
    new_body = {"location": LOCATION, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"osDisk": {"createOption": "Attach", "managedDisk": {"id": second.id}}},
        "networkProfile": {"networkInterfaces": [{"id": nic.id}]}}}
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_create_or_update(RG, name, new_body)
    assert info.value.error.code == "OperationNotAllowed"
    assert compute.virtual_machines.get(RG, name).storage_profile.os_disk.name == first.name
    compute.virtual_machines.begin_deallocate(RG, name).result()
    assert compute.disks.get(RG, first.name).disk_state == "Reserved"
    swapped = compute.virtual_machines.begin_create_or_update(RG, name, new_body).result()
    assert swapped.storage_profile.os_disk.name == second.name
    assert compute.disks.get(RG, first.name).managed_by is None
    assert compute.disks.get(RG, first.name).disk_state == "Unattached"
    assert compute.disks.get(RG, second.name).managed_by.lower() == swapped.id.lower()
    compute.virtual_machines.begin_delete(RG, name).result()
    # deleteOption defaults to Detach: both disks and the NIC survive the VM.
    for disk in (first, second):
        assert compute.disks.get(RG, disk.name).managed_by is None
        compute.disks.begin_delete(RG, disk.name).result()
    assert network.network_interfaces.get(RG, nic.name).virtual_machine is None
    network.network_interfaces.begin_delete(RG, nic.name).result()


def test_power_actions(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    name, copy = repair["vm"].name, repair["copy"]
    compute.virtual_machines.begin_power_off(RG, name).result()
    assert _power_code(compute, name) == "PowerState/stopped"
    assert compute.disks.get(RG, copy.name).disk_state == "Attached"
    compute.virtual_machines.begin_deallocate(RG, name).result()
    assert _power_code(compute, name) == "PowerState/deallocated"
    assert compute.disks.get(RG, copy.name).disk_state == "Reserved"
    assert compute.virtual_machines.instance_view(RG, name).vm_agent is None
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_restart(RG, name)
    assert info.value.error.code == "OperationNotAllowed"
    assert info.value.error.message == "The operation requires the VM to be running (or set to run)."
    compute.virtual_machines.begin_start(RG, name).result()
    assert _power_code(compute, name) == "PowerState/running"
    assert compute.disks.get(RG, copy.name).disk_state == "Attached"
    compute.virtual_machines.begin_restart(RG, name).result()
    assert _power_code(compute, name) == "PowerState/running"


def test_detach_by_update_then_delete_honours_delete_options(
        compute: ComputeManagementClient, network: NetworkManagementClient, subnet_id: str) -> None:
    copy = _copy_of_broken_os_disk(compute)
    vm, nic = _create_repair_vm(compute, network, subnet_id, [copy.id])
    updated = compute.virtual_machines.begin_update(RG, vm.name, {"properties": {"storageProfile": {
        "dataDisks": []}}}).result()
    assert updated.storage_profile.data_disks == []
    assert compute.disks.get(RG, copy.name).managed_by is None
    reattached = compute.virtual_machines.begin_update(RG, vm.name, {"properties": {"storageProfile": {
        "dataDisks": [{"lun": 3, "createOption": "Attach", "managedDisk": {"id": copy.id}}]}}}).result()
    assert [d.lun for d in reattached.storage_profile.data_disks] == [3]
    os_disk_name = vm.storage_profile.os_disk.name
    compute.virtual_machines.begin_delete(RG, vm.name).result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(RG, vm.name)
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(RG, os_disk_name)  # deleteOption Delete
    with pytest.raises(ResourceNotFoundError):
        network.network_interfaces.get(RG, nic.name)  # deleteOption Delete
    kept = compute.disks.get(RG, copy.name)  # deleteOption Detach
    assert kept.managed_by is None and kept.disk_state == "Unattached"
    compute.disks.begin_delete(RG, copy.name).result()


def test_lists_and_skus(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    in_group = {vm.name for vm in compute.virtual_machines.list(RG)}
    assert {"web-01", repair["vm"].name} <= in_group
    assert in_group <= {vm.name for vm in compute.virtual_machines.list_all()}
    with_views = list(compute.virtual_machines.list(RG, expand="instanceView"))
    assert all(vm.instance_view is not None for vm in with_views)
    skus = list(compute.resource_skus.list(filter="location eq 'westeurope'"))
    size = next(s for s in skus if s.resource_type == "virtualMachines" and s.name == "Standard_D2s_v3")
    capabilities = {c.name: c.value for c in size.capabilities}
    assert capabilities["HyperVGenerations"] == "V1,V2" and capabilities["PremiumIO"] == "True"
    assert size.locations == ["westeurope"] and size.location_info[0].zones == ["1", "2", "3"]
    assert any(s.resource_type == "disks" and s.name == "Premium_LRS" for s in skus)
    assert list(compute.resource_skus.list(filter="location eq 'eastus'")) == []


def test_sdk_model_round_trip_attaches_a_disk(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    """GET the VM, append a data disk to the model, PUT it back: how clients attach a disk."""
    from azure.mgmt.compute.models import DataDisk, ManagedDiskParameters

    extra = compute.disks.begin_create_or_update(RG, unique("extra"), {
        "location": LOCATION, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 8}}).result()
    vm = compute.virtual_machines.get(RG, repair["vm"].name)
    etag = vm.etag
    vm.storage_profile.data_disks.append(DataDisk(lun=1, create_option="Attach",
                                                  managed_disk=ManagedDiskParameters(id=extra.id)))
    updated = compute.virtual_machines.begin_create_or_update(RG, vm.name, vm).result()
    assert [d.lun for d in updated.storage_profile.data_disks] == [0, 1]
    assert updated.etag != etag
    assert compute.disks.get(RG, extra.name).managed_by.lower() == vm.id.lower()
    vm = compute.virtual_machines.get(RG, vm.name)
    vm.storage_profile.data_disks = [d for d in vm.storage_profile.data_disks if d.lun != 1]
    compute.virtual_machines.begin_create_or_update(RG, vm.name, vm).result()
    assert compute.disks.get(RG, extra.name).managed_by is None
    compute.disks.begin_delete(RG, extra.name).result()


def test_resource_group_delete_cascades_to_vms_disks_and_snapshots(
        default_emulator: EmulatorProcess, compute: ComputeManagementClient, network: NetworkManagementClient,
        subnet_id: str) -> None:
    from azure.mgmt.resource.resources import ResourceManagementClient

    resources = default_emulator.mgmt_client(ResourceManagementClient)
    group = unique("repair-rg")
    resources.resource_groups.create_or_update(group, {"location": LOCATION})
    source = compute.virtual_machines.get(RG, "web-01").storage_profile.os_disk.managed_disk.id
    snapshot = compute.snapshots.begin_create_or_update(group, "snap", {"location": LOCATION, "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": source}}}).result()
    copy = compute.disks.begin_create_or_update(group, "copy", {"location": LOCATION, "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": snapshot.id}}}).result()
    nic = create_nic(network, group, "nic", LOCATION, subnet_id)
    body = repair_vm_body(LOCATION, nic.id, [copy.id], delete_option="Detach")
    compute.virtual_machines.begin_create_or_update(group, "vm", body).result()
    control = default_emulator.control()
    assert copy.id in control.disks() and snapshot.id in control.disks()
    resources.resource_groups.begin_delete(group).result()
    assert not [r for r in control.resources() if f"/resourcegroups/{group}/".lower() in r["id"].lower()]
    assert copy.id not in control.disks() and snapshot.id not in control.disks()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(group, "vm")
    assert compute.virtual_machines.get(RG, "web-01").provisioning_state == "Succeeded"


def test_putting_the_create_body_again_converges(compute: ComputeManagementClient, repair: dict[str, Any]) -> None:
    """A re-run sends the same PUT: the VM is updated in place, nothing is created twice."""
    vm, nic, copy = repair["vm"], repair["nic"], repair["copy"]
    disks_before = {d.name for d in compute.disks.list_by_resource_group(RG)}
    again = compute.virtual_machines.begin_create_or_update(
        RG, vm.name, repair_vm_body(LOCATION, nic.id, [copy.id])).result()
    assert again.vm_id == vm.vm_id
    assert again.storage_profile.os_disk.name == vm.storage_profile.os_disk.name
    assert [d.name for d in again.storage_profile.data_disks] == [copy.name]
    assert {d.name for d in compute.disks.list_by_resource_group(RG)} == disks_before
    body = repair_vm_body(LOCATION, nic.id, [copy.id], computer_name="othername")
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_create_or_update(RG, vm.name, body)
    assert (info.value.error.code, info.value.error.target) == ("PropertyChangeNotAllowed", "computerName")
