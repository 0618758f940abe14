"""Upload each VM's screenshot and serial log to Azurite; hand out read-only SAS URLs for them.

Scenario VMs (`virtual_machines[]`) get what their spec says (stop screen or lock screen, SAC/EMS
record, or one of the variants: `screenshot`, `serial_log`, `screen_style`, `screen_size`) and are
published at start. Fleet VMs are published lazily, on their first retrieveBootDiagnosticsData,
under a lock of their own (2,000 VMs must neither upload at start nor queue behind one lock);
rendered screenshots are cached by (kind, stop code, style, size), so 200 identical stop screens
render once. A VM created during the run (a repair VM) gets a healthy console the first time its
URLs are asked for.

Blobs live in Azurite's development account (managed boot diagnostics), or for
`boot_diagnostics: custom` with `boot_diagnostics_storage_account` in that scenario account, whose
key signs the SAS.
"""
from __future__ import annotations

import re
import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..arm.network import models as network
from ..storage.accounts import account_keys
from . import screen, serial

if TYPE_CHECKING:
    from ..world import World


DEFAULT_SIZE = (800, 600)
BOOT_MANAGER_STATUS = "0xc0000017"  # "There isn't enough memory available to create a ramdisk device"
_MINUTE = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class BootDiagnosticsBlobs:
    container: str
    screenshot: str
    serial_log: str
    account: str | None = None  # a scenario storage account; None: Azurite's development account


def _vm_guid(world: "World", vm_id: str) -> str:
    resource = world.get(vm_id)
    vm_guid = ((resource or {}).get("properties") or {}).get("vmId")
    return str(vm_guid or uuid.uuid5(uuid.NAMESPACE_URL, vm_id.lower()))


def blob_names(vm_name: str, vm_guid: str, account: str | None = None) -> BootDiagnosticsBlobs:
    """Azure's managed boot-diagnostics naming: bootdiagnostics-<name>-<vmId>/<name>.<vmId>.screenshot.bmp."""
    short = re.sub(r"[^a-z0-9]", "", vm_name.lower())[:9] or "vm"
    return BootDiagnosticsBlobs(container=f"bootdiagnostics-{short}-{vm_guid}",
                                screenshot=f"{vm_name}.{vm_guid}.screenshot.bmp",
                                serial_log=f"{vm_name}.{vm_guid}.serialconsole.log", account=account)


# ---- screenshots ------------------------------------------------------------------------------


@lru_cache(maxsize=64)  # a 800x600 BMP is 1.4 MB: 64 distinct screens are plenty for any fleet
def render_screenshot(kind: str, stop_code: str | None, style: str | None, size: tuple[int, int],
                      minute: str | None = None) -> bytes:
    """The BMP of a Windows console; cached, so identical screens of a fleet render once. `minute`
    ("YYYY-MM-DD HH:MM") keys the lock screen, whose clock shows it."""
    if kind == "stop":
        styled = {"style": style} if style else {}  # no style: the renderer's default
        return screen.stop_screen(stop_code, percent=100, size=size, **styled)
    if kind == "lock":
        return screen.lock_screen(datetime.strptime(minute, _MINUTE) if minute else None, size=size)
    if kind == "boot_manager":
        return screen.boot_manager_screen(status=BOOT_MANAGER_STATUS, size=size)
    if kind == "blank":
        return screen.blank_screen(size)
    raise ValueError(f"no screenshot kind {kind!r}")


def _screenshot(spec: dict[str, Any], serial_text: str) -> bytes | None:
    kind = spec.get("screenshot") or "auto"
    size = tuple(spec.get("screen_size") or DEFAULT_SIZE)
    if kind == "none":
        return None  # no screenshot written yet: the SAS URL answers 404 BlobNotFound
    if kind == "auto" and spec["os_type"] == "Linux":
        return screen.linux_console(serial_text.split("\r\n"), size=size)  # not cached: it shows the VM's name
    if kind == "auto":
        kind = "stop" if spec["stop_code"] else "lock"
    minute = datetime.now().strftime(_MINUTE) if kind == "lock" else None
    return render_screenshot(kind, spec["stop_code"] if kind == "stop" else None, spec.get("screen_style"), size,
                             minute)


# ---- serial logs -------------------------------------------------------------------------------


def _private_ip(world: "World", vm_id: str) -> str:
    resource = world.get(vm_id) or {}
    for ref in (((resource.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []):
        nic = world.get(ref["id"])
        if nic is not None:
            return network.primary_private_ip(nic)
    return "0.0.0.0"


def _console_text(world: "World", vm_id: str, spec: dict[str, Any]) -> str:
    """What the VM's console shows in its normal course (the `auto` serial log)."""
    if spec["os_type"] == "Linux":
        return serial.linux_log(spec["computer_name"], spec["product"])
    return serial.windows_log(spec["stop_code"], spec["ems"], spec["computer_name"], _vm_guid(world, vm_id),
                              spec["os_build"], spec["product"], _private_ip(world, vm_id))


def content_for_spec(world: "World", vm_id: str, spec: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
    """(screenshot BMP, serial log bytes) of a VM; None = that blob is not written (variant `none`)."""
    text = _console_text(world, vm_id, spec)
    shot = _screenshot(spec, text)
    variant = spec.get("serial_log") or "auto"
    if variant == "none":
        serial_log = None
    elif variant == "empty":
        serial_log = b""
    elif variant == "garbage":
        serial_log = serial.garbage_log(vm_id.lower(), spec["stop_code"])
    else:
        serial_log = text.encode("utf-8")
    return shot, serial_log


# ---- where the blobs go ----------------------------------------------------------------------------


def _spec_from_resource(world: "World", resource: dict[str, Any]) -> dict[str, Any]:
    """A VM created during the run: a healthy console, in the account its storageUri names (if any)."""
    props = resource.get("properties") or {}
    os_type = ((props.get("storageProfile") or {}).get("osDisk") or {}).get("osType") or "Windows"
    image = (props.get("storageProfile") or {}).get("imageReference") or {}
    windows = os_type.lower() == "windows"
    storage_uri = ((props.get("diagnosticsProfile") or {}).get("bootDiagnostics") or {}).get("storageUri")
    return {
        "os_type": "Windows" if windows else "Linux",
        "computer_name": (props.get("osProfile") or {}).get("computerName") or resource["name"].upper()[:15],
        "stop_code": None,
        "ems": windows,
        "os_build": "20348" if windows else "",
        "product": "Windows Server 2022 Datacenter" if windows else
        f"{image.get('offer', 'Linux')} {image.get('sku', '')}".strip(),
        "boot_diagnostics": "custom" if storage_uri else "managed",
        "boot_diagnostics_storage_account": _scenario_account(world, storage_uri),
    }


def _scenario_account(world: "World", storage_uri: str | None) -> str | None:
    """The scenario storage account whose Azurite endpoint `storage_uri` is, else None."""
    if not storage_uri or world.blob is None:
        return None
    names = {a["name"] for a in world.scenario.storage_accounts}
    first = urlsplit(storage_uri).path.strip("/").split("/")[0]
    return first if first in names and storage_uri.startswith(world.blob.blob_endpoint(first)) else None


class _Publisher:
    """Per world: the scenario VMs' specs by id, a lock per VM, one blob client per account."""

    def __init__(self, world: "World") -> None:
        self.specs: dict[str, dict[str, Any]] = {}
        for vm in world.scenario.virtual_machines:
            vm_id = (f"/subscriptions/{world.subscription_id}/resourceGroups/{vm['resource_group']}/providers/"
                     f"Microsoft.Compute/virtualMachines/{vm['name']}")
            self.specs[vm_id.lower()] = {**vm, "id": vm_id}
        self._guard = threading.Lock()
        self._vm_locks: dict[str, threading.Lock] = {}
        self._clients: dict[str | None, Any] = {}

    def vm_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._vm_locks.setdefault(key, threading.Lock())

    def client(self, world: "World", account: str | None) -> Any:
        with self._guard:
            if account not in self._clients:
                key = None if account is None else account_keys(world.subscription_id, account)[0]
                self._clients[account] = world.blob.service_client(account, key)
            return self._clients[account]


_publishers: "weakref.WeakKeyDictionary[World, _Publisher]" = weakref.WeakKeyDictionary()
_publishers_lock = threading.Lock()


def _publisher(world: "World") -> _Publisher:
    with _publishers_lock:
        publisher = _publishers.get(world)
        if publisher is None:
            publisher = _publishers[world] = _Publisher(world)
        return publisher


def _upload(world: "World", blobs: BootDiagnosticsBlobs, screenshot: bytes | None,
            serial_log: bytes | None) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    container = _publisher(world).client(world, blobs.account).get_container_client(blobs.container)
    try:
        container.create_container()
    except ResourceExistsError:
        pass
    if screenshot is not None:
        container.upload_blob(blobs.screenshot, screenshot, overwrite=True,
                              content_settings=ContentSettings(content_type="image/bmp"))
    if serial_log is not None:
        container.upload_blob(blobs.serial_log, serial_log, overwrite=True,
                              content_settings=ContentSettings(content_type="text/plain"))


def publish_vm(world: "World", vm_id: str, spec: dict[str, Any], vm_name: str) -> BootDiagnosticsBlobs:
    account = spec.get("boot_diagnostics_storage_account") if spec.get("boot_diagnostics") == "custom" else None
    blobs = blob_names(vm_name, _vm_guid(world, vm_id), account)
    shot, serial_log = content_for_spec(world, vm_id, spec)
    _upload(world, blobs, shot, serial_log)
    world.bootdiag[vm_id.lower()] = blobs
    return blobs


def _point_custom_storage_at_azurite(world: "World") -> None:
    """Seeding ran before Azurite was attached: custom-storage VMs get their account's real endpoint."""
    from ..arm.compute.seed import boot_diagnostics_storage_uri

    with world.lock:
        for key, spec in _publisher(world).specs.items():
            if spec["boot_diagnostics"] != "custom":
                continue
            resource = world.get(key)
            settings = ((resource or {}).get("properties") or {}).get("diagnosticsProfile", {}).get("bootDiagnostics")
            if settings is not None:
                settings["storageUri"] = boot_diagnostics_storage_uri(world, spec)


def publish_all(world: "World") -> None:
    """At start: the blobs of every `virtual_machines[]` VM whose boot diagnostics are on (fleet VMs
    are published on their first retrieveBootDiagnosticsData)."""
    if world.blob is None:
        return
    _point_custom_storage_at_azurite(world)
    for spec in _publisher(world).specs.values():
        if spec["boot_diagnostics"] != "disabled" and not spec.get("fleet"):
            with _publisher(world).vm_lock(spec["id"].lower()):
                publish_vm(world, spec["id"], spec, spec["name"])


def urls_for(world: "World", vm_id: str, expiry_minutes: float = 120) -> tuple[str, str]:
    """(screenshot SAS URL, serial log SAS URL), read-only, expiring in `expiry_minutes` (may be <= 0:
    already expired); KeyError if the VM has none. Publishes the VM's blobs first if need be."""
    if world.blob is None:
        raise KeyError("blob storage (Azurite) is not running")
    publisher = _publisher(world)
    key = vm_id.lower()
    spec = publisher.specs.get(key)
    if spec is not None and spec["boot_diagnostics"] == "disabled":
        raise KeyError(f"boot diagnostics are disabled for {vm_id}")
    blobs = world.bootdiag.get(key)
    if blobs is None:
        with publisher.vm_lock(key):  # one upload per VM; other VMs publish in parallel
            blobs = world.bootdiag.get(key)
            if blobs is None:
                resource = world.get(vm_id)
                if resource is None:
                    raise KeyError(f"no virtual machine {vm_id}")
                if spec is None:
                    spec = _spec_from_resource(world, resource)
                blobs = publish_vm(world, resource["id"], spec, resource["name"])
    account_key = None if blobs.account is None else account_keys(world.subscription_id, blobs.account)[0]
    return tuple(world.blob.blob_sas_url(blobs.container, blob, expiry_minutes, account_name=blobs.account,
                                         account_key=account_key)
                 for blob in (blobs.screenshot, blobs.serial_log))  # type: ignore[return-value]


def blob_uris(world: "World", vm: dict[str, Any]) -> dict[str, str] | None:
    """The instance view's bootDiagnostics of a custom-storage VM: its blob URLs without SAS, computed
    (not published: a VM list must not upload anything). None for managed storage or without Azurite."""
    settings = ((vm.get("properties") or {}).get("diagnosticsProfile") or {}).get("bootDiagnostics") or {}
    if world.blob is None or not settings.get("enabled") or not settings.get("storageUri"):
        return None
    spec = _publisher(world).specs.get(vm["id"].lower()) or {}
    blobs = blob_names(vm["name"], _vm_guid(world, vm["id"]))
    base = f"{settings['storageUri'].rstrip('/')}/{blobs.container}"
    uris = {}
    if spec.get("screenshot") != "none":
        uris["consoleScreenshotBlobUri"] = f"{base}/{blobs.screenshot}"
    if spec.get("serial_log") != "none":
        uris["serialConsoleLogBlobUri"] = f"{base}/{blobs.serial_log}"
    return uris
