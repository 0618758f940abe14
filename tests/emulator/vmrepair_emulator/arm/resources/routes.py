"""Routes of Microsoft.Resources (ARCHITECTURE.md: providers export ROUTES)."""
from __future__ import annotations

from ..core import Route
from . import responses as r

_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"

ROUTES: list[Route] = [
    Route("GET", r"^/subscriptions/?$", r.subscription_list, "Subscriptions_List",
          action="Microsoft.Resources/subscriptions/read"),
    Route("GET", _SUB + r"/?$", r.subscription_get, "Subscriptions_Get"),
    Route("GET", _SUB + r"/locations/?$", r.locations_list, "Subscriptions_ListLocations",
          action="Microsoft.Resources/subscriptions/locations/read"),
    Route("GET", _SUB + r"/resourceGroups/?$", r.group_list, "ResourceGroups_List"),
    Route("PUT", _RG + r"/?$", r.group_create_or_update, "ResourceGroups_CreateOrUpdate"),
    Route("GET", _RG + r"/?$", r.group_get, "ResourceGroups_Get"),
    Route("HEAD", _RG + r"/?$", r.group_check_existence, "ResourceGroups_CheckExistence"),
    Route("PATCH", _RG + r"/?$", r.group_update, "ResourceGroups_Update"),
    Route("DELETE", _RG + r"/?$", r.group_delete, "ResourceGroups_Delete"),
    Route("GET", _SUB + r"/resources/?$", r.resources_list, "Resources_List"),
    Route("GET", _RG + r"/resources/?$", r.resources_list_by_group, "Resources_ListByResourceGroup"),
    Route("GET", _SUB + r"/providers/?$", r.provider_list, "Providers_List"),
    Route("GET", _SUB + r"/providers/(?P<namespace>[^/]+)/?$", r.provider_get, "Providers_Get",
          action="Microsoft.Resources/subscriptions/providers/read"),
    Route("POST", _SUB + r"/providers/(?P<namespace>[^/]+)/register$", r.provider_register, "Providers_Register",
          action="Microsoft.Resources/subscriptions/providers/register/action"),
]
