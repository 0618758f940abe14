"""dump_find / dump_fetch / dump_info for real: the emulator's WinRM listener (NTLM over HTTPS, the
machine's own certificate pinned) in front of a simulated repair VM whose attached data disk is a
real VHD with an NTFS volume holding Windows\\MEMORY.DMP and Windows\\Minidump\\*.dmp.

Two levels: the transfer engine over real pywinrm shells, and ansible-playbook running the
collection's action plugins through Ansible's own winrm connection plugin.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_header import parse_dump_header
from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import (
    DumpTransfer,
    RemoteFile,
    ScriptRangeReader,
    TransferError,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script
from ansible_collections.vmrepair.azure.plugins.module_utils._transfer_manifest import load_manifest
from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import (
    WinrmSessionError,
    WinrmShell,
    parse_json_output,
    settings_from_options,
)

ROOT = Path(__file__).resolve().parents[4]
EMULATOR = ROOT / "tests" / "emulator"
if str(EMULATOR) not in sys.path:
    sys.path.insert(0, str(EMULATOR))

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(any(shutil.which(tool) is None for tool in ("mkntfs", "ntfs-3g")) or os.geteuid() != 0,
                       reason="building the NTFS disk image needs ntfs-3g (bindep.txt) and root for FUSE"),
]

PASSWORD = "Rep@ir-" + "".join(random.choices("abcdefghjkmnpqrstuvwxyz23456789", k=12))
USER = "vmrepair"
DUMP_PARAMS = ["0xFFFFC00012345678", "0xFFFFFFFFC0000142", "0x0", "0x0"]
OS_DISK = {
    "volume_size_mb": 48,
    "memory_dump": {"path": "Windows/MEMORY.DMP", "size_mb": 12, "dump_type": "kernel",
                    "bugcheck_code": "0xC000021A", "bugcheck_parameters": DUMP_PARAMS,
                    "system_time": "2026-11-20T03:14:15Z", "processors": 2},
    "minidumps": [{"name": "112026-10000-01.dmp", "size_kb": 256, "bugcheck_code": "0xC000021A"}],
}


class RepairVm:
    def __init__(self, machine, manager, ca_path: Path):
        self.machine = machine
        self.manager = manager
        self.ip = machine.private_ip
        self.ca_path = ca_path

    def settings(self):
        options = {"remote_addr": self.ip, "port": 5986, "remote_user": USER, "remote_password": PASSWORD,
                   "transport": ["ntlm"]}
        extras = {"ansible_winrm_ca_trust_path": str(self.ca_path),
                  "ansible_winrm_server_cert_validation": "validate"}
        return settings_from_options(options, extras)

    def run_json(self, name: str, params: dict):
        with WinrmShell(self.settings()) as shell:
            return parse_json_output(b"\n".join(shell.stream_lines(render_script(name, params))))


@pytest.fixture(scope="module")
def repair_vm(tmp_path_factory):
    from vmrepair_emulator.disks.image import build_os_disk_image
    from vmrepair_emulator.requestlog import RequestLog
    from vmrepair_emulator.windows.machine import AttachedDisk, Machine
    from vmrepair_emulator.winrm import ListenerManager

    work = tmp_path_factory.mktemp("repair-vm")
    vhd = build_os_disk_image(OS_DISK, work / "images")
    request_log = RequestLog()
    manager = ListenerManager(None, request_log)
    ip = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    machine = Machine("repair-vm", "REPAIR-VM", ip, USER, PASSWORD,
                      data_disks=[AttachedDisk(lun=0, disk_id="web-01-osdisk-copy", vhd_path=vhd, read_only=True)],
                      on_winrm_enabled=manager.start)
    listener = machine.enable_winrm_https([ip])
    der = base64.b64decode(listener["certificate"])
    ca_path = work / "repair-vm.pem"
    ca_path.write_text("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
                       + "\n-----END CERTIFICATE-----\n")
    vm = RepairVm(machine, manager, ca_path)
    vm.request_log = request_log
    yield vm
    manager.stop_all()


@pytest.fixture(scope="module")
def memory_dump(repair_vm):
    found = repair_vm.run_json("find_dumps", {})
    memory = next(d for d in found["dumps"] if d["kind"] == "memory")
    return RemoteFile.from_hash_output(repair_vm.run_json("hash_file", {"path": memory["path"]}))


def reader_factory(repair_vm, remote, transfer_holder):
    def make():
        return ScriptRangeReader(WinrmShell(repair_vm.settings()), render_script, remote.path,
                                 transfer_holder[0].chunk_size, transfer_holder[0].compression)
    return make


def transfer(repair_vm, remote, dest, **options) -> DumpTransfer:
    holder: list[DumpTransfer] = []
    engine = DumpTransfer(remote, str(dest), reader_factory(repair_vm, remote, holder), **options)
    holder.append(engine)
    return engine


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_transfer_over_real_winrm_shells(repair_vm, memory_dump, tmp_path):
    assert memory_dump.size == 12 * 1024 * 1024
    dest = tmp_path / "MEMORY.DMP"
    result = transfer(repair_vm, memory_dump, dest, streams=4, chunk_size=1024 * 1024, compression="deflate").run()
    assert file_sha256(dest) == result["sha256"] == memory_dump.sha256
    assert result["chunks"] == 12 and result["streams"] == 4 and result["chunks_refetched"] == 0
    # The dump's pages compress: fewer bytes crossed the wire than base64 of the raw file would take.
    assert result["bytes_received"] < memory_dump.size * 4 // 3
    header = parse_dump_header(dest)
    assert header["bugcheck_code"] == "0xC000021A" and header["bugcheck_parameters"] == DUMP_PARAMS
    # Every shell the transfer opened was closed again.
    assert repair_vm.manager.open_shells(repair_vm.machine) == 0


def test_an_interrupted_real_transfer_resumes_from_its_manifest(repair_vm, memory_dump, tmp_path):
    dest = tmp_path / "MEMORY.DMP"
    holder: list[DumpTransfer] = []

    class DroppingReader(ScriptRangeReader):
        """The real reader, but the link drops after three chunk lines."""
        seen = 0

        def read_range(self, offset, length):
            for line in super().read_range(offset, length):
                if DroppingReader.seen >= 3:
                    raise WinrmSessionError("connection reset by peer")
                DroppingReader.seen += 1
                yield line

    def make():
        return DroppingReader(WinrmShell(repair_vm.settings()), render_script, memory_dump.path,
                              holder[0].chunk_size, holder[0].compression)

    first = DumpTransfer(memory_dump, str(dest), make, streams=1, chunk_size=1024 * 1024, max_chunk_attempts=1)
    holder.append(first)
    with pytest.raises(TransferError, match="connection reset"):
        first.run()
    assert sorted(load_manifest(str(dest) + ".part.manifest.json").verified) == [0, 1 << 20, 2 << 20]

    result = transfer(repair_vm, memory_dump, dest, streams=2, chunk_size=4 * 1024 * 1024).run()
    assert result["chunks_resumed"] == 3 and result["chunk_size"] == 1024 * 1024
    assert result["bytes_resumed"] == 3 * 1024 * 1024
    assert file_sha256(dest) == memory_dump.sha256
    assert repair_vm.manager.open_shells(repair_vm.machine) == 0


# --- the action plugins through ansible-playbook and Ansible's winrm connection plugin ------

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.add_host:
        name: repair-vm
        ansible_host: "{{ repair_ip }}"
        ansible_connection: winrm
        ansible_port: 5986
        ansible_user: vmrepair
        ansible_password: "{{ repair_password }}"
        ansible_winrm_transport: ntlm
        ansible_winrm_ca_trust_path: "{{ repair_ca }}"
        ansible_winrm_server_cert_validation: validate

    - name: Find
      vmrepair.azure.dump_find:
        prefer: "{{ prefer }}"
      delegate_to: repair-vm
      register: found

    - name: Fetch
      vmrepair.azure.dump_fetch:
        src: "{{ found.selected.path }}"
        dest: "{{ out_dir }}/"
        streams: 3
        chunk_size: 2097152
      delegate_to: repair-vm
      register: fetched

    - name: Parse
      vmrepair.azure.dump_info:
        path: "{{ fetched.dest }}"
      register: info

    - ansible.builtin.copy:
        content: "{{ {'found': found, 'fetched': fetched, 'info': info} | to_json }}"
        dest: "{{ out_dir }}/results.json"
        mode: "0600"
"""


def run_playbook(tmp_path: Path, repair_vm, prefer: str = "memory") -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    extra = {"repair_ip": repair_vm.ip, "repair_password": PASSWORD, "repair_ca": str(repair_vm.ca_path),
             "out_dir": str(out_dir), "prefer": prefer}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_HOST_KEY_CHECKING="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    playbook_bin = Path(sys.executable).with_name("ansible-playbook")
    return subprocess.run([str(playbook_bin), str(playbook), "-e", json.dumps(extra)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_playbook_finds_fetches_and_parses_the_dump(repair_vm, memory_dump, tmp_path):
    run = run_playbook(tmp_path, repair_vm)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert PASSWORD not in run.stdout + run.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert PASSWORD not in json.dumps(results)

    found = results["found"]
    assert found["windows_volumes"][0]["windows_dir"].endswith(":\\Windows")
    assert {d["kind"] for d in found["dumps"]} == {"memory", "minidump"}
    assert found["selected"]["path"] == memory_dump.path

    fetched = results["fetched"]
    dest = Path(fetched["dest"])
    assert dest == tmp_path / "out" / "MEMORY.DMP"
    assert file_sha256(dest) == fetched["sha256"] == fetched["remote_sha256"] == memory_dump.sha256
    assert fetched["changed"] is True and fetched["streams"] == 3 and fetched["compression"] == "deflate"
    assert fetched["chunks"] == 6 and fetched["checksum_match"] is True

    dump = results["info"]["dump"]
    assert dump["bugcheck_code"] == "0xC000021A" and dump["bugcheck_parameters"] == DUMP_PARAMS
    status = dump["interpretation"]["process_status"]
    assert (status["code"], status["name"]) == ("0xC0000142", "STATUS_DLL_INIT_FAILED")

    # A second run finds the same file already there and sends nothing.
    again = run_playbook(tmp_path, repair_vm)
    assert again.returncode == 0, again.stdout[-4000:]
    second = json.loads((tmp_path / "out" / "results.json").read_text())["fetched"]
    assert second["changed"] is False and second["bytes_received"] == 0
    # Our transfer shells and the connection plugin's own shell are all closed.
    assert repair_vm.manager.open_shells(repair_vm.machine) == 0


def test_playbook_minidump_preference(repair_vm, tmp_path):
    run = run_playbook(tmp_path, repair_vm, prefer="minidump")
    assert run.returncode == 0, run.stdout[-4000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["found"]["selected"]["kind"] == "minidump"
    assert results["info"]["dump"]["dump_type"] == "triage"


def test_playbook_fails_clearly_for_a_path_that_is_not_there(repair_vm, tmp_path):
    run = run_playbook(tmp_path, repair_vm, prefer="F:\\Windows\\NOPE.DMP")
    assert run.returncode != 0
    assert "selects no dump" in run.stdout and "NOPE.DMP" in run.stdout


def ansible_winrm_connection(repair_vm):
    """Ansible's own winrm connection plugin, set up as an inventory host would set it up."""
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    connection = connection_loader.get("winrm", PlayContext())
    extras = {"ansible_winrm_server_cert_validation": "validate", "ansible_winrm_ca_trust_path": str(repair_vm.ca_path)}
    connection.set_options(var_options={
        "ansible_host": repair_vm.ip, "ansible_port": 5986, "ansible_user": USER, "ansible_password": PASSWORD,
        "ansible_winrm_transport": "ntlm", "ansible_winrm_scheme": "https", **extras, "_extras": extras})
    return connection


def test_ansible_fetch_file_works_against_the_emulator(repair_vm, memory_dump, tmp_path):
    """The transfer ansible.builtin.fetch uses (a new powershell.exe per 512 KiB): the bench's reference."""
    connection = ansible_winrm_connection(repair_vm)
    dest = tmp_path / "fetched.dmp"
    before = len(repair_vm.request_log.query("winrm"))
    try:
        connection.fetch_file(memory_dump.path, str(dest))
    finally:
        connection.close()
    assert file_sha256(dest) == memory_dump.sha256
    commands = [r for r in repair_vm.request_log.query("winrm")[before:] if r.get("winrm_action") == "Command"]
    assert len(commands) == memory_dump.size // (512 * 1024) + 1  # one process per 512 KiB, and the last read
    # A missing file fails as Ansible reports it.
    from ansible.errors import AnsibleError

    connection = ansible_winrm_connection(repair_vm)
    try:
        with pytest.raises(AnsibleError, match="failed to transfer file"):
            connection.fetch_file("F:\\Windows\\NOPE.DMP", str(tmp_path / "nope"))
    finally:
        connection.close()


def test_playbook_refetches_damaged_chunks_and_never_accepts_them(repair_vm, memory_dump, tmp_path):
    repair_vm.machine.corrupt_chunks = 2
    run = run_playbook(tmp_path, repair_vm)
    assert run.returncode == 0, run.stdout[-4000:]
    fetched = json.loads((tmp_path / "out" / "results.json").read_text())["fetched"]
    assert fetched["chunks_refetched"] == 2 and repair_vm.machine.corrupt_chunks == 0
    assert file_sha256(Path(fetched["dest"])) == memory_dump.sha256 == fetched["sha256"]


def test_playbook_never_appends_to_a_partial_file_of_another_dump(repair_vm, memory_dump, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    part = out / "MEMORY.DMP.part"
    part.write_bytes(b"\xee" * memory_dump.size)
    (out / "MEMORY.DMP.part.manifest.json").write_text(json.dumps({
        "version": 1, "remote_path": memory_dump.path, "size": memory_dump.size, "remote_sha256": "ab" * 32,
        "last_write_time_utc": memory_dump.last_write_time_utc, "chunk_size": 2097152,
        "verified_offsets": [0, 2097152]}))
    run = run_playbook(tmp_path, repair_vm)
    assert run.returncode == 0, run.stdout[-4000:]
    fetched = json.loads((out / "results.json").read_text())["fetched"]
    assert fetched["chunks_resumed"] == 0 and "not this file's" in fetched["resume_note"]
    assert file_sha256(out / "MEMORY.DMP") == memory_dump.sha256


def test_playbook_without_room_fails_before_sending_anything(repair_vm, memory_dump, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(out)], capture_output=True,
                             check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        read_before = sum(repair_vm.machine.file_reads.values())
        run = run_playbook(tmp_path, repair_vm)
        assert run.returncode != 0
        assert "free; the dump needs 12.0 MiB" in run.stdout and "Free space there or choose another dest" in run.stdout
        assert sum(repair_vm.machine.file_reads.values()) == read_before  # not a byte of the dump was sent
    finally:
        subprocess.run(["umount", str(out)], check=False)
