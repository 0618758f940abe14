# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for vmrepair.azure.repair_vm: hands the module the PowerShell it sends through Run Command.

A module runs from an AnsiballZ payload that carries only Python, so the collection's script
files (powershell/*.ps1) are read here, on the controller, and passed in an internal option.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import load_script

SCRIPTS = ("enable_winrm_https",)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        module_args = dict(self._task.args)
        module_args["_scripts"] = {name: load_script(name) for name in SCRIPTS}
        result.update(self._execute_module(module_name="vmrepair.azure.repair_vm", module_args=module_args,
                                           task_vars=task_vars))
        return result
