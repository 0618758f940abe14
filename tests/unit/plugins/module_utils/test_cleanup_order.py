"""Deletion order of a repair's resources."""
from __future__ import annotations

from ansible_collections.vmrepair.azure.plugins.module_utils._cleanup import TaggedResource, deletion_tiers


def resource(resource_type: str, name: str) -> TaggedResource:
    return TaggedResource(id=f"/subscriptions/s/resourceGroups/g/providers/{resource_type}/{name}",
                          type=resource_type, name=name)


def test_vms_first_then_nics_then_disks_and_networks_then_nsgs_then_unknown():
    everything = [
        resource("Microsoft.Network/networkSecurityGroups", "nsg"),
        resource("Microsoft.Compute/snapshots", "snap"),
        resource("Microsoft.Storage/storageAccounts", "relay"),
        resource("Microsoft.Network/networkInterfaces", "nic"),
        resource("Microsoft.Compute/disks", "copy"),
        resource("Microsoft.Network/publicIPAddresses", "pip"),
        resource("Microsoft.Compute/virtualMachines", "vm"),
        resource("Microsoft.Network/virtualNetworks", "vnet"),
    ]
    # Within a tier the order does not matter: those deletions run at the same time.
    tiers = [{r.name for r in tier} for tier in deletion_tiers(everything)]
    assert tiers == [{"vm"}, {"nic"}, {"snap", "copy", "pip", "vnet"}, {"nsg"}, {"relay"}]


def test_type_matching_ignores_case_and_empty_tiers_are_dropped():
    tiers = deletion_tiers([resource("microsoft.compute/DISKS", "d"), resource("MICROSOFT.COMPUTE/virtualmachines", "v")])
    assert [[r.name for r in tier] for tier in tiers] == [["v"], ["d"]]


def test_nothing_to_delete_gives_no_tiers():
    assert deletion_tiers([]) == []
