# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vmrepair.azure.dump_find: list the crash dumps on the disks attached to the repair VM."""

from __future__ import annotations

import datetime
import typing as t

from ansible.plugins.action import ActionBase

from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script
from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import WinrmSessionError, run_json_script

ARGUMENT_SPEC = {
    "prefer": {"type": "str", "default": "memory"},
}

NO_DUMP_ADVICE = (
    "Windows did not write a crash dump on the broken OS disk. Configure crash dumps on the disk copy "
    "(the vmrepair.azure enable_crash_dump procedure: CrashControl in every ControlSet, a page file or dedicated "
    "dump file large enough, EMS on), swap it back, let the VM stop again (or send an NMI from the serial "
    "console), then collect the dump"
)


def _written(dump: dict[str, t.Any]) -> datetime.datetime:
    text = str(dump.get("last_write_time_utc") or "")
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def newest_first(dumps: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    return sorted(dumps, key=_written, reverse=True)


def select_dump(dumps: list[dict[str, t.Any]], prefer: str) -> tuple[dict[str, t.Any] | None, str]:
    """The dump to fetch and why; (None, reason) when ``prefer`` names nothing that exists.

    ``prefer`` is ``memory`` (newest MEMORY.DMP, else newest minidump), ``minidump`` (newest
    minidump, else newest memory dump) or the Windows path of one of the dumps.
    """
    ordered = newest_first(dumps)
    kinds = {"memory": ["memory", "minidump"], "minidump": ["minidump", "memory"]}
    if prefer in kinds:
        for kind in kinds[prefer]:
            for dump in ordered:
                if dump.get("kind") == kind:
                    reason = f"the newest {kind} dump" + ("" if kind == prefer else f" (there is no {prefer} dump)")
                    return dump, reason
        return None, "there is no dump"
    wanted = prefer.replace("/", "\\").lower()
    for dump in ordered:
        if str(dump.get("path", "")).lower() == wanted:
            return dump, "the dump named by prefer"
    return None, f"{prefer} is not among the dumps found ({', '.join(d.get('path', '?') for d in ordered) or 'none'})"


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
        if prefer.lower() in ("memory", "minidump"):
            prefer = prefer.lower()
        result["changed"] = False
        try:
            found = run_json_script(self._connection, render_script("find_dumps", {}))
        except WinrmSessionError as error:
            result.update(failed=True, msg=f"find_dumps failed on the repair VM: {error}")
            return result
        if not isinstance(found, dict):
            result.update(failed=True, msg=f"find_dumps returned {type(found).__name__}, not an object")
            return result
        volumes = found.get("windows_volumes") or []
        dumps = newest_first(found.get("dumps") or [])
        result.update(windows_volumes=volumes, dumps=dumps, selected=None)
        if not volumes:
            result.update(failed=True, msg=(
                "No Windows installation (\\Windows\\System32\\config\\SYSTEM) on the disks attached to the repair "
                "VM: is the copy of the broken OS disk attached?"))
            return result
        if not dumps:
            searched = ", ".join(f"{v.get('windows_dir')}\\MEMORY.DMP and {v.get('windows_dir')}\\Minidump\\*.dmp"
                                 for v in volumes)
            result.update(failed=True, msg=f"No crash dump found (searched {searched}). {NO_DUMP_ADVICE}")
            return result
        selected, reason = select_dump(dumps, prefer)
        if selected is None:
            result.update(failed=True, msg=f"prefer '{prefer}' selects no dump: {reason}")
            return result
        result.update(selected=selected, selected_reason=reason)
        return result
