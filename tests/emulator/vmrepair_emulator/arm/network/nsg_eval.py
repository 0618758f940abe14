"""Inbound NSG evaluation for one connection to a VM's NIC, as Azure applies it.

Azure (learn.microsoft.com "How network security groups filter network traffic"): inbound traffic
is checked against the subnet's NSG, then the NIC's NSG; both must allow it. In each NSG the rules
(custom and default) are tried by ascending priority and the first match decides. With no NSG at
all, a Standard public IP is closed to inbound traffic ("secure by default"), a Basic one is open.
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...world import World

_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


def _port_matches(spec: str, port: int) -> bool:
    spec = str(spec).strip()
    if spec == "*":
        return True
    if "-" in spec:
        low, high = spec.split("-", 1)
        return int(low) <= port <= int(high)
    return spec.isdigit() and int(spec) == port


def _source_matches(prefix: str, source: ipaddress.IPv4Address) -> bool:
    tag = str(prefix).strip()
    lowered = tag.lower()
    if lowered in ("*", "any"):
        return True
    if lowered == "internet":  # service tag: addresses outside the VNet and outside private ranges
        return not any(source in net for net in _PRIVATE) and not source.is_loopback
    if lowered in ("virtualnetwork", "azureloadbalancer"):
        return False  # the controller is neither inside the VNet nor Azure's load balancer probe
    try:
        return source in ipaddress.ip_network(tag, strict=False)
    except ValueError:
        return False  # other service tags


def _destination_matches(prefix: str, destinations: list[ipaddress.IPv4Address]) -> bool:
    tag = str(prefix).strip().lower()
    if tag in ("*", "any", "virtualnetwork"):
        return True
    try:
        network = ipaddress.ip_network(tag, strict=False)
    except ValueError:
        return False
    return any(d in network for d in destinations)


def _rule_matches(props: dict[str, Any], source: ipaddress.IPv4Address, destinations: list[ipaddress.IPv4Address],
                  port: int, protocol: str) -> bool:
    if props.get("direction") != "Inbound":
        return False
    if str(props.get("protocol", "*")).lower() not in ("*", protocol.lower()):
        return False
    ports = list(props.get("destinationPortRanges") or []) or [props.get("destinationPortRange") or "*"]
    if not any(_port_matches(p, port) for p in ports):
        return False
    sources = list(props.get("sourceAddressPrefixes") or []) or [props.get("sourceAddressPrefix") or "*"]
    if not any(_source_matches(p, source) for p in sources):
        return False
    targets = list(props.get("destinationAddressPrefixes") or []) or [props.get("destinationAddressPrefix") or "*"]
    return any(_destination_matches(p, destinations) for p in targets)


def nsg_allows(nsg: dict[str, Any], source: str, destinations: list[str], port: int, protocol: str = "Tcp") -> bool:
    """The first matching rule by priority decides (DenyAllInBound ends every list)."""
    rules = [r["properties"] for r in (nsg["properties"].get("securityRules") or [])]
    rules += [r["properties"] for r in (nsg["properties"].get("defaultSecurityRules") or [])]
    src = ipaddress.IPv4Address(source)
    dsts = [ipaddress.IPv4Address(d) for d in destinations if d]
    for props in sorted(rules, key=lambda p: int(p.get("priority", 65500))):
        if _rule_matches(props, src, dsts, port, protocol):
            return props.get("access") == "Allow"
    return False


def inbound_allowed(world: "World", nic_id: str, source: str, port: int, protocol: str = "Tcp") -> bool:
    """May `source` open `port` on the NIC through its public IP? Subnet NSG, then NIC NSG."""
    from .models import find_subnet

    with world.lock:
        nic = world.get(nic_id)
        if nic is None:
            return False
        config = (nic["properties"].get("ipConfigurations") or [{}])[0].get("properties") or {}
        destinations = [config.get("privateIPAddress")]
        pip = world.get(config["publicIPAddress"]["id"]) if config.get("publicIPAddress") else None
        if pip is not None:
            destinations.append(pip["properties"].get("ipAddress"))
        groups = []
        if config.get("subnet"):
            try:
                _vnet, subnet = find_subnet(world, config["subnet"]["id"])
            except Exception:  # noqa: BLE001 - a subnet gone mid-check admits nothing more than its NSG
                subnet = {}
            subnet_nsg = (subnet.get("properties") or {}).get("networkSecurityGroup")
            if subnet_nsg:
                groups.append(world.get(subnet_nsg["id"]))
        if nic["properties"].get("networkSecurityGroup"):
            groups.append(world.get(nic["properties"]["networkSecurityGroup"]["id"]))
        groups = [g for g in groups if g is not None]
        if not groups:
            return pip is not None and (pip.get("sku") or {}).get("name") == "Basic"
        return all(nsg_allows(g, source, destinations, port, protocol) for g in groups)
