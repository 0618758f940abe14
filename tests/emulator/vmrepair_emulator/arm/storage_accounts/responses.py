"""Handlers of StorageAccounts_GetProperties, _ListByResourceGroup, _List and _ListKeys."""
from __future__ import annotations

from ..core import ArmRequest, ArmResponse
from . import models


def account_get(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    account = models.get_account(ctx.world, rg, name)
    ctx.log_fields["resource_id"] = account["id"]
    return ArmResponse(200, account.to_arm())


def account_list_by_group(ctx: ArmRequest, sub: str, rg: str) -> ArmResponse:
    return ArmResponse(200, {"value": [a.to_arm() for a in models.accounts_in(ctx.world, rg)]})


def account_list(ctx: ArmRequest, sub: str) -> ArmResponse:
    return ArmResponse(200, {"value": [a.to_arm() for a in models.accounts_in(ctx.world, None)]})


def account_list_keys(ctx: ArmRequest, sub: str, rg: str, name: str) -> ArmResponse:
    account = models.get_account(ctx.world, rg, name)
    ctx.log_fields["resource_id"] = account["id"]
    return ArmResponse(200, models.list_keys(account))
