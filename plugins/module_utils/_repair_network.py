# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repair VM's network when it is isolated from the source VM's network.

`network: isolated` builds, in the repair resource group, a VNet with one subnet behind an NSG
that admits WinRM over HTTPS (5986/TCP) from the controller's address only, and a Standard
static public IP on the NIC; the controller reaches WinRM on that public IP. The NSG is never
opened to the internet: the controller address must be one address or a prefix, never
0.0.0.0/0, '*', 'Any' or a service tag such as 'Internet'.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.module_utils.urls import open_url

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError

NETWORK_EXISTING_SUBNET = "existing_subnet"
NETWORK_ISOLATED = "isolated"
NETWORK_MODES = (NETWORK_EXISTING_SUBNET, NETWORK_ISOLATED)
DEFAULT_ISOLATED_PREFIX = "10.250.0.0/24"
ISOLATED_SUBNET = "repair"
# Any endpoint that answers with the caller's address as plain text will do.
DEFAULT_ADDRESS_ECHO_URL = "https://api.ipify.org"
WINRM_RULE = "Allow-WinRM-HTTPS-from-controller"

# Words that mean "anyone" in an NSG source address.
_OPEN_SOURCES = frozenset(("*", "any", "internet", "0.0.0.0", "0.0.0.0/0", "::/0", "::"))


def validate_controller_address(address: str | None) -> str:
    """The controller's address or prefix as the NSG rule's source; refuses anything open to all."""
    text = (address or "").strip()
    if not text:
        raise AzureInputError("controller_address is empty: give the controller's public IP address or prefix")
    if text.lower() in _OPEN_SOURCES:
        raise AzureInputError(
            f"controller_address '{text}' would open WinRM to the internet: give the controller's public IP "
            "address (or a narrow prefix)"
        )
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise AzureInputError(
            f"controller_address '{text}' is not an IP address or CIDR prefix (service tags are not accepted)"
        ) from None
    if network.prefixlen == 0:
        raise AzureInputError(f"controller_address '{text}' would open WinRM to the internet")
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def discover_controller_address(url: str = DEFAULT_ADDRESS_ECHO_URL, timeout: float = 10) -> str:
    """The controller's public address as an echo service sees it (HTTPS, certificate verified)."""
    try:
        response = open_url(url, timeout=timeout, validate_certs=True)
        text = response.read(64).decode("ascii", "replace").strip()
    except OSError as exc:
        raise AzureInputError(
            f"Could not discover the controller's public address from {url} ({exc}): give controller_address"
        ) from None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise AzureInputError(f"{url} did not answer with an IP address: give controller_address") from None


def validate_prefix(prefix: str) -> str:
    try:
        return str(ipaddress.ip_network(prefix, strict=True))
    except ValueError:
        raise AzureInputError(f"isolated_address_prefix '{prefix}' is not a CIDR prefix such as 10.250.0.0/24") from None


def nsg_body(location: str, controller_address: str, tags: dict[str, str], port: int) -> dict[str, Any]:
    """An NSG admitting TCP `port` from the controller only (Azure's default rules deny the rest)."""
    return {
        "location": location,
        "tags": dict(tags),
        "properties": {
            "securityRules": [{
                "name": WINRM_RULE,
                "properties": {
                    "priority": 100,
                    "direction": "Inbound",
                    "access": "Allow",
                    "protocol": "Tcp",
                    "sourceAddressPrefix": controller_address,
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRange": str(port),
                },
            }],
        },
    }


def vnet_body(location: str, prefix: str, nsg_id: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "location": location,
        "tags": dict(tags),
        "properties": {
            "addressSpace": {"addressPrefixes": [prefix]},
            "subnets": [{
                "name": ISOLATED_SUBNET,
                "properties": {"addressPrefix": prefix, "networkSecurityGroup": {"id": nsg_id}},
            }],
        },
    }


def public_ip_body(location: str, zones: list[str], tags: dict[str, str]) -> dict[str, Any]:
    """Standard SKU (Basic is retired), static, in the repair VM's zone."""
    body: dict[str, Any] = {
        "location": location,
        "tags": dict(tags),
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
    }
    if zones:
        body["zones"] = list(zones)
    return body
