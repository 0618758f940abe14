"""Size selection for the repair VM from ResourceSkus_List answers (REST JSON, as Azure sends it)."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_sizing import (
    SizeNeeds,
    choose_vm_size,
    why_not,
)


def sku(name: str, generations: str = "V1,V2", zones=("1", "2", "3"), premium: bool = True,
        trusted_launch_disabled: bool = False, restrictions=()) -> dict:
    capabilities = [{"name": "HyperVGenerations", "value": generations},
                    {"name": "PremiumIO", "value": str(premium)}]
    if trusted_launch_disabled:
        capabilities.append({"name": "TrustedLaunchDisabled", "value": "True"})
    return {
        "resourceType": "virtualMachines", "name": name, "tier": "Standard",
        "locations": ["westeurope"],
        "locationInfo": [{"location": "westeurope", "zones": list(zones)}],
        "capabilities": capabilities,
        "restrictions": list(restrictions),
    }


def zone_restriction(*zones: str) -> dict:
    return {"type": "Zone", "values": ["westeurope"], "reasonCode": "NotAvailableForSubscription",
            "restrictionInfo": {"locations": ["westeurope"], "zones": list(zones)}}


LOCATION_RESTRICTION = {"type": "Location", "values": ["westeurope"], "reasonCode": "NotAvailableForSubscription",
                        "restrictionInfo": {"locations": ["westeurope"]}}


def needs(zone=None, generation="V2", trusted_launch=False, premium=False) -> SizeNeeds:
    return SizeNeeds("West Europe", zone, generation, trusted_launch, premium)


def test_requested_size_that_fits_is_taken():
    choice = choose_vm_size([sku("Standard_D2s_v3"), sku("Standard_D2s_v5")], "Standard_D2s_v3", needs(zone="2"))
    assert choice.name == "Standard_D2s_v3"
    assert "as requested" in choice.reason and "zone 2" in choice.reason


def test_zone_restriction_falls_back_to_first_fitting_preference():
    skus = [sku("Standard_D2s_v3", restrictions=[zone_restriction("2")]),
            sku("Standard_D2s_v5", restrictions=[zone_restriction("2", "3")]),
            sku("Standard_D2as_v5")]
    choice = choose_vm_size(skus, "Standard_D2s_v3", needs(zone="2"),
                            preferences=["Standard_D2s_v5", "Standard_D2as_v5"])
    assert choice.name == "Standard_D2as_v5"
    assert "Standard_D2s_v3 is restricted in zone 2" in choice.reason


def test_zone_restriction_does_not_matter_for_a_regional_vm():
    skus = [sku("Standard_D2s_v3", restrictions=[zone_restriction("1", "2", "3")])]
    assert choose_vm_size(skus, "Standard_D2s_v3", needs(zone=None)).name == "Standard_D2s_v3"


def test_location_restriction_and_missing_zone_are_refused():
    assert "restricted in West Europe" in why_not(sku("A", restrictions=[LOCATION_RESTRICTION]), needs())
    assert "not offered in zone 3" in why_not(sku("A", zones=("1",)), needs(zone="3"))


def test_generation_trusted_launch_and_premium_are_checked():
    assert "generation V2" in why_not(sku("Standard_D2_v2", generations="V1"), needs(generation="V2"))
    assert why_not(sku("Standard_D2_v2", generations="V1"), needs(generation="V1")) is None
    assert "Trusted Launch" in why_not(sku("X", trusted_launch_disabled=True), needs(trusted_launch=True))
    assert why_not(sku("X", trusted_launch_disabled=True), needs(trusted_launch=False)) is None
    assert "premium" in why_not(sku("Standard_D2_v3", premium=False), needs(premium=True))


def test_unknown_size_is_an_input_error_even_if_others_fit():
    with pytest.raises(AzureInputError, match="'Standard_Nope_v9' is not a VM size Azure offers in West Europe"):
        choose_vm_size([sku("Standard_D2s_v5")], "Standard_Nope_v9", needs())


def test_no_fitting_size_names_every_reason():
    skus = [sku("Standard_D2s_v3", trusted_launch_disabled=True), sku("Standard_D2s_v5", generations="V1")]
    with pytest.raises(AzureInputError) as error:
        choose_vm_size(skus, "Standard_D2s_v3", needs(trusted_launch=True), preferences=["Standard_D2s_v5"])
    assert "Standard_D2s_v3 does not support Trusted Launch" in error.value.message
    assert "Standard_D2s_v5 does not support Hyper-V generation V2" in error.value.message


def test_other_resource_types_are_ignored():
    disk_sku = dict(sku("Premium_LRS"), resourceType="disks")
    with pytest.raises(AzureInputError):
        choose_vm_size([disk_sku], "Premium_LRS", needs())
