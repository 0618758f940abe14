"""Microsoft.Resources through the real azure-mgmt-resource SDK."""
from __future__ import annotations

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from vmrepair_emulator.testing import ControlClient, EmulatorProcess


@pytest.fixture(scope="module")
def rm(default_emulator: EmulatorProcess) -> ResourceManagementClient:
    return default_emulator.mgmt_client(ResourceManagementClient)


@pytest.fixture(scope="module")
def net(default_emulator: EmulatorProcess) -> NetworkManagementClient:
    return default_emulator.mgmt_client(NetworkManagementClient)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_scenario_groups_are_there(rm: ResourceManagementClient) -> None:
    group = rm.resource_groups.get("prod-rg")
    assert group.location == "westeurope"
    assert group.tags == {"env": "prod"}
    assert group.properties.provisioning_state == "Succeeded"


def test_create_get_update_check_existence(rm: ResourceManagementClient) -> None:
    name = _name("crud-rg")
    created = rm.resource_groups.create_or_update(name, {"location": "West Europe", "tags": {"a": "1"}})
    assert created.location == "westeurope"
    assert rm.resource_groups.check_existence(name) is True
    updated = rm.resource_groups.update(name, {"tags": {"b": "2"}})
    assert updated.tags == {"b": "2"}
    assert rm.resource_groups.get(name).tags == {"b": "2"}
    with pytest.raises(ResourceExistsError) as info:
        rm.resource_groups.create_or_update(name, {"location": "eastus"})
    assert info.value.error.code == "InvalidResourceGroupLocation"
    rm.resource_groups.begin_delete(name).result()


def test_missing_group_is_resource_group_not_found(rm: ResourceManagementClient) -> None:
    assert rm.resource_groups.check_existence("no-such-rg") is False
    with pytest.raises(ResourceNotFoundError) as info:
        rm.resource_groups.get("no-such-rg")
    assert info.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        rm.resource_groups.begin_delete("no-such-rg")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_list_with_tag_filter(rm: ResourceManagementClient) -> None:
    tag = uuid.uuid4().hex
    names = [_name("tagged-rg") for _group_number in range(2)]
    for name in names:
        rm.resource_groups.create_or_update(name, {"location": "westeurope", "tags": {"repair-id": tag}})
    other = _name("other-rg")
    rm.resource_groups.create_or_update(other, {"location": "westeurope", "tags": {"repair-id": "different"}})
    found = {g.name for g in rm.resource_groups.list(filter=f"tagName eq 'repair-id' and tagValue eq '{tag}'")}
    assert found == set(names)
    with_name = {g.name for g in rm.resource_groups.list(filter="tagName eq 'repair-id'")}
    assert set(names) | {other} <= with_name
    for poller in [rm.resource_groups.begin_delete(name) for name in [*names, other]]:
        poller.result()


def test_bad_filter_is_refused(rm: ResourceManagementClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        list(rm.resources.list(filter="tagValue eq 'x'"))
    assert info.value.status_code == 400


def test_delete_is_an_lro_polled_through_location(rm: ResourceManagementClient, control: ControlClient) -> None:
    name = _name("lro-rg")
    rm.resource_groups.create_or_update(name, {"location": "westeurope"})
    control.set_knobs(latency_scale=0.05)  # 61 s median -> ~3 s
    mark = control.mark()
    started = time.monotonic()
    poller = rm.resource_groups.begin_delete(name)
    assert rm.resource_groups.get(name).properties.provisioning_state == "Deleting"
    with pytest.raises(ResourceExistsError) as info:
        rm.resource_groups.create_or_update(name, {"location": "westeurope"})
    assert info.value.error.code == "ResourceGroupBeingDeleted"
    poller.result(timeout=60)
    elapsed = time.monotonic() - started
    assert 61 * 0.05 <= elapsed < 20
    assert rm.resource_groups.check_existence(name) is False
    records = control.requests(service="arm", since=mark)
    delete = next(r for r in records if r["method"] == "DELETE")
    assert delete["status"] == 202
    polls = [r for r in records if r.get("operation") == "OperationResults_Get"]
    statuses = [p["status"] for p in polls]
    assert statuses[0] == 202 and statuses[-1] == 200
    assert statuses == sorted(statuses, reverse=True)  # 202 while running, then 200 only


def test_generic_resource_list_by_tag_and_group(rm: ResourceManagementClient, net: NetworkManagementClient) -> None:
    group = _name("generic-rg")
    tag = uuid.uuid4().hex
    rm.resource_groups.create_or_update(group, {"location": "westeurope"})
    net.network_security_groups.begin_create_or_update(group, "nsg-a", {"location": "westeurope",
                                                                        "tags": {"repair-id": tag}}).result()
    net.public_ip_addresses.begin_create_or_update(group, "pip-a", {"location": "westeurope",
                                                                    "sku": {"name": "Standard"},
                                                                    "properties": {"publicIPAllocationMethod": "Static"}}).result()
    tagged = [r.id for r in rm.resources.list(filter=f"tagName eq 'repair-id' and tagValue eq '{tag}'")]
    assert len(tagged) == 1 and tagged[0].endswith("/networkSecurityGroups/nsg-a")
    in_group = sorted(r.type for r in rm.resources.list_by_resource_group(group))
    assert in_group == ["Microsoft.Network/networkSecurityGroups", "Microsoft.Network/publicIPAddresses"]
    by_type = [r.name for r in rm.resources.list_by_resource_group(
        group, filter="resourceType eq 'Microsoft.Network/publicIPAddresses'")]
    assert by_type == ["pip-a"]
    rm.resource_groups.begin_delete(group).result()


def test_group_delete_cascades_through_dependencies(rm: ResourceManagementClient, net: NetworkManagementClient,
                                                    control: ControlClient) -> None:
    group = _name("cascade-rg")
    rm.resource_groups.create_or_update(group, {"location": "westeurope"})
    # Bodies as the REST API spells them (dicts go on the wire as they are).
    net.virtual_networks.begin_create_or_update(group, "vnet", {
        "location": "westeurope", "properties": {
            "addressSpace": {"addressPrefixes": ["127.60.0.0/16"]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": "127.60.1.0/24"}}]}}).result()
    subnet_id = net.subnets.get(group, "vnet", "default").id
    nsg = net.network_security_groups.begin_create_or_update(group, "nsg", {"location": "westeurope"}).result()
    pip = net.public_ip_addresses.begin_create_or_update(group, "pip", {
        "location": "westeurope", "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}}).result()
    net.network_interfaces.begin_create_or_update(group, "nic", {
        "location": "westeurope", "properties": {
            "networkSecurityGroup": {"id": nsg.id},
            "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id},
                                                                      "publicIPAddress": {"id": pip.id}}}]}}).result()
    # The parts hold each other: none can go first on its own.
    with pytest.raises(HttpResponseError) as info:
        net.virtual_networks.begin_delete(group, "vnet")
    assert info.value.error.code == "InUseSubnetCannotBeDeleted"

    rm.resource_groups.begin_delete(group).result()
    assert rm.resource_groups.check_existence(group) is False
    assert [r for r in control.resources() if f"/resourceGroups/{group}/".lower() in r["id"].lower()] == []


def test_resources_under_a_missing_group(net: NetworkManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        net.network_interfaces.get("no-such-rg", "nic")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_deleting_the_scenario_group_removes_vm_nic_disk_and_network(tmp_path) -> None:
    """On a private emulator: the whole prod-rg of c21a-no-dump goes, VM first."""
    process = EmulatorProcess("c21a-no-dump", tmp_path / "state").start()
    try:
        control = process.control()
        before = {r["type"] for r in control.resources()}
        assert {"Microsoft.Compute/virtualMachines", "Microsoft.Compute/disks",
                "Microsoft.Network/networkInterfaces", "Microsoft.Network/virtualNetworks"} <= before
        assert control.disks()  # the OS disk has its backing VHD
        control.set_knobs(latency_scale=0.001)
        rm = process.mgmt_client(ResourceManagementClient)
        rm.resource_groups.begin_delete("prod-rg").result(timeout=120)
        assert control.resources() == []
        assert control.disks() == {}
    finally:
        process.stop()
