"""Upload each VM's screenshot and serial log to Azurite; hand out read-only SAS URLs for them.

Scenario VMs get what their spec says (stop screen or lock screen, SAC/EMS record). A VM created
during the run (a repair VM) gets a healthy console the first time its URLs are asked for.
"""
from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..arm.network import models as network
from . import screen, serial

if TYPE_CHECKING:
    from ..world import World

_publish_lock = threading.Lock()


@dataclass(frozen=True)
class BootDiagnosticsBlobs:
    container: str
    screenshot: str
    serial_log: str


def _vm_guid(world: "World", vm_id: str) -> str:
    resource = world.get(vm_id)
    vm_guid = ((resource or {}).get("properties") or {}).get("vmId")
    return str(vm_guid or uuid.uuid5(uuid.NAMESPACE_URL, vm_id.lower()))


def blob_names(vm_name: str, vm_guid: str) -> BootDiagnosticsBlobs:
    """Azure's managed boot-diagnostics naming: bootdiagnostics-<name>-<vmId>/<name>.<vmId>.screenshot.bmp."""
    short = re.sub(r"[^a-z0-9]", "", vm_name.lower())[:9] or "vm"
    return BootDiagnosticsBlobs(container=f"bootdiagnostics-{short}-{vm_guid}",
                                screenshot=f"{vm_name}.{vm_guid}.screenshot.bmp",
                                serial_log=f"{vm_name}.{vm_guid}.serialconsole.log")


def _upload(world: "World", blobs: BootDiagnosticsBlobs, screenshot: bytes, serial_log: str) -> None:
    from azure.storage.blob import ContentSettings

    service = world.blob.service_client()
    container = service.get_container_client(blobs.container)
    if not container.exists():
        container.create_container()
    container.upload_blob(blobs.screenshot, screenshot, overwrite=True,
                          content_settings=ContentSettings(content_type="image/bmp"))
    container.upload_blob(blobs.serial_log, serial_log.encode("utf-8"), overwrite=True,
                          content_settings=ContentSettings(content_type="text/plain"))


def _private_ip(world: "World", vm_id: str) -> str:
    resource = world.get(vm_id) or {}
    for ref in (((resource.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []):
        nic = world.get(ref["id"])
        if nic is not None:
            return network.primary_private_ip(nic)
    return "0.0.0.0"


def content_for_spec(world: "World", vm_id: str, spec: dict[str, Any]) -> tuple[bytes, str]:
    guid = _vm_guid(world, vm_id)
    if spec["os_type"] == "Linux":
        log = serial.linux_log(spec["computer_name"], spec["product"])
        return screen.linux_console(log.split("\r\n")), log
    shot = screen.stop_screen(spec["stop_code"]) if spec["stop_code"] else screen.lock_screen()
    log = serial.windows_log(spec["stop_code"], spec["ems"], spec["computer_name"], guid, spec["os_build"],
                             spec["product"], _private_ip(world, vm_id))
    return shot, log


def _spec_from_resource(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("properties") or {}
    os_type = ((props.get("storageProfile") or {}).get("osDisk") or {}).get("osType") or "Windows"
    image = (props.get("storageProfile") or {}).get("imageReference") or {}
    windows = os_type.lower() == "windows"
    return {
        "os_type": "Windows" if windows else "Linux",
        "computer_name": (props.get("osProfile") or {}).get("computerName") or resource["name"].upper()[:15],
        "stop_code": None,
        "ems": windows,
        "os_build": "20348" if windows else "",
        "product": "Windows Server 2022 Datacenter" if windows else
        f"{image.get('offer', 'Linux')} {image.get('sku', '')}".strip(),
    }


def _scenario_specs(world: "World") -> dict[str, dict[str, Any]]:
    specs = {}
    for vm in world.scenario.virtual_machines:
        vm_id = (f"/subscriptions/{world.subscription_id}/resourceGroups/{vm['resource_group']}/providers/"
                 f"Microsoft.Compute/virtualMachines/{vm['name']}")
        specs[vm_id.lower()] = {**vm, "id": vm_id}
    return specs


def publish_vm(world: "World", vm_id: str, spec: dict[str, Any], vm_name: str) -> BootDiagnosticsBlobs:
    blobs = blob_names(vm_name, _vm_guid(world, vm_id))
    shot, log = content_for_spec(world, vm_id, spec)
    _upload(world, blobs, shot, log)
    world.bootdiag[vm_id.lower()] = blobs
    return blobs


def publish_all(world: "World") -> None:
    """At start: the blobs of every scenario VM whose boot diagnostics are on."""
    if world.blob is None:
        return
    for spec in _scenario_specs(world).values():
        if spec["boot_diagnostics"] != "disabled":
            publish_vm(world, spec["id"], spec, spec["name"])


def urls_for(world: "World", vm_id: str, expiry_minutes: float = 120) -> tuple[str, str]:
    """(screenshot SAS URL, serial log SAS URL), read-only, expiring; KeyError if the VM has none."""
    if world.blob is None:
        raise KeyError("blob storage (Azurite) is not running")
    key = vm_id.lower()
    with _publish_lock:
        blobs = world.bootdiag.get(key)
        if blobs is None:
            if key in _scenario_specs(world):
                raise KeyError(f"boot diagnostics are disabled for {vm_id}")
            resource = world.get(vm_id)
            if resource is None:
                raise KeyError(f"no virtual machine {vm_id}")
            blobs = publish_vm(world, resource["id"], _spec_from_resource(resource), resource["name"])
    return (world.blob.blob_sas_url(blobs.container, blobs.screenshot, expiry_minutes),
            world.blob.blob_sas_url(blobs.container, blobs.serial_log, expiry_minutes))
