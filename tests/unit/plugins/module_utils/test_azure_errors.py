"""Translation of Azure SDK exceptions into clear messages without secrets."""
from __future__ import annotations

import json

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.mgmt.core.exceptions import ARMErrorFormat

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    AzureAuthError,
    AzureNotFoundError,
    AzureOperationError,
    VmrepairError,
    aadsts_code,
    describe_arm_error,
    describe_authentication_failure,
    redact_url,
    scrub,
    translate_azure_error,
)

SECRET = "s3cr3t-Value~With.Chars"
SAS_URL = ("https://md-abc.blob.core.windows.net/bootdiag/vm.serialconsole.log"
           "?sv=2021-08-06&sr=b&sp=r&se=2026-11-24T10%3A00%3A00Z&sig=AbCdEf%2Bsecret%3D")


class _ArmResponse:
    """The few attributes azure-core's HttpResponseError reads from an HTTP response."""

    def __init__(self, status: int, body: dict, reason: str = "Error") -> None:
        self.status_code = status
        self.reason = reason
        self.headers = {"content-type": "application/json"}
        self.request = None
        self._body = json.dumps(body).encode()

    def text(self, encoding=None) -> str:
        return self._body.decode()

    def body(self) -> bytes:
        return self._body


def arm_error(cls, status: int, code: str, message: str):
    return cls(response=_ArmResponse(status, {"error": {"code": code, "message": message}}),
               error_format=ARMErrorFormat)


def test_scrub_removes_secrets_and_sas_query_strings():
    text = f"failed with secret {SECRET} while reading {SAS_URL} (again: {SECRET})"
    cleaned = scrub(text, [SECRET])
    assert SECRET not in cleaned
    assert "sig=" not in cleaned and "AbCdEf" not in cleaned
    assert "https://md-abc.blob.core.windows.net/bootdiag/vm.serialconsole.log?<SAS redacted>" in cleaned


def test_scrub_keeps_urls_without_sas():
    text = "see https://management.azure.com/subscriptions/x?api-version=2026-04-01"
    assert scrub(text) == text


def test_redact_url_drops_the_query():
    assert redact_url(SAS_URL) == "https://md-abc.blob.core.windows.net/bootdiag/vm.serialconsole.log"


def test_aadsts_code_is_found_in_identity_messages():
    assert aadsts_code("(invalid_client) AADSTS7000215: Invalid client secret provided.") == "AADSTS7000215"
    assert aadsts_code("no code here") is None


def test_invalid_secret_names_the_code_and_what_to_check():
    message = describe_authentication_failure(
        "ClientSecretCredential.get_token failed: (invalid_client) AADSTS7000215: Invalid client secret provided.")
    assert "AADSTS7000215" in message
    assert "'secret'" in message and "AZURE_SECRET" in message


def test_unknown_aadsts_code_keeps_entra_text():
    message = describe_authentication_failure("AADSTS1234567: Something new happened.\nTrace ID: x")
    assert "AADSTS1234567" in message and "Something new happened" in message
    assert "Trace ID" not in message


def test_identity_failure_becomes_auth_error_without_the_secret():
    exc = ClientAuthenticationError(
        message=f"ClientSecretCredential.get_token failed: (unauthorized_client) AADSTS700016: Application "
                f"with identifier 'abc' was not found. secret was {SECRET}")
    error = translate_azure_error(exc, secrets=[SECRET])
    assert isinstance(error, AzureAuthError)
    assert "AADSTS700016" in error.message and "client_id" in error.message
    assert SECRET not in error.message


def test_arm_authorization_failed_is_an_auth_error_with_a_hint():
    exc = arm_error(HttpResponseError, 403, "AuthorizationFailed",
                    "The client 'x' does not have authorization to perform action "
                    "'Microsoft.Compute/snapshots/write' over scope '/subscriptions/s'.")
    error = translate_azure_error(exc, action="create snapshot 'snap-web-01-1a2b3c4d'")
    assert isinstance(error, AzureAuthError)
    assert error.message.startswith("Failed to create snapshot 'snap-web-01-1a2b3c4d': AuthorizationFailed")
    assert "Microsoft.Compute/snapshots/write" in error.message
    assert "role" in error.message
    assert error.details == {"status": 403, "error_code": "AuthorizationFailed"}


def test_arm_not_found_is_a_not_found_error():
    exc = arm_error(ResourceNotFoundError, 404, "ResourceGroupNotFound", "Resource group 'x' could not be found.")
    error = translate_azure_error(exc, action="read virtual machine 'vm'")
    assert isinstance(error, AzureNotFoundError)
    assert error.details["error_code"] == "ResourceGroupNotFound"


def test_arm_conflict_is_an_operation_error_carrying_arm_text():
    exc = arm_error(HttpResponseError, 409, "OperationNotAllowed", "Disk is attached to VM 'x'.")
    error = translate_azure_error(exc, action="delete disk 'd'")
    assert isinstance(error, AzureOperationError)
    assert "OperationNotAllowed" in error.message and "Disk is attached to VM 'x'." in error.message


def test_arm_message_with_a_sas_url_is_scrubbed():
    exc = arm_error(HttpResponseError, 400, "InvalidParameter", f"Cannot read {SAS_URL}")
    assert "sig=" not in translate_azure_error(exc).message


def test_connection_errors_say_azure_was_not_reached():
    error = translate_azure_error(ServiceRequestError("Connection refused"), action="list resources")
    assert isinstance(error, AzureOperationError)
    assert "could not reach Azure" in error.message and "Connection refused" in error.message


def test_our_own_errors_pass_through_unchanged():
    original = VmrepairError("already clear", detail=1)
    assert translate_azure_error(original) is original


def test_unexpected_exceptions_keep_their_type_and_lose_secrets():
    error = translate_azure_error(RuntimeError(f"boom {SECRET}"), secrets=[SECRET])
    assert "RuntimeError" in error.message and SECRET not in error.message


@pytest.mark.parametrize("code", ["SkuNotAvailable", "QuotaExceeded", "SubscriptionNotFound"])
def test_known_arm_codes_carry_a_hint(code):
    assert "(" in describe_arm_error(400, code, "text", "do it")
