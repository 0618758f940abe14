"""Routes of Microsoft.Network (ARCHITECTURE.md: providers export ROUTES)."""
from __future__ import annotations

from ..core import Route
from . import responses as r

_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network"
_NAME = r"/(?P<name>[^/]+)$"


def _crud(collection: str, op_prefix: str, create, get, delete, list_) -> list[Route]:
    return [
        Route("PUT", _RG + f"/{collection}" + _NAME, create, f"{op_prefix}_CreateOrUpdate"),
        Route("GET", _RG + f"/{collection}" + _NAME, get, f"{op_prefix}_Get"),
        Route("DELETE", _RG + f"/{collection}" + _NAME, delete, f"{op_prefix}_Delete"),
        Route("GET", _RG + f"/{collection}/?$", list_, f"{op_prefix}_List"),
        Route("GET", _SUB + rf"/providers/Microsoft\.Network/{collection}/?$", list_, f"{op_prefix}_ListAll"),
    ]


_SUBNETS = _RG + r"/virtualNetworks/(?P<vnet>[^/]+)/subnets"

ROUTES: list[Route] = [
    Route("PUT", _SUBNETS + _NAME, r.subnet_create_or_update, "Subnets_CreateOrUpdate"),
    Route("GET", _SUBNETS + _NAME, r.subnet_get, "Subnets_Get"),
    Route("DELETE", _SUBNETS + _NAME, r.subnet_delete, "Subnets_Delete"),
    Route("GET", _SUBNETS + r"/?$", r.subnet_list, "Subnets_List"),
    *_crud("virtualNetworks", "VirtualNetworks", r.vnet_create_or_update, r.vnet_get, r.vnet_delete, r.vnet_list),
    *_crud("networkInterfaces", "NetworkInterfaces", r.nic_create_or_update, r.nic_get, r.nic_delete, r.nic_list),
    *_crud("publicIPAddresses", "PublicIPAddresses", r.pip_create_or_update, r.pip_get, r.pip_delete, r.pip_list),
    *_crud("networkSecurityGroups", "NetworkSecurityGroups", r.nsg_create_or_update, r.nsg_get, r.nsg_delete,
           r.nsg_list),
]
