"""The simulated repair VM: disk numbers, offline data disks, drive letters, the WinRM certificate."""

from __future__ import annotations

import base64
import hashlib
import http.server
import socket
import ssl
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vmrepair_emulator.disks.image import build_os_disk_image
from vmrepair_emulator.windows.machine import AttachedDisk, DriveNotFoundError, Machine

SPEC = {"volume_size_mb": 24, "memory_dump": None, "minidumps": [], "files": {"Windows/hello.txt": "hello"}}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_os_disk_image(SPEC, tmp_path_factory.getbasetemp() / "os-images")


def _machine(*disks: AttachedDisk, **kwargs) -> Machine:
    return Machine("repair-vm", "REPAIR-VM", "127.0.0.1", "vmrepair", "S3cret!pass", list(disks), **kwargs)


def test_disk_numbers_and_offline_data_disks(image: Path) -> None:
    machine = _machine(AttachedDisk(1, "copy-b", image), AttachedDisk(0, "copy-a", image))
    disks = machine.disks()
    assert [(d.number, d.kind, d.is_offline) for d in disks] == [
        (0, "os", False), (1, "temp", False), (2, "data", True), (3, "data", True)]
    assert [d.attached.disk_id for d in disks[2:]] == ["copy-a", "copy-b"]  # LUN order
    assert [v.drive_letter for v in machine.volumes()] == ["C", "D"]


def test_bringing_disks_online_assigns_letters_from_f(image: Path) -> None:
    machine = _machine(AttachedDisk(0, "copy-a", image))
    assert machine.bring_offline_disks_online() == [2]
    assert [(v.drive_letter, v.disk_number, v.kind) for v in machine.volumes()] == [
        ("C", 0, "system"), ("D", 1, "temp"), ("F", 2, "data")]
    machine.attach_disk(AttachedDisk(3, "copy-b", image))
    assert machine.bring_offline_disks_online() == [3]
    assert machine.volumes()[-1].drive_letter == "G"
    assert machine.bring_offline_disks_online() == []


def test_reading_through_a_drive_letter(image: Path) -> None:
    machine = _machine(AttachedDisk(0, "copy-a", image))
    with pytest.raises(DriveNotFoundError):
        machine.open_volume("F")
    machine.bring_offline_disks_online()
    with machine.open_volume("F:") as volume, volume.open("Windows/hello.txt") as stream:
        assert stream.read() == b"hello"
    system = machine.open_volume("C")
    assert system.exists("Windows\\System32\\config\\SYSTEM")
    assert machine.open_volume("d").exists("DATALOSS_WARNING_README.txt")


def test_detach_frees_the_number_and_letter(image: Path) -> None:
    machine = _machine(AttachedDisk(0, "copy-a", image), AttachedDisk(1, "copy-b", image))
    machine.bring_offline_disks_online()
    machine.detach_disk(0)
    assert [d.number for d in machine.disks()] == [0, 1, 3]
    state = machine.attach_disk(AttachedDisk(2, "copy-c", image))
    assert (state.number, state.is_offline) == (2, True)
    machine.set_disk_offline(2, False)
    assert {v.drive_letter: v.disk_number for v in machine.volumes()}["F"] == 2
    with pytest.raises(ValueError):
        machine.attach_disk(AttachedDisk(1, "copy-d", image))  # LUN 1 taken


def test_split_path() -> None:
    assert Machine.split_path("f:/Windows\\MEMORY.DMP") == ("F", "Windows\\MEMORY.DMP")
    for bad in ("Windows\\MEMORY.DMP", "F:\\Windows\\..\\secret", ""):
        with pytest.raises(FileNotFoundError):
            Machine.split_path(bad)


def test_enable_winrm_https_certificate_is_pinnable(tmp_path: Path) -> None:
    started: list[tuple] = []
    machine = _machine(on_winrm_enabled=lambda m, cert, key: started.append((m, cert, key)))
    result = machine.enable_winrm_https(["127.0.0.1", "repair-vm.internal"])
    [(who, cert_pem, key_pem)] = started
    assert who is machine
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert result["thumbprint"] == hashlib.sha1(der).hexdigest().upper()
    assert result["listener"] == "https://127.0.0.1:5986/wsman"
    assert base64.b64decode(result["certificate"]) == der
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["repair-vm.internal"]
    assert cert.public_key().key_size == 2048
    assert 29 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 30

    # A client that trusts exactly this certificate reaches a server using it, by IP address.
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Ok)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        response = requests.get(f"https://127.0.0.1:{port}/wsman", verify=str(tmp_path / "cert.pem"), timeout=10)
        assert response.status_code == 200
        strict = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        strict.verify_flags |= ssl.VERIFY_X509_STRICT
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                strict.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass
        with pytest.raises(requests.exceptions.SSLError):  # a different certificate is refused
            other = _machine().enable_winrm_https(["127.0.0.1"])
            (tmp_path / "other.pem").write_bytes(
                b"-----BEGIN CERTIFICATE-----\n" + other["certificate"].encode() + b"\n-----END CERTIFICATE-----\n")
            requests.get(f"https://127.0.0.1:{port}/wsman", verify=str(tmp_path / "other.pem"), timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert machine.winrm_certificate is not None and machine.winrm_certificate.cert_pem == cert_pem


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass
