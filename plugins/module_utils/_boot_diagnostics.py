# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of one VM: its state, its boot diagnostics, and the stop code in its serial log.

retrieveBootDiagnosticsData hands out SAS URLs for the screenshot and the serial log. A SAS
query string is a bearer secret: it is used for the download and never returned, logged or put
in an error message.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.vmrepair.azure.plugins.module_utils._rest_json import dig as _dig
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import (
    AzureClients,
    parse_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureInputError,
    AzureOperationError,
    redact_url,
    scrub,
    translate_azure_error,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._local_files import save_file
from ansible_collections.vmrepair.azure.plugins.module_utils._serial_log import parse_serial_log

try:
    import requests
except ImportError:  # reported by the module base through missing_required_lib
    requests = None

STOP_CODE_SOURCE = "serial_log_ems"
DOWNLOAD_TIMEOUT = 120  # seconds, per request (connect and each read)


def instance_view_state(vm: dict[str, Any], prefix: str) -> str | None:
    """'running' from an instance-view status code 'PowerState/running' (prefix 'PowerState')."""
    for status in _dig(vm, "properties", "instanceView", "statuses") or []:
        code = status.get("code") or ""
        if code.lower().startswith(prefix.lower() + "/"):
            return code.split("/", 1)[1]
    return None


def os_disk_summary(vm: dict[str, Any]) -> dict[str, Any]:
    os_disk = _dig(vm, "properties", "storageProfile", "osDisk") or {}
    managed_id = _dig(os_disk, "managedDisk", "id")
    return {
        "id": managed_id,
        "name": os_disk.get("name"),
        "managed": bool(managed_id),
    }


def boot_diagnostics_summary(vm: dict[str, Any]) -> dict[str, Any]:
    settings = _dig(vm, "properties", "diagnosticsProfile", "bootDiagnostics") or {}
    enabled = bool(settings.get("enabled"))
    storage = None
    if enabled:
        # No storageUri means managed boot diagnostics (Azure's own storage account).
        storage = "custom" if settings.get("storageUri") else "managed"
    return {"enabled": enabled, "storage": storage}


def summarize_vm(vm: dict[str, Any], os_disk: dict[str, Any] | None) -> dict[str, Any]:
    """The `vm` result of boot_diagnostics_info, from REST JSON of the VM (with instance view)
    and of its managed OS disk (None for an unmanaged disk)."""
    properties = vm.get("properties") or {}
    hyper_v_generation = _dig(os_disk, "properties", "hyperVGeneration") if os_disk else None
    if not hyper_v_generation:
        hyper_v_generation = _dig(properties, "instanceView", "hyperVGeneration")
    return {
        "id": vm.get("id"),
        "name": vm.get("name"),
        "resource_group": parse_resource_id(vm.get("id") or "")["resource_group"] or None,
        "location": vm.get("location"),
        "os_type": _dig(properties, "storageProfile", "osDisk", "osType"),
        "power_state": instance_view_state(vm, "PowerState"),
        "provisioning_state": properties.get("provisioningState"),
        "vm_size": _dig(properties, "hardwareProfile", "vmSize"),
        "zones": vm.get("zones") or [],
        "hyper_v_generation": hyper_v_generation,
        "os_disk": os_disk_summary(vm),
        "boot_diagnostics": boot_diagnostics_summary(vm),
    }


def stop_code_from_serial_log(text: str | bytes | None) -> tuple[dict[str, Any] | None, dict[str, Any], str | None]:
    """(stop_code, machine_info, reason) from the serial log's EMS BLUESCREEN record."""
    if not text:
        return None, {}, "the serial log is empty: the VM has written nothing to its serial port yet"
    parsed = parse_serial_log(text)
    if not parsed.get("stop_code"):
        return None, parsed.get("machine_info") or {}, parsed.get("reason")
    stop_code = {
        "code": parsed["stop_code"],
        "name": parsed.get("stop_code_name"),
        "source": STOP_CODE_SOURCE,
        "confidence": "certain",
    }
    return stop_code, parsed.get("machine_info") or {}, None


def download(url: str, what: str) -> bytes | None:
    """GET a SAS URL; None when the blob does not exist (yet). Errors never show the SAS."""
    safe_url = redact_url(url)
    try:
        response = requests.get(url, timeout=DOWNLOAD_TIMEOUT)
    except requests.RequestException as exc:
        text = scrub(str(exc)).replace(url, safe_url)
        raise AzureOperationError(f"Could not download the {what} from {safe_url}: {text}") from None
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise AzureOperationError(
            f"Could not download the {what} from {safe_url}: HTTP {response.status_code} "
            f"{response.headers.get('x-ms-error-code') or response.reason}"
        )
    return response.content


def collect_boot_diagnostics(
    clients: AzureClients,
    resource_group: str,
    vm_name: str,
    sas_expiry_minutes: int = 10,
    screenshot_dest: str | None = None,
    serial_log_dest: str | None = None,
    check_mode: bool = False,
) -> dict[str, Any]:
    """Everything boot_diagnostics_info returns: {'vm': ..., 'files': [...], 'changed': bool}."""
    if not 1 <= sas_expiry_minutes <= 1440:
        raise AzureInputError("sas_expiry_minutes must be between 1 and 1440")
    vm = clients.get_vm(resource_group, vm_name, instance_view=True)
    os_disk = None
    os_disk_id = _dig(vm, "properties", "storageProfile", "osDisk", "managedDisk", "id")
    if os_disk_id:
        os_disk = clients.get_by_id(os_disk_id, clients.compute.disks.get, "disk")
    summary = summarize_vm(vm, os_disk)
    summary.update({"stop_code": None, "stop_code_reason": None, "machine_info": {}})
    files: list[dict[str, Any]] = []

    if not summary["boot_diagnostics"]["enabled"]:
        summary["stop_code_reason"] = (
            "boot diagnostics are disabled on the VM: enable them (managed storage) to get the serial log "
            "and screenshot"
        )
        return {"vm": summary, "files": files, "changed": False}

    try:
        uris = clients.compute.virtual_machines.retrieve_boot_diagnostics_data(
            resource_group, vm_name, sas_uri_expiration_time_in_minutes=sas_expiry_minutes
        )
    except Exception as exc:  # pylint: disable=broad-except  # translated
        raise translate_azure_error(
            exc, action=f"retrieve boot diagnostics data of '{vm_name}'", secrets=clients.secrets
        ) from None
    serial_url = getattr(uris, "serial_console_log_blob_uri", None)
    screenshot_url = getattr(uris, "console_screenshot_blob_uri", None)

    warnings: list[str] = []
    serial_log = download(serial_url, "serial log") if serial_url else None
    if serial_log is None:
        summary["stop_code_reason"] = "the serial log is not available yet (the VM has not written one)"
        if serial_log_dest:
            warnings.append(f"Virtual machine '{vm_name}' has no serial log yet: {serial_log_dest} was not written")
    else:
        stop_code, machine_info, reason = stop_code_from_serial_log(serial_log)
        summary.update({"stop_code": stop_code, "machine_info": machine_info, "stop_code_reason": reason})
        if serial_log_dest:
            files.append(dict(save_file(serial_log_dest, serial_log, check_mode), kind="serial_log"))

    if screenshot_dest:
        screenshot = download(screenshot_url, "screenshot") if screenshot_url else None
        if screenshot is None:
            warnings.append(f"Virtual machine '{vm_name}' has no screenshot yet: {screenshot_dest} was not written")
        else:
            files.append(dict(save_file(screenshot_dest, screenshot, check_mode), kind="screenshot"))

    result = {"vm": summary, "files": files, "changed": any(f["changed"] for f in files)}
    if warnings:
        result["warnings"] = warnings
    return result
