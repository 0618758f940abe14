"""The isolated-network path: a repair VM with a public IP (from the scenario's loopback pool) is
reached on that address only when its NSG admits the controller (the `controller_address` knob)
on 5986/TCP. Real clients: azure-mgmt-network/compute for the setup, pywinrm (NTLM over HTTPS)
for the connection. Scenario gen1-regional (public_ip_pool 127.144.0.0/16)."""
from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
import winrm
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from vmrepair_emulator.arm.compute.testing import ADMIN_PASSWORD, repair_vm_body, script_with_params, unique
from vmrepair_emulator.testing import EmulatorProcess

RG = "prod-rg"
LOCATION = "westeurope"
POWERSHELL = Path(__file__).resolve().parents[3] / "powershell"
CONTROLLER = "203.0.113.10"  # the knob's default


def _allow_5986(source: str, priority: int = 100) -> dict[str, Any]:
    return {"name": "allow-winrm-https", "properties": {
        "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": priority,
        "sourceAddressPrefix": source, "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": "5986"}}


@pytest.fixture(scope="module")
def isolated(emulator: Callable[..., EmulatorProcess], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, Any]]:
    process = emulator("gen1-regional")
    compute = process.mgmt_client(ComputeManagementClient)
    network = process.mgmt_client(NetworkManagementClient)
    # Own random private prefix (other emulators on this host may hold the scenario's addresses).
    prefix = f"127.{random.randint(100, 199)}.{random.randint(1, 250)}"
    vnet = network.virtual_networks.begin_create_or_update(RG, unique("iso-vnet"), {
        "location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": [f"{prefix}.0/24"]},
                                             "subnets": [{"name": "default",
                                                          "properties": {"addressPrefix": f"{prefix}.0/24"}}]}}
    ).result()
    name = unique("iso")
    nsg = network.network_security_groups.begin_create_or_update(RG, f"{name}-nsg", {"location": LOCATION}).result()
    pip = network.public_ip_addresses.begin_create_or_update(RG, f"{name}-pip", {
        "location": LOCATION, "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}}).result()
    nic = network.network_interfaces.begin_create_or_update(RG, f"{name}-nic", {
        "location": LOCATION, "properties": {
            "networkSecurityGroup": {"id": nsg.id},
            "ipConfigurations": [{"name": "ipconfig1", "properties": {
                "subnet": {"id": vnet.subnets[0].id}, "privateIPAllocationMethod": "Dynamic",
                "publicIPAddress": {"id": pip.id}}}]}}).result()
    vm = compute.virtual_machines.begin_create_or_update(RG, name, repair_vm_body(LOCATION, nic.id)).result()
    private_ip = nic.ip_configurations[0].private_ip_address
    script = script_with_params((POWERSHELL / "enable_winrm_https.ps1").read_text(encoding="utf-8"),
                                {"subject_names": [pip.ip_address, private_ip]})
    result = compute.virtual_machines.begin_run_command(
        RG, name, {"commandId": "RunPowerShellScript", "script": script}).result()
    answer = json.loads(result.value[0].message.strip().splitlines()[-1])
    pinned = tmp_path_factory.mktemp("pin") / "winrm.pem"
    pinned.write_text("-----BEGIN CERTIFICATE-----\n" + answer["certificate"] + "\n-----END CERTIFICATE-----\n")
    yield {"process": process, "network": network, "nsg": nsg, "public_ip": pip.ip_address,
           "private_ip": private_ip, "pinned": pinned, "vnet": vnet, "nic": nic, "pip": pip}
    compute.virtual_machines.begin_delete(RG, name).result()
    for poller in (network.network_interfaces.begin_delete(RG, nic.name),):
        poller.result()
    network.public_ip_addresses.begin_delete(RG, pip.name).result()
    network.network_security_groups.begin_delete(RG, nsg.name).result()
    network.virtual_networks.begin_delete(RG, vnet.name).result()


def _whoami(isolated: dict[str, Any], address: str) -> str:
    """Runs the collection's find_dumps over WinRM (the simulated Windows runs only the collection's
    scripts); answers "REPAIRVM" when it ran."""
    session = winrm.Session(f"https://{address}:5986/wsman", auth=("repairadmin", ADMIN_PASSWORD),
                            transport="ntlm", server_cert_validation="validate",
                            ca_trust_path=str(isolated["pinned"]), read_timeout_sec=30, operation_timeout_sec=20)
    script = "\n".join(script_with_params((POWERSHELL / "find_dumps.ps1").read_text(encoding="utf-8"), {}))
    result = session.run_ps(script)
    assert result.status_code == 0, result.std_err
    assert "windows_volumes" in json.loads(result.std_out.decode().strip().splitlines()[-1])
    return "REPAIRVM"


def _set_rules(isolated: dict[str, Any], rules: list[dict[str, Any]]) -> None:
    isolated["network"].network_security_groups.begin_create_or_update(
        RG, isolated["nsg"].name, {"location": LOCATION, "properties": {"securityRules": rules}}).result()


def test_public_ip_comes_from_the_scenario_loopback_pool(isolated: dict[str, Any]) -> None:
    assert ipaddress.ip_address(isolated["public_ip"]) in ipaddress.ip_network("127.144.0.0/16")


def test_nsg_without_an_allow_rule_closes_the_connection(isolated: dict[str, Any]) -> None:
    _set_rules(isolated, [])
    control = isolated["process"].control()
    mark = control.mark()
    with pytest.raises(requests.exceptions.ConnectionError):
        _whoami(isolated, isolated["public_ip"])
    refused = [r for r in control.requests("winrm", since=mark) if r.get("refused") == "nsg"]
    assert refused and refused[0]["path"] == f"{isolated['public_ip']}:5986"
    assert _whoami(isolated, isolated["private_ip"]) == "REPAIRVM"  # inside the network: unaffected


def test_allow_rule_for_the_controller_address_admits_it(isolated: dict[str, Any]) -> None:
    _set_rules(isolated, [_allow_5986(f"{CONTROLLER}/32")])
    assert _whoami(isolated, isolated["public_ip"]) == "REPAIRVM"
    control = isolated["process"].control()
    with control.knobs_set(controller_address="198.51.100.7"):  # another controller: not admitted
        with pytest.raises(requests.exceptions.ConnectionError):
            _whoami(isolated, isolated["public_ip"])
    _set_rules(isolated, [_allow_5986("Internet")])  # the service tag covers any public source
    assert _whoami(isolated, isolated["public_ip"]) == "REPAIRVM"


def test_deny_rule_with_a_better_priority_wins(isolated: dict[str, Any]) -> None:
    deny = {"name": "deny-all-5986", "properties": {
        "protocol": "*", "access": "Deny", "direction": "Inbound", "priority": 100, "sourceAddressPrefix": "*",
        "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRanges": ["5985-5986"]}}
    _set_rules(isolated, [deny, _allow_5986(CONTROLLER, priority=200)])
    with pytest.raises(requests.exceptions.ConnectionError):
        _whoami(isolated, isolated["public_ip"])


def test_nsg_on_the_subnet_is_evaluated_too(isolated: dict[str, Any]) -> None:
    """The collection's layout: the NSG on the subnet, none on the NIC."""
    network: NetworkManagementClient = isolated["network"]
    nic, vnet = isolated["nic"], isolated["vnet"]
    ip_config = {"name": "ipconfig1", "properties": {
        "subnet": {"id": vnet.subnets[0].id}, "privateIPAllocationMethod": "Static",
        "privateIPAddress": isolated["private_ip"], "publicIPAddress": {"id": isolated["pip"].id}}}
    network.network_interfaces.begin_create_or_update(RG, nic.name, {
        "location": LOCATION, "properties": {"ipConfigurations": [ip_config]}}).result()
    subnet_nsg = network.network_security_groups.begin_create_or_update(RG, unique("subnet-nsg"), {
        "location": LOCATION, "properties": {"securityRules": [_allow_5986(f"{CONTROLLER}/32")]}}).result()
    subnet_body = {"properties": {"addressPrefix": vnet.subnets[0].address_prefix,
                                  "networkSecurityGroup": {"id": subnet_nsg.id}}}
    subnet = network.subnets.begin_create_or_update(RG, vnet.name, "default", subnet_body).result()
    assert subnet.network_security_group.id == subnet_nsg.id
    assert [s.id for s in network.network_security_groups.get(RG, subnet_nsg.name).subnets] == [subnet.id]
    assert _whoami(isolated, isolated["public_ip"]) == "REPAIRVM"
    network.network_security_groups.begin_create_or_update(
        RG, subnet_nsg.name, {"location": LOCATION, "properties": {"securityRules": []}}).result()
    with pytest.raises(requests.exceptions.ConnectionError):
        _whoami(isolated, isolated["public_ip"])
    with pytest.raises(HttpResponseError) as caught:  # still associated
        network.network_security_groups.begin_delete(RG, subnet_nsg.name).result()
    assert caught.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"
    network.subnets.begin_create_or_update(
        RG, vnet.name, "default", {"properties": {"addressPrefix": vnet.subnets[0].address_prefix}}).result()
    network.network_security_groups.begin_delete(RG, subnet_nsg.name).result()


def test_group_delete_cascades_through_a_subnet_nsg(emulator: Callable[..., EmulatorProcess]) -> None:
    from azure.mgmt.resource.resources import ResourceManagementClient

    process = emulator("gen1-regional")
    network = process.mgmt_client(NetworkManagementClient)
    resources = process.mgmt_client(ResourceManagementClient)
    group = unique("nsg-rg")
    resources.resource_groups.create_or_update(group, {"location": LOCATION})
    nsg = network.network_security_groups.begin_create_or_update(group, "nsg", {"location": LOCATION}).result()
    network.virtual_networks.begin_create_or_update(group, "vnet", {
        "location": LOCATION, "properties": {
            "addressSpace": {"addressPrefixes": ["127.250.0.0/24"]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": "127.250.0.0/24",
                                                           "networkSecurityGroup": {"id": nsg.id}}}]}}).result()
    assert network.network_security_groups.get(group, "nsg").subnets[0].id.endswith("/subnets/default")
    resources.resource_groups.begin_delete(group).result()
    assert not resources.resource_groups.check_existence(group)
