"""GET /subscriptions/{sub}/providers/Microsoft.Compute/skus: what the emulated regions offer."""
from __future__ import annotations

import re
from typing import Any

from . import catalog


ZONES = ["1", "2", "3"]


def restrictions(scenario_restrictions: list[dict[str, Any]], size_name: str, location: str) -> list[dict[str, Any]]:
    """The `restrictions[]` Azure lists for one size in one location, from the scenario's
    `sku_restrictions` (shape as `az vm list-skus` shows it: type Location or Zone, values = the
    location, restrictionInfo with locations/zones, reasonCode NotAvailableForSubscription)."""
    out: list[dict[str, Any]] = []
    for entry in scenario_restrictions:
        if entry["size"].lower() != size_name.lower() or entry["location"] != location.lower():
            continue
        if entry["zones"]:
            out.append({"type": "Zone", "values": [location],
                        "restrictionInfo": {"locations": [location], "zones": sorted(entry["zones"])},
                        "reasonCode": "NotAvailableForSubscription"})
        else:
            out.append({"type": "Location", "values": [location], "restrictionInfo": {"locations": [location]},
                        "reasonCode": "NotAvailableForSubscription"})
    return out


def is_restricted(scenario_restrictions: list[dict[str, Any]], size_name: str, location: str,
                  zone: str | None) -> bool:
    """True when a VM of this size cannot be placed there: the location is restricted, or the zone
    asked for is (a regional VM is only refused by a Location restriction, as in Azure)."""
    for restriction in restrictions(scenario_restrictions, size_name, location):
        if restriction["type"] == "Location":
            return True
        if zone is not None and zone in restriction["restrictionInfo"]["zones"]:
            return True
    return False


def _vm_sku(size: catalog.VmSize, location: str, scenario_restrictions: list[dict[str, Any]]) -> dict[str, Any]:
    capabilities = [
        ("MaxResourceVolumeMB", str(size.temp_disk_mb)),
        ("OSVhdSizeMB", "1047552"),
        ("vCPUs", str(size.vcpus)),
        ("MemoryPreservingMaintenanceSupported", "True"),
        ("HyperVGenerations", size.hyper_v_generations),
        ("MemoryGB", f"{size.memory_gb:g}"),
        ("MaxDataDiskCount", str(size.max_data_disks)),
        ("CpuArchitectureType", "x64"),
        ("LowPriorityCapable", "True"),
        ("PremiumIO", str(size.premium_io)),
        ("VMDeploymentTypes", "IaaS"),
        ("vCPUsAvailable", str(size.vcpus)),
        ("ACUs", str(size.acus)),
        ("vCPUsPerCore", "2" if size.vcpus > 1 else "1"),
        ("EphemeralOSDiskSupported", str(size.temp_disk_mb > 0)),
        ("EncryptionAtHostSupported", "True"),
        ("CapacityReservationSupported", "True"),
        ("AcceleratedNetworkingEnabled", "True"),
        ("RdmaEnabled", "False"),
        ("MaxNetworkInterfaces", str(size.max_nics)),
        ("TrustedLaunchDisabled", str(not size.trusted_launch)),
    ]
    return {
        "resourceType": "virtualMachines",
        "name": size.name,
        "tier": "Standard",
        "size": size.size,
        "family": size.family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": list(ZONES), "zoneDetails": []}],
        "capabilities": [{"name": name, "value": value} for name, value in capabilities],
        "restrictions": restrictions(scenario_restrictions, size.name, location),
    }


def _disk_sku(sku: catalog.DiskSku, location: str) -> dict[str, Any]:
    size = "E10" if sku.name.startswith("StandardSSD") else ("P10" if sku.name.startswith("Premium_") else "S10")
    entry: dict[str, Any] = {"resourceType": "disks", "name": sku.name, "tier": sku.tier, "size": size,
                             "locations": [location],
                             "locationInfo": [{"location": location,
                                               "zones": [] if sku.zone_redundant else ["1", "2", "3"],
                                               "zoneDetails": []}],
                             "capabilities": [{"name": "MaxSizeGiB", "value": "32767"},
                                              {"name": "MinSizeGiB", "value": "0"}],
                             "restrictions": []}
    return entry


def list_skus(locations: list[str], filter_text: str | None,
              scenario_restrictions: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every sku in `locations`; `$filter=location eq 'x'` narrows to one location as ARM does."""
    wanted = sorted({loc.lower() for loc in locations})
    if filter_text:
        match = re.search(r"location\s+eq\s+'([^']+)'", filter_text, re.IGNORECASE)
        if match:
            wanted = [match.group(1).replace(" ", "").lower()] if match.group(1).replace(" ", "").lower() in wanted else []
    skus: list[dict[str, Any]] = []
    for location in wanted:
        skus += [_vm_sku(size, location, scenario_restrictions or []) for size in catalog.VM_SIZES.values()]
        skus += [_disk_sku(sku, location) for sku in catalog.DISK_SKUS.values()]
    return skus
