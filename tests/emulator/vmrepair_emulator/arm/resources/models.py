"""Resource groups and the generic view of every resource (tags, $filter, cascade delete)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import ArmError, resource_group_not_found

if TYPE_CHECKING:
    from ...world import Resource, World

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
_RG_NAME = re.compile(r"^[-\w\._\(\)]{1,90}$")

# Cascade delete order: what depends on others goes first (a VM holds its NICs and disks).
DELETE_ORDER = [
    "microsoft.compute/virtualmachines/extensions",
    "microsoft.compute/virtualmachines/runcommands",
    "microsoft.compute/virtualmachines",
    "microsoft.network/networkinterfaces",
    "microsoft.compute/disks",
    "microsoft.compute/snapshots",
    "microsoft.network/publicipaddresses",
    "microsoft.network/virtualnetworks",  # before NSGs: a subnet holds its NSG
    "microsoft.network/networksecuritygroups",
]


def validate_group_name(name: str) -> None:
    if not _RG_NAME.match(name) or name.endswith("."):
        bad = "".join(sorted(set(re.sub(r"[-\w\._\(\)]", "", name)))) or "."
        raise ArmError(400, "InvalidResourceGroup",
                       f"The provided resource group name '{name}' has these invalid characters: '{bad}'. The name "
                       "can only be a letter, digit, '-', '.', '(', ')' or '_'.")


def create_group(world: "World", name: str, location: str, tags: dict[str, str] | None = None,
                 managed_by: str | None = None) -> tuple["Resource", bool]:
    """Create or update; returns (group, created). Location cannot change (InvalidResourceGroupLocation)."""
    from ...world import Resource

    validate_group_name(name)
    location = normalize_location(location)
    with world.lock:
        existing = world.get_resource_group(name)
        if existing is not None:
            if existing["properties"]["provisioningState"] == "Deleting":
                raise being_deleted(existing["name"])
            if existing["location"] != location:
                raise ArmError(409, "InvalidResourceGroupLocation",
                               f"Invalid resource group location '{location}'. The Resource group already exists in "
                               f"location '{existing['location']}'.")
            set_tags(existing, tags)
            if managed_by is not None:
                existing["managedBy"] = managed_by
            return existing, False
        group = Resource(id=world.resource_group_id(name), name=name, type=RESOURCE_GROUP_TYPE, location=location,
                         properties={"provisioningState": "Succeeded"})
        set_tags(group, tags)
        if managed_by:
            group["managedBy"] = managed_by
        world.put(group)
        return group, True


def set_tags(resource: "Resource", tags: dict[str, str] | None) -> None:
    if tags:
        resource["tags"] = dict(tags)
    else:
        resource.pop("tags", None)


def normalize_location(location: str) -> str:
    """ARM stores 'West Europe' as 'westeurope'."""
    return location.replace(" ", "").lower()


def being_deleted(name: str) -> ArmError:
    return ArmError(409, "ResourceGroupBeingDeleted",
                    f"The resource group '{name}' is in deprovisioning state and cannot perform this operation.")


def require_group(world: "World", name: str) -> "Resource":
    group = world.get_resource_group(name)
    if group is None:
        raise resource_group_not_found(name)
    return group


def cascade_order(resource: "Resource") -> int:
    rtype = resource["type"].lower()
    return DELETE_ORDER.index(rtype) if rtype in DELETE_ORDER else len(DELETE_ORDER)


def delete_group_contents(world: "World", name: str) -> None:
    """Delete every resource in the group, dependents first, through each provider's deleter."""
    for resource in sorted(world.resources_in_group(name), key=cascade_order):
        # Child resources may already be gone with their parent.
        if world.get(resource["id"]) is not None:
            world.delete_resource(resource["id"])


# ---- $filter as ARM supports it for resource and resource group lists ----------------------------

_CLAUSE = re.compile(
    r"^\s*(?P<field>tagName|tagValue|resourceType|name|location|resourceGroup)\s+eq\s+'(?P<value>(?:[^']|'')*)'\s*$",
    re.IGNORECASE)
_SUBSTRINGOF = re.compile(r"^\s*substringof\(\s*'(?P<value>(?:[^']|'')*)'\s*,\s*name\s*\)\s*$", re.IGNORECASE)


def parse_filter(text: str | None) -> list[tuple[str, str]]:
    """'tagName eq 'a' and tagValue eq 'b'' -> [('tagname','a'), ('tagvalue','b')]; 400 on anything else."""
    if not text:
        return []
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match:
            clauses.append((match.group("field").lower(), match.group("value").replace("''", "'")))
            continue
        match = _SUBSTRINGOF.match(part)
        if match:
            clauses.append(("substringof", match.group("value").replace("''", "'")))
            continue
        raise ArmError(400, "InvalidFilterInQueryString",
                       f"The $filter '{text}' is invalid. Please refer to https://aka.ms/arm-list for more details.")
    fields = [f for f, _value in clauses]
    if "tagvalue" in fields and "tagname" not in fields:
        raise ArmError(400, "InvalidFilterInQueryString",
                       f"The $filter '{text}' is invalid: tagValue can only be used together with tagName.")
    return clauses


def matches(resource: dict[str, Any], clauses: list[tuple[str, str]]) -> bool:
    tags = {k.lower(): (k, v) for k, v in (resource.get("tags") or {}).items()}
    tag_name = next((v for f, v in clauses if f == "tagname"), None)
    for field, value in clauses:
        if field == "tagname" and value.lower() not in tags:
            return False
        if field == "tagvalue" and (tag_name is None or tags[tag_name.lower()][1] != value):
            return False
        if field == "resourcetype" and resource["type"].lower() != value.lower():
            return False
        if field == "name" and resource["name"].lower() != value.lower():
            return False
        if field == "location" and resource.get("location", "").lower() != value.lower():
            return False
        if field == "resourcegroup":
            parts = resource["id"].split("/")
            if len(parts) < 5 or parts[4].lower() != value.lower():
                return False
        if field == "substringof" and value.lower() not in resource["name"].lower():
            return False
    return True


GENERIC_KEYS = ("id", "name", "type", "location", "sku", "kind", "managedBy", "zones", "identity", "plan", "extendedLocation")


def generic_view(resource: dict[str, Any], expand: str | None) -> dict[str, Any]:
    """GenericResourceExpanded as the resources list returns it (no properties unless $expand asks)."""
    view = {k: resource[k] for k in GENERIC_KEYS if k in resource}
    if resource.get("tags"):
        view["tags"] = resource["tags"]
    wanted = {w.strip().lower() for w in (expand or "").split(",") if w.strip()}
    if "provisioningstate" in wanted:
        view["provisioningState"] = (resource.get("properties") or {}).get("provisioningState", "Succeeded")
    created = getattr(resource, "internal", {}).get("createdTime")
    if "createdtime" in wanted and created:
        view["createdTime"] = created
    return view
