"""Routes of Microsoft.Storage/storageAccounts (operation names as in the REST spec's operationId).

Api-versions: the stable versions of the Storage RP's specs, through 2026-09-01 (what azure-mgmt-storage
25.x sends); anything else gets core's NoRegisteredProviderFound.
"""
from __future__ import annotations

from ..core import Route
from . import responses as r

_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_ACCOUNTS = r"/providers/Microsoft\.Storage/storageAccounts"
VERSIONS = ("2015-06-15", "2016-01-01", "2016-05-01", "2016-12-01", "2017-06-01", "2017-10-01", "2018-02-01",
            "2018-07-01", "2018-11-01", "2019-04-01", "2019-06-01", "2021-01-01", "2021-02-01", "2021-04-01",
            "2021-06-01", "2021-08-01", "2021-09-01", "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01",
            "2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01", "2025-08-01", "2026-04-01", "2026-06-01",
            "2026-09-01")

ROUTES: list[Route] = [
    Route("GET", _RG + _ACCOUNTS + r"/(?P<name>[^/]+)$", r.account_get, "StorageAccounts_GetProperties", VERSIONS),
    Route("GET", _RG + _ACCOUNTS + "$", r.account_list_by_group, "StorageAccounts_ListByResourceGroup", VERSIONS),
    Route("GET", _SUB + _ACCOUNTS + "$", r.account_list, "StorageAccounts_List", VERSIONS),
    Route("POST", _RG + _ACCOUNTS + r"/(?P<name>[^/]+)/listKeys$", r.account_list_keys, "StorageAccounts_ListKeys",
          VERSIONS, action="Microsoft.Storage/storageAccounts/listKeys/action"),
]
