"""Microsoft.Network state: virtual networks and subnets, NICs (private IP allocation), public IPs, NSGs.

Shapes follow the Network RP's 2026 examples in ../shared/azure-rest-api-specs/Microsoft.Network.
"""
from __future__ import annotations

import ipaddress
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import ArmError
from ..resources.models import normalize_location

if TYPE_CHECKING:
    from ...world import Resource, World

VNET = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
NIC = "Microsoft.Network/networkInterfaces"
PIP = "Microsoft.Network/publicIPAddresses"
NSG = "Microsoft.Network/networkSecurityGroups"
NSG_RULE = "Microsoft.Network/networkSecurityGroups/securityRules"


def _etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def resource_id(world: "World", rg: str, rtype: str, name: str) -> str:
    return f"/subscriptions/{world.subscription_id}/resourceGroups/{rg}/providers/{rtype}/{name}"


def parse_id(rid: str) -> dict[str, str]:
    """'/subscriptions/s/resourceGroups/g/providers/NS/type/name[/child/name]' -> parts (keys lower-cased)."""
    parts = rid.strip("/").split("/")
    out: dict[str, str] = {}
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        out["subscription"] = parts[1]
    if len(parts) >= 4 and parts[2].lower() == "resourcegroups":
        out["resource_group"] = parts[3]
    if len(parts) >= 8 and parts[4].lower() == "providers":
        out["namespace"], out["type"], out["name"] = parts[5], parts[6], parts[7]
    if len(parts) >= 10:
        out["child_type"], out["child_name"] = parts[8], parts[9]
    return out


# ---- virtual networks and subnets ------------------------------------------------------------------


def _subnet_body(vnet_id: str, name: str, prefix: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": f"{vnet_id}/subnets/{name}",
        "etag": _etag(),
        "properties": {"provisioningState": "Succeeded", "addressPrefix": prefix,
                       "privateEndpointNetworkPolicies": "Disabled", "privateLinkServiceNetworkPolicies": "Enabled"},
        "type": SUBNET,
    }


def check_prefixes(prefixes: list[str], target: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for prefix in prefixes:
        try:
            nets.append(ipaddress.ip_network(prefix, strict=True))
        except ValueError:
            raise ArmError(400, "InvalidAddressPrefixFormat",
                           f"Address prefix {prefix} of resource {target} is not formatted correctly. It should "
                           "follow CIDR notation, for example 10.0.0.0/24.") from None
    return nets


def put_vnet(world: "World", rg: str, name: str, location: str, prefixes: list[str],
             subnets: list[dict[str, str]], tags: dict[str, str] | None = None,
             flow_timeout_minutes: int | None = None) -> tuple["Resource", bool]:
    """Create or update a virtual network with its subnets (name, address_prefix)."""
    from ...world import Resource

    vid = resource_id(world, rg, VNET, name)
    spaces = check_prefixes(prefixes, vid)
    with world.lock:
        existing = world.get(vid)
        if existing is not None and normalize_location(location) != existing["location"]:
            raise ArmError(400, "InvalidResourceLocation",
                           f"The resource '{name}' already exists in location '{existing['location']}' in resource "
                           f"group '{rg}'. A resource with the same name cannot be created in location "
                           f"'{normalize_location(location)}'. Please select a new resource name.")
        old_subnets = {s["name"].lower(): s for s in (existing["properties"]["subnets"] if existing else [])}
        new_subnets = []
        nsg_links: list[tuple[dict[str, Any], str | None]] = []
        for spec in subnets:
            nsg_ref = spec.get("network_security_group_id")
            nsg = world.get(nsg_ref) if nsg_ref else None
            if nsg_ref and (nsg is None or nsg["type"] != NSG):
                raise ArmError(400, "InvalidResourceReference",
                               f"Resource {nsg_ref} referenced by resource {vid}/subnets/{spec['name']} was not found. "
                               "Please make sure that the referenced resource exists, and that both resources are in "
                               "the same region.")
            net = check_prefixes([spec["address_prefix"]], f"{vid}/subnets/{spec['name']}")[0]
            if not any(net.version == space.version and net.subnet_of(space) for space in spaces):  # type: ignore[arg-type]
                raise ArmError(400, "NetcfgSubnetRangeOutsideVnet",
                               f"Subnet '{spec['name']}' is not valid because its IP address range is outside the "
                               f"IP address range of virtual network '{name}'.")
            previous = old_subnets.pop(spec["name"].lower(), None)
            if previous is not None and previous["properties"].get("ipConfigurations") and \
                    previous["properties"]["addressPrefix"] != spec["address_prefix"]:
                raise in_use_subnet(previous)
            body = previous or _subnet_body(vid, spec["name"], spec["address_prefix"])
            body["properties"]["addressPrefix"] = spec["address_prefix"]
            new_subnets.append(body)
            nsg_links.append((body, nsg["id"] if nsg is not None else None))
        for dropped in old_subnets.values():
            if dropped["properties"].get("ipConfigurations"):
                raise in_use_subnet(dropped)
        # Checks done: now the NSG associations (subnet.networkSecurityGroup <-> nsg.subnets).
        for dropped in old_subnets.values():
            _set_subnet_nsg(world, dropped, None)
        for body, nsg_id in nsg_links:
            _set_subnet_nsg(world, body, nsg_id)
        vnet = Resource(
            name=name, id=vid, etag=_etag(), type=VNET, location=normalize_location(location),
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
                "addressSpace": {"addressPrefixes": list(prefixes)},
                "subnets": new_subnets,
                "virtualNetworkPeerings": [],
                "enableDdosProtection": False,
            },
        )
        if tags:
            vnet["tags"] = dict(tags)
        if flow_timeout_minutes is None and existing is not None:
            flow_timeout_minutes = existing["properties"].get("flowTimeoutInMinutes")
        if flow_timeout_minutes is not None:
            vnet["properties"]["flowTimeoutInMinutes"] = int(flow_timeout_minutes)
        if existing is not None:
            vnet.internal.update(existing.internal)
        world.put(vnet)
        return vnet, existing is None


def _set_subnet_nsg(world: "World", subnet: dict[str, Any], nsg_id: str | None) -> None:
    """Associate a subnet with an NSG (or none), keeping the NSG's `subnets` back-references."""
    old = (subnet["properties"].get("networkSecurityGroup") or {}).get("id")
    if old and (nsg_id is None or old.lower() != nsg_id.lower()):
        previous = world.get(old)
        if previous is not None:
            refs = [r for r in previous["properties"].get("subnets", []) if r["id"].lower() != subnet["id"].lower()]
            if refs:
                previous["properties"]["subnets"] = refs
            else:
                previous["properties"].pop("subnets", None)
    if nsg_id is None:
        subnet["properties"].pop("networkSecurityGroup", None)
        return
    subnet["properties"]["networkSecurityGroup"] = {"id": nsg_id}
    refs = world.get(nsg_id)["properties"].setdefault("subnets", [])
    if not any(r["id"].lower() == subnet["id"].lower() for r in refs):
        refs.append({"id": subnet["id"]})


def in_use_subnet(subnet: dict[str, Any]) -> ArmError:
    users = ", ".join(c["id"] for c in subnet["properties"].get("ipConfigurations", []))
    return ArmError(400, "InUseSubnetCannotBeDeleted",
                    f"Subnet {subnet['name']} is in use by {users} and cannot be deleted. In order to delete the "
                    "subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")


def find_subnet(world: "World", subnet_id: str) -> tuple["Resource", dict[str, Any]]:
    parts = parse_id(subnet_id)
    if parts.get("type", "").lower() != "virtualnetworks" or parts.get("child_type", "").lower() != "subnets":
        raise ArmError(400, "LinkedInvalidPropertyId",
                       f"Property id '{subnet_id}' at path 'properties.ipConfigurations[0].properties.subnet.id' is "
                       "invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' "
                       "or '/providers/{resourceProviderNamespace}/'.")
    vnet = world.get(resource_id(world, parts["resource_group"], VNET, parts["name"]))
    if vnet is None:
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource 'Microsoft.Network/virtualNetworks/{parts['name']}' under resource group "
                       f"'{parts['resource_group']}' was not found. For more details please go to "
                       "https://aka.ms/ARMResourceNotFoundFix")
    for subnet in vnet["properties"]["subnets"]:
        if subnet["name"].lower() == parts["child_name"].lower():
            return vnet, subnet
    raise ArmError(400, "InvalidResourceReference",
                   f"Resource {subnet_id} referenced by resource is not found. Please make sure that the referenced "
                   "resource exists, and that both resources are in the same region.")


def used_addresses(subnet: dict[str, Any], world: "World") -> set[str]:
    used = set()
    for ref in subnet["properties"].get("ipConfigurations", []):
        nic_id = ref["id"].split("/ipConfigurations/")[0]
        nic = world.get(nic_id)
        if nic is None:
            continue
        for ipc in nic["properties"]["ipConfigurations"]:
            if ipc["id"].lower() == ref["id"].lower():
                used.add(ipc["properties"].get("privateIPAddress"))
    return used


def allocate_ip(world: "World", subnet: dict[str, Any]) -> str:
    """Lowest free address from .4 up; Azure reserves the first four and the last one."""
    net = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
    used = used_addresses(subnet, world)
    hosts = list(net.hosts()) if net.num_addresses <= 65536 else None
    candidates = hosts[3:-1] if hosts is not None else (net[i] for i in range(4, net.num_addresses - 1))
    for address in candidates:
        if str(address) not in used:
            return str(address)
    raise ArmError(400, "SubnetIsFull",
                   f"Subnet {subnet['name']} with address prefix {net} does not have enough capacity for 1 IP "
                   "addresses.")


# ---- network interfaces ----------------------------------------------------------------------------


def put_nic(world: "World", rg: str, name: str, location: str, ip_configurations: list[dict[str, Any]],
            tags: dict[str, str] | None = None, nsg_id: str | None = None,
            accelerated: bool = False) -> tuple["Resource", bool]:
    """Create or update a NIC. Each ip configuration: {name, subnet_id, private_ip?, public_ip_id?, primary?}."""
    from ...world import Resource

    nid = resource_id(world, rg, NIC, name)
    location = normalize_location(location)
    if not ip_configurations:
        raise ArmError(400, "InvalidRequestFormat",
                       "Cannot parse the request: a network interface needs at least one IP configuration.")
    with world.lock:
        existing = world.get(nid)
        if existing is not None and existing["location"] != location:
            raise ArmError(400, "InvalidResourceLocation",
                           f"The resource '{name}' already exists in location '{existing['location']}' in resource "
                           f"group '{rg}'. A resource with the same name cannot be created in location '{location}'. "
                           "Please select a new resource name.")
        old = {c["name"].lower(): c for c in (existing["properties"]["ipConfigurations"] if existing else [])}
        # Release the old configurations first so their addresses can be re-used by the same NIC.
        if existing is not None:
            _release_subnet_refs(world, existing)
        configs = []
        try:
            for i, spec in enumerate(ip_configurations):
                vnet, subnet = find_subnet(world, spec["subnet_id"])
                if vnet["location"] != location:
                    raise ArmError(400, "InvalidResourceReference",
                                   f"Resource {spec['subnet_id']} referenced by resource {nid} was not found. Please "
                                   "make sure that the referenced resource exists, and that both resources are in the "
                                   "same region.")
                previous = old.get(spec["name"].lower())
                address = spec.get("private_ip")
                method = "Static" if address else "Dynamic"
                if address:
                    if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet["properties"]["addressPrefix"]):
                        raise ArmError(400, "PrivateIPAddressNotInSubnet",
                                       f"IP configuration {nid}/ipConfigurations/{spec['name']} has private IP "
                                       f"address {address} which does not belong to subnet {subnet['id']}.")
                    if address in used_addresses(subnet, world):
                        raise ArmError(400, "PrivateIPAddressInUse",
                                       f"IP configuration {nid}/ipConfigurations/{spec['name']} is using the private "
                                       f"IP address {address} which is already allocated to resource "
                                       f"{subnet['id']}.")
                elif previous is not None and previous["properties"]["subnet"]["id"].lower() == subnet["id"].lower():
                    address = previous["properties"]["privateIPAddress"]
                else:
                    address = allocate_ip(world, subnet)
                config_id = f"{nid}/ipConfigurations/{spec['name']}"
                props: dict[str, Any] = {
                    "provisioningState": "Succeeded",
                    "privateIPAddress": address,
                    "privateIPAllocationMethod": method,
                    "subnet": {"id": subnet["id"]},
                    "primary": bool(spec.get("primary", i == 0)),
                    "privateIPAddressVersion": "IPv4",
                }
                if spec.get("public_ip_id"):
                    pip = world.get(spec["public_ip_id"])
                    if pip is None:
                        raise ArmError(400, "InvalidResourceReference",
                                       f"Resource {spec['public_ip_id']} referenced by resource {nid} was not found. "
                                       "Please make sure that the referenced resource exists, and that both resources "
                                       "are in the same region.")
                    owner = pip["properties"].get("ipConfiguration")
                    if owner and not owner["id"].lower().startswith(nid.lower() + "/"):
                        raise ArmError(400, "PublicIPAddressInUse",
                                       f"Resource {pip['id']} is referenced by resource {owner['id']}; it cannot be "
                                       f"referenced by {config_id}.")
                    props["publicIPAddress"] = {"id": pip["id"]}
                configs.append({"name": spec["name"], "id": config_id, "etag": _etag(), "type": f"{NIC}/ipConfigurations",
                                "properties": props})
                # Reserve at once so a second configuration in the same request gets the next address.
                subnet["properties"].setdefault("ipConfigurations", []).append({"id": config_id})
        except ArmError:
            for config in configs:
                _drop_subnet_ref(world, config)
            if existing is not None:
                _claim_subnet_refs(world, existing)
            raise
        if nsg_id:
            nsg = world.get(nsg_id)
            if nsg is None:
                for config in configs:
                    _drop_subnet_ref(world, config)
                raise ArmError(400, "InvalidResourceReference",
                               f"Resource {nsg_id} referenced by resource {nid} was not found.")
        nic = Resource(
            name=name, id=nid, etag=_etag(), type=NIC, location=location,
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
                "ipConfigurations": configs,
                "dnsSettings": {"dnsServers": [], "appliedDnsServers": [],
                                "internalDomainNameSuffix": _internal_dns_suffix(configs[0]["properties"]["subnet"]["id"])},
                "enableAcceleratedNetworking": bool(accelerated),
                "vnetEncryptionSupported": False,
                "enableIPForwarding": False,
                "disableTcpStateTracking": False,
                "nicType": "Standard",
                "auxiliaryMode": "None",
                "auxiliarySku": "None",
            },
        )
        if existing is not None:
            for key in ("virtualMachine", "macAddress", "primary"):
                if key in existing["properties"]:
                    nic["properties"][key] = existing["properties"][key]
            nic.internal.update(existing.internal)
            if existing["properties"].get("networkSecurityGroup") and not nsg_id:
                _unlink_nsg(world, existing["properties"]["networkSecurityGroup"]["id"], nid)
        if nsg_id:
            nic["properties"]["networkSecurityGroup"] = {"id": world.get(nsg_id)["id"]}
            _link_nsg(world, nsg_id, nid)
        if tags:
            nic["tags"] = dict(tags)
        _update_pip_links(world, existing, configs)
        world.put(nic)
        return nic, existing is None


def _release_subnet_refs(world: "World", nic: dict[str, Any]) -> None:
    for config in nic["properties"]["ipConfigurations"]:
        _drop_subnet_ref(world, config)


def _claim_subnet_refs(world: "World", nic: dict[str, Any]) -> None:
    for config in nic["properties"]["ipConfigurations"]:
        try:
            _vnet, subnet = find_subnet(world, config["properties"]["subnet"]["id"])
        except ArmError:
            continue
        subnet["properties"].setdefault("ipConfigurations", []).append({"id": config["id"]})


def _drop_subnet_ref(world: "World", config: dict[str, Any]) -> None:
    try:
        _vnet, subnet = find_subnet(world, config["properties"]["subnet"]["id"])
    except ArmError:
        return
    refs = subnet["properties"].get("ipConfigurations", [])
    subnet["properties"]["ipConfigurations"] = [r for r in refs if r["id"].lower() != config["id"].lower()]
    if not subnet["properties"]["ipConfigurations"]:
        subnet["properties"].pop("ipConfigurations")


def _update_pip_links(world: "World", old_nic: dict[str, Any] | None, configs: list[dict[str, Any]]) -> None:
    if old_nic is not None:
        for config in old_nic["properties"]["ipConfigurations"]:
            ref = config["properties"].get("publicIPAddress")
            pip = world.get(ref["id"]) if ref else None
            if pip is not None:
                pip["properties"].pop("ipConfiguration", None)
    for config in configs:
        ref = config["properties"].get("publicIPAddress")
        pip = world.get(ref["id"]) if ref else None
        if pip is not None:
            pip["properties"]["ipConfiguration"] = {"id": config["id"]}


def _link_nsg(world: "World", nsg_id: str, nic_id: str) -> None:
    nsg = world.get(nsg_id)
    if nsg is None:
        return
    refs = nsg["properties"].setdefault("networkInterfaces", [])
    if not any(r["id"].lower() == nic_id.lower() for r in refs):
        refs.append({"id": nic_id})


def _unlink_nsg(world: "World", nsg_id: str, nic_id: str) -> None:
    nsg = world.get(nsg_id)
    if nsg is None:
        return
    refs = nsg["properties"].get("networkInterfaces", [])
    nsg["properties"]["networkInterfaces"] = [r for r in refs if r["id"].lower() != nic_id.lower()]
    if not nsg["properties"]["networkInterfaces"]:
        nsg["properties"].pop("networkInterfaces")


def primary_private_ip(nic: dict[str, Any]) -> str:
    configs = nic["properties"]["ipConfigurations"]
    primary = next((c for c in configs if c["properties"].get("primary")), configs[0])
    return primary["properties"]["privateIPAddress"]


def attach_nic_to_vm(world: "World", nic_id: str, vm_id: str) -> None:
    """Compute calls this when a VM takes a NIC (a NIC serves one VM: NicInUse otherwise)."""
    with world.lock:
        nic = world.get(nic_id)
        if nic is None:
            raise ArmError(400, "InvalidResourceReference",
                           f"Resource {nic_id} referenced by resource {vm_id} was not found. Please make sure that "
                           "the referenced resource exists, and that both resources are in the same region.")
        owner = nic["properties"].get("virtualMachine")
        if owner and owner["id"].lower() != vm_id.lower():
            raise ArmError(400, "NicInUse",
                           f"Network Interface {nic['id']} is used by existing resource {owner['id']}. In order to "
                           "create a new resource, use a different NIC or delete the resource that uses it.")
        nic["properties"]["virtualMachine"] = {"id": vm_id}
        nic["properties"].setdefault("macAddress", _mac(nic["id"]))
        nic["properties"]["primary"] = True


def detach_nic_from_vm(world: "World", nic_id: str) -> None:
    with world.lock:
        nic = world.get(nic_id)
        if nic is not None:
            nic["properties"].pop("virtualMachine", None)


def _internal_dns_suffix(subnet_id: str) -> str:
    """Azure-provided DNS suffix of the NIC's virtual network (<26 chars>.ax.internal.cloudapp.net)."""
    import base64
    import hashlib

    vnet_id = subnet_id.split("/subnets/")[0].lower()
    label = base64.b32encode(hashlib.sha256(vnet_id.encode()).digest()).decode().lower()[:26]
    return f"{label}.ax.internal.cloudapp.net"


def _mac(seed: str) -> str:
    digest = uuid.uuid5(uuid.NAMESPACE_URL, seed.lower()).hex[:10].upper()
    return "00-0D-" + "-".join(digest[i:i + 2] for i in range(0, 8, 2))


# ---- public IPs and NSGs ---------------------------------------------------------------------------


def public_address(world: "World", index: int) -> str:
    """The index-th address of the scenario's public_ip_pool (a loopback /16 by default, so the
    controller can reach a repair VM's public IP; Azure's would be routable)."""
    pool = ipaddress.ip_network(world.scenario.public_ip_pool or "127.99.0.0/16")
    hosts = pool.num_addresses - 2
    return str(pool.network_address + 4 + (index - 1) % max(hosts - 4, 1))


def put_public_ip(world: "World", rg: str, name: str, location: str, body: dict[str, Any]) -> tuple["Resource", bool]:
    from ...world import Resource

    pid = resource_id(world, rg, PIP, name)
    props = body.get("properties") or {}
    sku = body.get("sku") or {"name": "Standard", "tier": "Regional"}
    sku = {"name": sku.get("name", "Standard"), "tier": sku.get("tier", "Regional")}
    method = props.get("publicIPAllocationMethod") or ("Static" if sku["name"] == "Standard" else "Dynamic")
    if sku["name"] == "Standard" and method != "Static":
        raise ArmError(400, "InvalidRequestFormat",
                       f"Standard sku publicIp {pid} must have AllocationMethod set to Static.")
    with world.lock:
        existing = world.get(pid)
        pip = Resource(
            name=name, id=pid, etag=_etag(), type=PIP, location=normalize_location(location), sku=sku,
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
                "publicIPAddressVersion": props.get("publicIPAddressVersion", "IPv4"),
                "publicIPAllocationMethod": method,
                "idleTimeoutInMinutes": props.get("idleTimeoutInMinutes", 4),
                "ipTags": props.get("ipTags", []),
                "ddosSettings": props.get("ddosSettings") or {"protectionMode": "VirtualNetworkInherited"},
            },
        )
        if method == "Static":
            # Documentation range (TEST-NET-3): never routable, never confused with a VM address.
            index = existing.internal.get("index") if existing else None
            if index is None:
                # The lowest index no other public IP holds (addresses are bound by WinRM listeners).
                taken = {r.internal.get("index") for r in world.resources.values() if r["type"] == PIP}
                index = next(i for i in range(1, len(taken) + 2) if i not in taken)
            pip.internal["index"] = index
            pip["properties"]["ipAddress"] = public_address(world, index)
        if existing is not None and existing["properties"].get("ipConfiguration"):
            pip["properties"]["ipConfiguration"] = existing["properties"]["ipConfiguration"]
        if body.get("zones"):
            pip["zones"] = list(body["zones"])
        if body.get("tags"):
            pip["tags"] = dict(body["tags"])
        world.put(pip)
        return pip, existing is None


# (name, direction, priority, source, destination, access, description) as Azure creates them.
DEFAULT_NSG_RULES = [
    ("AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", "Inbound", 65500, "*", "*", "Deny", "Deny all inbound traffic"),
    ("AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny", "Deny all outbound traffic"),
]


def _rule(nsg_id: str, name: str, props: dict[str, Any], default: bool = False) -> dict[str, Any]:
    kind = "defaultSecurityRules" if default else "securityRules"
    full = {"provisioningState": "Succeeded", "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
            "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100,
            "direction": "Inbound", "sourcePortRanges": [], "destinationPortRanges": [], "sourceAddressPrefixes": [],
            "destinationAddressPrefixes": []}
    full.update({k: v for k, v in props.items() if k != "provisioningState"})
    return {"name": name, "id": f"{nsg_id}/{kind}/{name}", "etag": _etag(),
            "type": f"{NSG}/{kind}", "properties": full}


def put_nsg(world: "World", rg: str, name: str, location: str, body: dict[str, Any]) -> tuple["Resource", bool]:
    from ...world import Resource

    gid = resource_id(world, rg, NSG, name)
    rules_in = (body.get("properties") or {}).get("securityRules") or []
    seen: dict[tuple[str, int], str] = {}
    rules = []
    for rule in rules_in:
        props = rule.get("properties") or {}
        for key in ("protocol", "access", "direction", "priority"):
            if props.get(key) in (None, ""):
                raise ArmError(400, "InvalidRequestFormat",
                               f"Cannot parse the request: security rule {rule.get('name')} has no '{key}'.")
        priority = int(props["priority"])
        if not 100 <= priority <= 4096:
            raise ArmError(400, "SecurityRuleInvalidPriority",
                           f"Security rule has invalid Priority. Value provided: {priority}. Allowed range 100-4096.")
        key = (props["direction"].lower(), priority)
        if key in seen:
            raise ArmError(400, "SecurityRuleConflict",
                           f"Security rule {rule.get('name')} conflicts with rule {seen[key]}. Rules cannot have the "
                           "same Priority and Direction.")
        seen[key] = rule.get("name")
        rules.append(_rule(gid, rule["name"], props))
    with world.lock:
        existing = world.get(gid)
        nsg = Resource(
            name=name, id=gid, etag=_etag(), type=NSG, location=normalize_location(location),
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
                "securityRules": rules,
                "flushConnection": bool((body.get("properties") or {}).get("flushConnection", False)),
                "defaultSecurityRules": [
                    _rule(gid, n, {"direction": d, "priority": p, "sourceAddressPrefix": s,
                                   "destinationAddressPrefix": t, "access": a, "description": desc}, default=True)
                    for n, d, p, s, t, a, desc in DEFAULT_NSG_RULES],
            },
        )
        if existing is not None and existing["properties"].get("networkInterfaces"):
            nsg["properties"]["networkInterfaces"] = existing["properties"]["networkInterfaces"]
        if existing is not None and existing["properties"].get("subnets"):
            nsg["properties"]["subnets"] = existing["properties"]["subnets"]
        if body.get("tags"):
            nsg["tags"] = dict(body["tags"])
        world.put(nsg)
        return nsg, existing is None


# ---- deletes (also the cascade hooks registered on the world) ----------------------------------------


def delete_nic(world: "World", nic_id: str) -> None:
    with world.lock:
        nic = world.get(nic_id)
        if nic is None:
            return
        owner = nic["properties"].get("virtualMachine")
        if owner and world.get(owner["id"]) is not None:
            raise ArmError(400, "NicInUse",
                           f"Network Interface {nic['id']} is used by existing resource {owner['id']}. In order to "
                           "delete the network interface, it must be dissociated from the resource. To learn more, "
                           "see aka.ms/deletenic.")
        _release_subnet_refs(world, nic)
        _update_pip_links(world, nic, [])
        if nic["properties"].get("networkSecurityGroup"):
            _unlink_nsg(world, nic["properties"]["networkSecurityGroup"]["id"], nic["id"])
        world.remove(nic["id"])


def delete_vnet(world: "World", vnet_id: str) -> None:
    with world.lock:
        vnet = world.get(vnet_id)
        if vnet is None:
            return
        for subnet in vnet["properties"]["subnets"]:
            if subnet["properties"].get("ipConfigurations"):
                raise ArmError(400, "InUseSubnetCannotBeDeleted",
                               f"Subnet {subnet['name']} is in use by "
                               f"{', '.join(c['id'] for c in subnet['properties']['ipConfigurations'])} and cannot be "
                               "deleted. In order to delete the subnet, delete all the resources within the subnet. "
                               "See aka.ms/deletesubnet.")
        for subnet in vnet["properties"]["subnets"]:
            _set_subnet_nsg(world, subnet, None)
        world.remove(vnet["id"])


def delete_public_ip(world: "World", pip_id: str) -> None:
    with world.lock:
        pip = world.get(pip_id)
        if pip is None:
            return
        owner = pip["properties"].get("ipConfiguration")
        if owner:
            raise ArmError(400, "PublicIPAddressCannotBeDeleted",
                           f"Public IP address {pip['id']} can not be deleted since it is still allocated to resource "
                           f"{owner['id']}. In order to delete the public IP, disassociate/detach the Public IP "
                           "address from the resource.  To learn how to do this, see aka.ms/deletepublicip.")
        world.remove(pip["id"])


def delete_nsg(world: "World", nsg_id: str) -> None:
    with world.lock:
        nsg = world.get(nsg_id)
        if nsg is None:
            return
        users = (nsg["properties"].get("networkInterfaces") or []) + (nsg["properties"].get("subnets") or [])
        if users:
            raise ArmError(400, "InUseNetworkSecurityGroupCannotBeDeleted",
                           f"Network security group {nsg['id']} cannot be deleted because it is in use by the "
                           f"following resources: {', '.join(u['id'] for u in users)}. In order to delete the "
                           "Network security group, remove the association with the resource(s). To learn how to do "
                           "this, see aka.ms/deletensg.")
        world.remove(nsg["id"])


def register(world: "World") -> None:
    world.register_deleter(NIC.lower(), delete_nic)
    world.register_deleter(VNET.lower(), delete_vnet)
    world.register_deleter(PIP.lower(), delete_public_ip)
    world.register_deleter(NSG.lower(), delete_nsg)
