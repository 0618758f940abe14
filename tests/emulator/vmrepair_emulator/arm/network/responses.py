"""Handlers for Microsoft.Network: PUT/GET/DELETE/list with the Network RP's LRO protocol.

PUT answers 201 (new) or 200 (update) with provisioningState "Updating" and an
Azure-AsyncOperation URL; the state becomes "Succeeded" when the operation ends. DELETE answers
202 with Azure-AsyncOperation + Location, or 204 when there is nothing to delete. Rules that
Azure checks at request time (NIC in use, subnet in use, public IP in use ...) answer at once.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from ..core import ArmRequest, ArmResponse
from ..errors import ArmError, not_found
from ..lro import lro_response
from ..resources.models import being_deleted, require_group
from . import models

_DURATIONS = {models.VNET: "vnet_create", models.NIC: "nic_create", models.PIP: "public_ip_create",
              models.NSG: "nsg_create"}
_DELETERS: dict[str, Callable[..., None]] = {
    models.VNET: models.delete_vnet, models.NIC: models.delete_nic, models.PIP: models.delete_public_ip,
    models.NSG: models.delete_nsg,
}


def _body(ctx: ArmRequest) -> dict[str, Any]:
    body = ctx.json()
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
    return body


def _location(ctx: ArmRequest, body: dict[str, Any], rg: str) -> str:
    group = require_group(ctx.world, rg)
    if group["properties"]["provisioningState"] == "Deleting":
        raise being_deleted(group["name"])
    location = body.get("location")
    if not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    return location


def _get(ctx: ArmRequest, rtype: str, rg: str, name: str) -> dict[str, Any]:
    rid = models.resource_id(ctx.world, rg, rtype, name)
    resource = ctx.world.get(rid)
    ctx.log_fields["resource_id"] = rid
    if resource is None:
        raise not_found(rtype, name, rg)
    return resource


def _mark_updating(resource: dict[str, Any]) -> None:
    resource["properties"]["provisioningState"] = "Updating"
    for sub in _own_subnets(resource):
        sub["properties"]["provisioningState"] = "Updating"


def _own_subnets(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """A network's subnets (an NSG's `subnets` are only references to the subnets it is on)."""
    return resource["properties"].get("subnets", []) if resource["type"] == models.VNET else []


def _finish_put(ctx: ArmRequest, resource: dict[str, Any], created: bool) -> ArmResponse:
    """Start the operation that turns "Updating" into "Succeeded"; answer 201/200 with the body."""
    world = ctx.world
    rid = resource["id"]
    _mark_updating(resource)

    def complete() -> None:
        current = world.get(rid)
        if current is not None and current["properties"].get("provisioningState") == "Updating":
            current["properties"]["provisioningState"] = "Succeeded"
            for sub in _own_subnets(current):
                sub["properties"]["provisioningState"] = "Succeeded"

    op = world.lro.start("network", rid, _DURATIONS[resource["type"]], complete, resource["location"])
    ctx.log_fields["resource_id"] = rid
    return lro_response(ctx, op, 201 if created else 200, resource.to_arm(), location=False)


def _delete(ctx: ArmRequest, rtype: str, rg: str, name: str, duration_key: str) -> ArmResponse:
    world = ctx.world
    rid = models.resource_id(world, rg, rtype, name)
    ctx.log_fields["resource_id"] = rid
    with world.lock:
        resource = world.get(rid)
        if resource is None:
            return ArmResponse(204)
        deleter = _DELETERS[rtype]
        # Check the rules now (as Azure does before accepting), on a dry run of the delete.
        _check_deletable(world, resource)
        resource["properties"]["provisioningState"] = "Deleting"

        def complete() -> None:
            if world.get(rid) is not None:
                deleter(world, rid)

        op = world.lro.start("network", rid, duration_key, complete, resource["location"])
    return lro_response(ctx, op, 202, None)


def _check_deletable(world: Any, resource: dict[str, Any]) -> None:
    props = resource["properties"]
    rtype = resource["type"]
    if rtype == models.NIC:
        owner = props.get("virtualMachine")
        if owner and world.get(owner["id"]) is not None:
            raise ArmError(400, "NicInUse",
                           f"Network Interface {resource['id']} is used by existing resource {owner['id']}. In order "
                           "to delete the network interface, it must be dissociated from the resource. To learn more, "
                           "see aka.ms/deletenic.")
    elif rtype == models.VNET:
        for subnet in props["subnets"]:
            if subnet["properties"].get("ipConfigurations"):
                raise models.in_use_subnet(subnet)
    elif rtype == models.PIP and props.get("ipConfiguration"):
        raise ArmError(400, "PublicIPAddressCannotBeDeleted",
                       f"Public IP address {resource['id']} can not be deleted since it is still allocated to "
                       f"resource {props['ipConfiguration']['id']}. In order to delete the public IP, "
                       "disassociate/detach the Public IP address from the resource.  To learn how to do this, see "
                       "aka.ms/deletepublicip.")
    elif rtype == models.NSG and props.get("networkInterfaces"):
        raise ArmError(400, "InUseNetworkSecurityGroupCannotBeDeleted",
                       f"Network security group {resource['id']} cannot be deleted because it is in use by the "
                       f"following resources: {', '.join(r['id'] for r in props['networkInterfaces'])}. In order to "
                       "delete the Network security group, remove the association with the resource(s). To learn how "
                       "to do this, see aka.ms/deletensg.")


def _list(ctx: ArmRequest, rtype: str, rg: str | None) -> ArmResponse:
    world = ctx.world
    with world.lock:
        if rg is not None:
            require_group(world, rg)
            items = [r.to_arm() for r in world.resources_in_group(rg) if r["type"] == rtype]
        else:
            items = [r.to_arm() for r in world.resources.values() if r["type"] == rtype]
    return ArmResponse(200, {"value": sorted(items, key=lambda r: r["id"].lower())})


# ---- virtual networks ---------------------------------------------------------------------------


def _nsg_ref(subnet_props: dict[str, Any]) -> str | None:
    return (subnet_props.get("networkSecurityGroup") or {}).get("id")


def vnet_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    body = _body(ctx)
    location = _location(ctx, body, rg)
    props = body.get("properties") or {}
    prefixes = (props.get("addressSpace") or {}).get("addressPrefixes") or []
    if not prefixes:
        raise ArmError(400, "InvalidRequestFormat",
                       "Cannot parse the request: addressSpace.addressPrefixes is required.")
    subnets = []
    for subnet in props.get("subnets") or []:
        prefix = (subnet.get("properties") or {}).get("addressPrefix")
        if not subnet.get("name") or not prefix:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: a subnet needs name and addressPrefix.")
        subnets.append({"name": subnet["name"], "address_prefix": prefix,
                        "network_security_group_id": _nsg_ref(subnet.get("properties") or {})})
    with ctx.world.lock:
        vnet, created = models.put_vnet(ctx.world, rg, name, location, prefixes, subnets, body.get("tags"),
                                        props.get("flowTimeoutInMinutes"))
        return _finish_put(ctx, vnet, created)


def vnet_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    with ctx.world.lock:
        return ArmResponse(200, _get(ctx, models.VNET, rg, name).to_arm())


def vnet_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _delete(ctx, models.VNET, rg, name, "vnet_create")


def vnet_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    return _list(ctx, models.VNET, rg)


# ---- subnets ------------------------------------------------------------------------------------


def _find_subnet(ctx: ArmRequest, rg: str, vnet_name: str, name: str) -> tuple[Any, dict[str, Any] | None]:
    vnet = _get(ctx, models.VNET, rg, vnet_name)
    subnet = next((s for s in vnet["properties"]["subnets"] if s["name"].lower() == name.lower()), None)
    return vnet, subnet


def subnet_get(ctx: ArmRequest, sub: str, rg: str, vnet: str, name: str) -> ArmResponse:
    with ctx.world.lock:
        _vnet, subnet = _find_subnet(ctx, rg, vnet, name)
        if subnet is None:
            raise not_found(f"{models.VNET}/subnets", f"{vnet}/{name}", rg)
        return ArmResponse(200, copy.deepcopy(subnet))


def subnet_create_or_update(ctx: ArmRequest, sub: str, rg: str, vnet: str, name: str) -> ArmResponse:
    body = _body(ctx)
    prefix = (body.get("properties") or {}).get("addressPrefix")
    if not prefix:
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: properties.addressPrefix is required.")
    world = ctx.world
    with world.lock:
        network, existing = _find_subnet(ctx, rg, vnet, name)
        specs = [{"name": s["name"], "address_prefix": s["properties"]["addressPrefix"],
                  "network_security_group_id": _nsg_ref(s["properties"])}
                 for s in network["properties"]["subnets"] if s["name"].lower() != name.lower()]
        specs.append({"name": existing["name"] if existing else name, "address_prefix": prefix,
                      "network_security_group_id": _nsg_ref(body.get("properties") or {})})
        updated, _created = models.put_vnet(world, rg, network["name"], network["location"],
                                            network["properties"]["addressSpace"]["addressPrefixes"], specs,
                                            network.get("tags"))
        subnet = next(s for s in updated["properties"]["subnets"] if s["name"].lower() == name.lower())
        subnet["properties"]["provisioningState"] = "Updating"
        subnet_id = subnet["id"]

        def complete() -> None:
            current = world.get(updated["id"])
            for candidate in current["properties"]["subnets"] if current else []:
                if candidate["id"].lower() == subnet_id.lower():
                    candidate["properties"]["provisioningState"] = "Succeeded"

        op = world.lro.start("network", subnet_id, "subnet_create", complete, updated["location"])
        ctx.log_fields["resource_id"] = subnet_id
        return lro_response(ctx, op, 200 if existing else 201, copy.deepcopy(subnet), location=False)


def subnet_delete(ctx: ArmRequest, sub: str, rg: str, vnet: str, name: str) -> ArmResponse:
    world = ctx.world
    with world.lock:
        network, subnet = _find_subnet(ctx, rg, vnet, name)
        if subnet is None:
            return ArmResponse(204)
        if subnet["properties"].get("ipConfigurations"):
            raise models.in_use_subnet(subnet)
        subnet["properties"]["provisioningState"] = "Deleting"
        vnet_id = network["id"]

        def complete() -> None:
            current = world.get(vnet_id)
            if current is not None:
                current["properties"]["subnets"] = [s for s in current["properties"]["subnets"]
                                                    if s["name"].lower() != name.lower()]

        op = world.lro.start("network", subnet["id"], "subnet_create", complete, network["location"])
    return lro_response(ctx, op, 202, None)


def subnet_list(ctx: ArmRequest, sub: str, rg: str, vnet: str) -> ArmResponse:
    with ctx.world.lock:
        network = _get(ctx, models.VNET, rg, vnet)
        return ArmResponse(200, {"value": copy.deepcopy(network["properties"]["subnets"])})


# ---- network interfaces -------------------------------------------------------------------------


def nic_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    body = _body(ctx)
    location = _location(ctx, body, rg)
    props = body.get("properties") or {}
    configs = []
    for i, config in enumerate(props.get("ipConfigurations") or []):
        cprops = config.get("properties") or {}
        subnet_id = (cprops.get("subnet") or {}).get("id")
        if not subnet_id:
            raise ArmError(400, "InvalidRequestFormat",
                           f"Cannot parse the request: ipConfigurations[{i}].properties.subnet.id is required.")
        static = (cprops.get("privateIPAllocationMethod") or "Dynamic").lower() == "static"
        if static and not cprops.get("privateIPAddress"):
            raise ArmError(400, "InvalidRequestFormat",
                           "Static private IP allocation needs properties.privateIPAddress.")
        configs.append({"name": config.get("name") or f"ipconfig{i + 1}", "subnet_id": subnet_id,
                        "private_ip": cprops.get("privateIPAddress") if static else None,
                        "public_ip_id": (cprops.get("publicIPAddress") or {}).get("id"),
                        "primary": cprops.get("primary", i == 0)})
    nsg_id = (props.get("networkSecurityGroup") or {}).get("id")
    with ctx.world.lock:
        nic, created = models.put_nic(ctx.world, rg, name, location, configs, body.get("tags"), nsg_id,
                                      bool(props.get("enableAcceleratedNetworking")))
        return _finish_put(ctx, nic, created)


def nic_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    with ctx.world.lock:
        return ArmResponse(200, _get(ctx, models.NIC, rg, name).to_arm())


def nic_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _delete(ctx, models.NIC, rg, name, "nic_delete")


def nic_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    return _list(ctx, models.NIC, rg)


# ---- public IP addresses ------------------------------------------------------------------------


def pip_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    body = _body(ctx)
    location = _location(ctx, body, rg)
    with ctx.world.lock:
        pip, created = models.put_public_ip(ctx.world, rg, name, location, body)
        return _finish_put(ctx, pip, created)


def pip_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    with ctx.world.lock:
        return ArmResponse(200, _get(ctx, models.PIP, rg, name).to_arm())


def pip_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _delete(ctx, models.PIP, rg, name, "public_ip_create")


def pip_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    return _list(ctx, models.PIP, rg)


# ---- network security groups --------------------------------------------------------------------


def nsg_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    body = _body(ctx)
    location = _location(ctx, body, rg)
    with ctx.world.lock:
        nsg, created = models.put_nsg(ctx.world, rg, name, location, body)
        return _finish_put(ctx, nsg, created)


def nsg_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    with ctx.world.lock:
        return ArmResponse(200, _get(ctx, models.NSG, rg, name).to_arm())


def nsg_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _delete(ctx, models.NSG, rg, name, "nsg_create")


def nsg_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    return _list(ctx, models.NSG, rg)
