# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Azure authentication options shared by every Azure module of the collection.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the Azure credentials come from.
      - V(auto) uses O(client_id), O(secret) and O(tenant) (or E(AZURE_CLIENT_ID), E(AZURE_SECRET) or
        E(AZURE_CLIENT_SECRET), and E(AZURE_TENANT) or E(AZURE_TENANT_ID)) when a secret is set; else the
        O(profile) of the credential file C(~/.azure/credentials) if it holds a secret; else azure-identity's
        C(DefaultAzureCredential) (its environment variables, workload identity, managed identity, Azure CLI).
      - V(env) uses the options or the environment variables above, the names an AWX or Ansible Automation
        Platform "Azure Resource Manager" credential injects.
      - V(credential_file) uses the O(profile) section of C(~/.azure/credentials) (keys C(subscription_id),
        C(client_id), C(secret), C(tenant), C(cloud_environment)); the directory follows E(AZURE_CONFIG_DIR).
      - V(cli) uses the Azure CLI's login (C(az login)); the subscription defaults to the CLI's current one.
      - V(msi) uses the managed identity of the machine running the module; O(client_id) selects a
        user-assigned identity.
    type: str
    default: auto
    choices: [auto, env, cli, msi, credential_file]
  subscription_id:
    description:
      - The subscription to work in.
      - Defaults to E(AZURE_SUBSCRIPTION_ID), then the credential file, then (for V(cli) and V(auto)) the
        Azure CLI's current subscription.
    type: str
  client_id:
    description:
      - The application (client) id of a service principal, or of a user-assigned managed identity with
        O(auth_source=msi).
      - Defaults to E(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - The client secret of the service principal.
      - Defaults to E(AZURE_SECRET), then E(AZURE_CLIENT_SECRET).
      - Never returned or logged.
    type: str
  tenant:
    description:
      - The Microsoft Entra tenant id (or domain) of the service principal.
      - Defaults to E(AZURE_TENANT), then E(AZURE_TENANT_ID).
    type: str
  cloud_environment:
    description:
      - The Azure cloud, V(AzureCloud) (the default), V(AzureChinaCloud), V(AzureUSGovernment), or the
        https URL of an Azure Resource Manager endpoint.
      - For a URL the module reads C(<url>/metadata/endpoints?api-version=2022-09-01) and signs in at the
        login endpoint and for the audience it names (Azure Stack Hub and other custom clouds).
      - Defaults to E(AZURE_CLOUD_ENVIRONMENT), then V(AzureCloud).
    type: str
  profile:
    description:
      - The section of the credential file to use.
      - Defaults to E(AZURE_PROFILE), then V(default).
    type: str
requirements:
  - python >= 3.9
  - azure-identity
  - azure-mgmt-compute >= 38.0.0
  - azure-mgmt-network >= 31.0.0
  - azure-mgmt-resource >= 26.0.0
  - requests
  - cryptography
notes:
  - HTTPS certificates are verified against the system trust store, or the CA bundle in
    E(REQUESTS_CA_BUNDLE).
  - Throttling (HTTP 429 with Retry-After) and transient server errors are retried by the Azure SDK.
"""
