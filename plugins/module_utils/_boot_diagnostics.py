# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of one VM: its state, its boot diagnostics, and its stop code.

The stop code comes from the serial log's EMS record (certain) or, when there is none, from OCR of
the screenshot (never certain). retrieveBootDiagnosticsData hands out SAS URLs for both. A SAS
query string is a bearer secret: it is used for the download and never returned, logged or put
in an error message. What cannot be read (no blob yet, an expired SAS, garbage) becomes a reason
in the result, never an exception and never a guessed stop code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from ansible_collections.vmrepair.azure.plugins.module_utils._rest_json import dig as _dig
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import (
    AzureClients,
    parse_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureInputError,
    redact_url,
    scrub,
    translate_azure_error,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._local_files import save_file
from ansible_collections.vmrepair.azure.plugins.module_utils._screen_ocr import read_screenshot, to_png
from ansible_collections.vmrepair.azure.plugins.module_utils._serial_log import parse_serial_log
from ansible_collections.vmrepair.azure.plugins.module_utils._triage_verdict import decide, next_steps

try:
    import requests
except ImportError:  # reported by the module base through missing_required_lib
    requests = None

STOP_CODE_SOURCE = "serial_log_ems"
DOWNLOAD_TIMEOUT = 120  # seconds, per request (connect and each read)
OCR_CHOICES = ("auto", "always", "never")
THUMBNAIL_WIDTH = 240  # pixels: small enough for a fleet report of hundreds of VMs
THUMBNAIL_COLORS = 32  # a palette keeps a thumbnail of a stop screen to a few KB, its text still legible
# Azure returns the console screenshot at the VM's console resolution; a few MB bounds any real one.
MAX_SCREENSHOT_BYTES = 16 * 1024 * 1024
MAX_SERIAL_LOG_BYTES = 64 * 1024 * 1024


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
    parts = parse_resource_id(vm.get("id") or "")
    return {
        "id": vm.get("id"),
        "name": vm.get("name"),
        "resource_group": parts["resource_group"] or None,
        "subscription_id": parts["subscription"] or None,
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


def read_serial_log(text: str | bytes | None) -> dict[str, Any]:
    """{stop_code, machine_info, reason, records, booted_since} from a serial log's EMS record."""
    if not text:
        return {"stop_code": None, "machine_info": {}, "records": 0, "booted_since": False, "ems": False,
                "reason": "the serial log is empty: the VM has written nothing to its serial port yet"}
    parsed = parse_serial_log(text)
    reading = {"stop_code": None, "machine_info": parsed.get("machine_info") or {}, "reason": parsed.get("reason"),
               "records": parsed["record_count"], "booted_since": parsed["booted_since"], "ems": parsed["ems"]}
    if parsed["ems"] and not parsed["record_count"]:
        reading["reason"] = ("EMS is on (the serial log shows SAC starting) and Windows recorded no stop since it "
                             "booted")
    if parsed.get("stop_code"):
        reading["stop_code"] = {
            "code": parsed["stop_code"],
            "name": parsed.get("stop_code_name"),
            "source": STOP_CODE_SOURCE,
            "confidence": "certain",
        }
        reading["reason"] = None
    return reading


def fetch_blob(url: str, what: str, session: Any = None, limit: int = MAX_SCREENSHOT_BYTES) -> tuple[bytes | None, str | None]:
    """(content, None), or (None, why not) for a blob that is missing, refused or too large.

    Errors never show the SAS: only the URL without its query string."""
    safe_url = redact_url(url)
    getter = session or requests
    try:
        response = getter.get(url, timeout=DOWNLOAD_TIMEOUT, stream=True)
    except requests.RequestException as exc:
        text = scrub(str(exc)).replace(url, safe_url)
        return None, f"the {what} could not be downloaded from {safe_url}: {text}"
    with response:
        code = response.headers.get("x-ms-error-code") or response.reason
        if response.status_code == 404:
            return None, f"there is no {what} yet (the VM has not written one)"
        if response.status_code in (401, 403):
            return None, (f"the {what} download was refused (HTTP {response.status_code} {code}): the SAS link has "
                          "expired or is not valid; re-run to get a fresh one")
        if response.status_code >= 400:
            return None, f"the {what} could not be downloaded from {safe_url}: HTTP {response.status_code} {code}"
        content = bytearray()
        for block in response.iter_content(1 << 16):
            content += block
            if len(content) > limit:
                return None, f"the {what} is larger than {limit} bytes: not a boot-diagnostics {what}"
    return bytes(content), None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _evidence(data: bytes | None, reason: str | None) -> dict[str, Any]:
    if data is None:
        return {"available": False, "size": None, "sha256": None, "reason": reason}
    return {"available": True, "size": len(data), "sha256": _digest(data), "reason": reason}


def _screen_summary(reading: dict[str, Any]) -> dict[str, Any]:
    image = reading.get("image") or {}
    return {"kind": reading.get("screen"), "status_code": reading.get("status_code"), "text": reading.get("text"),
            "width": image.get("width"), "height": image.get("height"), "ocr": reading.get("ocr")}


def retrieve_urls(clients: AzureClients, resource_group: str, vm_name: str, sas_expiry_minutes: int,
                  **kwargs: Any) -> tuple[str | None, str | None]:
    """(screenshot URL, serial log URL) from retrieveBootDiagnosticsData; Azure errors translated."""
    try:
        uris = clients.compute.virtual_machines.retrieve_boot_diagnostics_data(
            resource_group, vm_name, sas_uri_expiration_time_in_minutes=sas_expiry_minutes, **kwargs
        )
    except Exception as exc:  # pylint: disable=broad-except  # translated
        raise translate_azure_error(
            exc, action=f"retrieve boot diagnostics data of '{vm_name}'", secrets=clients.secrets
        ) from None
    return getattr(uris, "console_screenshot_blob_uri", None), getattr(uris, "serial_console_log_blob_uri", None)


@dataclass
class TriageOutcome:
    """The triage summary of one VM; the downloaded blobs ride along for saving, never returned."""

    summary: dict[str, Any]
    serial_log: bytes | None = None
    screenshot: bytes | None = None


def triage_vm(
    clients: AzureClients,
    vm: dict[str, Any],
    os_disk: dict[str, Any] | None = None,
    sas_expiry_minutes: int = 10,
    ocr: str = "auto",
    keep_screenshot: bool = False,
    session: Any = None,
    trust_ems_silence: bool = False,
    before_request: Callable[[], Any] | None = None,
    **retrieve_kwargs: Any,
) -> TriageOutcome:
    """Triage one VM given its REST JSON (with instance view). One ARM request at most
    (retrieveBootDiagnosticsData), none for a non-Windows VM or with boot diagnostics off.

    trust_ems_silence: with ocr=auto, take a serial log that shows EMS on and no stop record as "no stop
    since boot" without reading the screenshot. A fleet triage saves a CPU second per healthy VM; it misses
    a VM that hangs before Windows starts (a boot manager error), which reading the screen would show.
    before_request: called just before the ARM request, if one is made (a fleet's pacing)."""
    summary = summarize_vm(vm, os_disk)
    outcome = TriageOutcome(summary)
    summary.update({"stop_code": None, "stop_code_reason": None, "machine_info": {}, "screen": None,
                    "evidence": {"serial_log": _evidence(None, "not read"), "screenshot": _evidence(None, "not read")}})
    if (summary.get("os_type") or "").lower() != "windows":
        summary.update({"triage_status": "not_windows",
                        "stop_code_reason": f"the VM runs {summary.get('os_type') or 'an unknown OS'}, not Windows"})
        summary["next_steps"] = next_steps(summary)
        return outcome
    if not summary["boot_diagnostics"]["enabled"]:
        reason = ("boot diagnostics are disabled on the VM: enable them (managed storage) to get the serial log "
                  "and screenshot")
        summary.update({"triage_status": "unknown", "stop_code_reason": reason})
        summary["evidence"] = {"serial_log": _evidence(None, reason), "screenshot": _evidence(None, reason)}
        summary["next_steps"] = next_steps(summary)
        return outcome

    if before_request is not None:
        before_request()
    screenshot_url, serial_url = retrieve_urls(clients, summary["resource_group"], summary["name"],
                                               sas_expiry_minutes, **retrieve_kwargs)
    serial_bytes, serial_failure = (fetch_blob(serial_url, "serial log", session, MAX_SERIAL_LOG_BYTES) if serial_url
                                    else (None, "Azure returned no serial log link"))
    serial = read_serial_log(serial_bytes) if serial_bytes is not None else {
        "stop_code": None, "machine_info": {}, "records": 0, "booted_since": False, "ems": False,
        "reason": serial_failure}
    summary["machine_info"] = serial["machine_info"]
    summary["evidence"]["serial_log"] = dict(_evidence(serial_bytes, serial["reason"]), records=serial["records"],
                                             booted_since=serial["booted_since"])
    outcome.serial_log = serial_bytes

    # OCR costs up to a CPU second: in auto mode only where the serial log cannot tell, i.e. not when EMS
    # recorded the stop (nor, if trusted, when EMS is on and recorded none: Windows would have written one).
    serial_tells = bool(serial["stop_code"]) or (trust_ems_silence and serial["ems"] and not serial["records"])
    read_screen = ocr == "always" or (ocr == "auto" and (not serial_tells or serial["booted_since"]))
    screen = None
    if read_screen or keep_screenshot:
        shot, shot_failure = (fetch_blob(screenshot_url, "screenshot", session) if screenshot_url
                              else (None, "Azure returned no screenshot link"))
        outcome.screenshot = shot
        summary["evidence"]["screenshot"] = _evidence(shot, shot_failure)
        if read_screen:
            if shot is None:
                screen = {"screen": None, "stop_code": None, "reason": shot_failure}
            else:
                screen = read_screenshot(shot)
                summary["screen"] = _screen_summary(screen)
                summary["evidence"]["screenshot"]["reason"] = screen.get("reason")
    summary.update(decide(serial, screen))
    summary["next_steps"] = next_steps(summary)
    return outcome


def _save_artifacts(outcome: TriageOutcome, vm_name: str, dests: dict[str, str | None],
                    check_mode: bool) -> tuple[list[dict[str, Any]], list[str]]:
    files: list[dict[str, Any]] = []
    warnings: list[str] = []
    if dests.get("serial_log"):
        if outcome.serial_log is None:
            warnings.append(f"Virtual machine '{vm_name}' has no serial log to save: {dests['serial_log']} was not "
                            "written")
        else:
            files.append(dict(save_file(dests["serial_log"], outcome.serial_log, check_mode), kind="serial_log"))
    wanted = [kind for kind in ("screenshot", "screenshot_png", "screenshot_thumbnail") if dests.get(kind)]
    if wanted and outcome.screenshot is None:
        warnings.append(f"Virtual machine '{vm_name}' has no screenshot to save: "
                        f"{', '.join(str(dests[k]) for k in wanted)} not written")
        return files, warnings
    for kind in wanted:
        data = outcome.screenshot
        if kind != "screenshot":
            try:
                data = (to_png(data, THUMBNAIL_WIDTH, THUMBNAIL_COLORS) if kind == "screenshot_thumbnail"
                        else to_png(data))
            except ValueError as error:
                warnings.append(f"Virtual machine '{vm_name}': {dests[kind]} not written: {error}")
                continue
        files.append(dict(save_file(dests[kind], data, check_mode), kind=kind))
    return files, warnings


def collect_boot_diagnostics(
    clients: AzureClients,
    resource_group: str,
    vm_name: str,
    sas_expiry_minutes: int = 10,
    screenshot_dest: str | None = None,
    serial_log_dest: str | None = None,
    check_mode: bool = False,
    screenshot_png_dest: str | None = None,
    screenshot_thumbnail_dest: str | None = None,
    ocr: str = "auto",
) -> dict[str, Any]:
    """Everything boot_diagnostics_info returns: {'vm': ..., 'files': [...], 'changed': bool}."""
    if not 1 <= sas_expiry_minutes <= 1440:
        raise AzureInputError("sas_expiry_minutes must be between 1 and 1440")
    if ocr not in OCR_CHOICES:
        raise AzureInputError(f"ocr must be one of {', '.join(OCR_CHOICES)}, not {ocr!r}")
    vm = clients.get_vm(resource_group, vm_name, instance_view=True)
    os_disk = None
    os_disk_id = _dig(vm, "properties", "storageProfile", "osDisk", "managedDisk", "id")
    if os_disk_id:
        os_disk = clients.get_by_id(os_disk_id, clients.compute.disks.get, "disk")
    dests = {"serial_log": serial_log_dest, "screenshot": screenshot_dest, "screenshot_png": screenshot_png_dest,
             "screenshot_thumbnail": screenshot_thumbnail_dest}
    keep_screenshot = any(dests[k] for k in ("screenshot", "screenshot_png", "screenshot_thumbnail"))
    outcome = triage_vm(clients, vm, os_disk, sas_expiry_minutes=sas_expiry_minutes, ocr=ocr,
                        keep_screenshot=keep_screenshot)
    files, warnings = _save_artifacts(outcome, vm_name, dests, check_mode)
    result = {"vm": outcome.summary, "files": files, "changed": any(f["changed"] for f in files)}
    if warnings:
        result["warnings"] = warnings
    return result
