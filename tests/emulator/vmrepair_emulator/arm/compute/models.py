"""State of Microsoft.Compute resources and the rules that move it.

Each resource is a `world.Resource` (a dict holding exactly what ARM's GET returns) subclass;
what Azure keeps but never shows (a VM's admin password, its power transitions, the Run
Command in flight) lives in attributes. Callers hold `world.lock`.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...world import Resource
from ..errors import ArmError
from . import ids

if TYPE_CHECKING:
    from ...world import World
    from .runcommand import RunCommandExecution

# Power states as the instance view names them (PowerState/<code>).
RUNNING, STOPPED, DEALLOCATED = "running", "stopped", "deallocated"
STARTING, STOPPING, DEALLOCATING = "starting", "stopping", "deallocating"
POWER_DISPLAY = {
    RUNNING: "VM running", STOPPED: "VM stopped", DEALLOCATED: "VM deallocated",
    STARTING: "VM starting", STOPPING: "VM stopping", DEALLOCATING: "VM deallocating",
}


def now_iso(ts: float | None = None) -> str:
    """Azure's timestamp style: 2026-11-24T10:00:00.1234567+00:00 (7 fractional digits)."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def normalize_location(value: str) -> str:
    """ARM answers the canonical name: "West Europe" -> "westeurope"."""
    return str(value).replace(" ", "").lower()


class Disk(Resource):
    """A managed disk (Microsoft.Compute/disks)."""

    @property
    def props(self) -> dict[str, Any]:
        return self["properties"]

    @property
    def zone(self) -> str | None:
        zones = self.get("zones") or []
        return zones[0] if zones else None

    @property
    def managed_by(self) -> str | None:
        return self.get("managedBy")


class Snapshot(Resource):
    """A snapshot (Microsoft.Compute/snapshots); its data is a frozen copy of the source disk."""

    @property
    def props(self) -> dict[str, Any]:
        return self["properties"]


class VirtualMachine(Resource):
    """A virtual machine. `power` is the PowerState code; `machine` is set for simulated Windows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.admin_password: str | None = None
        self.power: str = STARTING
        self.provisioned_at: float | None = None  # when provisioningState became Succeeded
        # The guest agent: Ready from this time on; None = never (a VM stuck at a stop screen).
        self.agent_ready_at: float | None = None
        self.guest_boots: bool = False  # its OS comes up after a (re)start: a repair VM, a healthy VM
        self.os_name: str | None = None
        self.os_version: str | None = None
        self.hyper_v_generation: str | None = None  # of the OS disk, shown in the instance view
        self.run_command: "RunCommandExecution | None" = None
        self.user_data: str | None = None  # base64; GET shows it only with $expand=userData

    @property
    def props(self) -> dict[str, Any]:
        return self["properties"]

    @property
    def zone(self) -> str | None:
        zones = self.get("zones") or []
        return zones[0] if zones else None

    @property
    def os_type(self) -> str:
        return self.props["storageProfile"]["osDisk"].get("osType") or "Windows"

    def agent_ready(self) -> bool:
        return (self.power == RUNNING and self.agent_ready_at is not None
                and time.time() >= self.agent_ready_at)

    def disk_ids(self) -> list[str]:
        storage = self.props["storageProfile"]
        found = [storage["osDisk"].get("managedDisk", {}).get("id")]
        found += [d.get("managedDisk", {}).get("id") for d in storage.get("dataDisks", [])]
        return [d for d in found if d]


# ---- disks and VMs -----------------------------------------------------------------------------


def disk_state_for(power: str) -> str:
    """What Disk RP shows for a disk attached to a VM in this power state."""
    return "Reserved" if power in (DEALLOCATED, DEALLOCATING) else "Attached"


def get_disk(world: "World", disk_id: str) -> Disk | None:
    found = world.get(ids.key(disk_id))
    return found if isinstance(found, Disk) else None


def require_attachable(disk: Disk | None, disk_id: str, vm_id: str, vm_location: str, vm_zone: str | None) -> Disk:
    """Compute RP's checks before a disk joins a VM (create, data disk attach, OS disk swap)."""
    if disk is None or disk["location"] != vm_location:
        # Compute RP looks disks up in the VM's region only.
        raise ArmError(404, "NotFound", "The entity was not found in this Azure location.", target=disk_id)
    owner = disk.get("managedBy")
    if owner and not ids.same(owner, vm_id):
        raise ArmError(400, "ConflictingUserInput",
                       f"Cannot attach the disk {disk['name']} to VM {vm_id} because it is already attached to "
                       f"VM {owner}. A disk can be attached to only one VM at a time.")
    if disk.props.get("provisioningState") not in ("Succeeded", None):
        raise ArmError(409, "OperationNotAllowed",
                       f"Disk {disk['name']} cannot be attached because it is in the "
                       f"'{disk.props.get('provisioningState')}' state.")
    if vm_zone is not None and disk.zone != vm_zone:
        if disk.zone is None:
            message = f"Disk {disk['id']} cannot be attached to the VM because it is not in zone '{vm_zone}'."
        else:
            message = (f"Disk {disk['id']} cannot be attached to the VM because it is not in the same zone as the "
                       f"VM. VM zone: '{vm_zone}'. Disk zone: '{disk.zone}'.")
        raise ArmError(400, "BadRequest", message)
    if vm_zone is None and disk.zone is not None:
        raise ArmError(400, "BadRequest",
                       f"Disk {disk['id']} cannot be attached to the VM because it is not in the same zone as the VM. "
                       f"VM zone: ''. Disk zone: '{disk.zone}'.")
    return disk


def mark_attached(disk: Disk, vm: VirtualMachine) -> None:
    changed = not ids.same(disk.get("managedBy"), vm["id"])
    disk["managedBy"] = vm["id"]
    disk.props["diskState"] = disk_state_for(vm.power)
    if changed:
        disk.props["LastOwnershipUpdateTime"] = now_iso()


def mark_detached(disk: Disk) -> None:
    if disk.get("managedBy"):
        disk.pop("managedBy", None)
        disk.props["diskState"] = "Unattached"
        disk.props["LastOwnershipUpdateTime"] = now_iso()


def sync_disk_states(world: "World", vm: VirtualMachine) -> None:
    """After a power change: Attached while allocated, Reserved while deallocated."""
    for disk_id in vm.disk_ids():
        disk = get_disk(world, disk_id)
        if disk is not None and ids.same(disk.get("managedBy"), vm["id"]):
            disk.props["diskState"] = disk_state_for(vm.power)


def new_unique_id() -> str:
    return str(uuid.uuid4())


# ---- the interface seeding.py and world use (implemented in lifecycle.py / seed.py) -------------------


def register(world: "World") -> None:
    """Cascade-delete hooks for VMs, disks and snapshots (idempotent)."""
    from .lifecycle import register as _register

    _register(world)


def seed_disk(world: "World", vm_spec: dict[str, Any], os_disk_id: str) -> Disk:
    """The OS disk resource of a scenario VM (see seed.py)."""
    from .seed import seed_disk as _seed_disk

    return _seed_disk(world, vm_spec, os_disk_id)


def seed_vm(world: "World", vm_spec: dict[str, Any], nic_id: str, os_disk_id: str) -> VirtualMachine:
    """The VM resource of a scenario VM, holding its OS disk and NIC (see seed.py)."""
    from .seed import seed_vm as _seed_vm

    return _seed_vm(world, vm_spec, nic_id, os_disk_id)
