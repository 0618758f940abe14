# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the source OS disk is encrypted, and whether the repair can go ahead.

Server-side encryption (platform keys, or customer keys through a disk encryption set) is
transparent: the snapshot and the copy keep the same `encryption` block, so they stay under
the same set. Azure Disk Encryption (BitLocker inside the guest, key in a Key Vault secret) is
not: a copy attached elsewhere is a locked BitLocker volume, and unlocking it needs the BEK from
the Key Vault on a repair VM that can read it. That is not done here yet, so an ADE disk stops
the run before anything is created, with a message saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.vmrepair.azure.plugins.module_utils._rest_json import dig as _dig
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError

ADE_EXTENSION_TYPES = ("azurediskencryption",)  # Windows; AzureDiskEncryptionForLinux is Linux-only
CUSTOMER_KEY_TYPES = ("encryptionatrestwithcustomerkey", "encryptionatrestwithplatformandcustomerkeys")


@dataclass(frozen=True)
class DiskEncryption:
    """`type`: platform_key, customer_key (a disk encryption set) or ade."""

    type: str
    disk_encryption_set_id: str | None = None
    key_vault_id: str | None = None  # ADE: the vault holding the BEK secret
    secret_url: str | None = None  # ADE: the BEK secret

    def as_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "disk_encryption_set_id": self.disk_encryption_set_id,
                "key_vault_id": self.key_vault_id, "secret_url": self.secret_url}


def _ade_extension(vm: dict[str, Any]) -> dict[str, Any] | None:
    for extension in vm.get("resources") or []:
        kind = str(_dig(extension, "properties", "type") or extension.get("name") or "").lower()
        if kind in ADE_EXTENSION_TYPES:
            return extension
    return None


def disk_encryption(vm: dict[str, Any], disk: dict[str, Any]) -> DiskEncryption:
    """Classify the encryption of the source OS disk `disk` of `vm` (REST JSON of both)."""
    collection = _dig(disk, "properties", "encryptionSettingsCollection") or {}
    legacy = _dig(vm, "properties", "storageProfile", "osDisk", "encryptionSettings") or {}
    if collection.get("enabled") or legacy.get("enabled") or _ade_extension(vm) is not None:
        settings = (collection.get("encryptionSettings") or [{}])[0] if collection.get("enabled") else legacy
        key = settings.get("diskEncryptionKey") or {}
        return DiskEncryption("ade", key_vault_id=_dig(key, "sourceVault", "id"), secret_url=key.get("secretUrl"))
    encryption = _dig(disk, "properties", "encryption") or {}
    if str(encryption.get("type", "")).lower() in CUSTOMER_KEY_TYPES:
        return DiskEncryption("customer_key", disk_encryption_set_id=encryption.get("diskEncryptionSetId"))
    return DiskEncryption("platform_key")


def refuse_ade(vm_name: str, encryption: DiskEncryption) -> None:
    """Stop before creating anything: an ADE disk cannot be read on a repair VM without its key."""
    if encryption.type != "ade":
        return
    where = ""
    if encryption.secret_url or encryption.key_vault_id:
        where = (f" Its BitLocker key (BEK) is the Key Vault secret {encryption.secret_url or '(unknown)'} in vault "
                 f"{encryption.key_vault_id or '(unknown)'}.")
    raise AzureInputError(
        f"The OS disk of virtual machine '{vm_name}' is encrypted with Azure Disk Encryption (BitLocker): a copy "
        f"attached to a repair VM stays locked, and vmrepair.azure does not unlock it yet.{where} Either unlock it "
        "on a repair VM that can read that Key Vault secret (for example 'az vm repair create --unlock-encrypted-vm'), "
        "or decrypt the VM first, then collect the dump. Nothing was created."
    )
