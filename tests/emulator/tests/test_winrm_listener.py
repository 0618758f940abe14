"""The WinRM listener against real clients: pywinrm 0.5 (NTLM over HTTPS, the machine's own
certificate pinned) and ansible-playbook with the winrm connection plugin.

Commands run in a small test executor defined here, so the server is proven on its own.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
import xmltodict
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # PYTHONPATH=tests/emulator when run alone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import winrm  # noqa: E402
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError  # noqa: E402
from winrm.protocol import Protocol  # noqa: E402

from vmrepair_emulator.requestlog import RequestLog  # noqa: E402
from vmrepair_emulator.tls import EmulatorTLS  # noqa: E402
from vmrepair_emulator.winrm import ListenerManager, WinrsQuotas  # noqa: E402

pytestmark = pytest.mark.timeout(180)

PASSWORD = "Rep@ir-Passw0rd!"
ENVELOPE = 153600  # the MaxEnvelopeSize pywinrm asks for


# --- the simulated machine and its certificate ------------------------------------------


@dataclass
class FakeMachine:
    """What the listener reads of windows.machine.Machine."""

    name: str
    computer_name: str
    private_ip: str
    admin_username: str
    admin_password: str


def self_signed(ip: str) -> tuple[bytes, bytes]:
    """Like New-SelfSignedCertificate for a listener: RSA 2048, SAN = the address, 30 days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=10)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


# --- a test-only executor ---------------------------------------------------------------


class Terminated(Exception):
    pass


class FakeProcess:
    """Runs `body` in a thread; output goes through a small bounded queue (back-pressure)."""

    def __init__(self, body: Callable[["FakeProcess"], int]) -> None:
        self._out: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=8)
        self._stdin: queue.Queue[tuple[bytes, bool]] = queue.Queue()
        self._stop = threading.Event()
        self.done = False
        self.exit_code: int | None = None
        threading.Thread(target=self._run, args=(body,), daemon=True).start()

    def _run(self, body: Callable[["FakeProcess"], int]) -> None:
        try:
            code = body(self)
        except Terminated:
            code = 0xC000013A  # STATUS_CONTROL_C_EXIT
        self.exit_code = code
        self.done = True

    def emit(self, stream: str, data: bytes) -> None:
        while not self._stop.is_set():
            try:
                self._out.put((stream, data), timeout=0.05)
                return
            except queue.Full:
                continue
        raise Terminated

    def stdin_chunks(self) -> Iterator[bytes]:
        while not self._stop.is_set():
            try:
                data, end = self._stdin.get(timeout=0.05)
            except queue.Empty:
                continue
            yield data
            if end:
                return
        raise Terminated

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Terminated

    # the Process protocol
    def read(self, timeout: float) -> list[tuple[str, bytes]]:
        items: list[tuple[str, bytes]] = []
        try:
            items.append(self._out.get(timeout=timeout) if timeout > 0 else self._out.get_nowait())
            while True:
                items.append(self._out.get_nowait())
        except queue.Empty:
            return items

    def write_stdin(self, data: bytes, end: bool) -> None:
        self._stdin.put((data, end))

    def terminate(self) -> None:
        self._stop.set()


def random_stream(seed: int, size: int, chunk: int = 65536) -> Iterator[bytes]:
    rng = random.Random(seed)
    for offset in range(0, size, chunk):
        yield rng.randbytes(min(chunk, size - offset))


class ScriptedExecutor:
    """echo, exit N, produce SIZE SEED, cat, sleep S, unicode, explode (raises),
    PowerShell -EncodedCommand <script>."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, machine: FakeMachine, command: str, arguments: list[str]) -> FakeProcess:
        self.calls.append((command, arguments))
        name = command.lower()
        if name == "echo":
            return FakeProcess(lambda p: (p.emit("stdout", " ".join(arguments).encode() + b"\r\n"), 0)[1])
        if name == "exit":
            return FakeProcess(lambda p: (p.emit("stderr", f"failing with {arguments[0]}\r\n".encode()),
                                          int(arguments[0]))[1])
        if name == "produce":
            size, seed = int(arguments[0]), int(arguments[1])
            return FakeProcess(lambda p: ([p.emit("stdout", b) for b in random_stream(seed, size)], 0)[1])
        if name == "cat":
            return FakeProcess(lambda p: ([p.emit("stdout", data) for data in p.stdin_chunks()], 0)[1])
        if name == "sleep":
            return FakeProcess(lambda p: (p.sleep(float(arguments[0])), p.emit("stdout", b"woke\r\n"), 0)[2])
        if name == "unicode":
            return FakeProcess(lambda p: (p.emit("stdout", "héllo ✓\r\n".encode("utf-8")), 0)[1])
        if name == "explode":
            raise RuntimeError("the executor itself failed")
        if name == "powershell" and "-EncodedCommand" in arguments:
            script = base64.b64decode(arguments[arguments.index("-EncodedCommand") + 1]).decode("utf-16-le")
            return FakeProcess(lambda p: run_script(p, script))
        return FakeProcess(lambda p: (p.emit("stderr", f"'{command}' is not recognized as an internal or external "
                                                       "command,\r\noperable program or batch file.\r\n".encode()), 1)[1])


def run_script(process: FakeProcess, script: str) -> int:
    """Just enough PowerShell for the Ansible test: Write-Output '<text>' and exit <n>."""
    for line in script.splitlines():
        if match := re.fullmatch(r"Write-Output '(.*)'", line.strip()):
            process.emit("stdout", match.group(1).encode("utf-8") + b"\r\n")
        elif match := re.fullmatch(r"exit (\d+)", line.strip()):
            return int(match.group(1))
    return 0


# --- fixtures ---------------------------------------------------------------------------

_addresses = iter(f"127.77.{random.randint(1, 250)}.{n}" for n in range(2, 255))


@dataclass
class Endpoint:
    machine: FakeMachine
    url: str
    cert_path: Path
    manager: ListenerManager
    log: RequestLog
    executor: ScriptedExecutor

    def protocol(self, **kwargs) -> Protocol:
        options = dict(transport="ntlm", username=self.machine.admin_username, password=self.machine.admin_password,
                       server_cert_validation="validate", ca_trust_path=str(self.cert_path))
        options.update(kwargs)
        return Protocol(self.url, **options)

    def session(self, username: str | None = None, password: str | None = None) -> winrm.Session:
        return winrm.Session(self.url, auth=(username or self.machine.admin_username,
                                             password or self.machine.admin_password),
                             transport="ntlm", server_cert_validation="validate", ca_trust_path=str(self.cert_path))

    def records(self, action: str | None = None) -> list[dict]:
        return [r for r in self.log.query(service="winrm")
                if r.get("machine") == self.machine.name and (action is None or r.get("winrm_action") == action)]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> EmulatorTLS:
    return EmulatorTLS(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_endpoint(tmp_path: Path, tls: EmulatorTLS) -> Iterator[Callable[..., Endpoint]]:
    managers: list[ListenerManager] = []

    def make(quotas: WinrsQuotas | None = None, password: str = PASSWORD, username: str = "vmrepair",
             machine_ip: str | None = None, with_emulator_tls: bool = True) -> Endpoint:
        ip = machine_ip or next(_addresses)
        machine = FakeMachine(f"repair-{ip.replace('.', '-')}", "REPAIR-VM", ip, username, password)
        cert_pem, key_pem = self_signed(ip)
        cert_path = tmp_path / f"{ip}.pem"
        cert_path.write_bytes(cert_pem)
        log = RequestLog()
        executor = ScriptedExecutor()
        manager = ListenerManager(tls if with_emulator_tls else None, log, executor=executor, quotas=quotas)
        managers.append(manager)
        host, port = manager.start(machine, cert_pem, key_pem)
        assert (host, port) == (ip, 5986)
        return Endpoint(machine, f"https://{ip}:5986/wsman", cert_path, manager, log, executor)

    yield make
    for manager in managers:
        manager.stop_all()


@pytest.fixture
def endpoint(make_endpoint: Callable[..., Endpoint]) -> Endpoint:
    return make_endpoint()


# --- authentication and certificate ---------------------------------------------------


def test_ntlm_over_https_runs_a_command(endpoint: Endpoint) -> None:
    result = endpoint.session().run_cmd("echo", ["hello", "world"])

    assert (result.status_code, result.std_out, result.std_err) == (0, b"hello world\r\n", b"")
    assert endpoint.executor.calls == [("echo", ["hello", "world"])]
    records = endpoint.records()
    # NTLM: 401 with no credentials, 401 carrying the challenge, then the request itself.
    assert [r["status"] for r in records[:3]] == [401, 401, 200]
    assert records[1]["auth"] == "challenge"
    served = records[2:]
    actions = [r["winrm_action"] for r in served]
    collapsed = [a for i, a in enumerate(actions) if i == 0 or a != actions[i - 1]]  # Receive until Done
    assert collapsed == ["Create", "Command", "Receive", "Signal", "Delete"]
    assert all(r["status"] == 200 for r in served)
    assert all(r["principal"] == "vmrepair" and r["user_agent"] == "Python WinRM client" for r in served)
    shell_ids = {r["shell_id"] for r in served}
    assert len(shell_ids) == 1 and re.fullmatch(r"[0-9A-F-]{36}", shell_ids.pop())
    assert endpoint.manager.open_shells(endpoint.machine) == 0  # run_cmd deleted its shell


def test_wrong_password_is_refused(endpoint: Endpoint) -> None:
    with pytest.raises(InvalidCredentialsError):
        endpoint.session(password="not-the-password").run_cmd("echo", ["x"])
    records = endpoint.records()
    assert records and all(r["status"] == 401 for r in records)
    assert records[-1]["auth"] == "denied"
    assert endpoint.executor.calls == []


def test_unknown_user_is_refused(endpoint: Endpoint) -> None:
    with pytest.raises(InvalidCredentialsError):
        endpoint.session(username="administrator").run_cmd("echo", ["x"])


@pytest.mark.parametrize("username", ["vmrepair", ".\\vmrepair", "REPAIR-VM\\vmrepair", "VMREPAIR"])
def test_local_account_forms_are_accepted(endpoint: Endpoint, username: str) -> None:
    assert endpoint.session(username=username).run_cmd("echo", ["ok"]).std_out == b"ok\r\n"


def test_request_without_credentials_gets_negotiate_challenge(endpoint: Endpoint) -> None:
    response = requests.post(endpoint.url, data=b"<x/>", verify=str(endpoint.cert_path),
                             headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Negotiate"
    assert response.headers["Server"] == "Microsoft-HTTPAPI/2.0"


def test_listener_without_the_emulator_tls_object(make_endpoint: Callable[..., Endpoint]) -> None:
    endpoint = make_endpoint(with_emulator_tls=False)
    assert endpoint.session().run_cmd("echo", ["standalone"]).std_out == b"standalone\r\n"


def test_two_machines_with_the_same_user_keep_their_own_passwords(make_endpoint: Callable[..., Endpoint]) -> None:
    first, second = make_endpoint(password="First-Passw0rd"), make_endpoint(password="Second-Passw0rd")
    assert first.session().run_cmd("echo", ["one"]).std_out == b"one\r\n"
    assert second.session().run_cmd("echo", ["two"]).std_out == b"two\r\n"
    with pytest.raises(InvalidCredentialsError):
        first.session(password="Second-Passw0rd").run_cmd("echo", ["x"])
    with pytest.raises(InvalidCredentialsError):
        second.session(password="First-Passw0rd").run_cmd("echo", ["x"])


def test_a_client_pinning_another_certificate_cannot_connect(endpoint: Endpoint, tls: EmulatorTLS,
                                                             tmp_path: Path) -> None:
    # Trusting the emulator's CA (not the machine's self-signed certificate) must fail ...
    with pytest.raises(requests.exceptions.SSLError):
        endpoint.protocol(ca_trust_path=str(tls.ca_path)).open_shell()
    # ... and so must trusting a different self-signed certificate for the same address.
    other, _other_key = self_signed(endpoint.machine.private_ip)
    (tmp_path / "other.pem").write_bytes(other)
    with pytest.raises(requests.exceptions.SSLError):
        endpoint.protocol(ca_trust_path=str(tmp_path / "other.pem")).open_shell()
    assert endpoint.records() == []  # no request got through the TLS handshake
    # Trusting exactly the machine's certificate works.
    protocol = endpoint.protocol()
    protocol.close_shell(protocol.open_shell())


def test_ntlm_without_channel_binding_is_refused(endpoint: Endpoint) -> None:
    with pytest.raises(InvalidCredentialsError):
        endpoint.protocol(send_cbt=False).open_shell()


# --- commands, streams, exit codes ----------------------------------------------------


def test_exit_codes_and_stderr(endpoint: Endpoint) -> None:
    session = endpoint.session()
    failing = session.run_cmd("exit", ["7"])
    assert (failing.status_code, failing.std_out, failing.std_err) == (7, b"", b"failing with 7\r\n")
    unknown = session.run_cmd("frobnicate")
    assert unknown.status_code == 1
    assert b"is not recognized as an internal or external command" in unknown.std_err


def test_twenty_megabytes_of_stdout_arrive_intact_across_many_receives(endpoint: Endpoint) -> None:
    size, seed = 20 * 1024 * 1024, 21
    protocol = endpoint.protocol()
    shell_id = protocol.open_shell(codepage=65001)
    command_id = protocol.run_command(shell_id, "produce", [str(size), str(seed)])
    started = time.monotonic()
    stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
    elapsed = time.monotonic() - started
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)

    expected = hashlib.sha256(b"".join(random_stream(seed, size))).hexdigest()
    assert (len(stdout), hashlib.sha256(stdout).hexdigest(), stderr, code) == (size, expected, b"", 0)
    receives = [r for r in endpoint.records("Receive") if r["status"] == 200]
    assert sum(r["stdout_bytes"] for r in receives) == size
    assert max(r["bytes_out"] for r in receives) <= ENVELOPE  # MaxEnvelopeSize is a hard cap ...
    full = [r for r in receives if r["stdout_bytes"] > 100_000]
    assert len(full) >= size // ENVELOPE  # ... and envelopes are filled, not dribbled
    assert len(receives) >= size * 4 / 3 / ENVELOPE
    print(f"20 MiB in {len(receives)} Receives, {elapsed:.2f} s, {size / elapsed / 1e6:.1f} MB/s (in-process)")


def test_parallel_shells_on_separate_connections_stream_independently(endpoint: Endpoint) -> None:
    size = 3 * 1024 * 1024
    results: dict[int, bytes] = {}

    def transfer(seed: int) -> None:
        protocol = endpoint.protocol()  # its own session: its own TCP connection, its own NTLM handshake
        shell_id = protocol.open_shell(codepage=65001)
        command_id = protocol.run_command(shell_id, "produce", [str(size), str(seed)])
        results[seed] = protocol.get_command_output(shell_id, command_id)[0]
        protocol.cleanup_command(shell_id, command_id)
        protocol.close_shell(shell_id)

    threads = [threading.Thread(target=transfer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [0, 1, 2, 3]
    for seed, data in results.items():
        assert data == b"".join(random_stream(seed, size)), f"stream {seed} corrupted"
    assert len({r["shell_id"] for r in endpoint.records("Create")}) == 4
    assert endpoint.manager.open_shells(endpoint.machine) == 0


def test_idle_shells_expire(make_endpoint: Callable[..., Endpoint]) -> None:
    endpoint = make_endpoint(quotas=WinrsQuotas(idle_timeout_s=0.5))
    protocol = endpoint.protocol()
    idle = protocol.open_shell()
    time.sleep(1.0)
    busy = protocol.open_shell()  # Windows closes shells idle longer than IdleTimeout
    with pytest.raises(WSManFaultError) as caught:
        protocol.run_command(idle, "echo", ["x"])
    assert caught.value.wsman_fault_code == 2150858843
    assert protocol.get_command_output(busy, protocol.run_command(busy, "echo", ["y"]))[0] == b"y\r\n"
    protocol.close_shell(busy)


def test_a_smaller_max_envelope_size_makes_smaller_receives(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol()
    shell_id = protocol.open_shell(codepage=65001)
    command_id = protocol.run_command(shell_id, "produce", ["50000", "3"])
    request = {"env:Envelope": protocol.build_wsman_header(
        action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
        resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd", shell_id=shell_id)}
    request["env:Envelope"]["env:Header"]["w:MaxEnvelopeSize"]["#text"] = "8192"
    stream = request["env:Envelope"].setdefault("env:Body", {}).setdefault("rsp:Receive", {}) \
        .setdefault("rsp:DesiredStream", {})
    stream.update({"@CommandId": command_id, "#text": "stdout stderr"})

    received = b""
    for _attempt in range(100):
        response = protocol.send_message(xmltodict.unparse(request))
        assert len(response) <= 8192
        parsed = xmltodict.parse(response, force_list=("rsp:Stream",))["s:Envelope"]["s:Body"]["rsp:ReceiveResponse"]
        received += b"".join(base64.b64decode(s["#text"]) for s in parsed.get("rsp:Stream", []) if "#text" in s)
        if parsed["rsp:CommandState"]["@State"].endswith("Done"):
            break
    assert received == b"".join(random_stream(3, 50000))
    assert len(endpoint.records("Receive")) >= 50000 * 4 / 3 / 8192

    request["env:Envelope"]["env:Header"]["w:MaxEnvelopeSize"]["#text"] = "4096"
    with pytest.raises(WSManFaultError) as caught:
        protocol.send_message(xmltodict.unparse(request))
    assert caught.value.fault_subcode == "w:EncodingLimit"
    protocol.close_shell(shell_id)


def test_stdin_is_sent_in_pieces_and_closed(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol()
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "cat")
    protocol.send_command_input(shell_id, command_id, b"first line\r\n")
    protocol.send_command_input(shell_id, command_id, b"second line\r\n", end=True)
    stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
    assert (stdout, stderr, code) == (b"first line\r\nsecond line\r\n", b"", 0)
    sends = endpoint.records("Send")
    assert [r["stdin_bytes"] for r in sends] == [12, 13]
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)


def test_receive_times_out_with_the_wsman_fault_and_pywinrm_retries(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol(operation_timeout_sec=1, read_timeout_sec=10)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "sleep", ["2.5"])
    with pytest.raises(WinRMOperationTimeoutError):
        protocol.get_command_output_raw(shell_id, command_id)
    stdout, _stderr, code = protocol.get_command_output(shell_id, command_id)  # retries on the fault
    assert (stdout, code) == (b"woke\r\n", 0)
    timeouts = [r for r in endpoint.records("Receive") if r.get("fault") == "w:TimedOut"]
    assert len(timeouts) >= 2 and all(r["status"] == 500 and r["fault_code"] == 2150858793 for r in timeouts)
    assert all(900 <= r["duration_ms"] < 5000 for r in timeouts)  # waited the OperationTimeout (PT1S)
    protocol.close_shell(shell_id)


def test_an_executor_failure_is_a_fault_not_a_dropped_connection(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol()
    shell_id = protocol.open_shell()
    with pytest.raises(WSManFaultError) as caught:
        protocol.run_command(shell_id, "explode")
    assert (caught.value.code, caught.value.fault_subcode) == (500, "w:InternalError")
    assert "the executor itself failed" in caught.value.response
    # The same connection and shell go on working.
    assert protocol.get_command_output(shell_id, protocol.run_command(shell_id, "echo", ["still"]))[0] == b"still\r\n"
    protocol.close_shell(shell_id)


def test_restarting_the_listener_with_a_new_certificate(endpoint: Endpoint, tmp_path: Path) -> None:
    """enable_winrm_https run again: a new certificate, the old pin no longer matches."""
    cert_pem, key_pem = self_signed(endpoint.machine.private_ip)
    assert endpoint.manager.start(endpoint.machine, cert_pem, key_pem) == (endpoint.machine.private_ip, 5986)
    with pytest.raises(requests.exceptions.SSLError):
        endpoint.protocol().open_shell()
    (tmp_path / "new.pem").write_bytes(cert_pem)
    protocol = endpoint.protocol(ca_trust_path=str(tmp_path / "new.pem"))
    protocol.close_shell(protocol.open_shell())
    endpoint.manager.stop(endpoint.machine)
    assert not endpoint.manager.is_listening(endpoint.machine)
    with pytest.raises(requests.exceptions.ConnectionError):
        endpoint.protocol(ca_trust_path=str(tmp_path / "new.pem")).open_shell()


def test_terminate_signal_forgets_the_command(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol()
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "sleep", ["30"])
    protocol.cleanup_command(shell_id, command_id)
    with pytest.raises(WSManFaultError) as caught:
        protocol.get_command_output_raw(shell_id, command_id)
    assert (caught.value.fault_subcode, caught.value.wsman_fault_code) == ("w:InvalidSelectors", 2150858843)
    protocol.close_shell(shell_id)
    with pytest.raises(WSManFaultError) as caught:
        protocol.run_command(shell_id, "echo", ["late"])
    assert caught.value.wsman_fault_code == 2150858843
    assert f"ShellId {shell_id} failed because the shell was not found" in caught.value.response


def test_code_page_of_the_shell_is_honoured(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol()
    for code_page, expected in ((437, "héllo ?\r\n".encode("cp437")), (65001, "héllo ✓\r\n".encode("utf-8"))):
        shell_id = protocol.open_shell(codepage=code_page)
        command_id = protocol.run_command(shell_id, "unicode")
        assert protocol.get_command_output(shell_id, command_id) == (expected, b"", 0)
        protocol.close_shell(shell_id, close_session=False)
    with pytest.raises(WSManFaultError) as caught:
        protocol.open_shell(codepage=12345)
    assert caught.value.wsman_fault_code == 0x80338140


# --- quotas -----------------------------------------------------------------------------


def test_max_shells_per_user_default_is_thirty(endpoint: Endpoint) -> None:
    protocol = endpoint.protocol()
    shells = [protocol.open_shell() for _shell_number in range(30)]
    with pytest.raises(WSManFaultError) as caught:
        protocol.open_shell()
    fault = caught.value
    assert (fault.code, fault.fault_code, fault.fault_subcode, fault.wsman_fault_code) == \
        (500, "s:Sender", "w:QuotaLimit", 2150859173)
    assert "maximum number of 30 concurrent shells" in fault.response
    protocol.close_shell(shells.pop(), close_session=False)
    shells.append(protocol.open_shell())  # one closed, one more fits
    assert endpoint.manager.open_shells(endpoint.machine) == 30
    for shell_id in shells:
        protocol.close_shell(shell_id, close_session=False)
    assert endpoint.manager.open_shells(endpoint.machine) == 0


def test_operations_are_released_only_with_their_shell(make_endpoint: Callable[..., Endpoint]) -> None:
    endpoint = make_endpoint(quotas=WinrsQuotas(max_concurrent_operations_per_user=3))
    protocol = endpoint.protocol()
    shell_id = protocol.open_shell()
    for n in range(3):
        command_id = protocol.run_command(shell_id, "echo", [str(n)])
        assert protocol.get_command_output(shell_id, command_id)[0] == f"{n}\r\n".encode()
        protocol.cleanup_command(shell_id, command_id)  # terminate does not give the operation back
    with pytest.raises(WSManFaultError) as caught:
        protocol.run_command(shell_id, "echo", ["4"])
    assert caught.value.wmierror_code == 0x803381A6  # what Ansible's winrm plugin recovers from
    protocol.close_shell(shell_id, close_session=False)
    fresh = protocol.open_shell()
    assert protocol.get_command_output(fresh, protocol.run_command(fresh, "echo", ["again"]))[0] == b"again\r\n"
    protocol.close_shell(fresh)


# --- Ansible ----------------------------------------------------------------------------

PLAYBOOK = """\
- hosts: repairvm
  gather_facts: false
  tasks:
    - name: Run a PowerShell command through the winrm connection
      ansible.builtin.raw: Write-Output 'hello from ansible'
      register: hello
    - name: A failing command reports its exit code
      ansible.builtin.raw: exit 3
      register: failing
      ignore_errors: true
    - name: Check what came back
      ansible.builtin.assert:
        that:
          - hello.rc == 0
          - hello.stdout_lines == ['hello from ansible']
          - failing.rc == 3
"""


def test_ansible_playbook_raw_over_the_winrm_connection(endpoint: Endpoint, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(f"""\
all:
  hosts:
    repairvm:
      ansible_host: {endpoint.machine.private_ip}
      ansible_port: 5986
      ansible_connection: winrm
      ansible_winrm_transport: ntlm
      ansible_winrm_scheme: https
      ansible_winrm_server_cert_validation: validate
      ansible_winrm_ca_trust_path: {endpoint.cert_path}
      ansible_user: {endpoint.machine.admin_username}
      ansible_password: "{endpoint.machine.admin_password}"
""")
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"), ANSIBLE_STDOUT_CALLBACK="default")
    playbook = Path(sys.executable).with_name("ansible-playbook")
    result = subprocess.run([str(playbook), "-i", str(inventory), str(tmp_path / "play.yml")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=150, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"repairvm\s*: ok=3 .*failed=0 .*ignored=1", result.stdout), result.stdout

    # The connection plugin sent the documented PowerShell command line.
    scripts = [args for command, args in endpoint.executor.calls if command == "PowerShell"]
    assert len(scripts) == 2
    assert scripts[0][:4] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted"]
    decoded = base64.b64decode(scripts[0][scripts[0].index("-EncodedCommand") + 1]).decode("utf-16-le")
    assert decoded == "Write-Output 'hello from ansible'"
    # One connection, so one shell, per task; each closed at the end of its task.
    creates = [r for r in endpoint.records("Create") if r["status"] == 200]
    deletes = [r for r in endpoint.records("Delete") if r["status"] == 200]
    assert len(creates) == len(deletes) == 2
    assert {r["shell_id"] for r in creates} == {r["shell_id"] for r in deletes}
    assert all(r["user_agent"] == "Python WinRM client" and r["principal"] == "vmrepair" for r in creates)
    assert endpoint.manager.open_shells(endpoint.machine) == 0
