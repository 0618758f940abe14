"""Management locks: the store (world.management_locks) and the rule ARM applies to every request.

ARM's rule (learn.microsoft.com "Lock your resources"): a lock at a scope applies to everything
below it. CanNotDelete refuses DELETE; ReadOnly refuses every request that is not a read (PUT,
PATCH, DELETE and POST actions, e.g. starting a VM or listing keys). Requests on the locks
themselves are not blocked (that is how a lock is removed). The error is 409 ScopeLocked with the
message shape seen in public error reports:
"The scope '<request scope>' cannot perform <write|delete> operation because following scope(s)
are locked: '<lock scope>'. Please remove the lock and try again."
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import ArmError

if TYPE_CHECKING:
    from ...world import World

LOCK_TYPE = "Microsoft.Authorization/locks"
LEVELS = ("CanNotDelete", "ReadOnly")
_LOCKS_PATH = re.compile(r"/providers/Microsoft\.Authorization/locks(/|$)", re.IGNORECASE)
_SCOPE = re.compile(r"^(/subscriptions/[^/]+)(/resourceGroups/[^/]+)?", re.IGNORECASE)


def store(world: "World") -> dict[str, dict[str, Any]]:
    """Lower-cased lock id -> lock object (ARM's JSON); locks are extension resources, so they are
    kept apart from world.resources (ARM's resource lists never show them)."""
    locks = getattr(world, "management_locks", None)
    if locks is None:
        locks = {}
        world.management_locks = locks  # type: ignore[attr-defined]
    return locks


def scope_id(world: "World", resource_group: str | None) -> str:
    """The scope id as ARM spells it: the group's stored name, or the subscription."""
    base = f"/subscriptions/{world.subscription_id}"
    if resource_group is None:
        return base
    group = world.get_resource_group(resource_group)
    return f"{base}/resourceGroups/{group['name'] if group is not None else resource_group}"


def lock_id(scope: str, name: str) -> str:
    return f"{scope}/providers/{LOCK_TYPE}/{name}"


def put_lock(world: "World", scope: str, name: str, level: str, notes: str | None = None,
             owners: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], bool]:
    """Create or update; returns (lock, created)."""
    canonical = next((lv for lv in LEVELS if lv.lower() == str(level).lower()), None)
    if canonical is None:
        # Code and wording not verified against Azure (the REST spec only lists the enum).
        raise ArmError(400, "LockLevelRequired",
                       f"The lock level '{level}' is not valid. The lock level must be one of: {', '.join(LEVELS)}.")
    identifier = lock_id(scope, name)
    properties: dict[str, Any] = {"level": canonical}
    if notes:
        properties["notes"] = notes
    if owners:
        properties["owners"] = owners
    lock = {"properties": properties, "id": identifier, "type": LOCK_TYPE, "name": name}
    with world.lock:
        locks = store(world)
        created = identifier.lower() not in locks
        locks[identifier.lower()] = lock
    return lock, created


def get_lock(world: "World", scope: str, name: str) -> dict[str, Any] | None:
    return store(world).get(lock_id(scope, name).lower())


def delete_lock(world: "World", scope: str, name: str) -> bool:
    with world.lock:
        return store(world).pop(lock_id(scope, name).lower(), None) is not None


def locks_under(world: "World", scope: str) -> list[dict[str, Any]]:
    """Locks whose scope is `scope` or below it (list at subscription level shows every lock)."""
    prefix = scope.lower().rstrip("/")
    return [lock for key, lock in sorted(store(world).items())
            if key.startswith(prefix + "/providers/") or key.startswith(prefix + "/resourcegroups/")]


def locks_applying_to(world: "World", path: str) -> list[dict[str, Any]]:
    """Locks at the subscription or resource group that `path` is in."""
    match = _SCOPE.match(path)
    if not match:
        return []
    scopes = [match.group(1).lower()]
    if match.group(2):
        scopes.append((match.group(1) + match.group(2)).lower())
    return [lock for key, lock in sorted(store(world).items())
            if key.rsplit(f"/providers/{LOCK_TYPE.lower()}/", 1)[0] in scopes]


def check_request(world: "World", method: str, path: str) -> None:
    """Raise 409 ScopeLocked when a lock forbids this request (ARM does it before the provider)."""
    method = method.upper()
    if method in ("GET", "HEAD") or _LOCKS_PATH.search(path):
        return
    applying = locks_applying_to(world, path)
    if method == "DELETE":
        blocking = applying
        operation = "delete"
    else:
        blocking = [lock for lock in applying if lock["properties"]["level"] == "ReadOnly"]
        operation = "write"
    if not blocking:
        return
    lock_scopes = sorted({lock["id"].rsplit(f"/providers/{LOCK_TYPE}/", 1)[0] for lock in blocking})
    scope = path.split("?", 1)[0].rstrip("/")
    # More than one locked scope: joined with "," inside the quotes (not verified against Azure).
    raise ArmError(409, "ScopeLocked",
                   f"The scope '{scope}' cannot perform {operation} operation because following scope(s) are "
                   f"locked: '{','.join(lock_scopes)}'. Please remove the lock and try again.")


def seed_locks(world: "World") -> None:
    """The scenario's resource_groups[].locks."""
    for group in world.scenario.resource_groups:
        for lock in group.get("locks") or []:
            put_lock(world, scope_id(world, group["name"]), lock["name"], lock["level"], lock.get("notes"))
