"""Handlers of ManagementLocks_* (resource-group and subscription level) in ARM's JSON shape."""
from __future__ import annotations

from ..core import ArmRequest, ArmResponse
from ..errors import ArmError
from . import models


def _not_found(name: str) -> ArmError:
    # Code as Azure answers a missing lock; wording not verified.
    return ArmError(404, "LockNotFound", f"The lock '{name}' could not be found.")


def _put(ctx: ArmRequest, scope: str, name: str) -> ArmResponse:
    body = ctx.json()
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict) or not props.get("level"):
        raise ArmError(400, "LockLevelRequired", "The lock level must be specified.")  # wording not verified
    lock, created = models.put_lock(ctx.world, scope, name, props["level"], props.get("notes"), props.get("owners"))
    ctx.log_fields["resource_id"] = lock["id"]
    return ArmResponse(201 if created else 200, lock)


def _get(ctx: ArmRequest, scope: str, name: str) -> ArmResponse:
    lock = models.get_lock(ctx.world, scope, name)
    if lock is None:
        raise _not_found(name)
    return ArmResponse(200, lock)


def _delete(ctx: ArmRequest, scope: str, name: str) -> ArmResponse:
    return ArmResponse(200 if models.delete_lock(ctx.world, scope, name) else 204, None)


def group_lock_put(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _put(ctx, models.scope_id(ctx.world, rg), name)


def group_lock_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _get(ctx, models.scope_id(ctx.world, rg), name)


def group_lock_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    return _delete(ctx, models.scope_id(ctx.world, rg), name)


def group_lock_list(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    return ArmResponse(200, {"value": models.locks_under(ctx.world, models.scope_id(ctx.world, rg))})


def subscription_lock_put(ctx: ArmRequest, sub: str, name: str) -> ArmResponse:
    return _put(ctx, models.scope_id(ctx.world, None), name)


def subscription_lock_get(ctx: ArmRequest, sub: str, name: str) -> ArmResponse:
    return _get(ctx, models.scope_id(ctx.world, None), name)


def subscription_lock_delete(ctx: ArmRequest, sub: str, name: str) -> ArmResponse:
    return _delete(ctx, models.scope_id(ctx.world, None), name)


def subscription_lock_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    return ArmResponse(200, {"value": models.locks_under(ctx.world, models.scope_id(ctx.world, None))})
