#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: repair_cleanup
short_description: Delete everything a repair created, and prove nothing is left
version_added: 0.1.0
description:
  - Lists every resource in the subscription tagged C(vmrepair-repair-id=<repair_id>) and deletes them in
    dependency order, each step's deletions at the same time. First virtual machines, then NICs, then disks,
    snapshots, public IPs and virtual networks, then network security groups, then the repair resource group.
  - The repair resource group is deleted only when it carries the repair-id tag, that is when a repair created
    it; a group that existed before is never deleted.
  - Then lists again and fails if anything tagged remains, returning it in RV(remaining).
  - Running it again when nothing is left changes nothing.
author:
  - vmrepair.azure maintainers (!UNKNOWN)
extends_documentation_fragment:
  - vmrepair.azure.azure_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Returns in RV(plan) and RV(deleted) what would be deleted, and deletes nothing.
  diff_mode:
    support: none
  platform:
    platforms: azure
options:
  repair_id:
    description: The repair id (as returned by M(vmrepair.azure.repair_vm)).
    type: str
    required: true
  repair_resource_group:
    description: The repair resource group; defaults to C(rg-vmrepair-<repair_id>).
    type: str
  wait:
    description:
      - Wait for the deletions to finish and check that nothing tagged remains.
      - With V(false), deletions are still started in dependency order (each step waits for the one before),
        but the last step is not awaited and RV(remaining) is not checked; RV(pending) lists what is still going.
    type: bool
    default: true
  timeout:
    description: Seconds every wait of the run may take in total.
    type: int
    default: 1800
seealso:
  - module: vmrepair.azure.repair_vm
"""

EXAMPLES = r"""
- name: Remove everything of a repair
  vmrepair.azure.repair_cleanup:
    repair_id: "{{ repair.repair_id }}"

- name: List what a cleanup would delete
  vmrepair.azure.repair_cleanup:
    repair_id: 1a2b3c4d
  check_mode: true
  register: preview
"""

RETURN = r"""
deleted:
  description: Ids deleted (in check mode, that would be deleted).
  returned: always
  type: list
  elements: str
remaining:
  description: Ids still tagged with the repair id after the deletions (empty on success).
  returned: always
  type: list
  elements: str
pending:
  description: Ids whose deletion was started but not awaited (O(wait=false)).
  returned: always
  type: list
  elements: str
plan:
  description: The deletions in the order they run.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: Always C(delete).
      type: str
    resource_type:
      description: ARM resource type.
      type: str
    name:
      description: Resource name.
      type: str
    id:
      description: Resource id.
      type: str
repair_id:
  description: The repair id.
  returned: always
  type: str
repair_resource_group:
  description: The repair resource group.
  returned: always
  type: str
"""

from ansible_collections.vmrepair.azure.plugins.module_utils._cleanup import cleanup_repair
from ansible_collections.vmrepair.azure.plugins.module_utils._module_base import AzureModule
from ansible_collections.vmrepair.azure.plugins.module_utils._repair_names import (
    default_repair_resource_group,
    validate_repair_id,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._waiters import Deadline


def cleanup(module: AzureModule) -> dict:
    params = module.params
    repair_id = validate_repair_id(params["repair_id"])
    group = params["repair_resource_group"] or default_repair_resource_group(repair_id)
    result = cleanup_repair(module.clients, repair_id, group, Deadline(params["timeout"]), wait=params["wait"],
                            check_mode=module.check_mode)
    result.update({"repair_id": repair_id, "repair_resource_group": group})
    return result


def main() -> None:
    module = AzureModule(
        argument_spec={
            "repair_id": {"type": "str", "required": True},
            "repair_resource_group": {"type": "str"},
            "wait": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 1800},
        },
    )
    module.run(cleanup)


if __name__ == "__main__":
    main()
