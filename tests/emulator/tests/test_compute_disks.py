"""Managed disks and snapshots through the real azure-mgmt-compute client (Disk RP behaviour)."""
from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient

from vmrepair_emulator.arm.compute.testing import RawArm, unique
from vmrepair_emulator.testing import EmulatorProcess

RG = "prod-rg"
DISK_API = "2026-03-02"


@pytest.fixture(scope="module")
def compute(default_emulator: EmulatorProcess) -> ComputeManagementClient:
    return default_emulator.mgmt_client(ComputeManagementClient)


@pytest.fixture(scope="module")
def raw(default_emulator: EmulatorProcess) -> RawArm:
    return RawArm(default_emulator.arm_url, default_emulator.credential(), default_emulator.ca_bundle)


@pytest.fixture(scope="module")
def source_disk(compute: ComputeManagementClient) -> object:
    """The broken VM's OS disk (seeded from the scenario, attached to web-01)."""
    vm = compute.virtual_machines.get(RG, "web-01")
    return compute.disks.get(RG, vm.storage_profile.os_disk.name)


def _snapshot(compute: ComputeManagementClient, source_id: str, location: str, incremental: bool = False) -> object:
    name = unique("snap")
    body = {"location": location, "properties": {"creationData": {"createOption": "Copy",
                                                                  "sourceResourceId": source_id},
                                                 "incremental": incremental}}
    return compute.snapshots.begin_create_or_update(RG, name, body).result()


def test_seeded_os_disk_is_attached_to_the_broken_vm(compute: ComputeManagementClient, source_disk: object) -> None:
    assert source_disk.managed_by.lower().endswith("/virtualmachines/web-01")
    assert source_disk.disk_state == "Attached"
    assert source_disk.os_type == "Windows"
    assert source_disk.hyper_v_generation == "V2"
    assert source_disk.disk_size_gb == 127
    assert source_disk.disk_size_bytes == 127 * 1024 ** 3
    assert source_disk.sku.name == "Premium_LRS" and source_disk.tier == "P10"
    assert source_disk.creation_data.create_option == "FromImage"


def test_snapshot_then_disk_copy_carries_os_properties_and_bytes(
        compute: ComputeManagementClient, source_disk: object, default_emulator: EmulatorProcess) -> None:
    control = default_emulator.control()
    writes_before = control.disks()[source_disk.id]["writes"]
    snapshot = _snapshot(compute, source_disk.id, source_disk.location)
    assert snapshot.provisioning_state == "Succeeded"
    assert snapshot.creation_data.source_resource_id == source_disk.id
    assert snapshot.creation_data.source_unique_id == source_disk.unique_id
    assert (snapshot.os_type, snapshot.hyper_v_generation, snapshot.disk_size_gb) == ("Windows", "V2", 127)
    assert snapshot.incremental is False and snapshot.sku.name == "Standard_LRS"

    name = unique("copy")
    body = {"location": source_disk.location, "sku": {"name": "Premium_LRS"},
            "tags": {"vmrepair-source": "web-01"},
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": snapshot.id}}}
    copy = compute.disks.begin_create_or_update(RG, name, body).result()
    assert copy.provisioning_state == "Succeeded"
    assert (copy.os_type, copy.hyper_v_generation, copy.disk_size_gb) == ("Windows", "V2", 127)
    assert copy.disk_state == "Unattached" and copy.managed_by is None
    assert copy.tags == {"vmrepair-source": "web-01"}
    assert copy.creation_data.source_unique_id == snapshot.unique_id

    disks = control.disks()
    assert disks[copy.id]["sha256"] == disks[source_disk.id]["sha256"] == disks[snapshot.id]["sha256"]
    # The source was only read: no write to it happened during the snapshot or the copy.
    assert disks[source_disk.id]["writes"] == writes_before
    compute.disks.begin_delete(RG, name).result()
    compute.snapshots.begin_delete(RG, snapshot.name).result()
    assert copy.id not in control.disks()
    assert snapshot.id not in control.disks()


def test_disk_put_is_a_disk_rp_long_running_operation(raw: RawArm, source_disk: object) -> None:
    name = unique("lro")
    path = f"/subscriptions/{source_disk.id.split('/')[2]}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/{name}"
    body = {"location": "westeurope", "properties": {"creationData": {"createOption": "Copy",
                                                                      "sourceResourceId": source_disk.id}}}
    first = raw.call("PUT", path, DISK_API, body)
    assert first.status_code == 202
    assert first.json()["properties"]["provisioningState"] == "Updating"
    status_url = first.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Compute/locations/westeurope/DiskOperations/" in status_url
    assert "Location" in first.headers and int(first.headers["retry-after-ms"]) > 0  # scaled scenario
    deadline = time.time() + 30
    while True:
        status = raw.call("GET", status_url).json()
        assert status["status"] in ("InProgress", "Succeeded")
        assert "startTime" in status and status["name"]
        if status["status"] == "Succeeded":
            break
        assert time.time() < deadline
        time.sleep(0.05)
    assert "endTime" in status
    assert status["properties"]["output"]["id"].lower() == path.lower()
    assert status["properties"]["output"]["properties"]["provisioningState"] == "Succeeded"
    assert raw.call("GET", path, DISK_API).json()["properties"]["provisioningState"] == "Succeeded"
    deleted = raw.call("DELETE", path, DISK_API)
    assert deleted.status_code == 202 and "Location" in deleted.headers
    while raw.call("GET", path, DISK_API).status_code != 404:
        assert time.time() < deadline
        time.sleep(0.05)
    assert raw.call("DELETE", path, DISK_API).status_code == 204


def test_attached_disk_cannot_be_deleted(compute: ComputeManagementClient, source_disk: object) -> None:
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_delete(RG, source_disk.name)
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    assert info.value.error.message == f"Disk {source_disk.name} is attached to VM {source_disk.managed_by}."
    assert compute.disks.get(RG, source_disk.name).provisioning_state == "Succeeded"


def test_empty_disk_needs_a_size_and_copy_needs_a_source(compute: ComputeManagementClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_create_or_update(RG, unique("empty"), {
            "location": "westeurope", "properties": {"creationData": {"createOption": "Empty"}}})
    assert info.value.status_code == 400 and info.value.error.code == "InvalidParameter"
    assert info.value.error.target == "diskSizeGB"
    missing = f"/subscriptions/{compute._config.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/nope"
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.begin_create_or_update(RG, unique("copy"), {
            "location": "westeurope",
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": missing}}})
    assert info.value.error.code == "NotFound"


def test_empty_disk_zones_tags_patch_and_immutable_creation_data(compute: ComputeManagementClient) -> None:
    name = unique("data")
    disk = compute.disks.begin_create_or_update(RG, name, {
        "location": "West Europe", "zones": ["2"], "sku": {"name": "StandardSSD_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 32}}).result()
    assert disk.location == "westeurope" and disk.zones == ["2"]
    assert (disk.disk_size_gb, disk.sku.name, disk.os_type) == (32, "StandardSSD_LRS", None)
    patched = compute.disks.begin_update(RG, name, {"tags": {"owner": "vmrepair"}}).result()
    assert patched.tags == {"owner": "vmrepair"} and patched.disk_size_gb == 32
    grown = compute.disks.begin_update(RG, name, {"properties": {"diskSizeGB": 64}}).result()
    assert grown.disk_size_gb == 64 and grown.disk_size_bytes == 64 * 1024 ** 3
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_create_or_update(RG, name, {
            "location": "westeurope", "zones": ["2"],
            "properties": {"creationData": {"createOption": "FromImage"}, "diskSizeGB": 64}})
    assert info.value.error.code == "PropertyChangeNotAllowed"
    assert info.value.error.target == "creationData.createOption"
    compute.disks.begin_delete(RG, name).result()
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.get(RG, name)
    assert info.value.error.code == "ResourceNotFound"


def test_incremental_snapshot_and_lists(compute: ComputeManagementClient, source_disk: object) -> None:
    first = _snapshot(compute, source_disk.id, source_disk.location, incremental=True)
    second = _snapshot(compute, source_disk.id, source_disk.location, incremental=True)
    assert first.incremental and second.incremental
    assert first.incremental_snapshot_family_id == second.incremental_snapshot_family_id
    in_group = {s.name for s in compute.snapshots.list_by_resource_group(RG)}
    in_subscription = {s.name for s in compute.snapshots.list()}
    assert {first.name, second.name} <= in_group <= in_subscription
    assert source_disk.name in {d.name for d in compute.disks.list_by_resource_group(RG)}
    assert source_disk.name in {d.name for d in compute.disks.list()}
    for snapshot in (first, second):
        compute.snapshots.begin_delete(RG, snapshot.name).result()
    assert not {first.name, second.name} & {s.name for s in compute.snapshots.list_by_resource_group(RG)}


def test_api_versions_are_checked(raw: RawArm, source_disk: object) -> None:
    path = source_disk.id
    assert raw.call("GET", path, DISK_API).status_code == 200
    future = raw.call("GET", path, "2099-01-01")
    assert future.status_code == 400
    assert future.json()["error"]["code"] == "NoRegisteredProviderFound"
    missing = raw.call("GET", path)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
