"""Storage accounts: the scenario's accounts as world resources, and their ARM JSON.

An account is a world.Resource (so the generic resource lists and the resource-group cascade see
it); its keys live in `internal`, never in the JSON. The blob endpoint is Azurite's path-style URL for
the account (`https://127.0.0.1:<port>/<account>/`); Azurite is attached to the world after seeding,
so app.py calls `publish_endpoints(world)` then. The services the emulator does not offer point to
`*.emulator.invalid`. Accounts are not created or deleted through ARM here.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...storage.accounts import account_keys
from ..errors import ArmError, not_found
from ..resources.models import normalize_location

if TYPE_CHECKING:
    from ...world import Resource, World

STORAGE_ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
# Endpoints each kind of account has (Azure's primaryEndpoints keys).
_SERVICES = {
    "StorageV2": ("dfs", "web", "blob", "queue", "table", "file"),
    "Storage": ("blob", "queue", "table", "file"),
    "BlobStorage": ("dfs", "blob"),
    "BlockBlobStorage": ("dfs", "web", "blob"),
}


def _timestamp(moment: datetime) -> str:
    """ARM's round-trip format with 7 fractional digits, as Storage RP writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def account_id(world: "World", resource_group: str, name: str) -> str:
    group = world.get_resource_group(resource_group)
    return (f"/subscriptions/{world.subscription_id}/resourceGroups/{group['name'] if group else resource_group}"
            f"/providers/{STORAGE_ACCOUNT_TYPE}/{name}")


def put_account(world: "World", spec: dict[str, Any]) -> "Resource":
    """A scenario account as `az storage account create` leaves it (StorageV2 defaults of 2025)."""
    from ...world import Resource

    now = _timestamp(datetime.now(timezone.utc))
    location = normalize_location(spec["location"])
    sku = spec["sku"]
    properties: dict[str, Any] = {
        "dnsEndpointType": "Standard",
        "defaultToOAuthAuthentication": False,
        "publicNetworkAccess": "Enabled",
        "keyCreationTime": {"key1": now, "key2": now},
        "allowCrossTenantReplication": False,
        "privateEndpointConnections": [],
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": spec["allow_shared_key_access"],
        "networkAcls": {"ipv6Rules": [], "bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                        "resourceAccessRules": [], "defaultAction": "Allow"},
        "supportsHttpsTrafficOnly": True,
        "encryption": {"requireInfrastructureEncryption": False, "keySource": "Microsoft.Storage", "services": {
            "file": {"keyType": "Account", "enabled": True, "lastEnabledTime": now},
            "blob": {"keyType": "Account", "enabled": True, "lastEnabledTime": now}}},
        "provisioningState": "Succeeded",
        "creationTime": now,
        "primaryEndpoints": _endpoints(world, spec["name"], spec["kind"]),
        "primaryLocation": location,
        "statusOfPrimary": "available",
    }
    if spec["kind"] in ("StorageV2", "BlobStorage"):
        properties["accessTier"] = "Hot"
    account = Resource(id=account_id(world, spec["resource_group"], spec["name"]), name=spec["name"],
                       type=STORAGE_ACCOUNT_TYPE, location=location, tags=dict(spec.get("tags") or {}),
                       sku={"name": sku, "tier": sku.split("_", 1)[0]}, kind=spec["kind"], properties=properties)
    key1, key2 = account_keys(world.subscription_id, spec["name"])
    account.internal["keys"] = {"key1": key1, "key2": key2}
    return world.put(account)


def seed_accounts(world: "World") -> None:
    for spec in world.scenario.storage_accounts:
        put_account(world, spec)


def get_account(world: "World", resource_group: str, name: str) -> "Resource":
    """The account, or ARM's 404 (the group itself is checked by core before)."""
    account = world.get(account_id(world, resource_group, name))
    if account is None or account["type"] != STORAGE_ACCOUNT_TYPE:
        raise not_found(STORAGE_ACCOUNT_TYPE, name, resource_group)
    return account


def accounts_in(world: "World", resource_group: str | None) -> list["Resource"]:
    with world.lock:
        candidates = world.resources_in_group(resource_group) if resource_group else list(world.resources.values())
    return sorted((r for r in candidates if r["type"] == STORAGE_ACCOUNT_TYPE), key=lambda r: r["id"].lower())


def _endpoints(world: "World", name: str, kind: str) -> dict[str, str]:
    endpoints = {service: f"https://{name}.{service}.emulator.invalid/" for service in _SERVICES[kind]}
    if world.blob is not None:
        endpoints["blob"] = world.blob.blob_endpoint(name)
    return endpoints


def publish_endpoints(world: "World") -> None:
    """Point every account's blob endpoint at Azurite (once world.blob is set)."""
    with world.lock:
        for account in accounts_in(world, None):
            account["properties"]["primaryEndpoints"] = _endpoints(world, account["name"], account["kind"])


def list_keys(account: "Resource") -> dict[str, Any]:
    """StorageAccounts_ListKeys. Refused when shared key access is off (see the note on the error)."""
    if not account["properties"].get("allowSharedKeyAccess", True):
        # Not verified against Azure: there ListKeys may well return the keys and the data plane refuse
        # them (403 KeyBasedAuthenticationNotPermitted). The emulator refuses early, with the same code, so
        # that a caller sees the account cannot be used with keys (Azurite cannot refuse them per account).
        raise ArmError(409, "KeyBasedAuthenticationNotPermitted",
                       "Key based authentication is not permitted on this storage account.")
    created = account["properties"]["keyCreationTime"]
    return {"keys": [{"creationTime": created[name], "keyName": name, "value": value, "permissions": "FULL"}
                     for name, value in account.internal["keys"].items()]}
