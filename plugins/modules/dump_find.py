# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented entirely by its action plugin (plugins/action/dump_find.py), which
# runs on the controller and talks to the repair VM through the task's winrm connection.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dump_find
short_description: Find the crash dumps on the broken OS disk attached to a repair VM
description:
  - Runs on the controller against the repair VM (use C(delegate_to) the repair VM host, whose connection is
    Ansible's C(winrm) plugin).
  - Brings the attached data disks online (read-only disks stay read-only), finds every volume other than the
    system drive that holds C(\Windows\System32\config\SYSTEM), and lists C(<volume>\Windows\MEMORY.DMP) and
    C(<volume>\Windows\Minidump\*.dmp).
  - Selects one dump to fetch, see O(prefer).
  - Fails when no dump exists, with the way to get one (configure crash dumps on the disk and let the VM crash
    again, see the C(enable_crash_dump) procedure).
version_added: 0.1.0
author:
  - vmrepair.azure maintainers (!UNKNOWN)
options:
  prefer:
    description:
      - Which dump to select.
      - V(memory) selects the newest C(MEMORY.DMP), else the newest minidump.
      - V(minidump) selects the newest minidump, else the newest C(MEMORY.DMP).
      - Any other value is the Windows path of the dump to select, for example V(F:\\Windows\\MEMORY.DMP).
    type: str
    default: memory
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: >-
      Runs the same in check mode: it writes nothing; it only brings the attached disks online on the
      repair VM (read-only disks stay read-only), which listing them requires.
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - The repair VM is reached with the task's own C(winrm) connection; nothing is installed on it.
seealso:
  - module: vmrepair.azure.dump_fetch
  - module: vmrepair.azure.dump_info
"""

EXAMPLES = r"""
- name: Find the memory dumps on the attached disk
  vmrepair.azure.dump_find:
    prefer: memory
  delegate_to: "{{ repair_vm_host }}"
  register: found

- name: Select a given minidump
  vmrepair.azure.dump_find:
    prefer: 'F:\Windows\Minidump\112026-10000-01.dmp'
  delegate_to: "{{ repair_vm_host }}"
"""

RETURN = r"""
windows_volumes:
  description: The volumes of the attached disks that hold a Windows installation.
  returned: always
  type: list
  elements: dict
  sample: [{"disk_number": 2, "drive_letter": "F", "windows_dir": "F:\\Windows"}]
dumps:
  description: Every dump found, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Windows path of the dump on the repair VM.
      type: str
      sample: F:\Windows\MEMORY.DMP
    kind:
      description: V(memory) for C(MEMORY.DMP), V(minidump) for a file of C(Minidump).
      type: str
      sample: memory
    size:
      description: Size in bytes.
      type: int
      sample: 16777216
    last_write_time_utc:
      description: Last write time, ISO 8601 UTC.
      type: str
      sample: "2026-11-20T03:14:15Z"
selected:
  description: The dump chosen by O(prefer) (same keys as an element of RV(dumps)).
  returned: success
  type: dict
  sample: {"path": "F:\\Windows\\MEMORY.DMP", "kind": "memory", "size": 16777216,
           "last_write_time_utc": "2026-11-20T03:14:15Z"}
selected_reason:
  description: Why RV(selected) was chosen.
  returned: success
  type: str
  sample: the newest memory dump
"""
