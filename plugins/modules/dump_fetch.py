# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented entirely by its action plugin (plugins/action/dump_fetch.py), which
# runs on the controller and talks to the repair VM through the task's winrm connection.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dump_fetch
short_description: Bring a crash dump from the repair VM to the controller, verified and resumable
description:
  - Runs on the controller against the repair VM (use C(delegate_to) the repair VM host, whose connection is
    Ansible's C(winrm) plugin).
  - First asks the repair VM for the file's size and SHA-256, and checks that O(dest) has room for it.
  - Then opens O(streams) WinRM shells with the same connection options as the host (address, user, password,
    transport, pinned CA in C(ansible_winrm_ca_trust_path), C(ansible_winrm_server_cert_validation), timeouts),
    splits the file into ranges, and streams each range in chunks of O(chunk_size) bytes, optionally compressed.
  - Every chunk's SHA-256 is checked before it is written at its offset into C(<dest>.part); a chunk that does
    not match is fetched again, never accepted. Verified chunks are recorded in C(<dest>.part.manifest.json), so
    a re-run after an interruption sends only the chunks that are missing.
  - At the end the SHA-256 of the whole file, computed on the controller, must equal the repair VM's; only then
    is C(<dest>.part) renamed to O(dest).
  - With O(transfer=storage) the bytes go through Azure Storage instead, for very large dumps or slow WinRM
    paths. The repair VM uploads the file to a block blob of O(storage_account) with a SAS that can only create
    and write that one blob (parallel blocks, each with its MD5, which the service checks), and returns each
    block's SHA-256; the controller downloads the blob in O(streams) parallel ranges through a read-only SAS,
    checks each range against its block's SHA-256, records it in the same manifest (so a re-run resumes), checks
    the whole file's SHA-256 and deletes the blob. The account key that signs both SAS is read with ARM (listKeys)
    and never leaves the controller; the repair VM needs outbound HTTPS to the account's blob endpoint.
  - The shells ask for envelopes of 500 KiB, the default C(MaxEnvelopeSizekb) of Windows (pywinrm itself asks for
    150 KiB); a service configured with a smaller maximum gets 150 KiB.
  - Two transfers into the same O(dest) at once are refused (a lock file beside the partial file).
  - Controller memory stays constant whatever the size of the dump.
  - Progress (bytes, rate, time left) is shown once per 10 % when the output is a terminal, otherwise at
    C(-vv).
version_added: 0.1.0
author:
  - vmrepair.azure maintainers (!UNKNOWN)
options:
  src:
    description:
      - Windows path of the file on the repair VM, usually C(selected.path) as returned by M(vmrepair.azure.dump_find).
    type: str
    required: true
  dest:
    description:
      - Where to put the file on the controller.
      - An existing directory, or a path ending with C(/), receives the file under its own name.
      - Any other value is the file name to write.
    type: path
    required: true
  streams:
    description:
      - How many WinRM shells transfer in parallel (1 to 16).
    type: int
    default: 4
  chunk_size:
    description:
      - Size in bytes of a verified chunk (64 KiB to 16 MiB). Each stream holds one chunk in memory.
      - A resumed transfer keeps the chunk size recorded in its manifest.
    type: int
    default: 2097152
  compression:
    description:
      - How chunks travel. V(deflate) compresses each chunk on the repair VM; V(auto) means V(deflate).
    type: str
    choices: [auto, none, deflate]
    default: auto
  resume:
    description:
      - Resume from C(<dest>.part) when its manifest names the same remote file (path, size, SHA-256, last write
        time). A partial file of any other file is never appended to; the transfer starts over and says so.
      - V(false) always starts over.
    type: bool
    default: true
  validate_checksum:
    description:
      - Every chunk and the whole file are always verified; V(false) is refused.
    type: bool
    default: true
  transfer:
    description:
      - V(winrm) streams the file over WinRM shells; V(storage) relays it through a blob (see above).
      - With V(storage), O(chunk_size) is the blob's block size (1 MiB to 16 MiB) and O(compression) does not apply.
    type: str
    choices: [winrm, storage]
    default: winrm
  storage_account:
    description:
      - Name of the storage account of the relay; required with O(transfer=storage). It must allow shared key
        access (the SAS are signed with its key).
    type: str
  storage_resource_group:
    description:
      - Resource group of O(storage_account); required with O(transfer=storage).
    type: str
  storage_container:
    description:
      - Container of the relay blob, created when missing. The blob is named
        C(<relay_label>/<first 16 hex of the SHA-256>/<file name>) and deleted once the file is verified.
    type: str
    default: vmrepair-dumps
  relay_label:
    description:
      - First part of the relay blob's name; defaults to the repair VM's address.
    type: str
extends_documentation_fragment:
  - vmrepair.azure.azure_auth
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
    details: Reads the remote size and hash and reports whether O(dest) would change; transfers nothing.
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - Requires C(pywinrm) on the controller (the C(winrm) connection plugin needs it too); O(transfer=storage) also
    needs C(azure-mgmt-storage) and C(azure-storage-blob). The Azure options only matter with O(transfer=storage).
  - The password of the connection is never part of the result, of a message or of a log line.
seealso:
  - module: vmrepair.azure.dump_find
  - module: vmrepair.azure.dump_info
  - module: ansible.builtin.fetch
"""

EXAMPLES = r"""
- name: Relay a very large dump through a storage account
  vmrepair.azure.dump_fetch:
    src: "{{ found.selected.path }}"
    dest: "{{ playbook_dir }}/dumps/"
    transfer: storage
    storage_account: opsdumprelay
    storage_resource_group: ops-rg
    chunk_size: 8388608
  delegate_to: "{{ repair_vm_host }}"

- name: Bring the selected dump to the controller
  vmrepair.azure.dump_fetch:
    src: "{{ found.selected.path }}"
    dest: "{{ playbook_dir }}/dumps/"
  delegate_to: "{{ repair_vm_host }}"
  register: fetched

- name: Eight streams, no compression, never resume
  vmrepair.azure.dump_fetch:
    src: 'F:\Windows\MEMORY.DMP'
    dest: /srv/dumps/web-01-MEMORY.DMP
    streams: 8
    compression: none
    resume: false
  delegate_to: "{{ repair_vm_host }}"
"""

RETURN = r"""
src:
  description: The file on the repair VM, as the repair VM spells it.
  returned: always
  type: str
  sample: F:\Windows\MEMORY.DMP
dest:
  description: The file on the controller.
  returned: always
  type: str
  sample: /srv/dumps/MEMORY.DMP
size:
  description: Size of the file in bytes.
  returned: always
  type: int
  sample: 16777216
sha256:
  description: SHA-256 of the file on the controller, computed after the transfer.
  returned: success
  type: str
  sample: 3f0a0c4d0b1e45f3b8a3a5e9c2d4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5
remote_sha256:
  description: SHA-256 the repair VM computed before the transfer.
  returned: always
  type: str
  sample: 3f0a0c4d0b1e45f3b8a3a5e9c2d4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5
checksum_match:
  description: Whether RV(sha256) equals RV(remote_sha256) (a mismatch fails the task).
  returned: success
  type: bool
  sample: true
chunks:
  description: Number of chunks the file is made of.
  returned: success
  type: int
  sample: 4
chunk_size:
  description: Chunk size used, in bytes.
  returned: success
  type: int
  sample: 2097152
chunks_resumed:
  description: Chunks that were already verified in C(<dest>.part) and were not sent again.
  returned: success
  type: int
  sample: 0
chunks_refetched:
  description: Chunk fetches repeated because a chunk did not match its hash or a stream broke.
  returned: success
  type: int
  sample: 0
bytes_received:
  description: Bytes of script output received over WinRM (base64 text, compressed when compression is on).
  returned: success
  type: int
  sample: 5592700
bytes_resumed:
  description: Bytes of the file taken from a previous, interrupted run.
  returned: success
  type: int
  sample: 0
seconds:
  description: Duration of the transfer.
  returned: success
  type: float
  sample: 1.84
throughput_mib_s:
  description: File bytes transferred in this run per second, in MiB/s.
  returned: success
  type: float
  sample: 8.7
streams:
  description: Number of parallel streams.
  returned: success
  type: int
  sample: 4
compression:
  description: Compression used on the wire (V(none) or V(deflate)).
  returned: success
  type: str
  sample: deflate
resume_note:
  description: What happened to an earlier partial file (resumed, started over and why), or why nothing was sent.
  returned: success
  type: str
  sample: "resumed: 3 of 4 chunks were already verified"
transfer:
  description: How the bytes came, V(winrm) or V(storage).
  returned: success
  type: str
  sample: winrm
relay:
  description:
    - With O(transfer=storage), the relay blob (C(storage_account), C(container), C(blob)), the upload's
      C(seconds) and C(retries) (or a note that an earlier run's blob was used) and whether it was C(deleted).
  returned: success with transfer=storage
  type: dict
"""
