"""ARM front door: routing, token check, subscription and api-version checks, knobs, logging.

Providers export `ROUTES: list[Route]` (arm/<provider>/routes.py); `ArmApp` tries them in
order. Everything a real ARM front door does before a resource provider sees the request
happens here, so each provider only writes its handlers.
"""
from __future__ import annotations

import importlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from requests.structures import CaseInsensitiveDict

from ..httpserver import DropConnection, HttpRequest, HttpResponse
from .errors import ArmError, invalid_request_content, resource_group_not_found
from . import rbac, throttling
from .locks import models as locks

if TYPE_CHECKING:
    from ..world import World

_API_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview|-beta|-privatepreview)?$", re.IGNORECASE)


@dataclass
class Route:
    """One ARM operation. `pattern` is a case-insensitive regex on the path; named groups are kwargs."""

    method: str
    pattern: str
    handler: Callable[..., "ArmResponse"]
    operation: str
    api_versions: tuple[str, ...] | list[str] | None = None  # None: any plausible date (see _check_api_version)
    action: str | None = None  # RBAC action; None: derived from method + path (rbac.derive_action)
    regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.regex = re.compile(self.pattern, re.IGNORECASE)


@dataclass
class ArmResponse:
    status: int
    body: dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ArmRequest:
    world: "World"
    method: str
    path: str
    query: dict[str, str]
    headers: CaseInsensitiveDict
    api_version: str
    subscription_id: str | None
    principal: str  # client id (appid) of the token
    base_url: str  # "https://127.0.0.1:PORT"
    body: bytes = b""
    operation: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    # Handlers may add fields for the request log (e.g. resource_id).
    log_fields: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict:
        """The JSON body; 400 InvalidRequestContent when it is missing or not JSON."""
        if not self.body:
            raise invalid_request_content("The request body is empty")
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise invalid_request_content(str(exc)) from None
        return value

    def json_or_none(self) -> Any:
        return self.json() if self.body else None


def _www_authenticate(world: "World", description: str) -> str:
    return (f'Bearer authorization_uri="{world.authority_url}/{world.tenant_id}", '
            f'error="invalid_token", error_description="{description}"')


def _routing_id(world: "World") -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{world.location.upper()}:{stamp}:{uuid.uuid4()}"


class ArmApp:
    """Dispatches /subscriptions/... and /providers/... to provider routes."""

    PROVIDER_MODULES = ("lro", "resources.routes", "network.routes", "compute.routes", "locks.routes",
                        "storage_accounts.routes")

    def __init__(self, world: "World", routes: list[Route] | None = None) -> None:
        self.world = world
        self.routes = routes if routes is not None else load_routes()
        self.namespaces = {m.lower() for r in self.routes for m in re.findall(r"Microsoft\\?\.(\w+)", r.pattern)}
        self._fault_lock = threading.Lock()

    # -- entry point (registered on the HTTPS router) ---------------------------------------

    def handle(self, request: HttpRequest, **_: Any) -> HttpResponse:
        started = time.monotonic()
        world = self.world
        request_id = str(uuid.uuid4())
        correlation_id = request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        headers = {
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
            "Expires": "-1",
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": correlation_id,
            "x-ms-routing-request-id": _routing_id(world),
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("x-ms-client-request-id"):
            headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        log: dict[str, Any] = {
            "user_agent": request.headers.get("User-Agent"),
            "api_version": request.query.get("api-version"),
            "request_id": request_id,
            "correlation_id": correlation_id,
            "client_request_id": request.headers.get("x-ms-client-request-id"),
        }
        response: ArmResponse
        try:
            response = self._dispatch(request, log, headers)
        except ArmError as exc:
            headers.update(exc.headers)
            log["error_code"] = exc.code
            response = ArmResponse(exc.status, exc.to_body())
        except DropConnection:
            log["dropped"] = True
            log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            world.request_log.record("arm", request.method, request.target, 0, **log)
            raise
        headers.update(response.headers)
        body = b""
        if response.body is not None:
            body = json.dumps(response.body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        log["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        world.request_log.record("arm", request.method, request.target, response.status, **log)
        return HttpResponse(response.status, body, headers)

    # -- the checks, in ARM's order -----------------------------------------------------------

    def _dispatch(self, request: HttpRequest, log: dict[str, Any], headers: dict[str, str]) -> ArmResponse:
        world = self.world
        claims = self._authenticate(request)
        principal = str(claims.get("appid") or claims.get("azp") or "")
        log["client_id"] = principal

        route, groups = self._match(request)
        log["operation"] = route.operation
        subscription_id = groups.get("sub") or groups.get("subscription_id")
        ctx = ArmRequest(
            world=world, method=request.method, path=request.path, query=request.query, headers=request.headers,
            api_version=request.query.get("api-version", ""), subscription_id=subscription_id, principal=principal,
            base_url=request.base_url, body=request.body, operation=route.operation, claims=claims,
            log_fields=log,
        )
        self._check_api_version(ctx, route)
        if subscription_id is not None and subscription_id.lower() != world.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")

        action = route.action or rbac.derive_action(request.method, request.path)
        log["action"] = action
        role = world.effective_role(principal)
        if not rbac.allows(role, action):
            oid = str(claims.get("oid") or principal)
            raise ArmError(403, "AuthorizationFailed",
                           f"The client '{principal}' with object id '{oid}' does not have authorization to perform "
                           f"action '{action}' over scope '{rbac.scope_of(request.path)}' or the scope is invalid. "
                           "If access was recently granted, please refresh your credentials.")

        self._apply_throttling(ctx, principal, headers)
        self._apply_faults(ctx, route)
        self._check_resource_group(ctx, groups)
        locks.check_request(world, request.method, request.path)  # 409 ScopeLocked, after RBAC as in ARM
        self._apply_compute_throttling(ctx, groups, headers)  # the resource provider's own buckets, last

        kwargs = {k: v for k, v in groups.items() if v is not None}
        return route.handler(ctx, **kwargs)

    def _authenticate(self, request: HttpRequest) -> dict[str, Any]:
        world = self.world
        auth = request.headers.get("Authorization")
        if not auth:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                           headers={"WWW-Authenticate": _www_authenticate(
                               world, "The authentication failed because of missing 'Authorization' header.")})
        scheme, _space, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                           headers={"WWW-Authenticate": _www_authenticate(
                               world, "The authentication failed because of invalid 'Authorization' header.")})
        from ..identity.tokens import TokenRejected

        try:
            return world.tokens.verify(token.strip(), audiences=world.arm_audiences)
        except TokenRejected as exc:
            raise ArmError(401, exc.code, exc.message,
                           headers={"WWW-Authenticate": _www_authenticate(world, exc.message)}) from None

    def _match(self, request: HttpRequest) -> tuple[Route, dict[str, str]]:
        path_matched: list[Route] = []
        for route in self.routes:
            match = route.regex.match(request.path)
            if not match:
                continue
            if route.method == request.method:
                return route, match.groupdict()
            path_matched.append(route)
        if path_matched:
            raise ArmError(405, "MethodNotAllowed",
                           f"The requested resource does not support http method '{request.method}'.")
        namespace = re.search(r"/providers/Microsoft\.(\w+)", request.path, re.IGNORECASE)
        if namespace and namespace.group(1).lower() not in self.namespaces:
            raise ArmError(404, "InvalidResourceNamespace",
                           f"The resource namespace 'Microsoft.{namespace.group(1)}' is invalid.")
        segments = [s for s in request.path.split("/") if s]
        resource_type = segments[-2] if len(segments) >= 2 else request.path
        raise ArmError(400, "InvalidResourceType",
                       f"The resource type '{resource_type}' could not be found in the namespace "
                       f"'{'Microsoft.' + namespace.group(1) if namespace else 'Microsoft.Resources'}' for api version "
                       f"'{request.query.get('api-version', '')}'.")

    def _check_api_version(self, ctx: ArmRequest, route: Route) -> None:
        version = ctx.query.get("api-version")
        if version is None or version == "":
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        if route.api_versions is not None:
            if version.lower() not in {v.lower() for v in route.api_versions}:
                supported = ",".join(sorted(route.api_versions, reverse=True))
                raise ArmError(400, "NoRegisteredProviderFound",
                               f"No registered resource provider found for location '{self.world.location}' and API "
                               f"version '{version}' for type '{route.operation.split('_')[0]}'. The supported "
                               f"api-versions are '{supported}'. The supported locations are '{self.world.location}'.")
            return
        match = _API_VERSION.match(version)
        valid = False
        if match:
            try:
                valid = date(int(match.group(1)), int(match.group(2)), int(match.group(3))) <= date.today()
            except ValueError:
                valid = False
        if not valid:
            raise ArmError(400, "InvalidApiVersionParameter",
                           f"The api-version '{version}' is invalid. The supported versions are "
                           f"'{date.today().isoformat()}' and earlier dated versions.")

    def _check_resource_group(self, ctx: ArmRequest, groups: dict[str, str]) -> None:
        """ARM refuses any request under a missing resource group before a provider sees it."""
        rg = groups.get("rg") or groups.get("resource_group")
        if not rg or not re.search(r"/resourceGroups/[^/]+/(providers|resources)(/|$)", ctx.path, re.IGNORECASE):
            return
        group = self.world.get_resource_group(rg)
        if group is None:
            raise resource_group_not_found(rg)
        if ctx.method in ("PUT", "PATCH", "POST") and group["properties"].get("provisioningState") == "Deleting":
            raise ArmError(409, "ResourceGroupBeingDeleted",
                           f"The resource group '{group['name']}' is in deprovisioning state and cannot perform this "
                           "operation.")

    def _apply_throttling(self, ctx: ArmRequest, principal: str, headers: dict[str, str]) -> None:
        kind = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(ctx.method, "writes")
        remaining, global_remaining, allowed = self.world.throttle.take(ctx.subscription_id or "", principal, kind)
        headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(remaining)
        headers[f"x-ms-ratelimit-remaining-subscription-global-{kind}"] = str(global_remaining)
        if not allowed:
            retry = self.world.throttle.retry_after(kind, ctx.subscription_id or "", principal)
            ctx.log_fields["throttled"] = f"subscription-{kind}"  # which bucket refused, for tests that count
            raise ArmError(429, "SubscriptionRequestsThrottled",
                           f"Number of '{kind[:-1]}' requests for subscription '{ctx.subscription_id}' actor "
                           f"'{principal}' exceeded. Please try again after '{retry}' seconds after additional tokens "
                           "are available. Refer to https://aka.ms/arm-throttling",
                           headers={"Retry-After": str(retry), "x-ms-failure-cause": "gateway"})

    def _apply_compute_throttling(self, ctx: ArmRequest, groups: dict[str, str], headers: dict[str, str]) -> None:
        """Compute RP's buckets (per VM or operation, and per subscription) for the operations it counts."""
        if groups.get("op_id"):
            resource_key: str | None = f"operation:{groups['op_id']}"
        elif groups.get("name") and groups.get("rg"):
            resource_key = f"/subscriptions/{ctx.subscription_id}/resourceGroups/{groups['rg']}/vm/{groups['name']}"
        else:
            resource_key = None
        verdict = self.world.throttle.take_compute(ctx.operation, ctx.subscription_id or "", resource_key)
        if verdict is None:
            return
        headers["x-ms-ratelimit-remaining-resource"] = verdict.header
        if verdict.refused_by is not None:
            ctx.log_fields["throttled"] = f"Microsoft.Compute/{verdict.refused_by}"
            # Compute RP's throttling answer (learn.microsoft.com, "Troubleshooting API throttling errors").
            raise ArmError(429, "OperationNotAllowed", throttling.THROTTLED_MESSAGE, details=verdict.error_details(),
                           headers={"Retry-After": str(verdict.retry_after)})

    def _apply_faults(self, ctx: ArmRequest, route: Route) -> None:
        fault = self._take_fault(ctx, route)
        if fault is None:
            return
        status = fault.get("status", 500)
        ctx.log_fields["fault"] = True
        if status in (0, "drop", None):
            raise DropConnection()
        status = int(status)
        if status == 429:
            retry = fault.get("retry_after", 1)
            kind = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(ctx.method, "writes")
            raise ArmError(429, fault.get("code") or "SubscriptionRequestsThrottled",
                           fault.get("message") or
                           f"Number of '{kind[:-1]}' requests for subscription '{ctx.subscription_id}' actor "
                           f"'{ctx.principal}' exceeded. Please try again after '{retry}' seconds after additional "
                           "tokens are available. Refer to https://aka.ms/arm-throttling",
                           headers={"Retry-After": str(retry), f"x-ms-ratelimit-remaining-subscription-{kind}": "0",
                                    "x-ms-failure-cause": "gateway"})
        default_codes = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        raise ArmError(status, fault.get("code") or default_codes.get(status, "InternalServerError"),
                       fault.get("message") or "Encountered internal server error. Diagnostic information: "
                                               f"timestamp '{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}', "
                                               f"subscription id '{ctx.subscription_id}', tracking id "
                                               f"'{ctx.log_fields.get('request_id')}'.",
                       headers={"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None)

    def _take_fault(self, ctx: ArmRequest, route: Route) -> dict[str, Any] | None:
        with self._fault_lock:
            for fault in self.world.knobs.faults:
                match = fault.get("match") or {}
                if match.get("method") and match["method"].upper() != ctx.method:
                    continue
                if match.get("operation") and match["operation"].lower() != route.operation.lower():
                    continue
                if match.get("path_regex") and not re.search(match["path_regex"], ctx.path, re.IGNORECASE):
                    continue
                count = fault.get("count")
                if count is not None:
                    if count <= 0:
                        continue
                    fault["count"] = count - 1
                fault["fired"] = fault.get("fired", 0) + 1
                return fault
        return None


def load_routes() -> list[Route]:
    """Every provider's ROUTES; a provider package that is not written yet is skipped."""
    routes: list[Route] = []
    for module_name in ArmApp.PROVIDER_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.{module_name.split('.', maxsplit=1)[0]}"):
                continue
            raise
        routes.extend(module.ROUTES)
    return routes
