"""Disk RP: turn a disk/snapshot PUT or PATCH body into the resource ARM stores.

Rules kept: what a Copy inherits from its source (OS type, generation, size, security
profile, ADE settings), same-region sources only, immutable creationData, no resize under a
running VM, Empty needs a size, FromImage needs a known platform image.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import ArmError
from . import catalog, encryption, errors, ids
from .models import RUNNING, Disk, Snapshot, VirtualMachine, new_unique_id, normalize_location, now_iso

if TYPE_CHECKING:
    from ...world import World

GIB = 1024 ** 3
# Properties a copy takes from its source unless the request sets them.
_INHERITED = ("osType", "hyperVGeneration", "securityProfile", "supportedCapabilities", "encryption",
              "encryptionSettingsCollection", "purchasePlan", "supportsHibernation")
_IMAGE_ID = re.compile(r"/Providers/Microsoft\.Compute/Locations/(?P<loc>[^/]+)/Publishers/(?P<publisher>[^/]+)"
                       r"/ArtifactTypes/VMImage/Offers/(?P<offer>[^/]+)/Skus/(?P<sku>[^/]+)/Versions/(?P<version>[^/]+)$",
                       re.IGNORECASE)


def image_reference_id(subscription_id: str, location: str, image: catalog.PlatformImage) -> str:
    return (f"/Subscriptions/{subscription_id}/Providers/Microsoft.Compute/Locations/{location}/Publishers/"
            f"{image.publisher}/ArtifactTypes/VMImage/Offers/{image.offer}/Skus/{image.sku}/Versions/{image.version}")


def _sku(body: dict[str, Any], default: str) -> dict[str, str]:
    name = (body.get("sku") or {}).get("name") or default
    sku = catalog.disk_sku(name)
    if sku is None:
        raise errors.invalid_value("sku.name", name)
    return {"name": sku.name, "tier": sku.tier}


def _performance(disk: Disk) -> None:
    """diskIOPSReadWrite/diskMBpsReadWrite/tier follow the sku and size, as Disk RP reports them."""
    sku = catalog.disk_sku(disk["sku"]["name"])
    size = int(disk.props["diskSizeGB"])
    disk.props["diskSizeBytes"] = size * GIB
    if sku is None:
        return
    tier = catalog.performance(sku, size)
    disk.props["diskIOPSReadWrite"] = tier.iops
    disk.props["diskMBpsReadWrite"] = tier.mbps
    if sku.tier == "Premium" and tier.name:
        disk.props["tier"] = tier.name


def _source(world: "World", creation: dict[str, Any], location: str, allowed: tuple[type, ...]) -> Disk | Snapshot:
    source_id = creation.get("sourceResourceId")
    if not source_id:
        raise errors.missing("creationData.sourceResourceId")
    parsed = ids.parse(source_id)
    found = world.get(ids.key(source_id)) if parsed else None
    if not isinstance(found, allowed) or found["location"] != location:
        raise errors.source_not_found(source_id)
    if found["properties"].get("provisioningState") != "Succeeded":
        raise ArmError(409, "OperationNotAllowed",
                       f"The source {source_id} is not ready: its provisioning state is "
                       f"'{found['properties'].get('provisioningState')}'.")
    return found


def _zones(body: dict[str, Any]) -> list[str] | None:
    zones = body.get("zones")
    if not zones:
        return None
    if not isinstance(zones, list) or len(zones) != 1 or str(zones[0]) not in ("1", "2", "3"):
        raise errors.invalid_value("zones", zones)
    return [str(zones[0])]


def _check_ade_with_customer_key(props: dict[str, Any]) -> None:
    """learn.microsoft.com: disks encrypted with customer-managed keys cannot also use ADE (wording not verified)."""
    if (props.get("encryptionSettingsCollection") or {}).get("enabled") and \
            props["encryption"].get("type") != encryption.PLATFORM_KEY:
        raise ArmError(400, "BadRequest", "Azure Disk Encryption cannot be enabled on a disk encrypted with "
                                          "customer-managed keys.")


def new_disk(world: "World", disk_id: str, name: str, body: dict[str, Any]) -> tuple[Disk, Disk | Snapshot | None]:
    """A Disk in provisioningState Updating, and the copy source (None unless createOption is Copy)."""
    if not body.get("location"):
        raise errors.location_required()
    location = normalize_location(body["location"])
    props_in: dict[str, Any] = body.get("properties") or {}
    creation_in: dict[str, Any] = props_in.get("creationData") or {}
    option = str(creation_in.get("createOption") or "")
    if not option:
        raise errors.missing("creationData.createOption")
    creation: dict[str, Any] = {"createOption": option[0].upper() + option[1:]}
    props: dict[str, Any] = {}
    source: Disk | Snapshot | None = None
    size = props_in.get("diskSizeGB")

    if option.lower() == "empty":
        if not size:
            raise errors.missing("diskSizeGB")
    elif option.lower() == "copy":
        source = _source(world, creation_in, location, (Disk, Snapshot))
        creation["sourceResourceId"] = creation_in["sourceResourceId"]
        creation["sourceUniqueId"] = source["properties"]["uniqueId"]
        for key in _INHERITED:
            if key in source["properties"]:
                props[key] = source["properties"][key]
        source_size = int(source["properties"]["diskSizeGB"])
        if size and int(size) < source_size:
            raise ArmError(400, "BadRequest", f"The specified disk size {size} GB is smaller than the size of the "
                                              f"source {source_size} GB. Resizing a disk to a smaller size is not allowed.")
        size = size or source_size
    elif option.lower() == "fromimage":
        image_id = (creation_in.get("imageReference") or {}).get("id")
        if not image_id:
            raise errors.missing("creationData.imageReference.id")
        match = _IMAGE_ID.search(image_id)
        image = catalog.find_image(match.groupdict()) if match else None
        if image is None:
            raise ArmError(404, "PlatformImageNotFound",
                           f"The platform image '{image_id}' is not available. Verify that all fields in the storage "
                           "profile are correct.")
        creation["imageReference"] = {"id": image_id}
        props["osType"] = image.os_type
        props["hyperVGeneration"] = image.hyper_v_generation
        size = size or image.disk_size_gb
    else:
        raise errors.unsupported_by_emulator(f"createOption '{option}'")

    for key in ("osType", "hyperVGeneration", "securityProfile", "encryptionSettingsCollection",
                "supportedCapabilities"):
        if props_in.get(key) is not None:
            props[key] = props_in[key]
    props.update({
        "creationData": creation,
        "diskSizeGB": int(size),
        "encryption": props_in.get("encryption") or props.get("encryption")
        or {"type": "EncryptionAtRestWithPlatformKey"},
        "networkAccessPolicy": props_in.get("networkAccessPolicy") or "AllowAll",
        "publicNetworkAccess": props_in.get("publicNetworkAccess") or "Enabled",
        "timeCreated": now_iso(),
        "provisioningState": "Updating",
        "diskState": "Unattached",
        "uniqueId": new_unique_id(),
    })
    props["encryption"] = encryption.check_encryption(world, props_in.get("encryption"), props["encryption"], source,
                                                      location, is_disk=True)
    _check_ade_with_customer_key(props)
    doc: dict[str, Any] = {"id": disk_id, "name": name, "type": ids.DISKS, "location": location}
    if body.get("tags"):
        doc["tags"] = dict(body["tags"])
    doc["sku"] = _sku(body, "Standard_LRS")
    zones = _zones(body)
    if zones:
        doc["zones"] = zones
    doc["properties"] = props
    disk = Disk(doc)
    _performance(disk)
    return disk, source


def update_disk(world: "World", disk: Disk, body: dict[str, Any], partial: bool) -> None:
    """PUT on an existing disk or PATCH: tags, sku, size, network policy; creationData is fixed."""
    props_in: dict[str, Any] = body.get("properties") or {}
    creation_in = props_in.get("creationData") or {}
    for key, value in creation_in.items():
        current = disk.props["creationData"].get(key)
        if key in ("sourceUniqueId",):
            continue
        same = (ids.same(current, value) if key == "sourceResourceId"
                else str(current).lower() == str(value).lower())
        if not same:
            raise errors.property_change_not_allowed(f"creationData.{key}")
    if body.get("location") and normalize_location(body["location"]) != disk["location"]:
        raise errors.property_change_not_allowed("location")
    if not partial or "zones" in body:
        if (_zones(body) or None) != (disk.get("zones") or None):
            raise errors.property_change_not_allowed("zones")
    size = props_in.get("diskSizeGB")
    if size is not None and int(size) != int(disk.props["diskSizeGB"]):
        if int(size) < int(disk.props["diskSizeGB"]):
            raise ArmError(400, "BadRequest", f"Disk size reduction is not supported. Current size is "
                                              f"{disk.props['diskSizeGB']} GB, requested size is {size} GB.")
        owner = world.get(ids.key(disk["managedBy"])) if disk.get("managedBy") else None
        if isinstance(owner, VirtualMachine) and owner.power == RUNNING:
            raise ArmError(409, "OperationNotAllowed",
                           f"Cannot resize disk {disk['name']} while it is attached to running VM {owner['id']}.")
        disk.props["diskSizeGB"] = int(size)
    if "tags" in body or not partial:
        if body.get("tags"):
            disk["tags"] = dict(body["tags"])
        else:
            disk.pop("tags", None)
    if body.get("sku"):
        disk["sku"] = _sku(body, disk["sku"]["name"])
    for key in ("networkAccessPolicy", "publicNetworkAccess", "osType", "hyperVGeneration", "supportedCapabilities"):
        if props_in.get(key) is not None:
            disk.props[key] = props_in[key]
    disk.props["provisioningState"] = "Updating"
    _performance(disk)


def new_snapshot(world: "World", snapshot_id: str, name: str, body: dict[str, Any]) -> tuple[Snapshot, Disk | Snapshot]:
    """A Snapshot (Copy of a managed disk or another snapshot), provisioningState Updating."""
    if not body.get("location"):
        raise errors.location_required()
    location = normalize_location(body["location"])
    props_in: dict[str, Any] = body.get("properties") or {}
    creation_in: dict[str, Any] = props_in.get("creationData") or {}
    option = str(creation_in.get("createOption") or "")
    if not option:
        raise errors.missing("creationData.createOption")
    if option.lower() != "copy":
        raise errors.unsupported_by_emulator(f"snapshot createOption '{option}'")
    source = _source(world, creation_in, location, (Disk, Snapshot))
    incremental = bool(props_in.get("incremental", False))
    props: dict[str, Any] = {}
    for key in _INHERITED:
        if key in source["properties"]:
            props[key] = source["properties"][key]
    creation = {"createOption": "Copy", "sourceResourceId": creation_in["sourceResourceId"],
                "sourceUniqueId": source["properties"]["uniqueId"]}
    if creation_in.get("instantAccessDurationMinutes") is not None:
        creation["instantAccessDurationMinutes"] = creation_in["instantAccessDurationMinutes"]
    size = int(source["properties"]["diskSizeGB"])
    props.update({
        "creationData": creation,
        "diskSizeGB": size,
        "diskSizeBytes": size * GIB,
        "encryption": props_in.get("encryption") or source["properties"].get("encryption")
        or {"type": "EncryptionAtRestWithPlatformKey"},
        "incremental": incremental,
        "networkAccessPolicy": props_in.get("networkAccessPolicy") or "AllowAll",
        "publicNetworkAccess": props_in.get("publicNetworkAccess") or "Enabled",
        "timeCreated": now_iso(),
        "provisioningState": "Updating",
        "diskState": "Unattached",
        "uniqueId": new_unique_id(),
    })
    if incremental:
        # All incremental snapshots of one disk share a family id (the source disk's unique id).
        props["incrementalSnapshotFamilyId"] = source["properties"]["uniqueId"]
    props["encryption"] = encryption.check_encryption(world, props_in.get("encryption"), props["encryption"], source,
                                                      location, is_disk=False)
    doc: dict[str, Any] = {"id": snapshot_id, "name": name, "type": ids.SNAPSHOTS, "location": location}
    if body.get("tags"):
        doc["tags"] = dict(body["tags"])
    doc["sku"] = _sku(body, "Standard_LRS")
    doc["properties"] = props
    return Snapshot(doc), source


def update_snapshot(snapshot: Snapshot, body: dict[str, Any], partial: bool) -> None:
    props_in: dict[str, Any] = body.get("properties") or {}
    for key, value in (props_in.get("creationData") or {}).items():
        current = snapshot.props["creationData"].get(key)
        same = ids.same(current, value) if key == "sourceResourceId" else str(current).lower() == str(value).lower()
        if key != "sourceUniqueId" and not same:
            raise errors.property_change_not_allowed(f"creationData.{key}")
    if "incremental" in props_in and bool(props_in["incremental"]) != snapshot.props["incremental"]:
        raise errors.property_change_not_allowed("incremental")
    if "tags" in body or not partial:
        if body.get("tags"):
            snapshot["tags"] = dict(body["tags"])
        else:
            snapshot.pop("tags", None)
    for key in ("networkAccessPolicy", "publicNetworkAccess"):
        if props_in.get(key) is not None:
            snapshot.props[key] = props_in[key]
    snapshot.props["provisioningState"] = "Updating"
