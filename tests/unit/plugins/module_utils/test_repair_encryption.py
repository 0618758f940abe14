"""Classifying the source OS disk's encryption, and refusing ADE before anything is created."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_encryption import (
    disk_encryption,
    refuse_ade,
)

DES_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-1"
VAULT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-1"
SECRET_URL = "https://kv-1.vault.azure.net/secrets/bek/0123456789abcdef"


def test_platform_key_by_default():
    assert disk_encryption({}, {"properties": {"encryption": {"type": "EncryptionAtRestWithPlatformKey"}}}).type \
        == "platform_key"


def test_disk_encryption_set_is_customer_key():
    disk = {"properties": {"encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": DES_ID}}}
    found = disk_encryption({}, disk)
    assert (found.type, found.disk_encryption_set_id) == ("customer_key", DES_ID)


def test_ade_from_the_disk_settings_names_the_secret():
    disk = {"properties": {"encryptionSettingsCollection": {
        "enabled": True, "encryptionSettingsVersion": "2.0",
        "encryptionSettings": [{"diskEncryptionKey": {"secretUrl": SECRET_URL, "sourceVault": {"id": VAULT_ID}}}],
    }}}
    found = disk_encryption({}, disk)
    assert (found.type, found.secret_url, found.key_vault_id) == ("ade", SECRET_URL, VAULT_ID)
    with pytest.raises(AzureInputError) as error:
        refuse_ade("web-01", found)
    assert SECRET_URL in error.value.message and VAULT_ID in error.value.message
    assert "--unlock-encrypted-vm" in error.value.message and "Nothing was created" in error.value.message


def test_ade_from_the_vm_extension_alone():
    vm = {"resources": [{"name": "AzureDiskEncryption", "properties": {
        "publisher": "Microsoft.Azure.Security", "type": "AzureDiskEncryption"}}]}
    assert disk_encryption(vm, {"properties": {}}).type == "ade"


def test_disabled_settings_and_other_extensions_are_not_ade():
    vm = {"resources": [{"name": "BGInfo", "properties": {"type": "BGInfo"}}]}
    disk = {"properties": {"encryptionSettingsCollection": {"enabled": False}}}
    found = disk_encryption(vm, disk)
    assert found.type == "platform_key"
    refuse_ade("web-01", found)  # no error
