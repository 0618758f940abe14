"""Handlers of DiskEncryptionSets_* (Get, CreateOrUpdate, Delete, List*).

Azure runs DES PUT/DELETE as long-running operations; the emulator completes them at once and
answers 200 with provisioningState Succeeded (the SDK poller finishes on such an answer).
"""
from __future__ import annotations

from ..core import ArmRequest, ArmResponse
from ..errors import ArmError, not_found
from . import encryption, ids


def _des_id(ctx: ArmRequest, rg: str, name: str) -> str:
    existing = ctx.world.get(ids.key(ids.resource_id(ctx.world.subscription_id, rg, encryption.DISK_ENCRYPTION_SETS,
                                                     name)))
    if existing is not None:
        return existing["id"]
    group = ctx.world.get_resource_group(rg)
    return ids.resource_id(ctx.world.subscription_id, group["name"] if group else rg,
                           encryption.DISK_ENCRYPTION_SETS, name)


def des_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    found = ctx.world.get(ids.key(_des_id(ctx, rg, name)))
    if found is None:
        raise not_found(encryption.DISK_ENCRYPTION_SETS, name, rg)
    return ArmResponse(200, found.to_arm())


def des_create_or_update(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    body = ctx.json()
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
    encryption.register(ctx.world)
    des_id = _des_id(ctx, rg, name)
    with ctx.world.lock:
        existing = ctx.world.get(ids.key(des_id))
        des = encryption.build_encryption_set(ctx.world, des_id, name, body, existing)
        ctx.world.put(des)
    ctx.log_fields["resource_id"] = des_id
    # The REST spec lists 200 and 202 only (no 201, the SDK refuses it).
    return ArmResponse(200, des.to_arm())


def des_delete(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    des_id = _des_id(ctx, rg, name)
    with ctx.world.lock:
        if ctx.world.get(ids.key(des_id)) is None:
            return ArmResponse(204, None)
        users = [r["id"] for r in ctx.world.resources.values()
                 if ids.same((r.get("properties") or {}).get("encryption", {}).get("diskEncryptionSetId"), des_id)]
        if users:
            # Wording not verified.
            raise ArmError(409, "OperationNotAllowed", f"Disk Encryption Set '{des_id}' is in use by "
                                                       f"{len(users)} resource(s) and cannot be deleted: "
                                                       f"{', '.join(users)}.")
        ctx.world.remove(des_id)
    return ArmResponse(200, None)


def des_list(ctx: ArmRequest, sub: str, rg: str | None = None) -> ArmResponse:
    prefix = f"/subscriptions/{ctx.world.subscription_id}/resourcegroups/{rg}/".lower() if rg else ""
    with ctx.world.lock:
        found = [r.to_arm() for key, r in sorted(ctx.world.resources.items())
                 if r.get("type", "").lower() == encryption.DISK_ENCRYPTION_SETS.lower() and key.startswith(prefix)]
    return ArmResponse(200, {"value": found})
