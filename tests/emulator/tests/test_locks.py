"""Management locks through the real azure-mgmt-resource-locks client (ManagementLockClient,
api-version 2020-05-01), and ARM's ScopeLocked answers under them. Scenario: locked-rg (prod-rg
has the ReadOnly lock prod-readonly)."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from vmrepair_emulator.arm.compute.testing import unique
from vmrepair_emulator.testing import EmulatorProcess

# The locks client is the separate package azure-mgmt-resource-locks (requirements.txt must list it).
ManagementLockClient = pytest.importorskip(
    "azure.mgmt.resource.locks", reason="azure-mgmt-resource-locks is not installed").ManagementLockClient

RG = "prod-rg"
LOCATION = "westeurope"


@pytest.fixture(scope="module")
def locked(emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return emulator("locked-rg")


@pytest.fixture(scope="module")
def locks(locked: EmulatorProcess) -> ManagementLockClient:
    return locked.mgmt_client(ManagementLockClient)


@pytest.fixture(scope="module")
def compute(locked: EmulatorProcess) -> ComputeManagementClient:
    return locked.mgmt_client(ComputeManagementClient)


@pytest.fixture(scope="module")
def resources(locked: EmulatorProcess) -> ResourceManagementClient:
    return locked.mgmt_client(ResourceManagementClient)


def _scope(locked: EmulatorProcess, rg: str) -> str:
    return f"/subscriptions/{locked.env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{rg}"


def _snapshot_body(compute: ComputeManagementClient) -> dict[str, Any]:
    source = compute.virtual_machines.get(RG, "web-01").storage_profile.os_disk.managed_disk.id
    return {"location": LOCATION, "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source}}}


def test_seeded_lock_is_listed_and_readable(locks: ManagementLockClient, locked: EmulatorProcess) -> None:
    [lock] = list(locks.management_locks.list_at_resource_group_level(RG))
    assert (lock.name, lock.level, lock.notes) == ("prod-readonly", "ReadOnly", "Change freeze")
    assert lock.id == f"{_scope(locked, RG)}/providers/Microsoft.Authorization/locks/prod-readonly"
    assert lock.type == "Microsoft.Authorization/locks"
    assert locks.management_locks.get_at_resource_group_level(RG, "prod-readonly").level == "ReadOnly"
    sent = [r for r in locked.control().requests("arm") if "Microsoft.Authorization/locks" in r["path"]]
    assert {r["api_version"] for r in sent} == {"2020-05-01"}


def test_read_only_lock_refuses_writes_and_actions_but_not_reads(
        compute: ComputeManagementClient, locked: EmulatorProcess) -> None:
    with pytest.raises(HttpResponseError) as caught:
        compute.snapshots.begin_create_or_update(RG, unique("snap"), _snapshot_body(compute)).result()
    assert caught.value.status_code == 409
    assert caught.value.error.code == "ScopeLocked"
    assert caught.value.error.message.endswith(
        f"cannot perform write operation because following scope(s) are locked: '{_scope(locked, RG)}'. "
        "Please remove the lock and try again.")
    assert "/snapshots/" in caught.value.error.message
    with pytest.raises(HttpResponseError) as caught:  # POST actions are writes under ReadOnly
        compute.virtual_machines.begin_power_off(RG, "web-01").result()
    assert caught.value.error.code == "ScopeLocked"
    assert compute.virtual_machines.get(RG, "web-01").name == "web-01"


def test_lock_applies_to_its_scope_only_and_can_not_delete_blocks_deletes(
        compute: ComputeManagementClient, resources: ResourceManagementClient, locks: ManagementLockClient,
        locked: EmulatorProcess) -> None:
    other = unique("repair-rg")
    resources.resource_groups.create_or_update(other, {"location": LOCATION})
    # The source disk sits in the locked group; a snapshot created elsewhere is a write there, not in prod-rg.
    snapshot = compute.snapshots.begin_create_or_update(other, unique("snap"), _snapshot_body(compute)).result()
    assert snapshot.provisioning_state == "Succeeded"
    lock = locks.management_locks.create_or_update_at_resource_group_level(
        other, "keep", {"level": "CanNotDelete", "notes": "test"})
    assert lock.level == "CanNotDelete"
    names = {lk.name for lk in locks.management_locks.list_at_subscription_level()}
    assert {"prod-readonly", "keep"} <= names
    with pytest.raises(HttpResponseError) as caught:
        compute.snapshots.begin_delete(other, snapshot.name).result()
    assert caught.value.error.code == "ScopeLocked"
    assert "cannot perform delete operation" in caught.value.error.message
    with pytest.raises(HttpResponseError) as caught:
        resources.resource_groups.begin_delete(other).result()
    assert caught.value.error.code == "ScopeLocked"
    compute.snapshots.begin_create_or_update(other, unique("snap"), _snapshot_body(compute)).result()  # writes ok
    locks.management_locks.delete_at_resource_group_level(other, "keep")
    assert "keep" not in {lk.name for lk in locks.management_locks.list_at_resource_group_level(other)}
    resources.resource_groups.begin_delete(other).result()
    assert not resources.resource_groups.check_existence(other)


def test_contributor_cannot_manage_locks(locks: ManagementLockClient, locked: EmulatorProcess) -> None:
    control = locked.control()
    with control.knobs_set(rbac_role="Contributor"):
        with pytest.raises(HttpResponseError) as caught:
            locks.management_locks.delete_at_resource_group_level(RG, "prod-readonly")
    assert caught.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Authorization/locks/delete" in caught.value.error.message
    assert locks.management_locks.get_at_resource_group_level(RG, "prod-readonly").level == "ReadOnly"
