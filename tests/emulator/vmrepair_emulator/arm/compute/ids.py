"""Resource ids of Microsoft.Compute: build, parse, compare (ARM ids are case-insensitive)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ArmError

DISKS = "Microsoft.Compute/disks"
SNAPSHOTS = "Microsoft.Compute/snapshots"
VIRTUAL_MACHINES = "Microsoft.Compute/virtualMachines"
NETWORK_INTERFACES = "Microsoft.Network/networkInterfaces"

_ID = re.compile(
    r"^/?subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"(?P<namespace>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ResourceId:
    subscription_id: str
    resource_group: str
    type: str  # "Microsoft.Compute/disks"
    name: str

    def __str__(self) -> str:
        return resource_id(self.subscription_id, self.resource_group, self.type, self.name)


def resource_id(subscription_id: str, resource_group: str, type_: str, name: str) -> str:
    namespace, kind = type_.split("/", 1)
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{namespace}/{kind}/{name}"


def parse(value: str) -> ResourceId | None:
    """A top-level resource id (leading slash optional, as Disk RP accepts); None if it is not one."""
    match = _ID.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    return ResourceId(match["sub"], match["rg"], f"{match['namespace']}/{match['type']}", match["name"])


def key(value: str) -> str:
    """The world.resources key: the id with a leading slash, lower-cased."""
    value = value.strip()
    return ("/" + value.lstrip("/")).lower()


def same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and key(a) == key(b)


def require(value: object, expected_type: str, target: str) -> ResourceId:
    """Parse a reference in a request body, or answer ARM's 400 LinkedInvalidPropertyId."""
    parsed = parse(value) if isinstance(value, str) else None
    if parsed is None or parsed.type.lower() != expected_type.lower():
        raise ArmError(400, "LinkedInvalidPropertyId",
                       f"Property id '{value}' at path '{target}' is invalid. Expect fully qualified resource Id that "
                       f"start with '/subscriptions/{{subscriptionId}}' or '/providers/{{resourceProviderNamespace}}/'.",
                       target=target)
    return parsed
