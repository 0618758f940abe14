"""Compute RP: turn a virtualMachines PUT/PATCH body into the stored VM and the disk changes.

Nothing is stored here: `build_create` / `build_update` validate and return a `VmChange`
that responses.py commits under the world lock. Rules kept: size and image known, the
size can boot the image's generation, TrustedLaunch needs Gen2, osProfile only with
FromImage, attach checks (region, zone, one owner), at most MaxDataDiskCount data disks,
unique LUNs, NICs exist in the region and belong to no other VM, immutable properties stay,
the OS disk swaps only while the VM is stopped or deallocated.
"""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ArmError
from . import catalog, errors, ids, os_profile, skus
from .disk_builder import GIB, image_reference_id
from .models import (DEALLOCATED, STOPPED, Disk, VirtualMachine, get_disk, new_unique_id, normalize_location,
                     now_iso, require_attachable)

if TYPE_CHECKING:
    from ...world import World


@dataclass
class VmChange:
    vm: VirtualMachine  # the resource as it will be stored (a new object for create)
    password: str | None = None
    image: catalog.PlatformImage | None = None
    created_disks: list[Disk] = field(default_factory=list)  # made by this request (OS from image, Empty)
    attach: list[Disk] = field(default_factory=list)  # existing disks joining the VM
    detach: list[Disk] = field(default_factory=list)  # disks leaving it when the operation completes
    nic_ids: list[str] = field(default_factory=list)
    released_nic_ids: list[str] = field(default_factory=list)
    duration_key: str = "vm_create_windows"
    user_data: str | None = None  # properties.userData: stored, shown only with $expand=userData


def _size(world: "World", name: str | None, vm_id: str, location: str, zone: str | None, subscription_id: str,
          check_restrictions: bool = True) -> catalog.VmSize:
    if not name:
        raise errors.missing("hardwareProfile.vmSize")
    size = catalog.VM_SIZES.get(str(name).lower())
    if size is None:
        # Azure's wording (seen in public error reports); it lists every size of the region.
        valid = ",".join(s.name for s in catalog.VM_SIZES.values()
                         if not skus.is_restricted(world.scenario.sku_restrictions, s.name, location, None))
        raise ArmError(400, "InvalidParameter",
                       f"The value {name} provided for the VM size is not valid. The valid sizes in the current "
                       f"region are: {valid}. Find out more on the available VM sizes in each region at "
                       "https://aka.ms/azure-regions.", target="vmSize")
    if check_restrictions and skus.is_restricted(world.scenario.sku_restrictions, size.name, location, zone):
        raise ArmError(409, "SkuNotAvailable",
                       f"The requested size for resource '{vm_id}' is currently not available in location "
                       f"'{location}' zones '{zone or ''}' for subscription '{subscription_id}'. Please try another "
                       "size or deploy to a different location or zones. See https://aka.ms/azureskunotavailable for "
                       "details.")
    return size


def _check_generation(size: catalog.VmSize, generation: str | None) -> None:
    gen = (generation or "V1").upper()
    if gen not in size.hyper_v_generations.split(","):
        number = gen[1:]
        raise ArmError(400, "BadRequest",
                       f"The selected VM size '{size.name}' cannot boot Hypervisor Generation '{number}'. If this was a "
                       "Create operation please check that the Hypervisor Generation of the Image matches the "
                       "Hypervisor Generation of the selected VM Size. If this was an Update operation please select "
                       f"a Hypervisor Generation '{number}' VM Size.")


def _zones(body: dict[str, Any]) -> list[str] | None:
    zones = body.get("zones")
    if not zones:
        return None
    if not isinstance(zones, list) or len(zones) != 1 or str(zones[0]) not in ("1", "2", "3"):
        raise errors.invalid_value("zones", zones)
    return [str(zones[0])]


def _security_profile(given: dict[str, Any] | None, generation: str | None) -> dict[str, Any]:
    given = copy.deepcopy(given or {})
    security_type = given.get("securityType") or "Standard"
    if security_type == "TrustedLaunch":
        if (generation or "V1").upper() != "V2":
            raise ArmError(400, "BadRequest", "Use of TrustedLaunch setting is not supported for the provided image. "
                                              "Please select Trusted Launch Supported Gen2 OS Image.")
        uefi = given.get("uefiSettings") or {}
        given["uefiSettings"] = {"secureBootEnabled": uefi.get("secureBootEnabled", True),
                                 "vTpmEnabled": uefi.get("vTpmEnabled", True)}
    given["securityType"] = security_type
    return given


def _managed_disk_ref(disk: Disk) -> dict[str, Any]:
    return {"storageAccountType": disk["sku"]["name"], "id": disk["id"]}


def _new_disk(vm: dict[str, Any], name: str, size_gb: int, sku_name: str, zones: list[str] | None,
              creation: dict[str, Any], extra: dict[str, Any]) -> Disk:
    parsed = ids.parse(vm["id"])
    assert parsed is not None
    sku = catalog.disk_sku(sku_name)
    if sku is None:
        raise errors.invalid_value("managedDisk.storageAccountType", sku_name)
    tier = catalog.performance(sku, size_gb)
    props = {**extra, "creationData": creation, "diskSizeGB": size_gb, "diskSizeBytes": size_gb * GIB,
             "diskIOPSReadWrite": tier.iops, "diskMBpsReadWrite": tier.mbps,
             "encryption": {"type": "EncryptionAtRestWithPlatformKey"}, "networkAccessPolicy": "AllowAll",
             "publicNetworkAccess": "Enabled", "timeCreated": now_iso(), "provisioningState": "Succeeded",
             "diskState": "Attached", "uniqueId": new_unique_id(), "LastOwnershipUpdateTime": now_iso()}
    if sku.tier == "Premium" and tier.name:
        props["tier"] = tier.name
    doc: dict[str, Any] = {
        "id": ids.resource_id(parsed.subscription_id, parsed.resource_group, ids.DISKS, name),
        "name": name, "type": ids.DISKS, "location": vm["location"],
        "managedBy": vm["id"], "sku": {"name": sku.name, "tier": sku.tier},
    }
    if zones:
        doc["zones"] = list(zones)
    doc["properties"] = props
    return Disk(doc)


class _Builder:
    """Shared state of one PUT/PATCH: the VM doc being built and the disk changes found."""

    def __init__(self, world: "World", vm_doc: dict[str, Any], existing: VirtualMachine | None) -> None:
        self.world = world
        self.doc = vm_doc
        self.existing = existing
        self.change = VmChange(vm=existing if existing is not None else VirtualMachine())
        self.zone = (vm_doc.get("zones") or [None])[0]
        self.claimed: set[str] = set()  # disk keys used by this request (one disk, one slot)

    def claim(self, disk_id: str) -> None:
        key = ids.key(disk_id)
        if key in self.claimed:
            raise ArmError(400, "InvalidParameter",
                           f"Disk {disk_id} is referenced more than once in the storage profile.", target="managedDisk.id")
        self.claimed.add(key)

    def existing_disk(self, disk_id: str) -> Disk:
        disk = get_disk(self.world, disk_id)
        return require_attachable(disk, disk_id, self.doc["id"], self.doc["location"], self.zone)

    # -- OS disk ---------------------------------------------------------------------------

    def os_disk(self, storage_in: dict[str, Any], body_props: dict[str, Any],
                size: catalog.VmSize) -> tuple[dict[str, Any], str, str | None]:
        """The stored osDisk, the OS type and the Hyper-V generation."""
        os_in = storage_in.get("osDisk")
        if not os_in:
            raise errors.missing("storageProfile.osDisk")
        option = str(os_in.get("createOption") or "")
        current = self.existing.props["storageProfile"]["osDisk"] if self.existing else None
        if current is not None and option and option.lower() != current["createOption"].lower():
            raise errors.property_change_not_allowed("osDisk.createOption")
        if option.lower() == "fromimage":
            return self._os_from_image(os_in, storage_in, body_props, size, current)
        if option.lower() == "attach":
            if body_props.get("osProfile") and current is None:
                raise errors.not_allowed_parameter("osProfile")
            if storage_in.get("imageReference") and current is None:
                raise errors.not_allowed_parameter("imageReference")
            return self._os_attached(os_in, size, current)
        if not option:
            raise errors.missing("storageProfile.osDisk.createOption")
        raise errors.unsupported_by_emulator(f"osDisk createOption '{option}'")

    def _os_from_image(self, os_in: dict[str, Any], storage_in: dict[str, Any], body_props: dict[str, Any],
                       size: catalog.VmSize, current: dict[str, Any] | None) -> tuple[dict[str, Any], str, str | None]:
        if current is not None:
            # An update: the image is fixed; only a swap of the managed disk may change the OS disk.
            return self._os_swap_or_keep(os_in, current, size)
        ref = storage_in.get("imageReference")
        if not ref:
            raise errors.missing("storageProfile.imageReference")
        image = catalog.find_image(ref)
        if image is None:
            urn = ":".join(str(ref.get(k, "")) for k in ("publisher", "offer", "sku", "version"))
            raise ArmError(404, "PlatformImageNotFound",
                           f"The platform image '{urn}' is not available. Verify that all fields in the storage "
                           "profile are correct. For more details about storage profile information, please refer to "
                           "https://aka.ms/storageprofile")
        if (os_in.get("managedDisk") or {}).get("id"):
            raise ArmError(400, "InvalidParameterConflictingProperties",
                           "The property 'osDisk.managedDisk.id' cannot be set when property 'osDisk.createOption' "
                           "has the value 'FromImage'.")
        _check_generation(size, image.hyper_v_generation)
        self.change.image = image
        if not body_props.get("osProfile"):
            raise errors.missing("osProfile")
        stored_profile, password = os_profile.build(body_props["osProfile"], image.os_type)
        self.doc["properties"]["osProfile"] = stored_profile
        self.change.password = password
        sku_name = (os_in.get("managedDisk") or {}).get("storageAccountType") or (
            "Premium_LRS" if size.premium_io else "Standard_LRS")
        disk_size = int(os_in.get("diskSizeGB") or image.disk_size_gb)
        if disk_size < image.disk_size_gb:
            raise ArmError(400, "InvalidParameter",
                           f"The specified disk size {disk_size} GB is smaller than the size of the corresponding disk "
                           f"in the VM image: {image.disk_size_gb} GB. This is not allowed. Please choose equal or "
                           "greater size or do not specify this property.", target="osDisk.diskSizeGB")
        name = os_in.get("name") or f"{self.doc['name']}_OsDisk_1_{uuid.uuid4().hex}"
        security = self.doc["properties"].get("securityProfile") or {}
        extra: dict[str, Any] = {"osType": image.os_type, "hyperVGeneration": image.hyper_v_generation,
                                 "supportedCapabilities": {"acceleratedNetwork": True, "architecture": "x64"}}
        if security.get("securityType") == "TrustedLaunch":
            extra["securityProfile"] = {"securityType": "TrustedLaunch"}
        parsed = ids.parse(self.doc["id"])
        assert parsed is not None
        creation = {"createOption": "FromImage", "imageReference": {
            "id": image_reference_id(parsed.subscription_id, self.doc["location"], image)}}
        disk = _new_disk(self.doc, name, disk_size, sku_name, self.doc.get("zones"), creation, extra)
        if self.world.get(ids.key(disk["id"])) is not None:
            raise ArmError(409, "Conflict", f"Disk {disk['id']} already exists. Choose another osDisk.name.")
        self.claim(disk["id"])
        self.change.created_disks.append(disk)
        self.doc["properties"]["storageProfile"]["imageReference"] = {
            "publisher": image.publisher, "offer": image.offer, "sku": image.sku,
            "version": ref.get("version", "latest"), "exactVersion": image.version}
        stored = {"osType": image.os_type, "name": name, "createOption": "FromImage",
                  "caching": os_in.get("caching") or "ReadWrite", "writeAcceleratorEnabled": False,
                  "managedDisk": _managed_disk_ref(disk), "deleteOption": os_in.get("deleteOption") or "Detach",
                  "diskSizeGB": disk_size}
        return stored, image.os_type, image.hyper_v_generation

    def _os_attached(self, os_in: dict[str, Any], size: catalog.VmSize,
                     current: dict[str, Any] | None) -> tuple[dict[str, Any], str, str | None]:
        if current is not None:
            return self._os_swap_or_keep(os_in, current, size)
        disk_id = (os_in.get("managedDisk") or {}).get("id")
        if not disk_id:
            raise errors.missing("storageProfile.osDisk.managedDisk.id")
        ids.require(disk_id, ids.DISKS, "properties.storageProfile.osDisk.managedDisk.id")
        disk = self.existing_disk(disk_id)
        self.claim(disk["id"])
        os_type = os_in.get("osType") or disk.props.get("osType")
        if not os_type:
            raise errors.missing("storageProfile.osDisk.osType")
        generation = disk.props.get("hyperVGeneration")
        _check_generation(size, generation)
        self.change.attach.append(disk)
        stored = {"osType": os_type, "name": disk["name"], "createOption": "Attach",
                  "caching": os_in.get("caching") or "ReadWrite", "writeAcceleratorEnabled": False,
                  "managedDisk": _managed_disk_ref(disk), "deleteOption": os_in.get("deleteOption") or "Detach",
                  "diskSizeGB": disk.props["diskSizeGB"]}
        return stored, os_type, generation

    def _os_swap_or_keep(self, os_in: dict[str, Any], current: dict[str, Any],
                         size: catalog.VmSize) -> tuple[dict[str, Any], str, str | None]:
        assert self.existing is not None
        stored = copy.deepcopy(current)
        new_id = (os_in.get("managedDisk") or {}).get("id")
        old_id = current["managedDisk"]["id"]
        if new_id and not ids.same(new_id, old_id):
            if self.existing.power not in (STOPPED, DEALLOCATED):
                raise ArmError(409, "OperationNotAllowed",
                               f"Operation 'Swap OS disk' is not allowed on VM '{self.existing['name']}' since the VM "
                               "is running. Please stop or deallocate the VM and retry.")
            ids.require(new_id, ids.DISKS, "properties.storageProfile.osDisk.managedDisk.id")
            disk = self.existing_disk(new_id)
            if (disk.props.get("osType") or current["osType"]) != current["osType"]:
                raise ArmError(409, "OperationNotAllowed",
                               f"The OS type of disk {disk['id']} ({disk.props.get('osType')}) does not match the OS "
                               f"type of the VM ({current['osType']}).")
            _check_generation(size, disk.props.get("hyperVGeneration"))
            self.claim(disk["id"])
            self.change.attach.append(disk)
            old = get_disk(self.world, old_id)
            if old is not None:
                self.change.detach.append(old)
            stored["name"] = disk["name"]
            stored["managedDisk"] = _managed_disk_ref(disk)
            stored["diskSizeGB"] = disk.props["diskSizeGB"]
            self.change.duration_key = "os_disk_swap"
        else:
            self.claim(old_id)
        for key in ("caching", "deleteOption"):
            if os_in.get(key):
                stored[key] = os_in[key]
        old = get_disk(self.world, stored["managedDisk"]["id"])
        return stored, stored["osType"], (old.props.get("hyperVGeneration") if old else None)

    # -- data disks ----------------------------------------------------------------------

    def data_disks(self, entries: list[dict[str, Any]], size: catalog.VmSize) -> list[dict[str, Any]]:
        current = {ids.key(d["managedDisk"]["id"]): d for d in
                   (self.existing.props["storageProfile"].get("dataDisks", []) if self.existing else [])}
        result: list[dict[str, Any]] = []
        luns: set[int] = set()
        for i, entry in enumerate(entries or []):
            if entry.get("toBeDetached"):
                continue  # detached below, with every current disk that is not kept
            if entry.get("lun") is None:
                raise errors.missing(f"dataDisks[{i}].lun")
            lun = int(entry["lun"])
            if lun in luns:
                raise ArmError(400, "InvalidParameter", f"Data disks with duplicate LUN {lun} are not allowed.",
                               target="dataDisks")
            luns.add(lun)
            option = str(entry.get("createOption") or "").lower()
            disk_id = (entry.get("managedDisk") or {}).get("id")
            if disk_id is None and entry.get("name"):
                # An echo of a current disk may carry only its name.
                disk_id = next((d["managedDisk"]["id"] for d in current.values()
                                if d["name"].lower() == str(entry["name"]).lower()), None)
            if option == "empty" and disk_id and ids.key(disk_id) not in current:
                raise ArmError(400, "InvalidParameterConflictingProperties",
                               "The property 'dataDisk.createOption' cannot have the value 'Empty' when property "
                               "'dataDisk.managedDisk.id' is set.")
            if disk_id and ids.key(disk_id) in current:
                kept = copy.deepcopy(current[ids.key(disk_id)])
                kept["lun"] = lun
                for key in ("caching", "deleteOption", "writeAcceleratorEnabled"):
                    if key in entry:
                        kept[key] = entry[key]
                self.claim(disk_id)
                result.append(kept)
            elif option == "attach":
                if not disk_id:
                    raise errors.missing(f"dataDisks[{i}].managedDisk.id")
                ids.require(disk_id, ids.DISKS, f"properties.storageProfile.dataDisks[{i}].managedDisk.id")
                disk = self.existing_disk(disk_id)
                self.claim(disk["id"])
                self.change.attach.append(disk)
                result.append(self._data_entry(entry, lun, disk, "Attach"))
            elif option == "empty":
                if not entry.get("diskSizeGB"):
                    raise errors.missing(f"dataDisks[{i}].diskSizeGB")
                sku_name = (entry.get("managedDisk") or {}).get("storageAccountType") or (
                    "Premium_LRS" if size.premium_io else "Standard_LRS")
                name = entry.get("name") or f"{self.doc['name']}_disk{lun + 2}_{uuid.uuid4().hex}"
                disk = _new_disk(self.doc, name, int(entry["diskSizeGB"]), sku_name, self.doc.get("zones"),
                                 {"createOption": "Empty"}, {})
                if self.world.get(ids.key(disk["id"])) is not None:
                    raise ArmError(409, "Conflict", f"Disk {disk['id']} already exists.")
                self.claim(disk["id"])
                self.change.created_disks.append(disk)
                result.append(self._data_entry(entry, lun, disk, "Empty"))
            elif not option:
                raise errors.missing(f"dataDisks[{i}].createOption")
            else:
                raise errors.unsupported_by_emulator(f"dataDisks createOption '{entry.get('createOption')}'")
        if len(result) > size.max_data_disks:
            raise ArmError(409, "OperationNotAllowed",
                           f"The maximum number of data disks allowed to be attached to a VM of this size is "
                           f"{size.max_data_disks}.", target="dataDisks")
        kept_keys = {ids.key(d["managedDisk"]["id"]) for d in result}
        for key_, entry in current.items():
            if key_ not in kept_keys:
                disk = get_disk(self.world, entry["managedDisk"]["id"])
                if disk is not None:
                    self.change.detach.append(disk)
        return sorted(result, key=lambda d: d["lun"])

    @staticmethod
    def _data_entry(entry: dict[str, Any], lun: int, disk: Disk, option: str) -> dict[str, Any]:
        return {"lun": lun, "name": disk["name"], "createOption": option,
                "caching": entry.get("caching") or "None", "writeAcceleratorEnabled": False,
                "managedDisk": _managed_disk_ref(disk), "deleteOption": entry.get("deleteOption") or "Detach",
                "diskSizeGB": disk.props["diskSizeGB"], "toBeDetached": False}

    # -- network -------------------------------------------------------------------------

    def network(self, network_in: dict[str, Any] | None) -> dict[str, Any]:
        nics_in = (network_in or {}).get("networkInterfaces") or []
        if not nics_in:
            raise errors.missing("networkProfile")
        stored = []
        for i, nic_in in enumerate(nics_in):
            nic_id = nic_in.get("id")
            ids.require(nic_id, ids.NETWORK_INTERFACES, f"properties.networkProfile.networkInterfaces[{i}].id")
            nic = self.world.get(ids.key(nic_id))
            if nic is None or normalize_location(nic.get("location", "")) != self.doc["location"]:
                raise ArmError(400, "InvalidResourceReference",
                               f"Resource {nic_id} referenced by resource {self.doc['id']} was not found. Please make "
                               "sure that the referenced resource exists, and that both resources are in the same "
                               "region.", details=[{"code": "NotFound", "message": f"Resource {nic_id} not found."}])
            owner = ((nic.get("properties") or {}).get("virtualMachine") or {}).get("id")
            if owner and not ids.same(owner, self.doc["id"]):
                raise ArmError(400, "NicInUse",
                               f"Network Interface {nic['id']} is used by existing resource {owner}. In order to "
                               "create a new resource or update an existing one with this network interface, please "
                               "detach it from the existing one first.")
            entry: dict[str, Any] = {"id": nic["id"]}
            if nic_in.get("properties"):
                entry["properties"] = {k: v for k, v in nic_in["properties"].items() if k in ("primary", "deleteOption")}
            stored.append(entry)
            self.change.nic_ids.append(nic["id"])
        if self.existing is not None:
            before = [n["id"] for n in self.existing.props["networkProfile"]["networkInterfaces"]]
            self.change.released_nic_ids = [n for n in before if not any(ids.same(n, k) for k in self.change.nic_ids)]
        return {"networkInterfaces": stored}


def _immutable(existing: VirtualMachine, body: dict[str, Any]) -> None:
    if body.get("location") and normalize_location(body["location"]) != existing["location"]:
        raise errors.property_change_not_allowed("location")
    if "zones" in body and (_zones(body) or None) != (existing.get("zones") or None):
        raise errors.property_change_not_allowed("zones")
    current = existing.props.get("osProfile") or {}
    given = (body.get("properties") or {}).get("osProfile") or {}
    for key in ("computerName", "adminUsername"):
        if key in given and current and str(given[key]) != str(current.get(key)):
            raise errors.property_change_not_allowed(key)
    image_in = ((body.get("properties") or {}).get("storageProfile") or {}).get("imageReference")
    image_now = existing.props["storageProfile"].get("imageReference")
    if image_in and image_now:
        for key in ("publisher", "offer", "sku"):
            if str(image_in.get(key, "")).lower() != str(image_now.get(key, "")).lower():
                raise errors.property_change_not_allowed(f"imageReference.{key}")


def _common(builder: _Builder, props_in: dict[str, Any], size: catalog.VmSize) -> None:
    doc = builder.doc
    storage_in = props_in.get("storageProfile") or {}
    doc["properties"]["storageProfile"] = {}
    os_disk, os_type, generation = builder.os_disk(storage_in, props_in, size)
    storage = doc["properties"]["storageProfile"]
    storage["osDisk"] = os_disk
    storage["dataDisks"] = builder.data_disks(storage_in.get("dataDisks") or [], size)
    storage["diskControllerType"] = storage_in.get("diskControllerType") or "SCSI"
    # JSON key order as Azure answers: imageReference, osDisk, dataDisks, diskControllerType.
    doc["properties"]["storageProfile"] = {k: storage[k] for k in
                                           ("imageReference", "osDisk", "dataDisks", "diskControllerType") if k in storage}
    doc["properties"]["networkProfile"] = builder.network(props_in.get("networkProfile"))
    if builder.existing is None:
        doc["properties"]["securityProfile"] = _security_profile(props_in.get("securityProfile"), generation)
    diagnostics = props_in.get("diagnosticsProfile")
    if diagnostics is not None:
        doc["properties"]["diagnosticsProfile"] = copy.deepcopy(diagnostics)
    for key in ("licenseType", "extensionsTimeBudget"):
        if props_in.get(key):
            doc["properties"][key] = props_in[key]
    if os_type == "Linux" and (props_in.get("licenseType") or "").startswith("Windows"):
        raise errors.invalid_value("licenseType", props_in["licenseType"])


_ORDER = ("vmId", "hardwareProfile", "storageProfile", "osProfile", "networkProfile", "securityProfile",
          "diagnosticsProfile", "licenseType", "extensionsTimeBudget", "provisioningState", "timeCreated")


def _ordered(props: dict[str, Any]) -> dict[str, Any]:
    out = {k: props[k] for k in _ORDER if k in props}
    out.update({k: v for k, v in props.items() if k not in out})
    return out


def _next_etag(current: str | None) -> str:
    try:
        version = int(str(current or '"0"').strip('"'))
    except ValueError:
        version = 0
    return f'"{version + 1}"'


def build_create(world: "World", vm_id: str, name: str, body: dict[str, Any]) -> VmChange:
    if not body.get("location"):
        raise errors.location_required()
    props_in = body.get("properties")
    if not props_in:
        raise errors.missing("properties")
    location = normalize_location(body["location"])
    zones = _zones(body)
    parsed = ids.parse(vm_id)
    assert parsed is not None
    size = _size(world, (props_in.get("hardwareProfile") or {}).get("vmSize"), vm_id, location,
                 zones[0] if zones else None, parsed.subscription_id)
    doc: dict[str, Any] = {"id": vm_id, "name": name, "type": ids.VIRTUAL_MACHINES, "location": location}
    if body.get("tags"):
        doc["tags"] = dict(body["tags"])
    if zones:
        doc["zones"] = zones
    doc["properties"] = {"vmId": str(uuid.uuid4()), "hardwareProfile": {"vmSize": size.name}}
    # securityProfile is read by the OS disk builder (TrustedLaunch OS disks carry it).
    if props_in.get("securityProfile"):
        doc["properties"]["securityProfile"] = copy.deepcopy(props_in["securityProfile"])
    builder = _Builder(world, doc, None)
    _common(builder, props_in, size)
    doc["properties"]["provisioningState"] = "Creating"
    doc["properties"]["timeCreated"] = now_iso()
    doc["properties"] = _ordered(doc["properties"])
    doc["etag"] = _next_etag(None)
    change = builder.change
    change.user_data = props_in.get("userData")
    change.vm.update(doc)
    change.duration_key = "vm_create_windows"
    return change


def build_update(world: "World", vm: VirtualMachine, body: dict[str, Any], partial: bool) -> tuple[VmChange, dict]:
    """The change and the new doc (committed by the caller). PATCH merges the body into the current VM."""
    if vm.props.get("provisioningState") == "Deleting":
        raise ArmError(409, "OperationNotAllowed",
                       f"Operation 'PUT' is not allowed on VM '{vm['name']}' since the VM is marked for deletion. You "
                       "can only retry the Delete operation (or wait for an ongoing one to complete).")
    _immutable(vm, body)
    props_in: dict[str, Any] = copy.deepcopy(body.get("properties") or {})
    if partial:
        merged = copy.deepcopy(dict(vm.props))
        for key, value in props_in.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        props_in = merged
    parsed = ids.parse(vm["id"])
    assert parsed is not None
    size_name = (props_in.get("hardwareProfile") or {}).get("vmSize") or vm.props["hardwareProfile"]["vmSize"]
    # A VM keeps running on a size that has since become restricted; only a resize is checked.
    size = _size(world, size_name, vm["id"], vm["location"], vm.zone, parsed.subscription_id,
                 check_restrictions=size_name.lower() != vm.props["hardwareProfile"]["vmSize"].lower())
    doc: dict[str, Any] = {k: copy.deepcopy(v) for k, v in vm.items() if k != "properties"}
    if "tags" in body or not partial:
        if body.get("tags"):
            doc["tags"] = dict(body["tags"])
        else:
            doc.pop("tags", None)
    doc["properties"] = {"vmId": vm.props["vmId"], "hardwareProfile": {"vmSize": size.name}}
    if vm.props.get("osProfile"):
        doc["properties"]["osProfile"] = copy.deepcopy(vm.props["osProfile"])
    if vm.props["storageProfile"].get("imageReference"):
        image_ref = copy.deepcopy(vm.props["storageProfile"]["imageReference"])
    else:
        image_ref = None
    doc["properties"]["securityProfile"] = copy.deepcopy(vm.props.get("securityProfile") or {"securityType": "Standard"})
    builder = _Builder(world, doc, vm)
    builder.change.duration_key = "vm_reapply"
    _common(builder, props_in, size)
    if image_ref:
        storage = doc["properties"]["storageProfile"]
        doc["properties"]["storageProfile"] = {"imageReference": image_ref, **storage}
    if "diagnosticsProfile" not in props_in and vm.props.get("diagnosticsProfile"):
        doc["properties"]["diagnosticsProfile"] = copy.deepcopy(vm.props["diagnosticsProfile"])
    change = builder.change
    if change.duration_key == "vm_reapply":
        if change.attach:
            change.duration_key = "data_disk_attach"
        elif change.detach:
            change.duration_key = "data_disk_detach"
    doc["properties"]["provisioningState"] = "Updating"
    doc["properties"]["timeCreated"] = vm.props.get("timeCreated")
    doc["properties"] = _ordered(doc["properties"])
    # Compute RP's etag counts the VM model's versions.
    doc["etag"] = _next_etag(vm.get("etag"))
    change.user_data = props_in["userData"] if "userData" in props_in else vm.user_data
    return change, doc
