# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure authentication: the shared options, the cloud, and the azure-identity credential.

Option names and environment variables follow azure.azcollection and what AWX injects for an
"Azure Resource Manager" credential, so existing playbooks and AWX credentials work unchanged.
Public, sovereign and custom clouds (an ARM URL whose /metadata/endpoints names the login
endpoint and audience) take one code path: a `Cloud` value handed to azure-identity and the SDKs.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureAuthError,
    AzureInputError,
    scrub,
)

try:
    import requests
except ImportError:  # reported by the module base through missing_required_lib
    requests = None

AUTH_SOURCES = ("auto", "env", "cli", "msi", "credential_file")

# The options every Azure module of the collection takes (documented in doc_fragments/azure_auth.py).
AUTH_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "auth_source": {"type": "str", "default": "auto", "choices": list(AUTH_SOURCES)},
    "subscription_id": {"type": "str"},
    "client_id": {"type": "str"},
    "secret": {"type": "str", "no_log": True},
    "tenant": {"type": "str"},
    "cloud_environment": {"type": "str"},
    "profile": {"type": "str"},
}

METADATA_API_VERSION = "2022-09-01"
DEFAULT_CLOUD = "AzureCloud"

# Environment variables, first match wins: AWX's names, then azure-identity's own.
ENV_SUBSCRIPTION = ("AZURE_SUBSCRIPTION_ID",)
ENV_CLIENT_ID = ("AZURE_CLIENT_ID",)
ENV_SECRET = ("AZURE_SECRET", "AZURE_CLIENT_SECRET")
ENV_TENANT = ("AZURE_TENANT", "AZURE_TENANT_ID")
ENV_CLOUD = ("AZURE_CLOUD_ENVIRONMENT",)
ENV_PROFILE = ("AZURE_PROFILE",)


@dataclass(frozen=True)
class Cloud:
    """Where ARM and Entra ID are for one cloud."""

    name: str
    resource_manager: str  # ARM base URL, with a trailing '/'
    login_endpoint: str  # Entra ID authority URL, with a trailing '/'
    audience: str  # the ARM token audience
    custom: bool  # True: not a cloud Entra ID's instance discovery knows

    @property
    def credential_scope(self) -> str:
        return self.audience.rstrip("/") + "/.default"


KNOWN_CLOUDS: dict[str, Cloud] = {
    "AzureCloud": Cloud(
        "AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com/",
        "https://management.azure.com/", custom=False,
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn/",
        "https://management.chinacloudapi.cn/", custom=False,
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment", "https://management.usgovcloudapi.net/", "https://login.microsoftonline.us/",
        "https://management.core.usgovcloudapi.net/", custom=False,
    ),
}
# Other spellings in use (msrestazure constants, azure-core's AzureClouds).
_CLOUD_ALIASES = {
    "azurecloud": "AzureCloud",
    "azure_public_cloud": "AzureCloud",
    "azurechinacloud": "AzureChinaCloud",
    "azure_china_cloud": "AzureChinaCloud",
    "azureusgovernment": "AzureUSGovernment",
    "azure_us_gov_cloud": "AzureUSGovernment",
    "azure_us_government": "AzureUSGovernment",
}
_KNOWN_LOGIN_HOSTS = {urlparse(c.login_endpoint).hostname for c in KNOWN_CLOUDS.values()}


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def cloud_from_metadata(arm_url: str, metadata: Any) -> Cloud:
    """Build a Cloud from an ARM /metadata/endpoints answer (one cloud, or a list of clouds)."""
    arm_url = _with_slash(arm_url)
    entry = metadata
    if isinstance(metadata, list):
        wanted = urlparse(arm_url).netloc.lower()
        matching = [m for m in metadata if urlparse(str(m.get("resourceManager", ""))).netloc.lower() == wanted]
        entry = matching[0] if matching else (metadata[0] if metadata else {})
    if not isinstance(entry, dict):
        raise AzureInputError(f"The cloud metadata at {arm_url}metadata/endpoints is not a JSON object")
    authentication = entry.get("authentication") or {}
    login_endpoint = authentication.get("loginEndpoint")
    audiences = [a for a in authentication.get("audiences") or [] if a]
    if not login_endpoint or not audiences:
        raise AzureInputError(
            f"The cloud metadata at {arm_url}metadata/endpoints does not name authentication.loginEndpoint "
            "and authentication.audiences"
        )
    # Prefer the audience on ARM's own host (https://management.azure.com/ over .core.windows.net).
    arm_host = urlparse(str(entry.get("resourceManager") or arm_url)).hostname
    audience = next((a for a in audiences if urlparse(a).hostname == arm_host), audiences[0])
    login_endpoint = _with_slash(login_endpoint)
    return Cloud(
        name=str(entry.get("name") or arm_url),
        resource_manager=arm_url,
        login_endpoint=login_endpoint,
        audience=audience,
        custom=urlparse(login_endpoint).hostname not in _KNOWN_LOGIN_HOSTS,
    )


def fetch_cloud_metadata(arm_url: str, timeout: float = 30) -> Any:
    """GET <arm_url>/metadata/endpoints (trusting REQUESTS_CA_BUNDLE as requests does)."""
    url = f"{_with_slash(arm_url)}metadata/endpoints?api-version={METADATA_API_VERSION}"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise AzureInputError(f"Could not read the cloud metadata from {url}: {exc}") from None


def resolve_cloud(value: str | None, fetch: Callable[[str], Any] = fetch_cloud_metadata) -> Cloud:
    """A cloud name (AzureCloud, AzureChinaCloud, AzureUSGovernment) or an ARM URL -> Cloud."""
    value = (value or DEFAULT_CLOUD).strip()
    known = _CLOUD_ALIASES.get(value.lower())
    if known:
        return KNOWN_CLOUDS[known]
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        if parsed.scheme != "https":
            raise AzureInputError(f"cloud_environment '{value}' must be an https URL")
        return cloud_from_metadata(value, fetch(value))
    raise AzureInputError(
        f"cloud_environment '{value}' is neither a known cloud (AzureCloud, AzureChinaCloud, AzureUSGovernment) "
        "nor an https URL of an Azure Resource Manager endpoint"
    )


@dataclass(frozen=True)
class CredentialPlan:
    """Which azure-identity credential to build, and with what. Secret fields never leave here."""

    kind: str  # client_secret | default | cli | managed_identity
    subscription_id: str | None
    client_id: str | None
    secret: str | None
    tenant: str | None
    cloud_environment: str
    source: str  # where the values came from, for messages: "options", "environment", "credential file ..."

    def __repr__(self) -> str:  # keep the secret out of tracebacks and debug output
        return (
            f"CredentialPlan(kind={self.kind!r}, subscription_id={self.subscription_id!r}, "
            f"client_id={self.client_id!r}, tenant={self.tenant!r}, cloud_environment={self.cloud_environment!r}, "
            f"source={self.source!r})"
        )


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if environ.get(name):
            return environ[name]
    return None


def credential_file_path(environ: Mapping[str, str]) -> str:
    """~/.azure/credentials (the directory moves with AZURE_CONFIG_DIR, as for the Azure CLI)."""
    config_dir = environ.get("AZURE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".azure")
    return os.path.join(config_dir, "credentials")


def read_credential_profile(path: str, profile: str) -> dict[str, str] | None:
    """The [profile] section of an azure.azcollection-style credential file, or None if absent."""
    if not os.path.isfile(path):
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise AzureInputError(f"Could not parse the Azure credential file {path}: {exc.message}") from None
    if not parser.has_section(profile):
        return None
    return dict(parser.items(profile))


def plan_credential(
    options: Mapping[str, Any],
    environ: Mapping[str, str],
    read_profile: Callable[[str, str], dict[str, str] | None] = read_credential_profile,
) -> CredentialPlan:
    """Decide the credential from the module options, the environment and the credential file.

    Explicit options win over the environment, which wins over the credential file.
    """
    source = options.get("auth_source") or "auto"
    given = {
        "subscription_id": options.get("subscription_id"),
        "client_id": options.get("client_id"),
        "secret": options.get("secret"),
        "tenant": options.get("tenant"),
        "cloud_environment": options.get("cloud_environment"),
    }
    from_env = {
        "subscription_id": _first(environ, ENV_SUBSCRIPTION),
        "client_id": _first(environ, ENV_CLIENT_ID),
        "secret": _first(environ, ENV_SECRET),
        "tenant": _first(environ, ENV_TENANT),
        "cloud_environment": _first(environ, ENV_CLOUD),
    }
    profile_name = options.get("profile") or _first(environ, ENV_PROFILE) or "default"
    path = credential_file_path(environ)

    def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key in given:
            result[key] = next((layer.get(key) for layer in layers if layer.get(key)), None)
        return result

    if source == "credential_file":
        profile = read_profile(path, profile_name)
        if profile is None:
            raise AzureInputError(f"auth_source=credential_file: no profile [{profile_name}] in {path}")
        values = merged(given, profile)
        _require_service_principal(values, f"the credential file {path} [{profile_name}]")
        return _plan("client_secret", values, f"credential file {path} [{profile_name}]")

    if source == "env":
        values = merged(given, from_env)
        _require_service_principal(values, "the environment (AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT)")
        return _plan("client_secret", values, "environment")

    if source == "cli":
        return _plan("cli", merged(given, from_env), "Azure CLI")

    if source == "msi":
        values = merged(given, from_env)
        return _plan("managed_identity", values, "managed identity")

    # auto: a complete service principal from options/environment, else the credential file,
    # else azure-identity's DefaultAzureCredential (environment, workload identity, managed identity, CLI).
    values = merged(given, from_env)
    if values["secret"]:
        _require_service_principal(values, "the options or the environment")
        return _plan("client_secret", values, "options or environment")
    profile = read_profile(path, profile_name)
    if profile and profile.get("secret"):
        values = merged(given, from_env, profile)
        _require_service_principal(values, f"the credential file {path} [{profile_name}]")
        return _plan("client_secret", values, f"credential file {path} [{profile_name}]")
    return _plan("default", values, "DefaultAzureCredential")


def _plan(kind: str, values: Mapping[str, Any], source: str) -> CredentialPlan:
    return CredentialPlan(
        kind=kind,
        subscription_id=values.get("subscription_id"),
        client_id=values.get("client_id"),
        secret=values.get("secret"),
        tenant=values.get("tenant"),
        cloud_environment=values.get("cloud_environment") or DEFAULT_CLOUD,
        source=source,
    )


def _require_service_principal(values: Mapping[str, Any], where: str) -> None:
    missing = [name for name in ("client_id", "secret", "tenant") if not values.get(name)]
    if missing:
        raise AzureInputError(
            "A service principal needs client_id, secret and tenant; missing from "
            f"{where}: {', '.join(missing)}"
        )


def subscription_from_cli(run: Callable[..., Any] = subprocess.run) -> str | None:
    """The Azure CLI's current subscription (`az account show`), or None without a usable CLI."""
    try:
        completed = run(
            ["az", "account", "show", "--output", "json"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    try:
        return json.loads(completed.stdout).get("id")
    except ValueError:
        return None


def resolve_subscription(plan: CredentialPlan, from_cli: Callable[[], str | None] = subscription_from_cli) -> str:
    if plan.subscription_id:
        return plan.subscription_id
    if plan.kind in ("cli", "default"):
        found = from_cli()
        if found:
            return found
    raise AzureInputError(
        "No subscription: set 'subscription_id' or AZURE_SUBSCRIPTION_ID"
        + (" (or log in with 'az login')" if plan.kind in ("cli", "default") else "")
    )


def build_credential(plan: CredentialPlan, cloud: Cloud) -> Any:
    """The azure-identity credential for a plan, pointed at the cloud's login endpoint."""
    from azure.identity import (  # imported here: the module base reports a missing library first
        AzureCliCredential,
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
    )

    authority = cloud.login_endpoint
    try:
        if plan.kind == "client_secret":
            return ClientSecretCredential(
                tenant_id=plan.tenant,
                client_id=plan.client_id,
                client_secret=plan.secret,
                authority=authority,
                # Entra ID's instance discovery does not know a custom cloud's login endpoint.
                disable_instance_discovery=cloud.custom,
            )
        if plan.kind == "cli":
            return AzureCliCredential(tenant_id=plan.tenant)
        if plan.kind == "managed_identity":
            return ManagedIdentityCredential(client_id=plan.client_id) if plan.client_id else ManagedIdentityCredential()
        return DefaultAzureCredential(
            authority=authority,
            managed_identity_client_id=plan.client_id,
            exclude_interactive_browser_credential=True,
        )
    except ValueError as exc:
        raise AzureAuthError(scrub(f"Invalid Azure credential settings from {plan.source}: {exc}", [plan.secret])) from None
