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
    system drive that holds C(\Windows\System32\config\SYSTEM), reads CrashControl from that offline hive (in the
    ControlSet that C(Select\Current) names, with C(%SystemRoot%) kept unexpanded so that it means the broken
    installation's) and lists the dumps it configures - C(DedicatedDumpFile), C(DumpFile), C(MEMORY.DMP) and
    C(MinidumpDir\*.dmp) - with sizes and times, and the configured ones that are missing or cannot be on the
    OS disk (for example on D:, Azure's temporary disk).
  - Reads the first 12 KiB of each dump and checks its header, so that a dump of 0 bytes, one Windows had not
    finished writing or one that is not a dump is reported with its problem and never selected by default.
  - Selects one dump to fetch, see O(prefer) and O(stop_code).
  - Fails when no dump exists, with the way to get one (configure crash dumps on the disk and let the VM crash
    again, see the C(enable_crash_dump) procedure).
version_added: 0.1.0
author:
  - vmrepair.azure maintainers (!UNKNOWN)
options:
  prefer:
    description:
      - Which dump to select.
      - V(memory) selects the newest usable kernel or complete dump (C(DumpFile), C(MEMORY.DMP) or a dedicated
        dump file), else the newest usable minidump.
      - V(minidump) selects the newest usable minidump, else the newest usable memory dump.
      - V(newest) selects the newest usable dump of any kind.
      - Any other value is the Windows path of the dump to select, for example V(F:\\Windows\\MEMORY.DMP).
    type: str
    default: memory
  stop_code:
    description:
      - The stop code the VM showed (from M(vmrepair.azure.boot_diagnostics_info)), for example V(0xC000021A).
      - Dumps whose header records this stop code are preferred over newer ones that record another.
    type: str
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
  description:
    - The volumes of the attached disks that hold a Windows installation.
    - C(crash_control) is what the offline SYSTEM hive configures (C(control_set), C(crash_dump_enabled), C(dump_type)
      none, complete, active, kernel, small or automatic, C(dump_file), C(minidump_dir), C(dedicated_dump_file),
      C(filter_pages)), or null with C(crash_control_error) saying why it could not be read.
  returned: always
  type: list
  elements: dict
  sample: [{"disk_number": 2, "drive_letter": "F", "windows_dir": "F:\\Windows", "crash_control_error": null,
            "crash_control": {"control_set": "ControlSet001", "crash_dump_enabled": 2, "dump_type": "kernel",
                              "dump_file": "%SystemRoot%\\MEMORY.DMP", "minidump_dir": "%SystemRoot%\\Minidump",
                              "dedicated_dump_file": null, "filter_pages": null}}]
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
      description: V(memory) for C(DumpFile) or C(MEMORY.DMP), V(dedicated) for the dedicated dump file,
        V(minidump) for a file of C(MinidumpDir).
      type: str
      sample: memory
    source:
      description: What named the file, V(DumpFile), V(DedicatedDumpFile), V(MinidumpDir) or V(default).
      type: str
      sample: DumpFile
    usable:
      description: Whether the dump can be fetched and read; see RV(dumps[].problem).
      type: bool
    problem:
      description: Why the dump cannot be used (0 bytes, not finished, not a dump), or null.
      type: str
    header:
      description: What its header says (dump_type, bugcheck_code, bugcheck_name, system_time,
        required_dump_space, complete), or null for a minidump or when not checked.
      type: dict
    size:
      description: Size in bytes.
      type: int
      sample: 16777216
    last_write_time_utc:
      description: Last write time, ISO 8601 UTC.
      type: str
      sample: "2026-11-20T03:14:15Z"
not_found:
  description: The dumps CrashControl names that are not on the disk, each with C(path), C(kind), C(source)
    and C(why).
  returned: always
  type: list
  elements: dict
no_dump:
  description: True when no dump exists at all (the task fails; the message says why and what to do).
  returned: when no dump exists
  type: bool
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
