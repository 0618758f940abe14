# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting what a repair created: everything tagged with its repair id, anywhere in the
subscription, in dependency order, then the repair resource group; then checking nothing is left.

The repair resource group is deleted only when it carries the repair-id tag, i.e. when a repair
created it: a group the user named and that existed before is never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import (
    AzureClients,
    as_json,
    parse_resource_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureNotFoundError,
    AzureOperationError,
    translate_azure_error,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import (
    TAG_REPAIR_ID,
    tag_filter,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import (
    Deadline,
    Pending,
    settle_all,
)

RESOURCE_GROUP_TYPE = "microsoft.resources/resourcegroups"

# Deletion order: a resource is deleted only after everything that may reference it.
# VMs hold NICs and disks; NICs hold public IPs, subnets (VNets) and NSGs; a subnet may hold an NSG.
DELETE_TIERS: tuple[tuple[str, ...], ...] = (
    ("microsoft.compute/virtualmachines",),
    ("microsoft.network/networkinterfaces",),
    (
        "microsoft.compute/disks",
        "microsoft.compute/snapshots",
        "microsoft.network/publicipaddresses",
        "microsoft.network/virtualnetworks",
    ),
    ("microsoft.network/networksecuritygroups",),
)


@dataclass(frozen=True)
class TaggedResource:
    id: str
    type: str  # as ARM spells it, e.g. Microsoft.Compute/disks
    name: str

    @property
    def type_key(self) -> str:
        return self.type.lower()


def deletion_tiers(resources: Iterable[TaggedResource]) -> list[list[TaggedResource]]:
    """Group resources into the order they must be deleted in; unknown types come last.

    Resource groups are not in here: the caller deletes the repair group after every tier.
    """
    tiers: list[list[TaggedResource]] = [[] for _tier in DELETE_TIERS]
    unknown: list[TaggedResource] = []
    for resource in sorted(resources, key=lambda r: r.id.lower()):
        for index, types in enumerate(DELETE_TIERS):
            if resource.type_key in types:
                tiers[index].append(resource)
                break
        else:
            unknown.append(resource)
    tiers.append(unknown)
    return [tier for tier in tiers if tier]


def plan_entry(action: str, resource: TaggedResource) -> dict[str, str]:
    return {"action": action, "resource_type": resource.type, "name": resource.name, "id": resource.id}


@dataclass
class DeletionReport:
    deleted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # started, not awaited (wait=false)
    errors: list[str] = field(default_factory=list)


class ResourceDeleter:
    """Starts the deletion of one resource with the typed SDK client for its type."""

    def __init__(self, clients: AzureClients) -> None:
        self.clients = clients

    def begin_delete(self, resource: TaggedResource) -> Any:
        parts = parse_resource_id(resource.id)
        group, name = parts["resource_group"], parts["name"]
        compute, network = self.clients.compute, self.clients.network
        typed = {
            "microsoft.compute/virtualmachines": compute.virtual_machines.begin_delete,
            "microsoft.compute/disks": compute.disks.begin_delete,
            "microsoft.compute/snapshots": compute.snapshots.begin_delete,
            "microsoft.network/networkinterfaces": network.network_interfaces.begin_delete,
            "microsoft.network/publicipaddresses": network.public_ip_addresses.begin_delete,
            "microsoft.network/virtualnetworks": network.virtual_networks.begin_delete,
            "microsoft.network/networksecuritygroups": network.network_security_groups.begin_delete,
        }.get(resource.type_key)
        if typed is not None:
            return typed(group, name)
        if resource.type_key == RESOURCE_GROUP_TYPE:
            return self.clients.resources.resource_groups.begin_delete(name)
        return self.clients.resources.resources.begin_delete_by_id(
            resource.id, api_version=self._api_version(resource.type)
        )

    def _api_version(self, resource_type: str) -> str:
        """The newest stable api-version the resource provider lists for a type."""
        namespace, _slash, rest = resource_type.partition("/")
        provider = as_json(self.clients.resources.providers.get(namespace))
        for entry in provider.get("resourceTypes") or []:
            if str(entry.get("resourceType", "")).lower() == rest.lower():
                versions = entry.get("apiVersions") or []
                stable = [v for v in versions if "preview" not in v]
                if stable or versions:
                    return sorted(stable or versions)[-1]
        raise AzureOperationError(f"No api-version is known for resource type {resource_type}")


def delete_in_order(
    clients: AzureClients,
    resources: Sequence[TaggedResource],
    deadline: Deadline,
    wait_last: bool = True,
) -> DeletionReport:
    """Delete resources tier by tier, each tier's deletions running together.

    A failed deletion is recorded and the rest go on (a cleanup removes as much as it can). With
    wait_last=False the last tier is started and not awaited.
    """
    report = DeletionReport()
    deleter = ResourceDeleter(clients)
    tiers = deletion_tiers([r for r in resources if r.type_key != RESOURCE_GROUP_TYPE])
    groups = [r for r in resources if r.type_key == RESOURCE_GROUP_TYPE]
    if groups:
        tiers.append(groups)
    for index, tier in enumerate(tiers):
        pending: list[Pending] = []
        started: list[TaggedResource] = []
        for resource in tier:
            try:
                pending.append(Pending(f"delete {resource.type} '{resource.name}'", deleter.begin_delete(resource)))
                started.append(resource)
            except Exception as exc:  # pylint: disable=broad-except  # recorded, cleanup goes on
                _record_failure(report, resource, exc, clients.secrets)
        if not wait_last and index == len(tiers) - 1:
            report.pending.extend(r.id for r in started)
            continue
        for resource, outcome in zip(started, settle_all(pending, deadline)):
            if outcome.error is not None:
                _record_failure(report, resource, outcome.error, clients.secrets)
            elif not outcome.pending.poller.done():
                report.errors.append(
                    f"Timed out after {deadline.seconds:g} s waiting for: {outcome.pending.description}"
                )
            else:
                report.deleted.append(resource.id)
    return report


def _record_failure(report: DeletionReport, resource: TaggedResource, exc: BaseException, secrets: list[str]) -> None:
    error = translate_azure_error(exc, action=f"delete {resource.type} '{resource.name}'", secrets=secrets)
    if isinstance(error, AzureNotFoundError):
        report.deleted.append(resource.id)  # already gone: the goal is reached
    else:
        report.errors.append(error.message)


def list_tagged(clients: AzureClients, repair_id: str) -> list[TaggedResource]:
    """Every resource in the subscription tagged with this repair id."""
    try:
        items = list(clients.resources.resources.list(filter=tag_filter(repair_id)))
    except Exception as exc:  # pylint: disable=broad-except  # translated
        raise translate_azure_error(
            exc, action=f"list resources tagged {TAG_REPAIR_ID}={repair_id}", secrets=clients.secrets
        ) from None
    return [TaggedResource(id=i.id, type=i.type, name=i.name) for i in items]


def owned_resource_group(clients: AzureClients, name: str, repair_id: str) -> TaggedResource | None:
    """The repair resource group, if it exists and carries this repair id's tag."""
    try:
        group = as_json(clients.resources.resource_groups.get(name))
    except Exception as exc:  # pylint: disable=broad-except  # translated
        error = translate_azure_error(exc, action=f"read resource group '{name}'", secrets=clients.secrets)
        if isinstance(error, AzureNotFoundError):
            return None
        raise error from None
    if (group.get("tags") or {}).get(TAG_REPAIR_ID) != repair_id:
        return None
    return TaggedResource(id=group.get("id") or "", type="Microsoft.Resources/resourceGroups", name=name)


def cleanup_repair(
    clients: AzureClients,
    repair_id: str,
    repair_resource_group: str,
    deadline: Deadline,
    wait: bool = True,
    check_mode: bool = False,
) -> dict[str, Any]:
    """What repair_cleanup returns: deleted, remaining, pending, plan, changed."""
    tagged = list_tagged(clients, repair_id)
    group = owned_resource_group(clients, repair_resource_group, repair_id)
    ordered = [r for tier in deletion_tiers(tagged) for r in tier] + ([group] if group else [])
    plan = [plan_entry("delete", r) for r in ordered]
    result: dict[str, Any] = {"plan": plan, "deleted": [], "remaining": [], "pending": [], "changed": bool(ordered)}
    if check_mode or not ordered:
        result["deleted"] = [r.id for r in ordered] if check_mode else []
        return result

    report = delete_in_order(clients, ordered, deadline, wait_last=wait)
    result["deleted"] = report.deleted
    result["pending"] = report.pending
    if not wait:
        return result

    remaining = [r.id for r in list_tagged(clients, repair_id)]
    if owned_resource_group(clients, repair_resource_group, repair_id):
        remaining.append(group.id if group else repair_resource_group)
    result["remaining"] = remaining
    if remaining:
        raise AzureOperationError(
            "Cleanup of repair '{}' left {} resource(s) behind{}".format(
                repair_id, len(remaining), (": " + "; ".join(report.errors)) if report.errors else ""
            ),
            deleted=report.deleted,
            remaining=remaining,
        )
    return result
