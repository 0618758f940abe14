# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for vmrepair.azure.repair_vm: hands the module its PowerShell, pins the certificate it returns.

A module runs from an AnsiballZ payload that carries only Python, so the collection's script
files (powershell/*.ps1) are read here, on the controller, and passed in an internal option.
The WinRM certificate is written here too, because the controller is where pywinrm trusts it,
wherever the module ran.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import VmrepairError
from ansible_collections.vmrepair.azure.plugins.module_utils._local_files import save_file
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import load_script

SCRIPTS = ("enable_winrm_https",)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        module_args = dict(self._task.args)
        trust_path = module_args.pop("winrm_ca_trust_path", None)
        module_args["_scripts"] = {name: load_script(name) for name in SCRIPTS}
        result.update(self._execute_module(module_name="vmrepair.azure.repair_vm", module_args=module_args,
                                           task_vars=task_vars))
        certificate = (result.get("winrm") or {}).get("certificate_pem")
        if trust_path and certificate and not result.get("failed") and not self._task.check_mode:
            try:
                saved = save_file(trust_path, certificate.encode("ascii"), check_mode=False)
            except (OSError, VmrepairError) as exc:
                result.update(failed=True, msg=f"The repair VM is ready, but its WinRM certificate could not be "
                                               f"written to {trust_path}: {exc}")
                return result
            result["winrm"]["ca_trust_path"] = saved["path"]
        return result
