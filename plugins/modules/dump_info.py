#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dump_info
short_description: Read the header of a Windows crash dump and say what its stop code means
description:
  - Parses the header of a Windows crash dump on the host it runs on, usually the controller after
    M(vmrepair.azure.dump_fetch).
  - Understands 64-bit (C(PAGEDU64)) and 32-bit (C(PAGEDUMP)) kernel dumps of every dump type (complete, kernel,
    bitmap, triage minidumps from C(Windows\Minidump)) and user-mode minidumps (C(MDMP)).
  - Returns the stop (bug check) code, its four parameters, the dump type, the Windows build, the machine, the
    processor count and the time of the crash, plus an interpretation of the stop code; for 0xC000021A it names the
    status the critical process died with and what that usually means.
  - Reads only the header (a few KiB), whatever the size of the dump.
  - Fails with a message naming what is wrong when the file is not a dump, is cut short in its header, or has a
    damaged header. A dump without a stop code (a live memory capture) is reported as such, never with a made-up
    code.
version_added: 0.1.0
author:
  - vmrepair.azure maintainers (!UNKNOWN)
options:
  path:
    description:
      - Path of the dump file.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: vmrepair.azure.dump_fetch
"""

EXAMPLES = r"""
- name: Parse the dump header
  vmrepair.azure.dump_info:
    path: "{{ fetched.dest }}"
  register: dump_info

- name: Show the stop code
  ansible.builtin.debug:
    msg: "{{ dump_info.dump.bugcheck_code }} {{ dump_info.dump.interpretation.summary }}"
"""

RETURN = r"""
dump:
  description: What the header says.
  returned: success
  type: dict
  contains:
    format:
      description: C(PAGEDU64), C(PAGEDUMP) or C(MDMP).
      type: str
      sample: PAGEDU64
    kind:
      description: V(kernel) for a kernel crash dump, V(user) for a user-mode minidump.
      type: str
      sample: kernel
    dump_type:
      description: >-
        V(full), V(kernel), V(header), V(triage), V(bitmap_kernel), V(bitmap_full), V(automatic),
        V(kernel_memory), V(kernel_and_user_memory), V(complete_memory) or V(user_minidump).
      type: str
      sample: bitmap_kernel
    dump_type_code:
      description: The header's DumpType number (null for a user-mode minidump).
      type: int
      sample: 5
    dump_type_description:
      description: The dump type in words.
      type: str
      sample: bitmap memory dump of kernel memory (SDMP)
    bugcheck_recorded:
      description: Whether the dump records a stop error.
      type: bool
      sample: true
    bugcheck_code:
      description: The stop code, hexadecimal (null when none is recorded).
      type: str
      sample: "0xC000021A"
    bugcheck_name:
      description: The stop code's name (null when the code is not in the collection's table).
      type: str
      sample: STATUS_SYSTEM_PROCESS_TERMINATED
    bugcheck_parameters:
      description: The four stop code parameters, hexadecimal (empty when no stop code is recorded).
      type: list
      elements: str
      sample: ["0xFFFFC00012345678", "0xFFFFFFFFC0000005", "0x0", "0x0"]
    no_bugcheck_reason:
      description: Why no stop code is reported (null when one is).
      type: str
      sample: null
    os_build:
      description: Windows build number.
      type: int
      sample: 20348
    machine:
      description: Processor architecture (x64, x86, ARM64, ...).
      type: str
      sample: x64
    processors:
      description: Number of processors.
      type: int
      sample: 2
    system_time:
      description: When the dump was written, ISO 8601 UTC (null when the header does not say).
      type: str
      sample: "2026-11-20T03:14:15Z"
    file_size:
      description: Size of the file in bytes.
      type: int
      sample: 16777216
    complete:
      description: >-
        Whether the file is as long as the header says the dump is (null when the dump type does not say).
      type: bool
      sample: true
    warnings:
      description: Things to know about the file, for example that it is shorter than its header says.
      type: list
      elements: str
      sample: []
    interpretation:
      description: What the stop code and its parameters mean (null when no stop code is recorded).
      type: dict
      contains:
        summary:
          description: One sentence for a report.
          type: str
          sample: >-
            0xC000021A STATUS_SYSTEM_PROCESS_TERMINATED: a critical user-mode process (winlogon.exe or csrss.exe)
            ended, so Windows stopped. The process ended with 0xC0000005 STATUS_ACCESS_VIOLATION: ...
        parameters:
          description: Each parameter with its documented meaning.
          type: list
          elements: dict
          sample: [{"index": 2, "value": "0xFFFFFFFFC0000005", "meaning": "the status the process ended with"}]
        process_status:
          description: For 0xC000021A, the status the critical process died with (code, name, meaning).
          type: dict
          sample: {"code": "0xC0000005", "name": "STATUS_ACCESS_VIOLATION", "meaning": "..."}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import interpret_bugcheck
from ansible_collections.vmrepair.azure.plugins.module_utils._dump_header import DumpFormatError, parse_dump_header


def describe_dump(path: str) -> dict:
    """The parsed header plus the interpretation of its stop code."""
    dump = parse_dump_header(path)
    dump["interpretation"] = None
    if dump["bugcheck_recorded"]:
        dump["interpretation"] = interpret_bugcheck(dump["bugcheck_code"], dump["bugcheck_parameters"])
    return dump


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True}},
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        dump = describe_dump(path)
    except DumpFormatError as error:
        module.fail_json(msg=f"{path}: {error}")
    # No top-level 'path' key: AnsibleModule would add the file's owner and mode to the result.
    module.exit_json(changed=False, dump=dump)


if __name__ == "__main__":
    main()
