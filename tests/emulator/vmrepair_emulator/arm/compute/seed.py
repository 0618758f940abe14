"""The scenario's VMs and OS disks, as `az vm create` from a marketplace image would have left them.

Called by ../../seeding.py (through models.seed_disk / models.seed_vm). The backing VHD of the
OS disk is built there; here only the ARM resources. A seeded VM is not a simulated Windows:
if the scenario gives it a stop code it sits at the stop screen, its agent never reports.
"""
from __future__ import annotations

import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import catalog, encryption, ids
from .disk_builder import GIB, image_reference_id
from .lifecycle import image_for, register
from .models import (DEALLOCATED, RUNNING, STOPPED, Disk, VirtualMachine, mark_attached, new_unique_id,
                     normalize_location, now_iso)

if TYPE_CHECKING:
    from ...world import World

_POWER = {"running": RUNNING, "stopped": STOPPED, "deallocated": DEALLOCATED}


def seed_disk(world: "World", vm_spec: dict[str, Any], os_disk_id: str) -> Disk:
    """The OS disk of a scenario VM (createOption FromImage), Unattached until seed_vm takes it."""
    register(world)
    disk_spec = vm_spec["os_disk"]
    image = image_for(vm_spec)
    parsed = ids.parse(os_disk_id)
    assert parsed is not None, os_disk_id
    location = normalize_location(vm_spec["location"])
    sku = catalog.disk_sku(disk_spec["sku"])
    assert sku is not None
    size = int(disk_spec["size_gb"])
    tier = catalog.performance(sku, size)
    props: dict[str, Any] = {
        "osType": vm_spec["os_type"],
        "hyperVGeneration": vm_spec["hyper_v_generation"],
        "supportedCapabilities": {"acceleratedNetwork": True, "architecture": "x64"},
        "creationData": {"createOption": "FromImage", "imageReference": {
            "id": image_reference_id(parsed.subscription_id, location, image)}},
        "diskSizeGB": size,
        "diskSizeBytes": size * GIB,
        "diskIOPSReadWrite": tier.iops,
        "diskMBpsReadWrite": tier.mbps,
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
        "timeCreated": now_iso(time.time() - 86400 * 30),
        "provisioningState": "Succeeded",
        "diskState": "Unattached",
        "uniqueId": new_unique_id(),
    }
    if sku.tier == "Premium" and tier.name:
        props["tier"] = tier.name
    if vm_spec.get("security_type"):
        props["securityProfile"] = {"securityType": vm_spec["security_type"]}
    if disk_spec.get("disk_encryption_set"):
        des = encryption.seed_encryption_set(world, vm_spec["resource_group"], disk_spec["disk_encryption_set"],
                                             location)
        props["encryption"] = {"diskEncryptionSetId": des["id"], "type": encryption.CUSTOMER_KEY}
    if disk_spec.get("ade"):
        props["encryptionSettingsCollection"] = encryption.ade_settings(disk_spec["ade"])
    doc: dict[str, Any] = {"id": os_disk_id, "name": parsed.name, "type": ids.DISKS, "location": location,
                           "sku": {"name": sku.name, "tier": sku.tier}}
    if vm_spec.get("zone"):
        doc["zones"] = [str(vm_spec["zone"])]
    doc["properties"] = props
    disk = Disk(doc)
    if vm_spec.get("fleet"):
        # No backing VHD (fleets are for triage): copying this disk is refused (responses._disk_put).
        disk.internal["no_content"] = (f"the OS disk of fleet VM {vm_spec['name']} has no content in the emulator "
                                       "(fleet VMs are generated without disk images, for triage only)")
    world.put(disk)
    return disk


def boot_diagnostics_storage_uri(world: "World", vm_spec: dict[str, Any]) -> str:
    """A custom-storage VM's storageUri: its account's blob endpoint (Azurite's development account
    without `boot_diagnostics_storage_account`). Before Azurite is attached (seeding runs first) a
    placeholder; bootdiag.publish_all puts the real endpoint in."""
    account = vm_spec.get("boot_diagnostics_storage_account")
    if world.blob is None:
        return f"https://{account or 'devstoreaccount1'}.blob.emulator.invalid/"
    return world.blob.blob_endpoint(account) if account else world.blob.account_url.rstrip("/") + "/"


def _boot_diagnostics(world: "World", vm_spec: dict[str, Any]) -> dict[str, Any]:
    mode = vm_spec["boot_diagnostics"]
    if mode == "disabled":
        return {"enabled": False}
    if mode == "custom":
        return {"enabled": True, "storageUri": boot_diagnostics_storage_uri(world, vm_spec)}
    return {"enabled": True}


def _managed_disk(disk: Disk) -> dict[str, Any]:
    """storageProfile.osDisk.managedDisk; a customer-key disk also names its set (as Azure shows it)."""
    ref: dict[str, Any] = {"storageAccountType": disk["sku"]["name"]}
    des_id = disk["properties"].get("encryption", {}).get("diskEncryptionSetId")
    if des_id:
        ref["diskEncryptionSet"] = {"id": des_id}
    ref["id"] = disk["id"]
    return ref


def seed_vm(world: "World", vm_spec: dict[str, Any], nic_id: str, os_disk_id: str) -> VirtualMachine:
    """A Succeeded VM in the scenario's power state, holding its OS disk and NIC."""
    register(world)
    image = image_for(vm_spec)
    vm_id = ids.resource_id(world.subscription_id, vm_spec["resource_group"], ids.VIRTUAL_MACHINES, vm_spec["name"])
    disk = world.get(ids.key(os_disk_id))
    assert isinstance(disk, Disk), f"seed_disk({os_disk_id}) first"
    windows = vm_spec["os_type"] == "Windows"
    os_profile: dict[str, Any] = {"computerName": vm_spec["computer_name"], "adminUsername": vm_spec["admin_username"]}
    if windows:
        os_profile["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True,
                                              "patchSettings": {"patchMode": "AutomaticByOS",
                                                                "assessmentMode": "ImageDefault"}}
    else:
        os_profile["linuxConfiguration"] = {"disablePasswordAuthentication": False, "provisionVMAgent": True,
                                            "patchSettings": {"patchMode": "ImageDefault",
                                                              "assessmentMode": "ImageDefault"}}
    os_profile.update({"secrets": [], "allowExtensionOperations": True, "requireGuestProvisionSignal": True})
    security: dict[str, Any] = {"securityType": vm_spec.get("security_type") or "Standard"}
    if vm_spec.get("security_type") == "TrustedLaunch":
        security = {"uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}, "securityType": "TrustedLaunch"}
    props: dict[str, Any] = {
        "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, vm_id.lower())),
        "hardwareProfile": {"vmSize": vm_spec["size"]},
        "storageProfile": {
            "imageReference": {"publisher": image.publisher, "offer": image.offer, "sku": image.sku,
                               "version": "latest", "exactVersion": image.version},
            "osDisk": {"osType": vm_spec["os_type"], "name": disk["name"], "createOption": "FromImage",
                       "caching": "ReadWrite", "writeAcceleratorEnabled": False,
                       "managedDisk": _managed_disk(disk),
                       "deleteOption": "Detach", "diskSizeGB": disk["properties"]["diskSizeGB"]},
            "dataDisks": [],
            "diskControllerType": "SCSI",
        },
        "osProfile": os_profile,
        "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
        "securityProfile": security,
        "diagnosticsProfile": {"bootDiagnostics": _boot_diagnostics(world, vm_spec)},
        "provisioningState": "Succeeded",
        "timeCreated": disk["properties"]["timeCreated"],
    }
    doc: dict[str, Any] = {"id": vm_id, "name": vm_spec["name"], "type": ids.VIRTUAL_MACHINES,
                           "location": normalize_location(vm_spec["location"])}
    if vm_spec.get("tags"):
        doc["tags"] = dict(vm_spec["tags"])
    if vm_spec.get("zone"):
        doc["zones"] = [str(vm_spec["zone"])]
    doc["etag"] = '"1"'
    doc["properties"] = props
    vm = VirtualMachine(doc)
    vm.power = _POWER[vm_spec["power_state"]]
    vm.provisioned_at = time.time() - 86400 * 30
    vm.hyper_v_generation = vm_spec["hyper_v_generation"]
    vm.admin_password = secrets.token_urlsafe(18)  # unknown to anyone, as a customer's password is to us
    # A VM at a stop screen never gets its agent up; a healthy one has been up for long.
    vm.guest_boots = not vm_spec.get("stop_code")
    if vm.guest_boots:
        vm.os_name, vm.os_version = image.os_name, image.os_version
        vm.agent_ready_at = time.time() - 60 if vm.power == RUNNING else None
    world.put(vm)
    mark_attached(disk, vm)
    disk["properties"]["LastOwnershipUpdateTime"] = disk["properties"]["timeCreated"]
    return vm
