"""ARM's error shape: {"error": {"code", "message", "target"?, "details"?}}."""
from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """Raised by handlers (and on_complete callbacks); arm/core.py turns it into the response."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None,
                 details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": self.error_object()}

    def error_object(self) -> dict[str, Any]:
        """The inner object, also what an LRO status resource carries under "error"."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return error


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    """ARM's generic 404 for a resource under an existing resource group."""
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def resource_group_not_found(name: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def invalid_request_content(detail: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{detail}'.")
