"""/metadata/endpoints: a custom cloud resolves from the ARM URL alone."""
from __future__ import annotations

import requests

from vmrepair_emulator.testing import EmulatorProcess


def _get(emulator: EmulatorProcess, version: str) -> requests.Response:
    return requests.get(f"{emulator.arm_url}metadata/endpoints", params={"api-version": version},
                        verify=emulator.ca_bundle)


def test_current_api_version_is_one_cloud_object(default_emulator: EmulatorProcess) -> None:
    cloud = _get(default_emulator, "2022-09-01").json()
    arm = default_emulator.arm_url
    assert cloud["resourceManager"] == arm
    assert cloud["authentication"]["loginEndpoint"] == arm
    assert cloud["authentication"]["audiences"] == [arm]
    assert cloud["name"]


def test_2019_api_version_is_a_list_as_azure_cli_reads_it(default_emulator: EmulatorProcess) -> None:
    clouds = _get(default_emulator, "2019-05-01").json()
    assert isinstance(clouds, list) and len(clouds) == 1
    assert clouds[0]["resourceManager"] == default_emulator.arm_url
    assert clouds[0]["suffixes"]["storage"]


def test_legacy_api_version_shape(default_emulator: EmulatorProcess) -> None:
    legacy = _get(default_emulator, "2015-01-01").json()
    assert set(legacy) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    assert legacy["authentication"]["audiences"] == [default_emulator.arm_url]


def test_metadata_leads_azure_identity_to_a_working_token(default_emulator: EmulatorProcess) -> None:
    """What a custom-cloud client does: read the metadata, then authenticate where it says."""
    from azure.identity import ClientSecretCredential

    cloud = _get(default_emulator, "2022-09-01").json()
    env = default_emulator.env
    credential = ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"],
                                        authority=cloud["authentication"]["loginEndpoint"],
                                        disable_instance_discovery=True, connection_verify=default_emulator.ca_bundle)
    token = credential.get_token(cloud["authentication"]["audiences"][0] + ".default")
    assert token.token.count(".") == 2
