# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing the repair VM's size from the region's resource SKUs (Compute ResourceSkus_List).

A size fits when it is offered in the region (and in the zone, for a zonal repair VM), has no
Location or Zone restriction there, supports the Hyper-V generation of the source disk, allows
Trusted Launch when the source uses it, and takes premium disks when the disk copy is premium.
The requested size wins when it fits; otherwise the first fitting size of a preference list.
Pure logic over REST JSON (the shape of `as_json(ResourceSku)`), so it is unit-tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError

# Small general-purpose sizes with premium storage, Gen1+Gen2 and Trusted Launch, newest first.
DEFAULT_SIZE_PREFERENCES: tuple[str, ...] = (
    "Standard_D2s_v5",
    "Standard_D2as_v5",
    "Standard_D2s_v4",
    "Standard_D2s_v3",
    "Standard_B2ms",
    "Standard_DS2_v2",
)


@dataclass(frozen=True)
class SizeNeeds:
    """What the source VM asks of the repair VM's size."""

    location: str
    zone: str | None
    hyper_v_generation: str  # V1 or V2
    trusted_launch: bool
    premium_disk: bool


@dataclass(frozen=True)
class SizeChoice:
    name: str
    reason: str


def _norm(location: str) -> str:
    return location.replace(" ", "").lower()


def _capabilities(sku: dict[str, Any]) -> dict[str, str]:
    return {str(c.get("name")): str(c.get("value")) for c in sku.get("capabilities") or []}


def vm_skus(skus: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """virtualMachines SKUs by lower-cased name."""
    return {str(s.get("name")).lower(): s for s in skus if str(s.get("resourceType", "")).lower() == "virtualmachines"}


def why_not(sku: dict[str, Any], needs: SizeNeeds) -> str | None:
    """None when the size fits the needs, else the reason it does not (for the result and errors)."""
    location = _norm(needs.location)
    name = sku.get("name")
    if location not in {_norm(loc) for loc in sku.get("locations") or []}:
        return f"{name} is not offered in {needs.location}"
    for restriction in sku.get("restrictions") or []:
        info = restriction.get("restrictionInfo") or {}
        kind = str(restriction.get("type", ""))
        code = restriction.get("reasonCode") or "restricted"
        if kind == "Location" and location in {_norm(loc) for loc in info.get("locations") or restriction.get("values") or []}:
            return f"{name} is restricted in {needs.location} ({code})"
        if kind == "Zone" and needs.zone and needs.zone in (info.get("zones") or []):
            return f"{name} is restricted in zone {needs.zone} of {needs.location} ({code})"
    if needs.zone:
        offered = {z for info in sku.get("locationInfo") or [] if _norm(str(info.get("location", ""))) == location
                   for z in info.get("zones") or []}
        if needs.zone not in offered:
            return f"{name} is not offered in zone {needs.zone} of {needs.location}"
    capabilities = _capabilities(sku)
    generations = [g.strip().upper() for g in capabilities.get("HyperVGenerations", "V1").split(",")]
    if needs.hyper_v_generation.upper() not in generations:
        return f"{name} does not support Hyper-V generation {needs.hyper_v_generation}"
    if needs.trusted_launch and capabilities.get("TrustedLaunchDisabled", "False").lower() == "true":
        return f"{name} does not support Trusted Launch"
    if needs.premium_disk and capabilities.get("PremiumIO", "False").lower() != "true":
        return f"{name} cannot attach premium disks"
    return None


def choose_vm_size(skus: Iterable[dict[str, Any]], requested: str, needs: SizeNeeds,
                   preferences: Sequence[str] = DEFAULT_SIZE_PREFERENCES) -> SizeChoice:
    """The requested size if it fits, else the first fitting preference; raises if none fits.

    A requested size unknown to the region's SKU list is an input error (a typo must not silently
    become another size).
    """
    by_name = vm_skus(skus)
    wanted = by_name.get(requested.lower())
    if wanted is None:
        raise AzureInputError(
            f"vm_size '{requested}' is not a VM size Azure offers in {needs.location}: "
            "see 'az vm list-skus --location <region> --resource-type virtualMachines'"
        )
    refusal = why_not(wanted, needs)
    if refusal is None:
        return SizeChoice(requested, f"{requested} as requested: {describe_needs(needs)}")
    tried = [refusal]
    for candidate in preferences:
        sku = by_name.get(candidate.lower())
        if sku is None or candidate.lower() == requested.lower():
            continue
        candidate_refusal = why_not(sku, needs)
        if candidate_refusal is None:
            return SizeChoice(str(sku.get("name")), f"{refusal}; {sku.get('name')} fits instead: {describe_needs(needs)}")
        tried.append(candidate_refusal)
    raise AzureInputError(
        f"No VM size fits the repair VM ({describe_needs(needs)}): " + "; ".join(tried)
        + ". Give another vm_size or vm_size_preferences"
    )


def describe_needs(needs: SizeNeeds) -> str:
    parts = [f"available in {needs.location}" + (f" zone {needs.zone}" if needs.zone else ""),
             f"Hyper-V generation {needs.hyper_v_generation}"]
    if needs.trusted_launch:
        parts.append("Trusted Launch")
    if needs.premium_disk:
        parts.append("premium disks")
    return ", ".join(parts)
