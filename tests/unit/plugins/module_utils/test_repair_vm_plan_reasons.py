"""The plan's facts and reasons: what the source VM's JSON decides (Azure's own REST examples)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import RepairNames
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_vm import (
    TYPE_NIC,
    TYPE_NSG,
    TYPE_PUBLIC_IP,
    TYPE_VM,
    TYPE_VNET,
    Existing,
    build_plan,
    nic_body,
    source_from_json,
)

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "azure-rest-api-specs"


def example_body(name: str) -> dict:
    return copy.deepcopy(json.loads((EXAMPLES / name).read_text(encoding="utf-8"))["responses"]["200"]["body"])


def test_facts_come_from_the_os_disk():
    vm, disk = example_body("VirtualMachine_Get.json"), example_body("Disk_Get.json")
    disk["zones"] = ["3"]
    disk["sku"] = {"name": "Premium_LRS"}
    del disk["properties"]["encryptionSettingsCollection"]  # the example is ADE-encrypted
    disk["properties"]["encryption"] = {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": "/des/1"}
    source = source_from_json(vm, disk)
    facts = source.facts()
    assert facts["hyper_v_generation"] == disk["properties"]["hyperVGeneration"].upper()
    assert facts["zone"] == "3" and facts["disk_sku"] == "Premium_LRS"
    assert facts["security_type"] == "TrustedLaunch" and source.trusted_launch
    assert facts["encryption"]["type"] == "customer_key" and facts["encryption"]["disk_encryption_set_id"] == "/des/1"


def test_azure_example_disk_is_recognised_as_ade_with_its_secret():
    vm, disk = example_body("VirtualMachine_Get.json"), example_body("Disk_Get.json")
    encryption = source_from_json(vm, disk).encryption
    assert encryption.type == "ade"
    key = disk["properties"]["encryptionSettingsCollection"]["encryptionSettings"][0]["diskEncryptionKey"]
    assert (encryption.secret_url, encryption.key_vault_id) == (key["secretUrl"], key["sourceVault"]["id"])


def test_every_step_carries_its_reason_and_isolated_adds_the_network():
    names = RepairNames.for_repair("1a2b3c4d", "myVM")
    why = {TYPE_VM: "Standard_D2s_v5 because", TYPE_NSG: "only from 203.0.113.7"}
    plan = build_plan(Existing(), names, why, isolated=True)
    created = [(s["resource_type"], s["name"]) for s in plan if s["action"] == "create"]
    assert created.index((TYPE_NSG, names.nsg)) < created.index((TYPE_VNET, names.vnet)) \
        < created.index((TYPE_NIC, names.nic)) < created.index((TYPE_VM, names.vm))
    assert (TYPE_PUBLIC_IP, names.public_ip) in created
    by_name = {s["name"]: s for s in plan if s["action"] == "create"}
    assert by_name[names.vm]["why"] == "Standard_D2s_v5 because"
    assert by_name[names.nsg]["why"] == "only from 203.0.113.7"
    assert all("why" in s for s in plan)
    plain = build_plan(Existing(), names, why)
    assert not {TYPE_NSG, TYPE_VNET, TYPE_PUBLIC_IP} & {s["resource_type"] for s in plain}


def test_nic_gets_a_public_ip_only_when_given():
    assert "publicIPAddress" not in nic_body("westeurope", "/subnet", {})["properties"]["ipConfigurations"][0][
        "properties"]
    config = nic_body("westeurope", "/subnet", {}, "/pip/1")["properties"]["ipConfigurations"][0]["properties"]
    assert config["publicIPAddress"] == {"id": "/pip/1"}
