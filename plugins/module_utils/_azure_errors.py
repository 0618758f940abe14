# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors the collection reports, and translation of Azure SDK exceptions into them.

Every message is meant for the person running the playbook: it says what failed and what to
check. No message may carry a secret: callers pass the secrets they know and `scrub` removes
them, and SAS query strings (bearer secrets in a URL) are cut from any URL.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

try:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )
except ImportError:  # reported by the module base through missing_required_lib
    ClientAuthenticationError = HttpResponseError = ServiceRequestError = ServiceResponseError = None

try:
    from azure.identity import CredentialUnavailableError
except ImportError:
    CredentialUnavailableError = None


class VmrepairError(Exception):
    """An error with a message for the user; `details` are returned beside `msg`."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class AzureInputError(VmrepairError):
    """The request cannot be carried out as asked; nothing was changed."""


class AzureNotFoundError(VmrepairError):
    """A resource the request names does not exist."""


class AzureAuthError(VmrepairError):
    """Authentication (Entra ID) or authorization (ARM RBAC) failed."""


class AzureOperationError(VmrepairError):
    """Azure refused or failed an operation."""


class WaitTimeoutError(VmrepairError):
    """A wait reached its deadline."""


# Entra ID error codes seen with service principals, managed identities and federated
# credentials, and what the user should check for each.
AADSTS_HINTS: dict[str, str] = {
    "AADSTS7000215": "the client secret is wrong: check that 'secret' (AZURE_SECRET) holds the secret's "
                     "value (not its id) for the application 'client_id'",
    "AADSTS7000222": "the client secret has expired: create a new secret for the application and use it",
    "AADSTS700016": "the application 'client_id' was not found in the tenant: check 'client_id' "
                    "(AZURE_CLIENT_ID) and 'tenant' (AZURE_TENANT)",
    "AADSTS90002": "the tenant was not found: check 'tenant' (AZURE_TENANT) and 'cloud_environment'",
    "AADSTS900023": "the tenant is neither a GUID nor a domain name: check 'tenant' (AZURE_TENANT)",
    "AADSTS90014": "a required field is missing from the token request: check 'client_id', 'secret' and 'tenant'",
    "AADSTS7000112": "the application is disabled in the tenant",
    "AADSTS500011": "the resource (audience) is unknown in this tenant: check 'cloud_environment'",
    "AADSTS53003": "Conditional Access blocked the sign-in",
    "AADSTS700024": "the federated token is outside its validity period",
    "AADSTS70021": "no federated identity credential matches the presented token",
    "AADSTS50126": "the user name or password is wrong",
}

# ARM error codes, and what to check.
ARM_HINTS: dict[str, str] = {
    "AuthorizationFailed": "the principal lacks a role assignment for this action at this scope "
                           "(see the least-privilege role in the collection's docs)",
    "LinkedAuthorizationFailed": "the principal lacks permission on a linked resource (for example the subnet)",
    "InvalidAuthenticationToken": "ARM refused the token: check 'cloud_environment' and 'tenant'",
    "InvalidAuthenticationTokenAudience": "the token was issued for another cloud: check 'cloud_environment'",
    "ExpiredAuthenticationToken": "the token expired: check the controller's clock",
    "SubscriptionNotFound": "check 'subscription_id' (AZURE_SUBSCRIPTION_ID) and that the principal can see it",
    "InvalidSubscriptionId": "check 'subscription_id' (AZURE_SUBSCRIPTION_ID)",
    "MissingSubscriptionRegistration": "register the resource provider in the subscription",
    "QuotaExceeded": "the subscription's quota for this resource is used up in this region",
    "OperationNotAllowed": "Azure does not allow this operation now (quota, state or policy): read the message",
    "SkuNotAvailable": "the VM size is not available in this region or zone: choose another 'vm_size'",
    "RequestDisallowedByPolicy": "an Azure Policy assignment denies this request",
    "ScopeLocked": "a resource lock prevents this change",
}

_AADSTS_PATTERN = re.compile(r"\b(AADSTS\d{5,7})\b")
# A URL query string carrying a SAS signature: everything after '?' is a bearer secret.
_SAS_QUERY_PATTERN = re.compile(r"(https?://[^\s?'\"<>]+)\?[^\s'\"<>]*\bsig=[^\s'\"<>]*", re.IGNORECASE)
_REDACTED = "********"


def redact_url(url: str) -> str:
    """The URL without its query string (a SAS token is a secret)."""
    return url.split("?", 1)[0]


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove secrets and SAS query strings from a text meant for output."""
    cleaned = _SAS_QUERY_PATTERN.sub(r"\1?<SAS redacted>", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            cleaned = cleaned.replace(secret, _REDACTED)
    return cleaned


def aadsts_code(text: str) -> str | None:
    match = _AADSTS_PATTERN.search(text)
    return match.group(1) if match else None


def describe_authentication_failure(text: str) -> str:
    """A message for an Entra ID sign-in failure: the AADSTS code and what to check."""
    code = aadsts_code(text)
    if code is None:
        return f"Authentication to Microsoft Entra ID failed: {_first_line(text)}"
    hint = AADSTS_HINTS.get(code)
    if hint is None:
        return f"Authentication to Microsoft Entra ID failed with {code}: {_first_line(text)}"
    return f"Authentication to Microsoft Entra ID failed with {code}: {hint}"


def describe_arm_error(status: int | None, code: str | None, message: str | None, action: str = "") -> str:
    """A message for an ARM error response: what we were doing, ARM's code and text, and a hint."""
    parts = []
    if action:
        parts.append(f"Failed to {action}")
    else:
        parts.append("Azure request failed")
    if code:
        parts.append(f": {code}")
    elif status:
        parts.append(f": HTTP {status}")
    if message:
        parts.append(f": {_first_line(message)}")
    hint = ARM_HINTS.get(code or "")
    if hint:
        parts.append(f" ({hint})")
    return "".join(parts)


def _first_line(text: str) -> str:
    text = text.strip()
    # azure-identity's messages repeat a troubleshooting URL after the useful part.
    return text.splitlines()[0] if text else text


def _arm_error_fields(exc: Any) -> tuple[int | None, str | None, str | None]:
    status = getattr(getattr(exc, "response", None), "status_code", None) or getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code is None:
        # Responses that did not parse as ARM errors: use the exception text.
        message = getattr(exc, "message", None) or str(exc)
    return status, code, message


def translate_azure_error(exc: BaseException, action: str = "", secrets: Iterable[str | None] = ()) -> VmrepairError:
    """Turn an SDK exception into a VmrepairError whose message names the problem.

    `action` says what we were doing ("create snapshot 'snap-web-01-1a2b3c4d'").
    """
    secrets = list(secrets)
    if isinstance(exc, VmrepairError):
        return exc
    if CredentialUnavailableError is not None and isinstance(exc, CredentialUnavailableError):
        return AzureAuthError(scrub(f"No Azure credential is available: {_first_line(str(exc))}", secrets))
    if ClientAuthenticationError is not None and isinstance(exc, ClientAuthenticationError) and aadsts_code(str(exc)):
        # Entra ID refused the sign-in (azure-identity raises this, with or without a response).
        return AzureAuthError(scrub(describe_authentication_failure(str(exc)), secrets))
    if HttpResponseError is not None and isinstance(exc, HttpResponseError) and getattr(exc, "response", None) is not None:
        status, code, message = _arm_error_fields(exc)
        text = scrub(describe_arm_error(status, code, message, action), secrets)
        details = {"status": status, "error_code": code}
        if status in (401, 403) or code in ("AuthorizationFailed", "LinkedAuthorizationFailed"):
            return AzureAuthError(text, **details)
        if status == 404:
            return AzureNotFoundError(text, **details)
        return AzureOperationError(text, **details)
    if ClientAuthenticationError is not None and isinstance(exc, ClientAuthenticationError):
        return AzureAuthError(scrub(describe_authentication_failure(str(exc)), secrets))
    if ServiceRequestError is not None and isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        prefix = f"Failed to {action}" if action else "Azure request failed"
        return AzureOperationError(scrub(f"{prefix}: could not reach Azure: {_first_line(str(exc))}", secrets))
    prefix = f"Failed to {action}" if action else "Unexpected error"
    return VmrepairError(scrub(f"{prefix}: {type(exc).__name__}: {_first_line(str(exc))}", secrets))
