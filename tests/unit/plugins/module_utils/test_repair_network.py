"""The isolated network: controller address validation and the NSG it produces."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_network import (
    nsg_body,
    public_ip_body,
    validate_controller_address,
    vnet_body,
)


@pytest.mark.parametrize("address", ["0.0.0.0/0", "*", "Internet", "internet", "Any", "0.0.0.0", "::/0",
                                     "128.0.0.0/0", ""])
def test_open_sources_are_refused(address):
    with pytest.raises(AzureInputError):
        validate_controller_address(address)


@pytest.mark.parametrize(("address", "expected"), [
    ("203.0.113.7", "203.0.113.7"),
    (" 203.0.113.7/32 ", "203.0.113.7"),
    ("198.51.100.0/28", "198.51.100.0/28"),
    ("198.51.100.9/28", "198.51.100.0/28"),
])
def test_addresses_and_prefixes_are_normalised(address, expected):
    assert validate_controller_address(address) == expected


def test_service_tags_and_names_are_refused():
    with pytest.raises(AzureInputError, match="service tags"):
        validate_controller_address("AzureCloud")


def test_nsg_admits_only_winrm_from_the_controller():
    body = nsg_body("westeurope", "203.0.113.7", {"t": "v"}, 5986)
    (rule,) = body["properties"]["securityRules"]
    props = rule["properties"]
    assert (props["access"], props["direction"], props["protocol"]) == ("Allow", "Inbound", "Tcp")
    assert props["sourceAddressPrefix"] == "203.0.113.7" and props["destinationPortRange"] == "5986"
    assert body["tags"] == {"t": "v"}


def test_vnet_subnet_uses_the_nsg_and_public_ip_is_standard_static_zonal():
    vnet = vnet_body("westeurope", "10.250.0.0/24", "/nsg/id", {})
    (subnet,) = vnet["properties"]["subnets"]
    assert subnet["properties"]["networkSecurityGroup"] == {"id": "/nsg/id"}
    pip = public_ip_body("westeurope", ["2"], {})
    assert pip["sku"]["name"] == "Standard" and pip["properties"]["publicIPAllocationMethod"] == "Static"
    assert pip["zones"] == ["2"]
    assert "zones" not in public_ip_body("westeurope", [], {})
