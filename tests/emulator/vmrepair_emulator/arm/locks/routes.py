"""Routes of Microsoft.Authorization/locks (operation names as in the REST spec's operationId).

azure-mgmt-resource 26 no longer ships the locks client; the separate package
azure-mgmt-resource-locks (ManagementLockClient) sends api-version 2020-05-01, the multi-api
azure-mgmt-resource < 24 sent 2016-09-01; both are registered.
"""
from __future__ import annotations

from ..core import Route
from . import responses as r

_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_LOCKS = r"/providers/Microsoft\.Authorization/locks"
VERSIONS = ("2015-01-01", "2016-09-01", "2020-05-01")

ROUTES: list[Route] = [
    Route("PUT", _RG + _LOCKS + r"/(?P<name>[^/]+)$", r.group_lock_put,
          "ManagementLocks_CreateOrUpdateAtResourceGroupLevel", VERSIONS),
    Route("GET", _RG + _LOCKS + r"/(?P<name>[^/]+)$", r.group_lock_get,
          "ManagementLocks_GetAtResourceGroupLevel", VERSIONS),
    Route("DELETE", _RG + _LOCKS + r"/(?P<name>[^/]+)$", r.group_lock_delete,
          "ManagementLocks_DeleteAtResourceGroupLevel", VERSIONS),
    Route("GET", _RG + _LOCKS + "$", r.group_lock_list, "ManagementLocks_ListAtResourceGroupLevel", VERSIONS),
    Route("PUT", _SUB + _LOCKS + r"/(?P<name>[^/]+)$", r.subscription_lock_put,
          "ManagementLocks_CreateOrUpdateAtSubscriptionLevel", VERSIONS),
    Route("GET", _SUB + _LOCKS + r"/(?P<name>[^/]+)$", r.subscription_lock_get,
          "ManagementLocks_GetAtSubscriptionLevel", VERSIONS),
    Route("DELETE", _SUB + _LOCKS + r"/(?P<name>[^/]+)$", r.subscription_lock_delete,
          "ManagementLocks_DeleteAtSubscriptionLevel", VERSIONS),
    Route("GET", _SUB + _LOCKS + "$", r.subscription_lock_list, "ManagementLocks_ListAtSubscriptionLevel", VERSIONS),
]
