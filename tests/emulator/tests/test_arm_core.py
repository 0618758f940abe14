"""ARM front door: tokens, api-version, subscription, RBAC, faults, headers, request log."""
from __future__ import annotations

import time

import jwt
import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient

from vmrepair_emulator.testing import ControlClient, EmulatorProcess


class StaticToken:
    """A credential that hands out a fixed token (to send forged or expired ones)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def _rg_list_url(env: dict[str, str]) -> str:
    return f"{env['AZURE_CLOUD_ENVIRONMENT']}subscriptions/{env['AZURE_SUBSCRIPTION_ID']}/resourcegroups"


def test_missing_token_is_401_with_arm_challenge(default_emulator: EmulatorProcess) -> None:
    env = default_emulator.env
    response = requests.get(_rg_list_url(env), params={"api-version": "2025-04-01"}, verify=default_emulator.ca_bundle)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer authorization_uri="')
    assert env["AZURE_TENANT"] in challenge
    assert 'error="invalid_token"' in challenge


def test_forged_token_is_rejected_through_the_sdk(default_emulator: EmulatorProcess) -> None:
    forged = jwt.encode({"aud": default_emulator.arm_url, "exp": int(time.time()) + 600}, "a-key-that-is-not-the-emulator-signing-key",
                        algorithm="HS256")
    client = default_emulator.mgmt_client(ResourceManagementClient, credential=StaticToken(forged))
    with pytest.raises(ClientAuthenticationError) as info:
        list(client.resource_groups.list())
    assert info.value.status_code == 401
    assert info.value.error.code == "InvalidAuthenticationToken"


def test_expired_token_is_rejected_through_the_sdk(default_emulator: EmulatorProcess, control: ControlClient) -> None:
    control.set_knobs(token_lifetime_s=1)
    token = default_emulator.credential().get_token(default_emulator.arm_url + ".default").token
    time.sleep(1.5)
    client = default_emulator.mgmt_client(ResourceManagementClient, credential=StaticToken(token))
    with pytest.raises(ClientAuthenticationError) as info:
        list(client.resource_groups.list())
    assert info.value.error.code == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in info.value.error.message


def test_tampered_token_signature_is_rejected(default_emulator: EmulatorProcess) -> None:
    import json

    base = default_emulator.arm_url.rstrip("/")
    env = default_emulator.env
    good = default_emulator.credential().get_token(default_emulator.arm_url + ".default").token
    claims = jwt.decode(good, options={"verify_signature": False})
    assert claims["aud"] == default_emulator.arm_url
    response = requests.get(_rg_list_url(env), params={"api-version": "2025-04-01"},
                            headers={"Authorization": "Bearer " + good[:-4] + "abcd"}, verify=default_emulator.ca_bundle)
    assert response.status_code == 401
    assert json.loads(response.text)["error"]["code"] == "InvalidAuthenticationToken"
    assert base in response.headers["WWW-Authenticate"]


def test_api_version_is_required_and_checked(default_emulator: EmulatorProcess) -> None:
    env = default_emulator.env
    token = default_emulator.credential().get_token(default_emulator.arm_url + ".default").token
    headers = {"Authorization": f"Bearer {token}"}
    missing = requests.get(_rg_list_url(env), headers=headers, verify=default_emulator.ca_bundle)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    future = requests.get(_rg_list_url(env), params={"api-version": "2999-01-01"}, headers=headers,
                          verify=default_emulator.ca_bundle)
    assert future.status_code == 400
    assert future.json()["error"]["code"] == "InvalidApiVersionParameter"
    garbage = requests.get(_rg_list_url(env), params={"api-version": "latest"}, headers=headers,
                           verify=default_emulator.ca_bundle)
    assert garbage.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_unknown_subscription_is_404(default_emulator: EmulatorProcess) -> None:
    client = ResourceManagementClient(default_emulator.credential(), "00000000-1111-2222-3333-444444444444",
                                      **default_emulator.client_kwargs())
    with pytest.raises(ResourceNotFoundError) as info:
        list(client.resource_groups.list())
    assert info.value.error.code == "SubscriptionNotFound"


def test_responses_carry_arm_headers(default_emulator: EmulatorProcess) -> None:
    env = default_emulator.env
    token = default_emulator.credential().get_token(default_emulator.arm_url + ".default").token
    response = requests.get(_rg_list_url(env), params={"api-version": "2025-04-01"},
                            headers={"Authorization": f"Bearer {token}", "x-ms-correlation-request-id": "corr-1",
                                     "x-ms-client-request-id": "client-1"}, verify=default_emulator.ca_bundle)
    assert response.status_code == 200
    assert response.headers["x-ms-correlation-request-id"] == "corr-1"
    assert response.headers["x-ms-client-request-id"] == "client-1"
    assert len(response.headers["x-ms-request-id"]) == 36
    assert int(response.headers["x-ms-ratelimit-remaining-subscription-reads"]) < 250


def test_rbac_reader_cannot_write(default_emulator: EmulatorProcess, control: ControlClient) -> None:
    client = default_emulator.mgmt_client(ResourceManagementClient)
    control.set_knobs(rbac_role="Reader")
    assert [g.name for g in client.resource_groups.list()]  # reads are allowed
    with pytest.raises(HttpResponseError) as info:
        client.resource_groups.create_or_update("rbac-rg", {"location": "westeurope"})
    assert info.value.status_code == 403
    assert info.value.error.code == "AuthorizationFailed"
    message = info.value.error.message
    assert "does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/write'" in message
    assert f"over scope '/subscriptions/{default_emulator.env['AZURE_SUBSCRIPTION_ID']}/resourcegroups/rbac-rg'" in message


def test_rbac_custom_role_definition_json(default_emulator: EmulatorProcess, control: ControlClient) -> None:
    client = default_emulator.mgmt_client(ResourceManagementClient)
    control.set_knobs(rbac_role={"Name": "rg-reader-only", "Actions": ["Microsoft.Resources/subscriptions/resourceGroups/read"],
                                 "NotActions": []})
    assert client.resource_groups.get("prod-rg").name == "prod-rg"
    with pytest.raises(HttpResponseError) as info:
        list(client.resources.list())
    assert info.value.status_code == 403


def test_injected_throttling_is_retried_by_the_sdk(default_emulator: EmulatorProcess, control: ControlClient) -> None:
    client = default_emulator.mgmt_client(ResourceManagementClient)
    mark = control.mark()
    control.set_knobs(faults=[{"match": {"operation": "ResourceGroups_Get"}, "status": 429, "retry_after": 1,
                               "count": 2}])
    assert client.resource_groups.get("prod-rg").name == "prod-rg"
    statuses = [r["status"] for r in control.requests(service="arm", since=mark) if r.get("operation") == "ResourceGroups_Get"]
    assert statuses == [429, 429, 200]


def test_injected_5xx_and_dropped_connection_are_retried(default_emulator: EmulatorProcess,
                                                         control: ControlClient) -> None:
    client = default_emulator.mgmt_client(ResourceManagementClient, retry_backoff_factor=0.05)
    mark = control.mark()
    control.set_knobs(faults=[{"match": {"method": "GET", "path_regex": "/resourcegroups/prod-rg$"}, "status": 503,
                               "count": 1},
                              {"match": {"method": "GET", "path_regex": "/resourcegroups/prod-rg$"}, "status": "drop",
                               "count": 1}])
    assert client.resource_groups.get("prod-rg").name == "prod-rg"
    statuses = [r["status"] for r in control.requests(service="arm", since=mark) if r.get("operation") == "ResourceGroups_Get"]
    assert statuses == [503, 0, 200]


def test_request_log_records_sdk_user_agent_and_operation(default_emulator: EmulatorProcess,
                                                          control: ControlClient) -> None:
    client = default_emulator.mgmt_client(ResourceManagementClient)
    mark = control.mark()
    client.resource_groups.get("prod-rg")
    [record] = list(control.requests(service="arm", since=mark))
    assert record["operation"] == "ResourceGroups_Get"
    assert record["user_agent"].startswith("azsdk-python-mgmt-resource/")
    assert record["api_version"] == client._config.api_version
    assert record["client_id"] == default_emulator.env["AZURE_CLIENT_ID"]
    assert record["status"] == 200
    assert record["resource_id"].endswith("/resourceGroups/prod-rg")


def test_knob_validation_names_the_bad_knob(control: ControlClient) -> None:
    with pytest.raises(ValueError, match="latency_scal"):
        control.set_knobs(latency_scal=1)
    with pytest.raises(ValueError, match="faults\\[0\\].status"):
        control.set_knobs(faults=[{"status": 200}])
