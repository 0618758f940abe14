"""The VM instance view (GET .../instanceView, GET ?$expand=instanceView) as Compute RP builds it.

What the guest reports (computerName, osName, osVersion, a Ready agent) appears only once
the VM agent has reported; a VM stuck at a stop screen never gets there, so its agent stays
"Not Ready" — which is how an operator sees a broken VM in the portal.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .models import DEALLOCATED, POWER_DISPLAY, RUNNING, STOPPED, VirtualMachine, get_disk, now_iso

if TYPE_CHECKING:
    from ...world import World

AGENT_VERSION = "2.7.41491.1183"
_PROVISIONING_DISPLAY = {"succeeded": "Provisioning succeeded", "creating": "Creating", "updating": "Updating",
                         "deleting": "Deleting", "failed": "Provisioning failed"}


def _status(code: str, display: str, level: str = "Info", message: str | None = None,
            when: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"code": code, "level": level, "displayStatus": display}
    if message is not None:
        status["message"] = message
    if when is not None:
        status["time"] = when
    return status


def _vm_agent(vm: VirtualMachine) -> dict[str, Any] | None:
    if vm.power == DEALLOCATED:
        return None
    if vm.agent_ready():
        return {"vmAgentVersion": AGENT_VERSION,
                "statuses": [_status("ProvisioningState/succeeded", "Ready",
                                     message="GuestAgent is running and processing the extensions.", when=now_iso())],
                "extensionHandlers": []}
    if vm.agent_ready_at is None or vm.power == STOPPED:
        message = "VM Agent is unresponsive."
    else:
        message = "VM status blob is found but not yet populated."
    return {"vmAgentVersion": "Unknown",
            "statuses": [_status("ProvisioningState/Unavailable", "Not Ready", level="Warning", message=message,
                                 when=now_iso())]}


def _disk_views(world: "World", vm: VirtualMachine) -> list[dict[str, Any]]:
    storage = vm.props["storageProfile"]
    views = []
    for entry in [storage["osDisk"], *storage.get("dataDisks", [])]:
        disk = get_disk(world, (entry.get("managedDisk") or {}).get("id", ""))
        when = disk.props.get("LastOwnershipUpdateTime") or disk.props.get("timeCreated") if disk else None
        views.append({"name": entry["name"],
                      "statuses": [_status("ProvisioningState/succeeded", "Provisioning succeeded", when=when)]})
    return views


def _boot_diagnostics(world: "World", vm: VirtualMachine) -> dict[str, Any] | None:
    """Only custom storage shows blob URIs here; managed storage answers through retrieveBootDiagnosticsData.
    The URIs are computed, not published, so that listing 2,000 VMs uploads nothing."""
    try:
        from ...bootdiag import blob_uris
    except ImportError:
        return None
    return blob_uris(world, vm) or None


def build(world: "World", vm: VirtualMachine) -> dict[str, Any]:
    view: dict[str, Any] = {}
    allocated = vm.power != DEALLOCATED
    if allocated:
        view["platformUpdateDomain"] = 0
        view["platformFaultDomain"] = 0
    if vm.agent_ready():
        os_profile = vm.props.get("osProfile") or {}
        view["computerName"] = os_profile.get("computerName") or vm["name"]
        if vm.os_name:
            view["osName"] = vm.os_name
        if vm.os_version:
            view["osVersion"] = vm.os_version
    agent = _vm_agent(vm)
    if agent is not None:
        view["vmAgent"] = agent
    view["disks"] = _disk_views(world, vm)
    boot = _boot_diagnostics(world, vm)
    if boot:
        view["bootDiagnostics"] = boot
    if vm.hyper_v_generation:
        view["hyperVGeneration"] = vm.hyper_v_generation
    view["isVMInStandbyPool"] = False
    state = str(vm.props.get("provisioningState", "Succeeded")).lower()
    statuses = [_status(f"ProvisioningState/{state}", _PROVISIONING_DISPLAY.get(state, state.title()),
                        when=now_iso(vm.provisioned_at) if state == "succeeded" and vm.provisioned_at else None)]
    if state != "deleting" or vm.power != DEALLOCATED:
        statuses.append(_status(f"PowerState/{vm.power}", POWER_DISPLAY[vm.power]))
    view["statuses"] = statuses
    return view


def agent_wait_seconds(vm: VirtualMachine) -> float | None:
    """Seconds until the agent is Ready (0 if it is); None if it never will be in this power cycle."""
    if vm.power != RUNNING or vm.agent_ready_at is None:
        return None
    return max(0.0, vm.agent_ready_at - time.time())
