"""Entra ID v2.0 endpoints, enough for MSAL / azure-identity's ClientSecretCredential.

Errors carry Entra's real shape: {"error", "error_description": "AADSTSnnnn: ...", "error_codes",
"timestamp", "trace_id", "correlation_id", "error_uri"}.
"""
from __future__ import annotations

import base64
import hmac
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..httpserver import HttpRequest, HttpResponse, Router

if TYPE_CHECKING:
    from ..world import World

_TENANT = r"(?P<tenant>[^/]+)"


class EntraID:
    def __init__(self, world: "World") -> None:
        self.world = world

    def register(self, router: Router) -> None:
        router.add("GET", rf"^/{_TENANT}/v2\.0/\.well-known/openid-configuration$", self.openid_configuration)
        router.add("POST", rf"^/{_TENANT}/oauth2/v2\.0/token$", self.token)
        router.add("GET", rf"^/{_TENANT}/discovery/v2\.0/keys$", self.keys)
        router.add("GET", r"^/common/discovery/instance$", self.instance_discovery)

    # -- helpers --------------------------------------------------------------------------------

    def _log(self, request: HttpRequest, response: HttpResponse, **fields: Any) -> HttpResponse:
        self.world.request_log.record("identity", request.method, request.target, response.status,
                                      user_agent=request.headers.get("User-Agent"), **fields)
        return response

    def _error(self, status: int, error: str, aadsts: int, text: str) -> HttpResponse:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        description = (f"AADSTS{aadsts}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} "
                       f"Timestamp: {now:%Y-%m-%d %H:%M:%S}Z")
        return HttpResponse.json(status, {
            "error": error,
            "error_description": description,
            "error_codes": [aadsts],
            "timestamp": f"{now:%Y-%m-%d %H:%M:%S}Z",
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.world.authority_url}/error?code={aadsts}",
        }, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace_id})

    def _tenant_known(self, tenant: str) -> bool:
        return tenant.lower() == self.world.tenant_id.lower()

    def _tenant_not_found(self, tenant: str) -> HttpResponse:
        return self._error(400, "invalid_request", 90002,
                           f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                           "signing into the correct cloud. Check with your subscription administrator, this may "
                           "happen if there are no active subscriptions for the tenant.")

    # -- endpoints ------------------------------------------------------------------------------

    def openid_configuration(self, request: HttpRequest, tenant: str) -> HttpResponse:
        if not self._tenant_known(tenant):
            return self._log(request, self._tenant_not_found(tenant))
        base = f"{self.world.authority_url}/{self.world.tenant_id}"
        host = self.world.authority_url.split("://", 1)[1]
        body = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.world.authority_url}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "aud", "exp",
                                 "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": host,
            "cloud_graph_host_name": host,
            "msgraph_host": host,
            "rbac_url": self.world.authority_url,
        }
        return self._log(request, HttpResponse.json(200, body))

    def keys(self, request: HttpRequest, tenant: str) -> HttpResponse:
        if not self._tenant_known(tenant):
            return self._log(request, self._tenant_not_found(tenant))
        return self._log(request, HttpResponse.json(200, self.world.tokens.jwks()))

    def instance_discovery(self, request: HttpRequest) -> HttpResponse:
        host = self.world.authority_url.split("://", 1)[1]
        tenant = request.query.get("authorization_endpoint", "").rstrip("/").split("/")[-3:-2] or [self.world.tenant_id]
        body = {
            "tenant_discovery_endpoint": f"{self.world.authority_url}/{tenant[0]}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
        return self._log(request, HttpResponse.json(200, body))

    def token(self, request: HttpRequest, tenant: str) -> HttpResponse:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):  # client_secret_basic
            try:
                user, _colon, password = base64.b64decode(basic[6:]).decode().partition(":")
                client_id, secret = client_id or user, password
            except ValueError:
                pass
        response, fields = self._token(tenant, form, client_id, secret)
        return self._log(request, response, client_id=client_id, grant_type=form.get("grant_type"), **fields)

    def _token(self, tenant: str, form: dict[str, str], client_id: str | None,
               secret: str | None) -> tuple[HttpResponse, dict[str, Any]]:
        world = self.world
        if not self._tenant_known(tenant):
            return self._tenant_not_found(tenant), {}
        grant_type = form.get("grant_type")
        if not grant_type:
            return self._error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'grant_type'."), {}
        if grant_type != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003,
                               "The app requested an unsupported grant type."), {}
        if not client_id:
            return self._error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'client_id'."), {}
        principal = world.principals.get(client_id.lower())
        if principal is None:
            return self._error(400, "unauthorized_client", 700016,
                               f"Application with identifier '{client_id}' was not found in the directory "
                               f"'{world.tenant_id}'. This can happen if the application has not been installed by "
                               "the administrator of the tenant or consented to by any user in the tenant. You may "
                               "have sent your authentication request to the wrong tenant."), {}
        if form.get("client_assertion"):
            return self._error(401, "invalid_client", 700027,
                               "The certificate with identifier used to sign the client assertion is not registered "
                               "on application."), {}
        if not secret:
            return self._error(401, "invalid_client", 7000218,
                               "The request body must contain the following parameter: 'client_assertion' or "
                               "'client_secret'."), {}
        if not hmac.compare_digest(secret.encode(), principal["secret"].encode()):
            return self._error(401, "invalid_client", 7000215,
                               "Invalid client secret provided. Ensure the secret being sent in the request is the "
                               "client secret value, not the client secret ID, for a secret added to app "
                               f"'{client_id}'."), {}
        scope = form.get("scope", "")
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self._error(400, "invalid_scope", 1002012,
                               f"The provided value for scope {scope} is not valid. Client credential flows must have "
                               "a scope value with /.default suffixed to the resource identifier (application ID "
                               "URI)."), {}
        resource = scopes[0][: -len(".default")]
        audience = resource if resource in world.arm_audiences else resource.rstrip("/")
        if audience not in world.arm_audiences:
            return self._error(400, "invalid_resource", 500011,
                               f"The resource principal named {resource.rstrip('/')} was not found in the tenant "
                               f"named {world.tenant_id}. This can happen if the application has not been installed "
                               "by the administrator of the tenant or consented to by any user in the tenant. You "
                               "might have sent your authentication request to the wrong tenant."), {}
        lifetime = int(world.knobs.token_lifetime_s)
        token = world.tokens.issue(principal["client_id"], principal["object_id"], audience, lifetime, scope)
        body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        return HttpResponse.json(200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}), {
            "scope": scope}
