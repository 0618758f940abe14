# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A thin AnsibleModule wrapper for the collection's Azure modules.

It merges the shared authentication options into the module's argument_spec, reports missing
Python libraries with missing_required_lib, builds the SDK clients on first use, and turns every
error into fail_json with a clear message and no secret in it.
"""

from __future__ import annotations

import copy
import importlib
import traceback
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_auth import AUTH_ARGUMENT_SPEC
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import (
    VmrepairError,
    scrub,
    translate_azure_error,
)

# (import name, PyPI package) of everything the Azure modules need.
REQUIRED_LIBRARIES = (
    ("azure.identity", "azure-identity"),
    ("azure.mgmt.compute", "azure-mgmt-compute"),
    ("azure.mgmt.network", "azure-mgmt-network"),
    ("azure.mgmt.resource.resources", "azure-mgmt-resource"),
    ("requests", "requests"),
    ("cryptography", "cryptography"),
)


def _missing_library() -> tuple[str, str] | None:
    """(package, traceback) of the first library that does not import, or None."""
    for import_name, package in REQUIRED_LIBRARIES:
        try:
            importlib.import_module(import_name)
        except ImportError:
            return package, traceback.format_exc()
    return None


class AzureModule:
    """AnsibleModule plus Azure authentication, clients and error handling."""

    def __init__(self, argument_spec: dict[str, Any], supports_check_mode: bool = True, **kwargs: Any) -> None:
        spec = copy.deepcopy(AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        missing = _missing_library()
        if missing:
            package, trace = missing
            self.module.fail_json(msg=missing_required_lib(package), exception=trace)
        self._clients: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    @property
    def clients(self) -> Any:
        """The SDK clients, built from the auth options on first use."""
        if self._clients is None:
            from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import connect

            self._clients = connect(self.params)
        return self._clients

    def _secrets(self) -> list[str]:
        # Every no_log option's value (secret, admin_password, ...), whatever module this is.
        return [str(v) for v in self.module.no_log_values if v]

    def run(self, action: Callable[["AzureModule"], dict[str, Any]]) -> None:
        """Call action(self) and exit with its result, or fail with a clear message."""
        try:
            result = action(self)
        except VmrepairError as error:
            self._fail(error)
        except Exception as exc:  # pylint: disable=broad-except  # every failure gets a clear message
            self._fail(translate_azure_error(exc, secrets=self._secrets()), trace=traceback.format_exc())
        finally:
            if self._clients is not None:
                self._clients.close()
        self.module.exit_json(**result)

    def _fail(self, error: VmrepairError, trace: str | None = None) -> None:
        secrets = self._secrets()
        details = {key: value for key, value in error.details.items() if key not in ("msg", "failed", "exception")}
        if trace:
            details["exception"] = scrub(trace, secrets)
        self.module.fail_json(msg=scrub(error.message, secrets), **details)
