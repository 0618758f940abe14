"""/metadata/endpoints: how a client turns the ARM URL into a cloud definition (custom cloud).

Three shapes, by api-version, as management.azure.com answers them:
- 2022-09-01 and later: one object for this cloud (go-azure-sdk, current clients);
- 2019-05-01 .. 2022-08-31: a list of cloud objects (azure-cli `az cloud register`, Docker CLI);
- older (2015-01-01, msrestazure): one object with galleryEndpoint/graphEndpoint/portalEndpoint.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .httpserver import HttpRequest, HttpResponse, Router

if TYPE_CHECKING:
    from .world import World

CLOUD_NAME = "VmrepairEmulator"


def cloud_object(world: "World") -> dict[str, Any]:
    arm = world.base_url + "/"
    unreachable = "emulator.invalid"  # services the emulator does not offer: a name that never resolves
    return {
        "portal": arm,
        "authentication": {
            "loginEndpoint": world.authority_url + "/",
            "audiences": [arm],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": f"https://media.{unreachable}/",
        "graphAudience": f"https://graph.{unreachable}/",
        "graph": f"https://graph.{unreachable}/",
        "name": CLOUD_NAME,
        "suffixes": {
            "azureDataLakeStoreFileSystem": f"adls.{unreachable}",
            "acrLoginServer": f"acr.{unreachable}",
            "sqlServerHostname": f"sql.{unreachable}",
            "azureDataLakeAnalyticsCatalogAndJob": f"adla.{unreachable}",
            "keyVaultDns": f"vault.{unreachable}",
            "storage": f"storage.{unreachable}",
            "azureFrontDoorEndpointSuffix": f"afd.{unreachable}",
            "storageSyncEndpointSuffix": f"afs.{unreachable}",
            "mhsmDns": f"mhsm.{unreachable}",
            "mysqlServerEndpoint": f"mysql.{unreachable}",
            "postgresqlServerEndpoint": f"postgres.{unreachable}",
            "mariadbServerEndpoint": f"mariadb.{unreachable}",
            "synapseAnalytics": f"synapse.{unreachable}",
            "attestationEndpoint": f"attest.{unreachable}",
        },
        "batch": f"https://batch.{unreachable}/",
        "resourceManager": arm,
        "vmImageAliasDoc": f"https://aliases.{unreachable}/aliases.json",
        "activeDirectoryDataLake": f"https://datalake.{unreachable}/",
        "sqlManagement": f"https://sqlmanagement.{unreachable}:8443/",
        "microsoftGraphResourceId": f"https://graph.{unreachable}/",
        "appInsightsResourceId": f"https://appinsights.{unreachable}",
        "appInsightsTelemetryChannelResourceId": f"https://dc.{unreachable}/v2/track",
        "attestationResourceId": f"https://attest.{unreachable}",
        "synapseAnalyticsResourceId": f"https://synapse.{unreachable}",
        "logAnalyticsResourceId": f"https://loganalytics.{unreachable}",
        "ossrDbmsResourceId": f"https://ossrdbms.{unreachable}",
        "gallery": f"https://gallery.{unreachable}/",
    }


def legacy_object(world: "World") -> dict[str, Any]:
    current = cloud_object(world)
    return {
        "galleryEndpoint": current["gallery"],
        "graphEndpoint": current["graph"],
        "portalEndpoint": current["portal"],
        "authentication": {"loginEndpoint": current["authentication"]["loginEndpoint"],
                           "audiences": current["authentication"]["audiences"]},
    }


def register(router: Router, world: "World") -> None:
    def endpoints(request: HttpRequest) -> HttpResponse:
        version = request.query.get("api-version", "")
        if not version:
            response = HttpResponse.json(400, {"error": {"code": "MissingApiVersionParameter",
                                                         "message": "The api-version query parameter (?api-version=) "
                                                                    "is required for all requests."}})
        elif version >= "2022-09-01":
            response = HttpResponse.json(200, cloud_object(world))
        elif version >= "2019-05-01":
            response = HttpResponse.json(200, [cloud_object(world)])
        else:
            response = HttpResponse.json(200, legacy_object(world))
        world.request_log.record("metadata", request.method, request.target, response.status,
                                 user_agent=request.headers.get("User-Agent"), api_version=version or None)
        return response

    router.add("GET", r"^/metadata/endpoints/?$", endpoints)
