# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vmrepair.azure.dump_find: list the crash dumps on the disks attached to the repair VM."""

from __future__ import annotations

import typing as t

from ansible.plugins.action import ActionBase

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_selection import (
    PREFERENCES,
    assess_dump,
    newest_first,
    no_dump_message,
    select_dump,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script
from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import WinrmSessionError, run_json_script

ARGUMENT_SPEC = {
    "prefer": {"type": "str", "default": "memory"},
    "stop_code": {"type": "str"},
}
# Enough for a 64-bit kernel dump header and the bitmap header at 0x2000.
HEADER_BYTES = 12288


class ActionModule(ActionBase):
    """Runs the find_dumps script through the repair VM's connection (delegate_to the repair VM)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only
    _supports_async = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        prefer = args["prefer"].strip()
        if prefer.lower() in PREFERENCES:
            prefer = prefer.lower()
        result["changed"] = False
        try:
            found = run_json_script(self._connection, render_script("find_dumps", {"header_bytes": HEADER_BYTES}))
        except WinrmSessionError as error:
            result.update(failed=True, msg=f"find_dumps failed on the repair VM: {error}")
            return result
        if not isinstance(found, dict):
            result.update(failed=True, msg=f"find_dumps returned {type(found).__name__}, not an object")
            return result
        volumes = found.get("windows_volumes") or []
        not_found = found.get("not_found") or []
        dumps = newest_first([assess_dump(d) for d in found.get("dumps") or []])
        result.update(windows_volumes=volumes, dumps=dumps, not_found=not_found, selected=None)
        if not volumes:
            result.update(failed=True, msg=(
                "No Windows installation (\\Windows\\System32\\config\\SYSTEM) on the disks attached to the repair "
                "VM: is the copy of the broken OS disk attached?"))
            return result
        if not dumps:
            result.update(failed=True, no_dump=True, msg=no_dump_message(volumes, not_found))
            return result
        selected, reason = select_dump(dumps, prefer, stop_code=args.get("stop_code"))
        if selected is None:
            result.update(failed=True, msg=f"prefer '{prefer}' selects no dump: {reason}")
            return result
        result.update(selected=selected, selected_reason=reason)
        return result
