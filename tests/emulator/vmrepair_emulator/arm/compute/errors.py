"""Compute/Disk RP error answers used in more than one place (codes and wording as Azure's)."""
from __future__ import annotations

from ..errors import ArmError


def missing(parameter: str) -> ArmError:
    return ArmError(400, "InvalidParameter", f"Required parameter '{parameter}' is missing (null).", target=parameter)


def invalid_value(parameter: str, value: object) -> ArmError:
    return ArmError(400, "InvalidParameter", f"The value '{value}' of parameter '{parameter}' is not allowed.",
                    target=parameter)


def not_allowed_parameter(parameter: str) -> ArmError:
    return ArmError(400, "InvalidParameter", f"Parameter '{parameter}' is not allowed.", target=parameter)


def property_change_not_allowed(prop: str) -> ArmError:
    return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{prop}' is not allowed.", target=prop)


def location_required() -> ArmError:
    return ArmError(400, "LocationRequired", "The location property is required for this definition.")


def source_not_found(source_id: str) -> ArmError:
    # Disk RP resolves a copy source in the target's region only (azure-cli#9732, #11909).
    return ArmError(404, "NotFound", f"Resource {source_id} is not found.", target="sourceResourceId")


def unsupported_by_emulator(what: str) -> ArmError:
    """A feature Azure has and the emulator does not model: say so instead of pretending."""
    return ArmError(400, "InvalidParameter", f"{what} is not supported by the vmrepair emulator.")
