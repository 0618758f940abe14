"""Entra ID endpoints against the real azure-identity / MSAL clients."""
from __future__ import annotations

import time

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError

from vmrepair_emulator.testing import EmulatorProcess


def test_client_secret_credential_gets_rs256_token_for_arm(default_emulator: EmulatorProcess) -> None:
    env = default_emulator.env
    arm = default_emulator.arm_url
    token = default_emulator.credential().get_token(arm + ".default")

    assert token.expires_on > time.time() + 3000  # token_lifetime_s defaults to 3600
    header = jwt.get_unverified_header(token.token)
    assert header["alg"] == "RS256"
    keys = requests.get(f"{arm}{env['AZURE_TENANT']}/discovery/v2.0/keys", verify=default_emulator.ca_bundle).json()
    jwk = next(k for k in keys["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token.token, jwt.algorithms.RSAAlgorithm.from_jwk(jwk), algorithms=["RS256"], audience=arm)
    assert claims["tid"] == env["AZURE_TENANT"]
    assert claims["appid"] == env["AZURE_CLIENT_ID"]
    assert claims["iss"] == f"{arm}{env['AZURE_TENANT']}/v2.0"
    assert claims["oid"]


def test_openid_configuration_names_this_host(default_emulator: EmulatorProcess) -> None:
    env = default_emulator.env
    base = default_emulator.arm_url.rstrip("/")
    config = requests.get(f"{base}/{env['AZURE_TENANT']}/v2.0/.well-known/openid-configuration",
                          verify=default_emulator.ca_bundle).json()
    assert config["token_endpoint"] == f"{base}/{env['AZURE_TENANT']}/oauth2/v2.0/token"
    assert config["issuer"] == f"{base}/{env['AZURE_TENANT']}/v2.0"
    assert config["jwks_uri"].startswith(base)


def test_wrong_secret_is_invalid_client_7000215(default_emulator: EmulatorProcess) -> None:
    credential = default_emulator.credential(client_secret="not-the-secret")
    with pytest.raises(ClientAuthenticationError) as info:
        credential.get_token(default_emulator.arm_url + ".default")
    assert "AADSTS7000215" in str(info.value)


def test_token_endpoint_error_shapes(default_emulator: EmulatorProcess) -> None:
    env = default_emulator.env
    base = default_emulator.arm_url.rstrip("/")
    url = f"{base}/{env['AZURE_TENANT']}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": env["AZURE_CLIENT_ID"],
            "client_secret": env["AZURE_SECRET"], "scope": default_emulator.arm_url + ".default"}
    verify = default_emulator.ca_bundle

    wrong_secret = requests.post(url, data={**form, "client_secret": "x"}, verify=verify)
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert wrong_secret.json()["error_codes"] == [7000215]

    unknown_client = requests.post(url, data={**form, "client_id": "00000000-0000-0000-0000-000000000099"},
                                   verify=verify)
    assert unknown_client.status_code == 400
    assert unknown_client.json()["error"] == "unauthorized_client"
    assert unknown_client.json()["error_description"].startswith("AADSTS700016:")

    unknown_tenant = requests.post(f"{base}/11111111-0000-0000-0000-000000000000/oauth2/v2.0/token", data=form,
                                   verify=verify)
    assert unknown_tenant.status_code == 400
    assert unknown_tenant.json()["error_description"].startswith("AADSTS90002:")

    other_resource = requests.post(url, data={**form, "scope": "https://management.azure.com/.default"}, verify=verify)
    assert other_resource.status_code == 400
    assert other_resource.json()["error"] == "invalid_resource"

    ok = requests.post(url, data=form, verify=verify)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer"


def test_unknown_tenant_credential_fails(default_emulator: EmulatorProcess) -> None:
    credential = default_emulator.credential(tenant_id="22222222-0000-0000-0000-000000000000")
    with pytest.raises(ClientAuthenticationError):
        credential.get_token(default_emulator.arm_url + ".default")


def test_token_requests_are_logged_with_client_id(default_emulator: EmulatorProcess) -> None:
    control = default_emulator.control()
    mark = control.mark()
    default_emulator.credential().get_token(default_emulator.arm_url + ".default")
    records = [r for r in control.requests(service="identity", since=mark) if r["path"].endswith("/token")]
    assert records and records[-1]["status"] == 200
    assert records[-1]["client_id"] == default_emulator.env["AZURE_CLIENT_ID"]
    assert "azsdk-python-identity" in records[-1]["user_agent"]
