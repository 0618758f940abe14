"""Resource SKUs, size restrictions, zones and generations through the real azure-mgmt-compute client.

Scenarios: size-unavailable (Standard_D2s_v5 and Standard_D2s_v3 restricted in westeurope zone 1),
gen1-regional (Gen1, no zone) and gen2-zonal-trustedlaunch (zone 2, Trusted Launch, Gen2).
"""
from __future__ import annotations

from typing import Any, Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from vmrepair_emulator.arm.compute.testing import create_nic, repair_vm_body, unique
from vmrepair_emulator.testing import EmulatorProcess

RG = "prod-rg"
LOCATION = "westeurope"


def _clients(emulator: EmulatorProcess) -> tuple[ComputeManagementClient, NetworkManagementClient]:
    return emulator.mgmt_client(ComputeManagementClient), emulator.mgmt_client(NetworkManagementClient)


@pytest.fixture(scope="module")
def restricted(emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return emulator("size-unavailable")


def _vm_skus(compute: ComputeManagementClient) -> dict[str, Any]:
    return {sku.name: sku for sku in compute.resource_skus.list(filter=f"location eq '{LOCATION}'")
            if sku.resource_type == "virtualMachines"}


def _capabilities(sku: Any) -> dict[str, str]:
    return {c.name: c.value for c in sku.capabilities}


def test_sku_list_shows_scenario_restrictions_per_zone(restricted: EmulatorProcess) -> None:
    compute, _network = _clients(restricted)
    skus = _vm_skus(compute)
    for name in ("Standard_D2s_v5", "Standard_D2s_v3"):
        [restriction] = skus[name].restrictions
        assert restriction.type == "Zone"
        assert restriction.reason_code == "NotAvailableForSubscription"
        assert restriction["values"] == [LOCATION]  # models are mappings: .values is the dict method
        assert restriction.restriction_info.zones == ["1"]
        assert restriction.restriction_info.locations == [LOCATION]
    fallback = skus["Standard_D2as_v5"]
    assert fallback.restrictions == []
    assert fallback.location_info[0].zones == ["1", "2", "3"]
    caps = _capabilities(fallback)
    assert caps["HyperVGenerations"] == "V1,V2"
    assert caps["vCPUs"] == "2" and caps["MemoryGB"] == "8"
    assert caps["PremiumIO"] == "True" and caps["TrustedLaunchDisabled"] == "False"
    assert _capabilities(skus["Standard_D2_v2"])["HyperVGenerations"] == "V1"


def test_sku_list_filter_on_another_location_is_empty(restricted: EmulatorProcess) -> None:
    compute, _network = _clients(restricted)
    assert list(compute.resource_skus.list(filter="location eq 'eastus'")) == []


def _create(compute: ComputeManagementClient, network: NetworkManagementClient, size: str,
            zone: str | None) -> Any:
    subnet_id = network.subnets.get(RG, "prod-vnet", "default").id
    name = unique("repair")
    nic = create_nic(network, RG, f"{name}-nic", LOCATION, subnet_id)
    return compute.virtual_machines.begin_create_or_update(
        RG, name, repair_vm_body(LOCATION, nic.id, [], zone=zone, size=size)).result()


def test_restricted_size_in_its_zone_is_sku_not_available(restricted: EmulatorProcess) -> None:
    compute, network = _clients(restricted)
    with pytest.raises(HttpResponseError) as caught:
        _create(compute, network, "Standard_D2s_v3", "1")
    assert caught.value.status_code == 409
    assert caught.value.error.code == "SkuNotAvailable"
    assert "zones '1'" in caught.value.error.message


def test_unknown_size_is_invalid_parameter(restricted: EmulatorProcess) -> None:
    compute, network = _clients(restricted)
    with pytest.raises(HttpResponseError) as caught:
        _create(compute, network, "Standard_Bogus_v9", None)
    assert caught.value.status_code == 400
    assert caught.value.error.code == "InvalidParameter"
    assert "The value Standard_Bogus_v9 provided for the VM size is not valid" in caught.value.error.message
    assert "Standard_D2as_v5" in caught.value.error.message


def test_fallback_size_and_unrestricted_zone_are_accepted(restricted: EmulatorProcess) -> None:
    compute, network = _clients(restricted)
    vm = _create(compute, network, "Standard_D2as_v5", "1")
    assert vm.provisioning_state == "Succeeded" and vm.zones == ["1"]
    other_zone = _create(compute, network, "Standard_D2s_v3", "3")  # restricted in zone 1 only
    assert other_zone.hardware_profile.vm_size == "Standard_D2s_v3"
    for created in (vm, other_zone):
        compute.virtual_machines.begin_delete(RG, created.name).result()


# ---- generations and zones ------------------------------------------------------------------------


def _copy(compute: ComputeManagementClient, zone: str | None) -> Any:
    source = compute.virtual_machines.get(RG, "web-01").storage_profile.os_disk.managed_disk.id
    snapshot = compute.snapshots.begin_create_or_update(RG, unique("snap"), {
        "location": LOCATION, "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source}}}
    ).result()
    body: dict[str, Any] = {"location": LOCATION, "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": snapshot.id}}}
    if zone:
        body["zones"] = [zone]
    return compute.disks.begin_create_or_update(RG, unique("copy"), body).result()


def test_gen1_regional_copy_keeps_generation_and_cannot_boot_gen2_image_on_gen1_size(
        emulator: Callable[..., EmulatorProcess]) -> None:
    compute, network = _clients(emulator("gen1-regional"))
    source_vm = compute.virtual_machines.get(RG, "web-01")
    assert source_vm.zones is None
    copy = _copy(compute, None)
    assert copy.hyper_v_generation == "V1" and copy.zones is None
    # The repair VM image is Gen2; a Gen1-only size cannot boot it.
    with pytest.raises(HttpResponseError) as caught:
        _create(compute, network, "Standard_D2_v2", None)
    assert caught.value.error.code == "BadRequest"
    assert "cannot boot Hypervisor Generation '2'" in caught.value.error.message


def test_trusted_launch_zonal_copy_keeps_security_profile_and_needs_its_zone(
        emulator: Callable[..., EmulatorProcess]) -> None:
    compute, network = _clients(emulator("gen2-zonal-trustedlaunch"))
    source_vm = compute.virtual_machines.get(RG, "web-01")
    assert source_vm.zones == ["2"]
    assert source_vm.security_profile.security_type == "TrustedLaunch"
    assert source_vm.security_profile.uefi_settings.v_tpm_enabled is True
    copy = _copy(compute, "2")
    assert copy.zones == ["2"] and copy.hyper_v_generation == "V2"
    assert copy.security_profile.security_type == "TrustedLaunch"
    subnet_id = network.subnets.get(RG, "prod-vnet", "default").id
    name = unique("repair")
    nic = create_nic(network, RG, f"{name}-nic", LOCATION, subnet_id)
    with pytest.raises(HttpResponseError) as caught:  # a zone-1 VM cannot take a zone-2 disk
        compute.virtual_machines.begin_create_or_update(
            RG, name, repair_vm_body(LOCATION, nic.id, [copy.id], zone="1")).result()
    assert "not in the same zone" in caught.value.error.message


def test_trusted_launch_repair_vm_needs_a_gen2_image(emulator: Callable[..., EmulatorProcess]) -> None:
    compute, network = _clients(emulator("gen2-zonal-trustedlaunch"))
    subnet_id = network.subnets.get(RG, "prod-vnet", "default").id
    name = unique("repair")
    nic = create_nic(network, RG, f"{name}-nic", LOCATION, subnet_id)
    body = repair_vm_body(LOCATION, nic.id, [], zone="2", size="Standard_D2s_v5")
    body["properties"]["securityProfile"] = {"securityType": "TrustedLaunch",
                                             "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    body["properties"]["storageProfile"]["imageReference"]["sku"] = "2022-datacenter"  # Gen1 image
    with pytest.raises(HttpResponseError) as caught:
        compute.virtual_machines.begin_create_or_update(RG, name, body).result()
    assert "Trusted Launch Supported Gen2 OS Image" in caught.value.error.message
    body["properties"]["storageProfile"]["imageReference"]["sku"] = "2022-datacenter-g2"
    vm = compute.virtual_machines.begin_create_or_update(RG, name, body).result()
    assert vm.security_profile.security_type == "TrustedLaunch"
    os_disk = compute.disks.get(RG, vm.storage_profile.os_disk.name)
    assert os_disk.security_profile.security_type == "TrustedLaunch" and os_disk.zones == ["2"]
    compute.virtual_machines.begin_delete(RG, name).result()
