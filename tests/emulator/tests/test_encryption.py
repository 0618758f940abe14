"""Disk encryption sets (customer-managed keys) and Azure Disk Encryption settings through the real
azure-mgmt-compute client. Scenarios: des-encrypted (OS disk under DES web-des) and ade-encrypted."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient

from vmrepair_emulator.arm.compute.testing import unique
from vmrepair_emulator.testing import EmulatorProcess

RG = "prod-rg"
LOCATION = "westeurope"


@pytest.fixture(scope="module")
def des_compute(emulator: Callable[..., EmulatorProcess]) -> ComputeManagementClient:
    return emulator("des-encrypted").mgmt_client(ComputeManagementClient)


def _source_disk(compute: ComputeManagementClient) -> Any:
    return compute.disks.get(RG, compute.virtual_machines.get(RG, "web-01").storage_profile.os_disk.name)


def _copy_body(source_id: str, encryption: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"creationData": {"createOption": "Copy", "sourceResourceId": source_id}}
    if encryption is not None:
        props["encryption"] = encryption
    return {"location": LOCATION, "properties": props}


def test_seeded_disk_and_vm_name_the_encryption_set(des_compute: ComputeManagementClient) -> None:
    disk = _source_disk(des_compute)
    assert disk.encryption.type == "EncryptionAtRestWithCustomerKey"
    assert disk.encryption.disk_encryption_set_id.endswith("/providers/Microsoft.Compute/diskEncryptionSets/web-des")
    vm = des_compute.virtual_machines.get(RG, "web-01")
    assert vm.storage_profile.os_disk.managed_disk.disk_encryption_set.id == disk.encryption.disk_encryption_set_id
    des = des_compute.disk_encryption_sets.get(RG, "web-des")
    assert des.id == disk.encryption.disk_encryption_set_id
    assert des.encryption_type == "EncryptionAtRestWithCustomerKey"
    assert des.identity.type == "SystemAssigned" and des.identity.principal_id
    assert des.active_key.key_url.startswith("https://") and "/keys/" in des.active_key.key_url
    assert des.active_key.source_vault.id.split("/providers/")[1].startswith("Microsoft.KeyVault/vaults/")
    assert [d.name for d in des_compute.disk_encryption_sets.list_by_resource_group(RG)] == ["web-des"]


def test_copy_of_customer_key_snapshot_must_name_a_set(des_compute: ComputeManagementClient) -> None:
    source = _source_disk(des_compute)
    snapshot = des_compute.snapshots.begin_create_or_update(RG, unique("snap"), _copy_body(source.id)).result()
    assert snapshot.encryption.disk_encryption_set_id == source.encryption.disk_encryption_set_id
    with pytest.raises(HttpResponseError) as caught:
        des_compute.disks.begin_create_or_update(RG, unique("copy"), _copy_body(snapshot.id)).result()
    assert caught.value.status_code == 400
    assert caught.value.error.target == "encryption.diskEncryptionSetId"
    same_set = {"type": "EncryptionAtRestWithCustomerKey",
                "diskEncryptionSetId": source.encryption.disk_encryption_set_id}
    copy = des_compute.disks.begin_create_or_update(RG, unique("copy"), _copy_body(snapshot.id, same_set)).result()
    assert copy.provisioning_state == "Succeeded"
    assert copy.encryption.type == "EncryptionAtRestWithCustomerKey"
    assert copy.encryption.disk_encryption_set_id == source.encryption.disk_encryption_set_id


def test_encryption_set_create_and_missing_set_refused(des_compute: ComputeManagementClient,
                                                       emulator: Callable[..., EmulatorProcess]) -> None:
    name = unique("des")
    vault = (f"/subscriptions/{emulator('des-encrypted').env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{RG}"
             "/providers/Microsoft.KeyVault/vaults/kv-test")
    des = des_compute.disk_encryption_sets.begin_create_or_update(RG, name, {
        "location": LOCATION, "identity": {"type": "SystemAssigned"},
        "properties": {"activeKey": {"sourceVault": {"id": vault},
                                     "keyUrl": "https://kv-test.vault.azure.net/keys/k1/0123456789abcdef"}}}).result()
    assert des.provisioning_state == "Succeeded" and des.encryption_type == "EncryptionAtRestWithCustomerKey"
    with pytest.raises(HttpResponseError) as caught:  # a DES needs an identity to reach its vault
        des_compute.disk_encryption_sets.begin_create_or_update(RG, unique("des"), {
            "location": LOCATION, "properties": {"activeKey": {"keyUrl": "https://kv-test.vault.azure.net/keys/k/1"}}
        }).result()
    assert caught.value.error.target == "identity"
    missing = des.id + "-missing"
    with pytest.raises(HttpResponseError) as caught:
        des_compute.disks.begin_create_or_update(RG, unique("empty"), {
            "location": LOCATION, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4,
                                                 "encryption": {"type": "EncryptionAtRestWithCustomerKey",
                                                                "diskEncryptionSetId": missing}}}).result()
    assert caught.value.status_code == 404
    empty = des_compute.disks.begin_create_or_update(RG, unique("empty"), {
        "location": LOCATION, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4,
                                             "encryption": {"diskEncryptionSetId": des.id}}}).result()
    assert empty.encryption.type == "EncryptionAtRestWithCustomerKey"
    with pytest.raises(HttpResponseError) as caught:  # in use
        des_compute.disk_encryption_sets.begin_delete(RG, name).result()
    assert caught.value.status_code == 409
    des_compute.disks.begin_delete(RG, empty.name).result()
    des_compute.disk_encryption_sets.begin_delete(RG, name).result()
    assert name not in {d.name for d in des_compute.disk_encryption_sets.list()}


def test_ade_settings_are_seeded_and_kept_by_copies(emulator: Callable[..., EmulatorProcess]) -> None:
    compute = emulator("ade-encrypted").mgmt_client(ComputeManagementClient)
    disk = _source_disk(compute)
    settings = disk.encryption_settings_collection
    assert settings.enabled is True and settings.encryption_settings_version == "1.1"
    [entry] = settings.encryption_settings
    assert entry.disk_encryption_key.secret_url.startswith("https://prod-ade-kv.vault.azure.net/secrets/")
    assert entry.disk_encryption_key.source_vault.id.endswith("/Microsoft.KeyVault/vaults/prod-ade-kv")
    assert disk.encryption.type == "EncryptionAtRestWithPlatformKey"
    snapshot = compute.snapshots.begin_create_or_update(RG, unique("snap"), _copy_body(disk.id)).result()
    copy = compute.disks.begin_create_or_update(RG, unique("copy"), _copy_body(snapshot.id)).result()
    assert copy.encryption_settings_collection.enabled is True
    assert copy.encryption_settings_collection.encryption_settings[0].disk_encryption_key.secret_url == \
        entry.disk_encryption_key.secret_url
