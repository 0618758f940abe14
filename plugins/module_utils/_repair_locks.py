# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Management locks on the resource groups a repair writes in.

azure-mgmt-resource 26 no longer ships the locks client (it moved to azure-mgmt-resource-locks),
so the one read needed, ManagementLocks_ListAtResourceGroupLevel, goes through the resources
client's `send_request` (same pipeline: credential, retries, user agent, cloud endpoint).

A ReadOnly lock refuses every write; a CanNotDelete lock lets the snapshot and the disk copy be
created but not deleted again, so cleanup could never finish. Either stops the run before
anything is created. A lock that appears after this check still ends in ARM's 409 ScopeLocked,
which the caller rolls back and explains with `describe_locks`.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError

LOCKS_API_VERSION = "2016-09-01"
_LOCKED_SCOPES = re.compile(r"locked:\s*'([^']+)'", re.IGNORECASE)


def locks_on_group(clients: Any, resource_group: str) -> list[dict[str, Any]] | None:
    """The locks on a resource group (REST JSON), or None when they cannot be read (no permission...)."""
    scope = f"/subscriptions/{clients.subscription_id}/resourceGroups/{resource_group}"
    return _list(clients, scope)


def _list(clients: Any, scope: str) -> list[dict[str, Any]] | None:
    from azure.core.rest import HttpRequest

    request = HttpRequest("GET", f"{scope.rstrip('/')}/providers/Microsoft.Authorization/locks",
                          params={"api-version": LOCKS_API_VERSION})
    try:
        response = clients.resources.send_request(request)
        if response.status_code != 200:
            return None
        return list(response.json().get("value") or [])
    except Exception:  # pylint: disable=broad-except  # a pre-flight nicety: ARM's 409 still protects
        return None


def describe(lock: dict[str, Any]) -> str:
    properties = lock.get("properties") or {}
    notes = f", notes: {properties['notes']}" if properties.get("notes") else ""
    return f"lock '{lock.get('name')}' ({properties.get('level')}{notes}) {lock.get('id', '')}".rstrip()


def refuse_locked_groups(clients: Any, groups: dict[str, str]) -> None:
    """Stop before any write if a group we write in (name -> what we write there) is locked."""
    for group, what in groups.items():
        found = locks_on_group(clients, group) or []
        blocking = [lock for lock in found
                    if str((lock.get("properties") or {}).get("level", "")).lower() in ("readonly", "cannotdelete")]
        if blocking:
            raise AzureInputError(
                f"Resource group '{group}' is locked ({'; '.join(describe(lock) for lock in blocking)}): the repair "
                f"must create and later delete {what} there. Remove the lock for the repair (az lock delete) or "
                "choose another repair_resource_group. Nothing was created.",
                locks=[lock.get("id") for lock in blocking],
            )


def describe_locks(clients: Any, arm_message: str) -> str:
    """The locks behind a ScopeLocked message (ARM names the locked scopes, not the locks)."""
    names = []
    for scopes in _LOCKED_SCOPES.findall(arm_message or ""):
        for scope in scopes.split(","):
            for lock in _list(clients, scope.strip()) or []:
                names.append(describe(lock))
    return "; ".join(names)
