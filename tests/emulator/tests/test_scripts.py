"""The collection's scripts run as Ansible sends them: render_script() -> _encode_script() ->
shell.execute on a machine whose attached disk is a real image built from a scenario spec."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from pathlib import Path

import pytest
from ansible.plugins.shell.powershell import ShellModule

from vmrepair_emulator.testing import collection_render_script
from vmrepair_emulator import dumpgen
from vmrepair_emulator.disks.image import build_os_disk_image, image_key
from vmrepair_emulator.windows import scripts, shell
from vmrepair_emulator.windows.machine import AttachedDisk, Machine

MIB = 1024 * 1024
SPEC = {
    "volume_size_mb": 64,
    "memory_dump": {"path": "Windows/MEMORY.DMP", "size_mb": 16, "dump_type": "kernel", "bugcheck_code": "0xC000021A",
                    "bugcheck_parameters": ["0xFFFFC00012345678", "0xFFFFFFFFC0000005", "0x0", "0x0"],
                    "system_time": "2026-11-20T03:14:15Z", "processors": 2},
    "minidumps": [{"name": "112026-10000-01.dmp", "size_kb": 256, "bugcheck_code": "0xC000021A"}],
    "crash_control": {"crash_dump_enabled": 2, "current_control_set": 2},
}
MEMORY_DMP = "F:\\Windows\\MEMORY.DMP"


render_script = collection_render_script()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_os_disk_image(SPEC, tmp_path_factory.getbasetemp() / "os-images")


@pytest.fixture(scope="module")
def dump_bytes() -> bytes:
    seed = int(image_key(SPEC)[:8], 16)
    return b"".join(dumpgen.iter_crash_dump(dumpgen.spec_from_scenario(SPEC["memory_dump"], seed=seed)))


@pytest.fixture
def machine(image: Path) -> Machine:
    return Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "pw", [AttachedDisk(0, "copy", image)])


@pytest.fixture
def online(machine: Machine) -> Machine:
    machine.bring_offline_disks_online()
    return machine


def run(machine: Machine, name: str, params: dict) -> tuple[int, bytes, bytes]:
    """As Ansible's winrm connection runs a script: strict mode, rc propagation, lines stripped."""
    parts = ShellModule()._encode_script(render_script(name, params), as_list=True, strict_mode=True,
                                         preserve_rc=True)
    return shell.execute(machine, parts[0], parts[1:]).communicate(timeout=60)


def chunks(out: bytes) -> tuple[list[list[str]], str]:
    lines = out.decode("ascii").split("\n")
    assert lines[-1] == "", "output must end with a newline"
    return [line.split(" ") for line in lines[:-2]], lines[-2]


def reassemble(records: list[list[str]]) -> bytes:
    data = bytearray()
    for _offset, length, digest, compression, payload in records:
        raw = base64.b64decode(payload)
        if compression == "deflate":
            raw = zlib.decompress(raw, wbits=-15)
        assert len(raw) == int(length) and hashlib.sha256(raw).hexdigest() == digest
        data.extend(raw)
    return bytes(data)


# --- find_dumps ------------------------------------------------------------------------------

def test_find_dumps_brings_the_copy_online_and_lists_its_dumps(machine: Machine, dump_bytes: bytes) -> None:
    assert machine.disks()[2].is_offline
    code, out, err = run(machine, "find_dumps", {})
    assert (code, err) == (0, b"")
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    result = json.loads(out)
    # Select\Current is 2 here: ControlSet001 holds the stale values (CrashDumpEnabled 0, STALE.DMP).
    assert result["windows_volumes"] == [{
        "disk_number": 2, "drive_letter": "F", "windows_dir": "F:\\Windows",
        "crash_control": {"control_set": "ControlSet002", "crash_dump_enabled": 2, "dump_type": "kernel",
                          "dump_file": "%SystemRoot%\\MEMORY.DMP", "minidump_dir": "%SystemRoot%\\Minidump",
                          "dedicated_dump_file": None, "filter_pages": None},
        "crash_control_error": None}]
    headers = [base64.b64decode(d.pop("header_base64")) for d in result["dumps"]]
    assert result["dumps"] == [
        {"path": MEMORY_DMP, "kind": "memory", "source": "DumpFile", "size": 16 * MIB,
         "last_write_time_utc": "2026-11-20T03:14:15Z"},
        {"path": "F:\\Windows\\Minidump\\112026-10000-01.dmp", "kind": "minidump", "source": "MinidumpDir",
         "size": 256 * 1024, "last_write_time_utc": "2026-11-20T03:14:15Z"},
    ]
    assert headers[0] == dump_bytes[:12288] and headers[1][:8] == b"PAGEDU64" and len(headers[1]) == 12288
    assert result["not_found"] == []
    assert not machine.disks()[2].is_offline and not machine.disks()[2].is_read_only


def test_find_dumps_header_bytes_parameter(machine: Machine, dump_bytes: bytes) -> None:
    code, out, _err = run(machine, "find_dumps", {"header_bytes": 16})
    assert code == 0
    assert base64.b64decode(json.loads(out)["dumps"][0]["header_base64"]) == dump_bytes[:16]


def test_find_dumps_follows_crash_control_to_other_places(tmp_path_factory: pytest.TempPathFactory) -> None:
    spec = {
        "volume_size_mb": 32,
        "memory_dump": {"path": "CrashDumps/KERNEL.DMP", "size_mb": 2, "dump_type": "kernel"},
        "minidumps": [{"name": "a.dmp", "size_kb": 64}],
        "crash_control": {"crash_dump_enabled": 1, "filter_pages": 1, "dump_file": "C:\\CrashDumps\\KERNEL.DMP",
                          "minidump_dir": "%SystemRoot%\\Mini", "dedicated_dump_file": "D:\\dedicated.sys"},
    }
    image = build_os_disk_image(spec, tmp_path_factory.getbasetemp() / "os-images")
    machine = Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "pw", [AttachedDisk(0, "copy", image)])
    code, out, err = run(machine, "find_dumps", {"header_bytes": 0})
    assert (code, err) == (0, b"")
    result = json.loads(out)
    assert result["windows_volumes"][0]["crash_control"]["dump_type"] == "active"
    assert [(d["path"], d["kind"], d["source"], d["header_base64"]) for d in result["dumps"]] == [
        ("F:\\CrashDumps\\KERNEL.DMP", "memory", "DumpFile", ""),
        ("F:\\Windows\\Mini\\a.dmp", "minidump", "MinidumpDir", ""),
    ]
    assert result["not_found"] == [
        {"path": "D:\\dedicated.sys", "kind": "dedicated", "source": "DedicatedDumpFile",
         "why": "it is on drive D: of the broken VM, not on its OS disk (on Azure, D: is the temporary disk, "
                "which is not kept)"},
        {"path": "F:\\Windows\\MEMORY.DMP", "kind": "memory", "source": "default", "why": "no such file"},
    ]


def test_find_dumps_with_a_damaged_hive_searches_the_defaults(tmp_path_factory: pytest.TempPathFactory) -> None:
    spec = {"volume_size_mb": 32, "memory_dump": {"size_mb": 2}, "files": {"Windows/System32/config/SYSTEM": "junk"}}
    image = build_os_disk_image(spec, tmp_path_factory.getbasetemp() / "os-images")
    machine = Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "pw", [AttachedDisk(0, "copy", image)])
    code, out, _err = run(machine, "find_dumps", {})
    result = json.loads(out)
    assert code == 0 and result["windows_volumes"][0]["crash_control"] is None
    assert result["windows_volumes"][0]["crash_control_error"] == (
        "reg.exe load of F:\\Windows\\System32\\config\\SYSTEM failed: "
        "ERROR: The configuration registry database is corrupt.")
    assert [(d["path"], d["source"]) for d in result["dumps"]] == [("F:\\Windows\\MEMORY.DMP", "default")]


def test_find_dumps_without_attached_disks_finds_nothing(image: Path) -> None:
    bare = Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "pw")
    code, out, _err = run(bare, "find_dumps", {})
    assert code == 0 and json.loads(out) == {"windows_volumes": [], "dumps": [], "not_found": []}


# --- hash_file -------------------------------------------------------------------------------

def test_hash_file_streams_the_whole_file(online: Machine, dump_bytes: bytes) -> None:
    code, out, err = run(online, "hash_file", {"path": MEMORY_DMP})
    assert (code, err) == (0, b"")
    assert json.loads(out) == {"path": MEMORY_DMP, "size": len(dump_bytes),
                               "sha256": hashlib.sha256(dump_bytes).hexdigest(),
                               "last_write_time_utc": "2026-11-20T03:14:15Z"}


@pytest.mark.parametrize("params, message", [
    ({"path": "F:\\Windows\\NOPE.DMP"}, "Cannot find path 'F:\\Windows\\NOPE.DMP' because it does not exist."),
    ({"path": "Q:\\x"}, "Cannot find drive. A drive with the name 'Q' does not exist."),
    ({"path": "F:/Windows"}, "'F:\\Windows' is a directory, not a file."),
    ({"path": ""}, "path must be a non-empty string."),
    ({}, "The property 'path' cannot be found on this object. Verify that the property exists."),
])
def test_hash_file_errors(online: Machine, params: dict, message: str) -> None:
    code, out, err = run(online, "hash_file", params)
    assert (code, out) == (1, b"")
    assert err == (message + "\r\n").encode()


# --- read_file_chunks ------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["none", "deflate"])
def test_read_file_chunks_reassembles_the_file(online: Machine, dump_bytes: bytes, compression: str) -> None:
    code, out, err = run(online, "read_file_chunks", {"path": MEMORY_DMP, "offset": 0, "length": len(dump_bytes),
                                                      "chunk_size": MIB, "compression": compression})
    assert (code, err) == (0, b"")
    records, end = chunks(out)
    assert end == f"END {len(dump_bytes)}"
    assert [int(r[0]) for r in records] == list(range(0, len(dump_bytes), MIB))
    assert {r[3] for r in records} == {compression}
    assert reassemble(records) == dump_bytes
    if compression == "deflate":
        assert sum(len(r[4]) for r in records) < 0.75 * len(base64.b64encode(dump_bytes))


def test_read_file_chunks_ranges_are_absolute_and_stop_at_the_end(online: Machine, dump_bytes: bytes) -> None:
    offset = len(dump_bytes) - 300_000
    code, out, _err = run(online, "read_file_chunks", {"path": MEMORY_DMP, "offset": offset, "length": 10 * MIB,
                                                       "chunk_size": 128 * 1024, "compression": "deflate"})
    records, end = chunks(out)
    assert code == 0 and end == "END 300000"
    assert [(int(r[0]), int(r[1])) for r in records] == [
        (offset, 131072), (offset + 131072, 131072), (offset + 262144, 300_000 - 262144)]
    assert reassemble(records) == dump_bytes[offset:]


def test_read_file_chunks_resume_pieces_fit_together(online: Machine, dump_bytes: bytes) -> None:
    pieces = []
    for start in range(0, len(dump_bytes), 5 * MIB + 3):
        code, out, _err = run(online, "read_file_chunks", {"path": MEMORY_DMP, "offset": start, "length": 5 * MIB + 3,
                                                           "chunk_size": 2 * MIB, "compression": "none"})
        assert code == 0
        pieces.append(reassemble(chunks(out)[0]))
    assert b"".join(pieces) == dump_bytes


def test_read_file_chunks_past_the_end_sends_nothing(online: Machine, dump_bytes: bytes) -> None:
    code, out, _err = run(online, "read_file_chunks", {"path": MEMORY_DMP, "offset": len(dump_bytes) + 5, "length": 10,
                                                       "chunk_size": 4096, "compression": "none"})
    assert (code, out) == (0, b"END 0\n")


@pytest.mark.parametrize("change, message", [
    ({"offset": -1}, "offset and length must not be negative."),
    ({"chunk_size": 0}, "chunk_size must be between 1 and 16777216 bytes."),
    ({"chunk_size": 16 * MIB + 1}, "chunk_size must be between 1 and 16777216 bytes."),
    ({"compression": "gzip"}, "compression must be 'none' or 'deflate', not 'gzip'."),
    ({"compression": "Deflate"}, "compression must be 'none' or 'deflate', not 'Deflate'."),
    ({"length": "10"}, 'length must be an integer, not "10".'),
    ({"offset": 1.5}, "offset must be an integer, not 1.5."),
    ({"path": "F:\\Windows\\NOPE.DMP"}, "Cannot find path 'F:\\Windows\\NOPE.DMP' because it does not exist."),
])
def test_read_file_chunks_errors(online: Machine, change: dict, message: str) -> None:
    params = {"path": MEMORY_DMP, "offset": 0, "length": 100, "chunk_size": 4096, "compression": "none", **change}
    code, out, err = run(online, "read_file_chunks", params)
    assert (code, out) == (1, b"")
    assert err == (message + "\r\n").encode()


def test_read_file_chunks_missing_parameter(online: Machine) -> None:
    code, _out, err = run(online, "read_file_chunks", {"path": MEMORY_DMP, "offset": 0, "length": 1, "chunk_size": 1})
    assert code == 1 and b"The property 'compression' cannot be found" in err


def test_read_file_chunks_is_produced_lazily(online: Machine, dump_bytes: bytes) -> None:
    """Nobody reads: the script stops after a few chunks instead of encoding the whole dump."""
    parts = ShellModule()._encode_script(render_script("read_file_chunks", {
        "path": MEMORY_DMP, "offset": 0, "length": len(dump_bytes), "chunk_size": 256 * 1024,
        "compression": "none"}), as_list=True)
    process = shell.execute(online, parts[0], parts[1:])
    assert not process.wait(timeout=1.0), "the whole output was produced with no reader"
    first = process.read(timeout=5)
    assert first and first[0][1].startswith(b"0 262144 ")
    process.terminate()
    assert process.wait(timeout=5)


# --- enable_winrm_https ----------------------------------------------------------------------

def test_enable_winrm_https_through_run_command(machine: Machine) -> None:
    started = []
    machine._on_winrm_enabled = lambda m, cert, key: started.append(cert)
    # Run Command sends the script's lines joined; no Ansible encoding on that path.
    process = scripts.run(machine, render_script("enable_winrm_https", {"subject_names": ["127.0.0.1"]}))
    code, out, err = process.communicate()
    assert (code, err) == (0, b"")
    result = json.loads(out)
    assert set(result) == {"thumbprint", "certificate", "listener"}
    assert result["listener"] == "https://127.0.0.1:5986/wsman"
    assert len(started) == 1 and machine.winrm_certificate.thumbprint == result["thumbprint"]


def test_enable_winrm_https_needs_a_name(machine: Machine) -> None:
    code, _out, err = run(machine, "enable_winrm_https", {"subject_names": []})
    assert code == 1 and err == b"subject_names must name at least one IP address or DNS name.\r\n"


# --- dispatch --------------------------------------------------------------------------------

def test_unknown_script_or_version_fails(machine: Machine) -> None:
    for text in ("# vmrepair.azure script: format_disk v1\nFormat-Volume -DriveLetter F\n",
                 "# vmrepair.azure script: find_dumps v9\n$VmrepairParams = ConvertFrom-Json '{}'\n",
                 "Write-Output 'hello'\n"):
        code, out, err = scripts.run(machine, text).communicate()
        assert (code, out) == (1, b"") and err.startswith(b"#< CLIXML")


def test_params_line_with_quotes_survives_the_round_trip(online: Machine) -> None:
    code, _out, err = run(online, "hash_file", {"path": "F:\\Windows\\it's here.dmp"})
    assert code == 1 and err == b"Cannot find path 'F:\\Windows\\it's here.dmp' because it does not exist.\r\n"


def test_broken_params_json_fails(machine: Machine) -> None:
    text = "# vmrepair.azure script: find_dumps v2\n$VmrepairParams = ConvertFrom-Json '{\"a\": '\n"
    code, _out, err = scripts.run(machine, text).communicate()
    assert code == 1 and err.startswith(b"Conversion from JSON failed")
