"""Server-side encryption with customer keys (disk encryption sets) and Azure Disk Encryption
(ADE) settings on managed disks: the DES resource, the rules Disk RP applies, scenario seeding.

Shapes follow the Compute REST spec (DiskEncryptionSet 2022-07-02+, Encryption,
EncryptionSettingsCollection). Error codes/messages marked "not verified" are the emulator's
best wording where no real sample was found.
"""
from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from ...world import Resource
from ..errors import ArmError
from . import ids
from .models import normalize_location, now_iso

if TYPE_CHECKING:
    from ...world import World

DISK_ENCRYPTION_SETS = "Microsoft.Compute/diskEncryptionSets"
PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"
CUSTOMER_KEY = "EncryptionAtRestWithCustomerKey"
PLATFORM_AND_CUSTOMER_KEYS = "EncryptionAtRestWithPlatformAndCustomerKeys"
DES_TYPES = (CUSTOMER_KEY, PLATFORM_AND_CUSTOMER_KEYS, "ConfidentialVmEncryptedWithCustomerKey")
DISK_TYPES = (PLATFORM_KEY, CUSTOMER_KEY, PLATFORM_AND_CUSTOMER_KEYS)


def register(world: "World") -> None:
    world.register_deleter(DISK_ENCRYPTION_SETS.lower(), lambda w, rid: w.remove(rid))


def build_encryption_set(world: "World", des_id: str, name: str, body: dict[str, Any],
                         existing: Resource | None) -> Resource:
    """A DES from a PUT body: location, identity and properties.activeKey.keyUrl are required."""
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    location = normalize_location(body["location"])
    if existing is not None and existing["location"] != location:
        raise ArmError(409, "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.",
                       target="location")
    props_in = body.get("properties") or {}
    active_key = props_in.get("activeKey") or {}
    if not active_key.get("keyUrl"):
        raise ArmError(400, "InvalidParameter", "Required parameter 'activeKey.keyUrl' is missing (null).",
                       target="activeKey.keyUrl")
    encryption_type = props_in.get("encryptionType") or CUSTOMER_KEY
    if encryption_type not in DES_TYPES:
        raise ArmError(400, "InvalidParameter", f"The value '{encryption_type}' of parameter 'encryptionType' is "
                                                "not allowed.", target="encryptionType")
    identity_in = body.get("identity") or {}
    if str(identity_in.get("type") or "None").lower() == "none":
        # Disk RP needs an identity to reach the key vault; wording not verified.
        raise ArmError(400, "InvalidParameter", "Disk encryption set requires an identity ('SystemAssigned' or "
                                                "'UserAssigned') to access the key vault.", target="identity")
    identity = {"type": identity_in["type"]}
    if "systemassigned" in str(identity_in["type"]).lower():
        identity["principalId"] = (existing or {}).get("identity", {}).get("principalId") or str(uuid.uuid4())
        identity["tenantId"] = world.tenant_id
    if identity_in.get("userAssignedIdentities"):
        identity["userAssignedIdentities"] = identity_in["userAssignedIdentities"]
    key = {"keyUrl": active_key["keyUrl"]}
    if active_key.get("sourceVault"):
        key = {"sourceVault": active_key["sourceVault"], "keyUrl": active_key["keyUrl"]}
    properties: dict[str, Any] = {
        "activeKey": key,
        "encryptionType": encryption_type,
        "previousKeys": [],
        "rotationToLatestKeyVersionEnabled": bool(props_in.get("rotationToLatestKeyVersionEnabled", False)),
        "lastKeyRotationTimestamp": (existing or {}).get("properties", {}).get("lastKeyRotationTimestamp")
        or now_iso(),
        "provisioningState": "Succeeded",
    }
    doc: dict[str, Any] = {"id": des_id, "name": name, "type": DISK_ENCRYPTION_SETS, "location": location}
    if body.get("tags"):
        doc["tags"] = dict(body["tags"])
    doc["identity"] = identity
    doc["properties"] = properties
    return Resource(doc)


def _find_set(world: "World", des_id: str, location: str) -> Resource:
    found = world.get(ids.key(des_id)) if ids.parse(des_id) else None
    if found is None or found.get("type", "").lower() != DISK_ENCRYPTION_SETS.lower():
        # Wording not verified.
        raise ArmError(404, "NotFound", f"Disk Encryption Set '{des_id}' was not found.", target="diskEncryptionSetId")
    if found["location"] != location:
        raise ArmError(400, "BadRequest", f"Disk Encryption Set '{des_id}' is in location '{found['location']}' but "
                                          f"the disk is in location '{location}'. They must be in the same region.")
    return found


def check_encryption(world: "World", requested: dict[str, Any] | None, resulting: dict[str, Any],
                     source: dict[str, Any] | None, location: str, is_disk: bool) -> dict[str, Any]:
    """The `encryption` a new disk/snapshot gets; raises as Disk RP does.

    - a customer-key type needs an existing DES in the same region; a platform key takes none;
    - a disk copied from a source encrypted with customer keys must name a DES itself (the same
      set is fine); it is never silently decrypted to platform keys (the rule of the emulator's
      brief; Azure's exact wording is not verified);
    - customer keys and ADE do not go together (learn.microsoft.com: "Managed disks encrypted
      using customer-managed keys cannot also be encrypted with Azure Disk Encryption").
    """
    encryption = dict(resulting or {"type": PLATFORM_KEY})
    kind = encryption.get("type") or (CUSTOMER_KEY if encryption.get("diskEncryptionSetId") else PLATFORM_KEY)
    if kind not in DISK_TYPES:
        raise ArmError(400, "InvalidParameter", f"The value '{kind}' of parameter 'encryption.type' is not allowed.",
                       target="encryption.type")
    encryption["type"] = kind
    des_id = encryption.get("diskEncryptionSetId")
    if kind == PLATFORM_KEY:
        if des_id:
            raise ArmError(400, "InvalidParameter", "Parameter 'encryption.diskEncryptionSetId' is not allowed "
                                                    f"with encryption type '{PLATFORM_KEY}'.",
                           target="encryption.diskEncryptionSetId")
        encryption.pop("diskEncryptionSetId", None)
    else:
        if not des_id:
            raise ArmError(400, "InvalidParameter", "Required parameter 'encryption.diskEncryptionSetId' is missing "
                                                    f"(null) for encryption type '{kind}'.",
                           target="encryption.diskEncryptionSetId")
        encryption["diskEncryptionSetId"] = _find_set(world, des_id, location)["id"]
    source_encryption = (source or {}).get("properties", {}).get("encryption") or {}
    if is_disk and source is not None and source_encryption.get("diskEncryptionSetId"):
        if not (requested or {}).get("diskEncryptionSetId"):
            raise ArmError(400, "BadRequest",
                           f"The source '{source['id']}' is encrypted with customer-managed keys (disk encryption "
                           f"set '{source_encryption['diskEncryptionSetId']}'). Specify "
                           "'encryption.diskEncryptionSetId' to create a disk from it.",
                           target="encryption.diskEncryptionSetId")
    return encryption


# ---- scenario seeding ------------------------------------------------------------------------


def _vault_id(world: "World", resource_group: str, name: str) -> str:
    return (f"/subscriptions/{world.subscription_id}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.KeyVault/vaults/{name}")


def seed_encryption_set(world: "World", resource_group: str, name: str, location: str) -> Resource:
    """A DES the scenario names (os_disk.disk_encryption_set), in the VM's group; idempotent."""
    register(world)
    des_id = ids.resource_id(world.subscription_id, resource_group, DISK_ENCRYPTION_SETS, name)
    existing = world.get(ids.key(des_id))
    if existing is not None:
        return existing
    vault = f"kv-{hashlib.sha1(des_id.lower().encode()).hexdigest()[:12]}"
    version = hashlib.md5(des_id.lower().encode()).hexdigest()
    body = {"location": location, "identity": {"type": "SystemAssigned"},
            "properties": {"encryptionType": CUSTOMER_KEY,
                           "activeKey": {"sourceVault": {"id": _vault_id(world, resource_group, vault)},
                                         "keyUrl": f"https://{vault}.vault.azure.net/keys/{name}-key/{version}"}}}
    des = build_encryption_set(world, des_id, name, body, None)
    world.put(des)
    return des


def ade_settings(ade: dict[str, Any]) -> dict[str, Any]:
    """encryptionSettingsCollection of a disk ADE encrypted (single-pass ADE, version 1.1)."""
    settings: dict[str, Any] = {"diskEncryptionKey": {"sourceVault": {"id": ade["key_vault_id"]},
                                                      "secretUrl": ade["secret_url"]}}
    if ade.get("key_url"):
        settings["keyEncryptionKey"] = {"sourceVault": {"id": ade.get("key_vault_key_id") or ade["key_vault_id"]},
                                        "keyUrl": ade["key_url"]}
    return {"enabled": True, "encryptionSettings": [settings], "encryptionSettingsVersion": "1.1"}
