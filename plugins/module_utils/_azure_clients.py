# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SDK client factory: one credential, one cloud, the management clients built from them.

Retries are azure-core's RetryPolicy (429 with Retry-After, 408 and transient 5xx, connection
errors); long-running operations are the SDK's pollers, which honour Retry-After.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureNotFoundError,
    translate_azure_error,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_auth import (
    Cloud,
    CredentialPlan,
    build_credential,
    plan_credential,
    resolve_cloud,
    resolve_subscription,
)

# Keep in step with galaxy.yml's version.
COLLECTION_VERSION = "0.1.0"
USER_AGENT = f"vmrepair.azure/{COLLECTION_VERSION}"

# azure-core RetryPolicy settings. status retries cover 408/429/500/502/503/504 and any
# response carrying Retry-After; the default of 3 is too few for a throttled fleet run.
RETRY_SETTINGS: dict[str, Any] = {
    "retry_total": 12,
    "retry_status": 10,
    "retry_connect": 4,
    "retry_read": 4,
    "retry_backoff_factor": 0.8,
    "retry_backoff_max": 60,
}
# Seconds between LRO polls when Azure sends no Retry-After (the SDK default is 30).
POLLING_INTERVAL = 5


def client_options(cloud: Cloud) -> dict[str, Any]:
    """Keyword arguments shared by every management client for this cloud."""
    options: dict[str, Any] = {
        "base_url": cloud.resource_manager,
        "credential_scopes": [cloud.credential_scope],
        "polling_interval": POLLING_INTERVAL,
    }
    options.update(RETRY_SETTINGS)
    return options


def _with_user_agent(client: Any) -> Any:
    # Appended after the SDK's own moniker, as azure.azcollection does.
    client._config.user_agent_policy.add_user_agent(USER_AGENT)  # pylint: disable=protected-access
    return client


@dataclass
class AzureClients:
    """Lazily built management clients sharing one credential."""

    credential: Any
    subscription_id: str
    cloud: Cloud
    plan: CredentialPlan
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output."""
        return [s for s in (self.plan.secret,) if s]

    def _client(self, key: str, factory: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = _with_user_agent(
                factory(self.credential, self.subscription_id, **client_options(self.cloud))
            )
        return self._cache[key]

    @property
    def compute(self) -> Any:
        from azure.mgmt.compute import ComputeManagementClient

        return self._client("compute", ComputeManagementClient)

    @property
    def network(self) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return self._client("network", NetworkManagementClient)

    @property
    def resources(self) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return self._client("resources", ResourceManagementClient)

    @property
    def storage(self) -> Any:
        from azure.mgmt.storage import StorageManagementClient

        return self._client("storage", StorageManagementClient)

    # -- reads returning REST JSON (the shapes of Azure's API reference), with clear errors --

    def get_vm(self, resource_group: str, vm_name: str, instance_view: bool = False) -> dict[str, Any]:
        """GET a virtual machine; a missing VM or resource group fails naming which one."""
        try:
            vm = self.compute.virtual_machines.get(
                resource_group, vm_name, expand="instanceView" if instance_view else None
            )
        except Exception as exc:  # pylint: disable=broad-except  # translated below
            raise self._vm_error(exc, resource_group, vm_name) from None
        return as_json(vm)

    def _vm_error(self, exc: BaseException, resource_group: str, vm_name: str) -> Exception:
        error = translate_azure_error(exc, action=f"read virtual machine '{vm_name}'", secrets=self.secrets)
        if isinstance(error, AzureNotFoundError):
            if error.details.get("error_code") == "ResourceGroupNotFound":
                return AzureNotFoundError(
                    f"Resource group '{resource_group}' was not found in subscription '{self.subscription_id}'",
                    **error.details,
                )
            return AzureNotFoundError(
                f"Virtual machine '{vm_name}' was not found in resource group '{resource_group}'", **error.details
            )
        return error

    def get_by_id(self, resource_id: str, getter: Any, what: str) -> dict[str, Any] | None:
        """GET a resource through `getter(resource_group, name)`; None when it does not exist."""
        parts = parse_resource_id(resource_id)
        try:
            return as_json(getter(parts["resource_group"], parts["name"]))
        except Exception as exc:  # pylint: disable=broad-except  # translated below
            error = translate_azure_error(exc, action=f"read {what} '{parts['name']}'", secrets=self.secrets)
            if isinstance(error, AzureNotFoundError):
                return None
            raise error from None

    def close(self, credential: bool = True) -> None:
        """Close the clients, and the credential unless other AzureClients share it."""
        for client in self._cache.values():
            client.close()
        self._cache.clear()
        close = getattr(self.credential, "close", None) if credential else None
        if close:
            close()


def as_json(model: Any) -> dict[str, Any]:
    """An SDK model as plain REST JSON (camelCase keys, str values instead of enums)."""
    if model is None:
        return {}
    raw = model.as_dict() if hasattr(model, "as_dict") else dict(model)
    return json.loads(json.dumps(raw, default=str))


def parse_resource_id(resource_id: str) -> dict[str, str]:
    """subscription, resource_group, namespace, type and name of an ARM resource id."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    result = {"id": resource_id, "subscription": "", "resource_group": "", "namespace": "", "type": "", "name": parts[-1]}
    if "subscriptions" in lowered:
        result["subscription"] = parts[lowered.index("subscriptions") + 1]
    if "resourcegroups" in lowered:
        result["resource_group"] = parts[lowered.index("resourcegroups") + 1]
    if "providers" in lowered:
        at = len(lowered) - 1 - lowered[::-1].index("providers")
        result["namespace"] = parts[at + 1]
        # Type of the resource itself: namespace/type[/child-type...] with names in between.
        types = parts[at + 2::2]
        result["type"] = "/".join([parts[at + 1]] + types)
    return result


def connect(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> AzureClients:
    """Build the clients from the auth options (and the environment, for the fallbacks)."""
    environ = os.environ if environ is None else environ
    plan = plan_credential(options, environ)
    cloud = resolve_cloud(plan.cloud_environment)
    subscription_id = resolve_subscription(plan)
    credential = build_credential(plan, cloud)
    return AzureClients(credential=credential, subscription_id=subscription_id, cloud=cloud, plan=plan)
