"""Names, ids and tags of a repair: deterministic, within Azure's limits."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import (
    TAG_REPAIR_ID,
    TAG_SOURCE_VM,
    TAG_WINRM_SHA256,
    RepairNames,
    default_repair_id,
    default_repair_resource_group,
    repair_tags,
    tag_filter,
    validate_repair_id,
    vm_resource_id,
)

SUB = "6a3bb0c2-4f4e-4e1b-9d7a-0c2f1c5b1e01"


def test_default_repair_id_is_sha256_of_lowercased_vm_id():
    vm_id = vm_resource_id(SUB, "Prod-RG", "Web-01")
    expected = hashlib.sha256(vm_id.lower().encode()).hexdigest()[:8]
    assert default_repair_id(vm_id) == expected
    assert len(expected) == 8


def test_default_repair_id_ignores_case_of_the_id():
    assert default_repair_id(vm_resource_id(SUB, "PROD-RG", "WEB-01")) == default_repair_id(
        vm_resource_id(SUB, "prod-rg", "web-01"))


def test_different_vms_get_different_ids():
    assert default_repair_id(vm_resource_id(SUB, "prod-rg", "web-01")) != default_repair_id(
        vm_resource_id(SUB, "prod-rg", "web-02"))


def test_vm_resource_id_shape():
    assert vm_resource_id(SUB, "rg", "vm") == (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm")


def test_names_of_a_repair():
    names = RepairNames.for_repair("1a2b3c4d", "web-01")
    assert names.resource_group == "rg-vmrepair-1a2b3c4d" == default_repair_resource_group("1a2b3c4d")
    assert names.snapshot == "snap-web-01-1a2b3c4d"
    assert names.disk_copy == "disk-web-01-1a2b3c4d"
    assert names.vm == "vmrepair-1a2b3c4d"
    assert names.computer_name == "REPAIR1A2B3C4D"


def test_explicit_resource_group_is_kept():
    assert RepairNames.for_repair("1a2b3c4d", "web-01", "my-rg").resource_group == "my-rg"


def test_long_vm_name_is_cut_but_the_repair_id_suffix_is_kept():
    names = RepairNames.for_repair("1a2b3c4d", "v" * 200)
    assert len(names.snapshot) <= 80 and names.snapshot.endswith("-1a2b3c4d")
    assert len(names.disk_copy) <= 80 and names.disk_copy.endswith("-1a2b3c4d")
    assert names.snapshot != names.disk_copy


@pytest.mark.parametrize("repair_id", ["1a2b3c4d", "my-repair-2", "abcdefabcdefabcdefabcdefabcdefab"])
def test_computer_name_fits_windows_limit(repair_id):
    computer_name = RepairNames.for_repair(repair_id, "web").computer_name
    assert len(computer_name) <= 15
    assert computer_name.startswith("REPAIR") and computer_name == computer_name.upper()
    assert "-" not in computer_name


@pytest.mark.parametrize("bad", ["", "UPPER", "has space", "-leading", "a" * 33, "semi;colon", "x/y"])
def test_invalid_repair_ids_are_refused(bad):
    with pytest.raises(AzureInputError):
        validate_repair_id(bad)


def test_tags_name_the_repair_and_the_source_vm_and_contain_no_slash_in_names():
    vm_id = vm_resource_id(SUB, "prod-rg", "web-01")
    tags = repair_tags("1a2b3c4d", vm_id)
    assert tags == {TAG_REPAIR_ID: "1a2b3c4d", TAG_SOURCE_VM: vm_id}
    for name in (TAG_REPAIR_ID, TAG_SOURCE_VM, TAG_WINRM_SHA256):
        assert "/" not in name and len(name) <= 512


def test_tag_filter_is_the_arm_odata_filter_and_escapes_quotes():
    assert tag_filter("1a2b3c4d") == "tagName eq 'vmrepair-repair-id' and tagValue eq '1a2b3c4d'"
    assert tag_filter("it's") == "tagName eq 'vmrepair-repair-id' and tagValue eq 'it''s'"
