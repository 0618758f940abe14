"""Cloud resolution and credential selection: options, environment, credential file."""
from __future__ import annotations

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_auth import (
    AUTH_ARGUMENT_SPEC,
    KNOWN_CLOUDS,
    CredentialPlan,
    cloud_from_metadata,
    plan_credential,
    read_credential_profile,
    resolve_cloud,
    resolve_subscription,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import AzureInputError

SECRET = "env-secret-value"
EMULATOR = "https://127.0.0.1:8443/"
EMULATOR_METADATA = {
    "name": "vmrepair-emulator",
    "resourceManager": EMULATOR,
    "authentication": {
        "loginEndpoint": EMULATOR,
        "audiences": ["https://management.core.windows.net/", EMULATOR],
        "tenant": "common",
        "identityProvider": "AAD",
    },
}


def no_profile(path, name):
    return None


def options(**given):
    values = {name: spec.get("default") for name, spec in AUTH_ARGUMENT_SPEC.items()}
    values.update(given)
    return values


# --- clouds --------------------------------------------------------------------------------------


def test_default_cloud_is_public_azure():
    cloud = resolve_cloud(None, fetch=pytest.fail)
    assert cloud.resource_manager == "https://management.azure.com/"
    assert cloud.login_endpoint == "https://login.microsoftonline.com/"
    assert cloud.credential_scope == "https://management.azure.com/.default"
    assert not cloud.custom


@pytest.mark.parametrize("name, expected", [
    ("AzureChinaCloud", "AzureChinaCloud"),
    ("azure_china_cloud", "AzureChinaCloud"),
    ("AzureUSGovernment", "AzureUSGovernment"),
    ("AZURE_US_GOV_CLOUD", "AzureUSGovernment"),
    ("azurecloud", "AzureCloud"),
])
def test_sovereign_clouds_resolve_without_network(name, expected):
    assert resolve_cloud(name, fetch=pytest.fail) == KNOWN_CLOUDS[expected]


def test_us_government_scope_is_the_core_audience():
    assert KNOWN_CLOUDS["AzureUSGovernment"].credential_scope == "https://management.core.usgovcloudapi.net/.default"


def test_arm_url_reads_metadata_and_prefers_the_audience_on_arm_host():
    fetched = []
    cloud = resolve_cloud(EMULATOR.rstrip("/"), fetch=lambda url: fetched.append(url) or EMULATOR_METADATA)
    assert fetched == [EMULATOR.rstrip("/")]
    assert cloud.resource_manager == EMULATOR
    assert cloud.login_endpoint == EMULATOR
    assert cloud.credential_scope == EMULATOR.rstrip("/") + "/.default"
    assert cloud.custom


def test_metadata_list_picks_the_entry_of_the_given_arm_host():
    other = dict(EMULATOR_METADATA, resourceManager="https://management.example.org/",
                 authentication={"loginEndpoint": "https://login.example.org", "audiences": ["https://x/"]})
    cloud = cloud_from_metadata(EMULATOR, [other, EMULATOR_METADATA])
    assert cloud.login_endpoint == EMULATOR


def test_metadata_of_public_cloud_is_not_custom():
    metadata = {"name": "AzureCloud", "resourceManager": "https://management.azure.com/",
                "authentication": {"loginEndpoint": "https://login.microsoftonline.com",
                                   "audiences": ["https://management.core.windows.net/",
                                                 "https://management.azure.com/"]}}
    cloud = cloud_from_metadata("https://management.azure.com", metadata)
    assert not cloud.custom
    assert cloud.audience == "https://management.azure.com/"


def test_metadata_without_login_endpoint_is_refused():
    with pytest.raises(AzureInputError, match="loginEndpoint"):
        cloud_from_metadata(EMULATOR, {"resourceManager": EMULATOR, "authentication": {}})


@pytest.mark.parametrize("value", ["http://127.0.0.1:8443/", "NotACloud"])
def test_bad_cloud_values_are_refused(value):
    with pytest.raises(AzureInputError):
        resolve_cloud(value, fetch=pytest.fail)


# --- credentials ---------------------------------------------------------------------------------


def test_awx_environment_gives_a_service_principal():
    environ = {"AZURE_SUBSCRIPTION_ID": "sub", "AZURE_CLIENT_ID": "app", "AZURE_SECRET": SECRET,
               "AZURE_TENANT": "tenant", "AZURE_CLOUD_ENVIRONMENT": EMULATOR}
    plan = plan_credential(options(), environ, no_profile)
    assert (plan.kind, plan.subscription_id, plan.client_id, plan.secret, plan.tenant, plan.cloud_environment) == (
        "client_secret", "sub", "app", SECRET, "tenant", EMULATOR)


def test_azure_identity_environment_names_are_accepted_too():
    environ = {"AZURE_CLIENT_ID": "app", "AZURE_CLIENT_SECRET": SECRET, "AZURE_TENANT_ID": "tenant"}
    plan = plan_credential(options(), environ, no_profile)
    assert (plan.kind, plan.secret, plan.tenant) == ("client_secret", SECRET, "tenant")


def test_options_win_over_environment():
    environ = {"AZURE_CLIENT_ID": "env-app", "AZURE_SECRET": SECRET, "AZURE_TENANT": "env-tenant",
               "AZURE_SUBSCRIPTION_ID": "env-sub"}
    plan = plan_credential(options(client_id="opt-app", subscription_id="opt-sub"), environ, no_profile)
    assert (plan.client_id, plan.subscription_id, plan.tenant) == ("opt-app", "opt-sub", "env-tenant")


def test_env_source_names_missing_variables_not_values():
    with pytest.raises(AzureInputError) as caught:
        plan_credential(options(auth_source="env"), {"AZURE_SECRET": SECRET}, no_profile)
    assert "client_id" in caught.value.message and "tenant" in caught.value.message
    assert SECRET not in caught.value.message


def test_auto_without_secret_falls_back_to_default_credential():
    plan = plan_credential(options(), {"AZURE_SUBSCRIPTION_ID": "sub"}, no_profile)
    assert plan.kind == "default" and plan.subscription_id == "sub"


def test_auto_uses_the_credential_file_profile(tmp_path):
    config = tmp_path / "credentials"
    config.write_text("[default]\nsubscription_id = file-sub\nclient_id = file-app\nsecret = file-secret\n"
                      "tenant = file-tenant\n[other]\nsubscription_id = other-sub\nclient_id = o\nsecret = s\n"
                      "tenant = t\ncloud_environment = AzureChinaCloud\n")
    environ = {"AZURE_CONFIG_DIR": str(tmp_path)}
    plan = plan_credential(options(), environ)
    assert (plan.kind, plan.subscription_id, plan.secret) == ("client_secret", "file-sub", "file-secret")
    other = plan_credential(options(auth_source="credential_file", profile="other"), environ)
    assert (other.subscription_id, other.cloud_environment) == ("other-sub", "AzureChinaCloud")
    from_env = plan_credential(options(auth_source="credential_file"), dict(environ, AZURE_PROFILE="other"))
    assert from_env.subscription_id == "other-sub"


def test_credential_file_source_without_the_profile_fails(tmp_path):
    (tmp_path / "credentials").write_text("[default]\nclient_id = a\n")
    with pytest.raises(AzureInputError, match=r"no profile \[missing\]"):
        plan_credential(options(auth_source="credential_file", profile="missing"), {"AZURE_CONFIG_DIR": str(tmp_path)})


def test_read_credential_profile_of_absent_file_is_none(tmp_path):
    assert read_credential_profile(str(tmp_path / "nope"), "default") is None


def test_msi_and_cli_sources():
    assert plan_credential(options(auth_source="msi", client_id="uami"), {}, no_profile).kind == "managed_identity"
    assert plan_credential(options(auth_source="cli"), {}, no_profile).kind == "cli"


def test_plan_repr_hides_the_secret():
    plan = plan_credential(options(client_id="a", secret=SECRET, tenant="t"), {}, no_profile)
    assert SECRET not in repr(plan) and SECRET not in str(plan)


def test_subscription_comes_from_the_cli_only_for_cli_and_default():
    cli_plan = CredentialPlan("cli", None, None, None, None, "AzureCloud", "Azure CLI")
    assert resolve_subscription(cli_plan, from_cli=lambda: "cli-sub") == "cli-sub"
    sp_plan = CredentialPlan("client_secret", None, "a", SECRET, "t", "AzureCloud", "options")
    with pytest.raises(AzureInputError, match="AZURE_SUBSCRIPTION_ID"):
        resolve_subscription(sp_plan, from_cli=lambda: "cli-sub")
