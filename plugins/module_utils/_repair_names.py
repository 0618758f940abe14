# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names, ids and tags of the resources a repair creates.

Everything here is derived deterministically from the source VM and the repair id, so that
a re-run finds what an earlier run created instead of creating a second copy.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError

TAG_REPAIR_ID = "vmrepair-repair-id"
TAG_SOURCE_VM = "vmrepair-source-vm"
# SHA-256 of the WinRM certificate the repair VM presented through Run Command (the pin).
TAG_WINRM_SHA256 = "vmrepair-winrm-sha256"

# Azure: a Windows computer name has at most 15 characters.
_COMPUTER_NAME_MAX = 15
# Azure: disk and snapshot names have at most 80 characters; VM resource names at most 64.
_DISK_NAME_MAX = 80
_VM_NAME_MAX = 64
_NETWORK_NAME_MAX = 64  # VNet names allow 64, NSG and public IP names 80: the smaller fits all
_RESOURCE_GROUP_NAME_MAX = 90
_REPAIR_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class RepairNameError(AzureInputError):
    """A repair id or name that Azure would refuse."""


def vm_resource_id(subscription_id: str, resource_group: str, vm_name: str) -> str:
    """The ARM id of a virtual machine, as ARM spells it."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Compute/virtualMachines/{vm_name}"
    )


def default_repair_id(source_vm_id: str) -> str:
    """First 8 hex digits of SHA-256 of the lower-cased source VM id.

    ARM ids are case-insensitive, hence the lower-casing: the same VM always gets the same id.
    """
    return hashlib.sha256(source_vm_id.lower().encode("utf-8")).hexdigest()[:8]


def validate_repair_id(repair_id: str) -> str:
    """Return the repair id if it can appear in every name and tag we derive from it."""
    if not _REPAIR_ID_PATTERN.match(repair_id):
        raise RepairNameError(
            f"repair_id '{repair_id}' is not valid: use 1 to 32 lower-case letters, digits or '-', "
            "starting with a letter or digit"
        )
    return repair_id


def default_repair_resource_group(repair_id: str) -> str:
    return f"rg-vmrepair-{repair_id}"


def _with_suffix(prefix: str, suffix: str, limit: int) -> str:
    """`prefix + suffix`, cutting the prefix (never the repair-id suffix) to fit `limit`."""
    room = limit - len(suffix)
    return prefix[:room].rstrip("-_.") + suffix


def repair_tags(repair_id: str, source_vm_id: str) -> dict[str, str]:
    """Tags on every resource a repair creates (tag names may not contain '/')."""
    return {TAG_REPAIR_ID: repair_id, TAG_SOURCE_VM: source_vm_id}


def tag_filter(repair_id: str) -> str:
    """OData filter for ResourceManagementClient.resources.list: everything of one repair."""
    value = repair_id.replace("'", "''")
    return f"tagName eq '{TAG_REPAIR_ID}' and tagValue eq '{value}'"


@dataclass(frozen=True)
class RepairNames:
    """The names of one repair's resources."""

    repair_id: str
    source_vm_name: str
    resource_group: str

    @classmethod
    def for_repair(cls, repair_id: str, source_vm_name: str, resource_group: str | None = None) -> "RepairNames":
        validate_repair_id(repair_id)
        group = resource_group or default_repair_resource_group(repair_id)
        if len(group) > _RESOURCE_GROUP_NAME_MAX:
            raise RepairNameError(f"repair_resource_group '{group}' is longer than {_RESOURCE_GROUP_NAME_MAX} characters")
        return cls(repair_id=repair_id, source_vm_name=source_vm_name, resource_group=group)

    @property
    def snapshot(self) -> str:
        return _with_suffix(f"snap-{self.source_vm_name}", f"-{self.repair_id}", _DISK_NAME_MAX)

    @property
    def disk_copy(self) -> str:
        return _with_suffix(f"disk-{self.source_vm_name}", f"-{self.repair_id}", _DISK_NAME_MAX)

    @property
    def vm(self) -> str:
        return _with_suffix("vmrepair", f"-{self.repair_id}", _VM_NAME_MAX)

    @property
    def os_disk(self) -> str:
        return _with_suffix("osdisk-vmrepair", f"-{self.repair_id}", _DISK_NAME_MAX)

    @property
    def nic(self) -> str:
        return _with_suffix("nic-vmrepair", f"-{self.repair_id}", _VM_NAME_MAX)

    @property
    def computer_name(self) -> str:
        """`REPAIR<ID>` in capitals, at most 15 characters (Windows NetBIOS limit)."""
        return ("REPAIR" + self.repair_id.replace("-", "")).upper()[:_COMPUTER_NAME_MAX]

    @property
    def nsg(self) -> str:
        return _with_suffix("nsg-vmrepair", f"-{self.repair_id}", _NETWORK_NAME_MAX)

    @property
    def vnet(self) -> str:
        return _with_suffix("vnet-vmrepair", f"-{self.repair_id}", _NETWORK_NAME_MAX)

    @property
    def public_ip(self) -> str:
        return _with_suffix("pip-vmrepair", f"-{self.repair_id}", _NETWORK_NAME_MAX)
