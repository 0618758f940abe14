"""What happens to VMs, disks and snapshots over time: commits, completions, power, deletion.

Handlers (responses.py) validate and start operations; the state changes live here so that
the HTTP handlers, the LRO completions, the seeding and the resource-group cascade delete all
go through the same code. Every function expects the caller to hold `world.lock` unless it
says otherwise.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import ArmError
from ..network import models as network
from ..network import nsg_eval
from . import catalog, ids
from .models import (DEALLOCATED, DEALLOCATING, RUNNING, STARTING, STOPPED, STOPPING, Disk, Snapshot,
                     VirtualMachine, get_disk, mark_attached, mark_detached, sync_disk_states)
from .vm_builder import VmChange

if TYPE_CHECKING:
    from ...world import World

log = logging.getLogger(__name__)


def scaled(world: "World", duration_key: str) -> float:
    return world.lro.profile.median(duration_key) * world.knobs.latency_scale


def register(world: "World") -> None:
    """Cascade-delete hooks for the resource types of this provider (idempotent)."""
    world.register_deleter(ids.VIRTUAL_MACHINES.lower(), delete_vm_now)
    world.register_deleter(ids.DISKS.lower(), delete_disk_now)
    world.register_deleter(ids.SNAPSHOTS.lower(), delete_snapshot_now)


# ---- backing files ---------------------------------------------------------------------------------


def copy_backing_file(world: "World", source_id: str, target_id: str) -> None:
    """The target gets the source's bytes; the source is only read (DiskStore records every write)."""
    store = world.disks
    if store is None:
        return
    if source_id in store:
        store.copy(source_id, target_id, reason="copy")
    else:
        log.warning("%s has no backing file: %s gets none either", source_id, target_id)


def create_empty_backing_file(world: "World", disk: Disk) -> None:
    store = world.disks
    if store is not None and disk["id"] not in store:
        # Empty data disks are all zeros; keep the file small, the emulator never needs more than 64 MiB.
        store.create_empty(disk["id"], min(int(disk["properties"]["diskSizeGB"]) * 1024, 64) * 1024 * 1024,
                           reason="create empty")


def delete_backing_file(world: "World", resource_id: str) -> None:
    store = world.disks
    if store is not None and resource_id in store:
        store.delete(resource_id)


# ---- the simulated Windows of a repair VM -------------------------------------------------------------


def _attached_disks(world: "World", vm: VirtualMachine) -> list[Any]:
    from ...windows.machine import AttachedDisk

    result = []
    for entry in vm.props["storageProfile"].get("dataDisks", []):
        disk_id = entry["managedDisk"]["id"]
        if world.disks is not None and disk_id in world.disks:
            result.append(AttachedDisk(int(entry["lun"]), disk_id, world.disks.path(disk_id)))
    return result


def create_machine(world: "World", vm: VirtualMachine) -> None:
    """A repair VM built from a Windows image gets a simulated Windows (helper C's Machine)."""
    try:
        from ...windows.machine import Machine
    except ImportError:
        log.warning("vmrepair_emulator.windows is not available: %s has no simulated Windows", vm["name"])
        return
    nic_id = vm.props["networkProfile"]["networkInterfaces"][0]["id"]
    nic = world.get(nic_id)
    listeners = world.winrm_listeners

    def on_winrm_enabled(machine: Any, cert_pem: bytes, key_pem: bytes) -> None:
        if listeners is not None:
            _start_listener(world, nic_id, machine, cert_pem, key_pem)

    os_profile = vm.props.get("osProfile") or {}
    build = (vm.os_version or "").replace("Microsoft Windows NT 10.0.", "").split(".")[0] or "20348"
    machine = Machine(vm["name"], os_profile.get("computerName") or vm["name"],
                      network.primary_private_ip(nic) if nic else "127.0.0.1",
                      os_profile.get("adminUsername") or "", vm.admin_password or "",
                      _attached_disks(world, vm), on_winrm_enabled=on_winrm_enabled, os_build=build)
    machine.powershell_start = lambda: world.knobs.powershell_start_s
    machine.trusted_ca_file = world.tls.ca_path if world.tls is not None else None
    world.machines[vm["id"].lower()] = machine


def _start_listener(world: "World", nic_id: str, machine: Any, cert_pem: bytes, key_pem: bytes) -> None:
    """The listener on the private IP; with a public IP on the NIC also there, behind the NSG check
    (the source is the controller_address knob: the controller's connections all come from 127.0.0.1).
    The NSG is read at each connection, so rules changed later apply at once, as in Azure."""
    public = _public_address(world, nic_id)

    def admit(_client_ip: str) -> bool:
        return nsg_eval.inbound_allowed(world, nic_id, world.knobs.controller_address, 5986)

    if public:
        world.winrm_listeners.start(machine, cert_pem, key_pem, public_address=public, admit_public=admit)
    else:
        world.winrm_listeners.start(machine, cert_pem, key_pem)


def _public_address(world: "World", nic_id: str) -> str | None:
    nic = world.get(nic_id)
    config = ((nic or {}).get("properties", {}).get("ipConfigurations") or [{}])[0].get("properties") or {}
    pip = world.get(config["publicIPAddress"]["id"]) if config.get("publicIPAddress") else None
    return (pip or {}).get("properties", {}).get("ipAddress")


def sync_machine_disks(world: "World", vm: VirtualMachine) -> None:
    """The guest sees data disks arrive and leave (hot-plug), keyed by LUN."""
    machine = world.machines.get(vm["id"].lower())
    if machine is None:
        return
    wanted = {d.lun: d for d in _attached_disks(world, vm)}
    present = {d.attached.lun: d.attached for d in machine.disks() if d.attached is not None}
    for lun, attached in present.items():
        if lun not in wanted or wanted[lun].disk_id.lower() != attached.disk_id.lower():
            machine.detach_disk(lun)
    present = {d.attached.lun for d in machine.disks() if d.attached is not None}
    for lun, attached in sorted(wanted.items()):
        if lun not in present:
            machine.attach_disk(attached)


def _stop_listener(world: "World", vm: VirtualMachine) -> None:
    machine = world.machines.get(vm["id"].lower())
    if machine is not None and world.winrm_listeners is not None:
        world.winrm_listeners.stop(machine)


def _restart_listener(world: "World", vm: VirtualMachine) -> None:
    """WinRM's listener configuration survives a reboot: it comes back with the machine."""
    machine = world.machines.get(vm["id"].lower())
    certificate = getattr(machine, "winrm_certificate", None)
    if machine is not None and certificate is not None and world.winrm_listeners is not None:
        nic_id = vm.props["networkProfile"]["networkInterfaces"][0]["id"]
        _start_listener(world, nic_id, machine, certificate.cert_pem, certificate.key_pem)


# ---- create / update ---------------------------------------------------------------------------------


def commit_change(world: "World", change: VmChange, new_doc: dict[str, Any] | None = None) -> VirtualMachine:
    """Store the VM (new or updated) and its new disks; attachments take effect now (a disk is
    reserved for the VM as soon as the request is accepted), detachments when the operation ends."""
    vm = change.vm
    if new_doc is not None:
        vm.clear()
        vm.update(new_doc)
    vm.user_data = change.user_data
    world.put(vm)
    for disk in change.created_disks:
        world.put(disk)
        mark_attached(disk, vm)
    for disk in change.attach:
        mark_attached(disk, vm)
    for nic_id in change.nic_ids:
        network.attach_nic_to_vm(world, nic_id, vm["id"])
    return vm


def complete_create(world: "World", vm: VirtualMachine, change: VmChange) -> None:
    vm.props["provisioningState"] = "Succeeded"
    vm.power = RUNNING
    vm.provisioned_at = time.time()
    image = change.image
    vm.hyper_v_generation = image.hyper_v_generation if image else vm.hyper_v_generation
    if image is not None:
        vm.os_name, vm.os_version = image.os_name, image.os_version
        vm.admin_password = change.password
        agent = bool(((vm.props.get("osProfile") or {}).get("windowsConfiguration") or
                      (vm.props.get("osProfile") or {}).get("linuxConfiguration") or {}).get("provisionVMAgent", True))
        # A fresh image boots and its agent reports Ready after the profile's guest-agent time.
        vm.agent_ready_at = time.time() + scaled(world, "vm_guest_agent_ready") if agent else None
        if image.os_type == "Windows":
            create_machine(world, vm)
    else:
        # An attached OS disk boots whatever is on it; the emulator does not run it (no agent).
        vm.agent_ready_at = None
    vm.guest_boots = vm.agent_ready_at is not None
    for disk in change.created_disks:
        if disk["properties"]["creationData"]["createOption"] == "Empty":
            create_empty_backing_file(world, disk)
    sync_disk_states(world, vm)
    sync_machine_disks(world, vm)


def complete_update(world: "World", vm: VirtualMachine, change: VmChange) -> None:
    for disk in change.detach:
        if not any(ids.same(disk["id"], d) for d in vm.disk_ids()):
            mark_detached(disk)
    for nic_id in change.released_nic_ids:
        network.detach_nic_from_vm(world, nic_id)
    for disk in change.created_disks:
        if disk["properties"]["creationData"]["createOption"] == "Empty":
            create_empty_backing_file(world, disk)
    vm.props["provisioningState"] = "Succeeded"
    if any(ids.same(d["id"], vm.props["storageProfile"]["osDisk"]["managedDisk"]["id"]) for d in change.attach):
        swapped = get_disk(world, vm.props["storageProfile"]["osDisk"]["managedDisk"]["id"])
        if swapped is not None:
            vm.hyper_v_generation = swapped.props.get("hyperVGeneration")
    sync_disk_states(world, vm)
    sync_machine_disks(world, vm)


# ---- power ---------------------------------------------------------------------------------------------

POWER_ACTIONS: dict[str, tuple[str, str, str]] = {
    # action: (transitional power state, final power state, latency profile key)
    "start": (STARTING, RUNNING, "vm_start"),
    "powerOff": (STOPPING, STOPPED, "vm_power_off"),
    "deallocate": (DEALLOCATING, DEALLOCATED, "vm_deallocate"),
    "restart": (STARTING, RUNNING, "vm_restart"),
}


def require_not_deleting(vm: VirtualMachine, operation: str) -> None:
    if vm.props.get("provisioningState") == "Deleting":
        raise ArmError(409, "OperationNotAllowed",
                       f"Operation '{operation}' is not allowed on VM '{vm['name']}' since the VM is marked for "
                       "deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).")


def begin_power(world: "World", vm: VirtualMachine, action: str) -> str:
    """Check and enter the transitional state; returns the latency key."""
    require_not_deleting(vm, action)
    transitional, final, key = POWER_ACTIONS[action]
    if action == "restart" and vm.power not in (RUNNING, STARTING):
        raise ArmError(409, "OperationNotAllowed", "The operation requires the VM to be running (or set to run).")
    if action == "deallocate" and vm.power == DEALLOCATED:
        return "vm_delete_deallocated"  # nothing to release: Compute RP answers at once
    if vm.power != final or action == "restart":
        if action in ("powerOff", "deallocate", "restart"):
            _stop_listener(world, vm)
        vm.power = transitional
        vm.agent_ready_at = None  # the guest is (re)booting or going down
        sync_disk_states(world, vm)
    return key


def complete_power(world: "World", vm: VirtualMachine, action: str) -> None:
    _transitional, final, _latency_key = POWER_ACTIONS[action]
    if world.get(vm["id"]) is not vm:
        return  # deleted meanwhile
    vm.power = final
    if final == RUNNING:
        # A machine whose guest works (a repair VM, a healthy seeded VM) gets its agent back after boot.
        if vm.guest_boots:
            vm.agent_ready_at = time.time() + scaled(world, "vm_guest_agent_ready")
        _restart_listener(world, vm)
    else:
        vm.agent_ready_at = None
    sync_disk_states(world, vm)


# ---- deletion --------------------------------------------------------------------------------------------


def begin_delete_vm(world: "World", vm: VirtualMachine) -> str:
    key = "vm_delete_deallocated" if vm.power == DEALLOCATED else "vm_delete"
    vm.props["provisioningState"] = "Deleting"
    if vm.power != DEALLOCATED:
        _stop_listener(world, vm)
        vm.power = STOPPING
        vm.agent_ready_at = None
    return key


def delete_vm_now(world: "World", vm_id: str) -> None:
    """Remove the VM and honour deleteOption: Delete removes the disk/NIC, Detach releases it."""
    with world.lock:
        vm = world.get(ids.key(vm_id))
        if not isinstance(vm, VirtualMachine):
            world.remove(ids.key(vm_id))
            return
        _stop_listener(world, vm)
        world.machines.pop(vm["id"].lower(), None)
        world.remove(vm["id"])
        storage = vm.props["storageProfile"]
        for entry in [storage["osDisk"], *storage.get("dataDisks", [])]:
            disk = get_disk(world, (entry.get("managedDisk") or {}).get("id", ""))
            if disk is None or not ids.same(disk.get("managedBy"), vm["id"]):
                continue
            mark_detached(disk)
            if str(entry.get("deleteOption", "Detach")).lower() == "delete":
                delete_disk_now(world, disk["id"])
        for nic in vm.props["networkProfile"]["networkInterfaces"]:
            network.detach_nic_from_vm(world, nic["id"])
            if str((nic.get("properties") or {}).get("deleteOption", "Detach")).lower() == "delete":
                world.delete_resource(nic["id"])


def disk_in_use(world: "World", disk: Disk) -> ArmError | None:
    owner = disk.get("managedBy")
    if owner and world.get(ids.key(owner)) is not None:
        return ArmError(409, "OperationNotAllowed", f"Disk {disk['name']} is attached to VM {owner}.")
    return None


def delete_disk_now(world: "World", disk_id: str) -> None:
    with world.lock:
        disk = world.get(ids.key(disk_id))
        if disk is None:
            return
        owner = world.get(ids.key(disk["managedBy"])) if disk.get("managedBy") else None
        if isinstance(owner, VirtualMachine):
            # Cascade delete of a group: the VM goes first; a disk still held is dropped from it.
            storage = owner.props["storageProfile"]
            storage["dataDisks"] = [d for d in storage.get("dataDisks", [])
                                    if not ids.same(d["managedDisk"]["id"], disk["id"])]
        world.remove(disk["id"])
        delete_backing_file(world, disk["id"])


def delete_snapshot_now(world: "World", snapshot_id: str) -> None:
    with world.lock:
        snapshot = world.get(ids.key(snapshot_id))
        if snapshot is None:
            return
        world.remove(snapshot["id"])
        delete_backing_file(world, snapshot["id"])


# ---- disks and snapshots ------------------------------------------------------------------------------


def complete_disk_create(world: "World", target: Disk | Snapshot, source: Disk | Snapshot | None) -> dict[str, Any]:
    """Copy the data (Copy) or make an empty file (Empty); the resource becomes Succeeded."""
    if world.get(target["id"]) is not target:
        raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
    option = target["properties"]["creationData"]["createOption"].lower()
    if option == "copy" and source is not None:
        copy_backing_file(world, source["id"], target["id"])
    elif option == "empty" and isinstance(target, Disk):
        create_empty_backing_file(world, target)
    target["properties"]["provisioningState"] = "Succeeded"
    return target.to_arm()


def complete_disk_update(world: "World", target: Disk | Snapshot) -> dict[str, Any]:
    target["properties"]["provisioningState"] = "Succeeded"
    return target.to_arm()


def image_for(vm_spec: dict[str, Any]) -> catalog.PlatformImage:
    """The marketplace image a scenario VM was built from (for its imageReference and instance view)."""
    if vm_spec["os_type"] == "Linux":
        return catalog.find_image({"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                   "sku": "22_04-lts-gen2"})  # type: ignore[return-value]
    build = str(vm_spec.get("os_build") or "20348")
    sku = {"17763": "2019-datacenter", "14393": "2016-datacenter", "26100": "2025-datacenter-azure-edition"}.get(
        build, "2022-datacenter")
    if vm_spec["hyper_v_generation"] == "V2" and sku in ("2022-datacenter", "2019-datacenter"):
        sku = {"2022-datacenter": "2022-datacenter-g2", "2019-datacenter": "2019-datacenter-gensecond"}[sku]
    image = catalog.find_image({"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": sku})
    assert image is not None
    return image
