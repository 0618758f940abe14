"""The repair VM built in-process, concurrently or one operation at a time (bench references).

Run by bench/run.py in the emulator's environment with the same module_utils as the repair_vm
module. `sequential` waits for each long-running operation as soon as it is started, so the run
takes the sum of the operations instead of the longest chain; `concurrent` is the module's own
order. Without Ansible around it, the two differ only in that. Each then makes the first
authenticated WinRM request with the pinned certificate, as the playbook's first task does,
deletes everything it created, and prints the repair id as JSON.

    python bench/inprocess_repair.py sequential|concurrent RESOURCE_GROUP VM_NAME
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

import winrm  # noqa: E402

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import connect  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._cleanup import cleanup_repair  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_vm import (  # noqa: E402
    RepairRequest,
    RepairRun,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import Deadline  # noqa: E402


class OneAtATimeRun(RepairRun):
    """RepairRun whose every begin_* call is waited for before the next operation starts."""

    def _begin(self, description, resource, start):
        pending = super()._begin(description, resource, start)
        pending.poller.wait()
        return pending


def main() -> int:
    mode, resource_group, vm_name = sys.argv[1:4]
    run_class = {"sequential": OneAtATimeRun, "concurrent": RepairRun}[mode]
    repair_id = f"bench{mode[:3]}"
    password = "Bench-" + os.urandom(12).hex() + "#1"
    clients = connect({})
    request = RepairRequest(resource_group=resource_group, vm_name=vm_name, admin_password=password,
                            repair_id=repair_id, timeout=600)
    run = run_class(clients, request, render_script)
    run.validate()
    result = run.execute(run.discover(), Deadline(request.timeout))
    winrm_info = result["winrm"]
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        pem.write(winrm_info["certificate_pem"])
        pem.flush()
        session = winrm.Session(f"https://{winrm_info['host']}:{winrm_info['port']}/wsman",
                                auth=(request.admin_username, password), transport="ntlm",
                                server_cert_validation="validate", ca_trust_path=pem.name)
        answer = session.run_ps("$env:COMPUTERNAME")
    cleanup_repair(clients, repair_id, run.names.resource_group, Deadline(600), wait=True)
    print(json.dumps({"repair_id": repair_id, "winrm_status": answer.status_code}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
