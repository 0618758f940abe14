"""Microsoft.Network through the real azure-mgmt-network SDK (bodies as the REST API spells them)."""
from __future__ import annotations

import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from vmrepair_emulator.testing import ControlClient, EmulatorProcess

PREFIX = "127.70"


@pytest.fixture(scope="module")
def net(default_emulator: EmulatorProcess) -> NetworkManagementClient:
    return default_emulator.mgmt_client(NetworkManagementClient)


@pytest.fixture
def group(default_emulator: EmulatorProcess):
    rm = default_emulator.mgmt_client(ResourceManagementClient)
    name = f"net-{uuid.uuid4().hex[:8]}"
    rm.resource_groups.create_or_update(name, {"location": "westeurope"})
    yield name
    rm.resource_groups.begin_delete(name).result()


def _vnet(net: NetworkManagementClient, group: str, name: str = "vnet", location: str = "westeurope",
          third_octet: int = 1) -> str:
    net.virtual_networks.begin_create_or_update(group, name, {
        "location": location, "properties": {
            "addressSpace": {"addressPrefixes": [f"{PREFIX}.0.0/16"]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": f"{PREFIX}.{third_octet}.0/24"}}]}}).result()
    return net.subnets.get(group, name, "default").id


def _nic(net: NetworkManagementClient, group: str, name: str, subnet_id: str, **ip: str):
    config = {"subnet": {"id": subnet_id}, **ip}
    return net.network_interfaces.begin_create_or_update(group, name, {
        "location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": config}]}}
    ).result()


def test_scenario_nic_got_the_first_address(default_emulator: EmulatorProcess, net: NetworkManagementClient) -> None:
    nic = net.network_interfaces.get("prod-rg", "web-01VMNic")
    config = nic.ip_configurations[0]
    assert config.private_ip_address == "127.42.1.4"
    assert nic.virtual_machine.id.endswith("/virtualMachines/web-01")
    subnet = net.subnets.get("prod-rg", "prod-vnet", "default")
    assert config.id in [c.id for c in subnet.ip_configurations]  # other tests may add NICs to this subnet


def test_put_is_201_with_async_operation_then_succeeded(default_emulator: EmulatorProcess, group: str,
                                                        control: ControlClient) -> None:
    token = default_emulator.credential().get_token(default_emulator.arm_url + ".default").token
    url = (f"{default_emulator.arm_url}subscriptions/{default_emulator.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/"
           f"{group}/providers/Microsoft.Network/networkSecurityGroups/raw-nsg")
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.put(url, params={"api-version": "2024-05-01"}, json={"location": "westeurope"},
                           headers=headers, verify=default_emulator.ca_bundle)
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Updating"
    status_url = created.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Network/locations/westeurope/operations/" in status_url
    assert int(created.headers["retry-after-ms"]) >= 10  # the scenario's latency is scaled
    import time

    deadline = time.monotonic() + 30
    while True:
        status = requests.get(status_url, headers=headers, verify=default_emulator.ca_bundle).json()
        if status["status"] != "InProgress" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == {"status": "Succeeded"}
    final = requests.get(url, params={"api-version": "2024-05-01"}, headers=headers, verify=default_emulator.ca_bundle)
    assert final.json()["properties"]["provisioningState"] == "Succeeded"
    assert len(final.json()["properties"]["defaultSecurityRules"]) == 6


def test_private_ips_are_allocated_in_order_and_reused(net: NetworkManagementClient, group: str) -> None:
    subnet_id = _vnet(net, group)
    first = _nic(net, group, "nic-1", subnet_id)
    second = _nic(net, group, "nic-2", subnet_id)
    assert first.ip_configurations[0].private_ip_address == f"{PREFIX}.1.4"
    assert second.ip_configurations[0].private_ip_address == f"{PREFIX}.1.5"
    assert first.ip_configurations[0].private_ip_allocation_method == "Dynamic"
    net.network_interfaces.begin_delete(group, "nic-1").result()
    third = _nic(net, group, "nic-3", subnet_id)
    assert third.ip_configurations[0].private_ip_address == f"{PREFIX}.1.4"


def test_static_ip_rules(net: NetworkManagementClient, group: str) -> None:
    subnet_id = _vnet(net, group)
    nic = _nic(net, group, "static", subnet_id, privateIPAllocationMethod="Static", privateIPAddress=f"{PREFIX}.1.50")
    assert nic.ip_configurations[0].private_ip_address == f"{PREFIX}.1.50"
    with pytest.raises(HttpResponseError) as info:
        _nic(net, group, "clash", subnet_id, privateIPAllocationMethod="Static", privateIPAddress=f"{PREFIX}.1.50")
    assert info.value.error.code == "PrivateIPAddressInUse"
    with pytest.raises(HttpResponseError) as info:
        _nic(net, group, "outside", subnet_id, privateIPAllocationMethod="Static", privateIPAddress=f"{PREFIX}.9.9")
    assert info.value.error.code == "PrivateIPAddressNotInSubnet"


def test_subnet_in_another_region_is_refused(net: NetworkManagementClient, group: str) -> None:
    subnet_id = _vnet(net, group, "far-vnet", location="eastus")
    with pytest.raises(HttpResponseError) as info:
        _nic(net, group, "nic", subnet_id)
    assert info.value.error.code == "InvalidResourceReference"


def test_subnet_outside_the_vnet_is_refused(net: NetworkManagementClient, group: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        net.virtual_networks.begin_create_or_update(group, "bad", {
            "location": "westeurope", "properties": {
                "addressSpace": {"addressPrefixes": ["127.71.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "127.72.1.0/24"}}]}})
    assert info.value.error.code == "NetcfgSubnetRangeOutsideVnet"


def test_nic_used_by_a_vm_cannot_be_deleted(net: NetworkManagementClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        net.network_interfaces.begin_delete("prod-rg", "web-01VMNic")
    assert info.value.status_code == 400
    assert info.value.error.code == "NicInUse"
    assert net.network_interfaces.get("prod-rg", "web-01VMNic").provisioning_state == "Succeeded"


def test_subnet_in_use_and_public_ip_in_use(net: NetworkManagementClient, group: str) -> None:
    subnet_id = _vnet(net, group)
    pip = net.public_ip_addresses.begin_create_or_update(group, "pip", {
        "location": "westeurope", "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}}).result()
    assert pip.ip_address
    _nic(net, group, "nic", subnet_id, publicIPAddress={"id": pip.id})
    with pytest.raises(HttpResponseError) as info:
        net.subnets.begin_delete(group, "vnet", "default")
    assert info.value.error.code == "InUseSubnetCannotBeDeleted"
    with pytest.raises(HttpResponseError) as info:
        net.public_ip_addresses.begin_delete(group, "pip")
    assert info.value.error.code == "PublicIPAddressCannotBeDeleted"
    net.network_interfaces.begin_delete(group, "nic").result()
    net.public_ip_addresses.begin_delete(group, "pip").result()
    net.subnets.begin_delete(group, "vnet", "default").result()
    assert net.virtual_networks.get(group, "vnet").subnets == []


def test_get_missing_is_404_and_delete_missing_is_204(net: NetworkManagementClient, group: str) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        net.network_interfaces.get(group, "nope")
    assert info.value.error.code == "ResourceNotFound"
    net.network_interfaces.begin_delete(group, "nope").result()  # 204: nothing to do


def test_lists(net: NetworkManagementClient, group: str) -> None:
    subnet_id = _vnet(net, group)
    _nic(net, group, "a", subnet_id)
    assert [n.name for n in net.network_interfaces.list(group)] == ["a"]
    assert "web-01VMNic" in [n.name for n in net.network_interfaces.list_all()]
    assert [s.name for s in net.subnets.list(group, "vnet")] == ["default"]
