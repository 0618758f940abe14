"""Handlers for Microsoft.Resources: subscriptions, resource groups, resources lists, providers."""
from __future__ import annotations

from typing import Any

from ..core import ArmRequest, ArmResponse
from ..errors import ArmError, resource_group_not_found
from ..lro import lro_response
from . import models

PROVIDER_NAMESPACES = ("Microsoft.Compute", "Microsoft.Network", "Microsoft.Resources", "Microsoft.Storage")


def _group_view(group: dict[str, Any]) -> dict[str, Any]:
    return dict(group)


def _paged(ctx: ArmRequest, items: list[dict[str, Any]]) -> ArmResponse:
    top = ctx.query.get("$top")
    if top is not None:
        try:
            limit = int(top)
        except ValueError:
            raise ArmError(400, "InvalidTopInQueryString", f"The value '{top}' of $top is invalid.") from None
        items = items[:max(limit, 0)]
    return ArmResponse(200, {"value": items})


# ---- subscriptions ---------------------------------------------------------------------------------


def _subscription(ctx: ArmRequest) -> dict[str, Any]:
    world = ctx.world
    return {
        "id": f"/subscriptions/{world.subscription_id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": world.subscription_id,
        "tenantId": world.tenant_id,
        "displayName": f"vmrepair emulator ({world.scenario.name})",
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                 "spendingLimit": "Off"},
    }


def subscription_get(ctx: ArmRequest, sub: str) -> ArmResponse:
    return ArmResponse(200, _subscription(ctx))


def subscription_list(ctx: ArmRequest) -> ArmResponse:
    return ArmResponse(200, {"value": [_subscription(ctx)], "count": {"type": "Total", "value": 1}})


def locations_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    names = sorted({ctx.world.location} | {r.get("location", "") for r in ctx.world.resources.values()} - {""})
    return ArmResponse(200, {"value": [
        {"id": f"/subscriptions/{sub}/locations/{name}", "name": name, "type": "Region", "displayName": name,
         "regionalDisplayName": name, "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}
        for name in names]})


# ---- resource groups -------------------------------------------------------------------------------


def group_create_or_update(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    body = ctx.json()
    if not isinstance(body, dict) or not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    group, created = models.create_group(ctx.world, rg, body["location"], body.get("tags"), body.get("managedBy"))
    ctx.log_fields["resource_id"] = group["id"]
    return ArmResponse(201 if created else 200, _group_view(group))


def group_get(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    group = models.require_group(ctx.world, rg)
    ctx.log_fields["resource_id"] = group["id"]
    return ArmResponse(200, _group_view(group))


def group_check_existence(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    return ArmResponse(204 if ctx.world.get_resource_group(rg) is not None else 404)


def group_update(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    body = ctx.json()
    with ctx.world.lock:
        group = models.require_group(ctx.world, rg)
        if group["properties"]["provisioningState"] == "Deleting":
            raise models.being_deleted(group["name"])
        if "tags" in body:
            models.set_tags(group, body.get("tags"))
        if body.get("managedBy") is not None:
            group["managedBy"] = body["managedBy"]
        return ArmResponse(200, _group_view(group))


def group_delete(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    world = ctx.world
    with world.lock:
        group = world.get_resource_group(rg)
        if group is None:
            raise resource_group_not_found(rg)
        ctx.log_fields["resource_id"] = group["id"]
        if group["properties"]["provisioningState"] == "Deleting":
            op = group.internal.get("delete_operation")
            return lro_response(ctx, op, 202, None, async_operation=False)
        group["properties"]["provisioningState"] = "Deleting"
        name = group["name"]

        def complete() -> None:
            models.delete_group_contents(world, name)
            world.remove(world.resource_group_id(name))

        op = world.lro.start("resources", group["id"], "resource_group_delete", complete, group["location"],
                             subscription_id=sub)
        group.internal["delete_operation"] = op
    return lro_response(ctx, op, 202, None, async_operation=False)


def group_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    clauses = models.parse_filter(ctx.query.get("$filter"))
    with ctx.world.lock:
        groups = [_group_view(r) for r in ctx.world.resources.values()
                  if r["type"] == models.RESOURCE_GROUP_TYPE and models.matches(r, clauses)]
    return _paged(ctx, sorted(groups, key=lambda g: g["name"].lower()))


# ---- generic resources -----------------------------------------------------------------------------


def _list_resources(ctx: ArmRequest, group: str | None) -> ArmResponse:
    clauses = models.parse_filter(ctx.query.get("$filter"))
    expand = ctx.query.get("$expand")
    with ctx.world.lock:
        if group is not None:
            models.require_group(ctx.world, group)
            candidates = ctx.world.resources_in_group(group)
        else:
            candidates = [r for r in ctx.world.resources.values() if r["type"] != models.RESOURCE_GROUP_TYPE]
        # Child resources (subnets, extensions ...) are not listed on their own, as in ARM.
        items = [models.generic_view(r, expand) for r in candidates
                 if r["type"].count("/") == 1 and models.matches(r, clauses)]
    return _paged(ctx, sorted(items, key=lambda r: r["id"].lower()))


def resources_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    return _list_resources(ctx, None)


def resources_list_by_group(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    return _list_resources(ctx, rg)


# ---- providers -------------------------------------------------------------------------------------


def _provider(sub: str, namespace: str) -> dict[str, Any]:
    return {"id": f"/subscriptions/{sub}/providers/{namespace}", "namespace": namespace,
            "registrationState": "Registered", "registrationPolicy": "RegistrationRequired", "resourceTypes": []}


def provider_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    return ArmResponse(200, {"value": [_provider(sub, ns) for ns in PROVIDER_NAMESPACES]})


def provider_get(ctx: ArmRequest, sub: str, namespace: str) -> ArmResponse:
    for known in PROVIDER_NAMESPACES:
        if known.lower() == namespace.lower():
            return ArmResponse(200, _provider(sub, known))
    raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")


def provider_register(ctx: ArmRequest, sub: str, namespace: str) -> ArmResponse:
    return provider_get(ctx, sub, namespace)
