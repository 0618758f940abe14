"""Compute RP's checks of osProfile (computer name, admin user name, admin password)."""
from __future__ import annotations

import re
from typing import Any

from ..errors import ArmError
from . import errors

# Names Compute RP refuses for the admin account (Windows and Linux).
_DISALLOWED_USERS = {
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
    "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root", "server",
    "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5",
}
_DISALLOWED_PASSWORDS = {"abc@123", "p@$$w0rd", "p@ssw0rd", "p@ssword123", "pa$$word", "pass@word1", "password!",
                         "password1", "password22", "iloveyou!"}
_WINDOWS_NAME_FORBIDDEN = set("`~!@#$%^&*()=+_[]{}\\|;:.'\",<>/?")
PASSWORD_MESSAGE = (
    "The supplied password must be between 8-123 characters long and must satisfy at least 3 of password complexity "
    "requirements from the following: \r\n1) Contains an uppercase character\r\n2) Contains a lowercase character\r\n"
    "3) Contains a numeric digit\r\n4) Contains a special character\r\n5) Control characters are not allowed")


def check_computer_name(name: str, os_type: str) -> None:
    if os_type == "Windows":
        if len(name) > 15 or name.isdigit() or any(c in _WINDOWS_NAME_FORBIDDEN for c in name):
            raise ArmError(400, "InvalidParameter",
                           "Windows computer name cannot be more than 15 characters long, be entirely numeric, or "
                           "contain the following characters: ` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : . ' \" , "
                           "< > / ?.", target="computerName")
    elif len(name) > 64 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", name):
        raise ArmError(400, "InvalidParameter",
                       "Linux host name cannot exceed 64 characters in length or contain the following characters: "
                       "` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : ' \" , < > / ?.", target="computerName")


def check_admin_username(name: str, os_type: str) -> None:
    too_long = len(name) > (20 if os_type == "Windows" else 64)
    if name.lower() in _DISALLOWED_USERS or too_long or name.endswith("."):
        raise ArmError(400, "InvalidParameter", "The Admin Username specified is not allowed.", target="adminUsername")


def check_admin_password(password: str) -> None:
    classes = sum([
        any(c.isupper() for c in password),
        any(c.islower() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ])
    control = any(ord(c) < 32 for c in password)
    if not 8 <= len(password) <= 123 or classes < 3 or control or password.lower() in _DISALLOWED_PASSWORDS:
        raise ArmError(400, "InvalidParameter", PASSWORD_MESSAGE, target="adminPassword")


def build(os_profile: dict[str, Any], os_type: str) -> tuple[dict[str, Any], str | None]:
    """The osProfile ARM stores (never the password) and the password, after the checks."""
    name = os_profile.get("computerName")
    user = os_profile.get("adminUsername")
    password = os_profile.get("adminPassword")
    if not name:
        raise errors.missing("osProfile.computerName")
    if not user:
        raise errors.missing("osProfile.adminUsername")
    check_computer_name(name, os_type)
    check_admin_username(user, os_type)
    stored: dict[str, Any] = {"computerName": name, "adminUsername": user}
    if os_type == "Windows":
        if not password:
            raise errors.missing("adminPassword")
        check_admin_password(password)
        given = os_profile.get("windowsConfiguration") or {}
        stored["windowsConfiguration"] = {
            "provisionVMAgent": given.get("provisionVMAgent", True),
            "enableAutomaticUpdates": given.get("enableAutomaticUpdates", True),
            "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault",
                              **(given.get("patchSettings") or {})},
        }
        if given.get("winRM"):
            stored["windowsConfiguration"]["winRM"] = given["winRM"]
    else:
        given = os_profile.get("linuxConfiguration") or {}
        disable_password = given.get("disablePasswordAuthentication", not password)
        if not disable_password and not password:
            raise errors.missing("adminPassword")
        if password:
            check_admin_password(password)
        stored["linuxConfiguration"] = {
            "disablePasswordAuthentication": disable_password,
            "provisionVMAgent": given.get("provisionVMAgent", True),
            "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
        }
        if given.get("ssh"):
            stored["linuxConfiguration"]["ssh"] = given["ssh"]
    stored["secrets"] = []
    stored["allowExtensionOperations"] = os_profile.get("allowExtensionOperations", True)
    stored["requireGuestProvisionSignal"] = True
    return stored, password
