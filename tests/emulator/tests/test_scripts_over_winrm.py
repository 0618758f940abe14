"""End to end on one machine: enable_winrm_https (as Run Command runs it) starts the real WinRM
listener with the machine's new certificate; pywinrm, pinned to exactly that certificate, then
runs the collection's scripts over NTLM/HTTPS, as pywinrm's run_ps and as Ansible's winrm
connection send them."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import zlib

import pytest
import winrm
from ansible.plugins.shell.powershell import ShellModule
from winrm.protocol import Protocol

from vmrepair_emulator.testing import collection_render_script
from vmrepair_emulator.disks.image import build_os_disk_image
from vmrepair_emulator.requestlog import RequestLog
from vmrepair_emulator.windows import scripts
from vmrepair_emulator.windows.machine import AttachedDisk, Machine
from vmrepair_emulator.winrm import ListenerManager

SPEC = {"volume_size_mb": 48, "memory_dump": {"size_mb": 12, "dump_type": "kernel", "bugcheck_code": "0xC000021A",
                                              "system_time": "2026-11-20T03:14:15Z"},
        "minidumps": [], "files": {}}
MEMORY_DMP = "F:\\Windows\\MEMORY.DMP"


render_script = collection_render_script()


@pytest.fixture(scope="module")
def reachable(tmp_path_factory: pytest.TempPathFactory):
    image = build_os_disk_image(SPEC, tmp_path_factory.getbasetemp() / "os-images")
    manager = ListenerManager(None, RequestLog())
    ip = f"127.78.{random.randint(1, 250)}.{random.randint(2, 250)}"
    machine = Machine("repair-vm", "REPAIR-VM", ip, "vmrepair", "Pa55w.rd-" + ip,
                      [AttachedDisk(0, "copy", image)], on_winrm_enabled=manager.start)
    code, out, err = scripts.run(machine, render_script("enable_winrm_https", {"subject_names": [ip]})).communicate()
    assert (code, err) == (0, b"")
    answer = json.loads(out)
    pinned = tmp_path_factory.mktemp("pin") / "winrm.pem"
    pinned.write_text("-----BEGIN CERTIFICATE-----\n" + answer["certificate"] + "\n-----END CERTIFICATE-----\n")
    try:
        yield machine, answer["listener"], pinned
    finally:
        manager.stop_all()


def _session(reachable) -> winrm.Session:
    machine, url, pinned = reachable
    return winrm.Session(url, auth=(machine.admin_username, machine.admin_password), transport="ntlm",
                         server_cert_validation="validate", ca_trust_path=str(pinned))


def test_find_and_hash_with_run_ps(reachable) -> None:
    session = _session(reachable)
    found = session.run_ps(render_script("find_dumps", {}))
    assert found.status_code == 0, found.std_err
    dumps = json.loads(found.std_out)["dumps"]
    assert [d["path"] for d in dumps] == [MEMORY_DMP]
    hashed = session.run_ps(render_script("hash_file", {"path": MEMORY_DMP}))
    assert hashed.status_code == 0
    assert json.loads(hashed.std_out)["size"] == 12 * 1024 * 1024


def test_read_file_chunks_as_ansible_sends_it(reachable) -> None:
    machine, url, pinned = reachable
    protocol = Protocol(url, transport="ntlm", username=machine.admin_username, password=machine.admin_password,
                        server_cert_validation="validate", ca_trust_path=str(pinned))
    session = _session(reachable)
    session.run_ps(render_script("find_dumps", {}))
    expected = json.loads(session.run_ps(render_script("hash_file", {"path": MEMORY_DMP})).std_out)["sha256"]
    parts = ShellModule()._encode_script(render_script("read_file_chunks", {
        "path": MEMORY_DMP, "offset": 0, "length": 12 * 1024 * 1024, "chunk_size": 1024 * 1024,
        "compression": "deflate"}), as_list=True)
    shell_id = protocol.open_shell(codepage=65001)
    try:
        command_id = protocol.run_command(shell_id, parts[0], parts[1:])
        stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
        protocol.cleanup_command(shell_id, command_id)
    finally:
        protocol.close_shell(shell_id)
    assert (code, stderr) == (0, b"")
    lines = stdout.decode("ascii").split("\n")
    assert lines[-2:] == [f"END {12 * 1024 * 1024}", ""]
    digest = hashlib.sha256()
    for line in lines[:-2]:
        _offset, length, chunk_hash, _compression, payload = line.split(" ")
        raw = zlib.decompress(base64.b64decode(payload), wbits=-15)
        assert len(raw) == int(length) and hashlib.sha256(raw).hexdigest() == chunk_hash
        digest.update(raw)
    assert digest.hexdigest() == expected


def test_unknown_script_fails_over_winrm(reachable) -> None:
    result = _session(reachable).run_ps("Get-ChildItem C:\\")
    assert result.status_code == 1
    assert b"cannot run this PowerShell script" in result.std_err  # pywinrm decoded the CLIXML
