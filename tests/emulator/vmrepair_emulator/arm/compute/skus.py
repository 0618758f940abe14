"""GET /subscriptions/{sub}/providers/Microsoft.Compute/skus: what the emulated regions offer."""
from __future__ import annotations

import re
from typing import Any

from . import catalog


def _vm_sku(size: catalog.VmSize, location: str) -> dict[str, Any]:
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
        "locationInfo": [{"location": location, "zones": ["1", "2", "3"], "zoneDetails": []}],
        "capabilities": [{"name": name, "value": value} for name, value in capabilities],
        "restrictions": [],
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


def list_skus(locations: list[str], filter_text: str | None) -> list[dict[str, Any]]:
    """Every sku in `locations`; `$filter=location eq 'x'` narrows to one location as ARM does."""
    wanted = sorted({loc.lower() for loc in locations})
    if filter_text:
        match = re.search(r"location\s+eq\s+'([^']+)'", filter_text, re.IGNORECASE)
        if match:
            wanted = [match.group(1).replace(" ", "").lower()] if match.group(1).replace(" ", "").lower() in wanted else []
    skus: list[dict[str, Any]] = []
    for location in wanted:
        skus += [_vm_sku(size, location) for size in catalog.VM_SIZES.values()]
        skus += [_disk_sku(sku, location) for sku in catalog.DISK_SKUS.values()]
    return skus
